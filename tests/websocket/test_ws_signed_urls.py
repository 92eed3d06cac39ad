"""Pre-signed URLs over WebSocket (spec 2.4): message actions carrying a URL shared over REST
are granted as their REST twins would be; a URL that does not grant the action gets 403
"Not authentified.", as on the reference's WebSocket; other actions ignore the URL."""

import uuid

import pytest
import pytest_twisted
from twisted.internet import defer
from zope.interface import implementer

from tests.signed import url_headers
from zaqar_tw.auth.noauth import NoAuth
from zaqar_tw.auth.signed_url import SignedUrlAuthenticator, UrlSigner
from zaqar_tw.context import RequestContext
from zaqar_tw.errors import Unauthorized
from zaqar_tw.interfaces import IAuthenticator

KEY = "sesame"
pytestmark = pytest.mark.zaqar_config(("signed_url", "secret_key", KEY))
NOT_AUTHENTIFIED = (403, {"error": "Not authentified."})


@implementer(IAuthenticator)
class _TokenAuth:
    """A token-checking provider (as Keystone's will be): token ``good-<project>``
    identifies that project, anything else is refused."""

    def authenticate(self, headers, method, path):
        token = headers.get("x-auth-token", "")
        if not token.startswith("good-"):
            return defer.fail(Unauthorized("The token is not valid."))
        return defer.succeed(RequestContext(project=token[5:], client_id=headers["client-id"]))


@pytest.fixture
def authenticator(request, config, clock):
    """The service's composition: pre-signed URLs first, then no-auth, or a token-checking
    provider for the tests named ``*token*``."""
    inner = _TokenAuth() if "token" in request.node.name else NoAuth(None, config)
    return SignedUrlAuthenticator(inner, UrlSigner.from_config(config, clock), config)


async def share(api, queue, document=None):
    """Share ``queue`` over REST; returns the URL's data."""
    reply = await api.post(f"/v2/queues/{queue}/share", json=document or {})
    assert reply.status == 200, reply
    return reply.json


def presenting(ws, signed, **changes):
    """Frame headers presenting the URL ``signed`` with the connection's Client-ID, methods
    and paths as JSON lists (as python-zaqarclient sends them); ``None`` in ``changes``
    removes a header."""
    return url_headers(signed, **{"Client-ID": ws.client_id, "URL-Methods": signed["methods"],
                                  "URL-Paths": signed["paths"], **changes})


@pytest_twisted.ensureDeferred
async def test_bearer_reads_messages(api, ws):
    """A connection presenting a URL reads the shared queue's messages: list, one message
    (below the signed path), several by id; methods and paths as lists or comma text."""
    ids = await api.post_messages("jobs", {"body": "hello", "ttl": 300})
    signed = await share(api, "jobs")
    headers = presenting(ws, signed)
    reply = await ws.request("message_list", {"queue_name": "jobs"}, headers=headers)
    assert reply.status == 200, reply
    assert [message["body"] for message in reply.body["messages"]] == ["hello"]
    reply = await ws.request("message_get", {"queue_name": "jobs", "message_id": ids[0]},
                             headers=headers)
    assert (reply.status, reply.body["messages"]["body"]) == (200, "hello")
    reply = await ws.request("message_get_many", {"queue_name": "jobs", "message_ids": ids},
                             headers=headers)
    assert reply.status == 200
    as_text = presenting(ws, signed, **{"URL-Methods": "GET", "URL-Paths": signed["paths"][0]})
    reply = await ws.request("message_list", {"queue_name": "jobs"}, headers=as_text)
    assert reply.status == 200


@pytest_twisted.ensureDeferred
async def test_bearer_posts_and_deletes_when_granted(api, ws):
    """POST and DELETE grants let a bearer post and delete messages."""
    signed = await share(api, "jobs", {"methods": ["POST", "DELETE"]})
    headers = presenting(ws, signed)
    reply = await ws.request("message_post", {"queue_name": "jobs",
                                              "messages": [{"body": 1}]}, headers=headers)
    assert reply.status == 201, reply
    [message_id] = reply.body["message_ids"]
    reply = await ws.request("message_delete", {"queue_name": "jobs", "message_id": message_id},
                             headers=headers)
    assert reply.status == 204, reply
    reply = await ws.request("message_list", {"queue_name": "jobs"}, headers=headers)
    assert (reply.status, reply.body) == NOT_AUTHENTIFIED


@pytest.mark.parametrize("action, body, change", [
    ("message_post", {"messages": [{"body": 1}]}, {}),
    ("message_delete_many", {"message_ids": ["5f1c"]}, {}),
    ("message_list", {"queue_name": "other"}, {}),
    ("message_list", {"queue_name": "jobs2"}, {}),
    ("message_list", {}, {"URL-Signature": "0" * 64}),
    ("message_list", {}, {"URL-Paths": ["/v2/queues/jobs/messages", "/v2/queues/other/messages"]}),
    ("message_list", {}, {"URL-Methods": ["GET", "POST"]}),
    ("message_list", {}, {"URL-Expires": "2023-11-16T22:13:20"}),
    ("message_list", {}, {"X-Project-ID": uuid.uuid4().hex}),
])
@pytest_twisted.ensureDeferred
async def test_ungranted_actions_are_refused(api, ws, action, body, change):
    """A message action the URL does not grant (method, queue) or a tampered URL gets 403
    "Not authentified."."""
    signed = await share(api, "jobs")
    reply = await ws.request(action, {"queue_name": "jobs", **body},
                             headers=presenting(ws, signed, **change))
    assert (reply.status, reply.body) == NOT_AUTHENTIFIED


@pytest.mark.zaqar_config(("signed_url", "secret_key", "new"),
                          ("signed_url", "previous_secret_keys", KEY))
@pytest_twisted.ensureDeferred
async def test_rotation_and_expiry(api, ws, clock):
    """A URL signed with the previous key holds over WebSocket until it expires on the
    service clock."""
    signed = UrlSigner(clock, KEY).sign(["/v2/queues/jobs/messages"], ["GET"], api.project,
                                        "2023-11-14T22:23:20")
    reply = await ws.request("message_list", {"queue_name": "jobs"},
                             headers=presenting(ws, signed))
    assert reply.status == 200, reply
    clock.advance(600)
    reply = await ws.request("message_list", {"queue_name": "jobs"},
                             headers=presenting(ws, signed))
    assert (reply.status, reply.body) == NOT_AUTHENTIFIED
    removed = UrlSigner(clock, "gone").sign(["/v2/queues/jobs/messages"], ["GET"], api.project)
    reply = await ws.request("message_list", {"queue_name": "jobs"},
                             headers=presenting(ws, removed))
    assert (reply.status, reply.body) == NOT_AUTHENTIFIED


@pytest_twisted.ensureDeferred
async def test_other_actions_ignore_the_url(api, ws):
    """Only message actions can be signed: on any other action the URL headers are not
    looked at, even when they would not verify."""
    signed = await share(api, "jobs")
    headers = presenting(ws, signed, **{"URL-Signature": "0" * 64,
                                        "X-Project-ID": ws.project})
    reply = await ws.request("queue_get_stats", {"queue_name": "jobs"}, headers=headers)
    assert reply.status == 200, reply


@pytest_twisted.ensureDeferred
async def test_token_service_admits_bearers_on_message_actions(api, ws):
    """Where a token is wanted, a valid URL admits its message actions without
    authenticate, while other actions stay refused until the connection authenticates."""
    signed = UrlSigner(api.clock, KEY).sign(["/v2/queues/jobs/messages"], ["GET"],
                                            api.project)
    reply = await ws.request("message_list", {"queue_name": "jobs"},
                             headers=presenting(ws, signed))
    assert reply.status == 200, reply
    reply = await ws.request("queue_get_stats", {"queue_name": "jobs"},
                             headers=presenting(ws, signed))
    assert (reply.status, reply.body) == NOT_AUTHENTIFIED
    reply = await ws.request("message_list", {"queue_name": "jobs"},
                             headers=presenting(ws, signed, **{"URL-Signature": "0" * 64}))
    assert (reply.status, reply.body) == NOT_AUTHENTIFIED


@pytest.mark.parametrize("policy_rules", [{"messages:get_all": "role:admin"}])
@pytest_twisted.ensureDeferred
async def test_bearer_is_under_policy(api, ws):
    """A granted action still passes the policy, with no roles."""
    signed = await share(api, "jobs")
    reply = await ws.request("message_list", {"queue_name": "jobs"},
                             headers=presenting(ws, signed, **{"X-Roles": "admin"}))
    assert reply.status == 403
    assert reply.body["error"] == "You are not authorized to complete this action."
