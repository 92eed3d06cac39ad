"""Keystone mode over WebSocket, against a real Keystone: ``authenticate`` binds the connection
to the token's identity; before it, and once that identity has expired or Keystone refuses
the token, every action gets 403 "Not authentified." until the client authenticates again,
on the same open connection."""

import pytest
import pytest_twisted

from tests.keystone.conftest import Bearer, wait_past

NOT_AUTHENTIFIED = (403, {"error": "Not authentified."})


async def authenticate(client, token, project="ignored"):
    """Send ``authenticate`` with ``token``; returns the reply."""
    return await client.request(
        "authenticate", headers=client.headers(**{"X-Auth-Token": token, "X-Project-ID": project})
    )


def bound_to(client, project):
    """Identify the client's later requests with ``project`` (frames must name the project
    the connection is bound to)."""
    client.project = project


@pytest_twisted.ensureDeferred
async def test_authenticate_binds_the_connection(connect, tenants, api):
    """Before authenticate every action is refused; after it the connection acts as the
    token's project, and REST with the same token sees the same queues."""
    project, token = await tenants.member("alice")
    ws = await connect(project)
    reply = await ws.request("queue_list")
    assert (reply.status, reply.body) == NOT_AUTHENTIFIED
    reply = await ws.request("queue_list", headers=ws.headers(**{"X-Auth-Token": token}))
    assert (reply.status, reply.body) == NOT_AUTHENTIFIED
    reply = await authenticate(ws, token, project)
    assert (reply.status, reply.body) == (200, {"message": "Authentified."})
    await ws.ok("queue_create", {"queue_name": "shared"})
    await ws.ok("message_post", {"queue_name": "shared", "messages": [{"body": "over ws"}]})
    listed = await Bearer(api, token).get("/v2/queues/shared/messages?echo=true")
    assert [message["body"] for message in listed.json["messages"]] == ["over ws"]


@pytest_twisted.ensureDeferred
async def test_bad_tokens_fail_authenticate(connect, tenants, keystone):
    """An invalid, malformed or unscoped token: authenticate answers 401 "Authentication
    failed." and the connection stays unauthenticated (and open)."""
    project = await tenants.project("alice")
    unscoped = await tenants.call(keystone.issue_token, "alice", {})
    ws = await connect(project)
    for token in ("gAAAAABnotarealtoken", "two words", unscoped):
        reply = await authenticate(ws, token, project)
        assert reply.status == 401, reply
        assert reply.body["error"] == "Authentication failed."
        reply = await ws.request("queue_list")
        assert (reply.status, reply.body) == NOT_AUTHENTIFIED


@pytest_twisted.ensureDeferred
async def test_other_project_stays_out(connect, tenants, api):
    """A connection bound to one project cannot reach another's queues by naming it in
    X-Project-ID (403 "Not authenticated."), and its own project holds its queues only."""
    project_a, alice_token = await tenants.member("alice")
    project_b, bob_token = await tenants.member("bob")
    await Bearer(api, alice_token).put("/v2/queues/private", json={})
    ws = await connect(project_b)
    assert (await authenticate(ws, bob_token, project_b)).status == 200
    bound_to(ws, project_a)
    reply = await ws.request("queue_list")
    assert (reply.status, reply.body) == (
        403, {"exception": "Not authenticated.", "error": "Not authenticated."})
    bound_to(ws, project_b)
    assert await ws.ok("queue_list") == {"queues": []}


@pytest_twisted.ensureDeferred
@pytest.mark.zaqar_config(("drivers:transport:websocket", "idle_timeout", "0"))
async def test_expired_identity_until_authenticated_again(connect, tenants, clock):
    """Once the clock passes the token's expiry, the next frame gets "Not authentified."
    (the connection stays open); authenticating again with a new token works."""
    project, token = await tenants.member("alice")
    ws = await connect(project)
    assert (await authenticate(ws, token, project)).status == 200
    await ws.ok("queue_list")
    clock.advance(3600)
    reply = await ws.request("queue_list")
    assert (reply.status, reply.body) == NOT_AUTHENTIFIED
    reply = await ws.request("queue_list")
    assert (reply.status, reply.body) == NOT_AUTHENTIFIED
    assert not ws.protocol.closed.called
    fresh = await tenants.token("alice", project)
    assert (await authenticate(ws, fresh, project)).status == 200
    await ws.ok("queue_list")


@pytest_twisted.ensureDeferred
async def test_revoked_token_refused_once_revalidated(connect, tenants, keystone, clock):
    """A token revoked in Keystone keeps its connection working until its cache entry ends
    (token_cache_time), then the next frame gets "Not authentified."."""
    project, token = await tenants.member("alice")
    ws = await connect(project)
    assert (await authenticate(ws, token, project)).status == 200
    await tenants.call(keystone.revoke, token)
    await ws.ok("queue_list")
    clock.advance(301)
    reply = await ws.request("queue_list")
    assert (reply.status, reply.body) == NOT_AUTHENTIFIED


@pytest_twisted.ensureDeferred
@pytest.mark.zaqar_config(("keystone_authtoken", "token_cache_time", "0"))
async def test_keystone_says_expired(connect, tenants):
    """With caching off, a token that Keystone itself holds expired is refused on the next
    frame ("Not authentified.").

    Expiry is Keystone's own, on its real clock, so this test waits for it: a few seconds
    (tenants.short_lived says why).
    """
    project = await tenants.project("alice")
    token, document = await tenants.short_lived("alice", project)
    ws = await connect(project)
    assert (await authenticate(ws, token, project)).status == 200
    await ws.ok("queue_list")
    await wait_past(document["expires_at"])
    reply = await ws.request("queue_list")
    assert (reply.status, reply.body) == NOT_AUTHENTIFIED


@pytest_twisted.ensureDeferred
async def test_keystone_failing_gives_503(connect, tenants, relay):
    """Keystone answering 500: authenticate gets 503, and works once Keystone recovers."""
    project, token = await tenants.member("alice")
    ws = await connect(project)
    relay.failing = True
    reply = await authenticate(ws, token, project)
    assert reply.status == 503, reply
    relay.failing = False
    assert (await authenticate(ws, token, project)).status == 200
