"""Pre-signed URLs over REST: ``POST /v2/queues/Q/share`` (spec 1.2) and requests that
present the URL (spec 0.1 hook 1, 3.12), through the service's own authenticator."""

import json
import uuid

import pytest
import pytest_twisted

from tests.signed import url_headers
from zaqar_tw.auth.signed_url import UrlSigner, signature

KEY = "sesame"
pytestmark = pytest.mark.zaqar_config(("signed_url", "secret_key", KEY))
NOT_FOUND = {"title": "404 Not Found"}
TOMORROW = "2023-11-15T22:13:20"  # the test clock's start plus a day


async def share(api, queue, document=None, **kwargs):
    """Share ``queue`` (200) and return the URL's data."""
    reply = await api.post(f"/v2/queues/{queue}/share",
                           json={} if document is None else document, **kwargs)
    assert reply.status == 200, reply
    return reply.json


async def bearer_get(api, path, signed, **extra):
    """``GET path`` as a bearer of the URL: its headers only, no other identity."""
    return await api.get(path, identify=False, headers=url_headers(signed, **extra))


def assert_bad(reply, description):
    assert reply.status == 400, reply
    assert reply.json == {"title": "Invalid API request", "description": description}


# Sharing.


@pytest_twisted.ensureDeferred
async def test_share_defaults(api):
    """An empty request shares GET on the queue's messages for a day of the service clock,
    signed with the secret key."""
    reply = await api.post("/v2/queues/jobs/share", json={})
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    paths = ["/v2/queues/jobs/messages"]
    assert reply.json == {
        "paths": paths, "methods": ["GET"], "project": api.project, "expires": TOMORROW,
        "signature": signature(KEY, paths, ["GET"], api.project, TOMORROW),
    }
    assert list(reply.json) == ["paths", "methods", "project", "expires", "signature"]
    api.advance(3600.5)
    assert (await share(api, "jobs"))["expires"] == "2023-11-15T23:13:20"


@pytest_twisted.ensureDeferred
async def test_share_sorts_paths_and_methods(api):
    """Paths become full request paths; paths and methods come back sorted, as signed;
    empty lists and null take the defaults."""
    signed = await share(api, "jobs", {
        "paths": ["subscriptions", "messages", "claims"], "methods": ["POST", "GET", "DELETE"],
        "expires": "2030-01-01T01:00:00+01:00",
    })
    paths = ["/v2/queues/jobs/claims", "/v2/queues/jobs/messages",
             "/v2/queues/jobs/subscriptions"]
    assert signed == {
        "paths": paths, "methods": ["DELETE", "GET", "POST"], "project": api.project,
        "expires": "2030-01-01T00:00:00",
        "signature": signature(KEY, paths, ["DELETE", "GET", "POST"], api.project,
                               "2030-01-01T00:00:00"),
    }
    defaults = await share(api, "jobs", {"paths": [], "methods": [], "expires": None})
    assert (defaults["paths"], defaults["methods"], defaults["expires"]) == (
        ["/v2/queues/jobs/messages"], ["GET"], TOMORROW)


@pytest.mark.parametrize("document, description", [
    ({"foo": 1}, "Unknown keys: {'foo'}"),
    ({"project_id": "p", "methods": ["GET"]}, "Unknown keys: {'project_id'}"),
    ({"paths": ["queues"]}, "Invalid paths: {'queues'}"),
    ({"paths": ["messages", "queues", "stats", "queues"]}, "Invalid paths: {'queues', 'stats'}"),
    ({"paths": [1, {"a": 1}]}, "Invalid paths: {1, {'a': 1}}"),
    ({"paths": "messages"}, "`paths` should be a list"),
    ({"methods": "GET"}, "`methods` should be a list"),
    ({"methods": ["get", "GET"]}, "Invalid methods: {'get'}"),
    ({"methods": [None]}, "Invalid methods: {None}"),
    ({"expires": 12345}, "`expires` should be date format, for example 2016-01-01T00:00:00, "
                         "not integer value: 12345"),
    ({"expires": "12345"}, "`expires` should be date format, for example 2016-01-01T00:00:00, "
                           "not integer value: 12345"),
    ({"expires": "wrong date format"}, "Unable to parse date string 'wrong date format'"),
    ({"expires": ["2030-01-01"]},
     "`expires` should be date format, for example 2016-01-01T00:00:00"),
    ({"expires": "2020-01-01T00:00:00"}, "`expires` is lower than the current time"),
    ({"expires": "2023-11-14T22:13:20"}, "`expires` is lower than the current time"),
])
@pytest_twisted.ensureDeferred
async def test_share_validation(api, document, description):
    """Each malformed share request gets its 400 text; nothing is a 500."""
    assert_bad(await api.post("/v2/queues/jobs/share", json=document), description)


@pytest_twisted.ensureDeferred
async def test_share_body_errors(api):
    """A share needs a JSON object body."""
    reply = await api.post("/v2/queues/jobs/share", chunked=b"")
    assert (reply.status, reply.json["description"]) == (400, "Request body can not be empty")
    reply = await api.post("/v2/queues/jobs/share")
    assert (reply.status, reply.json["description"]) == (400, "Request body could not be parsed.")
    reply = await api.post("/v2/queues/jobs/share", data=b"not json")
    assert (reply.status, reply.json["description"]) == (400, "Request body could not be parsed.")
    reply = await api.post("/v2/queues/jobs/share", json=["messages"])
    assert (reply.status, reply.json["description"]) == (400, "Document type not supported.")


@pytest.mark.zaqar_config()
@pytest_twisted.ensureDeferred
async def test_share_without_a_key(api):
    """Without ``[signed_url] secret_key`` nothing can be shared (400), after the checks of
    the keys and paths, as in the reference."""
    assert_bad(await api.post("/v2/queues/jobs/share", json={}), "The `key` can't be None")
    assert_bad(await api.post("/v2/queues/jobs/share", json={"methods": "GET"}),
               "The `key` can't be None")
    assert_bad(await api.post("/v2/queues/jobs/share", json={"paths": ["queues"]}),
               "Invalid paths: {'queues'}")


@pytest.mark.zaqar_config(("signed_url", "previous_secret_keys", KEY))
@pytest_twisted.ensureDeferred
async def test_previous_keys_do_not_sign(api):
    """A key that only verifies signs nothing."""
    assert_bad(await api.post("/v2/queues/jobs/share", json={}), "The `key` can't be None")


@pytest_twisted.ensureDeferred
async def test_share_route_checks(api):
    """The share route checks the queue name and serves POST only."""
    reply = await api.post("/v2/queues/bad@name/share", json={})
    assert reply.error[0] == "Invalid queue identification"
    reply = await api.get("/v2/queues/jobs/share")
    assert (reply.status, reply.headers["allow"]) == (405, "POST, OPTIONS")


@pytest.mark.parametrize("policy_rules", [{"queues:share": "role:admin"}])
@pytest_twisted.ensureDeferred
async def test_share_is_under_policy(api):
    """``queues:share`` decides who may share."""
    reply = await api.post("/v2/queues/jobs/share", json={})
    assert reply.status == 403
    await share(api, "jobs", headers={"X-Roles": "admin"})


# Presenting a URL.


@pytest_twisted.ensureDeferred
async def test_bearer_reads_the_shared_queue(api):
    """The bearer of a URL, with no identity of its own, lists the queue's messages and
    gets one below the signed path."""
    ids = await api.post_messages("jobs", {"body": "hello", "ttl": 300})
    signed = await share(api, "jobs")
    reply = await bearer_get(api, "/v2/queues/jobs/messages", signed)
    assert reply.status == 200, reply
    assert [message["body"] for message in reply.json["messages"]] == ["hello"]
    reply = await bearer_get(api, f"/v2/queues/jobs/messages/{ids[0]}", signed)
    assert (reply.status, reply.json["body"]) == (200, "hello")
    reply = await bearer_get(api, f"/v2/queues/jobs/messages?ids={ids[0]}", signed)
    assert reply.status == 200


@pytest_twisted.ensureDeferred
async def test_bearer_may_post_and_claim_when_granted(api):
    """Every granted method works on every granted path."""
    signed = await share(api, "jobs", {"paths": ["messages", "claims"],
                                       "methods": ["POST", "PATCH"]})
    headers = url_headers(signed)
    reply = await api.post("/v2/queues/jobs/messages", identify=False, headers=headers,
                           json={"messages": [{"body": 1}]})
    assert reply.status == 201, reply
    reply = await api.post("/v2/queues/jobs/claims", identify=False, headers=headers,
                           json={})
    assert reply.status == 201, reply
    claim = reply.headers["location"]
    reply = await api.patch(claim, identify=False, headers=headers, json={"ttl": 120})
    assert reply.status == 204, reply


@pytest.mark.parametrize("method, path", [
    ("POST", "/v2/queues/jobs/messages"),
    ("DELETE", "/v2/queues/jobs/messages"),
    ("GET", "/v2/queues/jobs/claims/5f1c"),
    ("GET", "/v2/queues/jobs/subscriptions"),
    ("GET", "/v2/queues/jobs/stats"),
    ("GET", "/v2/queues/jobs"),
    ("POST", "/v2/queues/jobs/share"),
    ("GET", "/v2/queues/other/messages"),
    ("GET", "/v2/queues/jobs2/messages"),
    ("GET", "/v2/queues"),
])
@pytest_twisted.ensureDeferred
async def test_ungranted_requests_are_not_found(api, method, path):
    """A method or path the URL does not grant is 404 "404 Not Found"."""
    signed = await share(api, "jobs")
    reply = await api.request(method, path, identify=False, headers=url_headers(signed),
                              json={})
    assert (reply.status, reply.json) == (404, NOT_FOUND)


@pytest_twisted.ensureDeferred
async def test_dots_in_queue_names_are_no_wildcards(api):
    """A URL for queue ``a.c`` does not open queue ``abc`` (the reference matches signed
    paths as regular expressions, where ``.`` matches any character)."""
    await api.post_messages("abc", {"body": "secret"})
    signed = await share(api, "a.c")
    reply = await bearer_get(api, "/v2/queues/abc/messages", signed)
    assert (reply.status, reply.json) == (404, NOT_FOUND)
    assert (await bearer_get(api, "/v2/queues/a.c/messages", signed)).status == 200


@pytest_twisted.ensureDeferred
async def test_url_expires_on_the_service_clock(api):
    """A URL works until its expiry second, and is 404 from then on."""
    signed = await share(api, "jobs", {"expires": "2023-11-14T22:23:20"})
    api.advance(599)
    assert (await bearer_get(api, "/v2/queues/jobs/messages", signed)).status == 200
    api.advance(1)
    reply = await bearer_get(api, "/v2/queues/jobs/messages", signed)
    assert (reply.status, reply.json) == (404, NOT_FOUND)


@pytest.mark.parametrize("change", [
    {"URL-Signature": "0" * 64},
    {"URL-Signature": ""},
    {"URL-Paths": "/v2/queues/jobs/messages,/v2/queues/jobs/claims"},
    {"URL-Methods": "GET,DELETE"},
    {"URL-Expires": "2023-11-16T22:13:20"},
    {"URL-Expires": "not a real date"},
    {"URL-Expires": None},
    {"X-Project-ID": uuid.uuid4().hex},
    {"X-Project-ID": None},
    {"X-Project-ID": None, "X-Tenant-ID": "{project}"},
])
@pytest_twisted.ensureDeferred
async def test_tampered_urls_are_not_found(api, change):
    """Changing any signed value (signature, paths, methods, expiry, project), or leaving
    out the project header, makes the URL 404."""
    signed = await share(api, "jobs")
    change = {name: value and value.format(project=api.project)
              for name, value in change.items()}
    reply = await bearer_get(api, "/v2/queues/jobs/messages", signed, **change)
    assert (reply.status, reply.json) == (404, NOT_FOUND)


@pytest.mark.zaqar_config(("signed_url", "secret_key", "new"),
                          ("signed_url", "previous_secret_keys", "older," + KEY))
@pytest_twisted.ensureDeferred
async def test_rotated_key_still_verifies(api):
    """After a rotation, URLs signed with the previous key keep working, and new ones are
    signed with the new key."""
    await api.post_messages("jobs", {"body": "x"})
    before = UrlSigner(api.clock, KEY).sign(["/v2/queues/jobs/messages"], ["GET"], api.project)
    assert (await bearer_get(api, "/v2/queues/jobs/messages", before)).status == 200
    after = await share(api, "jobs")
    assert after["signature"] == signature("new", after["paths"], ["GET"], api.project,
                                           after["expires"])
    assert (await bearer_get(api, "/v2/queues/jobs/messages", after)).status == 200


@pytest.mark.zaqar_config(("signed_url", "secret_key", "new"),
                          ("signed_url", "previous_secret_keys", "older"))
@pytest_twisted.ensureDeferred
async def test_removed_key_no_longer_verifies(api):
    """A URL signed with a key that is neither the secret key nor a previous one is 404."""
    removed = UrlSigner(api.clock, KEY).sign(["/v2/queues/jobs/messages"], ["GET"],
                                             api.project)
    reply = await bearer_get(api, "/v2/queues/jobs/messages", removed)
    assert (reply.status, reply.json) == (404, NOT_FOUND)


@pytest.mark.zaqar_config()
@pytest_twisted.ensureDeferred
async def test_without_keys_nothing_verifies(api):
    """A service without keys answers 404 to every pre-signed request."""
    signed = UrlSigner(api.clock, KEY).sign(["/v2/queues/jobs/messages"], ["GET"], api.project)
    reply = await bearer_get(api, "/v2/queues/jobs/messages", signed)
    assert (reply.status, reply.json) == (404, NOT_FOUND)


@pytest_twisted.ensureDeferred
async def test_share_of_one_project_stays_in_it(api):
    """A URL of one project's queue reads that queue only: presented with another project,
    it is 404; presented with its own, it never shows the other project's queue."""
    other = uuid.uuid4().hex
    await api.post_messages("jobs", {"body": "mine"})
    await api.post_messages("jobs", {"body": "theirs"}, headers={"X-Project-ID": other})
    signed = await share(api, "jobs")
    reply = await bearer_get(api, "/v2/queues/jobs/messages", signed, **{"X-Project-ID": other})
    assert (reply.status, reply.json) == (404, NOT_FOUND)
    reply = await bearer_get(api, "/v2/queues/jobs/messages", signed)
    assert [message["body"] for message in reply.json["messages"]] == ["mine"]


@pytest.mark.parametrize("policy_rules", [{"messages:get_all": "role:admin"}])
@pytest_twisted.ensureDeferred
async def test_bearer_is_under_policy_without_roles(api):
    """A pre-signed request still passes the policy, and holds no roles: ``X-Roles`` is not
    read from it."""
    signed = await share(api, "jobs")
    reply = await bearer_get(api, "/v2/queues/jobs/messages", signed, **{"X-Roles": "admin"})
    assert reply.status == 403
    reply = await api.get("/v2/queues/jobs/messages", headers={"X-Roles": "admin"})
    assert reply.status == 200


@pytest_twisted.ensureDeferred
async def test_signature_is_checked_first(api):
    """A pre-signed request is judged before the Content-Type, Accept and Client-ID checks
    (hook 1); a valid one then meets those checks as any request does."""
    signed = await share(api, "jobs")
    bad = {"URL-Signature": "0" * 64}
    reply = await bearer_get(api, "/v2/queues/jobs/messages", signed, Accept="text/plain",
                             **bad)
    assert reply.status == 404  # (with an empty body, as text/plain asks)
    reply = await api.post("/v2/queues/jobs/messages", identify=False, data=b"a=1",
                           headers=url_headers(signed, **bad, **{
                               "Content-Type": "application/x-www-form-urlencoded"}))
    assert (reply.status, reply.json) == (404, NOT_FOUND)
    reply = await bearer_get(api, "/v2/queues/jobs/messages", signed, **bad,
                             **{"Client-ID": None})
    assert (reply.status, reply.json) == (404, NOT_FOUND)
    reply = await bearer_get(api, "/v2/queues/jobs/messages", signed, Accept="text/plain")
    assert reply.status == 406
    reply = await bearer_get(api, "/v2/queues/jobs/messages", signed, **{"Client-ID": None})
    assert reply.error == ("Missing header value", 'The "Client-Id" header is required.')
    reply = await bearer_get(api, "/v2/queues/jobs/messages", signed,
                             **{"Client-ID": "not-a-uuid"})
    assert reply.error == ("Wrong UUID value", "Malformed hexadecimal UUID.")


@pytest_twisted.ensureDeferred
async def test_unsigned_requests_are_unaffected(api):
    """Requests without URL-Signature are identified as before, other URL-* headers
    ignored."""
    reply = await api.get("/v2/queues/jobs/messages", headers={"URL-Paths": "/nothing"})
    assert reply.status == 200


@pytest_twisted.ensureDeferred
async def test_json_home_share_rel_is_served(api):
    """JSON-home's ``rel/queue_share`` names the route that shares, with its one method."""
    rel = json.loads((await api.get("/v2/")).body)["resources"]["rel/queue_share"]
    assert rel["hints"]["allow"] == ["POST"]
    reply = await api.post(rel["href-template"].format(queue_name="jobs"), json={})
    assert reply.status == 200
