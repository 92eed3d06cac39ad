"""A raw TCP client for tests that look at the bytes a server sends (refusals, timeouts)."""

import json


async def raw_connection(host, port):
    """A raw TCP connection to ``host:port``: ``.received`` bytes, ``.closed`` Deferred."""
    from twisted.internet import reactor
    from twisted.internet.defer import Deferred
    from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
    from twisted.internet.protocol import Protocol

    class Raw(Protocol):
        def __init__(self):
            self.received = b""
            self.closed = Deferred()

        def dataReceived(self, data):
            self.received += data

        def connectionLost(self, reason):
            self.closed.callback(None)

    return await connectProtocol(TCP4ClientEndpoint(reactor, host, int(port)), Raw())


def http_error(raw):
    """``(status, decoded JSON body)`` of a raw HTTP response."""
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)
