"""HTTP connections that no slow or greedy client can hold for long.

* **Deadlines.** A request's headers must arrive within ``header_timeout`` seconds (counted
  from the connection's opening, or from the first byte of a later request on a kept-alive
  connection), and its body within ``body_timeout`` seconds of its headers.  Sending a byte
  now and then does not extend them (the idle timeout, which does restart on each byte, only
  governs connections with no request under way).  Past a deadline, the client gets 408 in
  the error format and the connection is closed.
* **Caps.** At most ``max_connections`` connections at once (``0``: the open-files limit
  less :data:`FD_RESERVE`, see :mod:`zaqar_tw.openfiles`), and at most
  ``max_connections_per_address`` from one client address (``0``: no cap).  A connection
  past a cap is still accepted, answered 503 in the error format and closed, so a client is
  told rather than left waiting; the reserve of file descriptors keeps accepting possible
  while every slot is taken.

Deadlines are checked by one timer per site, every :data:`CHECK_INTERVAL` seconds of the
injected clock, so a request pays for no timer of its own.
"""

import resource

from twisted.internet.task import LoopingCall
from twisted.web.http import HTTPChannel
from twisted.web.server import Site

from zaqar_tw.transport.refusal import (
    AddressCount, Refusal, error_response, per_address_refusal,
)

FD_RESERVE = 64  # descriptors kept for the store, logs, the WebSocket side and refusals
CHECK_INTERVAL = 1.0
_HEADERS, _BODY = "headers", "body"


def automatic_max_connections():
    """The overall cap when ``max_connections`` is 0: the soft open-files limit less the
    reserve (at least 1)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    return max(1, soft - FD_RESERVE)


class GuardedChannel(HTTPChannel):
    """An :class:`~twisted.web.http.HTTPChannel` that tells its site which part of a request
    it is waiting for, and since when."""

    waiting_for = None  # _HEADERS, _BODY or None (no request under way)
    since = 0.0

    def connectionMade(self):
        super().connectionMade()
        self._wait(_HEADERS)

    def connectionLost(self, reason):
        self.factory.closed(self)
        super().connectionLost(reason)

    def dataReceived(self, data):
        if self.waiting_for is None and not self._handlingRequest:
            self._wait(_HEADERS)
        super().dataReceived(data)

    def allHeadersReceived(self):
        super().allHeadersReceived()
        self._wait(_BODY if self._transferDecoder is not None and self.length != 0 else None)

    def allContentReceived(self):
        self.waiting_for = None
        super().allContentReceived()

    def _wait(self, part):
        self.waiting_for = part
        if part is not None:
            self.since = self.factory.clock.seconds()

    def too_slow(self):
        """A deadline passed: answer 408 and close."""
        part = self.waiting_for
        self.waiting_for = None
        self.transport.write(error_response(
            408, b"Request Timeout", "Request timeout",
            f"The request's {part} did not arrive in time.",
        ))
        self.transport.loseConnection()


class GuardedSite(Site):
    """A :class:`~twisted.web.server.Site` of :class:`GuardedChannel` connections, with the
    deadlines and caps of the module.

    :ivar clock: the ``IReactorTime`` of the deadlines (the site's reactor).
    :ivar channels: the open connections served.
    """

    protocol = GuardedChannel

    def __init__(self, resource, limits, **kwargs):
        """:param limits: the ``[drivers:transport:wsgi]`` section (``header_timeout``,
        ``body_timeout``, ``max_connections``, ``max_connections_per_address``)."""
        super().__init__(resource, **kwargs)
        self.clock = self.reactor
        self.header_timeout = limits.header_timeout
        self.body_timeout = limits.body_timeout
        self.max_connections = limits.max_connections or automatic_max_connections()
        self.channels = set()
        self._per_address = AddressCount(limits.max_connections_per_address)
        self._checker = LoopingCall(self.check_deadlines)
        self._checker.clock = self.clock

    def startFactory(self):
        super().startFactory()
        if (self.header_timeout or self.body_timeout) and not self._checker.running:
            self._checker.start(CHECK_INTERVAL, now=False)

    def stopFactory(self):
        if self._checker.running:
            self._checker.stop()
        super().stopFactory()

    def buildProtocol(self, addr):
        host = getattr(addr, "host", None)
        if len(self.channels) >= self.max_connections:
            return Refusal(f"This server serves at most {self.max_connections} "
                           "connections at once; retry later.")
        if self._per_address.full(host):
            return per_address_refusal(self._per_address.cap)
        channel = super().buildProtocol(addr)
        self.channels.add(channel)
        self._per_address.add(channel, host)
        return channel

    def closed(self, channel):
        """A connection went away."""
        self.channels.discard(channel)
        self._per_address.remove(channel)

    def check_deadlines(self):
        """Close the connections whose request is late."""
        now = self.clock.seconds()
        limits = {_HEADERS: self.header_timeout, _BODY: self.body_timeout}
        for channel in [c for c in self.channels if c.waiting_for is not None]:
            limit = limits[channel.waiting_for]
            if limit and now - channel.since >= limit:
                channel.too_slow()
