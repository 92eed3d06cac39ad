"""The built-in webhook notifier against a real HTTP subscriber on 127.0.0.1 (spec 5.1, 5.2):
one POST per notification, its headers and body, and what counts as a failed attempt."""

import json
import socket

import pytest
import pytest_twisted
from twisted.internet.defer import TimeoutError
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.task import Clock
from zope.interface.verify import verifyObject

from tests.loopback import loopback_config
from zaqar_tw.config import Config
from zaqar_tw.interfaces import INotifier
from zaqar_tw.notify.outcome import DeliveryFailed
from zaqar_tw.notify.webhook import DeliveryRefused, WebhookNotifier

PAYLOAD = {"body": {"event": "a"}, "ttl": 300, "queue_name": "nq", "Message_Type": "Notification"}


def subscription(url, **options):
    return {
        "id": "5b0c63b1-1a3c-4d4e-8f7a-0c1d2e3f4a5b", "source": "nq", "subscriber": url,
        "ttl": 3600, "age": 0, "options": options, "confirmed": False, "project": "p",
    }


@pytest_twisted.async_yield_fixture
async def webhook():
    """A webhook notifier on the real reactor, with default options."""
    from twisted.internet import reactor

    notifier = WebhookNotifier(reactor, loopback_config(), {})
    yield notifier
    await notifier.pool.closeCachedConnections()


def test_provides_the_interface():
    """WebhookNotifier provides INotifier and serves http and https."""
    notifier = WebhookNotifier(None, Config(), {})
    assert verifyObject(INotifier, notifier)
    assert notifier.schemes == ("http", "https")


def test_refuses_options():
    """The webhook has no [notifier:webhook] options; naming one is an error."""
    with pytest.raises(ValueError, match="unknown option"):
        WebhookNotifier(None, Config(), {"retries": "3"})


@pytest_twisted.ensureDeferred
async def test_posts_the_payload_as_json(webhook, receiver):
    """One POST to the subscriber URI (path and query kept), Content-Type
    application/json, the payload as the body."""
    await webhook.deliver(subscription(receiver.url + "/hook?team=7"), PAYLOAD)
    (received,) = receiver.requests
    assert (received.method, received.path) == ("POST", "/hook?team=7")
    assert received.headers["content-type"] == "application/json"
    assert received.json == PAYLOAD
    assert received.headers["content-length"] == str(len(received.body))


@pytest_twisted.ensureDeferred
async def test_post_headers_are_merged(webhook, receiver):
    """options.post_headers are added to the request, and may replace Content-Type."""
    await webhook.deliver(subscription(
        receiver.url, post_headers={"X-Token": "s3cret", "content-type": "text/plain"}
    ), PAYLOAD)
    (received,) = receiver.requests
    assert received.headers["x-token"] == "s3cret"
    assert received.headers["content-type"] == "text/plain"


@pytest_twisted.ensureDeferred
async def test_post_data_wraps_the_payload(webhook, receiver):
    """options.post_data is sent with "$zaqar_message$" (quotes included) replaced by the
    payload JSON."""
    template = '{"wrapped": "$zaqar_message$", "k": 1, "again": ["$zaqar_message$"]}'
    await webhook.deliver(subscription(receiver.url, post_data=template), PAYLOAD)
    (received,) = receiver.requests
    assert received.json == {"wrapped": PAYLOAD, "k": 1, "again": [PAYLOAD]}


@pytest_twisted.ensureDeferred
async def test_post_data_without_placeholder_is_sent_as_is(webhook, receiver):
    """A post_data without the placeholder is sent unchanged."""
    await webhook.deliver(subscription(receiver.url, post_data="ping"), PAYLOAD)
    assert receiver.requests[0].body == b"ping"


@pytest.mark.parametrize("status", [200, 202, 204, 302, 399])
@pytest_twisted.ensureDeferred
async def test_answers_below_400_succeed(webhook, receiver, status):
    """Any answer below 400 counts as delivered."""
    receiver.status = status
    assert await webhook.deliver(subscription(receiver.url), PAYLOAD) is None


@pytest.mark.parametrize("status", [400, 404, 429, 500, 503])
@pytest_twisted.ensureDeferred
async def test_answers_of_400_and_more_fail(webhook, receiver, status):
    """An answer of 400 or more fails the delivery with its status; it is sent once."""
    receiver.status = status
    with pytest.raises(DeliveryRefused) as refused:
        await webhook.deliver(subscription(receiver.url), PAYLOAD)
    assert refused.value.status == status
    assert len(receiver.requests) == 1


@pytest.mark.parametrize(("status", "permanent"), [
    (400, True), (404, True), (410, True), (408, False), (429, False), (500, False),
    (503, False),
])
@pytest_twisted.ensureDeferred
async def test_refusals_say_whether_a_retry_may_help(webhook, receiver, status, permanent):
    """A 4xx other than 408 and 429 is permanent; 408, 429 and 5xx may be retried."""
    receiver.status = status
    with pytest.raises(DeliveryFailed) as refused:
        await webhook.deliver(subscription(receiver.url), PAYLOAD)
    assert refused.value.permanent is permanent
    assert refused.value.retry_after is None


@pytest.mark.parametrize(("header", "seconds"), [
    ("7", 7.0), ("0", 0.0), ("1.5", 1.5), ("-3", None), ("soon", None),
    ("Wed, 21 Oct 2026 07:28:00 GMT", None),
])
@pytest_twisted.ensureDeferred
async def test_retry_after_is_read_in_seconds(webhook, receiver, header, seconds):
    """A 429 or 503 carries the subscriber's ``Retry-After`` when it is a number of
    seconds."""
    receiver.status = 429
    receiver.answer_headers = {"Retry-After": header}
    with pytest.raises(DeliveryFailed) as refused:
        await webhook.deliver(subscription(receiver.url), PAYLOAD)
    assert refused.value.retry_after == seconds


@pytest_twisted.ensureDeferred
async def test_unreachable_subscriber_fails(webhook):
    """A subscriber nobody listens for fails the delivery with the connection error."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectionRefusedError):
        await webhook.deliver(subscription(f"http://127.0.0.1:{port}/"), PAYLOAD)


@pytest.mark.parametrize("hang", ["hold", "trickle"])
@pytest_twisted.ensureDeferred
async def test_a_subscriber_that_never_answers_times_out(receiver, hang):
    """No complete answer within [notification] delivery_timeout (none at all, or a body
    that never ends) fails the attempt with a timeout, on the notifier's clock, and drops
    the connection."""
    from twisted.internet import reactor

    config = loopback_config()
    config.set("notification", "delivery_timeout", "2.5")
    clock = Clock()
    notifier = WebhookNotifier(reactor, config, {}, clock=clock)
    setattr(receiver, hang, True)
    attempt = notifier.deliver(subscription(receiver.url), PAYLOAD)
    await receiver.wait_for(1)
    clock.advance(2.4)
    assert not attempt.called
    clock.advance(0.1)
    with pytest.raises(TimeoutError):
        await attempt
    (held,) = receiver._held
    await held.notifyFinish().addErrback(lambda _: "dropped")
    assert held._disconnected
    await notifier.pool.closeCachedConnections()


@pytest_twisted.ensureDeferred
async def test_concurrent_deliveries_keep_their_connections(webhook, receiver):
    """As many connections per subscriber host stay open as deliveries may run at once
    ([notification] max_notifier_workers, 10): a second burst of 10 opens none."""
    from twisted.internet.defer import gatherResults

    async def burst():
        before = len(receiver.requests)
        await gatherResults([
            webhook.deliver(subscription(receiver.url), PAYLOAD) for _ in range(10)
        ])
        return {r.client_port for r in receiver.requests[before:]}

    first = await burst()
    second = await burst()
    assert len(first) == 10
    assert second <= first


@pytest_twisted.ensureDeferred
async def test_connections_are_reused(webhook, receiver):
    """Deliveries one after the other to one subscriber share a persistent connection."""
    for _ in range(3):
        await webhook.deliver(subscription(receiver.url), PAYLOAD)
    assert len(receiver.requests) == 3
    assert len(webhook.pool._connections) == 1
    assert json.loads(receiver.requests[2].body) == PAYLOAD
