"""python-zaqarclient 4.7 in Keystone mode: its ``keystone`` auth backend (keystoneauth1
authenticating with a password at the test Keystone) runs queue, message and claim calls
over REST, and its WebSocket transport authenticates with a Keystone token.

The client is synchronous, so each scenario runs in a thread while the reactor serves.
"""

import json

import pytest_twisted
from twisted.internet.threads import deferToThread

from tests.keystone_server import ACCOUNTS


def keystone_client(api, keystone, project):
    """A REST client of ``api`` authenticating as alice in ``project`` through Keystone."""
    from zaqarclient.queues import client

    alice = ACCOUNTS["alice"]
    return client.Client(api.url, version=2, conf={"auth_opts": {
        "backend": "keystone",
        "options": {
            "os_auth_url": keystone.url + "/v3",
            "os_username": alice.user,
            "os_password": alice.password,
            "os_user_domain_name": "Default",
            "os_project_id": project,
        },
    }})


@pytest_twisted.ensureDeferred
async def test_queues_messages_and_claims_over_rest(api, keystone, tenants, relay):
    """Create a queue, post, list, claim, delete claimed messages and release a claim; the
    queue lives in the token's project."""
    project = await tenants.project("alice")

    def scenario():
        zaqar = keystone_client(api, keystone, project)
        queue = zaqar.queue("jobs", force_create=True)
        queue.post([{"body": {"n": index}, "ttl": 300} for index in range(3)])
        assert [message.body for message in queue.messages(echo=True)] == [
            {"n": 0}, {"n": 1}, {"n": 2}]
        claim = queue.claim(ttl=120, grace=60, limit=2)
        claimed = list(claim)
        assert [message.body for message in claimed] == [{"n": 0}, {"n": 1}]
        claimed[0].delete()
        claim.delete()
        assert sorted(m.body["n"] for m in queue.messages(echo=True)) == [1, 2]
        assert [q.name for q in zaqar.queues()[0]] == ["jobs"]
        stats = queue.stats["messages"]
        assert (stats["free"], stats["claimed"]) == (2, 0)

    await deferToThread(scenario)
    # The client authenticates anew for each call: each of its tokens was validated.
    assert relay.calls("GET") >= 9
    reply = await api.get("/v2/queues", headers={"X-Project-ID": project})
    assert reply.status == 401  # without a token, naming the project is not enough


@pytest_twisted.ensureDeferred
async def test_websocket_transport(ws_server, tenants):
    """The client's WebSocket transport authenticates with a Keystone token first, then
    creates a queue, posts and lists messages in the token's project."""
    from zaqarclient.transport import get_transport_for
    from zaqarclient.transport.request import Request

    project, token = await tenants.member("alice")
    url = ws_server.url

    def scenario():
        options = {"auth_opts": {"backend": "keystone",
                                 "options": {"os_project_id": project, "os_auth_token": token}}}
        with get_transport_for(url, version=2, options=options) as ws:
            def send(operation, content):
                request = Request(url, operation, content=json.dumps(content))
                return ws.send(request).deserialized_content

            assert send("queue_create", {"queue_name": "jobs"}) == "Queue jobs created."
            posted = send("message_post", {"queue_name": "jobs", "messages": [{"body": 1}]})
            assert len(posted["message_ids"]) == 1
            listed = send("message_list", {"queue_name": "jobs", "echo": True})
            assert [message["body"] for message in listed["messages"]] == [1]

    await deferToThread(scenario)
