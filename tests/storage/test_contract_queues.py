"""Storage contract: IQueueStore, run against every registered store."""

import uuid

import pytest
import pytest_twisted
from zope.interface.verify import verifyObject

from zaqar_tw.interfaces import IQueueStore


def test_provides_interface(storage):
    """The queue controller provides IQueueStore."""
    assert verifyObject(IQueueStore, storage.queues)


@pytest_twisted.ensureDeferred
async def test_create_then_exists(storage, project):
    """A created queue exists and keeps its metadata; a second create changes nothing."""
    assert not await storage.queues.exists(project, "q")
    assert await storage.queues.create(project, "q", {"a": 1, "_default_message_ttl": 60})
    assert await storage.queues.exists(project, "q")
    assert not await storage.queues.create(project, "q", {"b": 2})
    assert await storage.queues.get_metadata(project, "q") == {
        "a": 1, "_default_message_ttl": 60,
    }


@pytest_twisted.ensureDeferred
async def test_metadata_of_missing_queue(storage, project):
    """A missing queue has no metadata and set_metadata does not create it."""
    assert await storage.queues.get_metadata(project, "nope") is None
    assert not await storage.queues.set_metadata(project, "nope", {"a": 1})
    assert not await storage.queues.exists(project, "nope")


@pytest_twisted.ensureDeferred
async def test_set_metadata_replaces(storage, project):
    """set_metadata replaces the whole metadata dict."""
    await storage.queues.create(project, "q", {"a": 1, "nested": {"x": [1, 2]}})
    assert await storage.queues.set_metadata(project, "q", {"b": "é"})
    assert await storage.queues.get_metadata(project, "q") == {"b": "é"}


@pytest_twisted.ensureDeferred
async def test_queues_are_per_project(storage, project):
    """The same name in two projects is two queues."""
    other = uuid.uuid4().hex
    await storage.queues.create(project, "q", {"mine": True})
    assert not await storage.queues.exists(other, "q")
    assert await storage.queues.create(other, "q", {"mine": False})
    assert await storage.queues.get_metadata(project, "q") == {"mine": True}
    assert [q["name"] for q in await storage.queues.list(other)] == ["q"]


@pytest_twisted.ensureDeferred
async def test_project_ids_with_separators_do_not_collide(storage):
    """Project ids are arbitrary strings: braces, slashes and escapes never mix projects."""
    base = uuid.uuid4().hex
    projects = [base + s for s in ("", "/a", "%2Fa", "{x}", "%7Bx%7D", "/", "%", " é")]
    for i, p in enumerate(projects):
        await storage.queues.create(p, "a", {"i": i})
    for i, p in enumerate(projects):
        assert await storage.queues.get_metadata(p, "a") == {"i": i}
        assert await storage.queues.list(p, detailed=True) == [
            {"name": "a", "metadata": {"i": i}}
        ]
        assert await storage.queues.count(p) == 1


@pytest_twisted.ensureDeferred
async def test_long_project_id(storage):
    """A 256-character project id works."""
    p = ("x{/}%" * 60 + uuid.uuid4().hex)[:256]
    await storage.queues.create(p, "q", {})
    assert await storage.queues.exists(p, "q")
    assert await storage.queues.count(p) == 1


@pytest_twisted.ensureDeferred
async def test_list_sorted_with_dotted_names(storage, project):
    """Listing sorts by name, and dotted names list as themselves."""
    names = ["b", "a.b.c", "a", "a.b", "a-b", "a_b", "Z", "0.9", "a" * 64]
    for name in names:
        await storage.queues.create(project, name, {"name": name})
    listed = await storage.queues.list(project, limit=20)
    assert [q["name"] for q in listed] == sorted(names)
    assert all(set(q) == {"name"} for q in listed)


@pytest_twisted.ensureDeferred
async def test_list_pages_with_marker(storage, project):
    """marker lists names strictly after it; limit bounds the page."""
    names = sorted(f"q{i:02d}" for i in range(7))
    for name in names:
        await storage.queues.create(project, name, {})
    page1 = await storage.queues.list(project, limit=3)
    assert [q["name"] for q in page1] == names[:3]
    page2 = await storage.queues.list(project, marker=page1[-1]["name"], limit=3)
    assert [q["name"] for q in page2] == names[3:6]
    page3 = await storage.queues.list(project, marker=page2[-1]["name"], limit=3)
    assert [q["name"] for q in page3] == names[6:]
    assert await storage.queues.list(project, marker=names[-1]) == []
    between = await storage.queues.list(project, marker="q025", limit=2)
    assert [q["name"] for q in between] == ["q03", "q04"]


@pytest_twisted.ensureDeferred
async def test_list_detailed(storage, project):
    """detailed listing carries each queue's metadata."""
    await storage.queues.create(project, "a", {"x": 1})
    await storage.queues.create(project, "b", {})
    assert await storage.queues.list(project, detailed=True) == [
        {"name": "a", "metadata": {"x": 1}},
        {"name": "b", "metadata": {}},
    ]


@pytest_twisted.ensureDeferred
async def test_empty_project(storage, project):
    """A project without queues lists nothing and counts zero."""
    assert await storage.queues.list(project) == []
    assert await storage.queues.count(project) == 0


@pytest_twisted.ensureDeferred
async def test_count(storage, project, post):
    """count counts the project's queues, including those created by posting."""
    await storage.queues.create(project, "a", {})
    await storage.queues.create(project, "a", {})
    await post("b")
    assert await storage.queues.count(project) == 2
    await storage.queues.delete(project, "a")
    assert await storage.queues.count(project) == 1


@pytest_twisted.ensureDeferred
async def test_post_creates_queue(storage, project, post):
    """Posting to a missing queue creates it, listed, with empty metadata."""
    await post("lazy")
    assert await storage.queues.exists(project, "lazy")
    assert await storage.queues.get_metadata(project, "lazy") == {}
    assert await storage.queues.list(project, detailed=True) == [
        {"name": "lazy", "metadata": {}}
    ]


@pytest_twisted.ensureDeferred
async def test_delete_removes_everything(storage, project, post):
    """Deleting a queue removes metadata, messages, claims and its listing entry."""
    await storage.queues.create(project, "q", {"a": 1})
    ids = await post("q", 4)
    claim_id, _ = await storage.claims.create(project, "q", 60, 60, 2)
    await storage.queues.delete(project, "q")
    assert not await storage.queues.exists(project, "q")
    assert await storage.queues.list(project) == []
    assert await storage.queues.count(project) == 0
    assert await storage.messages.bulk_get(project, "q", ids) == []
    assert await storage.claims.get(project, "q", claim_id) is None
    # A new queue of the same name starts empty.
    await storage.queues.create(project, "q", {})
    assert await storage.queues.get_metadata(project, "q") == {}
    assert await storage.messages.list(project, "q", echo=True, include_claimed=True) == []
    assert (await storage.queues.stats(project, "q"))["total"] == 0


@pytest_twisted.ensureDeferred
async def test_delete_removes_subscriptions(storage, project):
    """Deleting a queue removes its subscriptions: a queue re-created by name has none."""
    subscription, _ = await storage.subscriptions.create(project, "q", "http://a", 3600, {})
    await storage.subscriptions.create(project, "other", "http://a", 3600, {})
    await storage.queues.delete(project, "q")
    assert await storage.subscriptions.get(project, "q", subscription["id"]) is None
    assert await storage.subscriptions.list(project, "q") == []
    await storage.queues.create(project, "q", {})
    assert await storage.subscriptions.list(project, "q") == []
    again, created = await storage.subscriptions.create(project, "q", "http://a", 3600, {})
    assert created is True and again["id"] != subscription["id"]
    assert len(await storage.subscriptions.list(project, "other")) == 1


@pytest_twisted.ensureDeferred
async def test_delete_missing_queue(storage, project):
    """Deleting a missing queue is no error."""
    assert await storage.queues.delete(project, "nope") is None


@pytest_twisted.ensureDeferred
async def test_delete_leaves_other_queues(storage, project, post):
    """Deleting one queue leaves its neighbours alone."""
    await post("a", 2)
    ids_b = await post("b", 2)
    await storage.queues.delete(project, "a")
    assert [m["id"] for m in await storage.messages.bulk_get(project, "b", ids_b)] == ids_b


@pytest_twisted.ensureDeferred
async def test_stats_missing_queue(storage, project):
    """Stats of a missing queue are all zero."""
    assert await storage.queues.stats(project, "nope") == {
        "claimed": 0, "free": 0, "total": 0, "oldest": None, "newest": None,
    }


@pytest_twisted.ensureDeferred
async def test_stats_counts(storage, project, post, clock):
    """Stats count claimed, free and total; delayed count, expired do not."""
    first = await post("q", 2, ttl=60)
    await post("q", 3, ttl=600)
    last = await post("q", 1, ttl=600, delay=100)
    claim_id, claimed = await storage.claims.create(project, "q", 30, 30, 3)
    stats = await storage.queues.stats(project, "q")
    assert (stats["total"], stats["claimed"], stats["free"]) == (6, 3, 3)
    assert stats["oldest"]["id"] == first[0]
    assert stats["newest"]["id"] == last[0]
    assert set(stats["oldest"]) >= {"id", "age", "created", "ttl", "body"}
    clock.advance(61)  # the claim expired; the two 60 s messages had grace until 30 + 30
    stats = await storage.queues.stats(project, "q")
    assert (stats["total"], stats["claimed"], stats["free"]) == (4, 0, 4)
    assert stats["oldest"]["id"] != first[0]
    assert stats["oldest"]["age"] == 61
    clock.advance(600)
    assert await storage.queues.stats(project, "q") == {
        "claimed": 0, "free": 0, "total": 0, "oldest": None, "newest": None,
    }


@pytest_twisted.ensureDeferred
async def test_stats_after_claim_release_and_delete(storage, project, post):
    """Released claims and deleted messages leave the claimed counter."""
    await post("q", 5)
    claim_a, got_a = await storage.claims.create(project, "q", 60, 60, 2)
    claim_b, got_b = await storage.claims.create(project, "q", 60, 60, 2)
    assert (await storage.queues.stats(project, "q"))["claimed"] == 4
    await storage.claims.delete(project, "q", claim_a)
    await storage.messages.delete(project, "q", got_b[0]["id"], claim_id=claim_b)
    stats = await storage.queues.stats(project, "q")
    assert (stats["total"], stats["claimed"], stats["free"]) == (4, 1, 3)


@pytest_twisted.ensureDeferred
async def test_purge(storage, project, post):
    """Purge removes every message and claim, claimed and delayed too, keeping the queue."""
    await storage.queues.create(project, "q", {"keep": True})
    ids = await post("q", 3)
    ids += await post("q", 2, delay=300)
    claim_id, _ = await storage.claims.create(project, "q", 60, 60, 2)
    await storage.queues.purge(project, "q")
    assert await storage.queues.exists(project, "q")
    assert await storage.queues.get_metadata(project, "q") == {"keep": True}
    assert [q["name"] for q in await storage.queues.list(project)] == ["q"]
    assert await storage.messages.bulk_get(project, "q", ids) == []
    assert await storage.claims.get(project, "q", claim_id) is None
    assert (await storage.queues.stats(project, "q"))["total"] == 0
    new = await post("q", 2)
    listed = await storage.messages.list(project, "q", echo=True)
    assert [m["id"] for m in listed] == new


@pytest_twisted.ensureDeferred
async def test_purge_keeps_subscriptions(storage, project, post):
    """Purging a queue's messages leaves its subscriptions alone."""
    subscription, _ = await storage.subscriptions.create(project, "q", "http://a", 3600, {})
    await post("q", 2)
    await storage.queues.purge(project, "q")
    assert await storage.subscriptions.list(project, "q") == [subscription]
    assert (await storage.queues.stats(project, "q"))["total"] == 0


@pytest_twisted.ensureDeferred
async def test_purge_missing_queue(storage, project):
    """Purging a missing queue is no error and creates nothing."""
    assert await storage.queues.purge(project, "nope") is None
    assert not await storage.queues.exists(project, "nope")


@pytest_twisted.ensureDeferred
async def test_set_metadata_compare_and_set(storage, project):
    """With ``expected``, set_metadata writes only over the metadata the caller read."""
    from zaqar_tw.errors import MetadataChanged

    await storage.queues.create(project, "q", {"a": 1, "n": {"x": [1, 2]}})
    read = await storage.queues.get_metadata(project, "q")
    assert await storage.queues.set_metadata(project, "q", {"a": 2}, expected=read)
    with pytest.raises(MetadataChanged):
        await storage.queues.set_metadata(project, "q", {"a": 3}, expected=read)
    assert await storage.queues.get_metadata(project, "q") == {"a": 2}
    assert not await storage.queues.set_metadata(project, "nope", {"a": 1}, expected={})
