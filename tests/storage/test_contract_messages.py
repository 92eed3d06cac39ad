"""Storage contract: IMessageStore, run against every registered store."""

import re
import uuid

import pytest
import pytest_twisted
from zope.interface.verify import verifyObject

from zaqar_tw import errors
from zaqar_tw.interfaces import IMessageStore

CLIENT = "6f1a3c1e-1b3c-4f6a-9a7e-0b1c2d3e4f50"
OTHER_CLIENT = "0d9b2a6c-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
UUID4 = re.compile(r"\A[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\Z")
START = 1_700_000_000


def ids_of(messages):
    return [m["id"] for m in messages]


def test_provides_interface(storage):
    """The message controller provides IMessageStore."""
    assert verifyObject(IMessageStore, storage.messages)


# post / get


@pytest_twisted.ensureDeferred
async def test_post_returns_uuid4_ids_in_order(storage, project):
    """post returns one fresh dashed lowercase uuid4 per message, in input order."""
    bodies = ["first", {"second": [1, 2]}, 3]
    ids, _ = await storage.messages.post(
        project, "q", [{"ttl": 60, "body": b} for b in bodies], CLIENT
    )
    assert len(ids) == 3 and len(set(ids)) == 3
    assert all(UUID4.match(i) for i in ids)
    got = await storage.messages.bulk_get(project, "q", ids)
    assert [m["body"] for m in got] == bodies


@pytest_twisted.ensureDeferred
async def test_get_returns_message_dict(storage, project, post, clock):
    """A message carries id, ttl, age, body, claim_id, claim_count and created."""
    (message_id,) = await post("q", ttl=120, body={"event": "x", "n": [1, None, True]})
    clock.advance(7.5)
    message = await storage.messages.get(project, "q", message_id)
    assert message == {
        "id": message_id, "ttl": 120, "age": 7, "body": {"event": "x", "n": [1, None, True]},
        "claim_id": None, "claim_count": 0, "created": float(START),
    }


@pytest_twisted.ensureDeferred
async def test_bodies_round_trip(storage, project):
    """Any JSON value comes back as posted (strings with quotes, unicode, nesting, null)."""
    bodies = [None, "", "nul \x00 byte", "quote \" and \\ and </script>", "émoji 🎉", 0,
              -1.5, 2**53, [], {}, {"a": {"b": {"c": [1, "2", {"d": None}]}}}, True,
              "x" * 100_000]
    ids, _ = await storage.messages.post(
        project, "q", [{"ttl": 60, "body": b} for b in bodies], CLIENT
    )
    got = await storage.messages.bulk_get(project, "q", ids)
    assert [m["body"] for m in got] == bodies


@pytest_twisted.ensureDeferred
async def test_checksum_kept(storage, project, post):
    """A checksum given at post is returned; none is reported when none was given."""
    (with_sum,) = await post("q", checksum="MD5:0cc175b9c0f1b6a831c399e269772661")
    (without,) = await post("q")
    (odd,) = await post("q", checksum='"quoted"/é')
    assert (await storage.messages.get(project, "q", with_sum))["checksum"] == (
        "MD5:0cc175b9c0f1b6a831c399e269772661"
    )
    assert "checksum" not in await storage.messages.get(project, "q", without)
    assert (await storage.messages.get(project, "q", odd))["checksum"] == '"quoted"/é'
    listed = await storage.messages.list(project, "q", echo=True)
    assert [m.get("checksum") for m in listed] == [
        "MD5:0cc175b9c0f1b6a831c399e269772661", None, '"quoted"/é'
    ]


@pytest_twisted.ensureDeferred
async def test_get_unknown(storage, project, post):
    """Unknown and malformed ids, and missing queues, give None."""
    await post("q")
    assert await storage.messages.get(project, "q", str(uuid.uuid4())) is None
    assert await storage.messages.get(project, "q", "not-an-id") is None
    assert await storage.messages.get(project, "missing", str(uuid.uuid4())) is None


@pytest_twisted.ensureDeferred
async def test_ids_scoped_to_queue_and_project(storage, project, post):
    """A message id of queue A is unknown in queue B and in another project's queue A."""
    (message_id,) = await post("a")
    await post("b")
    other = uuid.uuid4().hex
    await storage.messages.post(other, "a", [{"ttl": 60, "body": 1}], CLIENT)
    assert await storage.messages.get(project, "b", message_id) is None
    assert await storage.messages.get(other, "a", message_id) is None
    assert await storage.messages.bulk_get(project, "b", [message_id]) == []
    await storage.messages.delete(project, "b", message_id)
    await storage.messages.bulk_delete(other, "a", [message_id])
    assert (await storage.messages.pop(other, "a", 5))[0]["id"] != message_id
    assert await storage.messages.get(project, "a", message_id) is not None


@pytest_twisted.ensureDeferred
async def test_bulk_get_order_and_unknown(storage, project, post):
    """bulk_get returns existing messages in the order asked, skipping unknown ids."""
    ids = await post("q", 3)
    unknown = str(uuid.uuid4())
    got = await storage.messages.bulk_get(project, "q", [ids[2], unknown, ids[0]])
    assert ids_of(got) == [ids[2], ids[0]]
    assert await storage.messages.bulk_get(project, "q", []) == []


# expiry and delay


@pytest_twisted.ensureDeferred
async def test_message_expires_at_ttl(storage, project, post, clock):
    """A message is visible until created + ttl, then invisible everywhere."""
    (message_id,) = await post("q", ttl=60)
    clock.advance(59.999)
    assert (await storage.messages.get(project, "q", message_id))["age"] == 59
    clock.advance(0.001)
    assert await storage.messages.get(project, "q", message_id) is None
    assert await storage.messages.bulk_get(project, "q", [message_id]) == []
    assert await storage.messages.list(project, "q", echo=True, include_claimed=True,
                                       include_delayed=True) == []
    assert await storage.claims.create(project, "q", 60, 60, 10) == (None, [])
    assert await storage.messages.pop(project, "q", 10) == []
    assert (await storage.queues.stats(project, "q"))["total"] == 0


@pytest_twisted.ensureDeferred
async def test_far_future(storage, project, post, clock):
    """Advancing the clock by a year expires everything; new posts still work."""
    await post("q", 3, ttl=1209600)
    clock.advance(366 * 86400)
    assert await storage.messages.list(project, "q", echo=True) == []
    new = await post("q", 1)
    assert ids_of(await storage.messages.list(project, "q", echo=True)) == new


@pytest_twisted.ensureDeferred
async def test_delayed_messages(storage, project, post, clock):
    """A delayed message is hidden from default listings and claims until its delay ends."""
    (now_id,) = await post("q")
    (later_id,) = await post("q", delay=30)
    listed = await storage.messages.list(project, "q", echo=True)
    assert ids_of(listed) == [now_id]
    listed = await storage.messages.list(project, "q", echo=True, include_delayed=True)
    assert ids_of(listed) == [now_id, later_id]
    assert (await storage.messages.get(project, "q", later_id))["id"] == later_id
    claim_id, claimed = await storage.claims.create(project, "q", 60, 60, 10)
    assert ids_of(claimed) == [now_id]
    assert await storage.messages.pop(project, "q", 10) == []
    clock.advance(30)
    assert ids_of(await storage.messages.list(project, "q", echo=True)) == [later_id]
    assert ids_of(await storage.messages.pop(project, "q", 10)) == [later_id]


# list


@pytest_twisted.ensureDeferred
async def test_list_fifo(storage, project, post):
    """Listing returns messages in enqueue order across posts."""
    ids = []
    for _ in range(5):
        ids += await post("q", 3)
    assert ids_of(await storage.messages.list(project, "q", echo=True, limit=20)) == ids


@pytest_twisted.ensureDeferred
async def test_list_pages_with_marker(storage, project, post):
    """Each page starts right after the marker, the id of the previous page's last message."""
    ids = await post("q", 10)
    seen = []
    marker = None
    for _ in range(10):
        page = await storage.messages.list(project, "q", marker=marker, limit=3, echo=True)
        if not page:
            break
        assert len(page) <= 3
        seen += ids_of(page)
        marker = page[-1]["id"]
    assert seen == ids


@pytest_twisted.ensureDeferred
async def test_list_marker_of_claimed_message(storage, project, post):
    """A marker that is now claimed still positions the page after it."""
    ids = await post("q", 6)
    first = await storage.messages.list(project, "q", limit=3, echo=True)
    # Claim everything of the first page, then continue after its last id.
    await storage.claims.create(project, "q", 60, 60, 3)
    page = await storage.messages.list(project, "q", marker=first[-1]["id"], echo=True)
    assert ids_of(page) == ids[3:]


@pytest_twisted.ensureDeferred
async def test_list_unknown_marker_starts_at_head(storage, project, post):
    """An unknown marker (or one from another queue) lists from the head."""
    ids = await post("q", 3)
    (foreign,) = await post("other")
    for marker in (str(uuid.uuid4()), foreign, "junk"):
        page = await storage.messages.list(project, "q", marker=marker, echo=True)
        assert ids_of(page) == ids


@pytest_twisted.ensureDeferred
async def test_list_echo(storage, project, post):
    """Without echo the caller's own messages are hidden; with echo they are shown."""
    mine = await post("q", 2, client=CLIENT)
    theirs = await post("q", 2, client=OTHER_CLIENT)
    both = await post("q", 1, client=CLIENT)
    page = await storage.messages.list(project, "q", client_id=CLIENT)
    assert ids_of(page) == theirs
    page = await storage.messages.list(project, "q", client_id=CLIENT, echo=True)
    assert ids_of(page) == mine + theirs + both
    page = await storage.messages.list(project, "q", client_id=OTHER_CLIENT)
    assert ids_of(page) == mine + both


async def list_through(storage, project, queue, limit, **options):
    """Every page of a listing, following each page's cursor (when the store ended it early)
    or its last item: ``[page, ...]`` up to the first empty page without a cursor."""
    pages, marker = [], None
    while True:
        page = await storage.messages.list(project, queue, marker=marker, limit=limit,
                                           **options)
        pages.append(page)
        cursor = getattr(page, "cursor", None)
        if cursor is None and not page:
            return pages
        marker = cursor if cursor is not None else page[-1]["id"]
        assert len(pages) < 1000, "the listing does not end"


@pytest_twisted.ensureDeferred
async def test_list_skips_many_own_messages(storage, project, post):
    """Past a long run of hidden messages, the listing reaches the others: in one page, or
    (a store that bounds each call) through pages whose cursor moves past the run."""
    await post("q", 250, client=CLIENT, ttl=60)
    theirs = await post("q", 3, client=OTHER_CLIENT)
    pages = await list_through(storage, project, "q", 2, client_id=CLIENT)
    assert [message for page in pages for message in ids_of(page)] == theirs
    assert all(len(page) <= 2 for page in pages)


@pytest_twisted.ensureDeferred
async def test_list_include_claimed(storage, project, post):
    """Claimed messages are hidden unless include_claimed; then they carry the claim id."""
    ids = await post("q", 4)
    claim_id, _ = await storage.claims.create(project, "q", 60, 60, 2)
    page = await storage.messages.list(project, "q", echo=True)
    assert ids_of(page) == ids[2:]
    assert all(m["claim_id"] is None for m in page)
    page = await storage.messages.list(project, "q", echo=True, include_claimed=True)
    assert ids_of(page) == ids
    assert [m["claim_id"] for m in page] == [claim_id, claim_id, None, None]
    assert [m["claim_count"] for m in page] == [1, 1, 0, 0]


@pytest_twisted.ensureDeferred
async def test_list_limit(storage, project, post):
    """limit bounds the page."""
    ids = await post("q", 5)
    assert ids_of(await storage.messages.list(project, "q", echo=True, limit=2)) == ids[:2]
    assert ids_of(await storage.messages.list(project, "q", echo=True, limit=1)) == ids[:1]


@pytest_twisted.ensureDeferred
async def test_list_missing_queue(storage, project):
    """Listing a missing queue gives an empty list."""
    assert await storage.messages.list(project, "nope", echo=True) == []


# delete


@pytest_twisted.ensureDeferred
async def test_delete_unclaimed(storage, project, post):
    """An unclaimed message is deleted without a claim id; deleting again is no error."""
    ids = await post("q", 2)
    await storage.messages.delete(project, "q", ids[0])
    assert await storage.messages.get(project, "q", ids[0]) is None
    assert ids_of(await storage.messages.list(project, "q", echo=True)) == ids[1:]
    assert await storage.messages.delete(project, "q", ids[0]) is None
    assert await storage.messages.delete(project, "missing", ids[0]) is None


@pytest_twisted.ensureDeferred
async def test_delete_claimed_needs_its_claim(storage, project, post):
    """A claimed message is deleted only with its own live claim id."""
    await post("q", 2)
    claim_a, (message, other_message) = await storage.claims.create(project, "q", 60, 60, 2)
    with pytest.raises(errors.MessageIsClaimed):
        await storage.messages.delete(project, "q", message["id"])
    for bad in (str(uuid.uuid4()), "not-a-uuid", "", "A" * 36):
        with pytest.raises(errors.ClaimNotValid):
            await storage.messages.delete(project, "q", message["id"], claim_id=bad)
    await post("q", 1)
    claim_b, _ = await storage.claims.create(project, "q", 60, 60, 1)
    with pytest.raises(errors.MessageIsClaimed):
        await storage.messages.delete(project, "q", message["id"], claim_id=claim_b)
    assert await storage.messages.get(project, "q", message["id"]) is not None
    await storage.messages.delete(project, "q", message["id"], claim_id=claim_a)
    assert await storage.messages.get(project, "q", message["id"]) is None
    # The message left its claim; the claim holds the rest.
    _, held = await storage.claims.get(project, "q", claim_a)
    assert ids_of(held) == [other_message["id"]]


@pytest_twisted.ensureDeferred
async def test_delete_with_expired_other_claim(storage, project, post, clock):
    """A claimed message deleted with the id of another, expired claim: ClaimNotValid."""
    await post("q", 2)
    expired_claim, _ = await storage.claims.create(project, "q", 60, 60, 1)
    live_claim, (message,) = await storage.claims.create(project, "q", 300, 60, 1)
    clock.advance(60)
    with pytest.raises(errors.ClaimNotValid):
        await storage.messages.delete(project, "q", message["id"], claim_id=expired_claim)
    await storage.messages.delete(project, "q", message["id"], claim_id=live_claim)


@pytest_twisted.ensureDeferred
async def test_delete_with_claim_of_unclaimed_message(storage, project, post, clock):
    """A claim id given for a message that is not claimed (any more) is MessageNotClaimed."""
    (message_id,) = await post("q")
    with pytest.raises(errors.MessageNotClaimed):
        await storage.messages.delete(project, "q", message_id, claim_id=str(uuid.uuid4()))
    claim_id, _ = await storage.claims.create(project, "q", 60, 60, 1)
    clock.advance(60)
    with pytest.raises(errors.MessageNotClaimed):
        await storage.messages.delete(project, "q", message_id, claim_id=claim_id)
    assert await storage.messages.get(project, "q", message_id) is not None


@pytest_twisted.ensureDeferred
async def test_delete_after_release(storage, project, post):
    """After the claim is released the message is deleted without a claim id."""
    (message_id,) = await post("q")
    claim_id, _ = await storage.claims.create(project, "q", 60, 60, 1)
    await storage.claims.delete(project, "q", claim_id)
    with pytest.raises(errors.MessageNotClaimed):
        await storage.messages.delete(project, "q", message_id, claim_id=claim_id)
    await storage.messages.delete(project, "q", message_id)
    assert await storage.messages.get(project, "q", message_id) is None


# bulk delete


@pytest_twisted.ensureDeferred
async def test_bulk_delete_ignores_claims(storage, project, post):
    """Without claim ids, bulk delete removes the listed messages, claimed or not."""
    ids = await post("q", 4)
    claim_id, _ = await storage.claims.create(project, "q", 60, 60, 2)
    await storage.messages.bulk_delete(project, "q", [ids[0], ids[2], str(uuid.uuid4())])
    assert ids_of(await storage.messages.list(
        project, "q", echo=True, include_claimed=True)) == [ids[1], ids[3]]
    _, held = await storage.claims.get(project, "q", claim_id)
    assert ids_of(held) == [ids[1]]
    assert (await storage.queues.stats(project, "q"))["claimed"] == 1


@pytest_twisted.ensureDeferred
async def test_bulk_delete_with_claim_ids(storage, project, post):
    """With claim ids, bulk delete is all-or-nothing on claims not among them."""
    ids = await post("q", 5)
    claim_a, _ = await storage.claims.create(project, "q", 60, 60, 2)
    claim_b, _ = await storage.claims.create(project, "q", 60, 60, 2)
    with pytest.raises(errors.MessageIsClaimed):
        await storage.messages.bulk_delete(project, "q", [ids[4], ids[0], ids[2]],
                                           claim_ids=[claim_a])
    with pytest.raises(errors.MessageIsClaimed):
        await storage.messages.bulk_delete(project, "q", [ids[0]], claim_ids=[])
    assert len(await storage.messages.bulk_get(project, "q", ids)) == 5
    await storage.messages.bulk_delete(project, "q", [ids[4], ids[0], ids[2]],
                                       claim_ids=[claim_a, claim_b, "junk"])
    assert ids_of(await storage.messages.bulk_get(project, "q", ids)) == [ids[1], ids[3]]


@pytest_twisted.ensureDeferred
async def test_bulk_delete_expired_claim(storage, project, post, clock):
    """A message whose claim expired is deleted whatever claim ids are given."""
    ids = await post("q", 2)
    await storage.claims.create(project, "q", 60, 60, 2)
    clock.advance(60)
    await storage.messages.bulk_delete(project, "q", ids, claim_ids=[str(uuid.uuid4())])
    assert await storage.messages.bulk_get(project, "q", ids) == []


@pytest_twisted.ensureDeferred
async def test_bulk_delete_empty(storage, project):
    """Bulk deleting nothing, or unknown ids, is no error."""
    await storage.messages.bulk_delete(project, "q", [])
    await storage.messages.bulk_delete(project, "q", [str(uuid.uuid4())], claim_ids=[])


# pop


@pytest_twisted.ensureDeferred
async def test_pop(storage, project, post):
    """pop removes the oldest claimable messages, each with one fresh claim id."""
    ids = await post("q", 5)
    claim_id, _ = await storage.claims.create(project, "q", 60, 60, 1)
    popped = await storage.messages.pop(project, "q", 3)
    assert ids_of(popped) == ids[1:4]
    claim_ids = {m["claim_id"] for m in popped}
    assert len(claim_ids) == 1
    (popped_claim,) = claim_ids
    assert UUID4.match(popped_claim) and popped_claim != claim_id
    assert [m["claim_count"] for m in popped] == [1, 1, 1]
    assert [m["body"] for m in popped] == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert await storage.messages.bulk_get(project, "q", ids[1:4]) == []
    assert await storage.claims.get(project, "q", popped_claim) is None
    remaining = await storage.messages.list(project, "q", echo=True, include_claimed=True)
    assert ids_of(remaining) == [ids[0], ids[4]]
    assert ids_of(await storage.messages.pop(project, "q", 10)) == [ids[4]]
    assert await storage.messages.pop(project, "q", 10) == []
    assert await storage.messages.pop(project, "missing", 10) == []


@pytest_twisted.ensureDeferred
async def test_pop_counts_previous_claims(storage, project, post, clock):
    """A popped message that had been claimed before reports the claims plus the pop."""
    (message_id,) = await post("q")
    await storage.claims.create(project, "q", 60, 60, 1)
    clock.advance(60)
    (popped,) = await storage.messages.pop(project, "q", 1)
    assert popped["id"] == message_id and popped["claim_count"] == 2
