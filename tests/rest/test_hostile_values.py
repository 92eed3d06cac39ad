"""Values that cannot be stored as sent (issue 13, findings 1 to 3): too deeply nested,
integers past 64 bits, numbers JSON cannot hold, lone surrogates.  Each is refused with a
400 in the error format wherever a JSON value enters, never answered 500, never altered."""

import pytest
import pytest_twisted

from zaqar_tw.core.values import MAX_DEPTH

PATCH = "application/openstack-messaging-v2.0-json-patch"


def nested(levels):
    """A JSON text of ``levels`` nested arrays around a 1."""
    return "[" * levels + "1" + "]" * levels


def deep_bodies(levels):
    """(method, path, body text, content type) of every REST entry a value nests in."""
    value = nested(levels)
    return [
        ("POST", "/v2/queues/q/messages", '{"messages": [{"body": %s}]}' % value, None),
        ("PUT", "/v2/queues/deep", '{"meta": %s}' % value, None),
        ("PATCH", "/v2/queues/q",
         '[{"op": "add", "path": "/metadata/k", "value": %s}]' % value, PATCH),
        ("POST", "/v2/queues/q/subscriptions",
         '{"subscriber": "http://127.0.0.1:1/x", "options": {"o": %s}}' % value, None),
        ("POST", "/v2/queues/q/purge", '{"resource_types": %s}' % value, None),
        ("POST", "/v2/queues/q/claims", '{"ttl": %s}' % value, None),
        ("POST", "/v2/queues/q/share", '{"paths": %s}' % value, None),
    ]


@pytest.mark.parametrize("levels", [MAX_DEPTH, 254, 255, 600, 980, 1022, 1030])
@pytest_twisted.ensureDeferred
async def test_deep_values_get_400_everywhere(api, levels):
    """A value nested past the limit, from just past it to past orjson's own reading limit,
    gets 400 "Invalid request body" on every route that reads a body."""
    await api.create_queue("q")
    for method, path, text, content_type in deep_bodies(levels):
        reply = await api.request(method, path, data=text.encode(),
                                  headers={"Content-Type": content_type or "application/json"})
        assert reply.status == 400, (method, path, reply)
        assert reply.json["title"] == "Invalid request body", (method, path, reply)


@pytest_twisted.ensureDeferred
async def test_depth_limit_is_exact_and_the_deepest_body_reads_back(api):
    """A message body at the deepest level allowed is stored and read back as sent; one
    level more is refused, saying so."""
    allowed = MAX_DEPTH - 3  # {"messages": [{"body": ...}]} takes three levels
    ok = await api.post("/v2/queues/q/messages",
                        data=('{"messages": [{"body": %s}]}' % nested(allowed)).encode(),
                        headers={"Content-Type": "application/json"})
    assert ok.status == 201, ok
    listed = await api.get("/v2/queues/q/messages?echo=true")
    body = listed.json["messages"][0]["body"]
    for _ in range(allowed):
        (body,) = body
    assert body == 1
    refused = await api.post(
        "/v2/queues/q/messages",
        data=('{"messages": [{"body": %s}]}' % nested(allowed + 1)).encode(),
        headers={"Content-Type": "application/json"})
    assert refused.error == (
        "Invalid request body",
        f"The document nests too deeply: more than {MAX_DEPTH} levels.",
    )


@pytest.mark.parametrize("text", [
    '{"messages": [{"body": ["\\ud800", 1234567890123456789]}]}',
    '{"messages": [{"body": ["\\udfff x", 12345678901234567890]}]}',
])
@pytest_twisted.ensureDeferred
async def test_lone_surrogates_beside_long_numbers_get_400(api, text):
    """A lone surrogate is refused whether or not the body also holds a long number (one
    parser reads every body)."""
    reply = await api.post("/v2/queues/q/messages", data=text.encode(),
                           headers={"Content-Type": "application/json"})
    assert reply.error == ("Invalid request body", "Request body could not be parsed.")


@pytest.mark.parametrize("text, description", [
    ('{"messages": [{"body": [1e999, 1234567890123456789]}]}',
     "Request body could not be parsed."),
    ('{"messages": [{"body": [-1E400]}]}', "Request body could not be parsed."),
    ('{"messages": [{"body": [99999999999999999999999]}]}',
     "JSON contains integer that is too large."),
    ('{"messages": [{"body": {"n": 18446744073709551616}}]}',
     "JSON contains integer that is too large."),
    ('{"messages": [{"body": [-9223372036854775809]}]}',
     "JSON contains integer that is too large."),
])
@pytest_twisted.ensureDeferred
async def test_numbers_that_cannot_be_kept_get_400(api, text, description):
    """An infinite number or an integer past 64 bits is refused, not stored altered."""
    reply = await api.post("/v2/queues/q/messages", data=text.encode(),
                           headers={"Content-Type": "application/json"})
    assert reply.error == ("Invalid request body", description)
    listed = await api.get("/v2/queues/q/messages?echo=true")
    assert listed.status == 200 and listed.json["messages"] == []


@pytest_twisted.ensureDeferred
async def test_long_numbers_that_fit_are_kept_exactly(api):
    """Integers of 19 digits within 64 bits, floats with long mantissas and digits inside
    strings are stored exactly as sent."""
    body = [9223372036854775807, -9223372036854775808, 1.2345678901234567e300,
            "99999999999999999999999", 0.1234567890123456789]
    await api.post_messages("q", {"body": body})
    listed = await api.get("/v2/queues/q/messages?echo=true")
    assert listed.json["messages"][0]["body"] == body
