"""Messages posted over WebSocket notify the queue's subscribers as REST posts do (the same
core and dispatcher), here through the built-in webhook to a real HTTP subscriber."""

import pytest_twisted

from tests.notify.receiver import Receiver


@pytest_twisted.ensureDeferred
async def test_message_post_notifies_the_webhook(ws, storage):
    """A message_post over WebSocket reaches an http subscriber of the queue."""
    from twisted.internet import reactor

    receiver = await Receiver(reactor).start()
    try:
        await storage.subscriptions.create(ws.project, "wq", receiver.url + "/ws", 3600, {})
        await ws.ok("message_post", {"queue_name": "wq", "messages": [
            {"body": {"via": "ws"}, "ttl": 120}]}, status=201)
        (received,) = await receiver.wait_for(1)
        assert received.path == "/ws"
        assert received.json == {
            "body": {"via": "ws"}, "ttl": 120, "queue_name": "wq",
            "Message_Type": "Notification",
        }
    finally:
        await receiver.stop()
