"""What is particular to subscriptions in the SQLite store: upgrading a file of schema version
1, one row per subscriber (an expired one is replaced), sweeping, and two processes
subscribing at once.  (Their contract is tested by zaqar-tw's storage suite.)"""

import sqlite3

import pytest_twisted
from twisted.internet import defer

from zaqar_store_sqlite.schema import VERSION
from zaqar_store_sqlite.store import SWEEP_INTERVAL

CLIENT = "6f1a3c1e-1b3c-4f6a-9a7e-0b1c2d3e4f50"
HOOK = "http://127.0.0.1:9/hook"


def raw(database):
    return sqlite3.connect(database, isolation_level=None, timeout=0)


def count(database, table):
    with raw(database) as connection:
        return connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


@pytest_twisted.ensureDeferred
async def test_version_1_file_is_upgraded(open_store, database, project):
    """A file of schema version 1 (no subscriptions and no token buckets) keeps its queues
    and messages and gains both tables; it is then at the current version."""
    old = open_store(f"sqlite://{database}")
    await old.connect()
    ids, _ = await old.messages.post(project, "q", [{"ttl": 300, "body": 1}], CLIENT)
    await old.close()
    with raw(database) as connection:  # back to what version 1 of the store left
        connection.execute("DROP TABLE subscriptions")
        connection.execute("DROP TABLE rate_buckets")
        connection.execute("PRAGMA user_version = 1")
    store = open_store(f"sqlite://{database}")
    await store.connect()
    assert [m["id"] for m in await store.messages.list(project, "q", echo=True)] == ids
    subscription, created = await store.subscriptions.create(project, "q", HOOK, 60, {})
    assert created
    assert await store.subscriptions.list(project, "q") == [subscription]
    assert (await store.rates.take(project, "write", 1.0, 2))[0] is True
    with raw(database) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == VERSION == 3


@pytest_twisted.ensureDeferred
async def test_expired_subscriber_is_replaced(store, database, clock, project):
    """Once a subscription expired, its subscriber subscribes anew (the expired row is
    replaced, not kept beside the new one), and another subscription may take it too."""
    first, _ = await store.subscriptions.create(project, "q", HOOK, 60, {})
    other, _ = await store.subscriptions.create(project, "q", HOOK + "2", 600, {})
    clock.advance(60)
    again, created = await store.subscriptions.create(project, "q", HOOK, 60, {"a": 1})
    assert created and again["id"] != first["id"] and again["options"] == {"a": 1}
    assert count(database, "subscriptions") == 2
    clock.advance(60)  # `again` expires; `other` moves onto its subscriber
    assert await store.subscriptions.update(project, "q", other["id"], {"subscriber": HOOK})
    assert (await store.subscriptions.get(project, "q", other["id"]))["subscriber"] == HOOK
    assert count(database, "subscriptions") == 1


@pytest_twisted.ensureDeferred
async def test_sweep_deletes_expired_subscriptions(store, database, clock, project):
    """The periodic sweep deletes expired subscriptions from the file."""
    await store.subscriptions.create(project, "q", HOOK, SWEEP_INTERVAL, {})
    await store.subscriptions.create(project, "q", HOOK + "2", 3600, {})
    assert count(database, "subscriptions") == 2
    clock.advance(SWEEP_INTERVAL)  # the first expires; the sweep runs
    await store.queues.set_metadata(project, "q", {})  # a write queued after the sweep's
    assert count(database, "subscriptions") == 1


@pytest_twisted.ensureDeferred
async def test_two_stores_subscribing_at_once(open_store, database, project):
    """Subscribing one subscriber through two connections to one file at once makes one
    subscription; every caller gets it."""
    first = open_store(f"sqlite://{database}")
    second = open_store(f"sqlite://{database}")
    await defer.gatherResults([first.connect(), second.connect()])
    results = await defer.gatherResults([
        (first if n % 2 else second).subscriptions.create(project, "q", HOOK, 600, {})
        for n in range(20)
    ])
    assert [created for _, created in results].count(True) == 1
    assert len({subscription["id"] for subscription, _ in results}) == 1
    assert count(database, "subscriptions") == 1


@pytest_twisted.ensureDeferred
async def test_queue_delete_removes_subscriptions_purge_keeps_them(store, database, project):
    """Deleting a queue deletes its subscription rows; purging it keeps them, and a queue
    made anew under the name starts without subscriptions."""
    await store.subscriptions.create(project, "q", HOOK, 600, {})
    await store.queues.purge(project, "q")
    assert count(database, "subscriptions") == 1
    await store.queues.delete(project, "q")
    assert count(database, "subscriptions") == 0
    assert await store.queues.create(project, "q", {})
    assert await store.subscriptions.list(project, "q") == []
