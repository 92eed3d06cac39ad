"""Requests that never buffer more body than any operation could accept.

twisted.web reads a whole body before a handler runs.  A request whose body passes the cap
(by its ``Content-Length``, or while a chunked upload streams in) keeps being read, so the
connection stays usable, but its bytes are dropped and it is answered with a 413.
"""

from twisted.web.server import Request


class BoundedRequest(Request):
    """A :class:`~twisted.web.server.Request` that drops a body beyond ``max_body`` bytes.

    :ivar too_large: whether the body passed the cap (its bytes were then dropped).
    """

    max_body = 1 << 20

    #: Called (without arguments) if the connection is lost before the response is done;
    #: a cheaper ``notifyFinish().addErrback(...)`` for the hot routes.
    on_lost = None

    def __init__(self, channel, *args, **kwargs):
        _remember_host(channel)
        super().__init__(channel, *args, **kwargs)
        self.too_large = False
        self._received = 0

    def connectionLost(self, reason):
        """Note the loss as twisted.web does, then call :attr:`on_lost`."""
        super().connectionLost(reason)
        on_lost, self.on_lost = self.on_lost, None
        if on_lost is not None:
            on_lost()

    def gotLength(self, length):
        """Note a ``Content-Length`` over the cap before any byte arrives."""
        super().gotLength(length)
        if length is not None and length > self.max_body:
            self.too_large = True

    def handleContentChunk(self, data):
        """Buffer a chunk of body, unless the body has passed the cap."""
        if self.too_large:
            return
        self._received += len(data)
        if self._received > self.max_body:
            self.too_large = True
            self.content.seek(0)
            self.content.truncate()
            return
        super().handleContentChunk(data)


def _remember_host(channel):
    """Make ``channel.getHost()`` answer from memory: twisted.web asks for every request,
    and a TCP transport asks the kernel each time (``getsockname``), though a connection's
    local address never changes."""
    if channel is None or "getHost" in vars(channel):
        return
    host = channel.getHost()
    channel.getHost = lambda: host


def bounded_request_factory(max_body):
    """A ``Site.requestFactory`` whose requests cap their bodies at ``max_body`` bytes."""
    return type("CappedRequest", (BoundedRequest,), {"max_body": max_body})
