"""Storage contract: ISubscriptionStore, run against every registered store."""

import re
import uuid
from datetime import datetime, timedelta

import pytest
import pytest_twisted
from twisted.internet import defer
from zope.interface.verify import verifyObject

from zaqar_tw.errors import SubscriptionAlreadyExists
from zaqar_tw.interfaces import ISubscriptionStore

UUID4 = re.compile(r"\A[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\Z")
HOOK = "http://127.0.0.1:8080/hook"
# The core accepts a ttl up to this second (epoch): Python's largest datetime.
LAST_SECOND = (datetime.max - datetime(1970, 1, 1)) // timedelta(seconds=1)


@pytest.fixture
def subscribe(storage, project):
    """``await subscribe(queue, subscriber=, ttl=, options=)``: create a subscription and
    return ``(subscription, created)``."""

    async def subscribe(queue, subscriber=HOOK, ttl=3600, options=None):
        return await storage.subscriptions.create(
            project, queue, subscriber, ttl, {} if options is None else options
        )

    return subscribe


def ids_of(subscriptions):
    return [s["id"] for s in subscriptions]


def test_provides_interface(storage):
    """The subscription controller provides ISubscriptionStore."""
    assert verifyObject(ISubscriptionStore, storage.subscriptions)


@pytest_twisted.ensureDeferred
async def test_create_then_get(storage, project, subscribe, clock):
    """A new subscription has a UUID4 id, the queue as source, the values given, age 0 and is
    unconfirmed; get returns the same, with an age that grows with the clock."""
    options = {"post_headers": {"X-A": "1"}, "nested": [1, {"é": None}], "flag": True}
    subscription, created = await subscribe("q", ttl=600, options=options)
    assert created is True
    assert UUID4.match(subscription["id"])
    assert subscription == {
        "id": subscription["id"], "source": "q", "subscriber": HOOK, "ttl": 600, "age": 0,
        "options": options, "confirmed": False,
    }
    assert await storage.subscriptions.get(project, "q", subscription["id"]) == subscription
    clock.advance(42.5)
    got = await storage.subscriptions.get(project, "q", subscription["id"])
    assert got == {**subscription, "age": 42}


@pytest_twisted.ensureDeferred
async def test_ids_are_unique(subscribe):
    """Each subscription gets its own id."""
    made = [(await subscribe("q", subscriber=f"{HOOK}/{i}"))[0]["id"] for i in range(5)]
    assert len(set(made)) == 5


@pytest_twisted.ensureDeferred
async def test_create_creates_queue(storage, project, subscribe):
    """Subscribing to a missing queue creates it, with empty metadata, listed and counted."""
    assert not await storage.queues.exists(project, "lazy")
    await subscribe("lazy")
    assert await storage.queues.exists(project, "lazy")
    assert await storage.queues.get_metadata(project, "lazy") == {}
    assert await storage.queues.list(project, detailed=True) == [
        {"name": "lazy", "metadata": {}}
    ]
    assert await storage.queues.count(project) == 1


@pytest_twisted.ensureDeferred
async def test_create_keeps_existing_queue(storage, project, subscribe, post):
    """Subscribing to an existing queue leaves its metadata and messages alone."""
    await storage.queues.create(project, "q", {"a": 1})
    ids = await post("q", 2)
    await subscribe("q")
    assert await storage.queues.get_metadata(project, "q") == {"a": 1}
    assert ids_of(await storage.messages.bulk_get(project, "q", ids)) == ids
    assert await storage.queues.count(project) == 1


@pytest_twisted.ensureDeferred
async def test_duplicate_subscriber_returns_existing(storage, project, subscribe, clock):
    """A live subscriber subscribing again gets its subscription back, unchanged."""
    first, _ = await subscribe("q", ttl=600, options={"a": 1})
    assert await storage.subscriptions.confirm(project, "q", first["id"], True)
    clock.advance(10)
    again, created = await subscribe("q", ttl=900, options={"b": 2})
    assert created is False
    assert again == {**first, "age": 10, "confirmed": True}
    assert await storage.subscriptions.list(project, "q") == [again]


@pytest_twisted.ensureDeferred
async def test_concurrent_duplicates_make_one(storage, project, subscribe):
    """Concurrent subscriptions of one subscriber make exactly one subscription."""
    results = await defer.gatherResults([
        defer.ensureDeferred(subscribe("q", options={"n": i})) for i in range(8)
    ])
    assert [created for _, created in results].count(True) == 1
    assert len({s["id"] for s, _ in results}) == 1
    assert len(await storage.subscriptions.list(project, "q")) == 1


@pytest_twisted.ensureDeferred
async def test_subscribers_differ_by_exact_uri(storage, project, subscribe):
    """Subscriptions are unique by exact URI: another URI is another subscription."""
    uris = [HOOK, HOOK + "/", HOOK + "?a=1", "HTTP://127.0.0.1:8080/hook", "mailto:a@b.c"]
    for uri in uris:
        assert (await subscribe("q", subscriber=uri))[1] is True
    listed = await storage.subscriptions.list(project, "q", limit=20)
    assert sorted(s["subscriber"] for s in listed) == sorted(uris)


@pytest_twisted.ensureDeferred
async def test_odd_subscriber_round_trips(storage, project, subscribe):
    """A subscriber URI with quotes, backslashes, slashes and non-ASCII text is kept as is."""
    uri = 'http://example.com/a\\b/"c"?q=é&x=%7B}\u2603'
    subscription, _ = await subscribe("q", subscriber=uri)
    assert (await storage.subscriptions.get(project, "q", subscription["id"]))[
        "subscriber"] == uri
    assert (await subscribe("q", subscriber=uri))[1] is False


@pytest_twisted.ensureDeferred
async def test_expiry(storage, project, subscribe, clock):
    """A subscription is live until its ttl has passed, then invisible to every call."""
    subscription, _ = await subscribe("q", ttl=60)
    clock.advance(59)
    live = await storage.subscriptions.get(project, "q", subscription["id"])
    assert live["age"] == 59
    assert ids_of(await storage.subscriptions.list(project, "q")) == [subscription["id"]]
    clock.advance(1)
    sid = subscription["id"]
    assert await storage.subscriptions.get(project, "q", sid) is None
    assert await storage.subscriptions.list(project, "q") == []
    assert await storage.subscriptions.update(project, "q", sid, {"ttl": 600}) is False
    assert await storage.subscriptions.confirm(project, "q", sid, True) is False
    assert await storage.subscriptions.get(project, "q", sid) is None
    assert await storage.subscriptions.delete(project, "q", sid) is None


@pytest_twisted.ensureDeferred
async def test_longest_ttl(storage, project, subscribe, clock):
    """A ttl reaching the largest time the core accepts is kept exactly and honoured."""
    ttl = LAST_SECOND - int(clock.seconds())
    subscription, _ = await subscribe("q", ttl=ttl)
    assert subscription["ttl"] == ttl
    clock.advance(ttl - 1)
    got = await storage.subscriptions.get(project, "q", subscription["id"])
    assert (got["ttl"], got["age"]) == (ttl, ttl - 1)
    clock.advance(1)
    assert await storage.subscriptions.get(project, "q", subscription["id"]) is None


@pytest_twisted.ensureDeferred
async def test_duplicate_after_expiry_is_new(storage, project, subscribe, clock):
    """Once a subscription expired, its subscriber subscribing again gets a new one."""
    old, _ = await subscribe("q", ttl=60, options={"old": True})
    clock.advance(60)
    new, created = await subscribe("q", ttl=120, options={"new": True})
    assert created is True
    assert new["id"] != old["id"]
    assert (new["ttl"], new["age"], new["options"]) == (120, 0, {"new": True})
    assert await storage.subscriptions.get(project, "q", old["id"]) is None
    assert await storage.subscriptions.list(project, "q") == [new]


@pytest_twisted.ensureDeferred
async def test_list_sorted_by_id(storage, project, subscribe):
    """Listing returns every live subscription sorted by id, each as get shows it."""
    made = [(await subscribe("q", subscriber=f"{HOOK}/{i}"))[0] for i in range(7)]
    listed = await storage.subscriptions.list(project, "q", limit=20)
    assert ids_of(listed) == sorted(ids_of(made))
    assert sorted(listed, key=lambda s: s["subscriber"]) == made
    assert ids_of(await storage.subscriptions.list(project, "q")) == sorted(ids_of(made))


@pytest_twisted.ensureDeferred
async def test_list_pages_with_marker(storage, project, subscribe):
    """marker lists ids strictly after it (it need not exist); limit bounds the page."""
    ids = sorted([(await subscribe("q", subscriber=f"{HOOK}/{i}"))[0]["id"] for i in range(7)])
    list_ = storage.subscriptions.list
    page1 = await list_(project, "q", limit=3)
    assert ids_of(page1) == ids[:3]
    page2 = await list_(project, "q", marker=page1[-1]["id"], limit=3)
    assert ids_of(page2) == ids[3:6]
    page3 = await list_(project, "q", marker=page2[-1]["id"], limit=3)
    assert ids_of(page3) == ids[6:]
    assert await list_(project, "q", marker=ids[-1]) == []
    between = ids[2][:-1] + chr(ord(ids[2][-1]) + 1)  # after ids[2], before ids[3]
    assert ids_of(await list_(project, "q", marker=between, limit=2)) == ids[3:5]
    assert ids_of(await list_(project, "q", marker="", limit=1)) == ids[:1]
    assert ids_of(await list_(project, "q", marker="not-an-id", limit=10)) == []
    assert ids_of(await list_(project, "q", marker="0", limit=10)) == ids


@pytest_twisted.ensureDeferred
async def test_list_skips_expired(storage, project, subscribe, clock):
    """Expired subscriptions are skipped and do not count towards the limit: a page is
    short only when no more follow."""
    made = []
    for i in range(12):
        ttl = 660 if i % 3 == 0 else 60
        subscription, _ = await subscribe("q", subscriber=f"{HOOK}/{i}", ttl=ttl)
        made.append(subscription)
    clock.advance(60)
    live = sorted(s["id"] for i, s in enumerate(made) if i % 3 == 0)
    assert ids_of(await storage.subscriptions.list(project, "q", limit=20)) == live
    page = await storage.subscriptions.list(project, "q", limit=2)
    assert ids_of(page) == live[:2]
    rest = await storage.subscriptions.list(project, "q", marker=page[-1]["id"], limit=2)
    assert ids_of(rest) == live[2:]


@pytest_twisted.ensureDeferred
async def test_list_of_missing_queue(storage, project):
    """A queue that does not exist lists no subscriptions (and is not created)."""
    assert await storage.subscriptions.list(project, "nope") == []
    assert not await storage.queues.exists(project, "nope")


@pytest_twisted.ensureDeferred
async def test_update_subscriber(storage, project, subscribe):
    """Changing the subscriber frees the old URI and takes the new one."""
    subscription, _ = await subscribe("q", options={"a": 1})
    sid = subscription["id"]
    new_uri = "https://example.com/other"
    assert await storage.subscriptions.update(project, "q", sid, {"subscriber": new_uri}) is True
    assert await storage.subscriptions.get(project, "q", sid) == {
        **subscription, "subscriber": new_uri,
    }
    again, created = await subscribe("q", subscriber=new_uri)
    assert (again["id"], created) == (sid, False)
    fresh, created = await subscribe("q", subscriber=HOOK)
    assert created is True and fresh["id"] != sid


@pytest_twisted.ensureDeferred
async def test_update_to_own_subscriber(storage, project, subscribe):
    """Setting the subscriber a subscription already has is no conflict."""
    subscription, _ = await subscribe("q")
    sid = subscription["id"]
    assert await storage.subscriptions.update(project, "q", sid, {"subscriber": HOOK}) is True
    assert await storage.subscriptions.get(project, "q", sid) == subscription


@pytest_twisted.ensureDeferred
async def test_update_ttl_restarts_age(storage, project, subscribe, clock):
    """A new ttl restarts the age from 0 and the subscription lives that long from now."""
    subscription, _ = await subscribe("q", ttl=100)
    sid = subscription["id"]
    clock.advance(80)
    assert await storage.subscriptions.update(project, "q", sid, {"ttl": 60}) is True
    got = await storage.subscriptions.get(project, "q", sid)
    assert (got["ttl"], got["age"]) == (60, 0)
    clock.advance(59)
    assert (await storage.subscriptions.get(project, "q", sid))["age"] == 59
    clock.advance(1)
    assert await storage.subscriptions.get(project, "q", sid) is None


@pytest_twisted.ensureDeferred
async def test_update_options_replaces(storage, project, subscribe, clock):
    """New options replace the stored ones whole; the age keeps running."""
    subscription, _ = await subscribe("q", options={"a": 1, "b": {"c": 2}})
    sid = subscription["id"]
    clock.advance(5)
    assert await storage.subscriptions.update(project, "q", sid, {"options": {"b": 3}}) is True
    assert await storage.subscriptions.get(project, "q", sid) == {
        **subscription, "options": {"b": 3}, "age": 5,
    }
    assert await storage.subscriptions.update(project, "q", sid, {"options": {}}) is True
    assert (await storage.subscriptions.get(project, "q", sid))["options"] == {}


@pytest_twisted.ensureDeferred
async def test_update_every_field(storage, project, subscribe, clock):
    """Several fields change in one update; confirmation is kept."""
    subscription, _ = await subscribe("q", ttl=100)
    sid = subscription["id"]
    await storage.subscriptions.confirm(project, "q", sid, True)
    clock.advance(30)
    changes = {"subscriber": "http://new", "ttl": 500, "options": {"x": [1]}}
    assert await storage.subscriptions.update(project, "q", sid, changes) is True
    assert await storage.subscriptions.list(project, "q") == [{
        "id": sid, "source": "q", "subscriber": "http://new", "ttl": 500, "age": 0,
        "options": {"x": [1]}, "confirmed": True,
    }]


@pytest_twisted.ensureDeferred
async def test_update_subscriber_conflict(storage, project, subscribe):
    """Taking another live subscription's subscriber raises and changes nothing."""
    mine, _ = await subscribe("q", subscriber="http://mine", ttl=100, options={"m": 1})
    theirs, _ = await subscribe("q", subscriber="http://theirs")
    changes = {"subscriber": "http://theirs", "ttl": 900, "options": {"changed": True}}
    with pytest.raises(SubscriptionAlreadyExists):
        await storage.subscriptions.update(project, "q", mine["id"], changes)
    assert await storage.subscriptions.get(project, "q", mine["id"]) == mine
    assert await storage.subscriptions.get(project, "q", theirs["id"]) == theirs
    assert (await subscribe("q", subscriber="http://mine"))[1] is False


@pytest_twisted.ensureDeferred
async def test_update_to_subscriber_of_expired(storage, project, subscribe, clock):
    """The subscriber of an expired subscription is free to take."""
    old, _ = await subscribe("q", subscriber="http://old", ttl=60)
    mine, _ = await subscribe("q", subscriber="http://mine", ttl=600)
    clock.advance(60)
    changes = {"subscriber": "http://old"}
    assert await storage.subscriptions.update(project, "q", mine["id"], changes) is True
    assert await storage.subscriptions.list(project, "q") == [
        {**mine, "subscriber": "http://old", "age": 60}
    ]


@pytest_twisted.ensureDeferred
async def test_update_missing(storage, project, subscribe):
    """Updating an unknown subscription answers False and creates nothing."""
    await subscribe("q")
    unknown = str(uuid.uuid4())
    assert await storage.subscriptions.update(project, "q", unknown, {"ttl": 60}) is False
    assert await storage.subscriptions.update(project, "nope", unknown, {"ttl": 60}) is False
    assert len(await storage.subscriptions.list(project, "q")) == 1
    assert not await storage.queues.exists(project, "nope")


@pytest_twisted.ensureDeferred
async def test_confirm(storage, project, subscribe):
    """confirm sets and clears the confirmed flag of a live subscription."""
    subscription, _ = await subscribe("q")
    sid = subscription["id"]
    assert await storage.subscriptions.confirm(project, "q", sid, True) is True
    assert (await storage.subscriptions.get(project, "q", sid))["confirmed"] is True
    assert (await storage.subscriptions.list(project, "q"))[0]["confirmed"] is True
    assert await storage.subscriptions.confirm(project, "q", sid, True) is True
    assert await storage.subscriptions.confirm(project, "q", sid, False) is True
    assert await storage.subscriptions.get(project, "q", sid) == subscription


@pytest_twisted.ensureDeferred
async def test_confirm_missing(storage, project):
    """Confirming an unknown subscription answers False."""
    unknown = str(uuid.uuid4())
    assert await storage.subscriptions.confirm(project, "q", unknown, True) is False
    assert not await storage.queues.exists(project, "q")


@pytest_twisted.ensureDeferred
async def test_delete(storage, project, subscribe):
    """Deleting unsubscribes (the subscriber may subscribe anew); the others stay."""
    gone, _ = await subscribe("q")
    kept, _ = await subscribe("q", subscriber="http://kept")
    assert await storage.subscriptions.delete(project, "q", gone["id"]) is None
    assert await storage.subscriptions.get(project, "q", gone["id"]) is None
    assert await storage.subscriptions.list(project, "q") == [kept]
    again, created = await subscribe("q")
    assert created is True and again["id"] != gone["id"]


@pytest_twisted.ensureDeferred
async def test_delete_missing(storage, project, subscribe):
    """Deleting an unknown subscription, in a queue or not, is no error."""
    await subscribe("q")
    unknown = str(uuid.uuid4())
    assert await storage.subscriptions.delete(project, "q", unknown) is None
    assert await storage.subscriptions.delete(project, "nope", unknown) is None
    assert len(await storage.subscriptions.list(project, "q")) == 1
    assert not await storage.queues.exists(project, "nope")


@pytest_twisted.ensureDeferred
async def test_purge(storage, project, subscribe, post):
    """Purge removes every subscription, keeping the queue, its metadata and messages."""
    await storage.queues.create(project, "q", {"keep": True})
    ids = await post("q", 2)
    made = [(await subscribe("q", subscriber=f"{HOOK}/{i}"))[0] for i in range(3)]
    await subscribe("other")
    assert await storage.subscriptions.purge(project, "q") is None
    assert await storage.subscriptions.list(project, "q") == []
    assert all([
        await storage.subscriptions.get(project, "q", s["id"]) is None for s in made
    ])
    assert await storage.queues.get_metadata(project, "q") == {"keep": True}
    assert ids_of(await storage.messages.bulk_get(project, "q", ids)) == ids
    assert len(await storage.subscriptions.list(project, "other")) == 1
    assert (await subscribe("q", subscriber=f"{HOOK}/0"))[1] is True


@pytest_twisted.ensureDeferred
async def test_purge_missing_queue(storage, project):
    """Purging the subscriptions of a missing queue is no error and creates nothing."""
    assert await storage.subscriptions.purge(project, "nope") is None
    assert not await storage.queues.exists(project, "nope")


@pytest_twisted.ensureDeferred
async def test_ids_are_scoped_to_their_queue(storage, project, subscribe):
    """An id of queue A is unknown in queue B; one subscriber may subscribe to both."""
    a, _ = await subscribe("a")
    b, created = await subscribe("b")
    assert created is True and b["id"] != a["id"]
    subs = storage.subscriptions
    assert await subs.get(project, "b", a["id"]) is None
    assert await subs.update(project, "b", a["id"], {"ttl": 60}) is False
    assert await subs.confirm(project, "b", a["id"], True) is False
    await subs.delete(project, "b", a["id"])
    assert await subs.get(project, "a", a["id"]) == a
    assert await subs.list(project, "a") == [a]
    assert await subs.list(project, "b") == [b]


@pytest_twisted.ensureDeferred
async def test_projects_are_isolated(storage, project, subscribe):
    """A project never sees, changes or removes another project's subscriptions."""
    mine, _ = await subscribe("q")
    other = uuid.uuid4().hex
    subs = storage.subscriptions
    assert await subs.list(other, "q") == []
    assert await subs.get(other, "q", mine["id"]) is None
    assert await subs.update(other, "q", mine["id"], {"ttl": 60}) is False
    assert await subs.confirm(other, "q", mine["id"], True) is False
    await subs.delete(other, "q", mine["id"])
    await subs.purge(other, "q")
    theirs, created = await subs.create(other, "q", HOOK, 3600, {})
    assert created is True and theirs["id"] != mine["id"]
    assert await subs.list(project, "q") == [mine]
    assert await subs.list(other, "q") == [theirs]


@pytest_twisted.ensureDeferred
async def test_post_tells_whether_the_queue_has_subscriptions(storage, project, subscribe):
    """A post answers whether its queue has subscriptions to notify: not on a queue that never
    had one, nor once the last was deleted or purged; yes while one is live."""
    one = [{"ttl": 60, "body": 1}]
    assert (await storage.messages.post(project, "q", one, "c"))[1] is False
    first, _ = await subscribe("q")
    second, _ = await subscribe("q", subscriber=f"{HOOK}/2")
    assert (await storage.messages.post(project, "q", one, "c"))[1] is True
    assert (await storage.messages.post(project, "other", one, "c"))[1] is False
    await storage.subscriptions.delete(project, "q", first["id"])
    assert (await storage.messages.post(project, "q", one, "c"))[1] is True
    await storage.subscriptions.delete(project, "q", second["id"])
    assert (await storage.messages.post(project, "q", one, "c"))[1] is False
    await subscribe("q")
    await storage.subscriptions.purge(project, "q")
    assert (await storage.messages.post(project, "q", one, "c"))[1] is False
