"""Connections: many at once, requests in order, back-pressure on a client that stops reading,
idle timeout on the injected clock, pings, authentication bound to the connection, limits
and shutdown."""

import uuid

import pytest
import pytest_twisted
from twisted.internet import defer
from zope.interface import implementer

from zaqar_tw.context import RequestContext
from zaqar_tw.errors import Unauthorized
from zaqar_tw.interfaces import IAuthenticator

from tests.raw import http_error, raw_connection
from tests.waiting import pause, wait_until

TIMEOUT = 30


def _reactor():
    from twisted.internet import reactor

    return reactor


async def until(condition, timeout=TIMEOUT, step=0.02):
    """Wait (in real time, the network's) until ``condition()`` holds."""
    await wait_until(condition, timeout, "the condition", step)


# Many connections.


@pytest_twisted.ensureDeferred
async def test_thousand_idle_connections_while_another_works(ws_server):
    """1,000 idle connections stay open while another connection posts, lists, claims and
    deletes; its replies are right, and the idle ones still answer afterwards."""
    idle = []
    for _ in range(20):
        batch = await defer.gatherResults(
            [defer.ensureDeferred(ws_server.connect()) for _ in range(50)],
            consumeErrors=True,
        )
        idle.extend(batch)
    worker = await ws_server.connect()
    assert len(ws_server.factory.connections) == 1001

    for round_ in range(20):
        ids = (await worker.ok("message_post", {"queue_name": "work", "messages": [
            {"body": {"round": round_, "n": n}} for n in range(5)]}))["message_ids"]
        claim = await worker.ok("claim_create", {"queue_name": "work", "limit": 5})
        assert [m["id"] for m in claim["messages"]] == ids
        assert [m["body"] for m in claim["messages"]] == [
            {"round": round_, "n": n} for n in range(5)]
        reply = await worker.request("message_delete_many", {
            "queue_name": "work", "message_ids": ids})
        assert reply.status == 204
    stats = await worker.ok("queue_get_stats", {"queue_name": "work"})
    assert stats["messages"]["total"] == 0

    assert len(ws_server.factory.connections) == 1001
    assert not any(client.protocol.closed.called for client in idle)
    for client in (idle[0], idle[499], idle[-1]):
        assert await client.ok("queue_list") == {"queues": []}


@pytest_twisted.ensureDeferred
async def test_pipelined_requests_are_answered_in_order(ws):
    """Many requests sent without waiting are answered one by one, in the order sent, each
    seeing the effect of the ones before."""
    sent = []
    for n in range(60):
        if n % 3 == 0:
            document = {"action": "message_post", "headers": ws.headers(),
                        "body": {"queue_name": "p", "messages": [{"body": n}]}}
        elif n % 3 == 1:
            document = {"action": "queue_get_stats", "headers": ws.headers(),
                        "body": {"queue_name": "p"}}
        else:
            document = {"action": "nonsense", "headers": ws.headers()}
        sent.append(document)
        ws.send_document(document, binary=n % 2 == 1)
    for n, document in enumerate(sent):
        reply = await ws.next_reply()
        assert reply.binary is (n % 2 == 1)
        assert reply.request["action"] == document["action"]
        if n % 3 == 1:
            assert reply.body["messages"]["total"] == n // 3 + 1


# Back-pressure.


@pytest.mark.zaqar_config(("drivers:transport:websocket", "max_write_buffer", "65536"))
@pytest_twisted.ensureDeferred
async def test_client_that_stops_reading_is_not_buffered_without_bound(ws, ws_server):
    """A client that stops reading: the server stops answering (and reading) once
    max_write_buffer bytes of replies wait, so it holds at most that plus one reply; when
    the client reads again, every reply arrives, correct and in order."""
    big = "z" * 100_000
    (message_id,) = (await ws.ok("message_post", {
        "queue_name": "bp", "messages": [{"body": big}]}))["message_ids"]
    (server_side,) = ws_server.factory.connections
    ws.protocol.transport.pauseProducing()  # the client stops reading

    count = 200
    request = {"action": "message_get", "headers": ws.headers(),
               "body": {"queue_name": "bp", "message_id": message_id}}
    for _ in range(count):
        ws.send_document(request)
    # The kernel's socket buffers take some replies; then everything stops.
    await until(lambda: server_side.blocked and server_side._reading_paused)
    stalled_at = None
    while stalled_at != server_side.answered:
        stalled_at = server_side.answered
        await pause(0.2)
    await pause(0.3)

    transport = server_side.transport
    waiting = len(transport.dataBuffer) - transport.offset + transport._tempDataLen
    one_reply = len(big) + 2000
    assert server_side.answered == stalled_at < count
    assert waiting <= 65536 + one_reply
    assert server_side._reading_paused

    ws.protocol.transport.resumeProducing()
    for _ in range(count):
        reply = await ws.next_reply()
        assert reply.status == 200
        assert reply.body["messages"]["id"] == message_id
        assert reply.body["messages"]["body"] == big
    assert server_side.answered == count + 1
    assert not server_side.blocked
    assert not server_side._reading_paused
    assert (await ws.request("queue_list")).status == 200


# Idle timeout, pings.


@pytest.mark.zaqar_config(("drivers:transport:websocket", "idle_timeout", "100"))
@pytest_twisted.ensureDeferred
async def test_idle_connection_is_closed(ws, clock):
    """Nothing received for idle_timeout seconds of the clock closes the connection (1000);
    each request starts the wait again."""
    clock.advance(99)
    await ws.ok("queue_list")
    clock.advance(99)
    assert not ws.protocol.closed.called
    await ws.ok("queue_list")
    clock.advance(100)
    code, reason = await ws.protocol.closed.addTimeout(TIMEOUT, _reactor())
    assert (code, reason) == (1000, "Idle for too long.")


@pytest.mark.zaqar_config(("drivers:transport:websocket", "idle_timeout", "100"))
@pytest_twisted.ensureDeferred
async def test_a_slow_client_gets_time_to_answer_the_close(ws_server, ws, clock):
    """A client that answers the server's close 1.5 s late still closes cleanly: the server
    waits for it (Autobahn's own default, one second rounded down to a whole second of the
    clock, could give up at once and reset the connection before the client read the close)."""
    (server_side,) = ws_server.factory.connections
    client = ws.protocol
    send_close_frame = client.sendCloseFrame

    def late_answer(*args, isReply=False, **kwargs):
        if not isReply:
            return send_close_frame(*args, isReply=isReply, **kwargs)
        _reactor().callLater(1.5, send_close_frame, *args, isReply=isReply, **kwargs)

    client.sendCloseFrame = late_answer
    clock.advance(100)
    assert await client.closed.addTimeout(TIMEOUT, _reactor()) == (1000, "Idle for too long.")
    await until(lambda: server_side.state == server_side.STATE_CLOSED)
    assert server_side.wasClean
    assert not server_side.wasCloseHandshakeTimeout


@pytest.mark.zaqar_config(("drivers:transport:websocket", "idle_timeout", "0"))
@pytest_twisted.ensureDeferred
async def test_idle_timeout_zero_never_closes(ws, clock):
    """idle_timeout = 0 keeps quiet connections open."""
    clock.advance(10**7)
    assert await ws.ok("queue_list") == {"queues": []}


@pytest.mark.zaqar_config(
    ("drivers:transport:websocket", "auto_ping_interval", "0.05"),
    ("drivers:transport:websocket", "auto_ping_timeout", "5"),
)
@pytest_twisted.ensureDeferred
async def test_server_pings_clients(ws):
    """With auto_ping_interval set, the server pings; the client's pong keeps it open."""
    pinged = defer.Deferred()
    answer = ws.protocol.onPing

    def on_ping(payload):
        answer(payload)
        if not pinged.called:
            pinged.callback(payload)

    ws.protocol.onPing = on_ping
    await pinged.addTimeout(TIMEOUT, _reactor())
    assert await ws.ok("queue_list") == {"queues": []}


def test_factory_takes_its_options_from_the_config():
    """The config's limits become Autobahn's options and the connection's limits; Autobahn's
    own size caps stay off (the connection enforces them without closing)."""
    from zaqar_tw.config import Config
    from zaqar_tw.transport.websocket.factory import ZaqarServerFactory

    config = Config()
    config.set("drivers:transport:websocket", "auto_ping_interval", "12")
    config.set("drivers:transport:websocket", "max_connections", "7")
    factory = ZaqarServerFactory(None, config, None, _reactor())
    assert (factory.autoPingInterval, factory.autoPingTimeout) == (12.0, 10.0)
    assert factory.maxConnections == 7
    assert (factory.maxMessagePayloadSize, factory.maxFramePayloadSize) == (0, 0)
    assert (factory.max_message_size, factory.max_frame_size) == (1048576, 1048576)
    assert factory.max_write_buffer == 262144
    assert factory.idle_timeout == 3600.0
    assert factory.webStatus is False
    assert factory.clock is _reactor()


@pytest.mark.zaqar_config(("drivers:transport:websocket", "max_connections", "2"))
@pytest_twisted.ensureDeferred
async def test_connections_over_the_limit_are_refused(ws_server):
    """max_connections: one more is refused at the handshake; the others work on."""
    first = await ws_server.connect()
    await ws_server.connect()
    with pytest.raises(Exception):
        await ws_server.connect()
    assert await first.ok("queue_list") == {"queues": []}


@pytest.mark.zaqar_config(
    ("drivers:transport:websocket", "max_connections_per_address", "2"))
@pytest_twisted.ensureDeferred
async def test_connections_per_address_are_capped(ws_server):
    """Past max_connections_per_address from one address, a connection is answered 503 in
    the error format before its handshake and closed; once one closes, a new one is served."""
    first = await ws_server.connect()
    second = await ws_server.connect()
    refused = await raw_connection("127.0.0.1", ws_server.port.getHost().port)
    refused.transport.write(
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    await wait_until(lambda: refused.closed.called, timeout=5, what="the refusal")
    status, body = http_error(refused.received)
    assert status == 503 and body["title"] == "Service Unavailable"
    assert "at most 2 connections from one address" in body["description"]
    assert b"Retry-After: 1" in refused.received
    assert await second.ok("queue_list") == {"queues": []}
    await first.close()
    third = await ws_server.connect()
    assert await third.ok("queue_list") == {"queues": []}


@pytest_twisted.ensureDeferred
async def test_stopping_the_listener_closes_connections(ws, ws_server):
    """When the listener stops, open connections are closed with 1001."""
    await ws_server.port.stopListening()
    code, reason = await ws.protocol.closed.addTimeout(TIMEOUT, _reactor())
    assert (code, reason) == (1001, "Server shutting down.")
    assert ws_server.factory.connections == set()


@pytest_twisted.ensureDeferred
async def test_closed_connection_is_forgotten(ws, ws_server):
    """A client that goes away leaves no connection behind."""
    assert len(ws_server.factory.connections) == 1
    await ws.close()
    await until(lambda: not ws_server.factory.connections)


# Authentication bound to the connection.


@pytest_twisted.ensureDeferred
async def test_authenticated_connection_stays_on_its_project(ws):
    """After authenticate, requests for another project get 403 "Not authenticated.";
    authenticating again binds the connection to the new project."""
    other = uuid.uuid4().hex
    reply = await ws.request("authenticate", headers=ws.headers(**{"X-Auth-Token": "t"}))
    assert reply.status == 200
    await ws.ok("queue_create", {"queue_name": "mine"})
    reply = await ws.request("queue_list", headers={"Client-ID": ws.client_id,
                                                    "X-Project-ID": other})
    assert reply.status == 403
    assert reply.body == {"exception": "Not authenticated.", "error": "Not authenticated."}
    reply = await ws.request("authenticate", headers={
        "Client-ID": ws.client_id, "X-Project-ID": other, "X-Auth-Token": "t"})
    assert reply.status == 200
    reply = await ws.request("queue_list", headers={"Client-ID": ws.client_id,
                                                    "X-Project-ID": other})
    assert (reply.status, reply.body) == (200, {"queues": []})
    assert (await ws.request("queue_list")).status == 403


@pytest_twisted.ensureDeferred
async def test_unauthenticated_connection_may_name_any_project(ws):
    """Without authenticate, each request names its project (no-auth)."""
    for project in (uuid.uuid4().hex, uuid.uuid4().hex):
        reply = await ws.request("queue_list", headers={"Client-ID": ws.client_id,
                                                        "X-Project-ID": project})
        assert reply.status == 200


@implementer(IAuthenticator)
class _TokenAuth:
    """A token-checking provider: token ``good-<project>`` identifies that project (for
    ``lifetime`` seconds of the clock from each check, when set)."""

    def __init__(self, clock):
        self.seen = []
        self.clock = clock
        self.lifetime = None

    def authenticate(self, headers, method, path):
        self.seen.append((dict(headers), method, path))
        token = headers.get("x-auth-token", "")
        if not token.startswith("good-"):
            return defer.fail(Unauthorized("The token is not valid."))
        expires = None if self.lifetime is None else self.clock.seconds() + self.lifetime
        return defer.succeed(RequestContext(project=token[5:], client_id=headers["client-id"],
                                            expires=expires))


@pytest.fixture
def authenticator(request, config, clock):
    """No-auth, or a token-checking provider for the tests that ask for it."""
    if "token_auth" in request.node.name:
        return _TokenAuth(clock)
    from zaqar_tw.auth.noauth import NoAuth

    return NoAuth(None, config)


@pytest_twisted.ensureDeferred
async def test_token_auth_through_the_same_seam(ws, authenticator):
    """Every request goes through the authenticator with its headers and its REST twin's
    method and path; before authenticate a connection is refused ("Not authentified.");
    after it, the connection's token identifies every request (a request's own token is
    not looked at); a failed authenticate is 401 "Authentication failed."."""
    project = ws.project
    reply = await ws.request("queue_list")
    assert (reply.status, reply.body) == (403, {"error": "Not authentified."})
    reply = await ws.request(
        "queue_list", headers=ws.headers(**{"X-Auth-Token": f"good-{project}"})
    )
    assert (reply.status, reply.body) == (403, {"error": "Not authentified."})
    reply = await ws.request("authenticate", headers=ws.headers(**{"X-Auth-Token": "bad"}))
    assert reply.status == 401
    assert reply.body == {"exception": "The token is not valid.",
                          "error": "Authentication failed."}
    reply = await ws.request("authenticate",
                             headers=ws.headers(**{"X-Auth-Token": f"good-{project}"}))
    assert (reply.status, reply.body) == (200, {"message": "Authentified."})
    await ws.ok("message_post", {"queue_name": "q", "messages": [{"body": 1}]})
    headers, method, path = authenticator.seen[-1]
    assert (method, path) == ("POST", "/v2/queues/q/messages")
    assert headers["x-auth-token"] == f"good-{project}"
    assert headers["client-id"] == ws.client_id
    reply = await ws.request("message_list", {"queue_name": "q"}, headers=ws.headers(
        **{"X-Auth-Token": f"good-{uuid.uuid4().hex}"}))
    assert reply.status == 200
    assert authenticator.seen[-1][0]["x-auth-token"] == f"good-{project}"
    reply = await ws.request("message_list", {"queue_name": "q"}, headers=ws.headers(
        **{"X-Project-ID": uuid.uuid4().hex}))
    assert reply.status == 403


@pytest_twisted.ensureDeferred
@pytest.mark.zaqar_config(("drivers:transport:websocket", "idle_timeout", "0"))
async def test_token_auth_identity_expires(ws, authenticator, clock):
    """Once the clock passes the expiry of the identity ``authenticate`` bound, every frame
    gets "Not authentified." (though the authenticator would still take the token) until
    the connection authenticates again; the connection stays open."""
    authenticator.lifetime = 60
    token = {"X-Auth-Token": f"good-{ws.project}"}
    assert (await ws.request("authenticate", headers=ws.headers(**token))).status == 200
    clock.advance(59)
    assert (await ws.request("queue_list")).status == 200
    clock.advance(1)
    for _ in range(2):
        reply = await ws.request("queue_list")
        assert (reply.status, reply.body) == (403, {"error": "Not authentified."})
    assert not ws.protocol.closed.called
    assert (await ws.request("authenticate", headers=ws.headers(**token))).status == 200
    assert (await ws.request("queue_list")).status == 200
