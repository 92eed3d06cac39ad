"""Redis specifics of the layout: one hash tag per queue, garbage-collection TTLs with a
margin, computed from the service's clock, never used for correctness; and what the calls
made on every message post cost in commands."""

import uuid

import pytest_twisted

from zaqar_tw.storage.redis.connection import RedisConnection
from zaqar_tw.storage.redis.keys import (
    queue_index_key,
    queue_keys,
    rate_key,
    subscription_keys,
)
from zaqar_tw.storage.redis.store import RedisStorage
from zaqar_tw.storage.redis.uri import parse_uri

from redis_server import RedisServer

REDIS_URI = "redis://127.0.0.1:6379"
MARGIN = 86400


@pytest_twisted.async_yield_fixture
async def storage(clock):
    """A Redis store (these tests are about Redis, not the contract)."""
    from twisted.internet import reactor

    store = RedisStorage(reactor, REDIS_URI, clock=clock)
    await store.connect()
    yield store
    await store.close()


def tag_of(key):
    return key[key.index("{"): key.index("}") + 1]


async def inspector():
    from twisted.internet import reactor

    connection = RedisConnection(reactor, parse_uri(REDIS_URI))
    await connection.connect()
    return connection


async def keys_matching(connection, pattern):
    found, cursor = set(), b"0"
    while True:
        cursor, batch = await connection.execute("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
        found.update(k.decode() for k in batch)
        if cursor == b"0":
            return found


@pytest_twisted.ensureDeferred
async def test_all_keys_of_a_queue_share_one_hash_tag(storage):
    """Every key a queue uses carries the queue's hash tag; the index its project's own."""
    project = "odd{pro/ject}%" + uuid.uuid4().hex
    await storage.queues.create(project, "a.b", {"x": 1})
    await storage.messages.post(project, "a.b", [{"ttl": 60, "body": i} for i in range(3)], "c")
    await storage.messages.post(project, "a.b", [{"ttl": 60, "delay": 60, "body": 3}], "c")
    await storage.claims.create(project, "a.b", 60, 60, 1)
    await storage.subscriptions.create(project, "a.b", "http://a", 3600, {})
    inspect = await inspector()
    try:
        used = await keys_matching(inspect, "*" + project[-32:] + "*")
    finally:
        await inspect.close()
    tag = tag_of(queue_keys(project, "a.b")[0])
    assert tag.count("{") == 1 and tag.count("/") == 1 and tag.endswith("/a.b}")
    index = queue_index_key(project)
    assert index in used
    queue_keys_used = used - {index}
    assert queue_keys_used == set(queue_keys(project, "a.b")) | set(
        subscription_keys(project, "a.b"))
    assert all(tag_of(k) == tag for k in queue_keys_used)
    assert tag_of(index) != tag


@pytest_twisted.ensureDeferred
async def test_garbage_collection_ttl(storage, project, clock):
    """Data keys expire a margin after the last expiry relative to the service clock; the
    queue hash and the index never expire."""
    await storage.queues.create(project, "q", {})
    await storage.messages.post(project, "q", [{"ttl": 3600, "body": 1}] * 2, "c")
    keys = queue_keys(project, "q")
    inspect = await inspector()
    try:
        for key in keys[1:6]:  # the message keys (no claim yet)
            ttl = await inspect.execute("PTTL", key)
            assert (3600 + MARGIN - 5) * 1000 <= ttl <= (3600 + MARGIN * 1.25) * 1000, key
        await storage.claims.create(project, "q", 7200, 100, 1)  # grace lifts one to 7300 s
        assert await inspect.execute("PTTL", keys[0]) == -1
        assert await inspect.execute("PTTL", queue_index_key(project)) == -1
        for key in keys[1:8]:  # all but the delay set, which no delayed message made
            ttl = await inspect.execute("PTTL", key)
            assert (7300 + MARGIN - 5) * 1000 <= ttl <= (7300 + MARGIN) * 1000, key
        assert await inspect.execute("EXISTS", keys[8]) == 0
        # Renewing for longer pushes the horizon out.
        claim_id, _ = await storage.claims.create(project, "q", 60, 0, 1)
        assert await storage.claims.update(project, "q", claim_id, 20000, 0)
        assert await inspect.execute("PTTL", keys[6]) >= (20000 + MARGIN - 5) * 1000
        # Both messages are claimed, so the free set is gone; a release recreates it with
        # the TTL of the ids.
        assert await inspect.execute("EXISTS", keys[2]) == 0
        await storage.claims.delete(project, "q", claim_id)
        assert await inspect.execute("PTTL", keys[2]) > 0
        # So does a post after everything was claimed.
        await storage.claims.create(project, "q", 60, 0, 2)
        assert await inspect.execute("EXISTS", keys[2]) == 0
        await storage.messages.post(project, "q", [{"ttl": 60, "body": 1}], "c")
        assert await inspect.execute("PTTL", keys[2]) > 0
        assert abs(await inspect.execute("PTTL", keys[2])
                   - await inspect.execute("PTTL", keys[1])) < 5000
        # A delayed message's set gets the TTL of the ids too.
        await storage.messages.post(project, "q", [{"ttl": 60, "delay": 30, "body": 2}], "c")
        assert abs(await inspect.execute("PTTL", keys[8])
                   - await inspect.execute("PTTL", keys[1])) < 5000
    finally:
        await inspect.close()


@pytest_twisted.ensureDeferred
async def test_clock_far_ahead_of_redis(storage, project, clock):
    """Advancing the service clock does not make Redis drop keys (expiry is compared in the
    scripts, Redis key TTLs are only garbage collection)."""
    (message_id,), _ = await storage.messages.post(
        project, "q", [{"ttl": 1209600, "body": 1}], "c"
    )
    clock.advance(1209599)
    assert (await storage.messages.get(project, "q", message_id))["id"] == message_id
    clock.advance(1)
    assert await storage.messages.get(project, "q", message_id) is None


@pytest_twisted.ensureDeferred
async def test_expired_messages_are_removed_lazily(storage, project, clock):
    """Scripts drop expired messages they meet, so a queue's data keys empty out."""
    await storage.messages.post(project, "q", [{"ttl": 60, "body": 1}] * 3, "c")
    await storage.claims.create(project, "q", 30, 0, 1)
    clock.advance(60)
    await storage.queues.stats(project, "q")
    inspect = await inspector()
    try:
        for key in queue_keys(project, "q")[1:]:
            assert await inspect.execute("EXISTS", key) == 0, key
        assert await inspect.execute("EXISTS", queue_keys(project, "q")[0]) == 1
    finally:
        await inspect.close()


@pytest_twisted.ensureDeferred
async def test_expired_messages_off_the_scanned_path_are_swept(storage, project, clock):
    """Expired messages a script does not scan over are dropped too (bounded sweep)."""
    post = storage.messages.post
    (first,), _ = await post(project, "q", [{"ttl": 600, "body": 1}], "c")
    short, _ = await post(project, "q", [{"ttl": 60, "body": 2}] * 3, "c")
    clock.advance(60)
    assert [m["id"] for m in await storage.messages.list(project, "q", limit=1, echo=True)] == [
        first
    ]
    inspect = await inspector()
    try:
        messages_key = queue_keys(project, "q")[4]
        assert await inspect.execute("HKEYS", messages_key) == [first.encode()]
        assert not set(short) & {m.decode() for m in await inspect.execute(
            "ZRANGE", queue_keys(project, "q")[3], 0, -1)}
    finally:
        await inspect.close()


@pytest_twisted.ensureDeferred
async def test_subscription_garbage_collection_ttl(storage, project, clock):
    """Subscription keys expire a margin after the last subscription's expiry (a longer ttl
    pushes it out, a shorter one leaves it); the queue hash never expires."""
    keys = subscription_keys(project, "q")
    subscription, _ = await storage.subscriptions.create(project, "q", "http://a", 3600, {})
    inspect = await inspector()
    try:
        assert await inspect.execute("PTTL", keys[0]) == -1
        for key in keys[1:]:
            ttl = await inspect.execute("PTTL", key)
            assert (3600 + MARGIN - 5) * 1000 <= ttl <= (3600 + MARGIN * 1.25) * 1000, key
        await storage.subscriptions.update(project, "q", subscription["id"], {"ttl": 90000})
        for key in keys[1:]:
            assert await inspect.execute("PTTL", key) >= (90000 + MARGIN - 5) * 1000, key
        await storage.subscriptions.update(project, "q", subscription["id"], {"ttl": 60})
        for key in keys[1:]:
            assert await inspect.execute("PTTL", key) >= (90000 + MARGIN - 5) * 1000, key
    finally:
        await inspect.close()


@pytest_twisted.ensureDeferred
async def test_expired_subscriptions_are_removed_lazily(storage, project, clock):
    """Scripts drop the expired subscriptions they meet, so the subscription keys empty out;
    a new subscription of an expired one's subscriber replaces its record."""
    subs = storage.subscriptions
    old, _ = await subs.create(project, "q", "http://a", 60, {})
    for i in range(3):
        await subs.create(project, "q", f"http://b/{i}", 60, {})
    clock.advance(60)
    new, created = await subs.create(project, "q", "http://a", 600, {})
    inspect = await inspector()
    try:
        keys = subscription_keys(project, "q")
        assert await inspect.execute("HLEN", keys[1]) == 4
        assert await inspect.execute("HGET", keys[3], "http://a") == new["id"].encode()
        assert await inspect.execute("HEXISTS", keys[1], old["id"]) == 0
        clock.advance(600)
        assert await subs.list(project, "q") == []
        for key in keys[1:]:
            assert await inspect.execute("EXISTS", key) == 0, key
        assert await inspect.execute("EXISTS", keys[0]) == 1
    finally:
        await inspect.close()


@pytest_twisted.ensureDeferred
async def test_queue_delete_and_purge_of_subscription_keys(storage, project, clock):
    """A queue delete unlinks the subscription keys with the others; a purge keeps them."""
    await storage.messages.post(project, "q", [{"ttl": 60, "body": 1}], "c")
    await storage.subscriptions.create(project, "q", "http://a", 3600, {})
    keys = subscription_keys(project, "q")
    inspect = await inspector()
    try:
        await storage.queues.purge(project, "q")
        assert await inspect.execute("EXISTS", *keys) == len(keys)
        await storage.queues.delete(project, "q")
        assert await keys_matching(inspect, "*" + project + "*") == set()
    finally:
        await inspect.close()


async def command_counts(connection):
    """Calls per command since the last CONFIG RESETSTAT (the inspector's own left out)."""
    info = (await connection.execute("INFO", "commandstats")).decode()
    counts = {}
    for line in info.splitlines():
        if line.startswith("cmdstat_"):
            name, stats = line[len("cmdstat_"):].split(":", 1)
            counts[name] = int(stats.split(",")[0].split("=")[1])
    return {
        k: v for k, v in counts.items() if k.split("|")[0] not in ("config", "info", "ping")
    }


@pytest_twisted.async_yield_fixture
async def counted(tmp_path, clock):
    """``(store, inspector)``: a Redis store on a private redis-server, whose command
    counts only the test's calls change, and a connection to that server."""
    from twisted.internet import reactor

    server = RedisServer(tmp_path)
    await server.start()
    storage = RedisStorage(reactor, server.uri, clock=clock)
    inspect = RedisConnection(reactor, parse_uri(server.uri))
    try:
        await storage.connect()
        await inspect.connect()
        yield storage, inspect
    finally:
        await inspect.close()
        await storage.close()
        server.kill()


@pytest_twisted.ensureDeferred
async def test_listing_subscriptions_costs_one_round_trip(counted, project):
    """The dispatcher lists a queue's subscriptions after every post: one script call, which
    on a queue without subscriptions runs a single ZRANGEBYLEX."""
    storage, inspect = counted
    await storage.queues.create(project, "q", {})
    await inspect.execute("CONFIG", "RESETSTAT")
    assert await storage.subscriptions.list(project, "q", limit=100) == []
    assert await command_counts(inspect) == {"evalsha": 1, "zrangebylex": 1}
    await storage.subscriptions.create(project, "q", "http://a", 3600, {})
    await inspect.execute("CONFIG", "RESETSTAT")
    assert len(await storage.subscriptions.list(project, "q", limit=100)) == 1
    assert (await command_counts(inspect))["evalsha"] == 1


@pytest_twisted.ensureDeferred
async def test_project_keys_share_the_project_tag(storage, clock):
    """A project's token buckets carry the tag of its queue index, not of a queue; a bucket
    lives (as garbage collection) until it is full again plus a minute, on the service
    clock."""
    project = "odd{pro/ject}%" + uuid.uuid4().hex
    await storage.queues.create(project, "q", {}, max_queues=3)
    for _ in range(10):
        assert (await storage.rates.take(project, "write", 1.0, 10))[0]
    key = rate_key(project, "write")
    assert tag_of(key) == tag_of(queue_index_key(project)) != tag_of(queue_keys(project, "q")[0])
    inspect = await inspector()
    try:
        assert await keys_matching(inspect, "*" + project[-32:] + "*:rate:*") == {key}
        assert 69_000 <= await inspect.execute("PTTL", key) <= 70_000
        clock.advance(5)
        assert (await storage.rates.take(project, "write", 1.0, 10))[0]
        assert 65_000 <= await inspect.execute("PTTL", key) <= 66_000
    finally:
        await inspect.close()


@pytest_twisted.ensureDeferred
async def test_what_limits_cost_in_round_trips(counted, project):
    """A token take is one script call; under a queue quota, a post to an existing queue is
    still one script call (the admission runs only for a new queue), and so is a
    subscription."""
    storage, inspect = counted

    async def scripts_run(call):
        await inspect.execute("CONFIG", "RESETSTAT")
        await call()
        return (await command_counts(inspect))["evalsha"]

    take = storage.rates.take
    post = storage.messages.post
    subscribe = storage.subscriptions.create
    one = [{"ttl": 60, "body": 1}]
    assert await scripts_run(lambda: take(project, "read", 5.0, 5)) == 1
    assert await scripts_run(lambda: post(project, "q", one, "c", max_queues=2)) == 3
    assert await scripts_run(
        lambda: post(project, "q", one, "c", max_queues=2, max_messages=5)
    ) == 1
    assert await scripts_run(
        lambda: subscribe(project, "q", "http://a", 60, {}, max_queues=2, max_subscriptions=5)
    ) == 1
    assert await scripts_run(
        lambda: subscribe(project, "r", "http://a", 60, {}, max_queues=2)
    ) == 3
    assert await scripts_run(lambda: storage.queues.create(project, "r", {}, max_queues=2)) == 2
