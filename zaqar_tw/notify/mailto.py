"""The built-in ``mailto`` notifier: one e-mail per notification (spec 5.1).

The recipients are the URI's path (``mailto:ops@example.com,dev@example.com``, percent-encoded
as RFC 6068 allows); the subject is the URI's ``subject`` query parameter (its name in any
case), else the subscription's ``options.subject``, else :data:`DEFAULT_SUBJECT`; the
``From`` header is ``options.from``, else ``[notification] mail_sender``, whose address is
always the envelope sender (bounces go to the operator).  The body is the payload as JSON;
a confirmation request (spec 5.3) is a short text instead, with a link to
``[notification] external_confirmation_url`` carrying the pre-signed confirm URL in its
query (``Signature``, ``Methods``, ``Paths``, ``Project``, ``Expires``, ``Url``,
``Queue``).

Mail leaves through one of two transports, as ``[notification] smtp_mode`` says:

* ``self_local``: SMTP to the smarthost ``smtp_host``:``smtp_port``, over implicit TLS,
  STARTTLS or plain TCP (``smtp_tls``), logging in when ``smtp_user_name`` is set, with
  Twisted's non-blocking ESMTP client.  An answer of 4xx fails the attempt as retryable, one
  of 5xx as permanent (:class:`~zaqar_tw.notify.outcome.DeliveryFailed`);
* ``third_part`` (the default): the message is piped to ``smtp_command`` (a ``sendmail -t``
  style command, which reads the recipients from the headers), run as a child process without
  blocking.  Exit status 75 (``EX_TEMPFAIL``) or a signal is retryable, another non-zero
  status permanent.  When the command's program is not installed, ``mailto`` subscriptions
  are refused with a 400 saying so.
"""

import email.policy
import io
import json
import os
import re
import shlex
import shutil
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from twisted.internet import defer, error, protocol
from twisted.internet.ssl import Certificate, optionsForClientTLS
from twisted.mail.smtp import ESMTPSenderFactory, SMTPClientError
from zope.interface import implementer

from zaqar_tw.config import ConfigError
from zaqar_tw.errors import BadRequest
from zaqar_tw.interfaces import INotifier
from zaqar_tw.notify.confirmation import SUBSCRIBE, UNSUBSCRIBE
from zaqar_tw.notify.outcome import DeliveryFailed

DEFAULT_SUBJECT = "Zaqar Notification"
DEFAULT_PORTS = {"implicit": 465, "starttls": 587, "off": 25}
EX_TEMPFAIL = 75
# The e-mails of confirmation requests (spec 5.3): subject, and body with the queue, the
# project and the confirmation link.
CONFIRMATION_MAILS = {
    SUBSCRIBE: (
        "Zaqar Notification - Subscription Confirmation",
        "You have chosen to subscribe to the queue: {0}. This queue belongs to project: "
        "{1}. To confirm this subscription, click or visit this link below: {2}",
    ),
    UNSUBSCRIBE: (
        "Zaqar Notification - Unsubscribe Confirmation",
        "You have unsubscribed successfully to the queue: {0}. This queue belongs to "
        "project: {1}. To resubscribe this subscription, click or visit this link below: "
        "{2}",
    ),
}
MAX_RECIPIENTS = 20
# An address we send to: a local part and a domain, no spaces, quotes or brackets.
_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\\\"]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")


def recipients(subscriber):
    """The addresses of a ``mailto:`` URI.

    :raises ValueError: it names none, too many, or one that is not a plain address.
    """
    parts = urlsplit(subscriber)
    found = [unquote(one).strip() for one in parts.path.split(",") if one.strip()]
    if not found:
        raise ValueError("it names no recipient")
    if len(found) > MAX_RECIPIENTS:
        raise ValueError(f"it names more than {MAX_RECIPIENTS} recipients")
    for one in found:
        if not _ADDRESS.fullmatch(one):
            raise ValueError(f"{one!r} is not an e-mail address")
    return found


def subject_of(subscriber, options):
    """The subject: the URI's ``subject`` parameter, else ``options.subject``, else
    :data:`DEFAULT_SUBJECT`."""
    for name, value in parse_qsl(urlsplit(subscriber).query):
        if name.lower() == "subject" and value:
            return value
    subject = options.get("subject")
    return subject if isinstance(subject, str) and subject else DEFAULT_SUBJECT


def build_message(sender, to, subject, body, now):
    """The e-mail (bytes, CRLF line ends) of one notification.

    :param sender: the ``From`` header (``Name <address>`` or an address).
    :param to: the recipient addresses.
    :param body: the text of the body.
    :param now: seconds since the epoch, for the ``Date`` header.
    :raises ValueError: a header value holds a line break or cannot be encoded.
    """
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = formatdate(now, usegmt=True)
    message["Message-ID"] = make_msgid(domain=_domain(sender))
    message.set_content(body)
    return message.as_bytes()


def _domain(sender):
    address = parseaddr(sender)[1]
    return address.rpartition("@")[2] or "localhost"


def classify(failure_value):
    """A :class:`DeliveryFailed` saying what an SMTP client error means: a 5xx answer is
    permanent, a 4xx answer (or no answer) retryable."""
    if isinstance(failure_value, SMTPClientError):
        code = failure_value.code
        text = failure_value.resp
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        reason = f"the mail server answered {code} {text}" if code > 0 else str(text)
        return DeliveryFailed(reason, permanent=500 <= code < 600)
    return DeliveryFailed(f"sending mail failed: {failure_value}")


@implementer(INotifier)
class MailtoNotifier:
    """Sends each notification as an e-mail to ``mailto`` subscribers.

    :param reactor: the reactor (connections, child processes).
    :param config: the :class:`~zaqar_tw.config.Config`: ``[notification]`` ``smtp_*``,
        ``mail_sender`` and ``delivery_timeout``.
    :param options: the ``[notifier:mailto]`` section (no options; must be empty).
    :param clock: the ``IReactorTime`` of the ``Date`` headers (default: ``reactor``).
    :raises ValueError: ``options`` names an option.
    :raises ConfigError: ``smtp_mode = self_local`` without ``smtp_host``, a CA file that
        cannot be read, or a sender that is no address.
    """

    schemes = ("mailto",)
    known_options = ()

    def __init__(self, reactor, config, options, clock=None):
        if options:
            raise ValueError(f"unknown option(s): {', '.join(sorted(options))}")
        section = config.notification
        self.reactor = reactor
        self.clock = reactor if clock is None else clock
        self.timeout = section.delivery_timeout
        self.sender = section.mail_sender
        self.envelope_sender = parseaddr(self.sender)[1]
        if not _ADDRESS.fullmatch(self.envelope_sender or ""):
            raise ConfigError(
                f"[notification] mail_sender: {self.sender!r} holds no e-mail address"
            )
        self.mode = section.smtp_mode
        self.tls = section.smtp_tls
        self.host = section.smtp_host
        self.port = section.smtp_port or DEFAULT_PORTS[self.tls]
        # Twisted's SMTP client logs in with bytes.
        self.user = section.smtp_user_name.encode("utf-8") if section.smtp_user_name else None
        self.password = (section.smtp_user_password or "").encode("utf-8") or None
        self.trust = None
        if self.mode == "self_local":
            if not self.host:
                raise ConfigError(
                    "[notification] smtp_mode = self_local sends mail to a smarthost: set "
                    "smtp_host"
                )
            if section.smtp_ca_file:
                self.trust = _trust_root(section.smtp_ca_file)
        self.confirmation_url = section.external_confirmation_url
        self.require_confirmation = section.require_confirmation
        self.command = shlex.split(section.smtp_command or "")
        self.program = shutil.which(self.command[0]) if self.command else None

    @property
    def unavailable(self):
        """Why mail cannot be sent (text), or ``None`` when it can."""
        if self.mode == "self_local" or self.program is not None:
            return None
        named = self.command[0] if self.command else "(empty)"
        return (
            f"this service has no mail transport: its smtp_command, {named}, is not "
            "installed, and no SMTP smarthost is configured ([notification] smtp_mode = "
            "self_local, smtp_host)"
        )

    def check_subscriber(self, subscriber):
        """:raises BadRequest: mail cannot be sent, or the URI names no valid recipient."""
        if self.unavailable:
            raise BadRequest(f"mailto subscribers are not served: {self.unavailable}.")
        if self.require_confirmation and not self.confirmation_url:
            raise BadRequest(
                "mailto subscribers are not served: they must confirm their subscription, "
                "and this service has no confirmation page ([notification] "
                "external_confirmation_url)."
            )
        try:
            recipients(subscriber)
        except ValueError as exc:
            raise BadRequest(
                f"The subscriber {subscriber} is not a valid mailto URI: {exc}."
            ) from None

    def deliver(self, subscription, payload):
        """Send one notification by mail.

        :returns: Deferred firing once the smarthost or the command accepted it; failing with
            :class:`DeliveryFailed` (permanent for an SMTP 5xx answer, a bad address or
            subject, a command failing otherwise than with ``EX_TEMPFAIL``), or
            ``TimeoutError``.
        """
        options = subscription.get("options") or {}
        subscriber = subscription["subscriber"]
        if payload.get("Message_Type") in CONFIRMATION_MAILS:
            subject, body = self.confirmation_mail(payload)
            return self.send(subscriber, subject, body)
        body = json.dumps(payload, indent=2, sort_keys=True)
        return self.send(subscriber, subject_of(subscriber, options), body,
                         options.get("from"))

    def confirmation_mail(self, payload):
        """The subject and body of the e-mail of a confirmation payload (see
        :func:`~zaqar_tw.notify.confirmation.confirmation_payload`)."""
        subject, template = CONFIRMATION_MAILS[payload["Message_Type"]]
        link = (self.confirmation_url or "") + "?" + urlencode({
            "Signature": payload["URL-Signature"], "Methods": payload["URL-Methods"],
            "Paths": payload["URL-Paths"], "Project": payload["X-Project-ID"],
            "Expires": payload["URL-Expires"], "Url": "", "Queue": payload["queue_name"],
        })
        return subject, template.format(
            payload["queue_name"], payload["X-Project-ID"], link
        )

    def send(self, subscriber, subject, body, sender=None):
        """Send ``body`` with ``subject`` to the recipients of the ``mailto`` URI
        ``subscriber``, from ``sender`` (default ``mail_sender``); see :meth:`deliver`."""
        if self.unavailable:
            return defer.fail(DeliveryFailed(self.unavailable, permanent=True))
        try:
            to = recipients(subscriber)
            if not isinstance(sender, str) or not _ADDRESS.fullmatch(parseaddr(sender)[1]):
                sender = self.sender
            message = build_message(sender, to, subject, body, self.clock.seconds())
        except ValueError as exc:
            return defer.fail(DeliveryFailed(f"cannot build the e-mail: {exc}", permanent=True))
        if self.mode == "self_local":
            attempt = self._smtp(to, message)
        else:
            attempt = self._pipe(message)
        return attempt.addTimeout(self.timeout, self.clock)

    def _smtp(self, to, message):
        connector = None

        def cancel(_):
            factory.sendFinished = True
            if factory.currentProtocol is not None:
                factory.currentProtocol.setTimeout(None)
            if connector is not None:
                connector.disconnect()

        done = defer.Deferred(cancel)
        starttls = None
        if self.tls == "starttls":
            starttls = optionsForClientTLS(self.host, trustRoot=self.trust)
        factory = _OneMail(
            self.user, self.password, self.envelope_sender, to, io.BytesIO(message), done,
            retries=0, timeout=self.timeout, contextFactory=starttls,
            heloFallback=self.tls == "off" and not self.user,
            requireAuthentication=bool(self.user),
            requireTransportSecurity=self.tls != "off",
        )
        if self.tls == "implicit":
            connector = self.reactor.connectSSL(
                self.host, self.port, factory,
                optionsForClientTLS(self.host, trustRoot=self.trust), timeout=self.timeout,
            )
        else:
            connector = self.reactor.connectTCP(
                self.host, self.port, factory, timeout=self.timeout
            )

        def failed(failure):
            if failure.check(defer.CancelledError):
                return failure
            raise classify(failure.value)

        return done.addCallbacks(lambda _: None, failed)

    def _pipe(self, message):
        child = _Piped(message)
        self.reactor.spawnProcess(
            child, self.program, self.command, env=dict(os.environ)
        )
        return child.done


class _OneMail(ESMTPSenderFactory):
    """Sends one message, once; what the client reports after the outcome is settled (the
    attempt was cancelled, say) is dropped."""

    def _removeDeferred(self, result):
        self.result = defer.Deferred()
        self.result.addErrback(lambda _: None)
        return result


def _trust_root(path):
    """The certificate authorities of a PEM file, for the smarthost's certificate."""
    from twisted.internet.ssl import trustRootFromCertificates

    try:
        with open(path, "rb") as handle:
            data = handle.read()
        pems = re.findall(
            rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", data, re.S
        )
        if not pems:
            raise ValueError("no PEM certificate in it")
        return trustRootFromCertificates([Certificate.loadPEM(pem) for pem in pems])
    except (OSError, ValueError) as exc:
        raise ConfigError(f"[notification] smtp_ca_file: cannot read {path}: {exc}") from None


class _Piped(protocol.ProcessProtocol):
    """Writes one message to a mail command's standard input and reports its exit."""

    def __init__(self, message):
        self.message = message
        self.errors = b""
        self.done = defer.Deferred(lambda _: self._kill())

    def connectionMade(self):
        self.transport.write(self.message)
        self.transport.closeStdin()

    def outReceived(self, data):
        pass

    def errReceived(self, data):
        self.errors = (self.errors + data)[-500:]

    def _kill(self):
        try:
            self.transport.signalProcess("KILL")
        except error.ProcessExitedAlready:
            pass

    def processEnded(self, reason):
        if self.done.called:
            return
        status = reason.value
        if isinstance(status, error.ProcessDone):
            self.done.callback(None)
            return
        said = self.errors.decode("utf-8", "replace").strip()
        if status.signal is not None:
            failed = DeliveryFailed(f"the mail command was killed by signal {status.signal}")
        else:
            failed = DeliveryFailed(
                f"the mail command exited with status {status.exitCode}"
                + (f": {said}" if said else ""),
                permanent=status.exitCode != EX_TEMPFAIL,
            )
        self.done.errback(failed)

