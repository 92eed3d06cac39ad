"""Storage contract: IClaimStore, run against every registered store."""

import uuid

import pytest_twisted
from zope.interface.verify import verifyObject

from zaqar_tw.interfaces import IClaimStore


def ids_of(messages):
    return [m["id"] for m in messages]


def test_provides_interface(storage):
    """The claim controller provides IClaimStore."""
    assert verifyObject(IClaimStore, storage.claims)


@pytest_twisted.ensureDeferred
async def test_create_takes_oldest_first(storage, project, post):
    """A claim takes up to limit of the oldest claimable messages, in order."""
    ids = await post("q", 5)
    claim_a, got_a = await storage.claims.create(project, "q", 60, 30, 2)
    claim_b, got_b = await storage.claims.create(project, "q", 60, 30, 2)
    claim_c, got_c = await storage.claims.create(project, "q", 60, 30, 2)
    assert (ids_of(got_a), ids_of(got_b), ids_of(got_c)) == (ids[:2], ids[2:4], ids[4:])
    assert len({claim_a, claim_b, claim_c}) == 3
    assert all(m["claim_id"] == claim_a and m["claim_count"] == 1 for m in got_a)
    assert [m["body"] for m in got_a] == [{"n": 0}, {"n": 1}]


@pytest_twisted.ensureDeferred
async def test_nothing_claimable(storage, project, post):
    """A claim that finds nothing returns (None, []) and stores no claim."""
    assert await storage.claims.create(project, "missing", 60, 60, 10) == (None, [])
    assert not await storage.queues.exists(project, "missing")
    await post("q", 1)
    await post("q", 1, delay=60)
    await storage.claims.create(project, "q", 60, 60, 10)
    assert await storage.claims.create(project, "q", 60, 60, 10) == (None, [])
    stats = await storage.queues.stats(project, "q")
    assert (stats["claimed"], stats["total"]) == (1, 2)


@pytest_twisted.ensureDeferred
async def test_get(storage, project, post, clock):
    """get returns the claim's id, ttl and age with its messages."""
    ids = await post("q", 3)
    claim_id, _ = await storage.claims.create(project, "q", 100, 60, 2)
    clock.advance(12.7)
    claim, messages = await storage.claims.get(project, "q", claim_id)
    assert claim == {"id": claim_id, "ttl": 100, "age": 12}
    assert ids_of(messages) == ids[:2]
    assert all(m["claim_id"] == claim_id for m in messages)
    assert [m["age"] for m in messages] == [12, 12]


@pytest_twisted.ensureDeferred
async def test_get_unknown_or_expired(storage, project, post, clock):
    """get of an unknown, malformed, foreign or expired claim is None."""
    await post("q", 1)
    claim_id, _ = await storage.claims.create(project, "q", 60, 60, 1)
    for unknown in (str(uuid.uuid4()), "junk", "", claim_id.upper()):
        assert await storage.claims.get(project, "q", unknown) is None
    assert await storage.claims.get(project, "other", claim_id) is None
    assert await storage.claims.get(uuid.uuid4().hex, "q", claim_id) is None
    clock.advance(59)
    assert await storage.claims.get(project, "q", claim_id) is not None
    clock.advance(1)
    assert await storage.claims.get(project, "q", claim_id) is None


@pytest_twisted.ensureDeferred
async def test_claimed_messages_are_hidden_from_other_claims(storage, project, post):
    """Messages held by a live claim are not claimed again or popped."""
    ids = await post("q", 2)
    await storage.claims.create(project, "q", 60, 60, 1)
    _, got = await storage.claims.create(project, "q", 60, 60, 10)
    assert ids_of(got) == ids[1:]
    assert await storage.messages.pop(project, "q", 10) == []


@pytest_twisted.ensureDeferred
async def test_expired_claim_frees_messages(storage, project, post, clock):
    """When a claim expires its messages are claimable again and show no claim id."""
    ids = await post("q", 2)
    claim_a, _ = await storage.claims.create(project, "q", 60, 60, 2)
    clock.advance(60)
    (message,) = await storage.messages.bulk_get(project, "q", ids[:1])
    assert message["claim_id"] is None and message["claim_count"] == 1
    assert ids_of(await storage.messages.list(project, "q", echo=True)) == ids
    claim_b, got = await storage.claims.create(project, "q", 60, 60, 5)
    assert ids_of(got) == ids
    assert [m["claim_count"] for m in got] == [2, 2]
    assert claim_b != claim_a


@pytest_twisted.ensureDeferred
async def test_reclaim_right_after_expiry(storage, project, post, clock):
    """Messages of an expired claim go to the next claim or pop, oldest first."""
    ids = await post("q", 3)
    await storage.claims.create(project, "q", 60, 60, 2)
    clock.advance(60)
    _, got = await storage.claims.create(project, "q", 60, 60, 2)
    assert ids_of(got) == ids[:2]
    clock.advance(60)
    assert ids_of(await storage.messages.pop(project, "q", 5)) == ids


@pytest_twisted.ensureDeferred
async def test_grace_extends_short_lived_messages(storage, project, post, clock):
    """A message that would die before its claim lives until claim expiry + grace."""
    (short,) = await post("q", ttl=120)
    (long,) = await post("q", ttl=1000)
    claim_id, got = await storage.claims.create(project, "q", 300, 60, 2)
    assert [m["ttl"] for m in got] == [360, 1000]
    assert (await storage.messages.get(project, "q", short))["ttl"] == 360
    clock.advance(300)  # the claim expired; the short message has 60 s of grace left
    message = await storage.messages.get(project, "q", short)
    assert message is not None and message["claim_id"] is None
    clock.advance(59)
    assert await storage.messages.get(project, "q", short) is not None
    clock.advance(1)
    assert await storage.messages.get(project, "q", short) is None
    assert (await storage.messages.get(project, "q", long))["ttl"] == 1000


@pytest_twisted.ensureDeferred
async def test_update_renews(storage, project, post, clock):
    """update moves the expiry to now + ttl and reapplies grace; age restarts."""
    (message_id,) = await post("q", ttl=100)
    claim_id, got = await storage.claims.create(project, "q", 60, 10, 1)
    assert got[0]["ttl"] == 100
    clock.advance(50)
    assert await storage.claims.update(project, "q", claim_id, 200, 30)
    claim, messages = await storage.claims.get(project, "q", claim_id)
    assert claim == {"id": claim_id, "ttl": 200, "age": 0}
    assert ids_of(messages) == [message_id]
    assert messages[0]["ttl"] == 230
    clock.advance(199)
    assert (await storage.claims.get(project, "q", claim_id))[0]["age"] == 199
    assert await storage.messages.pop(project, "q", 1) == []
    clock.advance(1)
    assert await storage.claims.get(project, "q", claim_id) is None
    assert ids_of(await storage.messages.list(project, "q", echo=True)) == [message_id]
    clock.advance(30)
    assert await storage.messages.get(project, "q", message_id) is None


@pytest_twisted.ensureDeferred
async def test_update_shorter_keeps_lifetime(storage, project, post, clock):
    """Renewing for less never shortens a message's lifetime."""
    (message_id,) = await post("q", ttl=60)
    claim_id, got = await storage.claims.create(project, "q", 300, 100, 1)
    assert got[0]["ttl"] == 400
    assert await storage.claims.update(project, "q", claim_id, 60, 0)
    assert (await storage.messages.get(project, "q", message_id))["ttl"] == 400
    clock.advance(399)
    assert await storage.messages.get(project, "q", message_id) is not None


@pytest_twisted.ensureDeferred
async def test_update_unknown_or_expired(storage, project, post, clock):
    """update of an unknown, malformed or expired claim is False and changes nothing."""
    await post("q", 1)
    assert not await storage.claims.update(project, "q", str(uuid.uuid4()), 60, 60)
    assert not await storage.claims.update(project, "q", "junk", 60, 60)
    claim_id, _ = await storage.claims.create(project, "q", 60, 60, 1)
    assert not await storage.claims.update(project, "other", claim_id, 60, 60)
    clock.advance(60)
    assert not await storage.claims.update(project, "q", claim_id, 60, 60)
    assert await storage.claims.get(project, "q", claim_id) is None


@pytest_twisted.ensureDeferred
async def test_delete_releases(storage, project, post):
    """Deleting a claim makes its messages claimable again at once."""
    ids = await post("q", 3)
    claim_id, _ = await storage.claims.create(project, "q", 60, 60, 2)
    await storage.claims.delete(project, "q", claim_id)
    assert await storage.claims.get(project, "q", claim_id) is None
    assert not await storage.claims.update(project, "q", claim_id, 60, 60)
    listed = await storage.messages.list(project, "q", echo=True)
    assert ids_of(listed) == ids and all(m["claim_id"] is None for m in listed)
    _, got = await storage.claims.create(project, "q", 60, 60, 10)
    assert ids_of(got) == ids
    assert [m["claim_count"] for m in got] == [2, 2, 1]


@pytest_twisted.ensureDeferred
async def test_delete_unknown_is_noop(storage, project, post, clock):
    """Deleting an unknown, malformed, foreign or expired claim is no error."""
    await post("q", 1)
    claim_id, _ = await storage.claims.create(project, "q", 60, 60, 1)
    assert await storage.claims.delete(project, "q", str(uuid.uuid4())) is None
    assert await storage.claims.delete(project, "q", "junk") is None
    assert await storage.claims.delete(project, "other", claim_id) is None
    assert await storage.claims.get(project, "q", claim_id) is not None
    clock.advance(61)
    assert await storage.claims.delete(project, "q", claim_id) is None
    assert await storage.claims.delete(project, "missing", claim_id) is None


@pytest_twisted.ensureDeferred
async def test_claim_of_deleted_messages(storage, project, post):
    """A claim whose messages were all deleted lives on, holding nothing."""
    await post("q", 2)
    claim_id, got = await storage.claims.create(project, "q", 60, 60, 2)
    await storage.messages.bulk_delete(project, "q", ids_of(got))
    claim, messages = await storage.claims.get(project, "q", claim_id)
    assert claim["id"] == claim_id and messages == []
    assert await storage.claims.update(project, "q", claim_id, 60, 60)
    stats = await storage.queues.stats(project, "q")
    assert (stats["total"], stats["claimed"], stats["free"]) == (0, 0, 0)


@pytest_twisted.ensureDeferred
async def test_claim_skips_delayed_between_ready(storage, project, post, clock):
    """A delayed message between ready ones is skipped, then claimable once due."""
    (a,) = await post("q")
    (b,) = await post("q", delay=10)
    (c,) = await post("q")
    _, got = await storage.claims.create(project, "q", 60, 60, 10)
    assert ids_of(got) == [a, c]
    clock.advance(10)
    _, got = await storage.claims.create(project, "q", 60, 60, 10)
    assert ids_of(got) == [b]


@pytest_twisted.ensureDeferred
async def test_claim_scans_past_many_claimed(storage, project, post):
    """A claim finds free messages behind a long run of claimed ones."""
    await post("q", 230)
    for _ in range(23):
        await storage.claims.create(project, "q", 60, 60, 10)
    tail = await post("q", 2)
    _, got = await storage.claims.create(project, "q", 60, 60, 10)
    assert ids_of(got) == tail
