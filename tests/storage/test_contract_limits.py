"""Storage contract: token buckets (IRateStore) and quotas (the ``max_*`` keywords of the
methods that create queues, messages and subscriptions), run against every registered store."""

import uuid

import pytest
import pytest_twisted
from twisted.internet import defer
from zope.interface.verify import verifyObject

from zaqar_tw.errors import QuotaExceeded
from zaqar_tw.interfaces import IRateStore

HOOK = "http://127.0.0.1:8080/hook"
CLIENT = "a3c0e9d4-8f1b-4c2e-9d7a-6b5e4f3a2c1d"


def message(ttl=300, delay=0, body=None):
    return {"ttl": ttl, "delay": delay, "body": body}


async def outcomes(calls):
    """Run coroutines at once: :returns: the results, QuotaExceeded errors as values."""

    async def settle(call):
        try:
            return await call
        except QuotaExceeded as exc:
            return exc

    return await defer.gatherResults([defer.ensureDeferred(settle(c)) for c in calls])


async def refused(call):
    """:returns: the QuotaExceeded that ``call`` fails with."""
    with pytest.raises(QuotaExceeded) as caught:
        await call
    return caught.value


def test_provides_interface(storage):
    """The store's rates provide IRateStore."""
    assert verifyObject(IRateStore, storage.rates)


# Token buckets.


@pytest_twisted.ensureDeferred
async def test_bucket_starts_full_and_empties(storage, project):
    """A new bucket holds ``burst`` tokens: that many takes succeed, each saying what is left
    and when the next token comes; then takes are refused with the wait for one."""
    take = storage.rates.take
    assert await take(project, "write", 2.0, 3) == (True, 2, 0.5)
    assert await take(project, "write", 2.0, 3) == (True, 1, 0.5)
    assert await take(project, "write", 2.0, 3) == (True, 0, 0.5)
    assert await take(project, "write", 2.0, 3) == (False, 0, 0.5)
    assert await take(project, "write", 2.0, 3) == (False, 0, 0.5)


@pytest_twisted.ensureDeferred
async def test_bucket_refills_with_the_clock(storage, project, clock):
    """Tokens come back at ``rate`` a second of the store's clock, never past ``burst``."""
    take = storage.rates.take
    for _ in range(2):
        assert (await take(project, "read", 4.0, 2))[0]
    clock.advance(0.1)
    assert await take(project, "read", 4.0, 2) == (False, 0, 0.15)
    clock.advance(0.15)
    assert await take(project, "read", 4.0, 2) == (True, 0, 0.25)
    clock.advance(0.5)  # two intervals: full again
    assert await take(project, "read", 4.0, 2) == (True, 1, 0.25)
    clock.advance(3600)  # idle for long: still only burst tokens
    assert await take(project, "read", 4.0, 2) == (True, 1, 0.25)
    assert await take(project, "read", 4.0, 2) == (True, 0, 0.25)
    assert (await take(project, "read", 4.0, 2))[0] is False


@pytest_twisted.ensureDeferred
async def test_slow_rates_and_fractions(storage, project, clock):
    """A rate below one a second waits whole intervals; a rate that does not divide a second
    evenly still gives exactly ``rate`` tokens a second."""
    assert await storage.rates.take(project, "claim", 0.1, 1) == (True, 0, 10.0)
    clock.advance(9.999)
    assert await storage.rates.take(project, "claim", 0.1, 1) == (False, 0, 0.001)
    clock.advance(0.001)
    assert (await storage.rates.take(project, "claim", 0.1, 1))[0] is True
    taken = 0
    for _ in range(30):
        taken += (await storage.rates.take(project, "admin", 3.0, 3))[0]
    assert taken == 3
    clock.advance(1)
    for _ in range(4):
        taken += (await storage.rates.take(project, "admin", 3.0, 3))[0]
    assert taken == 6


@pytest_twisted.ensureDeferred
async def test_buckets_are_per_project_and_name(storage, project):
    """Emptying one bucket leaves another name, or another project's, full."""
    other = uuid.uuid4().hex
    assert (await storage.rates.take(project, "write", 1.0, 1))[0]
    assert not (await storage.rates.take(project, "write", 1.0, 1))[0]
    assert await storage.rates.take(project, "read", 1.0, 1) == (True, 0, 1.0)
    assert await storage.rates.take(other, "write", 1.0, 1) == (True, 0, 1.0)


@pytest_twisted.ensureDeferred
async def test_concurrent_takes_never_exceed_the_burst(storage, project):
    """Many takes at once on one bucket: exactly ``burst`` of them succeed."""
    results = await defer.gatherResults([
        storage.rates.take(project, "write", 0.001, 7) for _ in range(40)
    ])
    assert sum(taken for taken, _, _ in results) == 7
    assert sorted(left for taken, left, _ in results if taken) == list(range(7))


# Queues per project.


@pytest_twisted.ensureDeferred
async def test_queue_quota_on_create(storage, project):
    """Under ``max_queues`` a new queue is refused once the project has that many, creating
    nothing; an existing one is no new queue; a delete makes room."""
    create = storage.queues.create
    assert await create(project, "a", {}, max_queues=2)
    assert await create(project, "b", {}, max_queues=2)
    error = await refused(create(project, "c", {"x": 1}, max_queues=2))
    assert (error.status, error.quota, error.limit) == (429, "queues", 2)
    assert error.description == "Queue quota exceeded: a project may have at most 2 queues."
    assert not await storage.queues.exists(project, "c")
    assert await storage.queues.count(project) == 2
    assert [q["name"] for q in await storage.queues.list(project)] == ["a", "b"]
    assert await create(project, "a", {}, max_queues=2) is False
    await storage.queues.delete(project, "a")
    assert await create(project, "c", {}, max_queues=2)
    assert await create(project, "d", {}, max_queues=4)


@pytest_twisted.ensureDeferred
async def test_queue_quota_on_post_and_subscribe(storage, project):
    """A post or a subscription that would create a queue past ``max_queues`` is refused
    and stores nothing; to an existing queue they go as usual."""
    await storage.queues.create(project, "a", {})
    post = storage.messages.post
    error = await refused(post(project, "new", [message()], CLIENT, max_queues=1))
    assert error.quota == "queues"
    error = await refused(storage.subscriptions.create(project, "new", HOOK, 60, {},
                                                       max_queues=1))
    assert error.quota == "queues"
    assert not await storage.queues.exists(project, "new")
    assert await storage.messages.list(project, "new", echo=True) == []
    assert await storage.subscriptions.list(project, "new") == []
    ids, _ = await post(project, "a", [message()], CLIENT, max_queues=1)
    assert len(ids) == 1
    subscription, created = await storage.subscriptions.create(
        project, "a", HOOK, 60, {}, max_queues=1
    )
    assert created
    ids, subscribed = await post(project, "b", [message()], CLIENT, max_queues=2)
    assert len(ids) == 1 and not subscribed
    assert (await storage.subscriptions.create(project, "c", HOOK, 60, {}, max_queues=3))[1]
    assert await storage.queues.count(project) == 3


@pytest_twisted.ensureDeferred
async def test_concurrent_queue_creations_never_exceed_the_quota(storage, project):
    """Creates, posts and subscriptions making distinct queues at once: exactly
    ``max_queues`` queues come to exist."""
    calls = []
    for i in range(30):
        name = f"q{i}"
        if i % 3 == 0:
            calls.append(storage.queues.create(project, name, {}, max_queues=5))
        elif i % 3 == 1:
            calls.append(storage.messages.post(project, name, [message()], CLIENT,
                                               max_queues=5))
        else:
            calls.append(storage.subscriptions.create(project, name, HOOK, 60, {},
                                                      max_queues=5))
    results = await outcomes(calls)
    assert sum(not isinstance(r, QuotaExceeded) for r in results) == 5
    assert len(await storage.queues.list(project, limit=100)) == 5
    assert await storage.queues.count(project) == 5


# Messages per queue.


@pytest_twisted.ensureDeferred
async def test_message_quota(storage, project):
    """Under ``max_messages`` a post that would leave the queue holding more unexpired
    messages is refused whole; delayed and claimed ones count, expired ones do not."""
    post = storage.messages.post
    await post(project, "q", [message(ttl=60), message(delay=30)], CLIENT, max_messages=4)
    await storage.claims.create(project, "q", 60, 60, 1)
    error = await refused(post(project, "q", [message()] * 3, CLIENT, max_messages=4))
    assert (error.status, error.quota, error.limit) == (429, "messages", 4)
    assert error.description == "Message quota exceeded: a queue may hold at most 4 messages."
    assert (await storage.queues.stats(project, "q"))["total"] == 2
    ids, _ = await post(project, "q", [message(ttl=600)] * 2, CLIENT, max_messages=4)
    assert len(ids) == 2
    await refused(post(project, "q", [message()], CLIENT, max_messages=4))
    assert len(await storage.messages.list(project, "q", echo=True, include_claimed=True,
                                           include_delayed=True, limit=20)) == 4


@pytest_twisted.ensureDeferred
async def test_message_quota_counts_only_live_messages(storage, project, clock):
    """Once messages expire, or are deleted, they leave room."""
    post = storage.messages.post
    ids, _ = await post(project, "q", [message(ttl=60), message(ttl=120)], CLIENT,
                        max_messages=2)
    await refused(post(project, "q", [message()], CLIENT, max_messages=2))
    clock.advance(60)
    assert len((await post(project, "q", [message()], CLIENT, max_messages=2))[0]) == 1
    await storage.messages.delete(project, "q", ids[1])
    assert len((await post(project, "q", [message()], CLIENT, max_messages=2))[0]) == 1


@pytest_twisted.ensureDeferred
async def test_post_larger_than_the_message_quota(storage, project):
    """More messages than the quota in one post are refused even on a new queue, which is
    then not created (nor indexed, under a queue quota)."""
    post = storage.messages.post
    await refused(post(project, "q", [message()] * 3, CLIENT, max_messages=2))
    await refused(post(project, "r", [message()] * 3, CLIENT, max_messages=2, max_queues=5))
    assert not await storage.queues.exists(project, "q")
    assert await storage.queues.count(project) == 0
    ids, _ = await post(project, "r", [message()] * 2, CLIENT, max_messages=2, max_queues=5)
    assert len(ids) == 2


@pytest_twisted.ensureDeferred
async def test_concurrent_posts_never_exceed_the_message_quota(storage, project):
    """Many posts at once into one queue: the messages stored never pass the quota, and
    every post is either stored whole or refused."""
    calls = [
        storage.messages.post(project, "q", [message(body=i)] * (1 + i % 3), CLIENT,
                              max_messages=25)
        for i in range(40)
    ]
    results = await outcomes(calls)
    stored = sum(len(r[0]) for r in results if not isinstance(r, QuotaExceeded))
    assert 23 <= stored <= 25
    assert (await storage.queues.stats(project, "q"))["total"] == stored
    assert any(isinstance(r, QuotaExceeded) for r in results)


# Subscriptions per queue.


@pytest_twisted.ensureDeferred
async def test_subscription_quota(storage, project, clock):
    """Under ``max_subscriptions`` a new subscriber is refused once the queue has that many
    live ones; an existing subscriber is answered as usual; expired ones leave room."""
    create = storage.subscriptions.create
    first, _ = await create(project, "q", HOOK + "/1", 60, {}, max_subscriptions=2)
    await create(project, "q", HOOK + "/2", 120, {}, max_subscriptions=2)
    error = await refused(create(project, "q", HOOK + "/3", 60, {}, max_subscriptions=2))
    assert (error.status, error.quota, error.limit) == (429, "subscriptions", 2)
    assert error.description == (
        "Subscription quota exceeded: a queue may have at most 2 subscriptions."
    )
    assert len(await storage.subscriptions.list(project, "q")) == 2
    again, created = await create(project, "q", HOOK + "/1", 60, {}, max_subscriptions=2)
    assert (again, created) == (first, False)
    clock.advance(60)
    assert (await create(project, "q", HOOK + "/3", 60, {}, max_subscriptions=2))[1]
    await refused(create(project, "q", HOOK + "/4", 60, {}, max_subscriptions=2))
    await refused(create(project, "q", HOOK + "/4", 60, {}, max_subscriptions=1))


@pytest_twisted.ensureDeferred
async def test_concurrent_subscriptions_never_exceed_the_quota(storage, project):
    """Many new subscribers at once: exactly ``max_subscriptions`` are subscribed."""
    results = await outcomes([
        storage.subscriptions.create(project, "q", f"{HOOK}/{i}", 60, {}, max_subscriptions=3)
        for i in range(20)
    ])
    assert sum(not isinstance(r, QuotaExceeded) for r in results) == 3
    assert len(await storage.subscriptions.list(project, "q", limit=20)) == 3
