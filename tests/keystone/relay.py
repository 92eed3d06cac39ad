"""A TCP relay in front of the test Keystone, on the test reactor: it counts the calls made
to Keystone, can hold them unanswered (a Keystone that does not answer) or answer them 500
itself (a Keystone that fails), and can speak TLS with a certificate of its own (for
``cafile`` and ``insecure``).

Keystone's gunicorn closes each connection after one answer, so each connection carries
one call; the relay still counts request lines, not connections.
"""

import datetime
import ipaddress
import re

from twisted.internet.interfaces import IOpenSSLContextFactory
from twisted.internet.protocol import ClientFactory, Factory, Protocol
from zope.interface import implementer

FAILURE = (
    b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
    b"Content-Length: 2\r\nConnection: close\r\n\r\n{}"
)
_REQUEST_LINE = re.compile(rb"(?:^|\r\n)(GET|POST|DELETE|HEAD|PUT|PATCH) (\S+) HTTP/1\.[01]\r\n")


class _Upstream(Protocol):
    def connectionMade(self):
        self.factory.downstream.connected_upstream(self)

    def dataReceived(self, data):
        self.factory.downstream.transport.write(data)

    def connectionLost(self, reason):
        self.factory.downstream.transport.loseConnection()


class _Downstream(Protocol):
    """One client connection, relayed to Keystone (unless held)."""

    def connectionMade(self):
        self.seen = b""
        self.upstream = None
        self.pending = []
        relay = self.factory.relay
        relay.connections.add(self)
        if relay.holding or relay.failing:
            return
        upstream = ClientFactory.forProtocol(_Upstream)
        upstream.downstream = self
        upstream.clientConnectionFailed = lambda connector, reason: (
            self.transport.loseConnection()
        )
        relay.reactor.connectTCP("127.0.0.1", relay.keystone_port, upstream)

    def connected_upstream(self, upstream):
        self.upstream = upstream
        for data in self.pending:
            upstream.transport.write(data)
        self.pending = []

    def dataReceived(self, data):
        self.seen += data
        if self.factory.relay.failing:
            if b"\r\n\r\n" in self.seen:
                self.transport.write(FAILURE)
                self.transport.loseConnection()
        elif self.upstream is None:
            self.pending.append(data)
        else:
            self.upstream.transport.write(data)

    def connectionLost(self, reason):
        self.factory.relay.connections.discard(self)
        self.factory.relay.finished.append(self.seen)
        if self.upstream is not None:
            self.upstream.transport.loseConnection()


class KeystoneRelay:
    """Relays 127.0.0.1:<port> to Keystone.

    :ivar url: the relay's URL (``http://`` or ``https://``).
    :ivar holding: while true, new connections are accepted and never answered.
    :ivar failing: while true, each call is answered 500 by the relay.
    """

    def __init__(self, reactor, keystone_port, tls=None):
        """:param tls: a :class:`TlsIdentity` to serve TLS with."""
        self.reactor = reactor
        self.keystone_port = keystone_port
        self.tls = tls
        self.holding = False
        self.failing = False
        self.connections = set()
        self.finished = []
        self._port = None
        self.url = None

    async def listen(self):
        """Start listening on a free port of 127.0.0.1."""
        from twisted.internet.endpoints import SSL4ServerEndpoint, TCP4ServerEndpoint

        factory = Factory.forProtocol(_Downstream)
        factory.relay = self
        if self.tls is None:
            endpoint = TCP4ServerEndpoint(self.reactor, 0, interface="127.0.0.1")
        else:
            endpoint = SSL4ServerEndpoint(self.reactor, 0, self.tls, interface="127.0.0.1")
        self._port = await endpoint.listen(factory)
        scheme = "http" if self.tls is None else "https"
        self.url = f"{scheme}://127.0.0.1:{self._port.getHost().port}"

    def calls(self, method=None, path_prefix="/v3/auth/tokens"):
        """How many requests went through (or are held) with ``method`` (any, if ``None``)
        on a path starting with ``path_prefix``."""
        streams = self.finished + [connection.seen for connection in self.connections]
        return sum(
            1
            for stream in streams
            for found_method, path in _REQUEST_LINE.findall(stream)
            if (method is None or found_method.decode() == method)
            and path.decode().startswith(path_prefix)
        )

    def release(self):
        """Stop holding: drop the held connections (their callers see them lost) and relay
        new ones again."""
        self.holding = False
        for connection in list(self.connections):
            if connection.upstream is None:
                connection.transport.abortConnection()

    async def close(self):
        """Stop listening and drop every connection."""
        for connection in list(self.connections):
            connection.transport.abortConnection()
        await self._port.stopListening()


@implementer(IOpenSSLContextFactory)
class TlsIdentity:
    """A self-signed certificate for ``127.0.0.1``, valid for a day, as a server context
    factory (built with cryptography's objects: pyOpenSSL's own are deprecated).

    :ivar certificate_pem: the certificate, as PEM (what a client trusts).
    """

    def __init__(self):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self._key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self._certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.certificate_pem = self._certificate.public_bytes(serialization.Encoding.PEM)
        self._context = None

    def getContext(self):
        """The server's TLS context (``IOpenSSLContextFactory``)."""
        from OpenSSL import SSL

        if self._context is None:
            self._context = SSL.Context(SSL.TLS_METHOD)
            self._context.use_certificate(self._certificate)
            self._context.use_privatekey(self._key)
        return self._context
