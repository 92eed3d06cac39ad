"""Values that cannot be stored as sent, over WebSocket (issue 13, findings 1 to 3): too
deeply nested in any field, integers past 64 bits, NaN and infinities in MessagePack.  Each
gets a 400 envelope and the connection stays open; nothing is stored altered."""

import json

import msgpack
import pytest
import pytest_twisted

from zaqar_tw.core.values import MAX_DEPTH


def nested(levels):
    """``levels`` nested lists around a 1."""
    value = 1
    for _ in range(levels):
        value = [value]
    return value


def encode(document, binary):
    """A request as JSON text or MessagePack (deep values too: no recursion limit)."""
    if binary:
        return _packb_deep(document)
    return _dumps_deep(document).encode()


def _packb_deep(value):
    """MessagePack of a value of any depth (msgpack's packer stops at 512 levels)."""
    depth = 0
    while isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
        value, depth = value[0], depth + 1
    if depth:
        return b"\x91" * depth + _packb_deep(value)
    if isinstance(value, dict):
        assert len(value) < 16
        return bytes([0x80 | len(value)]) + b"".join(
            msgpack.packb(k) + _packb_deep(v) for k, v in value.items())
    if isinstance(value, list):
        assert len(value) < 16
        return bytes([0x90 | len(value)]) + b"".join(_packb_deep(v) for v in value)
    return msgpack.packb(value)


def _dumps_deep(value):
    """JSON text of a value of any depth (the standard encoder recurses)."""
    depth = 0
    while isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
        value, depth = value[0], depth + 1
    if depth:
        return "[" * depth + _dumps_deep(value) + "]" * depth
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_dumps_deep(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_dumps_deep(v) for v in value) + "]"
    return json.dumps(value)


def requests(ws, levels):
    """Requests carrying a value ``levels`` deep in each field a value enters by."""
    deep = nested(levels)
    headers = ws.headers()
    return [
        {"action": "message_post", "headers": headers,
         "body": {"queue_name": "q", "messages": [{"body": deep}]}},
        {"action": "queue_create", "headers": headers,
         "body": {"queue_name": "q", "metadata": {"m": deep}}},
        {"action": "queue_update", "headers": headers,
         "body": {"queue_name": "q", "changes": [
             {"op": "add", "path": "/metadata/k", "value": deep}]}},
        {"action": "subscription_create", "headers": headers,
         "body": {"queue_name": "q", "subscriber": "http://127.0.0.1:1/", "options": deep}},
        {"action": "queue_purge", "headers": headers,
         "body": {"queue_name": "q", "resource_types": deep}},
        {"action": "ping_node", "headers": headers, "body": {"extra": deep}},
        {"action": "queue_list", "headers": headers, "extra": deep},
        {"action": "queue_list", "headers": {**headers, "X-Deep": deep}},
    ]


@pytest.mark.parametrize("binary", [False, True], ids=["json", "msgpack"])
@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 255, 600, 1022, 1100])
@pytest_twisted.ensureDeferred
async def test_deep_values_in_any_field_get_400(ws, binary, levels):
    """A value nested past the limit in the body, an unknown field or a header gets a 400
    envelope saying the request cannot be decoded, in the request's encoding; the
    connection stays open."""
    kind = "binary (MessagePack)" if binary else "text (JSON)"
    for document in requests(ws, levels):
        reply = await ws.raw(encode(document, binary), binary=binary)
        assert reply.status == 400, (document["action"], reply)
        assert reply.binary is binary
        assert reply.body["error"].startswith(f"Can't decode {kind} request."), reply
    assert (await ws.request("queue_list")).status == 200


@pytest_twisted.ensureDeferred
async def test_deepest_message_body_allowed_matches_rest(ws):
    """A message body as deep as REST allows is posted and read back over WebSocket; one
    level more is refused."""
    allowed = MAX_DEPTH - 3
    headers = ws.headers()
    for binary in (False, True):
        document = {"action": "message_post", "headers": headers,
                    "body": {"queue_name": "q", "messages": [{"body": nested(allowed)}]}}
        reply = await ws.raw(encode(document, binary), binary=binary)
        assert reply.status == 201, reply
        document["body"]["messages"][0]["body"] = nested(allowed + 1)
        reply = await ws.raw(encode(document, binary), binary=binary)
        assert reply.status == 400, reply


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), 2**63,
                                   2**64 - 1])
@pytest_twisted.ensureDeferred
async def test_msgpack_values_json_cannot_hold_get_400(ws, value):
    """NaN, infinities and integers past signed 64 bits in MessagePack are refused, not
    stored as null or as another number."""
    document = {"action": "message_post", "headers": ws.headers(),
                "body": {"queue_name": "q", "messages": [{"body": [value, 1]}]}}
    reply = await ws.raw(msgpack.packb(document), binary=True)
    assert reply.status == 400, reply
    assert reply.body["error"].startswith("Can't decode binary (MessagePack) request. ")
    listed = await ws.ok("message_list", {"queue_name": "q", "echo": True})
    assert listed["messages"] == []


@pytest.mark.parametrize("text", [
    '[1e999, 1234567890123456789]', '[99999999999999999999999]', '[18446744073709551615]',
    '["\\ud800", 1234567890123456789]',
])
@pytest_twisted.ensureDeferred
async def test_json_values_that_cannot_be_kept_get_400(ws, text):
    """Over JSON text, the numbers REST refuses are refused too (one parser, one set of
    rules)."""
    payload = ('{"action": "message_post", "headers": %s, "body": {"queue_name": "q", '
               '"messages": [{"body": %s}]}}' % (json.dumps(ws.headers()), text))
    reply = await ws.raw(payload.encode())
    assert reply.status == 400, reply
    assert reply.body["error"].startswith("Can't decode text (JSON) request. ")
