"""Slow clients against a real service at a lowered open-files limit (issue 13, finding 7).

``twistd -n zaqar`` runs as a child whose open-files limit is lowered to 256 (soft and hard,
in the child only: this process keeps its own).  Three hundred connections from 127.0.0.2
each send a byte of headers every half second; meanwhile a client on 127.0.0.1 posts and
lists.  The slow connections are closed on time (408, or 503 past the per-address cap), the
normal client is served throughout, and the service logs the limit it runs with.
"""

import resource
import time

import pytest_twisted

from tests.processes import ZaqarProcess
from tests.waiting import pause, wait_until

OPEN_FILES = 256
SLOW = 300
HEADER_TIMEOUT = 2
CONFIG = f"""
[drivers:transport:wsgi]
header_timeout = {HEADER_TIMEOUT}
max_connections_per_address = 100
"""


def _lower_open_files():
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))


async def _slow_connection(url):
    """A connection from 127.0.0.2 that trickles headers; records when it was closed."""
    from twisted.internet import reactor
    from twisted.internet.defer import Deferred
    from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
    from twisted.internet.protocol import Protocol
    from twisted.internet.task import LoopingCall

    class Trickle(Protocol):
        def __init__(self):
            self.received = b""
            self.opened_at = time.monotonic()
            self.closed_at = None
            self.closed = Deferred()
            self._bytes = iter(b"GET /v2/queues HTTP/1.1\r\nX-Slow: " + b"x" * 1000)
            self._sender = LoopingCall(self._send)

        def connectionMade(self):
            self._sender.start(0.5)

        def _send(self):
            self.transport.write(bytes([next(self._bytes)]))

        def dataReceived(self, data):
            self.received += data

        def connectionLost(self, reason):
            self.closed_at = time.monotonic()
            if self._sender.running:
                self._sender.stop()
            self.closed.callback(None)

    host, port = url.rsplit("/", 1)[1].split(":")
    endpoint = TCP4ClientEndpoint(reactor, host, int(port), bindAddress=("127.0.0.2", 0))
    return await connectProtocol(endpoint, Trickle())


@pytest_twisted.ensureDeferred
async def test_slow_clients_are_closed_on_time_and_others_keep_working(tmp_path):
    """At 256 open files, 300 trickling connections are all closed within the header
    deadline (plus the one-second check), and a normal client's requests all succeed
    meanwhile."""
    from tests.processes import Http

    service = ZaqarProcess(str(tmp_path / "zaqar"), "redis://127.0.0.1:6379", CONFIG)
    service.preexec = _lower_open_files
    await service.start()
    http = Http("slowtest", "8f6f7b7e-2b9e-11e3-b191-71861300734c")
    slow = []
    try:
        assert f"open files: limit {OPEN_FILES}" in service.output()
        slow = [await _slow_connection(service.url) for _ in range(SLOW)]
        started = time.monotonic()
        statuses = []
        while time.monotonic() - started < HEADER_TIMEOUT + 3:
            before = time.monotonic()
            status, _ = await http.call(
                "POST", f"{service.url}/v2/queues/slow/messages",
                {"messages": [{"body": len(statuses)}]})
            statuses.append(status)
            status, _ = await http.call("GET", f"{service.url}/v2/queues/slow/stats")
            statuses.append(status)
            assert time.monotonic() - before < 2.0, "a normal request waited too long"
            await pause(0.1)
        assert set(statuses) <= {200, 201}, statuses
        await wait_until(lambda: all(c.closed.called for c in slow), timeout=10,
                         what="every slow connection closed")
        late = [c.closed_at - c.opened_at for c in slow
                if c.closed_at - c.opened_at > HEADER_TIMEOUT + 1.5]
        assert not late, f"{len(late)} slow connections closed late: {max(late):.1f} s"
        answers = {c.received.split(b" ", 2)[1] for c in slow}
        assert answers <= {b"408", b"503"} and b"408" in answers, answers
    finally:
        for connection in slow:
            if not connection.closed.called:
                connection.transport.abortConnection()
        await http.close()
        await service.stop()
