"""Subscriptions of a queue in SQLite: :class:`SQLiteSubscriptionStore`.

A subscription row lives while ``expires > now``; ``renewed`` is when its age starts (its
creation, or the last change of its ttl) and ``expires`` is ``renewed + ttl``.  A queue has
at most one row per subscriber URI (a unique index): an expired row that is in the way of a
new or changed subscriber is deleted in the same transaction, so the index never refuses a
subscriber that no live subscription has.
"""

import uuid

import orjson
from twisted.internet import defer
from zope.interface import implementer

from zaqar_store_sqlite.rows import create_queue, deferred, known_form, now_ms, queue_id
from zaqar_tw.errors import QuotaExceeded, SubscriptionAlreadyExists
from zaqar_tw.interfaces import ISubscriptionStore

_COLUMNS = "id, subscriber, ttl, renewed, options, confirmed"


@implementer(ISubscriptionStore)
class SQLiteSubscriptionStore:
    """The ``ISubscriptionStore`` of the SQLite store: every operation is one transaction.

    :param database: the :class:`~zaqar_store_sqlite.database.Database`.
    :param clock: the ``IReactorTime`` "now" comes from.
    """

    def __init__(self, database, clock):
        self._database = database
        self._clock = clock

    @deferred
    def create(self, project, queue, subscriber, ttl, options, max_subscriptions=0,
               max_queues=0):
        return self._database.write(
            _create, project, queue, str(uuid.uuid4()), subscriber, int(ttl),
            orjson.dumps(options), now_ms(self._clock), max_subscriptions, max_queues,
        )

    def get(self, project, queue, subscription_id):
        if not known_form(subscription_id):
            return defer.succeed(None)
        return self._database.read(_get, project, queue, subscription_id, now_ms(self._clock))

    def list(self, project, queue, marker=None, limit=10):
        return self._database.read(
            _list, project, queue, marker or "", int(limit), now_ms(self._clock)
        )

    @deferred
    def update(self, project, queue, subscription_id, changes):
        if not known_form(subscription_id):
            return False
        stored = {}
        if "subscriber" in changes:
            stored["subscriber"] = changes["subscriber"]
        if "ttl" in changes:
            stored["ttl"] = int(changes["ttl"])
        if "options" in changes:
            stored["options"] = orjson.dumps(changes["options"])
        return self._database.write(
            _update, project, queue, subscription_id, stored, now_ms(self._clock)
        )

    def confirm(self, project, queue, subscription_id, confirmed):
        if not known_form(subscription_id):
            return defer.succeed(False)
        return self._database.write(
            _confirm, project, queue, subscription_id, bool(confirmed), now_ms(self._clock)
        )

    def delete(self, project, queue, subscription_id):
        if not known_form(subscription_id):
            return defer.succeed(None)
        return self._database.write(_delete, project, queue, subscription_id)

    def purge(self, project, queue):
        return self._database.write(_purge, project, queue)


# On a database thread, inside a transaction.


def _create(connection, project, queue, subscription_id, subscriber, ttl, options, now,
            max_subscriptions, max_queues):
    found, _ = create_queue(connection, project, queue, now, max_queues)
    existing = _by_subscriber(connection, found, subscriber, now)
    if existing is not None:
        return _render(existing, queue, now), False
    if max_subscriptions:
        (live,) = connection.execute(
            "SELECT COUNT(*) FROM subscriptions WHERE queue_id = ? AND expires > ?",
            (found, now),
        ).fetchone()
        if live >= max_subscriptions:
            raise QuotaExceeded("subscriptions", max_subscriptions)
    connection.execute(
        "INSERT INTO subscriptions (queue_id, id, subscriber, ttl, renewed, expires, options, "
        "confirmed) VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
        (found, subscription_id, subscriber, ttl, now, now + ttl * 1000, options),
    )
    row = (subscription_id, subscriber, ttl, now, options, 0)
    return _render(row, queue, now), True


def _get(connection, project, queue, subscription_id, now):
    found = queue_id(connection, project, queue)
    if found is None:
        return None
    row = connection.execute(
        f"SELECT {_COLUMNS} FROM subscriptions WHERE queue_id = ? AND id = ? AND expires > ?",
        (found, subscription_id, now),
    ).fetchone()
    return None if row is None else _render(row, queue, now)


def _list(connection, project, queue, marker, limit, now):
    found = queue_id(connection, project, queue)
    if found is None:
        return []
    rows = connection.execute(
        f"SELECT {_COLUMNS} FROM subscriptions WHERE queue_id = ? AND id > ? AND expires > ? "
        "ORDER BY id LIMIT ?",
        (found, marker, now, limit),
    ).fetchall()
    return [_render(row, queue, now) for row in rows]


def _update(connection, project, queue, subscription_id, stored, now):
    """Apply ``stored`` (column -> value) to the live subscription.

    :raises SubscriptionAlreadyExists: another live subscription has the new subscriber.
    """
    found = queue_id(connection, project, queue)
    if found is None or not _live(connection, found, subscription_id, now):
        return False
    if "subscriber" in stored:
        holder = _by_subscriber(connection, found, stored["subscriber"], now)
        if holder is not None and holder[0] != subscription_id:
            raise SubscriptionAlreadyExists()
    if "ttl" in stored:
        stored = {**stored, "renewed": now, "expires": now + stored["ttl"] * 1000}
    if stored:
        assignments = ", ".join(f"{column} = :{column}" for column in stored)
        connection.execute(
            f"UPDATE subscriptions SET {assignments} WHERE queue_id = :queue AND id = :id",
            {**stored, "queue": found, "id": subscription_id},
        )
    return True


def _confirm(connection, project, queue, subscription_id, confirmed, now):
    found = queue_id(connection, project, queue)
    if found is None:
        return False
    cursor = connection.execute(
        "UPDATE subscriptions SET confirmed = ? WHERE queue_id = ? AND id = ? AND expires > ?",
        (int(confirmed), found, subscription_id, now),
    )
    return cursor.rowcount == 1


def _delete(connection, project, queue, subscription_id):
    found = queue_id(connection, project, queue)
    if found is not None:
        connection.execute(
            "DELETE FROM subscriptions WHERE queue_id = ? AND id = ?", (found, subscription_id)
        )
    return None


def _purge(connection, project, queue):
    found = queue_id(connection, project, queue)
    if found is not None:
        connection.execute("DELETE FROM subscriptions WHERE queue_id = ?", (found,))
    return None


def _live(connection, queue, subscription_id, now):
    return connection.execute(
        "SELECT 1 FROM subscriptions WHERE queue_id = ? AND id = ? AND expires > ?",
        (queue, subscription_id, now),
    ).fetchone() is not None


def _by_subscriber(connection, queue, subscriber, now):
    """:returns: the row of the queue's live subscription of ``subscriber``, or ``None``;
    an expired one is deleted, so that the subscriber can be used again."""
    row = connection.execute(
        f"SELECT {_COLUMNS}, expires FROM subscriptions WHERE queue_id = ? AND subscriber = ?",
        (queue, subscriber),
    ).fetchone()
    if row is None:
        return None
    if row[-1] <= now:
        connection.execute(
            "DELETE FROM subscriptions WHERE queue_id = ? AND id = ?", (queue, row[0])
        )
        return None
    return row[:-1]


def _render(row, queue, now):
    """The subscription dict of the storage contract from a row of :data:`_COLUMNS`."""
    subscription_id, subscriber, ttl, renewed, options, confirmed = row
    return {
        "id": subscription_id,
        "source": queue,
        "subscriber": subscriber,
        "ttl": ttl,
        "age": max(0, (now - renewed) // 1000),
        "options": orjson.loads(options),
        "confirmed": bool(confirmed),
    }
