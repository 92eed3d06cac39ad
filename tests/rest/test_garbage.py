"""Bad input of any kind gets a clear 4xx in the error format: never a 5xx, never a crash.

Every route and method is sent a set of malformed bodies and query strings; each answer must
be a 2xx or a 4xx, and every 4xx must carry the ``{"title", "description"}`` error body.
"""

import pytest
import pytest_twisted

BODIES = [
    b"\xff\xfe\x00garbage",
    b"{" * 5000,
    b"[" * 5000 + b"]" * 5000,
    b'{"a": ' * 2000 + b"1" + b"}" * 2000,
    b"null",
    b"[]",
    b'"text"',
    b"1e999",
    b'{"messages": 5}',
    b'{"messages": [null, 1, "x"]}',
    b'{"messages": [{"body": 1, "ttl": 1e999}]}',
    b'{"messages": [{"body": 1, "ttl": 99999999999999999999999}]}',
    b'{"messages": [{"body": 1, "ttl": -1, "delay": "x"}]}',
    b'{"messages": [{"body": {"k": NaN}}]}',
    b'{"ttl": "60", "grace": [], "resource_types": {"a": 1}}',
    b'{"resource_types": [null, {}, 1]}',
    b'[{"op": "add", "path": 5, "value": 1}, {"op": null}, "x", 1]',
    b'[{"op": "remove", "path": "/metadata/~"}, {"op": "add", "path": "//", "value": 1}]',
    "{\"messages\": [{\"body\": \"\ud800\"}]}".encode("utf-8", "surrogatepass"),
    b'{"subscriber": "http://[::1", "ttl": 1e999, "options": [], "confirmed": "x"}',
    b'{"subscriber": {"a": 1}, "ttl": 9223372036854775807, "options": {"_retry_policy":'
    b' {"minimum_delay": null, "maximum_delay": "x", "retry_backoff_function": [{}]}}}',
]

QUERIES = [
    "",
    "?limit=1e3&marker=%00&echo=maybe",
    "?limit=-0&detailed=2&with_count=&include_claimed=yes&include_delayed=off",
    "?ids=,,,&claim_ids=%FF",
    "?ids=" + ",".join(["x"] * 30),
    "?pop=abc",
    "?pop=0&ids=a",
    "?claim_id=%2e%2e%2f",
    "?limit=99999999999999999999999",
]

PATHS = [
    "/v2/queues",
    "/v2/queues/q",
    "/v2/queues/q/stats",
    "/v2/queues/q/purge",
    "/v2/queues/q/messages",
    "/v2/queues/q/messages/00000000-0000-0000-0000-000000000000",
    "/v2/queues/q/messages/not-a-uuid",
    "/v2/queues/q/claims",
    "/v2/queues/q/claims/00000000-0000-0000-0000-000000000000",
    "/v2/queues/q/claims/%ZZ",
    "/v2/queues/q/subscriptions",
    "/v2/queues/q/subscriptions/00000000-0000-0000-0000-000000000000",
    "/v2/queues/q/subscriptions/00000000-0000-0000-0000-000000000000/confirm",
    "/v2/queues/q/subscriptions/%ZZ/confirm",
    "/v2/queues/%F0%9F%92%A9",
    "/v2/queues/" + "a" * 300 + "/messages",
]

METHODS = ["GET", "PUT", "POST", "PATCH", "DELETE", "HEAD"]


def _check(reply, what):
    assert reply.status < 500, f"{what}: {reply!r}"
    if reply.status >= 400 and reply.body:
        body = reply.json
        assert isinstance(body, dict) and isinstance(body.get("title"), str), f"{what}: {reply!r}"


@pytest.mark.parametrize("path", PATHS)
@pytest_twisted.ensureDeferred
async def test_garbage_bodies_never_get_a_server_error(api, path):
    """Malformed bodies on every method of a route get 2xx or a 4xx error body."""
    await api.post_messages("q", {"body": "seed"})
    for method in METHODS:
        for body in BODIES:
            for content_type in ("application/json",
                                 "application/openstack-messaging-v2.0-json-patch"):
                reply = await api.request(method, path, data=body,
                                          headers={"Content-Type": content_type})
                _check(reply, f"{method} {path} {content_type} {body[:40]!r}")


@pytest.mark.parametrize("path", PATHS)
@pytest_twisted.ensureDeferred
async def test_garbage_query_strings_never_get_a_server_error(api, path):
    """Malformed query parameters on every method of a route get 2xx or a 4xx error body."""
    await api.post_messages("q", {"body": "seed"})
    for method in METHODS:
        for query in QUERIES:
            reply = await api.request(method, path + query)
            _check(reply, f"{method} {path}{query}")


@pytest_twisted.ensureDeferred
async def test_garbage_headers_never_get_a_server_error(api):
    """Odd Client-ID, project, Accept and Content-Type values get 4xx errors, not 5xx."""
    odd = ["", " ", "\t", "x" * 5000, "ünï", "{", "00000000-0000-0000-0000-000000000000 x"]
    for name in ("Client-ID", "X-Project-ID", "Accept", "Content-Type", "X-Roles"):
        for value in odd:
            reply = await api.request("POST", "/v2/queues/q/messages",
                                      json={"messages": [{"body": 1}]},
                                      headers={name: value})
            _check(reply, f"{name}: {value[:20]!r}")


@pytest.mark.parametrize("path", [
    "/v2/queues/%ff", "/v2/queues/q/%ff", "/v2/%C3", "/%ff", "/v2/queues/q/subscriptions/%fe%ff",
])
@pytest_twisted.ensureDeferred
async def test_urls_that_are_not_utf8_get_a_json_400(api, logged, path):
    """A path that does not decode as UTF-8 gets a 400 in the error format (not Klein's
    plain text), and nothing is logged as a failure."""
    for method in ("GET", "PUT", "POST", "DELETE"):
        reply = await api.request(method, path)
        assert reply.status == 400, reply
        assert reply.json == {
            "title": "Invalid request URL",
            "description": "The request's path and Host header must be UTF-8 "
                           "(percent-escaped or not).",
        }
    assert not [event for event in logged if event.get("log_failure") or event.get("isError")]


@pytest_twisted.ensureDeferred
async def test_host_header_that_is_not_utf8_gets_a_json_400(api, logged):
    """A Host header that is not UTF-8 gets the same 400 in the error format."""
    reply = await api.raw("GET", "/v2/queues", headers={"Host": "h\xff"})
    assert reply.status == 400, reply
    assert reply.json["title"] == "Invalid request URL"
    assert not [event for event in logged if event.get("log_failure") or event.get("isError")]
