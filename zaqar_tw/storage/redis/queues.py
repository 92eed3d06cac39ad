"""Queues of a project in Redis: :class:`RedisQueueStore`."""

import orjson
from twisted.internet import defer
from zope.interface import implementer

from zaqar_tw.errors import MetadataChanged
from zaqar_tw.interfaces import IQueueStore
from zaqar_tw.storage.redis.connection import gather
from zaqar_tw.storage.redis.keys import queue_index_key, queue_keys, subscription_keys
from zaqar_tw.storage.redis.runner import deferred


@implementer(IQueueStore)
class RedisQueueStore:
    """The ``IQueueStore`` of the Redis store.

    The queue's hash is the truth about its existence; the project's index of names is
    updated by a second command sent in the same write (after the script on create, before
    it on delete, so a queue that exists is always indexed).  Under a queue quota, a create
    first admits the name to the index (one more round trip, see ``keys.py``).
    """

    def __init__(self, runner):
        self._runner = runner
        self._connection = runner.connection

    @deferred
    def create(self, project, name, metadata, max_queues=0):
        metadata = orjson.dumps(metadata)
        if max_queues:
            d = self._runner.admit_queue(project, name, max_queues)
            return d.addCallback(lambda _: self._create(project, name, metadata))
        return self._create(project, name, metadata)

    def _create(self, project, name, metadata):
        created = self._runner.run("queue_create", project, name, metadata)
        indexed = self._connection.execute("ZADD", queue_index_key(project), 0, name)
        return gather(created, indexed).addCallback(lambda replies: replies[0] == 1)

    def exists(self, project, name):
        d = self._connection.execute("EXISTS", queue_keys(project, name)[0])
        return d.addCallback(lambda reply: reply == 1)

    def get_metadata(self, project, name):
        d = self._connection.execute("HGET", queue_keys(project, name)[0], "m")
        return d.addCallback(lambda raw: None if raw is None else orjson.loads(raw))

    @deferred
    def set_metadata(self, project, name, metadata, expected=None):
        d = self._runner.run(
            "queue_set_metadata", project, name, orjson.dumps(metadata),
            b"" if expected is None else orjson.dumps(expected),
        )
        return d.addCallback(_set_outcome)

    def delete(self, project, name):
        unindexed = self._connection.execute("ZREM", queue_index_key(project), name)
        deleted = self._connection.execute(
            "UNLINK", *queue_keys(project, name), *subscription_keys(project, name)[1:]
        )
        return gather(unindexed, deleted).addCallback(lambda _: None)

    def list(self, project, marker=None, limit=10, detailed=False):
        return defer.Deferred.fromCoroutine(self._list(project, marker, limit, detailed))

    async def _list(self, project, marker, limit, detailed):
        index = queue_index_key(project)
        start = "(" + marker if marker else "-"
        found = []
        while len(found) < limit:
            wanted = limit - len(found)
            names = await self._connection.execute(
                "ZRANGEBYLEX", index, start, "+", "LIMIT", 0, wanted
            )
            if not names:
                break
            metadata = await gather(*[
                self._connection.execute("HGET", queue_keys(project, n.decode())[0], "m")
                for n in names
            ])
            for raw_name, raw_metadata in zip(names, metadata):
                if raw_metadata is None:
                    continue  # deleted by a concurrent request: not a queue any more
                entry = {"name": raw_name.decode()}
                if detailed:
                    entry["metadata"] = orjson.loads(raw_metadata)
                found.append(entry)
            if len(names) < wanted:
                break
            start = b"(" + names[-1]
        return found

    def count(self, project):
        return self._connection.execute("ZCARD", queue_index_key(project))

    def stats(self, project, name):
        d = self._runner.run("queue_stats", project, name)
        return d.addCallback(_stats)

    def purge(self, project, name):
        d = self._connection.execute("UNLINK", *queue_keys(project, name)[1:])
        return d.addCallback(lambda _: None)


def _stats(raw):
    stats = orjson.loads(raw)
    stats["free"] = stats["total"] - stats["claimed"]
    return stats


def _set_outcome(reply):
    """The result of the ``queue_set_metadata`` script: written, or no such queue.

    :raises MetadataChanged: the stored metadata was not the expected one.
    """
    if reply == -1:
        raise MetadataChanged()
    return reply == 1
