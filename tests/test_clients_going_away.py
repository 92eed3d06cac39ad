"""A client that goes away while its request is being answered is an expected event: it is
not logged as an error, and it leaves the service serving."""

import json
import os
import signal
import uuid

import pytest_twisted
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import LogLevel

from zaqar_tw import config as configuration
from zaqar_tw import service as zservice

from tests.processes import Http, RedisProcess
from tests.waiting import pause, wait_until


def _reactor():
    from twisted.internet import reactor

    return reactor


class _Sender(Protocol):
    """Sends its bytes once connected, then waits to be dropped."""

    def __init__(self, data):
        self.data = data

    def connectionMade(self):
        self.transport.write(self.data)


def _request(method, path, project, body=b""):
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: test\r\nClient-ID: {uuid.uuid4()}\r\n"
        f"X-Project-ID: {project}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _ws_request(project, action, body):
    """A WebSocket upgrade followed by one masked text frame carrying a request."""
    payload = json.dumps({"action": action, "body": body, "headers": {
        "Client-ID": str(uuid.uuid4()), "X-Project-ID": project}}).encode()
    mask = os.urandom(4)
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    frame = bytes([0x81, 0x80 | 126]) + len(payload).to_bytes(2, "big") + mask + masked
    upgrade = (
        "GET / HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    return upgrade.encode() + frame


async def _send_and_vanish(port, data):
    """Connect to 127.0.0.1:``port``, send ``data``, and leave once it is sent."""
    from twisted.internet.endpoints import TCP4ClientEndpoint

    protocol = await TCP4ClientEndpoint(_reactor(), "127.0.0.1", port).connect(
        Factory.forProtocol(lambda: _Sender(data))
    )
    return protocol


@pytest_twisted.ensureDeferred
async def test_clients_that_go_away_are_not_errors(tmp_path, logged):
    """REST clients (a hot route and a routed one) and a WebSocket client that leave while
    the store is answering their requests cause no error or traceback in the log."""
    redis = await RedisProcess(str(tmp_path / "redis")).start()
    config = configuration.Config()
    for section, name, value in [
        ("drivers:message_store:redis", "uri", redis.uri),
        ("service", "rest", "tcp:0:interface=127.0.0.1"),
        ("service", "websocket", "tcp:0:interface=127.0.0.1"),
    ]:
        config.set(section, name, value)
    top = zservice.makeService(config, _reactor())
    top.startService()
    project = uuid.uuid4().hex
    frozen = False
    try:
        rest = (await top.getServiceNamed("rest")._waitingForPort).getHost().port
        ws = (await top.getServiceNamed("websocket")._waitingForPort).getHost().port
        http = Http(project, str(uuid.uuid4()))
        url = f"http://127.0.0.1:{rest}/v2/queues/q/messages"
        await wait_until(lambda: _posted(http, url), what="the store")

        os.kill(redis.pid, signal.SIGSTOP)  # the store now answers nothing
        frozen = True
        posted = json.dumps({"messages": [{"body": "x"}]}).encode()
        clients = [
            await _send_and_vanish(rest, _request("POST", "/v2/queues/q/messages", project,
                                                  posted)),
            await _send_and_vanish(rest, _request("GET", "/v2/queues/q/stats", project)),
            await _send_and_vanish(rest, _request("PUT", "/v2/queues/r", project, b"{}")),
            await _send_and_vanish(ws, _ws_request(project, "message_list",
                                                   {"queue_name": "q", "echo": True})),
        ]
        await pause(0.3)  # the requests are read and wait on the store
        for client in clients:
            client.transport.abortConnection()
        await pause(0.3)
        os.kill(redis.pid, signal.SIGCONT)
        frozen = False
        assert await _posted(http, url)  # the store answers again, and the service serves
        await http.close()
    finally:
        if frozen:
            os.kill(redis.pid, signal.SIGCONT)
        await top.stopService()
        await redis.kill()
    bad = [event for event in logged
           if "log_failure" in event or event.get("log_level") in (LogLevel.error,
                                                                    LogLevel.critical)]
    assert bad == [], bad


async def _posted(http, url):
    status, _ = await http.call("POST", url, {"messages": [{"body": 1}]})
    return status == 201
