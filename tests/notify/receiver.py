"""A real HTTP subscriber for notification tests: a twisted.web site on an ephemeral port of
127.0.0.1 that records every request it gets.

It answers ``status`` (204 unless a test changes it), or, while ``hold`` is set, keeps the
request open without answering (a subscriber that hangs).
"""

import json

from twisted.internet.defer import Deferred
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

TIMEOUT = 30  # seconds of real time a test waits for deliveries before it fails


class Received:
    """One request the receiver got.

    :ivar method: e.g. ``"POST"``.
    :ivar path: the path and query, e.g. ``"/hook?x=1"``.
    :ivar headers: lowercase header names to text (repeated ones joined by ``, ``).
    :ivar body: the raw body bytes.
    :ivar client_port: the port of the connection it came on (one per client connection).
    """

    def __init__(self, method, path, headers, body, client_port=None):
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.client_port = client_port

    @property
    def json(self):
        """The body decoded as JSON."""
        return json.loads(self.body)

    def __repr__(self):
        return f"<Received {self.method} {self.path} {self.body[:200]!r}>"


class Receiver(Resource):
    """Records requests; :meth:`wait_for` waits until a number of them came.

    :ivar requests: the :class:`Received` requests, in arrival order.
    :ivar status: the status code answered.
    :ivar answer_headers: headers (a dict of text) sent with each answer.
    :ivar hold: when true, requests are left unanswered (see :meth:`release`).
    :ivar trickle: when true, the answer's headers and a first piece of its body are sent,
        and the rest never is.
    """

    isLeaf = True

    def __init__(self, reactor):
        super().__init__()
        self._reactor = reactor
        self.requests = []
        self.status = 204
        self.answer_headers = {}
        self.hold = False
        self.trickle = False
        self._held = []
        self._waiters = []
        self.port = None

    @property
    def url(self):
        """``http://127.0.0.1:<port>``"""
        return f"http://127.0.0.1:{self.port.getHost().port}"

    def render(self, request):
        headers = {
            name.decode("latin-1").lower(): ", ".join(v.decode("latin-1") for v in values)
            for name, values in request.requestHeaders.getAllRawHeaders()
        }
        self.requests.append(Received(
            request.method.decode(), request.uri.decode(), headers, request.content.read(),
            request.getClientAddress().port,
        ))
        if self.hold or self.trickle:
            self._held.append(request)
            request.notifyFinish().addErrback(lambda _: None)
            if self.trickle:
                request.setResponseCode(200)
                request.write(b"a first piece")
            answer = NOT_DONE_YET
        else:
            request.setResponseCode(self.status)
            for name, value in self.answer_headers.items():
                request.setHeader(name, value)
            answer = b""
        for count, waiter in list(self._waiters):
            if len(self.requests) >= count:
                self._waiters.remove((count, waiter))
                waiter.callback(self.requests)
        return answer

    def wait_for(self, count):
        """:returns: a Deferred firing with :attr:`requests` once ``count`` have come."""
        if len(self.requests) >= count:
            waiter = Deferred()
            waiter.callback(self.requests)
            return waiter
        waiter = Deferred()
        self._waiters.append((count, waiter))
        return waiter.addTimeout(TIMEOUT, self._reactor)

    def release(self):
        """Answer every held request that is still connected."""
        held, self._held = self._held, []
        for request in held:
            if not request._disconnected:
                if not request.startedWriting:
                    request.setResponseCode(self.status)
                request.finish()

    async def start(self):
        """Listen on an ephemeral port of 127.0.0.1."""
        from twisted.internet.endpoints import TCP4ServerEndpoint

        site = Site(self)
        site.log = lambda request: None
        endpoint = TCP4ServerEndpoint(self._reactor, 0, interface="127.0.0.1")
        self.port = await endpoint.listen(site)
        return self

    async def stop(self):
        """Answer what is held and stop listening."""
        self.release()
        await self.port.stopListening()
