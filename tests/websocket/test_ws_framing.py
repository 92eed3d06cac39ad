"""Spec 2.1: the envelope, and requests that cannot be read or understood.  Each bad request
gets a 400 reply in the envelope, and the connection stays open for the next one."""

import json
import uuid

import msgpack
import pytest
import pytest_twisted

from tests.waiting import pause, wait_until

NULL_REQUEST = {"action": None, "body": {}, "headers": {}, "api": "v2"}
SCHEMA = {"error": "Schema validation failed."}
SMALL = pytest.mark.zaqar_config(
    ("drivers:transport:websocket", "max_message_size", "1024"),
    ("drivers:transport:websocket", "max_frame_size", "512"),
)


async def still_open(client):
    """The connection still answers."""
    reply = await client.request("queue_list")
    assert reply.status == 200, reply


def pack(document, binary):
    return msgpack.packb(document) if binary else json.dumps(document).encode()


# The envelope.


@pytest_twisted.ensureDeferred
async def test_envelope_echoes_the_request(client):
    """A reply echoes action, body and headers as sent (token included), with api v2."""
    headers = client.headers(**{"X-Auth-Token": "secret", "User-Agent": "tests"})
    reply = await client.request("queue_create", {"queue_name": "q", "metadata": {"a": 1}},
                                 headers=headers)
    assert reply.binary is client.binary
    assert reply.document == {
        "request": {"action": "queue_create", "body": {"queue_name": "q", "metadata": {"a": 1}},
                    "headers": headers, "api": "v2"},
        "body": "Queue q created.",
        "headers": {"status": 201},
    }


@pytest_twisted.ensureDeferred
async def test_echo_keeps_the_request_text_as_sent(ws):
    """A JSON request of action, headers and body, however spaced and ordered, is echoed
    as the same document plus api v2 (the reply splices the request's own text)."""
    headers = ws.headers()
    text = (
        '  {\n "body" : {"queue_name": "q", "metadata": {"n": 1.50, "u": "\\u00e9t\u00e9",'
        ' "big": 9223372036854775807}} ,\t"headers":' + json.dumps(headers)
        + ', "action":"queue_create"\r\n}\n  '
    )
    reply = await ws.raw(text.encode())
    assert reply.status == 201, reply
    assert reply.request == {
        "action": "queue_create", "headers": headers, "api": "v2",
        "body": {"queue_name": "q",
                 "metadata": {"n": 1.5, "u": "\u00e9t\u00e9", "big": 9223372036854775807}},
    }


@pytest_twisted.ensureDeferred
async def test_echo_leaves_out_members_other_than_action_headers_and_body(ws):
    """Members a request has besides action, headers and body are not echoed; a request
    naming ``api`` itself is echoed with the server's ``"api": "v2"``."""
    for extra in ({"note": "x"}, {"api": "v1"}):
        document = {"action": "queue_list", "headers": ws.headers(), "body": {}, **extra}
        reply = await ws.raw(json.dumps(document).encode())
        assert reply.status == 200, reply
        assert reply.request == {"action": "queue_list", "headers": ws.headers(),
                                 "body": {}, "api": "v2"}


@pytest_twisted.ensureDeferred
async def test_absent_body_is_echoed_as_empty(ws):
    """Spec 9.3: queue_list on an empty project, without a body, echoes ``"body": {}``."""
    reply = await ws.request("queue_list")
    assert reply.document == {
        "body": {"queues": []},
        "headers": {"status": 200},
        "request": {"action": "queue_list", "body": {}, "api": "v2", "headers": ws.headers()},
    }


@pytest_twisted.ensureDeferred
async def test_each_reply_uses_the_encoding_of_its_request(ws):
    """JSON in gives JSON (text) out and MessagePack in gives MessagePack (binary) out, on one
    connection."""
    for binary in (False, True, False, True):
        reply = await ws.request("queue_list", binary=binary)
        assert reply.binary is binary
        assert reply.status == 200


# Requests that cannot be read.


@pytest_twisted.ensureDeferred
async def test_undecodable_json(ws):
    """Bad JSON: 400 with the decoder's message and a null request echo."""
    reply = await ws.raw(b"{a")
    assert not reply.binary
    assert reply.document == {
        "request": NULL_REQUEST,
        "body": {"error": "Can't decode text (JSON) request. JSONDecodeError: Expecting "
                          "property name enclosed in double quotes: line 1 column 2 (char 1)"},
        "headers": {"status": 400},
    }
    await still_open(ws)


@pytest.mark.parametrize("payload", [b"\xff\xfe{}", b'{"action": NaN}', b'["\\ud800"]', b""])
@pytest_twisted.ensureDeferred
async def test_text_json_cannot_hold(ws, payload):
    """Invalid UTF-8, NaN, lone surrogates and empty text are undecodable: 400, still open."""
    reply = await ws.raw(payload)
    assert reply.status == 400
    assert reply.request == NULL_REQUEST
    assert reply.body["error"].startswith("Can't decode text (JSON) request. ")
    await still_open(ws)


@pytest.mark.parametrize("payload", [
    b"\xc1",
    msgpack.packb({"action": "queue_list", "headers": {"Client-ID": b"bytes"}},
                  use_bin_type=True),
    msgpack.packb({1: "integer key"}),
    msgpack.packb(msgpack.ExtType(5, b"x")),
    b"\x92\x01",
])
@pytest_twisted.ensureDeferred
async def test_undecodable_msgpack(ws, payload):
    """Bad MessagePack, or values JSON cannot hold (bytes, integer keys, extension types):
    400 in MessagePack, still open."""
    reply = await ws.raw(payload, binary=True)
    assert reply.binary
    assert reply.status == 400
    assert reply.request == NULL_REQUEST
    assert reply.body["error"].startswith("Can't decode binary (MessagePack) request. ")
    await still_open(ws)


@pytest.mark.parametrize("document", [[1, 2], "queue_list", 5, None, True])
@pytest_twisted.ensureDeferred
async def test_not_an_object(client, document):
    """A request that is not an object: 400 "Unexpected body type..."."""
    reply = await client.raw(pack(document, client.binary), client.binary)
    assert reply.document == {
        "request": NULL_REQUEST,
        "body": {"error": "Unexpected body type. Expected dict or dict like."},
        "headers": {"status": 400},
    }
    await still_open(client)


@pytest.mark.parametrize("action, text", [
    ("foo", "foo is not a valid action"),
    (None, "None is not a valid action"),
    (7, "7 is not a valid action"),
    (["queue_list"], "['queue_list'] is not a valid action"),
    ("QUEUE_LIST", "QUEUE_LIST is not a valid action"),
])
@pytest_twisted.ensureDeferred
async def test_unknown_action(client, action, text):
    """An unknown or missing action: 400 "<action> is not a valid action", request echoed."""
    document = {"headers": client.headers(), "body": {"x": 1}}
    if action is not None:
        document["action"] = action
    reply = await client.raw(pack(document, client.binary), client.binary)
    assert reply.document == {
        "request": {"action": action, "body": {"x": 1}, "headers": client.headers(),
                    "api": "v2"},
        "body": {"error": text},
        "headers": {"status": 400},
    }
    await still_open(client)


def _schema_cases():
    good = {"Client-ID": "c", "X-Project-ID": "p"}
    return [
        ("no headers", {"action": "queue_list"}),
        ("headers not an object", {"action": "queue_list", "headers": ["Client-ID"]}),
        ("header not a string", {"action": "queue_list", "headers": {**good, "Accept": 5}}),
        ("no Client-ID", {"action": "queue_list", "headers": {"X-Project-ID": "p"}}),
        ("no project", {"action": "queue_get", "headers": {"Client-ID": "c"},
                        "body": {"queue_name": "q"}}),
        ("no body", {"action": "queue_get", "headers": good}),
        ("body not an object", {"action": "queue_list", "headers": good, "body": [1]}),
        ("body null", {"action": "queue_list", "headers": good, "body": None}),
        ("no queue_name", {"action": "queue_get", "headers": good, "body": {}}),
        ("queue_name null", {"action": "queue_get", "headers": good,
                             "body": {"queue_name": None}}),
        ("queue_name a number", {"action": "queue_get", "headers": good,
                                 "body": {"queue_name": 5}}),
        ("limit a string", {"action": "queue_list", "headers": good, "body": {"limit": "5"}}),
        ("limit a float", {"action": "message_list", "headers": good,
                           "body": {"queue_name": "q", "limit": 2.5}}),
        ("limit a bool", {"action": "claim_create", "headers": good,
                          "body": {"queue_name": "q", "limit": True}}),
        ("detailed a string", {"action": "queue_list", "headers": good,
                               "body": {"detailed": "true"}}),
        ("messages an object", {"action": "message_post", "headers": good,
                                "body": {"queue_name": "q", "messages": {"body": 1}}}),
        ("no messages", {"action": "message_post", "headers": good,
                         "body": {"queue_name": "q"}}),
        ("metadata a list", {"action": "queue_create", "headers": good,
                             "body": {"queue_name": "q", "metadata": []}}),
        ("pop a string", {"action": "message_delete_many", "headers": good,
                          "body": {"queue_name": "q", "pop": "1"}}),
        ("message_ids a string", {"action": "message_get_many", "headers": good,
                                  "body": {"queue_name": "q", "message_ids": "a,b"}}),
        ("no claim_id", {"action": "claim_get", "headers": good, "body": {"queue_name": "q"}}),
        ("ttl a string", {"action": "claim_update", "headers": good,
                          "body": {"queue_name": "q", "claim_id": "c", "ttl": "60"}}),
        ("changes an object", {"action": "queue_update", "headers": good,
                               "body": {"queue_name": "q", "changes": {}}}),
        ("authenticate without a token", {"action": "authenticate", "headers": good}),
        ("unavailable action without headers", {"action": "pool_list", "headers": {}}),
    ]


@pytest.mark.parametrize("case, document", _schema_cases(), ids=[c[0] for c in _schema_cases()])
@pytest_twisted.ensureDeferred
async def test_schema_validation_failed(client, case, document):
    """Missing headers or body fields, or JSON types that do not match: 400 "Schema
    validation failed." (what failed in ``exception``), with the request echoed as sent."""
    reply = await client.raw(pack(document, client.binary), client.binary)
    assert reply.status == 400, reply
    assert reply.body == {**SCHEMA, "exception": reply.body.get("exception")}
    assert isinstance(reply.body["exception"], str) and reply.body["exception"]
    assert reply.request == {
        "action": document["action"], "body": document.get("body", {}),
        "headers": document.get("headers", {}), "api": "v2",
    }
    await still_open(client)


@pytest_twisted.ensureDeferred
async def test_null_optional_fields_mean_absent(client):
    """An optional field sent as null is as if left out."""
    reply = await client.request("queue_list", {"limit": None, "marker": None})
    assert reply.status == 200
    assert reply.request["body"] == {"limit": None, "marker": None}


@pytest_twisted.ensureDeferred
async def test_unknown_body_fields_are_ignored(client):
    """Fields an action does not know are ignored, as in the reference schema."""
    reply = await client.request("queue_get", {"queue_name": "q", "colour": "red"})
    assert reply.status == 200


# Size limits.


@SMALL
@pytest_twisted.ensureDeferred
async def test_request_over_the_size_limit(client):
    """A request over max_message_size is answered 400 in its encoding; still open."""
    body = {"queue_name": "q", "messages": [{"body": "x" * 2000}]}
    document = {"action": "message_post", "headers": client.headers(), "body": body}
    reply = await client.raw(pack(document, client.binary), client.binary)
    assert reply.binary is client.binary
    assert reply.document == {
        "request": NULL_REQUEST,
        "body": {"error": "Request too large. The largest request this server reads is "
                          "1024 bytes."},
        "headers": {"status": 400},
    }
    await still_open(client)
    stats = await client.ok("queue_get_stats", {"queue_name": "q"})
    assert stats["messages"]["total"] == 0


@SMALL
@pytest_twisted.ensureDeferred
async def test_fragmented_request_over_the_size_limit(ws):
    """Frames each under the limits that add up to more than max_message_size: 400."""
    ws.protocol.beginMessage(isBinary=False)
    for _ in range(5):
        ws.protocol.sendMessageFrame(b" " * 300)
    ws.protocol.endMessage()
    reply = await ws.next_reply()
    assert reply.status == 400
    assert reply.body["error"].startswith("Request too large.")
    await still_open(ws)


@SMALL
@pytest_twisted.ensureDeferred
async def test_frame_over_the_frame_limit(ws):
    """One frame over max_frame_size (the message under max_message_size): 400."""
    reply = await ws.raw(b" " * 600 + b"{}")
    assert reply.status == 400
    assert reply.body["error"].startswith("Request too large.")
    await still_open(ws)


@SMALL
@pytest_twisted.ensureDeferred
async def test_fragmented_request_under_the_limits_is_answered(ws):
    """A request in several frames, each and all under the limits, is read whole."""
    payload = json.dumps({"action": "queue_list", "headers": ws.headers()}).encode()
    ws.protocol.beginMessage(isBinary=False)
    for start in range(0, len(payload), 20):
        ws.protocol.sendMessageFrame(payload[start:start + 20])
    ws.protocol.endMessage()
    reply = await ws.next_reply()
    assert reply.status == 200, reply


async def _arrived(server_side, octets):
    """Wait (real time) until the server has read ``octets`` bytes of message data."""
    await wait_until(
        lambda: server_side.trafficStats.incomingOctetsAppLevel >= octets,
        timeout=30, what="the data", step=0.02,
    )


def _kept(server_side):
    return sum(len(chunk) for chunk in server_side._chunks)


@SMALL
@pytest_twisted.ensureDeferred
async def test_huge_frame_is_not_buffered(ws, ws_server):
    """A frame announced at 8 MiB (limits 512 B a frame, 1 KiB a request) is read and
    dropped as it streams in, never kept; then answered 400, and the connection goes on."""
    (server_side,) = ws_server.factory.connections
    before = server_side.trafficStats.incomingOctetsAppLevel
    ws.protocol.beginMessage(isBinary=False)
    ws.protocol.beginMessageFrame(8 * 1024 * 1024)
    for _ in range(64):
        ws.protocol.sendMessageFrameData(b"x" * 65536)
    await _arrived(server_side, before + 4 * 1024 * 1024)
    assert _kept(server_side) == 0
    for _ in range(64):
        ws.protocol.sendMessageFrameData(b"x" * 65536)
    ws.protocol.endMessage()
    reply = await ws.next_reply()
    assert reply.status == 400
    await still_open(ws)


@SMALL
@pytest_twisted.ensureDeferred
async def test_many_small_frames_over_the_limit_are_not_buffered(ws, ws_server):
    """Frames each under the frame limit stop being kept once the request passes 1 KiB."""
    (server_side,) = ws_server.factory.connections
    before = server_side.trafficStats.incomingOctetsAppLevel
    ws.protocol.beginMessage(isBinary=True)
    for _ in range(200):
        ws.protocol.sendMessageFrame(b"y" * 500)
    await _arrived(server_side, before + 200 * 500)
    assert _kept(server_side) == 0
    ws.protocol.endMessage()
    reply = await ws.next_reply()
    assert (reply.binary, reply.status) == (True, 400)
    await still_open(ws)


@pytest_twisted.ensureDeferred
async def test_large_replies_are_not_capped(ws):
    """Replies may be larger than max_message_size (a page of 20 large messages)."""
    big = "y" * 200_000
    for _ in range(10):
        await ws.ok("message_post", {"queue_name": "big", "messages": [{"body": big}]})
    reply = await ws.request("message_list", {"queue_name": "big", "echo": True, "limit": 10})
    assert reply.status == 200
    assert len(reply.body["messages"]) == 10


# Frames as they come off the wire: several in one read, one over several reads.


def _client_frame(payload, binary=False, mask=b"\x1f\x8b\x00\xe3", extended=False):
    """A final, masked client frame; ``extended`` writes a short length in 16 bits (not the
    minimal encoding RFC 6455 requires)."""
    size = len(payload)
    head = bytes((0x82 if binary else 0x81,))
    if size < 126 and not extended:
        head += bytes((0x80 | size,))
    else:
        head += bytes((0x80 | 126,)) + size.to_bytes(2, "big")
    masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
    return head + mask + masked


def _raw_client():
    """A TCP client that speaks the handshake itself and collects what the server sends."""
    from twisted.internet.defer import Deferred
    from twisted.internet.protocol import Protocol

    class Raw(Protocol):
        def __init__(self):
            self.received = b""
            self.lost = Deferred()
            self._wanted = None

        def connectionMade(self):
            self.transport.write(
                b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                b"Sec-WebSocket-Version: 13\r\n\r\n"
            )

        def dataReceived(self, data):
            self.received += data
            self._check()

        def connectionLost(self, reason):
            self.lost.callback(None)

        def until(self, predicate):
            """A Deferred firing once ``predicate(received)`` holds."""
            self._wanted = (predicate, Deferred())
            waiting = self._wanted[1]
            self._check()
            return waiting

        def _check(self):
            if self._wanted is not None and self._wanted[0](self.received):
                (_, waiting), self._wanted = self._wanted, None
                waiting.callback(self.received)

    return Raw()


def _server_messages(data):
    """The payloads of the (unmasked, final) frames the server sent after its handshake."""
    data = data.split(b"\r\n\r\n", 1)[1]
    found = []
    while len(data) >= 2:
        size, start = data[1] & 0x7F, 2
        if size == 126:
            size, start = int.from_bytes(data[2:4], "big"), 4
        elif size == 127:
            size, start = int.from_bytes(data[2:10], "big"), 10
        if len(data) < start + size:
            break
        found.append((data[0], data[start:start + size]))
        data = data[start + size:]
    return found


async def _raw_connection(ws_server):
    from twisted.internet import reactor
    from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol

    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", ws_server.port.getHost().port)
    raw = await connectProtocol(endpoint, _raw_client())
    await raw.until(lambda data: b"\r\n\r\n" in data).addTimeout(30, reactor)
    return raw, reactor


@pytest_twisted.ensureDeferred
async def test_frames_coalesced_and_split_on_the_wire_are_all_answered_in_order(ws_server):
    """Three requests in one write (a 7-bit, a 16-bit and a MessagePack length) and one
    request split over three writes get four replies, in order."""
    raw, reactor = await _raw_connection(ws_server)
    headers = {"Client-ID": "3e0d6f5c-6d4b-4b1e-9a57-1b1d7a3f9c11",
               "X-Project-ID": uuid.uuid4().hex[:12]}
    small = json.dumps({"action": "queue_list", "headers": headers},
                       separators=(",", ":")).encode()
    large = json.dumps({"action": "queue_create", "headers": headers,
                        "body": {"queue_name": "wire", "metadata": {"pad": "x" * 300}}}).encode()
    packed = msgpack.packb({"action": "queue_get", "headers": headers,
                            "body": {"queue_name": "wire"}})
    assert len(small) < 126 <= len(large) < 65536
    raw.transport.write(_client_frame(small) + _client_frame(large)
                        + _client_frame(packed, binary=True))
    split = _client_frame(json.dumps({"action": "queue_get_stats", "headers": headers,
                                      "body": {"queue_name": "wire"}}).encode())
    for cut in (split[:1], split[1:9], split[9:]):
        raw.transport.write(cut)
        await pause(0.01)
    received = await raw.until(lambda data: len(_server_messages(data)) == 4).addTimeout(
        30, reactor)
    replies = [(first, msgpack.unpackb(body) if first == 0x82 else json.loads(body))
               for first, body in _server_messages(received)]
    assert [(first, reply["request"]["action"], reply["headers"]["status"])
            for first, reply in replies] == [
        (0x81, "queue_list", 200), (0x81, "queue_create", 201), (0x82, "queue_get", 200),
        (0x81, "queue_get_stats", 200)]
    assert replies[2][1]["body"] == {"pad": "x" * 300}
    raw.transport.loseConnection()
    await raw.lost


@pytest_twisted.ensureDeferred
async def test_length_not_minimally_encoded_fails_the_connection(ws_server):
    """A frame whose short length is written in 16 bits breaks RFC 6455: the server drops
    the connection (Autobahn's protocol error) rather than answering it."""
    raw, reactor = await _raw_connection(ws_server)
    headers = {"Client-ID": "3e0d6f5c-6d4b-4b1e-9a57-1b1d7a3f9c11", "X-Project-ID": "p"}
    raw.transport.write(_client_frame(
        json.dumps({"action": "queue_list", "headers": headers}).encode()[:100],
        extended=True))
    await raw.lost.addTimeout(30, reactor)
    assert _server_messages(raw.received) == []


@pytest.mark.parametrize("document, detail", [
    ({"action": "queue_list", "body": {"limit": "5"}}, "body field limit must be of type integer"),
    ({"action": "message_post", "body": {"queue_name": "q"}}, "body field messages is required"),
    ({"action": "queue_get", "headers": {"Client-ID": 5}}, "header Client-ID must be a string"),
    ({"action": "queue_get", "headers": {}}, "header Client-ID is required"),
    ({"action": "queue_get", "body": []}, "body must be an object"),
])
@pytest_twisted.ensureDeferred
async def test_schema_failure_says_which_field(ws, document, detail):
    """A schema failure keeps "Schema validation failed." as ``error`` and names the field
    that failed in ``exception``."""
    document = {"headers": ws.headers(), **document}
    reply = await ws.raw(json.dumps(document).encode())
    assert (reply.status, reply.body) == (
        400, {"error": "Schema validation failed.", "exception": detail})
