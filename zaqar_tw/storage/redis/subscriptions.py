"""Subscriptions of a queue in Redis: :class:`RedisSubscriptionStore`."""

import orjson
from zope.interface import implementer

from zaqar_tw.errors import SubscriptionAlreadyExists
from zaqar_tw.interfaces import ISubscriptionStore
from zaqar_tw.storage.redis.connection import gather
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
    def create(self, project, queue, subscriber, ttl, options):
        made = self._runner.run(
            "subscription_create", project, queue, uuid4(), subscriber, int(ttl),
            orjson.dumps(options),
        )
        indexed = self._connection.execute("ZADD", queue_index_key(project), 0, queue)

        def outcome(replies):
            created, *fields = replies[0]
            return _subscription(queue, fields), created == 1

        return gather(made, indexed).addCallback(outcome)

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


def _update_outcome(reply):
    """:raises SubscriptionAlreadyExists: another live subscription has the new URI."""
    if reply == -1:
        raise SubscriptionAlreadyExists()
    return reply == 1
