"""The Redis store's scripts cost O(log n + k) for a page of k, whatever the queue holds
(issue 13, finding 8): delayed messages are kept out of the claimable set until their time,
and a listing whose filters pass over many messages stops at its bound with a cursor."""

import pytest_twisted

from zaqar_tw.storage.redis.keys import queue_keys

from test_redis_layout import inspector, storage  # noqa: F401 (the Redis-only store)

FREE, DELAY = 2, 8  # indexes in queue_keys()
SCAN = 200  # common.lua: messages a scan looks at beyond the page's size
PROMOTE = 100  # common.lua: delayed messages made claimable per call


@pytest_twisted.ensureDeferred
async def test_delayed_messages_wait_outside_the_claimable_set(storage, project, post, clock):
    """A claim on a queue of many delayed messages reads none of them: they are not in the
    claimable set, the one ready message is claimed; once due, they are made claimable at
    most PROMOTE per call, and all of them in the end."""
    delayed = await post("q", 1000, delay=60)
    (ready,) = await post("q", 1)
    inspect = await inspector()
    try:
        keys = queue_keys(project, "q")
        assert await inspect.execute("ZCARD", keys[FREE]) == 1
        assert await inspect.execute("ZCARD", keys[DELAY]) == 1000
        _, claimed = await storage.claims.create(project, "q", 300, 60, 10)
        assert [m["id"] for m in claimed] == [ready]
        clock.advance(61)
        _, first = await storage.claims.create(project, "q", 300, 60, 1)
        assert await inspect.execute("ZCARD", keys[DELAY]) == 1000 - PROMOTE
        taken = [m["id"] for m in first]
        for _ in range(200):
            _, page = await storage.claims.create(project, "q", 300, 60, 10)
            if not page:
                break
            taken += [m["id"] for m in page]
        assert sorted(taken) == sorted(delayed)
        assert await inspect.execute("ZCARD", keys[DELAY]) == 0
    finally:
        await inspect.close()


@pytest_twisted.ensureDeferred
async def test_a_listing_stops_at_its_bound_with_a_cursor(storage, project, post):
    """A producer listing (echo off) a queue full of its own messages looks at no more than
    the page's size plus SCAN of them: an empty page whose cursor is the last one looked
    at; following the cursors reaches the other client's messages."""
    own = await post("q", 1000, client="producer")
    others = await post("q", 2, client="consumer")
    page = await storage.messages.list(project, "q", limit=10, client_id="producer")
    assert list(page) == []
    assert page.cursor == own[10 + SCAN - 1]
    seen, marker = [], page.cursor
    for _ in range(10):
        page = await storage.messages.list(project, "q", limit=10, client_id="producer",
                                           marker=marker)
        seen += [m["id"] for m in page]
        if page.cursor is None:
            break
        marker = page.cursor
    assert seen == others and page.cursor is None
    full = await storage.messages.list(project, "q", limit=10, client_id="consumer")
    assert [m["id"] for m in full] == own[:10] and full.cursor is None


@pytest_twisted.ensureDeferred
async def test_a_cursor_past_expired_messages_still_moves_on(storage, project, post, clock):
    """When every message a bounded listing looked at had expired (and was dropped), the
    cursor is where the page started, and the next pages reach the live messages."""
    await post("q", 600, ttl=60, client="producer")
    live = await post("q", 2, ttl=3600, client="producer")
    clock.advance(61)
    seen, marker = [], None
    for _ in range(20):
        page = await storage.messages.list(project, "q", limit=5, client_id="consumer",
                                           marker=marker)
        seen += [m["id"] for m in page]
        if page.cursor is None and (not page or seen[-1] == live[-1]):
            break
        marker = page.cursor if page.cursor is not None else page[-1]["id"]
    assert seen == live
