"""What is particular to the SQLite store: registration, WAL and durability settings, the
threads (the reactor never waits on SQLite), locking between connections, failures as
StoreUnavailable, and the sweeping of expired rows."""

import sqlite3
import threading

import pytest
import pytest_twisted
from twisted.internet import defer, task

from zaqar_store_sqlite import SQLiteStorage
from zaqar_store_sqlite.store import SWEEP_INTERVAL
from zaqar_store_sqlite.testing import make_test_store
from zaqar_tw.errors import StoreUnavailable

CLIENT = "6f1a3c1e-1b3c-4f6a-9a7e-0b1c2d3e4f50"


def _reactor():
    from twisted.internet import reactor

    return reactor


def raw(database):
    """A plain connection to the file, for inspecting or locking it from the test."""
    return sqlite3.connect(database, isolation_level=None, timeout=0)


def messages(count, ttl=300):
    return [{"ttl": ttl, "body": {"n": n}} for n in range(count)]


def test_registered_under_its_name():
    """zaqar-tw finds the store as "sqlite" and the suites find its test factory."""
    from importlib.metadata import entry_points

    from zaqar_tw.plugins import STORAGE, load

    assert load(STORAGE, "sqlite", "[drivers] message_store") is (
        SQLiteStorage
    )
    (factory,) = entry_points(group="zaqar_tw.storage_tests", name="sqlite")
    assert factory.load() is make_test_store


@pytest_twisted.ensureDeferred
async def test_test_factory_builds_a_fresh_store(tmp_path, clock, project):
    """The factory of the suites gives an unconnected store on a new file in the directory."""
    store = make_test_store(_reactor(), clock, tmp_path)
    try:
        assert not (tmp_path / "zaqar.db").exists()
        await store.connect()
        assert await store.queues.create(project, "q", {})
        assert (tmp_path / "zaqar.db").exists()
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_wal_and_full_sync_by_default(store, open_store, database, tmp_path):
    """The file is in WAL mode; commits are synchronous=FULL unless the URI says normal."""
    with raw(database) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    def synchronous(connection):
        return connection.execute("PRAGMA synchronous").fetchone()[0]

    assert await store._database.write(synchronous) == 2
    relaxed = open_store(f"sqlite://{tmp_path / 'relaxed.db'}?synchronous=normal")
    await relaxed.connect()
    assert await relaxed._database.write(synchronous) == 1


@pytest_twisted.ensureDeferred
async def test_reads_see_earlier_writes_without_waiting(store, project):
    """A read issued right after a write, without waiting for it, sees the write."""
    for _ in range(20):
        posted = store.messages.post(project, "q", messages(1), CLIENT)
        listed = store.messages.list(project, "q", echo=True, limit=100)
        stats = store.queues.stats(project, "q")
        (ids, _), page, counters = await defer.gatherResults([posted, listed, stats])
        assert page[-1]["id"] == ids[0]
        assert counters["newest"]["id"] == ids[0]


@pytest_twisted.ensureDeferred
async def test_lock_held_too_long_is_unavailable(open_store, database, project):
    """A write lock held by another connection past the timeout fails the operation with
    StoreUnavailable; the reactor keeps running meanwhile, reads still work, and writes
    work again once the lock is released."""
    store = open_store(f"sqlite://{database}?timeout=0.5")
    await store.connect()
    ids, _ = await store.messages.post(project, "q", messages(1), CLIENT)
    ticks = []
    with raw(database) as other:
        other.execute("BEGIN IMMEDIATE")
        ticker = task.LoopingCall(ticks.append, None)
        ticker.start(0.05)
        try:
            with pytest.raises(StoreUnavailable, match="locked"):
                await store.messages.post(project, "q", messages(1), CLIENT)
        finally:
            ticker.stop()
        assert len(ticks) >= 5, "the reactor stalled while SQLite waited for the lock"
        listed = await store.messages.list(project, "q", echo=True)
        assert [m["id"] for m in listed] == ids
        other.execute("ROLLBACK")
    more, _ = await store.messages.post(project, "q", messages(1), CLIENT)
    listed = await store.messages.list(project, "q", echo=True)
    assert [m["id"] for m in listed] == ids + more


@pytest_twisted.ensureDeferred
async def test_unopenable_file_then_recovers(open_store, tmp_path, project):
    """A file that cannot be opened fails connect and operations with StoreUnavailable;
    once it can be, the next operation opens it."""
    missing = tmp_path / "not-yet" / "zaqar.db"
    store = open_store(f"sqlite://{missing}")
    with pytest.raises(StoreUnavailable, match="unable to open"):
        await store.connect()
    with pytest.raises(StoreUnavailable):
        await store.queues.create(project, "q", {})
    assert await store.ping() is False
    missing.parent.mkdir()
    assert await store.queues.create(project, "q", {})
    assert await store.ping() is True


@pytest_twisted.ensureDeferred
async def test_corrupt_file_is_unavailable(open_store, database, project):
    """A file that is not a database fails every operation with StoreUnavailable."""
    database.write_bytes(b"this is not an SQLite database\n" * 200)
    store = open_store(f"sqlite://{database}")
    with pytest.raises(StoreUnavailable, match="not a database"):
        await store.connect()
    with pytest.raises(StoreUnavailable, match="not a database"):
        await store.messages.post(project, "q", messages(1), CLIENT)


@pytest_twisted.ensureDeferred
async def test_newer_schema_is_refused(open_store, database):
    """A file made by a newer version of the store is refused, not altered."""
    with raw(database) as connection:
        connection.execute("PRAGMA user_version = 99")
    store = open_store(f"sqlite://{database}")
    with pytest.raises(StoreUnavailable, match="schema version 99"):
        await store.connect()
    with raw(database) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == 99


@pytest_twisted.ensureDeferred
async def test_two_stores_on_one_file_never_share_a_message(open_store, database, project):
    """Claims fired at once through two connections to one file hold each message once;
    deleting through either loses none."""
    first = open_store(f"sqlite://{database}")
    second = open_store(f"sqlite://{database}")
    await defer.gatherResults([first.connect(), second.connect()])
    posted, _ = await first.messages.post(project, "q", messages(200), CLIENT)
    claims = await defer.gatherResults([
        (first if n % 2 else second).claims.create(project, "q", 60, 60, 7)
        for n in range(40)
    ])
    held = [(claim_id, m["id"]) for claim_id, got in claims for m in got]
    assert sorted(message_id for _, message_id in held) == sorted(posted)
    await defer.gatherResults([
        (first if n % 2 else second).messages.delete(project, "q", message_id, claim_id)
        for n, (claim_id, message_id) in enumerate(held)
    ])
    for store in (first, second):
        assert (await store.queues.stats(project, "q"))["total"] == 0


@pytest_twisted.ensureDeferred
async def test_sweep_deletes_expired_rows(store, database, clock, project):
    """The periodic sweep deletes expired messages and claims from the file (they were
    invisible already)."""
    await store.messages.post(project, "q", messages(3, ttl=SWEEP_INTERVAL), CLIENT)
    await store.messages.post(project, "q", messages(1, ttl=3600), CLIENT)
    await store.claims.create(project, "q", SWEEP_INTERVAL, 60, 1)
    with raw(database) as connection:
        assert connection.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 4
        assert connection.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 1
    clock.advance(SWEEP_INTERVAL)  # all but one message, and the claim, expire; the sweep
    await store.queues.set_metadata(project, "q", {})  # queues a write: this one runs after
    with raw(database) as connection:
        assert connection.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 1
        assert connection.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0
    assert (await store.queues.stats(project, "q"))["total"] == 1


@pytest_twisted.ensureDeferred
async def test_memory_database(open_store, project):
    """sqlite://:memory: works, on one connection, for as long as the store is open."""
    store = open_store("sqlite://:memory:")
    await store.connect()
    ids, _ = await store.messages.post(project, "q", messages(3), CLIENT)
    _, claimed = await store.claims.create(project, "q", 60, 60, 2)
    assert [m["id"] for m in claimed] == ids[:2]
    assert (await store.queues.stats(project, "q"))["claimed"] == 2


@pytest_twisted.ensureDeferred
async def test_before_connect_operations_fail(open_store, database, project):
    """Operations before connect() fail at once with StoreUnavailable."""
    store = open_store(f"sqlite://{database}")
    with pytest.raises(StoreUnavailable, match="not connected"):
        await store.queues.create(project, "q", {})
    assert await store.ping() is False


@pytest_twisted.ensureDeferred
async def test_close_finishes_work_under_way_and_stops_threads(open_store, database, project):
    """close() lets operations already issued finish, then refuses new ones and leaves no
    thread behind."""
    store = open_store(f"sqlite://{database}")
    await store.connect()
    await store.queues.list(project)  # starts a reader thread as well
    posted = store.messages.post(project, "q", messages(5), CLIENT)
    listed = store.messages.list(project, "q", echo=True)
    closed = store.close()
    ids, _ = await posted
    assert [m["id"] for m in await listed] == ids
    await closed
    await store.close()  # a second close is no error
    with pytest.raises(StoreUnavailable, match="closed"):
        await store.messages.post(project, "q", messages(1), CLIENT)
    with pytest.raises(StoreUnavailable, match="closed"):
        await store.connect()
    names = [t.name for t in threading.enumerate() if str(database) in t.name]
    assert names == []
