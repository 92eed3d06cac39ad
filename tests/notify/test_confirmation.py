"""Confirmation (spec 5.3): with [notification] require_confirmation on, a new webhook or
e-mail subscription gets a confirmation request whose pre-signed URL confirms it, and
nothing else until then; unconfirming sends a note; a real HTTP receiver and a real SMTP
server on 127.0.0.1 stand for the subscribers."""

import json
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
import pytest_twisted

from tests.configured import configured_service
from tests.notify.smtp_server import SmtpServer
from tests.notify.test_rest_delivery import subscribe
from tests.websocket.conftest import client, codec, ws_server  # noqa: F401
from zaqar_tw import config as configuration
from zaqar_tw.config import ConfigError

REQUIRED = pytest.mark.zaqar_config(
    ("notification", "require_confirmation", "true"), ("signed_url", "secret_key", "k1"),
)


def confirm_headers(request):
    """The headers of the PUT a confirmation request describes (a client of its own)."""
    return {name: request[name] for name in
            ("URL-Signature", "URL-Methods", "URL-Paths", "URL-Expires", "X-Project-ID")}


async def confirm_as_subscriber(api, request, body_key="SubscribeBody"):
    """Do what the request says, as the subscriber would: no identity but the URL."""
    headers = {**confirm_headers(request), "Client-ID": str(uuid.uuid4())}
    return await api.put(request["URL-Paths"], json=request[body_key], headers=headers,
                         identify=False)


@REQUIRED
@pytest_twisted.ensureDeferred
async def test_a_webhook_confirms_with_the_request_it_gets(api, receiver):
    """The new subscription gets one confirmation request and no notification; the
    pre-signed PUT it carries confirms it; from then on messages are delivered."""
    sid = await subscribe(api, "cq", receiver.url + "/hook")
    (first,) = await receiver.wait_for(1)
    request = first.json
    path = f"/v2/queues/cq/subscriptions/{sid}/confirm"
    assert request == {
        "Message_Type": "SubscriptionConfirmation",
        "Message": "You have chosen to subscribe to the queue: cq",
        "URL-Signature": request["URL-Signature"], "URL-Methods": "PUT", "URL-Paths": path,
        "X-Project-ID": api.project, "URL-Expires": "2023-11-14T23:13:20",
        "SubscribeBody": {"confirmed": True}, "UnsubscribeBody": {"confirmed": False},
        "queue_name": "cq",
    }
    await api.post_messages("cq", {"body": "before"})
    shown = await api.get(f"/v2/queues/cq/subscriptions/{sid}")
    assert shown.json["confirmed"] is False
    reply = await confirm_as_subscriber(api, request)
    assert reply.status == 204, reply
    assert (await api.get(f"/v2/queues/cq/subscriptions/{sid}")).json["confirmed"] is True
    await api.post_messages("cq", {"body": "after"})
    _, second = await receiver.wait_for(2)
    assert second.json["body"] == "after"  # "before" was never sent


@REQUIRED
@pytest_twisted.ensureDeferred
async def test_the_link_allows_only_that_put(api, receiver):
    """The request's signature allows nothing but the PUT of its own confirm path."""
    sid = await subscribe(api, "cq", receiver.url)
    (got,) = await receiver.wait_for(1)
    headers = {**confirm_headers(got.json), "Client-ID": str(uuid.uuid4())}
    reply = await api.get(f"/v2/queues/cq/subscriptions/{sid}", headers=headers,
                          identify=False)
    assert reply.status == 404
    other = await subscribe(api, "cq", receiver.url + "/other")
    reply = await api.put(f"/v2/queues/cq/subscriptions/{other}/confirm",
                          json={"confirmed": True}, headers=headers, identify=False)
    assert reply.status == 404


@REQUIRED
@pytest_twisted.ensureDeferred
async def test_subscribing_again_while_unconfirmed_sends_it_again(api, receiver):
    """An unconfirmed subscription subscribed again keeps its id and is asked again."""
    sid = await subscribe(api, "cq", receiver.url)
    assert await subscribe(api, "cq", receiver.url) == sid
    first, second = await receiver.wait_for(2)
    assert first.json["URL-Paths"] == second.json["URL-Paths"]


@REQUIRED
@pytest_twisted.ensureDeferred
async def test_unconfirming_sends_a_note_and_stops_deliveries(api, receiver):
    """PUT confirm false sends the unsubscribe note (its link confirms again) and stops
    deliveries; confirming again resumes them."""
    sid = await subscribe(api, "cq", receiver.url)
    (request,) = [one.json for one in await receiver.wait_for(1)]
    assert (await confirm_as_subscriber(api, request)).status == 204
    reply = await api.put(f"/v2/queues/cq/subscriptions/{sid}/confirm",
                          json={"confirmed": False})
    assert reply.status == 204
    note = (await receiver.wait_for(2))[1].json
    assert note["Message_Type"] == "UnsubscribeConfirmation"
    assert note["Message"] == ("You have unsubscribed successfully to the queue: cq, you can "
                               "resubscribe it by using confirmed=True.")
    await api.post_messages("cq", {"body": "while unconfirmed"})
    assert (await confirm_as_subscriber(api, note)).status == 204
    await api.post_messages("cq", {"body": "again"})
    third = (await receiver.wait_for(3))[2]
    assert third.json["body"] == "again"


@REQUIRED
@pytest_twisted.ensureDeferred
async def test_a_new_subscriber_must_confirm_again(api, receiver):
    """Changing a confirmed subscription's subscriber makes it unconfirmed, and the new
    subscriber is asked."""
    sid = await subscribe(api, "cq", receiver.url + "/old")
    (request,) = [one.json for one in await receiver.wait_for(1)]
    assert (await confirm_as_subscriber(api, request)).status == 204
    path = f"/v2/queues/cq/subscriptions/{sid}"
    assert (await api.patch(path, json={"subscriber": receiver.url + "/new"})).status == 204
    asked = (await receiver.wait_for(2))[1]
    assert (asked.path, asked.json["Message_Type"]) == ("/new", "SubscriptionConfirmation")
    assert (await api.get(path)).json["confirmed"] is False


@REQUIRED
@pytest_twisted.ensureDeferred
async def test_websocket_subscriptions_are_asked_too(client, receiver):  # noqa: F811
    """A subscription created over WebSocket gets the same request (one core operation)."""
    reply = await client.request("subscription_create", {
        "queue_name": "cq", "subscriber": receiver.url, "ttl": 600})
    assert reply.status == 201
    (got,) = await receiver.wait_for(1)
    assert got.json["Message_Type"] == "SubscriptionConfirmation"
    assert got.json["URL-Expires"] == "2023-11-14T22:23:20"  # the subscription's ttl


@pytest_twisted.ensureDeferred
async def test_without_confirmation_nothing_is_asked(api, receiver):
    """With require_confirmation off (the default), no request is sent; messages flow."""
    await subscribe(api, "cq", receiver.url)
    await api.post_messages("cq", {"body": "m"})
    (got,) = await receiver.wait_for(1)
    assert got.json["Message_Type"] == "Notification"


def test_confirmation_needs_a_signing_key():
    """require_confirmation without [signed_url] secret_key stops start-up."""
    with pytest.raises(ConfigError, match="require_confirmation needs"):
        configuration.load(None, [("notification", "require_confirmation", "true")])


@pytest.mark.zaqar_config(
    ("notification", "require_confirmation", "true"), ("signed_url", "secret_key", "k1"),
    ("notification", "smtp_command", "cat"),
)
@pytest_twisted.ensureDeferred
async def test_mailto_needs_a_confirmation_page(api):
    """Without external_confirmation_url, mailto subscriptions cannot be confirmed: 400."""
    reply = await api.post("/v2/queues/cq/subscriptions",
                           json={"subscriber": "mailto:a@example.com"})
    assert reply.status == 400
    assert "external_confirmation_url" in reply.json["description"]


@pytest_twisted.ensureDeferred
async def test_an_e_mail_subscriber_confirms_through_the_link(tmp_path):
    """The e-mail carries a link to the confirmation page whose query holds the pre-signed
    URL; the PUT it describes confirms; then notifications are mailed."""
    from twisted.internet import reactor

    smtp = await SmtpServer(reactor).start()
    lines = "".join(f"{k} = {v}\n" for k, v in smtp.config_lines(
        require_confirmation="true",
        external_confirmation_url="https://confirm.example.com/page").items())
    try:
        async with configured_service(
            tmp_path, "[signed_url]\nsecret_key = k1\n[notification]\n" + lines
        ) as client:
            status, body = await client.request("POST", "/v2/queues/mq/subscriptions", {
                "subscriber": "mailto:ops@example.com", "ttl": 3600})
            assert status == 201, body
            (mail,) = await smtp.wait_for(1)
            assert mail.recipients == ["ops@example.com"]
            assert mail.message["Subject"] == "Zaqar Notification - Subscription Confirmation"
            text = mail.text.strip()
            prefix = ("You have chosen to subscribe to the queue: mq. This queue belongs to "
                      f"project: {client.project}. To confirm this subscription, click or "
                      "visit this link below: ")
            assert text.startswith(prefix)
            link = urlsplit(text[len(prefix):])
            assert (link.scheme, link.netloc, link.path) == (
                "https", "confirm.example.com", "/page")
            query = {name: values[0] for name, values in
                     parse_qs(link.query, keep_blank_values=True).items()}
            assert query["Paths"] == (
                f"/v2/queues/mq/subscriptions/{body['subscription_id']}/confirm")
            assert (query["Methods"], query["Project"], query["Queue"], query["Url"]) == (
                "PUT", client.project, "mq", "")
            # What the confirmation page does with it:
            status, _ = await client.request("PUT", query["Paths"], {"confirmed": True}, headers={
                "URL-Signature": query["Signature"], "URL-Methods": query["Methods"],
                "URL-Paths": query["Paths"], "URL-Expires": query["Expires"],
                "X-Project-ID": query["Project"], "Client-ID": str(uuid.uuid4())})
            assert status == 204
            status, _ = await client.request("POST", "/v2/queues/mq/messages", {
                "messages": [{"body": "hello", "ttl": 300}]})
            assert status == 201
            second = (await smtp.wait_for(2))[1]
            assert json.loads(second.text)["body"] == "hello"
    finally:
        await smtp.stop()
