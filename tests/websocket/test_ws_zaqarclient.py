"""python-zaqarclient 4.7's WebSocket transport (no-auth) against the real in-process server.

The client is synchronous (websocket-client), so each scenario runs in a thread while the
reactor serves.  It sends ``authenticate`` first, then one request per call, reading one
reply.  Its transport does not send request parameters (it logs "Websocket transport does
not yet support params."), so everything goes in the request content, as its own docstring
shows; its high-level objects only work for calls without parameters (``queues()``).
"""

import json
import uuid

import pytest
import pytest_twisted
from twisted.internet.threads import deferToThread


def options(project):
    """The client's configuration: no-auth, a project, and the token it insists on."""
    return {"auth_opts": {"backend": "noauth",
                          "options": {"os_project_id": project, "os_auth_token": "noauth"}}}


def transport(ws_server, project):
    from zaqarclient.transport import get_transport_for

    return get_transport_for(ws_server.url, version=2, options=options(project))


def send(ws, url, operation, content=None):
    """One request through the client's transport; its deserialized reply body."""
    from zaqarclient.transport.request import Request

    request = Request(url, operation,
                      content=None if content is None else json.dumps(content))
    return ws.send(request).deserialized_content


@pytest_twisted.ensureDeferred
async def test_queues(ws_server):
    """Create, get, update, stats, list and delete queues."""
    url = ws_server.url

    def scenario():
        with transport(ws_server, uuid.uuid4().hex) as ws:
            assert send(ws, url, "queue_create", {"queue_name": "jobs",
                                                  "metadata": {"color": "red"}}) == (
                "Queue jobs created.")
            assert send(ws, url, "queue_create", {"queue_name": "more"}) == "Queue more created."
            assert send(ws, url, "queue_get", {"queue_name": "jobs"}) == {"color": "red"}
            updated = send(ws, url, "queue_update", {"queue_name": "jobs", "changes": [
                {"op": "replace", "path": "/metadata/color", "value": "blue"}]})
            assert updated["color"] == "blue"
            assert send(ws, url, "queue_list", {"detailed": True}) == {"queues": [
                {"name": "jobs", "metadata": {"color": "blue"}},
                {"name": "more", "metadata": {}},
            ]}
            stats = send(ws, url, "queue_get_stats", {"queue_name": "jobs"})
            assert stats == {"messages": {"claimed": 0, "free": 0, "total": 0}}
            assert send(ws, url, "queue_delete", {"queue_name": "more"}) == "Queue more removed."
            assert send(ws, url, "queue_list") == {"queues": [{"name": "jobs"}]}

    await deferToThread(scenario)


@pytest_twisted.ensureDeferred
async def test_messages(ws_server):
    """Post, list, get, get many, delete and pop messages."""
    url = ws_server.url

    def scenario():
        with transport(ws_server, uuid.uuid4().hex) as ws:
            ids = send(ws, url, "message_post", {"queue_name": "q", "messages": [
                {"body": {"n": n}, "ttl": 300} for n in range(4)]})["message_ids"]
            assert len(ids) == 4
            listed = send(ws, url, "message_list", {"queue_name": "q", "echo": True})
            assert [m["body"] for m in listed["messages"]] == [{"n": n} for n in range(4)]
            one = send(ws, url, "message_get", {"queue_name": "q", "message_id": ids[0]})
            assert one["messages"]["id"] == ids[0]
            many = send(ws, url, "message_get_many", {"queue_name": "q",
                                                      "message_ids": ids[1:3]})
            assert [m["id"] for m in many["messages"]] == ids[1:3]
            assert send(ws, url, "message_delete", {"queue_name": "q",
                                                    "message_id": ids[0]}) == {}
            popped = send(ws, url, "message_delete_many", {"queue_name": "q", "pop": 1})
            assert [m["id"] for m in popped["messages"]] == [ids[1]]
            send(ws, url, "message_delete_many", {"queue_name": "q", "message_ids": ids[2:]})
            assert send(ws, url, "message_list", {"queue_name": "q", "echo": True}) == {
                "messages": []}

    await deferToThread(scenario)


@pytest_twisted.ensureDeferred
async def test_claims(ws_server):
    """Claim, get, renew, delete a claimed message with its claim, release."""
    url = ws_server.url

    def scenario():
        with transport(ws_server, uuid.uuid4().hex) as ws:
            ids = send(ws, url, "message_post", {"queue_name": "q", "messages": [
                {"body": n} for n in range(3)]})["message_ids"]
            claim = send(ws, url, "claim_create", {"queue_name": "q", "ttl": 120,
                                                   "grace": 60, "limit": 2})
            claim_id = claim["claim_id"]
            assert [m["id"] for m in claim["messages"]] == ids[:2]
            got = send(ws, url, "claim_get", {"queue_name": "q", "claim_id": claim_id})
            assert got["ttl"] == 120
            assert send(ws, url, "claim_update", {"queue_name": "q", "claim_id": claim_id,
                                                  "ttl": 200}) == f"Claim {claim_id} updated."
            send(ws, url, "message_delete", {"queue_name": "q", "message_id": ids[0],
                                             "claim_id": claim_id})
            assert send(ws, url, "claim_delete", {"queue_name": "q",
                                                  "claim_id": claim_id}) == (
                f"Claim {claim_id} deleted.")
            again = send(ws, url, "claim_create", {"queue_name": "q"})
            assert [m["id"] for m in again["messages"]] == ids[1:]

    await deferToThread(scenario)


@pytest_twisted.ensureDeferred
async def test_subscriptions(ws_server):
    """Subscribe a webhook (again: the same id while unconfirmed), list, get, delete."""
    from zaqarclient.transport import errors

    url = ws_server.url
    hook = "http://127.0.0.1:9/hook"  # never called: nothing is posted to the queue

    def scenario():
        with transport(ws_server, uuid.uuid4().hex) as ws:
            created = send(ws, url, "subscription_create", {
                "queue_name": "q", "subscriber": hook, "ttl": 600, "options": {"a": 1}})
            subscription_id = created["subscription_id"]
            assert created["message"] == "Subscription q created."
            again = send(ws, url, "subscription_create", {"queue_name": "q",
                                                          "subscriber": hook})
            assert again["subscription_id"] == subscription_id
            shown = {"id": subscription_id, "source": "q", "subscriber": hook, "ttl": 600,
                     "age": 0, "options": {"a": 1}, "confirmed": False}
            got = send(ws, url, "subscription_get", {"queue_name": "q",
                                                     "subscription_id": subscription_id})
            assert got == shown
            assert send(ws, url, "subscription_list", {"queue_name": "q"}) == {
                "subscriptions": [shown]}
            assert send(ws, url, "subscription_delete", {
                "queue_name": "q", "subscription_id": subscription_id}) == (
                f"Subscription {subscription_id} removed.")
            with pytest.raises(errors.ResourceNotFound):
                send(ws, url, "subscription_get", {"queue_name": "q",
                                                   "subscription_id": subscription_id})
            assert send(ws, url, "subscription_list", {"queue_name": "q"}) == {
                "subscriptions": []}

    await deferToThread(scenario)


@pytest_twisted.ensureDeferred
async def test_errors_become_client_exceptions(ws_server):
    """Error replies raise the client's exceptions, with the reply's ``error`` as the
    description."""
    from zaqarclient.transport import errors

    url = ws_server.url

    def scenario():
        with transport(ws_server, uuid.uuid4().hex) as ws:
            with pytest.raises(errors.ResourceNotFound) as raised:
                send(ws, url, "claim_get", {"queue_name": "q", "claim_id": "nope"})
            assert "Claim nope does not exist" in str(raised.value)
            with pytest.raises(errors.MalformedRequest):
                send(ws, url, "queue_create", {"queue_name": "bad name"})
            with pytest.raises(errors.MalformedRequest):
                send(ws, url, "queue_get")
            assert send(ws, url, "queue_list") == {"queues": []}

    await deferToThread(scenario)


@pytest_twisted.ensureDeferred
async def test_high_level_client_lists_queues(ws_server, connect):
    """The high-level Client over ws:// authenticates and lists queues (a call without
    parameters)."""
    from zaqarclient.queues import client

    project = uuid.uuid4().hex
    seeded = await connect(project)
    for name in ("a", "b"):
        await seeded.ok("queue_create", {"queue_name": name})

    def scenario():
        zaqar = client.Client(ws_server.url, version=2, conf=options(project))
        queues, count = zaqar.queues()
        return [queue.name for queue in queues]

    assert await deferToThread(scenario) == ["a", "b"]
