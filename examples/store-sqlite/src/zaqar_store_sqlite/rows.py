"""What the controllers share: finding (or creating) a queue's row, turning message rows into
the message dicts of the storage contract, and the "now" of the injected clock.

The functions taking a ``connection`` run on a database thread, inside the transaction that
:class:`~zaqar_store_sqlite.database.Database` opened.
"""

import functools
import re

import orjson
from twisted.internet import defer

from zaqar_store_sqlite.schema import MESSAGE_COLUMNS
from zaqar_tw.errors import QuotaExceeded

_UUID = re.compile(r"\A[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
CHUNK = 500  # ids bound in one statement, at most
HELD = object()  # render(): show the claim id the row holds, if live

# A message is held while its claim lives; claimable when unexpired, due and not held.
LIVE = "expires > :now"
NOT_HELD = "claim_expires <= :now"
DUE = "available <= :now"


def known_form(identifier):
    """Whether ``identifier`` could be one of our (message or claim) ids."""
    return isinstance(identifier, str) and _UUID.match(identifier) is not None


def now_ms(clock):
    """:returns: the clock's time in integer milliseconds."""
    return round(clock.seconds() * 1000)


def deferred(method):
    """Make ``method`` return a failed Deferred instead of raising (e.g. on a body that cannot
    be encoded), so every controller method answers with a Deferred."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        return defer.maybeDeferred(method, *args, **kwargs)

    return wrapper


def queue_id(connection, project, name):
    """:returns: the rowid of the queue, or ``None`` when it does not exist."""
    row = connection.execute(
        "SELECT id FROM queues WHERE project = :project AND name = :name",
        {"project": project, "name": name},
    ).fetchone()
    return None if row is None else row[0]


def create_queue(connection, project, name, now, max_queues=0, metadata="{}"):
    """Create the queue unless it exists.

    :param max_queues: the most queues the project may have (``0``: no quota).
    :returns: ``(rowid of the queue, whether it was created)``.
    :raises QuotaExceeded: the queue does not exist and the project has ``max_queues``.
    """
    found = queue_id(connection, project, name)
    if found is not None:
        return found, False
    if max_queues:
        (count,) = connection.execute(
            "SELECT COUNT(*) FROM queues WHERE project = ?", (project,)
        ).fetchone()
        if count >= max_queues:
            raise QuotaExceeded("queues", max_queues)
    cursor = connection.execute(
        "INSERT INTO queues (project, name, metadata, created) VALUES (?, ?, ?, ?)",
        (project, name, metadata, now),
    )
    return cursor.lastrowid, True


def select_messages(connection, where, params, suffix=""):
    """:returns: the rows matching ``where`` (named parameters only): ``rowid``,
    ``expires``, ``claim_count``, then the other columns :func:`render` needs."""
    return connection.execute(
        f"SELECT rowid, expires, {MESSAGE_COLUMNS} FROM messages WHERE {where} {suffix}",
        params,
    ).fetchall()


ROWID, EXPIRES, CLAIM_COUNT, MESSAGE_ID = 0, 1, 2, 3


def render(row, now, claim_id=HELD, claim_count=None, ttl=None):
    """A message dict of the storage contract from a row of :func:`select_messages`.

    :param claim_id: the claim id shown (default: the row's claim, while it lives).
    :param claim_count: shown instead of the row's, when given.
    :param ttl: shown instead of the row's, when given.
    """
    _, _, count, message_id, row_ttl, created, held_by, claim_expires, checksum, body = row
    if claim_id is HELD:
        claim_id = held_by if claim_expires > now else None
    message = {
        "id": message_id,
        "ttl": row_ttl if ttl is None else ttl,
        "age": max(0, (now - created) // 1000),
        "body": orjson.loads(body),
        "claim_id": claim_id,
        "claim_count": count if claim_count is None else claim_count,
        "created": created / 1000,
    }
    if checksum is not None:
        message["checksum"] = checksum
    return message


def chunks(items):
    """``items`` in lists of at most :data:`CHUNK`."""
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]


def in_list(values, params, prefix="v"):
    """Bind ``values`` as named parameters in ``params``.

    :returns: the ``:v0, :v1, ...`` text to write between the parentheses of ``IN (...)``.
    """
    names = []
    for index, value in enumerate(values):
        name = f"{prefix}{index}"
        params[name] = value
        names.append(":" + name)
    return ", ".join(names)
