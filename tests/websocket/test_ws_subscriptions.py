"""Spec 2.2: the subscription actions, in JSON and in MessagePack (each test runs once per
encoding through the ``client`` fixture)."""

import uuid

import pytest
import pytest_twisted

from zaqar_tw.transport.websocket.actions import PUSH_UNAVAILABLE

HOOK = "http://127.0.0.1:9/hook"
BAD_NAME = "The format of the submitted queue name or project id is not valid."
TYPES = "The subscriber type of subscription must be supported in the list ['http', 'https', 'mailto', 'trust+http', 'trust+https']."
TTL_MIN = "The TTL for a subscription must be at least 60 seconds long."


def assert_error(reply, status, exception, error=...):
    """An error reply: its status, ``exception`` text and ``error`` (for 400: null; else, by
    default, the same text)."""
    if error is ...:
        error = None if status == 400 else exception
    assert (reply.status, reply.body) == (status, {"exception": exception, "error": error}), reply


def missing(subscription_id, queue="q"):
    """The body of a subscription_get of a subscription that does not exist."""
    return {"exception": f"Subscription {subscription_id} does not exist",
            "error": f"Subscription {subscription_id} for queue {queue} does not exist."}


async def subscribe(client, subscriber=HOOK, queue="q", **fields):
    body = await client.ok("subscription_create",
                           {"queue_name": queue, "subscriber": subscriber, **fields},
                           status=201)
    return body["subscription_id"]


async def confirm_over_rest(api, project, queue, subscription_id):
    """WebSocket has no confirm action: confirm through REST, in the client's project."""
    reply = await api.put(f"/v2/queues/{queue}/subscriptions/{subscription_id}/confirm",
                          json={"confirmed": True}, headers={"X-Project-ID": project})
    assert reply.status == 204, reply


@pytest_twisted.ensureDeferred
async def test_create_get_list_delete(client):
    """Create answers 201 with the id and a message; get and list show the subscription;
    delete answers 204 with a message, and the subscription is gone."""
    reply = await client.request("subscription_create", {
        "queue_name": "q", "subscriber": HOOK, "ttl": 120, "options": {"a": [1]}})
    assert reply.status == 201, reply
    subscription_id = reply.body["subscription_id"]
    assert reply.body == {"subscription_id": subscription_id,
                          "message": "Subscription q created."}
    assert str(uuid.UUID(subscription_id)) == subscription_id
    shown = {"id": subscription_id, "source": "q", "subscriber": HOOK, "ttl": 120, "age": 0,
             "options": {"a": [1]}, "confirmed": False}
    assert await client.ok("subscription_get", {
        "queue_name": "q", "subscription_id": subscription_id}) == shown
    assert await client.ok("subscription_list", {"queue_name": "q"}) == {
        "subscriptions": [shown]}
    assert [q["name"] for q in (await client.ok("queue_list"))["queues"]] == ["q"]

    reply = await client.request("subscription_delete", {
        "queue_name": "q", "subscription_id": subscription_id})
    assert (reply.status, reply.body) == (204, f"Subscription {subscription_id} removed.")
    reply = await client.request("subscription_get", {
        "queue_name": "q", "subscription_id": subscription_id})
    assert (reply.status, reply.body) == (404, missing(subscription_id))
    assert await client.ok("subscription_list", {"queue_name": "q"}) == {"subscriptions": []}
    reply = await client.request("subscription_delete", {
        "queue_name": "q", "subscription_id": subscription_id})
    assert reply.status == 204


@pytest_twisted.ensureDeferred
async def test_create_defaults(client):
    """Without ttl and options: the default ttl and ``{}``."""
    subscription_id = await subscribe(client)
    shown = await client.ok("subscription_get", {
        "queue_name": "q", "subscription_id": subscription_id})
    assert (shown["ttl"], shown["options"]) == (3600, {})


@pytest_twisted.ensureDeferred
async def test_create_without_subscriber_is_not_served(client):
    """A subscription pushed to this connection (no subscriber) is refused with a 400 that
    says a subscriber is required; nothing is created."""
    reply = await client.request("subscription_create", {"queue_name": "q", "ttl": 3600})
    assert_error(reply, 400, PUSH_UNAVAILABLE)
    assert "subscriber" in PUSH_UNAVAILABLE
    reply = await client.request("subscription_create", {"queue_name": "q", "subscriber": None})
    assert_error(reply, 400, PUSH_UNAVAILABLE)
    reply = await client.request("subscription_create", {"queue_name": "bad name"})
    assert_error(reply, 400, BAD_NAME)
    assert await client.ok("subscription_list", {"queue_name": "q"}) == {"subscriptions": []}


@pytest_twisted.ensureDeferred
async def test_duplicates(client, api):
    """A duplicate unconfirmed subscriber answers 201 with the existing id; once confirmed,
    409 with the reference's text."""
    first = await subscribe(client)
    reply = await client.request("subscription_create", {
        "queue_name": "q", "subscriber": HOOK, "ttl": 600})
    assert (reply.status, reply.body) == (201, {"subscription_id": first,
                                                "message": "Subscription q created."})
    await confirm_over_rest(api, client.project, "q", first)
    reply = await client.request("subscription_create", {"queue_name": "q", "subscriber": HOOK})
    assert (reply.status, reply.body) == (409, "Subscription q not created.")
    listed = await client.ok("subscription_list", {"queue_name": "q"})
    assert [(item["id"], item["confirmed"], item["ttl"]) for item in listed["subscriptions"]] == [
        (first, True, 3600)]


@pytest.mark.parametrize("body, exception", [
    ({"subscriber": "fake"}, TYPES),
    ({"subscriber": HOOK, "ttl": 59}, TTL_MIN),
    ({"subscriber": HOOK, "options": {"_retry_policy": {"retry_backoff_function": "x"}}},
     "invalid retry_backoff_function."),
    ({"subscriber": HOOK, "ttl": 2**63 - 1},
     "The TTL seconds for a subscription plus current time must be less than "
     "9999-12-31 23:59:59.999999."),
])
@pytest_twisted.ensureDeferred
async def test_create_validation(client, body, exception):
    """Create checks its fields as REST does: 400 with the same text."""
    reply = await client.request("subscription_create", {"queue_name": "q", **body})
    assert_error(reply, 400, exception)


@pytest.mark.parametrize("action, body", [
    ("subscription_create", {"subscriber": HOOK}),
    ("subscription_create", {"queue_name": "q", "subscriber": 5}),
    ("subscription_create", {"queue_name": "q", "subscriber": HOOK, "ttl": "60"}),
    ("subscription_create", {"queue_name": "q", "subscriber": HOOK, "ttl": 60.5}),
    ("subscription_create", {"queue_name": "q", "subscriber": HOOK, "options": "123"}),
    ("subscription_list", {}),
    ("subscription_list", {"queue_name": "q", "limit": "2"}),
    ("subscription_get", {"queue_name": "q"}),
    ("subscription_get", {"queue_name": "q", "subscription_id": 5}),
    ("subscription_delete", {"subscription_id": "x"}),
])
@pytest_twisted.ensureDeferred
async def test_schema(client, action, body):
    """Missing or mistyped fields fail the schema: 400."""
    reply = await client.request(action, body)
    assert (reply.status, reply.body["error"]) == (400, "Schema validation failed."), reply


@pytest_twisted.ensureDeferred
async def test_list_pages(client):
    """subscription_list takes ``marker`` and ``limit``, sorted by id, without links; a
    missing queue lists nothing; limit is bounded as on REST."""
    ids = sorted([await subscribe(client, f"http://example.com/{n}") for n in range(3)])
    page = await client.ok("subscription_list", {"queue_name": "q", "limit": 2})
    assert list(page) == ["subscriptions"]
    assert [item["id"] for item in page["subscriptions"]] == ids[:2]
    page = await client.ok("subscription_list", {"queue_name": "q", "marker": ids[1]})
    assert [item["id"] for item in page["subscriptions"]] == ids[2:]
    assert await client.ok("subscription_list", {"queue_name": "none"}) == {
        "subscriptions": []}
    reply = await client.request("subscription_list", {"queue_name": "q", "limit": 21})
    assert_error(reply, 400, "Limit must be at least 1 and may not be greater than 20.")
    reply = await client.request("subscription_list", {"queue_name": "q/x"})
    assert_error(reply, 400, BAD_NAME)


@pytest_twisted.ensureDeferred
async def test_get_in_another_queue_is_missing(client):
    """A subscription is found only in its own queue."""
    subscription_id = await subscribe(client, queue="a")
    reply = await client.request("subscription_get", {
        "queue_name": "b", "subscription_id": subscription_id})
    assert (reply.status, reply.body) == (404, missing(subscription_id, "b"))
    await client.ok("subscription_delete", {"queue_name": "b",
                                            "subscription_id": subscription_id})
    assert (await client.ok("subscription_get", {
        "queue_name": "a", "subscription_id": subscription_id}))["id"] == subscription_id


@pytest_twisted.ensureDeferred
async def test_expiry(client, clock):
    """A subscription ages with the clock and is gone once its ttl has passed."""
    subscription_id = await subscribe(client, ttl=60)
    clock.advance(59)
    shown = await client.ok("subscription_get", {
        "queue_name": "q", "subscription_id": subscription_id})
    assert shown["age"] == 59
    clock.advance(1)
    reply = await client.request("subscription_get", {
        "queue_name": "q", "subscription_id": subscription_id})
    assert (reply.status, reply.body) == (404, missing(subscription_id))
    assert await client.ok("subscription_list", {"queue_name": "q"}) == {"subscriptions": []}


@pytest_twisted.ensureDeferred
async def test_other_projects_never_see_or_touch_a_subscription(client, connect):
    """A connection of another project sees no subscription of this one and cannot delete
    it; the same subscriber there is another subscription."""
    subscription_id = await subscribe(client)
    stranger = await connect()
    stranger.binary = client.binary
    assert await stranger.ok("subscription_list", {"queue_name": "q"}) == {
        "subscriptions": []}
    reply = await stranger.request("subscription_get", {
        "queue_name": "q", "subscription_id": subscription_id})
    assert reply.status == 404
    await stranger.ok("subscription_delete", {"queue_name": "q",
                                              "subscription_id": subscription_id})
    assert await subscribe(stranger) != subscription_id
    assert (await client.ok("subscription_get", {
        "queue_name": "q", "subscription_id": subscription_id}))["id"] == subscription_id


@pytest_twisted.ensureDeferred
async def test_purge_subscriptions(client):
    """queue_purge of ``subscriptions`` removes them."""
    await subscribe(client)
    await client.ok("queue_purge", {"queue_name": "q", "resource_types": ["messages"]})
    assert len((await client.ok("subscription_list", {"queue_name": "q"}))["subscriptions"]) == 1
    await client.ok("queue_purge", {"queue_name": "q", "resource_types": ["subscriptions"]})
    assert await client.ok("subscription_list", {"queue_name": "q"}) == {"subscriptions": []}
