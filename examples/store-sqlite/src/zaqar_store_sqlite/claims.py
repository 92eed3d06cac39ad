"""Claims (leases on messages) in SQLite: :class:`SQLiteClaimStore`."""

import uuid

from twisted.internet import defer
from zope.interface import implementer

from zaqar_store_sqlite.messages import claimable
from zaqar_store_sqlite.rows import ROWID, known_form, now_ms, queue_id, render, select_messages
from zaqar_tw.interfaces import IClaimStore

# The grace rule: a held message that would die before its claim lives until the claim's
# expiry + grace and reports ttl = claim ttl + grace.
_LEASE = (
    "claim_id = :claim, claim_expires = :expires, "
    "ttl = CASE WHEN expires < :expires THEN :ttl + :grace ELSE ttl END, "
    "expires = CASE WHEN expires < :expires THEN :expires + :grace * 1000 ELSE expires END"
)


@implementer(IClaimStore)
class SQLiteClaimStore:
    """The ``IClaimStore`` of the SQLite store: every operation is one transaction.

    :param database: the :class:`~zaqar_store_sqlite.database.Database`.
    :param clock: the ``IReactorTime`` "now" comes from.
    """

    def __init__(self, database, clock):
        self._database = database
        self._clock = clock

    def create(self, project, queue, ttl, grace, limit):
        return self._database.write(
            _create, project, queue, str(uuid.uuid4()), int(ttl), int(grace), int(limit),
            now_ms(self._clock),
        )

    def get(self, project, queue, claim_id):
        if not known_form(claim_id):
            return defer.succeed(None)
        return self._database.read(_get, project, queue, claim_id, now_ms(self._clock))

    def update(self, project, queue, claim_id, ttl, grace):
        if not known_form(claim_id):
            return defer.succeed(False)
        return self._database.write(
            _update, project, queue, claim_id, int(ttl), int(grace), now_ms(self._clock)
        )

    def delete(self, project, queue, claim_id):
        if not known_form(claim_id):
            return defer.succeed(None)
        return self._database.write(_delete, project, queue, claim_id)


# On a database thread, inside a transaction.


def _create(connection, project, queue, claim_id, ttl, grace, limit, now):
    found = queue_id(connection, project, queue)
    if found is None:
        return None, []
    rowids = [row[ROWID] for row in claimable(connection, found, now, limit)]
    if not rowids:
        return None, []
    expires = now + ttl * 1000
    connection.executemany(
        f"UPDATE messages SET {_LEASE}, claim_count = claim_count + 1 WHERE rowid = :rowid",
        [
            {"claim": claim_id, "expires": expires, "ttl": ttl, "grace": grace, "rowid": rowid}
            for rowid in rowids
        ],
    )
    connection.execute(
        "INSERT INTO claims (queue_id, id, ttl, expires, renewed) VALUES (?, ?, ?, ?, ?)",
        (found, claim_id, ttl, expires, now),
    )
    return claim_id, _held(connection, found, claim_id, now)


def _get(connection, project, queue, claim_id, now):
    found = queue_id(connection, project, queue)
    if found is None:
        return None
    row = connection.execute(
        "SELECT ttl, renewed FROM claims WHERE queue_id = ? AND id = ? AND expires > ?",
        (found, claim_id, now),
    ).fetchone()
    if row is None:
        return None
    ttl, renewed = row
    claim = {"id": claim_id, "ttl": ttl, "age": max(0, (now - renewed) // 1000)}
    return claim, _held(connection, found, claim_id, now)


def _update(connection, project, queue, claim_id, ttl, grace, now):
    found = queue_id(connection, project, queue)
    if found is None:
        return False
    cursor = connection.execute(
        "UPDATE claims SET ttl = :ttl, expires = :expires, renewed = :now "
        "WHERE queue_id = :queue AND id = :claim AND expires > :now",
        {"ttl": ttl, "expires": now + ttl * 1000, "now": now, "queue": found,
         "claim": claim_id},
    )
    if cursor.rowcount != 1:
        return False
    connection.execute(
        f"UPDATE messages SET {_LEASE} "
        "WHERE queue_id = :queue AND claim_id = :claim AND claim_expires > :now",
        {"claim": claim_id, "expires": now + ttl * 1000, "ttl": ttl, "grace": grace,
         "queue": found, "now": now},
    )
    return True


def _delete(connection, project, queue, claim_id):
    found = queue_id(connection, project, queue)
    if found is None:
        return None
    connection.execute("DELETE FROM claims WHERE queue_id = ? AND id = ?", (found, claim_id))
    connection.execute(
        "UPDATE messages SET claim_id = NULL, claim_expires = 0 "
        "WHERE queue_id = ? AND claim_id = ?",
        (found, claim_id),
    )
    return None


def _held(connection, queue, claim_id, now):
    """The messages the live claim ``claim_id`` holds, in enqueue order."""
    rows = select_messages(
        connection, "queue_id = :queue AND claim_id = :claim AND claim_expires > :now",
        {"queue": queue, "claim": claim_id, "now": now}, "ORDER BY rowid",
    )
    return [render(row, now) for row in rows]
