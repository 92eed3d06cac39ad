"""The stamp filter, through the REST API of a real zaqar-tw configured to run it."""

import pytest_twisted
from zope.interface.verify import verifyObject

from zaqar_filter_stamp import REDACTED, StampFilter
from zaqar_tw.config import Config
from zaqar_tw.context import RequestContext
from zaqar_tw.interfaces import IMessageFilter

SECRET = {"order": 17, "card": "4111-1111", "pin": "0000"}
HIDDEN = {"order": 17, "card": REDACTED, "pin": REDACTED, "received_by": "node-7"}
SHOWN = {**SECRET, "received_by": "node-7"}


def test_provides_the_interface():
    """StampFilter provides IMessageFilter."""
    assert verifyObject(IMessageFilter, StampFilter(Config(), {}))


def test_defaults():
    """Without options it stamps with the host name, redacts nothing, reveals to admin."""
    import socket

    stamp = StampFilter(Config(), {})
    assert (stamp.received_by, stamp.redact, stamp.reveal_to) == (
        socket.gethostname(), (), "admin"
    )
    reader = RequestContext(project="p", client_id="c")
    messages = [{"body": {"card": 1}}]
    assert stamp.on_read(messages, None, reader) == [{"body": {"card": 1}}]


async def post(api, *bodies):
    status, reply = await api.request(
        "POST", "/v2/queues/q/messages", {"messages": [{"body": body} for body in bodies]}
    )
    assert status == 201, reply
    return [href.rsplit("/", 1)[1] for href in reply["resources"]]


@pytest_twisted.ensureDeferred
async def test_posted_messages_come_back_stamped_and_redacted(api):
    """A posted object body is read back with received_by, its secret keys redacted."""
    (message_id,) = await post(api, SECRET)
    status, message = await api.request("GET", f"/v2/queues/q/messages/{message_id}")
    assert status == 200
    assert message["body"] == HIDDEN
    status, listed = await api.request("GET", "/v2/queues/q/messages?echo=true")
    assert [m["body"] for m in listed["messages"]] == [HIDDEN]


@pytest_twisted.ensureDeferred
async def test_the_reveal_role_sees_everything(api):
    """A reader holding the reveal_to role (auditor) sees the stored values."""
    (message_id,) = await post(api, SECRET)
    _, message = await api.request(
        "GET", f"/v2/queues/q/messages/{message_id}", roles="auditor"
    )
    assert message["body"] == SHOWN


@pytest_twisted.ensureDeferred
async def test_claims_and_pop_are_redacted_too(api):
    """Claimed and popped messages are redacted like listed ones."""
    await post(api, SECRET, SECRET)
    status, claimed = await api.request("POST", "/v2/queues/q/claims?limit=1", {})
    assert status == 201
    assert [m["body"] for m in claimed["messages"]] == [HIDDEN]
    status, popped = await api.request("DELETE", "/v2/queues/q/messages?pop=1")
    assert [m["body"] for m in popped["messages"]] == [HIDDEN]


@pytest_twisted.ensureDeferred
async def test_a_poster_cannot_forge_the_stamp(api):
    """A received_by sent by the poster is replaced by the configured one."""
    (message_id,) = await post(api, {"received_by": "someone-else"})
    _, message = await api.request("GET", f"/v2/queues/q/messages/{message_id}")
    assert message["body"] == {"received_by": "node-7"}


@pytest_twisted.ensureDeferred
async def test_other_bodies_pass_untouched(api):
    """Bodies that are not JSON objects are stored and read as posted."""
    await post(api, "card", [1, 2], None)
    _, listed = await api.request("GET", "/v2/queues/q/messages?echo=true")
    assert [m["body"] for m in listed["messages"]] == ["card", [1, 2], None]


def test_a_typo_in_its_section_stops_start_up():
    """StampFilter declares its options, so zaqar-tw refuses a misspelt one at start-up."""
    import pytest

    from zaqar_tw import plugins
    from zaqar_tw.config import ConfigError

    config = Config()
    config.set("filters", "chain", "stamp")
    config.set("filter:stamp", "recieved_by", "node-7")
    with pytest.raises(ConfigError) as refused:
        plugins.filter_chain(config)
    assert str(refused.value) == (
        "unknown option 'recieved_by' in [filter:stamp] (known: received_by, redact, reveal_to)"
    )
