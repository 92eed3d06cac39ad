"""Messages of a queue in SQLite: :class:`SQLiteMessageStore`."""

import uuid

import orjson
from zope.interface import implementer

from zaqar_store_sqlite.rows import (
    CLAIM_COUNT, DUE, EXPIRES, LIVE, MESSAGE_ID, NOT_HELD, ROWID, chunks, create_queue, deferred,
    in_list, now_ms, queue_id, render, select_messages,
)
from zaqar_tw import errors
from zaqar_tw.interfaces import IMessageStore


@implementer(IMessageStore)
class SQLiteMessageStore:
    """The ``IMessageStore`` of the SQLite store: every operation is one transaction.

    :param database: the :class:`~zaqar_store_sqlite.database.Database`.
    :param clock: the ``IReactorTime`` "now" comes from.
    """

    def __init__(self, database, clock):
        self._database = database
        self._clock = clock

    @deferred
    def post(self, project, queue, messages, client_id, max_messages=0, max_queues=0):
        now = now_ms(self._clock)
        rows = []
        for message in messages:
            rows.append((
                str(uuid.uuid4()),
                now,
                int(message["ttl"]),
                now + int(message["ttl"]) * 1000,
                now + int(message.get("delay") or 0) * 1000,
                client_id or "",
                message.get("checksum"),
                orjson.dumps(message["body"]),
            ))
        if not rows:
            return [], False
        return self._database.write(
            _post, project, queue, rows, now, max_messages, max_queues
        )

    def list(self, project, queue, marker=None, limit=10, echo=False, client_id=None,
             include_claimed=False, include_delayed=False):
        return self._database.read(
            _list, project, queue, now_ms(self._clock), marker, int(limit),
            None if echo or client_id is None else client_id,
            include_claimed, include_delayed,
        )

    def get(self, project, queue, message_id):
        d = self._database.read(_bulk_get, project, queue, [message_id], now_ms(self._clock))
        return d.addCallback(lambda found: found[0] if found else None)

    @deferred
    def bulk_get(self, project, queue, message_ids):
        ids = list(dict.fromkeys(message_ids))
        if not ids:
            return []
        return self._database.read(_bulk_get, project, queue, ids, now_ms(self._clock))

    def delete(self, project, queue, message_id, claim_id=None):
        return self._database.write(
            _delete, project, queue, message_id, claim_id, now_ms(self._clock)
        )

    @deferred
    def bulk_delete(self, project, queue, message_ids, claim_ids=None):
        ids = list(dict.fromkeys(message_ids))
        if not ids:
            return None
        allowed = None if claim_ids is None else frozenset(claim_ids)
        return self._database.write(
            _bulk_delete, project, queue, ids, allowed, now_ms(self._clock)
        )

    def pop(self, project, queue, limit):
        return self._database.write(
            _pop, project, queue, int(limit), str(uuid.uuid4()), now_ms(self._clock)
        )


# On a database thread, inside a transaction.


def _post(connection, project, queue, rows, now, max_messages, max_queues):
    if max_messages and len(rows) > max_messages:
        raise errors.QuotaExceeded("messages", max_messages)
    found, created = create_queue(connection, project, queue, now, max_queues)
    if max_messages and not created:
        (live,) = connection.execute(
            f"SELECT COUNT(*) FROM messages WHERE queue_id = :queue AND {LIVE}",
            {"queue": found, "now": now},
        ).fetchone()
        if live + len(rows) > max_messages:
            raise errors.QuotaExceeded("messages", max_messages)
    connection.executemany(
        "INSERT INTO messages (queue_id, id, created, ttl, expires, available, client, "
        "checksum, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(found, *row) for row in rows],
    )
    subscribed = connection.execute(
        "SELECT EXISTS (SELECT 1 FROM subscriptions WHERE queue_id = ? AND expires > ?)",
        (found, now),
    ).fetchone()[0]
    return [row[0] for row in rows], bool(subscribed)


def _list(connection, project, queue, now, marker, limit, hidden_client, with_claimed,
          with_delayed):
    found = queue_id(connection, project, queue)
    if found is None:
        return []
    params = {"queue": found, "now": now, "limit": limit, "start": 0}
    if marker is not None:
        row = connection.execute(
            f"SELECT rowid FROM messages WHERE queue_id = :queue AND id = :marker AND {LIVE}",
            {**params, "marker": marker},
        ).fetchone()
        if row is not None:
            params["start"] = row[0]
    where = [f"queue_id = :queue AND rowid > :start AND {LIVE}"]
    if not with_claimed:
        where.append(NOT_HELD)
    if not with_delayed:
        where.append(DUE)
    if hidden_client is not None:
        where.append("client != :client")
        params["client"] = hidden_client
    rows = select_messages(
        connection, " AND ".join(where), params, "ORDER BY rowid LIMIT :limit"
    )
    return [render(row, now) for row in rows]


def _bulk_get(connection, project, queue, ids, now):
    found = queue_id(connection, project, queue)
    if found is None:
        return []
    by_id = {}
    for part in chunks(ids):
        params = {"queue": found, "now": now}
        names = in_list(part, params)
        for row in select_messages(
            connection, f"queue_id = :queue AND id IN ({names}) AND {LIVE}", params
        ):
            by_id[row[MESSAGE_ID]] = row
    return [render(by_id[i], now) for i in ids if i in by_id]


def _delete(connection, project, queue, message_id, claim_id, now):
    found = queue_id(connection, project, queue)
    if found is None:
        return None
    row = connection.execute(
        f"SELECT rowid, claim_id, claim_expires FROM messages "
        f"WHERE queue_id = :queue AND id = :id AND {LIVE}",
        {"queue": found, "id": message_id, "now": now},
    ).fetchone()
    if row is None:
        return None
    rowid, holder, claim_expires = row
    if claim_expires > now:
        if claim_id is None:
            raise errors.MessageIsClaimed()
        if claim_id != holder:
            other = connection.execute(
                "SELECT 1 FROM claims WHERE queue_id = ? AND id = ? AND expires > ?",
                (found, claim_id, now),
            ).fetchone()
            raise errors.MessageIsClaimed() if other else errors.ClaimNotValid()
    elif claim_id is not None:
        raise errors.MessageNotClaimed()
    connection.execute("DELETE FROM messages WHERE rowid = ?", (rowid,))
    return None


def _bulk_delete(connection, project, queue, ids, allowed, now):
    found = queue_id(connection, project, queue)
    if found is None:
        return None
    if allowed is not None:
        for part in chunks(ids):
            params = {"queue": found, "now": now}
            names = in_list(part, params)
            holders = connection.execute(
                f"SELECT claim_id FROM messages WHERE queue_id = :queue AND id IN ({names}) "
                f"AND {LIVE} AND claim_expires > :now",
                params,
            ).fetchall()
            if any(holder not in allowed for (holder,) in holders):
                raise errors.MessageIsClaimed()
    for part in chunks(ids):
        params = {"queue": found}
        names = in_list(part, params)
        connection.execute(
            f"DELETE FROM messages WHERE queue_id = :queue AND id IN ({names})", params
        )
    return None


def _pop(connection, project, queue, limit, claim_id, now):
    found = queue_id(connection, project, queue)
    if found is None:
        return []
    rows = claimable(connection, found, now, limit)
    if not rows:
        return []
    # Shown as if claimed once more by a claim of ttl 1 and no grace, then deleted.
    popped = [
        render(row, now, claim_id=claim_id, claim_count=row[CLAIM_COUNT] + 1,
               ttl=1 if row[EXPIRES] < now + 1000 else None)
        for row in rows
    ]
    connection.executemany(
        "DELETE FROM messages WHERE rowid = ?", [(row[ROWID],) for row in rows]
    )
    return popped


def claimable(connection, queue, now, limit):
    """:returns: the rows of up to ``limit`` of the queue's oldest claimable messages."""
    return select_messages(
        connection, f"queue_id = :queue AND {LIVE} AND {DUE} AND {NOT_HELD}",
        {"queue": queue, "now": now, "limit": limit}, "ORDER BY rowid LIMIT :limit",
    )
