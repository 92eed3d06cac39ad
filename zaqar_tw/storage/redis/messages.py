"""Messages of a queue in Redis: :class:`RedisMessageStore`."""

import orjson
from twisted.internet import defer
from zope.interface import implementer

from zaqar_tw import errors
from zaqar_tw.interfaces import IMessageStore
from zaqar_tw.storage.page import Page
from zaqar_tw.storage.redis.connection import both
from zaqar_tw.storage.redis.keys import queue_index_key
from zaqar_tw.storage.redis.runner import deferred
from zaqar_tw.uuids import uuid4

_DELETE_ERRORS = {
    1: errors.MessageIsClaimed,
    2: errors.MessageNotClaimed,
    3: errors.ClaimNotValid,
}


@implementer(IMessageStore)
class RedisMessageStore:
    """The ``IMessageStore`` of the Redis store: every operation is one script."""

    def __init__(self, runner):
        self._runner = runner
        self._connection = runner.connection

    @deferred
    def post(self, project, queue, messages, client_id, max_messages=0, max_queues=0):
        ids = [uuid4() for _ in messages]
        if not ids:
            return [], False
        if max_messages and len(ids) > max_messages:
            raise errors.QuotaExceeded("messages", max_messages)
        # The may-create flag (ARGV[5]) is "1" unless a queue quota makes it "0" first.
        args = [client_id or "", len(ids), int(max_messages), b"1"]
        for message_id, message in zip(ids, messages):
            checksum = message.get("checksum")
            args += (
                message_id,
                int(message["ttl"]),
                int(message.get("delay") or 0),
                "" if checksum is None else "=" + checksum,
                orjson.dumps(message["body"]),
            )
        if max_queues:
            return defer.Deferred.fromCoroutine(
                self._post_admitted(project, queue, ids, args, max_queues)
            )
        return self._post(project, queue, args).addCallback(_posted, ids, max_messages)

    def _post(self, project, queue, args):
        """Run ``message_post`` and index the queue, in one write."""
        posted = self._runner.run("message_post", project, queue, *args)
        indexed = self._connection.execute("ZADD", queue_index_key(project), 0, queue)
        return both(posted, indexed)

    async def _post_admitted(self, project, queue, ids, args, max_queues):
        """Post under a queue quota: to an existing queue in one round trip; a new queue is
        first admitted to the project's index."""
        args[3] = b"0"
        reply = await self._runner.run("message_post", project, queue, *args)
        if reply == -1:
            await self._runner.admit_queue(project, queue, max_queues)
            args[3] = b"1"
            reply = await self._post(project, queue, args)
        return _posted(reply, ids, args[2])

    def list(self, project, queue, marker=None, limit=10, echo=False, client_id=None,
             include_claimed=False, include_delayed=False):
        d = self._runner.run(
            "message_list", project, queue, marker or "", int(limit),
            _flag(echo or client_id is None), client_id or "",
            _flag(include_claimed), _flag(include_delayed),
        )
        return d.addCallback(_page)

    def get(self, project, queue, message_id):
        d = self._runner.run("message_get", project, queue, message_id)
        return d.addCallback(lambda raw: next(iter(orjson.loads(raw)), None))

    @deferred
    def bulk_get(self, project, queue, message_ids):
        ids = list(dict.fromkeys(message_ids))
        if not ids:
            return []
        return self._runner.run("message_get", project, queue, *ids).addCallback(orjson.loads)

    def delete(self, project, queue, message_id, claim_id=None):
        d = self._runner.run(
            "message_delete", project, queue, message_id,
            _flag(claim_id is not None), claim_id or "",
        )
        return d.addCallback(_delete_outcome)

    @deferred
    def bulk_delete(self, project, queue, message_ids, claim_ids=None):
        ids = list(dict.fromkeys(message_ids))
        if not ids:
            return None
        d = self._runner.run(
            "message_bulk_delete", project, queue,
            _flag(claim_ids is not None), len(ids), *ids, *(claim_ids or ()),
        )
        return d.addCallback(_delete_outcome)

    def pop(self, project, queue, limit):
        d = self._runner.run("message_pop", project, queue, int(limit), uuid4())
        return d.addCallback(orjson.loads)


def _posted(reply, ids, max_messages):
    """The result of ``message_post``: the ids and whether the queue has subscriptions.

    :raises QuotaExceeded: the queue is full.
    """
    if reply == -2:
        raise errors.QuotaExceeded("messages", max_messages)
    return ids, reply > 0


def _page(raw):
    """The :class:`~zaqar_tw.storage.page.Page` of a ``message_list`` reply."""
    reply = orjson.loads(raw)
    return Page(reply["messages"], reply["cursor"])


def _flag(value):
    return "1" if value else "0"


def _delete_outcome(code):
    if code:
        raise _DELETE_ERRORS[code]()
    return None
