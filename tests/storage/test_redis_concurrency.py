"""Concurrent service processes on one queue: claims through two separate connections."""

import itertools

import pytest_twisted
from twisted.internet import defer

from zaqar_tw.storage.redis.store import RedisStorage

REDIS_URI = "redis://127.0.0.1:6379"


def _reactor():
    from twisted.internet import reactor

    return reactor


@pytest_twisted.ensureDeferred
async def test_concurrent_claimers_share_out_every_message_once(clock, project):
    """Many claims in flight on two connections never overlap and take every message once."""
    first = RedisStorage(_reactor(), REDIS_URI, clock=clock)
    second = RedisStorage(_reactor(), REDIS_URI, clock=clock)
    await defer.gatherResults([first.connect(), second.connect()])
    try:
        posted = []
        for _ in range(30):
            ids, _ = await first.messages.post(
                project, "q", [{"ttl": 600, "body": i} for i in range(10)], "c"
            )
            posted += ids
        stores = itertools.cycle([first, second])
        claims = await defer.gatherResults([
            next(stores).claims.create(project, "q", 60, 60, 7) for _ in range(60)
        ])
        taken = [m["id"] for claim_id, messages in claims for m in messages]
        assert len(taken) == len(set(taken)) == len(posted)
        assert set(taken) == set(posted)
        claim_ids = [claim_id for claim_id, messages in claims if messages]
        assert len(set(claim_ids)) == len(claim_ids)
        assert all(claim_id is None for claim_id, messages in claims if not messages)
        for claim_id, messages in claims:
            assert all(m["claim_id"] == claim_id for m in messages)
        stats = await second.queues.stats(project, "q")
        assert (stats["claimed"], stats["free"]) == (300, 0)
    finally:
        await first.close()
        await second.close()


@pytest_twisted.ensureDeferred
async def test_concurrent_pops_and_claims(clock, project):
    """Pops and claims racing on two connections hand out each message exactly once."""
    first = RedisStorage(_reactor(), REDIS_URI, clock=clock)
    second = RedisStorage(_reactor(), REDIS_URI, clock=clock)
    await defer.gatherResults([first.connect(), second.connect()])
    try:
        posted, _ = await first.messages.post(
            project, "q", [{"ttl": 600, "body": i} for i in range(200)], "c"
        )
        operations = []
        for i in range(50):
            store = (first, second)[i % 2]
            if i % 3:
                operations.append(store.claims.create(project, "q", 60, 60, 5)
                                  .addCallback(lambda result: result[1]))
            else:
                operations.append(store.messages.pop(project, "q", 5))
        results = await defer.gatherResults(operations)
        taken = [m["id"] for messages in results for m in messages]
        assert sorted(taken) == sorted(posted)
    finally:
        await first.close()
        await second.close()
