"""The SQLite store: :class:`SQLiteStorage`, registered as ``sqlite`` in ``zaqar_tw.storage``.

``SQLiteStorage(reactor, "sqlite:///var/lib/zaqar/zaqar.db", clock=clock)`` provides
``IStorage``; :meth:`SQLiteStorage.connect` opens the file (creating it and its tables if
needed) and :meth:`SQLiteStorage.close` closes it.  Several service processes may share one
file: every read-then-write is one ``BEGIN IMMEDIATE`` transaction.
"""

from twisted.internet import defer
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from zope.interface import implementer

from zaqar_store_sqlite.claims import SQLiteClaimStore
from zaqar_store_sqlite.database import Database
from zaqar_store_sqlite.messages import SQLiteMessageStore
from zaqar_store_sqlite.queues import SQLiteQueueStore
from zaqar_store_sqlite.rates import SQLiteRateStore
from zaqar_store_sqlite.rows import now_ms
from zaqar_store_sqlite.subscriptions import SQLiteSubscriptionStore
from zaqar_store_sqlite.uri import parse_uri
from zaqar_tw.errors import StoreUnavailable
from zaqar_tw.interfaces import IStorage

log = Logger()

SWEEP_INTERVAL = 60.0  # seconds of the clock between two sweeps of expired rows
SWEEP_BATCH = 1000  # rows deleted per transaction of a sweep


@implementer(IStorage)
class SQLiteStorage:
    """A store in one SQLite file.

    :param reactor: the reactor results are delivered on.
    :param uri: ``sqlite:///absolute/path.db``, ``sqlite:relative/path.db`` or
        ``sqlite://:memory:``, with options ``timeout``, ``synchronous`` and ``readers``
        (see :mod:`zaqar_store_sqlite.uri`).
    :param clock: the ``IReactorTime`` every notion of "now" comes from (default: reactor).
    :raises ValueError: the URI is not an SQLite URI this store understands.
    """

    def __init__(self, reactor, uri, clock=None):
        self.address = parse_uri(uri)
        clock = reactor if clock is None else clock
        self._clock = clock
        self._database = Database(reactor, self.address)
        self.queues = SQLiteQueueStore(self._database, clock)
        self.messages = SQLiteMessageStore(self._database, clock)
        self.claims = SQLiteClaimStore(self._database, clock)
        self.subscriptions = SQLiteSubscriptionStore(self._database, clock)
        self.rates = SQLiteRateStore(self._database, clock)
        self._sweeper = LoopingCall(lambda: defer.ensureDeferred(self._sweep()))
        self._sweeper.clock = clock

    def connect(self):
        """Open the database (creating its tables if needed) and start sweeping expired
        rows now and then.

        :returns: Deferred firing once the database is ready; it fails with
            :class:`~zaqar_tw.errors.StoreUnavailable` if it cannot be opened (each later
            operation tries again).  Operations before this call fail at once.
        """
        d = self._database.connect()
        if not self._sweeper.running:
            self._sweeper.start(SWEEP_INTERVAL, now=False)
        return d

    def ping(self):
        """:returns: Deferred firing with whether the database answers a query."""
        d = self._database.read(lambda connection: connection.execute("SELECT 1").fetchone())
        return d.addCallbacks(lambda _: True, lambda _: False)

    def close(self):
        """Stop sweeping, let operations under way finish, and close the database.

        :returns: Deferred firing once closed.
        """
        if self._sweeper.running:
            self._sweeper.stop()
        return self._database.close()

    async def _sweep(self):
        """Delete expired messages, claims and subscriptions, and full token buckets, in
        small transactions (they are invisible already: this only reclaims space)."""
        try:
            more = True
            while more and self._sweeper.running:
                more = await self._database.write(_sweep, now_ms(self._clock), SWEEP_BATCH)
        except StoreUnavailable as exc:
            log.warn("sweeping expired rows of {address} failed: {why}",
                     address=self.address, why=exc)


def _sweep(connection, now, batch):
    """Delete up to ``batch`` expired rows of each of messages, claims, subscriptions and
    token buckets.

    :returns: whether there may be more.
    """
    more = False
    for table in ("messages", "claims", "subscriptions", "rate_buckets"):
        deleted = connection.execute(
            f"DELETE FROM {table} WHERE rowid IN "
            f"(SELECT rowid FROM {table} WHERE expires <= ? LIMIT ?)",
            (now, batch),
        ).rowcount
        more = more or deleted >= batch
    return more
