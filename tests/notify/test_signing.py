"""Signed webhooks: a subscription whose options carry a Standard Webhooks ``secret`` gets
each delivery signed (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``), checked
here with the ``standardwebhooks`` package as a receiver would; the secret is never shown."""

import base64
import os
import uuid

import pytest
import pytest_twisted
from standardwebhooks import Webhook, WebhookVerificationError

from tests.loopback import loopback_config
from tests.notify.test_rest_delivery import subscribe
from zaqar_tw.notify.signing import SECRET_FORM, signing_key
from zaqar_tw.notify.webhook import WebhookNotifier

SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()
OTHER = "whsec_" + base64.b64encode(os.urandom(32)).decode()
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def verified(secret, received):
    """The payload of a received request, once its signature checks out."""
    return Webhook(secret).verify(received.body, received.headers)


@pytest.mark.parametrize("secret", [
    SECRET, SECRET.rstrip("="), "whsec_" + base64.b64encode(b"k" * 24).decode(),
    "whsec_" + base64.b64encode(b"k" * 64).decode(),
])
def test_secrets_of_the_standard_form_are_read(secret):
    """whsec_ and the base64 (padded or not) of 24 to 64 bytes."""
    assert 24 <= len(signing_key(secret)) <= 64


@pytest.mark.parametrize("secret", [
    "", "k" * 40, SECRET[6:], "whsec_", "whsec_not base64!", "whsec_" + "=" * 8,
    "whsec_" + base64.b64encode(b"k" * 23).decode(),
    "whsec_" + base64.b64encode(b"k" * 65).decode(), 42, ["whsec_x"],
])
def test_other_secrets_are_refused(secret):
    """No prefix, no base64, a key too short or too long, or not text."""
    with pytest.raises(ValueError, match="options.secret must be a Standard Webhooks"):
        signing_key(secret)


@pytest_twisted.ensureDeferred
async def test_deliveries_verify_with_the_standard_library(api, receiver):
    """Each delivery verifies with standardwebhooks and the subscription's secret, and with
    no other secret; each carries its own delivery id."""
    await subscribe(api, "sq", receiver.url + "/hook", secret=SECRET)
    await api.post_messages("sq", {"body": {"n": 1}, "ttl": 300}, {"body": {"n": 2}})
    first, second = await receiver.wait_for(2)
    assert verified(SECRET, first) == {
        "body": {"n": 1}, "ttl": 300, "queue_name": "sq", "Message_Type": "Notification"
    }
    assert verified(SECRET, second)["body"] == {"n": 2}
    assert uuid.UUID(first.headers["webhook-id"]) != uuid.UUID(second.headers["webhook-id"])
    assert first.headers["webhook-signature"].startswith("v1,")
    with pytest.raises(WebhookVerificationError):
        verified(OTHER, first)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(first.body.replace(b'"n":1', b'"n":3'), first.headers)


@pytest_twisted.ensureDeferred
async def test_unsigned_subscriptions_send_no_signature(api, receiver):
    """Without a secret, no webhook-* header is sent."""
    await subscribe(api, "uq", receiver.url)
    await api.post_messages("uq", {"body": 1})
    (got,) = await receiver.wait_for(1)
    assert not [name for name in got.headers if name.startswith("webhook-")]


@pytest_twisted.ensureDeferred
async def test_the_secret_is_never_shown(api):
    """GET and list show the other options, never the secret."""
    sid = await subscribe(api, "hq", "https://example.com/h", secret=SECRET, subject="s")
    shown = await api.get(f"/v2/queues/hq/subscriptions/{sid}")
    assert shown.json["options"] == {"subject": "s"}
    listed = await api.get("/v2/queues/hq/subscriptions")
    assert [one["options"] for one in listed.json["subscriptions"]] == [{"subject": "s"}]
    assert SECRET not in shown.body.decode() + listed.body.decode()


@pytest_twisted.ensureDeferred
async def test_a_malformed_secret_is_refused(api):
    """A secret of another form is refused with 400 on create and on update."""
    reply = await api.post("/v2/queues/bq/subscriptions", json={
        "subscriber": "https://example.com/h", "options": {"secret": "hunter2"}})
    assert (reply.status, reply.json["description"]) == (400, SECRET_FORM)
    sid = await subscribe(api, "bq", "https://example.com/h")
    reply = await api.patch(f"/v2/queues/bq/subscriptions/{sid}",
                            json={"options": {"secret": "whsec_abc"}})
    assert (reply.status, reply.json["description"]) == (400, SECRET_FORM)


@pytest_twisted.ensureDeferred
async def test_retries_keep_the_id_and_sign_anew(receiver):
    """Two attempts of one delivery carry the same webhook-id and each verifies; the trace
    context is passed on; post_headers cannot replace the signature headers."""
    from twisted.internet import reactor

    notifier = WebhookNotifier(reactor, loopback_config(), {})
    subscription = {
        "id": "s", "subscriber": receiver.url, "project": "p",
        "options": {"secret": SECRET, "post_headers": {"webhook-id": "forged", "X-A": "b"}},
    }
    for attempt in (1, 2):
        delivery = {"id": "d-1", "message_id": "m", "attempt": attempt,
                    "traceparent": TRACEPARENT}
        await notifier.deliver({**subscription, "delivery": delivery}, {"body": attempt})
    first, second = await receiver.wait_for(2)
    for got, body in ((first, 1), (second, 2)):
        assert got.headers["webhook-id"] == "d-1"
        assert got.headers["traceparent"] == TRACEPARENT
        assert got.headers["x-a"] == "b"
        assert verified(SECRET, got) == {"body": body}
