"""Notifications end to end: subscribe and post over the REST API of the in-process service
(which runs the configured notifiers, by default the webhook), and a real HTTP subscriber on
127.0.0.1 receives them (spec 5.2)."""

import pytest
import pytest_twisted
from twisted.logger import LogLevel


async def subscribe(api, queue, subscriber, **options):
    reply = await api.post(
        f"/v2/queues/{queue}/subscriptions",
        json={"subscriber": subscriber, "ttl": 3600, "options": options},
    )
    assert reply.status == 201, reply
    return reply.json["subscription_id"]


@pytest_twisted.ensureDeferred
async def test_posted_messages_reach_the_webhook(api, receiver):
    """Each posted message reaches a subscribed http URI as one POST of its notification."""
    await subscribe(api, "nq", receiver.url + "/hook", post_headers={"X-Token": "t"})
    await api.post_messages("nq", {"body": {"event": "a"}, "ttl": 300}, {"body": "b"})
    first, second = await receiver.wait_for(2)
    assert first.path == "/hook"
    assert first.headers["x-token"] == "t"
    assert first.json == {
        "body": {"event": "a"}, "ttl": 300, "queue_name": "nq", "Message_Type": "Notification"
    }
    assert second.json["body"] == "b"
    assert second.json["ttl"] == 3600


@pytest_twisted.ensureDeferred
async def test_delayed_queue_notifications_carry_the_delay(api, receiver):
    """On a queue with a default delay, the notification carries each message's delay."""
    await api.create_queue("dq", {"_default_message_delay": 20})
    await subscribe(api, "dq", receiver.url)
    await api.post_messages("dq", {"body": 1}, {"body": 2, "delay": 0})
    first, second = await receiver.wait_for(2)
    assert (first.json["delay"], second.json["delay"]) == (20, 0)


@pytest_twisted.ensureDeferred
async def test_post_data_reaches_the_subscriber(api, receiver):
    """options.post_data wraps the notification as the subscriber asked."""
    await subscribe(
        api, "nq", receiver.url,
        post_data='{"messages": [{"body": "$zaqar_message$", "ttl": 60}]}',
    )
    await api.post_messages("nq", {"body": {"x": 1}, "ttl": 120})
    (received,) = await receiver.wait_for(1)
    assert received.json == {"messages": [{"body": {
        "body": {"x": 1}, "ttl": 120, "queue_name": "nq", "Message_Type": "Notification"
    }, "ttl": 60}]}


@pytest_twisted.ensureDeferred
async def test_a_failing_subscriber_does_not_fail_the_post(api, receiver, logged):
    """A subscriber answering 500 gets its one attempt; the post still answers 201 and the
    failure is logged as a warning."""
    receiver.status = 500
    sid = await subscribe(api, "nq", receiver.url)
    await api.post_messages("nq", {"body": 1})
    await receiver.wait_for(1)
    from tests.waiting import wait_until

    events = await wait_until(
        lambda: [e for e in logged if e.get("subscription") == sid], timeout=10,
        what="the failure to be logged",
    )
    (event,) = events
    assert event["log_level"] == LogLevel.warn
    assert event["log_failure"].value.status == 500
    assert len(receiver.requests) == 1


@pytest_twisted.ensureDeferred
async def test_queues_of_other_projects_are_not_notified(api, receiver):
    """A post notifies the subscriptions of its own queue only, not a same-named queue of
    another project or another queue."""
    await subscribe(api, "nq", receiver.url + "/mine")
    await subscribe(api, "other", receiver.url + "/other")
    await api.post_messages("nq", {"body": "x"}, headers={"X-Project-ID": "someone-else"})
    await api.post_messages("nq", {"body": "y"})
    (received,) = await receiver.wait_for(1)
    assert (received.path, received.json["body"]) == ("/mine", "y")


@pytest.mark.zaqar_config(("notification", "notifiers", ""))
@pytest_twisted.ensureDeferred
async def test_without_notifiers_nothing_can_subscribe(api, receiver):
    """With no notifier enabled, no subscriber type is accepted."""
    reply = await api.post(
        "/v2/queues/nq/subscriptions", json={"subscriber": receiver.url, "ttl": 3600}
    )
    assert reply.status == 400, reply
