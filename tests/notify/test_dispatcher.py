"""The dispatcher on the real Redis store (spec 5.2): after a post, one notification per
message and subscription, routed by subscriber URI scheme, through the filter chain's read
hooks, with bounded concurrency, failures logged and never raised.

The notifiers here are small INotifier plugins written for the tests (as a third party
would), so a test can hold deliveries open and count them; tests/notify/test_rest_delivery.py
runs the built-in webhook against a real HTTP subscriber.
"""

import dataclasses
import uuid

import pytest
import pytest_twisted
from twisted.internet import defer
from twisted.logger import LogLevel
from zope.interface import implementer

from tests.loopback import loopback_config
from zaqar_tw.context import RequestContext
from zaqar_tw.filters import FilterChain, MessageFilter
from zaqar_tw.interfaces import INotifier
from zaqar_tw.notify import dispatcher as dispatcher_module
from zaqar_tw.notify.dispatcher import Dispatcher


@implementer(INotifier)
class Recorder:
    """Records each delivery; answers at once, or, while ``holding``, with a Deferred the
    test fires (``held``).  ``arrived`` fires once the first delivery was handed over."""

    def __init__(self, schemes=("http", "https"), fail=None):
        self.schemes = schemes
        self.delivered = []
        self.holding = False
        self.held = []
        self.fail = fail
        self.arrived = defer.Deferred()

    def deliver(self, subscription, payload):
        self.delivered.append((subscription, payload))
        if self.fail is not None:
            raise self.fail
        answer = defer.succeed(None)
        if self.holding:
            answer = defer.Deferred()
            self.held.append(answer)
        if not self.arrived.called:  # on the next reactor turn: after deliver() returned
            from twisted.internet import reactor

            reactor.callLater(0, lambda: self.arrived.called or self.arrived.callback(None))
        return answer

    def by_subscriber(self):
        """Subscriber URI -> the payloads it got, in order."""
        found = {}
        for subscription, payload in self.delivered:
            found.setdefault(subscription["subscriber"], []).append(payload)
        return found


def fresh_context():
    return RequestContext(project=uuid.uuid4().hex, client_id=str(uuid.uuid4()))


@pytest.fixture
def poster():
    """The context of a poster in a fresh project."""
    return fresh_context()


TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def build(config, storage, clock, *notifiers, filters=None):
    return Dispatcher(config, storage, notifiers, filters or FilterChain(), clock)


async def subscribe(storage, ctx, queue, *subscribers, **options):
    """Store subscriptions; :returns: their ids."""
    ids = []
    for subscriber in subscribers:
        subscription, created = await storage.subscriptions.create(
            ctx.project, queue, subscriber, 3600, options
        )
        assert created
        ids.append(subscription["id"])
    return ids


async def post(storage, dispatcher, ctx, queue, *bodies, metadata=None, delay=0):
    """Store messages as the core does and tell the dispatcher; :returns: their ids."""
    messages = [{"ttl": 300, "delay": delay, "body": body} for body in bodies]
    ids, _ = await storage.messages.post(ctx.project, queue, messages, ctx.client_id)
    assert dispatcher.posted(ctx, queue, messages, ids, metadata or {}) is None
    return ids


async def settled(dispatcher):
    """Wait until the dispatcher has nothing in progress."""
    await dispatcher.stop()


@pytest_twisted.ensureDeferred
async def test_every_subscription_of_every_page_gets_every_message(
        config, clock, storage, poster, monkeypatch):
    """Subscriptions on several pages each get one notification per message, in order."""
    monkeypatch.setattr(dispatcher_module, "PAGE", 2)
    notifier = Recorder()
    dispatcher = build(config, storage, clock, notifier)
    urls = [f"http://127.0.0.1:9/hook/{n}" for n in range(5)]
    await subscribe(storage, poster, "q", *urls)
    await post(storage, dispatcher, poster, "q", {"n": 1}, {"n": 2})
    await settled(dispatcher)
    got = notifier.by_subscriber()
    assert sorted(got) == sorted(urls)
    for payloads in got.values():
        assert [p["body"] for p in payloads] == [{"n": 1}, {"n": 2}]


@pytest_twisted.ensureDeferred
async def test_payload_shape(config, clock, storage, poster):
    """The payload is body, ttl, queue_name and Message_Type; the subscription handed to the
    notifier is the stored one plus its project and the delivery: its own id, the message
    id, the attempt and the poster's trace context."""
    notifier = Recorder()
    dispatcher = build(config, storage, clock, notifier)
    (sid,) = await subscribe(storage, poster, "q", "https://example.test/h", post_data="x")
    traced = dataclasses.replace(poster, traceparent=TRACEPARENT)
    (message_id,) = await post(storage, dispatcher, traced, "q", {"event": "a"})
    await settled(dispatcher)
    ((subscription, payload),) = notifier.delivered
    assert payload == {
        "body": {"event": "a"}, "ttl": 300, "queue_name": "q", "Message_Type": "Notification"
    }
    stored = await storage.subscriptions.get(poster.project, "q", sid)
    delivery = subscription.pop("delivery")
    assert subscription == {**stored, "project": poster.project}
    assert delivery == {
        "id": delivery["id"], "message_id": message_id, "attempt": 1,
        "traceparent": TRACEPARENT,
    }
    assert uuid.UUID(delivery["id"])


@pytest_twisted.ensureDeferred
async def test_delayed_queue_adds_the_delay(config, clock, storage, poster):
    """On a queue with _default_message_delay, each payload also carries its delay."""
    notifier = Recorder()
    dispatcher = build(config, storage, clock, notifier)
    await subscribe(storage, poster, "q", "http://127.0.0.1:9/")
    await post(storage, dispatcher, poster, "q", "late",
               metadata={"_default_message_delay": 30}, delay=45)
    await settled(dispatcher)
    ((_, payload),) = notifier.delivered
    assert payload == {
        "body": "late", "ttl": 300, "queue_name": "q", "Message_Type": "Notification",
        "delay": 45,
    }


@pytest_twisted.ensureDeferred
async def test_unconfirmed_subscriptions_are_notified_by_default(config, clock, storage, poster):
    """Without require_confirmation, unconfirmed subscriptions are notified too."""
    notifier = Recorder()
    dispatcher = build(config, storage, clock, notifier)
    await subscribe(storage, poster, "q", "http://127.0.0.1:9/a")
    await post(storage, dispatcher, poster, "q", 1)
    await settled(dispatcher)
    assert len(notifier.delivered) == 1


@pytest.mark.zaqar_config(("notification", "require_confirmation", "true"))
@pytest_twisted.ensureDeferred
async def test_require_confirmation_skips_unconfirmed(config, clock, storage, poster):
    """With require_confirmation, only confirmed subscriptions are notified."""
    notifier = Recorder()
    dispatcher = build(config, storage, clock, notifier)
    first, _ = await subscribe(
        storage, poster, "q", "http://127.0.0.1:9/a", "http://127.0.0.1:9/b"
    )
    assert await storage.subscriptions.confirm(poster.project, "q", first, True)
    await post(storage, dispatcher, poster, "q", 1)
    await settled(dispatcher)
    assert list(notifier.by_subscriber()) == ["http://127.0.0.1:9/a"]


class Reveal(MessageFilter):
    """A read hook that shows what it was given: the message keys, the reader, the
    metadata."""

    needs_metadata = True

    def on_read(self, messages, queue_metadata, context):
        for message in messages:
            message["body"] = {
                "was": message["body"],
                "keys": sorted(message),
                "claim": [message["claim_id"], message["claim_count"], message["age"]],
                "reader": context.project,
                "color": queue_metadata.get("color"),
            }
        return messages


@pytest_twisted.ensureDeferred
async def test_read_hooks_apply_with_the_posters_context(config, clock, storage, poster):
    """Notifications pass the chain's read hooks, with store-like message dicts, the
    poster's context and the queue metadata of the post."""
    notifier = Recorder()
    chain = FilterChain([Reveal(config, {})], ["reveal"])
    dispatcher = build(config, storage, clock, notifier, filters=chain)
    await subscribe(storage, poster, "q", "http://127.0.0.1:9/")
    await post(storage, dispatcher, poster, "q", "secret", metadata={"color": "red"})
    await settled(dispatcher)
    ((_, payload),) = notifier.delivered
    assert payload["body"] == {
        "was": "secret",
        "keys": ["age", "body", "claim_count", "claim_id", "created", "id", "ttl"],
        "claim": [None, 0, 0],
        "reader": poster.project,
        "color": "red",
    }


@pytest.mark.zaqar_config(("notification", "max_notifier_workers", "2"))
@pytest_twisted.ensureDeferred
async def test_workers_bound_the_subscriptions_in_progress(config, clock, storage, poster):
    """At most max_notifier_workers subscriptions are being notified at once; each gets its
    messages one after the other."""
    notifier = Recorder()
    notifier.holding = True
    dispatcher = build(config, storage, clock, notifier)
    await subscribe(storage, poster, "q", *[f"http://127.0.0.1:9/{n}" for n in range(4)])
    await post(storage, dispatcher, poster, "q", "first", "second")
    await notifier.arrived
    await pause_for(lambda: len(notifier.held) == 2)
    assert len(notifier.held) == 2
    assert [p["body"] for _, p in notifier.delivered] == ["first", "first"]
    notifier.held[0].callback(None)  # the first subscription gets its second message
    assert [p["body"] for _, p in notifier.delivered] == ["first", "first", "second"]
    assert len(notifier.delivered) == 3
    notifier.held[2].callback(None)  # the first subscription is done: a third one starts
    assert len(notifier.delivered) == 4
    for answer in notifier.held:  # sees the deliveries each release starts
        if not answer.called:
            answer.callback(None)
    await settled(dispatcher)
    got = notifier.by_subscriber()
    assert len(got) == 4
    assert all([p["body"] for p in payloads] == ["first", "second"] for payloads in got.values())


async def pause_for(condition):
    from tests.waiting import wait_until

    await wait_until(condition, timeout=10, what="deliveries")


@pytest_twisted.ensureDeferred
async def test_failures_are_logged_and_the_next_message_still_goes(
        config, clock, storage, poster, logged):
    """A notifier that raises is logged as a warning with the subscription, and the next
    message of the post is still delivered."""
    notifier = Recorder(fail=RuntimeError("subscriber on fire"))
    dispatcher = build(config, storage, clock, notifier)
    (sid,) = await subscribe(storage, poster, "q", "http://user:pw@127.0.0.1:9/x?token=t")
    await post(storage, dispatcher, poster, "q", 1, 2)
    await settled(dispatcher)
    assert len(notifier.delivered) == 2
    failures = [e for e in logged if "log_failure" in e and e.get("subscription") == sid]
    assert len(failures) == 2
    for event in failures:
        assert event["log_level"] == LogLevel.warn
        assert event["log_failure"].check(RuntimeError)
        assert event["subscriber"] == "http://127.0.0.1:9/x"  # no credentials, no query
        assert (event["queue"], event["project"]) == ("q", poster.project)


@pytest_twisted.ensureDeferred
async def test_routing_by_scheme(config, clock, storage, poster):
    """Each subscription goes to the notifier serving its scheme (case-insensitively);
    one whose scheme no notifier serves is skipped."""
    web = Recorder()
    pigeon = Recorder(schemes=("pigeon",))
    dispatcher = build(config, storage, clock, web, pigeon)
    assert dispatcher.subscriber_types == ["http", "https", "pigeon"]
    await subscribe(storage, poster, "q", "http://127.0.0.1:9/", "PIGEON:loft/3",
                    "mailto:a@example.test")
    await post(storage, dispatcher, poster, "q", "coo")
    await settled(dispatcher)
    assert list(web.by_subscriber()) == ["http://127.0.0.1:9/"]
    assert list(pigeon.by_subscriber()) == ["PIGEON:loft/3"]


@pytest.mark.zaqar_config(("transport", "subscriber_types", "https"))
@pytest_twisted.ensureDeferred
async def test_only_accepted_types_are_notified(config, clock, storage, poster):
    """A scheme left out of subscriber_types is not notified, even if its notifier runs."""
    web = Recorder()
    dispatcher = build(config, storage, clock, web)
    assert dispatcher.subscriber_types == ["https"]
    await subscribe(storage, poster, "q", "http://127.0.0.1:9/", "https://127.0.0.1:9/")
    await post(storage, dispatcher, poster, "q", 1)
    await settled(dispatcher)
    assert list(web.by_subscriber()) == ["https://127.0.0.1:9/"]


@pytest_twisted.ensureDeferred
async def test_no_notifier_does_nothing(config, clock, logged):
    """Without notifiers, a post costs nothing: not even a store call (there is no store)."""
    dispatcher = Dispatcher(config, None, (), FilterChain(), clock)
    assert dispatcher.subscriber_types == []
    ctx = fresh_context()
    assert dispatcher.posted(ctx, "q", [{"ttl": 60, "delay": 0, "body": 1}], ["id"], {}) is None
    await settled(dispatcher)
    assert not [e for e in logged if "log_failure" in e]


@pytest_twisted.ensureDeferred
async def test_no_subscription_delivers_nothing(config, clock, storage, poster):
    """A queue nobody subscribes to gets no delivery."""
    notifier = Recorder()
    dispatcher = build(config, storage, clock, notifier)
    await post(storage, dispatcher, poster, "q", 1)
    await settled(dispatcher)
    assert notifier.delivered == []


@pytest_twisted.ensureDeferred
async def test_a_failing_store_is_logged(config, clock, poster, logged):
    """When the subscriptions cannot be read, the post's notifications are logged as failed."""
    from zaqar_tw.storage.redis.store import RedisStorage
    from twisted.internet import reactor

    unconnected = RedisStorage(reactor, "redis://127.0.0.1:6379", clock=clock)
    dispatcher = build(config, unconnected, clock, Recorder())
    dispatcher.posted(poster, "q", [{"ttl": 60, "delay": 0, "body": 1}], ["id"], {})
    await settled(dispatcher)
    (event,) = [e for e in logged if "log_failure" in e]
    assert (event["queue"], event["project"]) == ("q", poster.project)
    assert event["log_level"] == LogLevel.error


@pytest_twisted.ensureDeferred
async def test_stop_waits_for_deliveries_in_progress(config, clock, storage, poster):
    """stop() fires once the deliveries in progress are done."""
    notifier = Recorder()
    notifier.holding = True
    dispatcher = build(config, storage, clock, notifier)
    await subscribe(storage, poster, "q", "http://127.0.0.1:9/")
    await post(storage, dispatcher, poster, "q", 1)
    await notifier.arrived
    stopped = dispatcher.stop()
    assert not stopped.called
    notifier.held[0].callback(None)
    assert stopped.called


@pytest_twisted.ensureDeferred
async def test_stop_gives_up_after_the_delivery_timeout(config, clock, storage, poster, logged):
    """stop() waits at most [notification] delivery_timeout, then cancels what is left."""
    notifier = Recorder()
    notifier.holding = True
    dispatcher = build(config, storage, clock, notifier)
    await subscribe(storage, poster, "q", "http://127.0.0.1:9/")
    await post(storage, dispatcher, poster, "q", 1, 2)
    await notifier.arrived
    stopped = dispatcher.stop()
    clock.advance(config.notification.delivery_timeout - 0.1)
    assert not stopped.called
    clock.advance(0.1)
    assert stopped.called
    assert notifier.held[0].called  # cancelled
    assert len(notifier.delivered) == 1  # the second message never went
    assert [e["count"] for e in logged if "dropped" in e.get("log_format", "")] == [1]
    assert not [e for e in logged if "log_failure" in e]


def test_defaults_serve_what_the_notifiers_serve():
    """Unset subscriber_types are the sorted schemes of the enabled notifiers."""
    config = loopback_config()
    dispatcher = Dispatcher(config, None, [Recorder(("https", "HTTP"))], FilterChain(), None)
    assert dispatcher.subscriber_types == ["http", "https"]


@pytest.mark.zaqar_config(
    ("notification", "max_notifier_workers", "1"), ("notification", "max_backlog", "2")
)
@pytest_twisted.ensureDeferred
async def test_backlog_is_bounded(config, clock, storage, poster, logged):
    """Past max_backlog deliveries waiting for a worker, the notifications of a new post are
    dropped (and logged); those already waiting still go once the worker is free."""
    notifier = Recorder()
    notifier.holding = True
    dispatcher = build(config, storage, clock, notifier)
    await subscribe(storage, poster, "q", "http://127.0.0.1:9/a")
    for body in ("busy", "waits-1", "waits-2", "dropped"):
        await post(storage, dispatcher, poster, "q", body)
        if body == "busy":
            await notifier.arrived
    await pause_for(lambda: any("backlog full" in e.get("log_format", "") for e in logged))
    while len(notifier.held) < 3:  # each release lets the next waiting post through
        before = len(notifier.held)
        notifier.held[-1].callback(None)
        await pause_for(lambda: len(notifier.held) > before)
    notifier.held[-1].callback(None)
    await settled(dispatcher)
    assert [p["body"] for _, p in notifier.delivered] == ["busy", "waits-1", "waits-2"]
    (warning,) = [e for e in logged if "backlog full" in e.get("log_format", "")]
    assert warning["log_level"] == LogLevel.warn
    assert (warning["dropped"], warning["queue"]) == (1, "q")


class SignallingMessages:
    """A message store (a test plugin wrapping the real one) whose ``post`` fires
    ``posting`` on the next reactor turn, when the caller waits for the store's answer (which
    cannot have been read yet: timed calls run before the reactor reads sockets)."""

    def __init__(self, messages):
        self._messages = messages
        self.posting = defer.Deferred()

    def __getattr__(self, name):
        return getattr(self._messages, name)

    def post(self, *args):
        from twisted.internet import reactor

        stored = self._messages.post(*args)
        reactor.callLater(0, self.posting.callback, [stored])
        return stored


@pytest_twisted.ensureDeferred
async def test_a_poster_going_away_does_not_lose_the_notifications(
        config, clock, storage, poster, monkeypatch):
    """A post cancelled (its client disconnected) while the store is writing it still gets
    its messages notified once they are stored."""
    from zaqar_tw.core import Core

    notifier = Recorder()
    core = Core(config, storage, clock, notifiers=[notifier])
    await subscribe(storage, poster, "q", "http://127.0.0.1:9/a")
    signalling = SignallingMessages(storage.messages)
    monkeypatch.setattr(storage, "messages", signalling)
    posting = defer.Deferred.fromCoroutine(
        core.messages.post(poster, "q", b'{"messages": [{"body": "kept"}]}')
    )
    (stored,) = await signalling.posting
    assert not stored.called
    posting.cancel()
    posting.addErrback(lambda failure: failure.trap(defer.CancelledError))
    await pause_for(lambda: notifier.delivered)
    assert [p["body"] for _, p in notifier.delivered] == ["kept"]
    (listed,) = await signalling.list(poster.project, "q", echo=True)
    assert listed["body"] == "kept"
    await core.dispatcher.stop()


@pytest.mark.zaqar_config(
    ("notification", "max_notifier_workers", "1"), ("notification", "max_backlog", "0")
)
@pytest_twisted.ensureDeferred
async def test_drops_are_reported_at_most_every_ten_seconds(
        config, clock, storage, poster, logged):
    """The first drop is reported at once; the drops after it within 10 s of the clock are
    summed up in one warning when the 10 s are over."""
    notifier = Recorder()
    notifier.holding = True
    dispatcher = build(config, storage, clock, notifier)
    await subscribe(storage, poster, "q", "http://127.0.0.1:9/a")

    def reports():
        return [e for e in logged if "backlog full" in e.get("log_format", "")]

    await post(storage, dispatcher, poster, "q", "busy")
    await notifier.arrived
    for n in range(3):
        await post(storage, dispatcher, poster, "q", f"dropped-{n}")
        # Replies come in order on the store's connection: once this one is in, so is the
        # dispatcher's look at the subscriptions, and the drop is decided.
        await storage.subscriptions.list(poster.project, "q")
    assert [r["dropped"] for r in reports()] == [1]
    clock.advance(9.9)
    assert [r["dropped"] for r in reports()] == [1]
    clock.advance(0.1)
    assert [r["dropped"] for r in reports()] == [1, 2]
    notifier.held[0].callback(None)
    await settled(dispatcher)
    assert [p["body"] for _, p in notifier.delivered] == ["busy"]


@pytest.mark.zaqar_config(
    ("notification", "max_notifier_workers", "1"), ("notification", "max_backlog", "1")
)
@pytest_twisted.ensureDeferred
async def test_drops_do_not_always_fall_on_the_same_subscriptions(
        config, clock, storage, poster):
    """When the backlog has room for only part of a post's subscriptions, each post keeps
    another part: over two posts, both subscriptions get one."""
    notifier = Recorder()
    notifier.holding = True
    dispatcher = build(config, storage, clock, notifier)
    await subscribe(storage, poster, "other", "http://127.0.0.1:9/busy")
    await post(storage, dispatcher, poster, "other", "busy")
    await notifier.arrived
    await subscribe(storage, poster, "q", "http://127.0.0.1:9/a", "http://127.0.0.1:9/b")
    for body in ("first", "second"):
        await post(storage, dispatcher, poster, "q", body)
        await storage.subscriptions.list(poster.project, "q")  # its fan-out is decided
        before = len(notifier.held)
        notifier.held[-1].callback(None)  # the worker takes the one kept
        await pause_for(lambda: len(notifier.held) > before)
    notifier.held[-1].callback(None)
    await settled(dispatcher)
    got = notifier.by_subscriber()
    assert sorted(got) == ["http://127.0.0.1:9/a", "http://127.0.0.1:9/b", "http://127.0.0.1:9/busy"]
    assert sorted(p["body"] for s in ("a", "b") for p in got[f"http://127.0.0.1:9/{s}"]) == [
        "first", "second"]
