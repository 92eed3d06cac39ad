"""Rate limits and quotas over WebSocket ([limits]): status 429 in the envelope, the wait in
the body's ``retry_after``; the same buckets and quotas as REST (in JSON and in
MessagePack, through the ``client`` fixture)."""

import pytest
import pytest_twisted

HOOK = "http://127.0.0.1:9/hook"
RATE = ("Rate limit exceeded for write requests: 2 at once, 0.5 per second on average. "
        "Retry in {} s.")


def refused(reply, exception, retry_after=None):
    """Assert a 429 reply with this text (and ``retry_after`` when given)."""
    body = {"exception": exception, "error": exception}
    if retry_after is not None:
        body["retry_after"] = retry_after
    assert (reply.status, reply.body) == (429, body), reply


def post(client, queue, count=1):
    return client.request("message_post", {
        "queue_name": queue, "messages": [{"body": i} for i in range(count)]})


def subscribe(client, queue, subscriber=HOOK):
    return client.request("subscription_create", {
        "queue_name": queue, "subscriber": subscriber, "ttl": 60})


@pytest.mark.zaqar_config(("limits", "write_rate", "0.5"), ("limits", "write_burst", "2"))
@pytest_twisted.ensureDeferred
async def test_rate_limit(client, clock):
    """The write bucket empties after two writes; the 429 says when to retry; the clock
    refills it; reads have no bucket here."""
    assert (await client.request("queue_create", {"queue_name": "q"})).status == 201
    assert (await post(client, "q")).status == 201
    refused(await post(client, "q"), RATE.format(2), retry_after=2)
    clock.advance(1.9)
    refused(await client.request("queue_delete", {"queue_name": "q"}), RATE.format(1),
            retry_after=1)
    assert (await client.request("message_list", {"queue_name": "q"})).status == 200
    clock.advance(0.1)
    assert (await post(client, "q")).status == 201


@pytest.mark.zaqar_config(("limits", "max_queues_per_project", "1"))
@pytest_twisted.ensureDeferred
async def test_queue_quota(client):
    """Past one queue, queue_create, message_post and subscription_create of a new queue
    are refused, without a retry_after."""
    full = "Queue quota exceeded: a project may have at most 1 queues."
    assert (await client.request("queue_create", {"queue_name": "a"})).status == 201
    refused(await client.request("queue_create", {"queue_name": "b"}), full)
    refused(await post(client, "b"), full)
    refused(await subscribe(client, "b"), full)
    assert (await post(client, "a")).status == 201
    assert await client.ok("queue_list") == {"queues": [{"name": "a"}]}


@pytest.mark.zaqar_config(("limits", "max_messages_per_queue", "2"))
@pytest_twisted.ensureDeferred
async def test_message_quota(client):
    """A post that would leave more than two messages is refused whole."""
    full = "Message quota exceeded: a queue may hold at most 2 messages."
    assert (await post(client, "q")).status == 201
    refused(await post(client, "q", 2), full)
    assert (await post(client, "q")).status == 201
    refused(await post(client, "q"), full)
    stats = await client.ok("queue_get_stats", {"queue_name": "q"})
    assert stats["messages"]["total"] == 2


@pytest.mark.zaqar_config(("limits", "max_subscriptions_per_queue", "1"))
@pytest_twisted.ensureDeferred
async def test_subscription_quota(client):
    """A second subscriber of a queue is refused."""
    assert (await subscribe(client, "q")).status == 201
    refused(await subscribe(client, "q", HOOK + "2"),
            "Subscription quota exceeded: a queue may have at most 1 subscriptions.")
    assert (await subscribe(client, "r", HOOK + "2")).status == 201
