"""Queues of a project in SQLite: :class:`SQLiteQueueStore`."""

import orjson
from zope.interface import implementer

from zaqar_store_sqlite.rows import (
    LIVE, create_queue, deferred, now_ms, queue_id, render, select_messages,
)
from zaqar_tw.errors import MetadataChanged
from zaqar_tw.interfaces import IQueueStore


@implementer(IQueueStore)
class SQLiteQueueStore:
    """The ``IQueueStore`` of the SQLite store.

    :param database: the :class:`~zaqar_store_sqlite.database.Database`.
    :param clock: the ``IReactorTime`` "now" comes from.
    """

    def __init__(self, database, clock):
        self._database = database
        self._clock = clock

    @deferred
    def create(self, project, name, metadata, max_queues=0):
        return self._database.write(
            _create, project, name, orjson.dumps(metadata), now_ms(self._clock), max_queues
        )

    def exists(self, project, name):
        d = self._database.read(queue_id, project, name)
        return d.addCallback(lambda found: found is not None)

    def get_metadata(self, project, name):
        return self._database.read(_get_metadata, project, name)

    @deferred
    def set_metadata(self, project, name, metadata, expected=None):
        return self._database.write(
            _set_metadata, project, name, orjson.dumps(metadata),
            None if expected is None else orjson.dumps(expected),
        )

    def delete(self, project, name):
        return self._database.write(_delete, project, name, True)

    def list(self, project, marker=None, limit=10, detailed=False):
        return self._database.read(_list, project, marker, int(limit), detailed)

    def count(self, project):
        return self._database.read(_count, project)

    def stats(self, project, name):
        return self._database.read(_stats, project, name, now_ms(self._clock))

    def purge(self, project, name):
        return self._database.write(_delete, project, name, False)


# On a database thread, inside a transaction.


def _create(connection, project, name, metadata, now, max_queues):
    return create_queue(connection, project, name, now, max_queues, metadata)[1]


def _get_metadata(connection, project, name):
    row = connection.execute(
        "SELECT metadata FROM queues WHERE project = ? AND name = ?", (project, name)
    ).fetchone()
    return None if row is None else orjson.loads(row[0])


def _set_metadata(connection, project, name, metadata, expected):
    """Write the metadata (only over ``expected``, when given).

    :raises MetadataChanged: the stored metadata is not ``expected``.
    """
    row = connection.execute(
        "SELECT metadata FROM queues WHERE project = ? AND name = ?", (project, name)
    ).fetchone()
    if row is None:
        return False
    if expected is not None and orjson.loads(row[0]) != orjson.loads(expected):
        raise MetadataChanged()
    connection.execute(
        "UPDATE queues SET metadata = ? WHERE project = ? AND name = ?",
        (metadata, project, name),
    )
    return True


def _delete(connection, project, name, with_queue):
    """Delete the queue's messages and claims, and when ``with_queue`` its subscriptions and
    the queue itself."""
    found = queue_id(connection, project, name)
    if found is None:
        return None
    connection.execute("DELETE FROM messages WHERE queue_id = ?", (found,))
    connection.execute("DELETE FROM claims WHERE queue_id = ?", (found,))
    if with_queue:
        connection.execute("DELETE FROM subscriptions WHERE queue_id = ?", (found,))
        connection.execute("DELETE FROM queues WHERE id = ?", (found,))
    return None


def _list(connection, project, marker, limit, detailed):
    rows = connection.execute(
        "SELECT name, metadata FROM queues WHERE project = ? AND name > ? "
        "ORDER BY name LIMIT ?",
        (project, marker or "", limit),
    ).fetchall()
    if detailed:
        return [{"name": name, "metadata": orjson.loads(metadata)} for name, metadata in rows]
    return [{"name": name} for name, _ in rows]


def _count(connection, project):
    return connection.execute(
        "SELECT COUNT(*) FROM queues WHERE project = ?", (project,)
    ).fetchone()[0]


def _stats(connection, project, name, now):
    found = queue_id(connection, project, name)
    stats = {"claimed": 0, "free": 0, "total": 0, "oldest": None, "newest": None}
    if found is None:
        return stats
    params = {"queue": found, "now": now}
    total, claimed = connection.execute(
        "SELECT COUNT(*), COALESCE(SUM(claim_expires > :now), 0) FROM messages "
        f"WHERE queue_id = :queue AND {LIVE}",
        params,
    ).fetchone()
    if not total:
        return stats
    where = f"queue_id = :queue AND {LIVE}"
    (oldest,) = select_messages(connection, where, params, "ORDER BY rowid LIMIT 1")
    (newest,) = select_messages(connection, where, params, "ORDER BY rowid DESC LIMIT 1")
    stats.update(
        claimed=claimed, free=total - claimed, total=total,
        oldest=render(oldest, now), newest=render(newest, now),
    )
    return stats
