"""A real SMTP server for the e-mail tests: Twisted's ESMTP server on an ephemeral port of
127.0.0.1, in-process, that records each message it accepts; optionally offering STARTTLS
(or speaking TLS from the first byte) with a self-signed certificate made for the test, and
answering recipients with a code the test chooses (``451``: try later, ``550``: refused).
"""

import datetime
import email
import email.policy
import ipaddress

from twisted.internet import defer
from twisted.internet.interfaces import IOpenSSLContextFactory
from twisted.mail import smtp
from zope.interface import implementer

TIMEOUT = 30  # seconds of real time a test waits for mail before it fails


def self_signed(directory):
    """A key and certificate for 127.0.0.1 (PEM files in ``directory``).

    :returns: ``(certificate path, key path)``.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return cert_path, key_path


@implementer(IOpenSSLContextFactory)
class _ServerContext:
    """The server side of TLS, from PEM files."""

    def __init__(self, cert_path, key_path):
        self.cert_path, self.key_path = str(cert_path), str(key_path)

    def getContext(self):
        from OpenSSL import SSL

        context = SSL.Context(SSL.TLS_SERVER_METHOD)
        context.use_certificate_chain_file(self.cert_path)
        context.use_privatekey_file(self.key_path)
        return context


class Mail:
    """One message the server accepted.

    :ivar sender: the envelope sender (text).
    :ivar recipients: the envelope recipients (text).
    :ivar message: the message, an :class:`email.message.EmailMessage`.
    :ivar secure: whether it came over TLS.
    :ivar user: the user the client logged in as, or ``None``.
    """

    def __init__(self, sender, recipients, data, secure, user=None):
        self.sender = sender
        self.recipients = recipients
        self.message = email.message_from_bytes(data, policy=email.policy.default)
        self.secure = secure
        self.user = user

    @property
    def text(self):
        """The body's text."""
        return self.message.get_content()


@implementer(smtp.IMessage)
class _Message:
    """The message of one recipient (Twisted makes one each); the first to end records the
    mail, with every recipient of the transaction."""

    def __init__(self, delivery):
        self.delivery = delivery
        self.lines = []

    def lineReceived(self, line):
        self.lines.append(line)

    def eomReceived(self):
        from twisted.internet.interfaces import ISSLTransport

        delivery = self.delivery
        if not delivery.recorded:
            delivery.recorded = True
            secure = ISSLTransport.providedBy(delivery.protocol.transport)
            delivery.server.received(Mail(delivery.sender, list(delivery.recipients),
                                          b"\n".join(self.lines), secure, delivery.user))
        return defer.succeed(None)

    def connectionLost(self):
        pass


@implementer(smtp.IMessageDelivery)
class _Delivery:
    def __init__(self, server, protocol):
        self.server, self.protocol = server, protocol
        self.sender = None
        self.recipients = []
        self.recorded = False
        self.user = None

    def receivedHeader(self, helo, origin, recipients):
        return b"Received: by the test server"

    def validateFrom(self, helo, origin):
        self.sender = str(origin)
        self.recipients = []
        self.recorded = False
        return origin

    def validateTo(self, user):
        address = str(user.dest)
        if self.server.rcpt_code is not None:
            raise smtp.SMTPBadRcpt(user, code=self.server.rcpt_code, resp="as the test says")
        self.recipients.append(address)
        return lambda: _Message(self)


class _Factory(smtp.SMTPFactory):
    protocol = smtp.ESMTP

    def __init__(self, server):
        super().__init__()
        self.server = server

    def buildProtocol(self, addr):
        server = self.server
        delivery = None
        challengers = None
        if server.users:
            challengers = {b"LOGIN": smtp.LOGINCredentials}
        protocol = smtp.ESMTP(chal=challengers, contextFactory=server.starttls)
        delivery = _Delivery(server, protocol)
        if server.users:
            from twisted.cred.checkers import InMemoryUsernamePasswordDatabaseDontUse
            from twisted.cred.portal import Portal

            # Only a client that logged in gets a delivery: anonymous mail is refused.
            protocol.portal = Portal(_Realm(delivery), [
                InMemoryUsernamePasswordDatabaseDontUse(**server.users)])
        else:
            protocol.delivery = delivery
        protocol.factory = self
        protocol.host = b"test.smtp"
        server.connections += 1
        return protocol


class _Realm:
    """Hands the delivery of its connection to the user who logged in."""

    def __init__(self, delivery):
        self.delivery = delivery

    def requestAvatar(self, avatar_id, mind, *interfaces):
        if avatar_id is None or smtp.IMessageDelivery not in interfaces:
            raise NotImplementedError("log in first")
        self.delivery.user = avatar_id.decode() if isinstance(avatar_id, bytes) else avatar_id
        return smtp.IMessageDelivery, self.delivery, lambda: None


class SmtpServer:
    """Records the mail it accepts; :meth:`wait_for` waits until some came.

    :param reactor: the reactor.
    :param tls: ``None`` (plain), ``"starttls"`` or ``"implicit"``.
    :param directory: where the certificate is written (with ``tls``).
    :param users: user names to passwords; when given, only a client that logged in (AUTH
        LOGIN) may send.
    :ivar mails: the :class:`Mail` accepted, in order.
    :ivar rcpt_code: when set, every recipient is answered with this code.
    :ivar connections: connections accepted so far.
    :ivar cert_path: the certificate's PEM file (with ``tls``).
    """

    def __init__(self, reactor, tls=None, directory=None, users=None):
        self._reactor = reactor
        self.users = {name: password.encode() for name, password in (users or {}).items()}
        self.tls = tls
        self.mails = []
        self.rcpt_code = None
        self.connections = 0
        self._waiters = []
        self.starttls = None
        self._implicit = None
        self.cert_path = None
        if tls is not None:
            self.cert_path, key_path = self_signed(directory)
            options = _ServerContext(self.cert_path, key_path)
            if tls == "starttls":
                self.starttls = options
            else:
                self._implicit = options
        self.port = None

    @property
    def address(self):
        """``(host, port)``"""
        return "127.0.0.1", self.port.getHost().port

    def received(self, mail):
        self.mails.append(mail)
        for count, waiter in list(self._waiters):
            if len(self.mails) >= count:
                self._waiters.remove((count, waiter))
                waiter.callback(self.mails)

    def wait_for(self, count):
        """:returns: a Deferred firing with :attr:`mails` once ``count`` have come."""
        waiter = defer.Deferred()
        if len(self.mails) >= count:
            waiter.callback(self.mails)
            return waiter
        self._waiters.append((count, waiter))
        return waiter.addTimeout(TIMEOUT, self._reactor)

    async def start(self):
        """Listen on an ephemeral port of 127.0.0.1."""
        from twisted.internet.endpoints import SSL4ServerEndpoint, TCP4ServerEndpoint

        if self._implicit is not None:
            endpoint = SSL4ServerEndpoint(self._reactor, 0, self._implicit,
                                          interface="127.0.0.1")
        else:
            endpoint = TCP4ServerEndpoint(self._reactor, 0, interface="127.0.0.1")
        self.port = await endpoint.listen(_Factory(self))
        return self

    async def stop(self):
        await self.port.stopListening()

    def config_lines(self, **more):
        """The ``[notification]`` options that send mail through this server."""
        options = {
            "smtp_mode": "self_local", "smtp_host": "127.0.0.1",
            "smtp_port": str(self.port.getHost().port),
            "smtp_tls": self.tls or "off",
        }
        if self.cert_path is not None:
            options["smtp_ca_file"] = str(self.cert_path)
        options.update(more)
        return options
