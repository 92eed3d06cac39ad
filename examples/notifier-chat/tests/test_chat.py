"""The chat notifier: its document, its options, and delivery through the REST API of a real
zaqar-tw configured to run it."""

import pytest
import pytest_twisted
from zope.interface.verify import verifyObject

from zaqar_notifier_chat import ChatNotifier
from zaqar_tw.config import Config
from zaqar_tw.interfaces import INotifier

PAYLOAD = {"body": {"order": 17}, "ttl": 300, "queue_name": "orders",
           "Message_Type": "Notification"}


def subscription(**options):
    return {"id": "i", "source": "orders", "subscriber": "chat+http://127.0.0.1:9/hook",
            "ttl": 60, "age": 0, "options": options, "confirmed": False, "project": "p"}


def test_provides_the_interface():
    """ChatNotifier provides INotifier and serves chat+http and chat+https."""
    notifier = ChatNotifier(None, Config(), {})
    assert verifyObject(INotifier, notifier)
    assert notifier.schemes == ("chat+http", "chat+https")


def test_document():
    """The text is the queue name and the compact JSON body; username and channel come
    from the subscription's options."""
    notifier = ChatNotifier(None, Config(), {})
    assert notifier.document(subscription(), PAYLOAD) == {"text": 'orders: {"order":17}'}
    assert notifier.document(subscription(username="zaqar", channel="#ops"), PAYLOAD) == {
        "text": 'orders: {"order":17}', "username": "zaqar", "channel": "#ops",
    }


def test_long_text_is_cut():
    """A text longer than max_length is cut to it, ending with an ellipsis."""
    notifier = ChatNotifier(None, Config(), {"max_length": "12"})
    text = notifier.document(subscription(), PAYLOAD)["text"]
    assert text == "orders: {\"o…"
    assert len(text) == 12


@pytest.mark.parametrize("options, error", [
    ({"max_length": "many"}, "max_length must be a whole number"),
    ({"max_length": "3"}, "max_length must be at least 10"),
])
def test_bad_options(options, error):
    """Bad [notifier:chat] options are refused with a clear message."""
    with pytest.raises(ValueError) as refused:
        ChatNotifier(None, Config(), options)
    assert str(refused.value) == error


def test_an_unknown_option_stops_start_up():
    """ChatNotifier declares its options, so zaqar-tw refuses a misspelt one at start-up,
    before building it."""
    from twisted.internet.testing import MemoryReactor

    from zaqar_tw import plugins
    from zaqar_tw.config import ConfigError

    config = Config()
    config.set("notification", "notifiers", "chat")
    config.set("notifier:chat", "max_lenght", "40")
    with pytest.raises(ConfigError) as refused:
        plugins.notifiers(config, MemoryReactor())
    assert str(refused.value) == (
        "unknown option 'max_lenght' in [notifier:chat] (known: max_length)"
    )


@pytest_twisted.ensureDeferred
async def test_a_posted_message_reaches_the_chat_server(api, chat_server):
    """A chat+http subscriber made over REST gets each posted message as a chat document,
    POSTed to its URL without chat+; a plain http subscriber still gets the webhook
    notification."""
    chat_url = "chat+" + chat_server.url + "/hook"
    status, reply = await api.request("POST", "/v2/queues/orders/subscriptions", {
        "subscriber": chat_url, "ttl": 3600, "options": {"username": "zaqar"},
    })
    assert status == 201, reply
    status, reply = await api.request("POST", "/v2/queues/orders/subscriptions", {
        "subscriber": chat_server.url + "/plain", "ttl": 3600,
    })
    assert status == 201, reply
    status, reply = await api.request("POST", "/v2/queues/orders/messages", {
        "messages": [{"body": {"order": 17, "note": "a rather long note that gets cut"}}],
    })
    assert status == 201, reply
    received = {request.path: request for request in await chat_server.wait_for(2)}
    chat = received["/hook"]
    assert chat.headers["content-type"] == "application/json"
    assert chat.json == {"text": 'orders: {"order":17,"note":"a rather lo…', "username": "zaqar"}
    assert len(chat.json["text"]) == 40
    assert received["/plain"].json["queue_name"] == "orders"


@pytest_twisted.ensureDeferred
async def test_unserved_schemes_are_refused(api):
    """A scheme that no enabled notifier serves is refused at subscription time."""
    status, reply = await api.request("POST", "/v2/queues/orders/subscriptions", {
        "subscriber": "pigeon://loft/3", "ttl": 3600,
    })
    assert status == 400, reply
