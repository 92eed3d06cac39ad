"""Fixtures for the WebSocket transport: the real factory on a real socket of 127.0.0.1, with
the shared Redis store and the injected clock of tests/conftest.py, and Autobahn's Twisted
client on the test reactor.

``ws`` is a connected client for a fresh project; ``connect`` opens more (optionally for a
given project, e.g. the REST client's ``api.project`` for parity tests); ``ws_server`` is the
listening factory, whose ``connections`` are the server side of each connection.

Idle timeouts run on the injected clock: advancing it past ``idle_timeout`` (3600 s) closes a
connection that sent nothing meanwhile; mark such tests
``@pytest.mark.zaqar_config(("drivers:transport:websocket", "idle_timeout", "0"))``.

Autobahn and the reactor are imported inside the fixtures, as in tests/conftest.py.
"""

import json
import uuid

import msgpack
import pytest
import pytest_twisted

TIMEOUT = 30  # seconds of real time a reply may take before the test fails


class WsReply:
    """One reply, decoded.

    :ivar status: ``headers.status``.
    :ivar body: the reply's ``body``.
    :ivar request: the reply's ``request`` echo.
    :ivar document: the whole reply.
    :ivar binary: whether it came in a binary message.
    """

    def __init__(self, document, binary):
        self.document = document
        self.binary = binary
        self.status = document["headers"]["status"]
        self.body = document["body"]
        self.request = document["request"]

    def __repr__(self):
        return f"<WsReply {self.status} {json.dumps(self.body, default=repr)[:300]}>"


def _client_protocol():
    from autobahn.twisted.websocket import WebSocketClientProtocol
    from twisted.internet.defer import Deferred

    class Client(WebSocketClientProtocol):
        """Collects replies in order; ``next_reply`` waits for the next one."""

        def __init__(self):
            super().__init__()
            self.opened = Deferred()
            self.closed = Deferred()
            self.close_code = None
            self.close_reason = None
            self._replies = []
            self._waiters = []

        def onOpen(self):
            self.opened.callback(self)

        def onMessage(self, payload, isBinary):
            message = (payload, isBinary)
            if self._waiters:
                self._waiters.pop(0).callback(message)
            else:
                self._replies.append(message)

        def onClose(self, wasClean, code, reason):
            self.close_code = code
            self.close_reason = reason
            if not self.opened.called:
                self.opened.errback(ConnectionError(f"handshake failed: {code} {reason}"))
            if not self.closed.called:
                self.closed.callback((code, reason))

        def next_message(self):
            if self._replies:
                from twisted.internet.defer import succeed

                return succeed(self._replies.pop(0))
            waiter = Deferred()
            self._waiters.append(waiter)
            return waiter

    return Client


class WsClient:
    """A client of the in-process WebSocket API, identified by a project and a Client-ID.

    :ivar project: its project id.
    :ivar client_id: its Client-ID (dashed uuid4).
    :ivar protocol: the Autobahn client protocol of the connection.
    :ivar binary: whether requests go as MessagePack (binary) rather than JSON (text).
    """

    def __init__(self, reactor, protocol, project):
        self._reactor = reactor
        self.protocol = protocol
        self.project = project
        self.client_id = str(uuid.uuid4())
        self.binary = False

    def headers(self, **extra):
        """The identifying headers, plus ``extra``."""
        return {"Client-ID": self.client_id, "X-Project-ID": self.project, **extra}

    def send_raw(self, payload, binary=False):
        """Send one message as is."""
        self.protocol.sendMessage(payload, isBinary=binary)

    def send_document(self, document, binary=None):
        """Send a request document, as JSON or MessagePack (default: :attr:`binary`),
        without waiting."""
        binary = self.binary if binary is None else binary
        payload = msgpack.packb(document) if binary else json.dumps(document).encode()
        self.send_raw(payload, binary)

    async def next_reply(self):
        """The next reply, decoded by the kind of message it came in."""
        payload, binary = await self.protocol.next_message().addTimeout(
            TIMEOUT, self._reactor
        )
        document = msgpack.unpackb(payload) if binary else json.loads(payload)
        return WsReply(document, binary)

    async def raw(self, payload, binary=False):
        """Send one message as is and read the reply."""
        self.send_raw(payload, binary)
        return await self.next_reply()

    async def request(self, action, body=None, headers=None, binary=None):
        """Send a request (default identifying headers unless ``headers`` is given) and
        read its reply.

        :param body: the request body; ``None`` leaves ``body`` out.
        """
        document = {"action": action, "headers": self.headers() if headers is None else headers}
        if body is not None:
            document["body"] = body
        self.send_document(document, binary)
        return await self.next_reply()

    async def ok(self, action, body=None, status=None, binary=None):
        """A request that must succeed (2xx, or exactly ``status``); returns the body."""
        reply = await self.request(action, body, binary=binary)
        if status is None:
            assert 200 <= reply.status < 300, reply
        else:
            assert reply.status == status, reply
        return reply.body

    async def close(self):
        """Close the connection and wait until it is gone."""
        if not self.protocol.closed.called:
            self.protocol.transport.loseConnection()
        await self.protocol.closed.addTimeout(TIMEOUT, self._reactor)


class WsServer:
    """The listening WebSocket API.

    :ivar factory: the :class:`~zaqar_tw.transport.websocket.factory.ZaqarServerFactory`.
    :ivar url: ``ws://127.0.0.1:<port>``.
    """

    def __init__(self, reactor, factory, port):
        self._reactor = reactor
        self.factory = factory
        self.port = port
        self.url = f"ws://127.0.0.1:{port.getHost().port}"
        self.clients = []

    async def connect(self, project=None):
        """Open a connection: a :class:`WsClient` of ``project`` (default: a fresh one)."""
        from autobahn.twisted.websocket import WebSocketClientFactory
        from twisted.internet.endpoints import TCP4ClientEndpoint

        factory = WebSocketClientFactory(self.url, reactor=self._reactor)
        factory.protocol = _client_protocol()
        endpoint = TCP4ClientEndpoint(self._reactor, "127.0.0.1", self.port.getHost().port)
        protocol = await endpoint.connect(factory)
        await protocol.opened.addTimeout(TIMEOUT, self._reactor)
        client = WsClient(self._reactor, protocol, project or uuid.uuid4().hex)
        self.clients.append(client)
        return client

    async def close(self):
        for client in self.clients:
            if not client.protocol.closed.called:
                client.protocol.transport.abortConnection()
        for client in self.clients:
            await client.protocol.closed.addTimeout(TIMEOUT, self._reactor)
        from twisted.internet.defer import maybeDeferred

        await maybeDeferred(self.port.stopListening)  # None when already stopped


@pytest_twisted.async_yield_fixture
async def ws_server(config, clock, storage, authenticator, policy):
    """The WebSocket API on a real socket of 127.0.0.1 (its own core, the shared store)."""
    from twisted.internet import reactor
    from twisted.internet.endpoints import TCP4ServerEndpoint

    from zaqar_tw import plugins
    from zaqar_tw.core import Core
    from zaqar_tw.transport.websocket.factory import ZaqarServerFactory

    core = Core(
        config, storage, clock, policy=policy, notifiers=plugins.notifiers(config, reactor)
    )
    factory = ZaqarServerFactory(core, config, authenticator, reactor, clock)
    port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(factory)
    server = WsServer(reactor, factory, port)
    yield server
    await server.close()
    await core.dispatcher.stop()  # notifications in progress finish before the store closes


@pytest.fixture
def connect(ws_server):
    """Open another connection: ``await connect(project=None)``."""
    return ws_server.connect


@pytest_twisted.async_fixture
async def ws(ws_server):
    """A connected client for a fresh project."""
    return await ws_server.connect()


@pytest.fixture(params=["json", "msgpack"])
def codec(request):
    """The encoding requests go in: JSON text messages or MessagePack binary ones."""
    return request.param


@pytest_twisted.async_fixture
async def client(ws_server, codec):
    """A connected client for a fresh project, sending in ``codec``."""
    connected = await ws_server.connect()
    connected.binary = codec == "msgpack"
    return connected
