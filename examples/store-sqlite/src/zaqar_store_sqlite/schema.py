"""The tables of the SQLite store, and how a connection to them is opened.

Times are integer milliseconds of the service's clock (never SQLite's own clock).  A message
row's ``rowid`` is its rank: rows are appended by one writer at a time, so ``rowid`` order is
enqueue order.  A message is *held* while ``claim_expires > now``; releasing a claim sets
``claim_id`` to NULL and ``claim_expires`` to 0.  ``expires`` is when the message dies (the
grace rule may push it past ``created + ttl``).  A subscription lives while ``expires > now``
(``renewed + ttl``); a queue has at most one row per subscriber URI.  A token bucket row
(``rate_buckets``) holds the bucket's theoretical arrival time ``tat`` (see ``rates.py``);
the bucket is full from ``expires`` on (then the row means nothing and may go).

The version is kept in ``PRAGMA user_version``.  Version 2 added ``subscriptions``, version 3
``rate_buckets``; every statement of :data:`TABLES` is ``IF NOT EXISTS``, so running them
upgrades a file of an older version (or fills a new one) in one transaction.
"""

import sqlite3

VERSION = 3

TABLES = """
CREATE TABLE IF NOT EXISTS queues (
    id INTEGER PRIMARY KEY,
    project TEXT NOT NULL,
    name TEXT NOT NULL,
    metadata BLOB NOT NULL,
    created INTEGER NOT NULL,
    UNIQUE (project, name)
);
CREATE TABLE IF NOT EXISTS messages (
    queue_id INTEGER NOT NULL,
    id TEXT NOT NULL,
    created INTEGER NOT NULL,
    ttl INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    available INTEGER NOT NULL,
    client TEXT NOT NULL,
    claim_id TEXT,
    claim_expires INTEGER NOT NULL DEFAULT 0,
    claim_count INTEGER NOT NULL DEFAULT 0,
    checksum TEXT,
    body BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_id ON messages (queue_id, id);
CREATE INDEX IF NOT EXISTS messages_by_rank ON messages (queue_id);
CREATE INDEX IF NOT EXISTS messages_by_claim ON messages (queue_id, claim_id)
    WHERE claim_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_by_expiry ON messages (expires);
CREATE TABLE IF NOT EXISTS claims (
    queue_id INTEGER NOT NULL,
    id TEXT NOT NULL,
    ttl INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    renewed INTEGER NOT NULL,
    UNIQUE (queue_id, id)
);
CREATE INDEX IF NOT EXISTS claims_by_expiry ON claims (expires);
CREATE TABLE IF NOT EXISTS subscriptions (
    queue_id INTEGER NOT NULL,
    id TEXT NOT NULL,
    subscriber TEXT NOT NULL,
    ttl INTEGER NOT NULL,
    renewed INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    options BLOB NOT NULL,
    confirmed INTEGER NOT NULL DEFAULT 0,
    UNIQUE (queue_id, id),
    UNIQUE (queue_id, subscriber)
);
CREATE INDEX IF NOT EXISTS subscriptions_by_expiry ON subscriptions (expires);
CREATE TABLE IF NOT EXISTS rate_buckets (
    project TEXT NOT NULL,
    name TEXT NOT NULL,
    tat REAL NOT NULL,
    expires INTEGER NOT NULL,
    PRIMARY KEY (project, name)
);
CREATE INDEX IF NOT EXISTS rate_buckets_by_expiry ON rate_buckets (expires);
"""

# The columns a message is rendered from (see ``messages.render``).
MESSAGE_COLUMNS = "claim_count, id, ttl, created, claim_id, claim_expires, checksum, body"


class SchemaError(Exception):
    """The database was made by another version of this store."""


def open_connection(address, writer):
    """Open a connection with the store's settings.

    :param address: a :class:`~zaqar_store_sqlite.uri.SQLiteAddress`.
    :param writer: whether this is the writer's connection (it turns WAL on); other
        connections are read-only.
    :returns: a ``sqlite3.Connection`` in autocommit mode (transactions are explicit).
    :raises sqlite3.Error: the file cannot be opened or set up.
    """
    connection = sqlite3.connect(
        address.path, timeout=address.timeout, isolation_level=None, check_same_thread=False
    )
    try:
        if writer and not address.memory:
            mode = _use_wal(connection)
            if mode.lower() != "wal":
                raise sqlite3.OperationalError(f"cannot use WAL mode (journal mode {mode})")
        connection.execute(f"PRAGMA synchronous = {address.synchronous.upper()}")
        if not writer:
            connection.execute("PRAGMA query_only = 1")
    except BaseException:
        connection.close()
        raise
    return connection


def _use_wal(connection, attempts=20):
    """Switch the file to WAL mode (it stays so) unless it is already.

    The switch needs an exclusive lock that SQLite takes without its busy handler, so it
    fails at once while another connection (maybe of another process) holds any lock, e.g.
    while both open a new file.  Then wait for the lock through the busy handler (up to the
    connection's timeout) with an exclusive transaction, and try again.

    :returns: the journal mode now in force.
    """
    for _ in range(attempts):
        try:
            return connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
        connection.execute("BEGIN EXCLUSIVE")
        connection.execute("COMMIT")
    raise sqlite3.OperationalError("database is locked: cannot switch it to WAL mode")


def create_tables(connection):
    """Create the tables unless they exist, upgrading a file of an older version (one
    transaction; safe against another process doing the same at once).

    :raises SchemaError: the file holds a newer version's tables.
    """
    connection.execute("BEGIN IMMEDIATE")
    try:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if not 0 <= version <= VERSION:
            raise SchemaError(
                f"the database has schema version {version}; this store knows up to {VERSION}"
            )
        for statement in TABLES.split(";"):
            if statement.strip():
                connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
