"""Pre-signed URLs in Keystone mode, against a real Keystone: sharing needs a token, using the
URL needs none (Keystone is not asked), and a request carrying ``URL-Signature`` is judged by
its URL alone, even when it also carries a valid token."""

import pytest
import pytest_twisted

from tests.keystone.conftest import Bearer
from tests.signed import url_headers

SECRET_KEY = pytest.mark.zaqar_config(("signed_url", "secret_key", "keystone-shares"))


async def shared_queue(api, tenants):
    """Alice's queue ``jobs`` with one message, and a URL she signed for reading and
    posting its messages: ``(her token, the share)``."""
    _, token = await tenants.member("alice")
    alice = Bearer(api, token)
    await alice.post("/v2/queues/jobs/messages", json={"messages": [{"body": "for bearers"}]})
    shared = await alice.post("/v2/queues/jobs/share", json={"methods": ["GET", "POST"]})
    assert shared.status == 200, shared
    return token, shared.json


@SECRET_KEY
@pytest_twisted.ensureDeferred
async def test_sharing_needs_a_token_but_the_url_does_not(api, tenants, relay):
    """Without a token, share answers 401; a URL Alice shared reads and posts to her queue
    over REST with no token, and Keystone is never asked about those requests."""
    reply = await api.post("/v2/queues/jobs/share", json={}, identify=True)
    assert reply.status == 401, reply
    _, shared = await shared_queue(api, tenants)
    validations = relay.calls("GET")
    listed = await api.get("/v2/queues/jobs/messages?echo=true",
                           headers=url_headers(shared), identify=False)
    assert [message["body"] for message in listed.json["messages"]] == ["for bearers"]
    posted = await api.post("/v2/queues/jobs/messages", json={"messages": [{"body": 2}]},
                            headers=url_headers(shared), identify=False)
    assert posted.status == 201, posted
    assert relay.calls("GET") == validations


@SECRET_KEY
@pytest_twisted.ensureDeferred
async def test_a_bad_signature_is_not_rescued_by_a_valid_token(api, tenants):
    """A request carrying URL-Signature is judged by its URL alone: a tampered one answers
    404 even with Alice's own valid token."""
    token, shared = await shared_queue(api, tenants)
    headers = url_headers(shared, **{"URL-Signature": "0" * 64, "X-Auth-Token": token})
    reply = await api.get("/v2/queues/jobs/messages?echo=true", headers=headers,
                          identify=False)
    assert (reply.status, reply.json) == (404, {"title": "404 Not Found"})


@SECRET_KEY
@pytest_twisted.ensureDeferred
async def test_an_unauthenticated_connection_may_use_a_url(api, tenants, connect):
    """Over WebSocket, a connection that never authenticated uses the URL on message
    actions; other actions stay refused until it authenticates."""
    _, shared = await shared_queue(api, tenants)
    ws = await connect(shared["project"])
    headers = url_headers(shared)
    reply = await ws.request("message_list", {"queue_name": "jobs", "echo": True},
                             headers=headers)
    assert reply.status == 200, reply
    assert [message["body"] for message in reply.body["messages"]] == ["for bearers"]
    reply = await ws.request("queue_get_stats", {"queue_name": "jobs"}, headers=headers)
    assert (reply.status, reply.body) == (403, {"error": "Not authentified."})
