"""Subscriptions of a queue in Redis: :class:`RedisSubscriptionStore`."""

import orjson
from twisted.internet import defer
from zope.interface import implementer

from zaqar_tw.errors import QuotaExceeded, SubscriptionAlreadyExists
from zaqar_tw.interfaces import ISubscriptionStore
from zaqar_tw.storage.redis.connection import both
from zaqar_tw.storage.redis.keys import queue_index_key, subscription_keys
from zaqar_tw.storage.redis.runner import deferred
from zaqar_tw.uuids import uuid4

# The scripts answer with these fields per subscription (see subscription_common.lua).
_FIELDS = 6


@implementer(ISubscriptionStore)
class RedisSubscriptionStore:
    """The ``ISubscriptionStore`` of the Redis store: every operation is one script (or one
    command); create also indexes the queue in its project, in the same write, as a queue
    create does.  Expired subscriptions are removed by the scripts that meet them."""

    def __init__(self, runner):
        self._runner = runner
        self._connection = runner.connection

    @deferred
    def create(self, project, queue, subscriber, ttl, options, max_subscriptions=0,
               max_queues=0):
        # The last argument, may-create (ARGV[7]), is "1" unless a queue quota makes it "0"
        # first.
        args = [uuid4(), subscriber, int(ttl), orjson.dumps(options), int(max_subscriptions),
                b"1"]
        if max_queues:
            return defer.Deferred.fromCoroutine(
                self._create_admitted(project, queue, args, max_queues)
            )
        return self._create(project, queue, args).addCallback(_created, queue, args)

    def _create(self, project, queue, args):
        """Run ``subscription_create`` and index the queue, in one write."""
        made = self._runner.run("subscription_create", project, queue, *args)
        indexed = self._connection.execute("ZADD", queue_index_key(project), 0, queue)
        return both(made, indexed)

    async def _create_admitted(self, project, queue, args, max_queues):
        """Subscribe under a queue quota: to an existing queue in one round trip; a new
        queue is first admitted to the project's index."""
        args[-1] = b"0"
        reply = await self._runner.run("subscription_create", project, queue, *args)
        if reply[0] == -1:
            await self._runner.admit_queue(project, queue, max_queues)
            args[-1] = b"1"
            reply = await self._create(project, queue, args)
        return _created(reply, queue, args)

    def get(self, project, queue, subscription_id):
        d = self._runner.run("subscription_get", project, queue, subscription_id)
        return d.addCallback(lambda fields: _subscription(queue, fields) if fields else None)

    def list(self, project, queue, marker=None, limit=10):
        d = self._runner.run("subscription_list", project, queue, marker or "", int(limit))
        return d.addCallback(lambda fields: [
            _subscription(queue, fields[i:i + _FIELDS]) for i in range(0, len(fields), _FIELDS)
        ])

    @deferred
    def update(self, project, queue, subscription_id, changes):
        args = []
        for name, encode in (("subscriber", str), ("ttl", int), ("options", orjson.dumps)):
            if name in changes:
                args += ("1", encode(changes[name]))
            else:
                args += ("0", "")
        d = self._runner.run("subscription_update", project, queue, subscription_id, *args)
        return d.addCallback(_update_outcome)

    def confirm(self, project, queue, subscription_id, confirmed):
        d = self._runner.run(
            "subscription_confirm", project, queue, subscription_id, "1" if confirmed else "0"
        )
        return d.addCallback(lambda reply: reply == 1)

    def delete(self, project, queue, subscription_id):
        d = self._runner.run("subscription_delete", project, queue, subscription_id)
        return d.addCallback(lambda _: None)

    def purge(self, project, queue):
        d = self._connection.execute("UNLINK", *subscription_keys(project, queue)[1:])
        return d.addCallback(lambda _: None)


def _subscription(queue, fields):
    """The subscription dict of the fields a script answered with."""
    subscription_id, subscriber, ttl, age, options, confirmed = fields
    return {
        "id": subscription_id.decode(),
        "source": queue,
        "subscriber": subscriber.decode(),
        "ttl": ttl,
        "age": age,
        "options": orjson.loads(options),
        "confirmed": confirmed == 1,
    }


def _created(reply, queue, args):
    """The result of ``subscription_create``: ``(subscription, created)``.

    :raises QuotaExceeded: the queue has its most subscriptions.
    """
    created, *fields = reply
    if created == -2:
        raise QuotaExceeded("subscriptions", args[4])
    return _subscription(queue, fields), created == 1


def _update_outcome(reply):
    """:raises SubscriptionAlreadyExists: another live subscription has the new URI."""
    if reply == -1:
        raise SubscriptionAlreadyExists()
    return reply == 1
