"""Keystone mode over REST, against a real Keystone: who a token identifies, what a missing,
malformed, invalid, unscoped, revoked or expired token gets, and what happens while Keystone
is away."""

import pytest
import pytest_twisted
from twisted.internet import defer
from twisted.internet.threads import deferToThread
from twisted.logger import formatEvent

from tests.keystone.conftest import Bearer, wait_past

UNAUTHORIZED = {"error": {"code": 401, "title": "Unauthorized",
                          "message": "The request you have made requires authentication."}}
CHALLENGE = 'Keystone uri="http://keystone.example.com:5000"'


def assert_unauthorized(reply, message=UNAUTHORIZED["error"]["message"]):
    """keystonemiddleware's 401: its body and its WWW-Authenticate header."""
    assert reply.status == 401, reply
    assert reply.json == {"error": {**UNAUTHORIZED["error"], "message": message}}
    assert reply.headers["www-authenticate"] == CHALLENGE


@pytest_twisted.ensureDeferred
async def test_the_token_says_who_calls(api, tenants, keystone, authenticator):
    """A valid token's project, user and roles make the context; the project headers the
    client sends are ignored (queues land in the token's project)."""
    project, token = await tenants.member("alice")
    alice = Bearer(api, token)
    reply = await alice.put("/v2/queues/jobs", json={}, headers={
        "X-Project-ID": "someone-else", "X-Tenant-ID": "someone-else"})
    assert reply.status == 201, reply
    listed = await alice.get("/v2/queues")
    assert [queue["name"] for queue in listed.json["queues"]] == ["jobs"]
    ctx = await authenticator.authenticate(
        {"x-auth-token": token, "client-id": api.client_id, "x-roles": "admin"}, "GET", "/v2/"
    )
    assert ctx.project == project
    assert ctx.user == keystone.user_ids["alice"]
    assert set(ctx.roles) == {"member", "reader"}
    assert ctx.token == token
    assert not ctx.is_admin  # X-Roles is not believed in Keystone mode
    assert ctx.expires > api.clock.seconds() + 3000  # Keystone's tokens last an hour


@pytest_twisted.ensureDeferred
async def test_other_projects_token_sees_only_its_own(api, tenants):
    """A token of another project sees only that project's queues, even when it sends the
    first project's id in X-Project-ID."""
    project_a, alice_token = await tenants.member("alice")
    _, bob_token = await tenants.member("bob")
    alice, bob = Bearer(api, alice_token), Bearer(api, bob_token)
    await alice.put("/v2/queues/secret", json={})
    await alice.post("/v2/queues/secret/messages", json={"messages": [{"body": "a's"}]})
    for headers in ({"X-Project-ID": project_a}, {}):
        listed = await bob.get("/v2/queues", headers=headers)
        assert listed.json["queues"] == [], listed
        messages = await bob.get("/v2/queues/secret/messages?echo=true", headers=headers)
        assert messages.status == 200 and messages.json["messages"] == [], messages
    assert (await alice.get("/v2/queues")).json["queues"][0]["name"] == "secret"


@pytest_twisted.ensureDeferred
@pytest.mark.zaqar_config(("DEFAULT", "admin_mode", "true"))
async def test_roles_come_from_the_token(api, tenants, keystone):
    """Admin rules pass for a token holding the admin role, not for a member's token that
    sends X-Roles: admin."""
    _, token = await tenants.member("alice")
    reply = await Bearer(api, token).get("/v2/health", headers={"X-Roles": "admin"})
    assert reply.status == 403, reply
    admin = await tenants.call(keystone.issue_token, "admin")
    assert (await Bearer(api, admin).get("/v2/health")).status == 200


@pytest_twisted.ensureDeferred
async def test_missing_token(api, relay):
    """Without a token: 401 (before the Client-ID check: the 401 wins over a missing
    Client-ID's 400), with keystonemiddleware's body and WWW-Authenticate; Keystone is not
    asked."""
    assert_unauthorized(await api.get("/v2/queues"))
    assert_unauthorized(await api.get("/v2/queues", identify=False))
    assert_unauthorized(await api.get("/v2/queues", headers={"X-Auth-Token": ""}))
    assert relay.calls("GET") == 0
    assert (await api.get("/", identify=False)).status == 300  # the versions need no token


@pytest_twisted.ensureDeferred
async def test_client_id_still_required(api, tenants):
    """With a valid token, the Client-ID rules of the API still apply (400)."""
    _, token = await tenants.member("alice")
    alice = Bearer(api, token)
    reply = await alice.get("/v2/queues", headers={"Client-ID": None})
    assert (reply.status, reply.error) == (
        400, ("Missing header value", 'The "Client-Id" header is required.'))
    reply = await alice.get("/v2/queues", headers={"Client-ID": "not-a-uuid"})
    assert (reply.status, reply.error) == (400, ("Wrong UUID value", "Malformed hexadecimal UUID."))


@pytest_twisted.ensureDeferred
async def test_malformed_tokens_never_reach_keystone(api, relay):
    """Tokens with spaces, control or non-ASCII characters, or longer than 8 KiB get 401
    without a call to Keystone."""
    for token in ("two words", "tab\tbed", "caf\u00e9", "x" * 8193):
        reply = await api.get("/v2/queues", headers={"X-Auth-Token": token})
        assert_unauthorized(reply)
    assert relay.calls("GET") == 0


@pytest_twisted.ensureDeferred
async def test_invalid_token_is_refused_and_remembered(api, relay):
    """A well-formed token Keystone does not know gets 401; a repeat within a minute is
    refused without asking Keystone again."""
    bogus = "gAAAAABnotarealtokennotarealtokennotarealtoken"
    assert_unauthorized(await api.get("/v2/queues", headers={"X-Auth-Token": bogus}))
    assert relay.calls("GET") == 1
    assert_unauthorized(await api.get("/v2/queues", headers={"X-Auth-Token": bogus}))
    assert relay.calls("GET") == 1
    api.advance(61)
    assert_unauthorized(await api.get("/v2/queues", headers={"X-Auth-Token": bogus}))
    assert relay.calls("GET") == 2


@pytest_twisted.ensureDeferred
async def test_unscoped_token(api, keystone):
    """A token not scoped to a project gets 401 saying so."""
    token = await deferToThread(keystone.issue_token, "alice", {})
    reply = await api.get("/v2/queues", headers={"X-Auth-Token": token})
    assert_unauthorized(
        reply,
        "The token is not scoped to a project; this service needs a project-scoped token.",
    )


@pytest_twisted.ensureDeferred
async def test_revoked_token_lasts_until_its_cache_entry_ends(api, tenants, keystone, relay):
    """A token revoked in Keystone is still accepted while cached (token_cache_time, 300 s
    by default), then refused once the clock passes that."""
    _, token = await tenants.member("alice")
    alice = Bearer(api, token)
    assert (await alice.get("/v2/queues")).status == 200
    await tenants.call(keystone.revoke, token)
    api.advance(299)
    assert (await alice.get("/v2/queues")).status == 200
    assert relay.calls("GET") == 1
    api.advance(2)
    assert_unauthorized(await alice.get("/v2/queues"))
    assert relay.calls("GET") == 2


def _cache_time(text):
    return pytest.mark.zaqar_config(("keystone_authtoken", "token_cache_time", text))


@pytest_twisted.ensureDeferred
@pytest.mark.parametrize("calls", [
    pytest.param((1, 2), marks=_cache_time("30"), id="30"),
    pytest.param((3, 4), marks=_cache_time("-1"), id="off"),
])
async def test_token_cache_time(api, tenants, relay, calls):
    """token_cache_time bounds how long a validation is reused; -1 (or 0) asks Keystone
    for every request."""
    _, token = await tenants.member("alice")
    alice = Bearer(api, token)
    for _ in range(3):
        assert (await alice.get("/v2/queues")).status == 200
    assert relay.calls("GET") == calls[0]
    api.advance(30)
    assert (await alice.get("/v2/queues")).status == 200
    assert relay.calls("GET") == calls[1]


@pytest_twisted.ensureDeferred
@pytest.mark.zaqar_config(("keystone_authtoken", "token_cache_size", "2"))
async def test_cache_is_bounded(api, tenants, relay):
    """Past token_cache_size tokens, the one kept longest is dropped (and validated again
    when it comes back)."""
    project = await tenants.project("alice")
    tokens = [await tenants.token("alice", project) for _ in range(3)]
    for token in tokens:
        assert (await Bearer(api, token).get("/v2/queues")).status == 200
    assert relay.calls("GET") == 3
    for token in tokens[1:]:
        assert (await Bearer(api, token).get("/v2/queues")).status == 200
    assert relay.calls("GET") == 3
    assert (await Bearer(api, tokens[0]).get("/v2/queues")).status == 200
    assert relay.calls("GET") == 4


@pytest_twisted.ensureDeferred
async def test_concurrent_requests_one_validation(api, tenants, relay):
    """Twenty concurrent requests bearing one token that is not cached yet cost Keystone
    exactly one validation (and one service-token authentication)."""
    _, token = await tenants.member("alice")
    alice = Bearer(api, token)
    replies = await defer.gatherResults(
        [defer.ensureDeferred(alice.get("/v2/queues")) for _ in range(20)],
        consumeErrors=True,
    )
    assert [reply.status for reply in replies] == [200] * 20
    assert relay.calls("GET") == 1
    assert relay.calls("POST") == 1


@pytest_twisted.ensureDeferred
async def test_token_past_its_expiry_is_refused_without_keystone(api, tenants, relay):
    """Once the clock passes the token's own expiry, it is refused without asking Keystone
    (which would still accept it: the test clock runs ahead of Keystone's)."""
    _, token = await tenants.member("alice")
    alice = Bearer(api, token)
    assert (await alice.get("/v2/queues")).status == 200
    api.advance(3600)
    assert_unauthorized(await alice.get("/v2/queues"))
    assert relay.calls("GET") == 1


@pytest_twisted.ensureDeferred
async def test_genuinely_expired_token(api, tenants, relay):
    """A token Keystone itself holds expired gets 401.

    Expiry is Keystone's own, on its real clock, so this test waits for it: a few seconds
    (tenants.short_lived says why).
    """
    project = await tenants.project("alice")
    token, document = await tenants.short_lived("alice", project)
    await wait_past(document["expires_at"])
    assert_unauthorized(await Bearer(api, token).get("/v2/queues"))
    assert relay.calls("GET") == 1


@pytest_twisted.ensureDeferred
async def test_service_token_is_reused_then_renewed_when_refused(
        api, tenants, keystone, relay, authenticator):
    """The service token is fetched once for many validations; when Keystone refuses it
    (here: revoked), a new one is fetched and the request still succeeds."""
    project = await tenants.project("alice")
    for _ in range(3):
        token = await tenants.token("alice", project)
        assert (await Bearer(api, token).get("/v2/queues")).status == 200
    assert (relay.calls("POST"), relay.calls("GET")) == (1, 3)
    service = await authenticator._inner._keystone.service_token()
    await tenants.call(keystone.revoke, service)
    token = await tenants.token("alice", project)
    assert (await Bearer(api, token).get("/v2/queues")).status == 200
    assert (relay.calls("POST"), relay.calls("GET")) == (2, 5)


@pytest_twisted.ensureDeferred
async def test_service_token_renewed_before_it_expires(api, tenants, relay):
    """The service token (an hour long) is replaced a minute before its expiry."""
    project = await tenants.project("alice")
    assert (await Bearer(api, await tenants.token("alice", project)).get("/v2/")).status == 200
    api.advance(3600 - 62)
    assert (await Bearer(api, await tenants.token("alice", project)).get("/v2/")).status == 200
    assert relay.calls("POST") == 1
    api.advance(2)
    assert (await Bearer(api, await tenants.token("alice", project)).get("/v2/")).status == 200
    assert relay.calls("POST") == 2


def _service_user(user, password, project):
    return pytest.mark.zaqar_config(
        ("keystone_authtoken", "username", user),
        ("keystone_authtoken", "password", password),
        ("keystone_authtoken", "project_name", project),
    )


@pytest_twisted.ensureDeferred
@pytest.mark.parametrize("why", [
    pytest.param("Keystone answered 403 to a token validation", id="not-a-service-user",
                 marks=_service_user("bob", "bob-secret", "zaqar-tw-b")),
    pytest.param("Keystone answered 401 to the service user's authentication",
                 id="wrong-password", marks=_service_user("zaqar", "wrong", "service")),
])
async def test_service_user_keystone_refuses(api, tenants, why, logged):
    """A service user whose role may not validate tokens (Keystone's validate_token policy
    wants the service role), or whose password is wrong: 503, and the log says why."""
    _, token = await tenants.member("alice")
    reply = await Bearer(api, token).get("/v2/queues")
    assert reply.status == 503, reply
    lines = [formatEvent(event) for event in logged]
    assert any(why in line for line in lines), lines


@pytest_twisted.ensureDeferred
async def test_keystone_that_does_not_answer(api, tenants, relay):
    """Keystone holding a call past http_connect_timeout (10 s by default, on the service
    clock): 503 in our error format; once it answers again, so does the service."""
    _, token = await tenants.member("alice")
    alice = Bearer(api, token)
    relay.holding = True
    pending = defer.ensureDeferred(alice.get("/v2/queues"))
    await _until(lambda: relay.calls("POST") == 1)
    api.advance(10)
    reply = await pending
    assert reply.status == 503
    assert reply.error == (
        "Service temporarily unavailable",
        "The token could not be validated: the identity service is unavailable. Please try "
        "again in a few seconds.",
    )
    relay.release()
    assert (await alice.get("/v2/queues")).status == 200


async def _until(condition):
    from tests.waiting import wait_until

    await wait_until(condition, 15, "the relay to see the call", 0.01)


@pytest_twisted.ensureDeferred
@pytest.mark.keystone_direct
async def test_keystone_stopped_then_started(api, tenants, keystone):
    """While Keystone is stopped, a token not cached yet gets 503 (a cached one still
    works); once Keystone is started again the same token works, without restarting the
    service."""
    _, cached = await tenants.member("alice")
    _, fresh = await tenants.member("bob")
    assert (await Bearer(api, cached).get("/v2/queues")).status == 200
    await deferToThread(keystone.stop)
    try:
        reply = await Bearer(api, fresh).get("/v2/queues")
        assert reply.status == 503, reply
        assert reply.error[0] == "Service temporarily unavailable"
        assert (await Bearer(api, cached).get("/v2/queues")).status == 200
    finally:
        await deferToThread(keystone.start)
    assert (await Bearer(api, fresh).get("/v2/queues")).status == 200


@pytest_twisted.ensureDeferred
async def test_keystone_failing(api, tenants, relay):
    """Keystone answering 500: 503 (never a 500 of ours); the next request after it
    recovers works."""
    _, token = await tenants.member("alice")
    relay.failing = True
    reply = await Bearer(api, token).get("/v2/queues")
    assert reply.status == 503, reply
    relay.failing = False
    assert (await Bearer(api, token).get("/v2/queues")).status == 200
