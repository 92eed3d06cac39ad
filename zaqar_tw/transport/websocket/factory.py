"""The factory of WebSocket connections: Autobahn's options from ``[drivers:transport:websocket]``,
the API every connection answers with, and the set of open connections.

Autobahn's own size limits stay off (0): they would also cap the replies a connection sends,
and they end the connection.  The connection enforces ``max_message_size`` and
``max_frame_size`` itself as requests stream in, answering 400 without buffering the excess.

Autobahn's timers round their deadline down to a whole second of the clock, so its default
one-second wait for the client's answer to a close (idle timeout, shutdown) could end almost
at once: the connection was then reset, often before the client had read the close, which it
saw as an abnormal closure (1006).  :data:`CLOSE_HANDSHAKE_TIMEOUT` leaves a client at least
four seconds.
"""

from autobahn.twisted.websocket import WebSocketServerFactory

from zaqar_tw.transport.refusal import AddressCount, per_address_refusal
from zaqar_tw.transport.websocket.api import WebSocketApi
from zaqar_tw.transport.websocket.protocol import ZaqarServerProtocol

SHUTDOWN_CODE = 1001
SHUTDOWN_REASON = "Server shutting down."
CLOSE_HANDSHAKE_TIMEOUT = 5  # seconds a client has to answer our close, less up to one


class ZaqarServerFactory(WebSocketServerFactory):
    """Builds :class:`~zaqar_tw.transport.websocket.protocol.ZaqarServerProtocol` connections.

    :ivar api: the :class:`~zaqar_tw.transport.websocket.api.WebSocketApi` they answer with.
    :ivar clock: the ``IReactorTime`` of idle timeouts and identity expiries.
    :ivar connections: the open connections.
    """

    protocol = ZaqarServerProtocol

    def __init__(self, core, config, authenticator, reactor, clock=None):
        """
        :param core: the :class:`zaqar_tw.core.Core`.
        :param config: the :class:`zaqar_tw.config.Config`.
        :param authenticator: the :class:`zaqar_tw.interfaces.IAuthenticator` provider (the
            one REST uses).
        :param reactor: the reactor (Autobahn's handshake and ping timers run on it).
        :param clock: the ``IReactorTime`` of idle timeouts and identity expiries (default:
            the reactor).
        """
        options = config.websocket
        super().__init__(
            reactor=reactor, server="zaqar-tw", externalPort=options.external_port
        )
        self.clock = reactor if clock is None else clock
        self.api = WebSocketApi(core, config, authenticator, self.clock)
        self.max_message_size = options.max_message_size
        self.max_frame_size = options.max_frame_size
        self.max_write_buffer = options.max_write_buffer
        self.idle_timeout = options.idle_timeout
        self.connections = set()
        self._per_address = AddressCount(options.max_connections_per_address)
        self.setProtocolOptions(
            webStatus=False,
            utf8validateIncoming=False,  # undecodable text is answered 400 like bad JSON
            maxFramePayloadSize=0,
            maxMessagePayloadSize=0,
            autoPingInterval=options.auto_ping_interval,
            autoPingTimeout=options.auto_ping_timeout,
            maxConnections=options.max_connections,
            closeHandshakeTimeout=CLOSE_HANDSHAKE_TIMEOUT,
        )

    def buildProtocol(self, addr):
        """A connection arrives: refused with 503 past ``max_connections_per_address``
        from its address, before its handshake is read."""
        host = getattr(addr, "host", None)
        if self._per_address.full(host):
            return per_address_refusal(self._per_address.cap)
        connection = super().buildProtocol(addr)
        self._per_address.add(connection, host)
        return connection

    def opened(self, connection):
        """A connection completed its handshake."""
        self.connections.add(connection)

    def closed(self, connection):
        """A connection went away (whether its handshake completed or not)."""
        self.connections.discard(connection)
        self._per_address.remove(connection)

    def stopFactory(self):
        """The listener stopped: close the open connections with 1001 ("going away", which
        Autobahn's ``sendClose`` keeps for itself, hence the frame-level call)."""
        for connection in list(self.connections):
            connection.sendCloseFrame(SHUTDOWN_CODE, SHUTDOWN_REASON.encode("utf-8"))
