"""Runs SQLite work off the reactor: one writer thread, a few reader threads.

Every write runs on the single writer thread, on one connection, inside one ``BEGIN
IMMEDIATE`` transaction, so writes of this process are serialised and a read-then-write of
another process sharing the file waits for ours (up to the busy timeout) instead of racing
it.  Reads run in a deferred transaction (one consistent snapshot, thanks to WAL) on a reader
thread, or on the writer thread when no reader is configured or when a write issued earlier
has not finished yet: so a caller that reads after writing, without waiting, still sees its
write, just as on a single Redis connection.

Every ``sqlite3`` failure (locked beyond the timeout, disk I/O error, full disk, corrupt
file...) fails the operation's Deferred with :class:`~zaqar_tw.errors.StoreUnavailable`.
"""

import queue
import sqlite3

from twisted.internet import defer
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

from zaqar_store_sqlite.schema import SchemaError, create_tables, open_connection
from zaqar_tw.errors import StoreUnavailable

log = Logger()

_BUGS = (sqlite3.ProgrammingError, sqlite3.InterfaceError)


class Database:
    """The threads and connections of one SQLite store.

    :param reactor: the reactor results are delivered on (``IReactorFromThreads``).
    :param address: a :class:`~zaqar_store_sqlite.uri.SQLiteAddress`.
    """

    def __init__(self, reactor, address):
        self._reactor = reactor
        self.address = address
        self._writer_pool = ThreadPool(1, 1, name=f"zaqar-sqlite-writer {address.path}")
        self._reader_pool = None
        if address.readers:
            self._reader_pool = ThreadPool(
                1, address.readers, name=f"zaqar-sqlite-readers {address.path}"
            )
        self._writer = None  # the writer thread's connection
        self._idle_readers = queue.SimpleQueue()
        self._readers = []  # every reader connection ever opened
        self._tables_ready = False
        self._state = "new"  # then "open", then "closed"
        self._closed = None
        self._busy = 0
        self._pending_writes = 0
        self._idle_waiters = []
        self._shutdown_trigger = None

    # Life cycle.

    def connect(self):
        """Start the threads, open the database and create the tables if needed.

        :returns: Deferred firing with ``None`` once the database is ready; it fails with
            :class:`StoreUnavailable` when it cannot be opened (later operations try again)
            or when the store was closed.
        """
        if self._state == "closed":
            return defer.fail(StoreUnavailable(f"SQLite store {self.address}: closed"))
        if self._state == "new":
            self._state = "open"
            self._writer_pool.start()
            if self._reader_pool is not None:
                self._reader_pool.start()
            if hasattr(self._reactor, "addSystemEventTrigger"):
                self._shutdown_trigger = self._reactor.addSystemEventTrigger(
                    "during", "shutdown", self.close
                )
        if self._tables_ready:
            return defer.succeed(None)
        return self.write(lambda connection: None)

    def close(self):
        """Refuse new work, let the work under way finish, close the connections and stop
        the threads.

        :returns: Deferred firing once everything is closed (on every call).
        """
        if self._closed is None:
            self._closed = defer.ensureDeferred(self._close())
        d = defer.Deferred()

        def done(result):
            d.callback(None)
            return result

        self._closed.addCallback(done)
        return d

    async def _close(self):
        started = self._state == "open"
        self._state = "closed"
        if self._shutdown_trigger is not None:
            self._reactor.removeSystemEventTrigger(self._shutdown_trigger)
            self._shutdown_trigger = None
        if not started:
            return
        if self._busy:
            waiter = defer.Deferred()
            self._idle_waiters.append(waiter)
            await waiter
        try:
            await deferToThreadPool(self._reactor, self._writer_pool, self._close_connections)
        except Exception:
            log.failure("closing SQLite store {address} failed", address=self.address)
        # Every thread is idle now: stopping them is only a join of idle threads.
        self._writer_pool.stop()
        if self._reader_pool is not None:
            self._reader_pool.stop()

    def _close_connections(self):
        connections = list(self._readers)
        if self._writer is not None:
            connections.append(self._writer)
        self._writer = None
        self._readers = []
        for connection in connections:
            connection.close()

    # Work.

    def write(self, work, *args):
        """Run ``work(connection, *args)`` on the writer thread inside ``BEGIN IMMEDIATE``;
        it commits when ``work`` returns and rolls back when it raises.

        :returns: Deferred firing with what ``work`` returned, or failing with what it
            raised (``sqlite3`` errors as :class:`StoreUnavailable`).
        """
        self._pending_writes += 1
        d = self._run(self._writer_pool, self._in_write, work, args)
        return d.addBoth(self._write_done)

    def read(self, work, *args):
        """Run ``work(connection, *args)`` in a read transaction (one snapshot).

        :returns: Deferred firing as :meth:`write`'s does.
        """
        if self._reader_pool is None or self._pending_writes or not self._tables_ready:
            return self._run(self._writer_pool, self._in_read_on_writer, work, args)
        return self._run(self._reader_pool, self._in_read, work, args)

    def _write_done(self, result):
        self._pending_writes -= 1
        return result

    def _run(self, pool, call, work, args):
        if self._state != "open":
            why = "closed" if self._state == "closed" else "not connected"
            return defer.fail(StoreUnavailable(f"SQLite store {self.address}: {why}"))
        self._busy += 1
        d = deferToThreadPool(self._reactor, pool, call, work, args)
        return d.addBoth(self._finished)

    def _finished(self, result):
        self._busy -= 1
        if not self._busy:
            waiters, self._idle_waiters = self._idle_waiters, []
            for waiter in waiters:
                waiter.callback(None)
        return result

    # In the threads.

    def _writer_connection(self):
        if self._writer is None:
            self._writer = open_connection(self.address, writer=True)
        if not self._tables_ready:
            create_tables(self._writer)
            self._tables_ready = True
        return self._writer

    def _in_write(self, work, args):
        try:
            connection = self._writer_connection()
            connection.execute("BEGIN IMMEDIATE")
            try:
                result = work(connection, *args)
                connection.execute("COMMIT")
            except BaseException:
                _rollback(connection)
                raise
        except _BUGS:
            raise
        except (sqlite3.Error, SchemaError) as exc:
            raise self._unavailable(exc) from exc
        return result

    def _in_read_on_writer(self, work, args):
        try:
            return _snapshot(self._writer_connection(), work, args)
        except _BUGS:
            raise
        except (sqlite3.Error, SchemaError) as exc:
            raise self._unavailable(exc) from exc

    def _in_read(self, work, args):
        try:
            connection = self._idle_readers.get_nowait()
        except queue.Empty:
            connection = None
        try:
            if connection is None:
                connection = open_connection(self.address, writer=False)
                self._readers.append(connection)
            return _snapshot(connection, work, args)
        except _BUGS:
            raise
        except sqlite3.Error as exc:
            raise self._unavailable(exc) from exc
        finally:
            if connection is not None:
                self._idle_readers.put(connection)

    def _unavailable(self, exc):
        return StoreUnavailable(f"SQLite store {self.address} failed: {exc}")


def _snapshot(connection, work, args):
    connection.execute("BEGIN")
    try:
        return work(connection, *args)
    finally:
        _rollback(connection)


def _rollback(connection):
    if connection.in_transaction:
        try:
            connection.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # a failed rollback leaves SQLite to roll back on its own
