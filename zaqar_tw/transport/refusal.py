"""Refusing a connection past a cap, on either transport, before any request is read: a whole
HTTP/1.1 response in the JSON error format (a WebSocket handshake is an HTTP request too), then
the connection closes."""

import orjson
from twisted.internet.protocol import Protocol


def error_response(status, reason, title, description, headers=b""):
    """A whole HTTP/1.1 response carrying a JSON error body, that closes the connection."""
    body = orjson.dumps({"title": title, "description": description})
    return (
        b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
        b"Connection: close\r\n%s\r\n%s" % (status, reason, len(body), headers, body)
    )


class Refusal(Protocol):
    """Answers a connection past a cap with 503 (``Retry-After: 1``) and closes it.

    :param reason: the error description, saying which cap was reached.
    """

    def __init__(self, reason):
        self._reason = reason

    def connectionMade(self):
        self.transport.write(error_response(
            503, b"Service Unavailable", "Service Unavailable", self._reason,
            b"Retry-After: 1\r\n",
        ))
        self.transport.loseConnection()


def per_address_refusal(cap):
    """The :class:`Refusal` of a connection past ``cap`` connections from one address."""
    return Refusal(f"This server serves at most {cap} connections from one address at once; "
                   "retry later.")


class AddressCount:
    """How many connections each client address holds open, against a cap.

    :param cap: connections one address may hold at once (``0``: no cap).
    """

    def __init__(self, cap):
        self.cap = cap
        self._open = {}
        self._address_of = {}

    def full(self, address):
        """Whether ``address`` holds as many connections as the cap allows."""
        return bool(self.cap) and self._open.get(address, 0) >= self.cap

    def add(self, connection, address):
        """``connection`` from ``address`` opened."""
        self._address_of[connection] = address
        self._open[address] = self._open.get(address, 0) + 1

    def remove(self, connection):
        """``connection`` went away (nothing happens when :meth:`add` never counted it, or
        it was removed already)."""
        address = self._address_of.pop(connection, _UNKNOWN)
        if address is _UNKNOWN:
            return
        left = self._open[address] - 1
        if left:
            self._open[address] = left
        else:
            del self._open[address]


_UNKNOWN = object()
