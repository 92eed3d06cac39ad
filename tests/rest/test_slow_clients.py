"""Slow and greedy clients (issue 13, finding 7), in process on the test clock: deadlines for
a request's headers and body that trickling bytes do not extend, and caps on connections
overall and per client address, each answered in the error format."""


import pytest
import pytest_twisted

from tests.raw import http_error, raw_connection
from tests.waiting import pause, wait_until

WSGI = "drivers:transport:wsgi"


async def _connect(api):
    """A raw TCP connection to the service's REST API."""
    host, port = api.url.rsplit("/", 1)[1].split(":")
    return await raw_connection(host, port)


async def _assert_timed_out(connection, part):
    """The connection is closed after a 408 saying which part of the request was late."""
    await wait_until(lambda: connection.closed.called, timeout=5, what="the slow client closed")
    assert http_error(connection.received) == (
        408, {"title": "Request timeout",
              "description": f"The request's {part} did not arrive in time."})


async def _trickle(api, connection, data, seconds):
    """Send ``data`` one byte per second of the test clock, for at most ``seconds``."""
    for byte in data[:seconds]:
        connection.transport.write(bytes([byte]))
        await pause(0.01)
        api.advance(1)
        await pause(0.01)
        if connection.closed.called:
            return


@pytest.mark.zaqar_config((WSGI, "header_timeout", "10"), (WSGI, "idle_timeout", "120"))
@pytest_twisted.ensureDeferred
async def test_trickled_headers_get_408_at_the_header_deadline(api):
    """A client that sends a header byte every second is answered 408 and closed once
    header_timeout has passed, though it never stayed silent."""
    slow = await _connect(api)
    await _trickle(api, slow, b"GET /v2/queues HTTP/1.1\r\nX-Long-Header: " + b"x" * 100, 40)
    await _assert_timed_out(slow, "headers")


@pytest.mark.zaqar_config((WSGI, "header_timeout", "10"), (WSGI, "body_timeout", "20"))
@pytest_twisted.ensureDeferred
async def test_trickled_body_gets_408_at_the_body_deadline(api):
    """A body sent a byte a second is cut off once body_timeout has passed since the
    headers arrived."""
    slow = await _connect(api)
    head = (f"POST /v2/queues/q/messages HTTP/1.1\r\nHost: x\r\nClient-ID: {api.client_id}\r\n"
            f"X-Project-ID: {api.project}\r\nContent-Type: application/json\r\n"
            "Content-Length: 1000\r\n\r\n")
    slow.transport.write(head.encode())
    await _trickle(api, slow, b'{"messages": [' + b" " * 900, 19)
    assert not slow.closed.called
    await _trickle(api, slow, b" " * 10, 5)
    await _assert_timed_out(slow, "body")


@pytest.mark.zaqar_config((WSGI, "header_timeout", "10"), (WSGI, "idle_timeout", "120"))
@pytest_twisted.ensureDeferred
async def test_kept_alive_connections_wait_for_the_idle_timeout_only(api):
    """Between requests, a kept-alive connection is governed by idle_timeout, not by the
    header deadline; a quick request on it is served."""
    client = await _connect(api)
    request = (f"GET /v2/queues HTTP/1.1\r\nHost: x\r\nClient-ID: {api.client_id}\r\n"
               f"X-Project-ID: {api.project}\r\n\r\n").encode()
    client.transport.write(request)
    await wait_until(lambda: b"200 OK" in client.received, timeout=5, what="a response")
    api.advance(60)
    await pause(0.05)
    assert not client.closed.called
    client.received = b""
    client.transport.write(request)
    await wait_until(lambda: b"200 OK" in client.received, timeout=5, what="a response")
    client.transport.loseConnection()


@pytest.mark.zaqar_config((WSGI, "max_connections_per_address", "3"))
@pytest_twisted.ensureDeferred
async def test_connections_per_address_are_capped(api):
    """Past max_connections_per_address from one address, a connection gets 503 in the
    error format with Retry-After and is closed; the others are unaffected, and once one
    closes a new one is served."""
    held = [await _connect(api) for _ in range(3)]
    refused = await _connect(api)
    await wait_until(lambda: refused.closed.called, timeout=5, what="the refusal")
    status, body = http_error(refused.received)
    assert status == 503 and body["title"] == "Service Unavailable"
    assert "at most 3 connections from one address" in body["description"]
    assert b"Retry-After: 1" in refused.received
    held[0].transport.loseConnection()
    await held[0].closed
    await pause(0.05)
    reply = await api.get("/v2/queues")
    assert reply.status == 200
    for connection in held[1:]:
        connection.transport.loseConnection()


@pytest.mark.zaqar_config((WSGI, "max_connections", "2"))
@pytest_twisted.ensureDeferred
async def test_connections_are_capped_overall(api):
    """Past max_connections, a connection gets 503 and is closed."""
    held = [await _connect(api) for _ in range(2)]
    refused = await _connect(api)
    await wait_until(lambda: refused.closed.called, timeout=5, what="the refusal")
    status, body = http_error(refused.received)
    assert status == 503 and "at most 2 connections at once" in body["description"]
    for connection in held:
        connection.transport.loseConnection()
        await connection.closed
    await pause(0.05)
    assert (await api.get("/v2/queues")).status == 200
