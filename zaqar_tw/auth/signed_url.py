"""Pre-signed URLs (spec 3.12): the signer, and the authenticator that believes them.

A pre-signed URL lets its bearer, who need not be a member of the project, use some paths of
one project with some methods until it expires.  Its signature is an HMAC-SHA256 (hex) over
the sorted paths joined by commas, the sorted methods joined by commas, the project and the
expiry (``YYYY-MM-DDTHH:MM:SS``, UTC), separated by the two characters backslash and ``n``:
byte for byte Zaqar's, so that a zaqar-tw and a Zaqar sharing a key accept each other's URLs.

Keys rotate: ``[signed_url] secret_key`` signs and verifies, ``previous_secret_keys`` only
verify.
"""

import hashlib
import hmac
from datetime import datetime, timedelta, timezone

from twisted.internet.defer import maybeDeferred, succeed
from zope.interface import implementer

from zaqar_tw.auth.noauth import client_id_from
from zaqar_tw.context import Grant, RequestContext
from zaqar_tw.errors import InvalidSignature
from zaqar_tw.interfaces import IAuthenticator

DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"
# Two characters, backslash and n: the reference writes the separator in a raw string.
SEPARATOR = "\\n"
DEFAULT_LIFETIME = timedelta(days=1)
NO_KEY = "The `key` can't be None"
# The request headers of a pre-signed URL, lowercase.
SIGNATURE = "url-signature"
EXPIRES = "url-expires"
METHODS = "url-methods"
PATHS = "url-paths"
PROJECT = "x-project-id"


def signature(key, paths, methods, project, expires):
    """The hex signature of a pre-signed URL.

    :param key: the secret key (text).
    :param paths: the paths, in any order.
    :param methods: the methods, in any order.
    :param project: the project id.
    :param expires: the expiry as signed, ``YYYY-MM-DDTHH:MM:SS``.
    """
    text = SEPARATOR.join(
        (",".join(sorted(paths)), ",".join(sorted(methods)), project, expires)
    )
    return hmac.new(key.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()


def parse_expiry(value):
    """Read an expiry as the reference does: an ISO 8601 date and time, UTC unless it names
    its offset; an integer (a number of seconds, say) is refused.

    :returns: an aware datetime in UTC.
    :raises ValueError: with the wire contract's text.
    """
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        number = None
    if number:
        raise ValueError(
            "`expires` should be date format, for example 2016-01-01T00:00:00, not integer "
            f"value: {number}"
        )
    if not isinstance(value, str):
        raise ValueError("`expires` should be date format, for example 2016-01-01T00:00:00")
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=timezone.utc)
        return parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise ValueError(f"Unable to parse date string {value!r}") from None


def covers(signed, path):
    """Whether the signed path ``signed`` covers the request path ``path``: equal to it, or
    above it on a segment boundary (``/v2/queues/q/messages`` covers
    ``/v2/queues/q/messages/<id>``, not ``/v2/queues/q/messages2``)."""
    if not signed:
        return False
    return path == signed or path.startswith(signed if signed.endswith("/") else signed + "/")


class UrlSigner:
    """Signs pre-signed URLs and verifies them, with one signing key and any number of keys
    that still verify.  Built once per service; the share operation, the authenticator and
    subscription confirmation links use the same one.

    :param clock: the ``IReactorTime`` that "now" comes from.
    :param secret_key: the key that signs (and verifies), or ``None``: nothing can be signed.
    :param previous_keys: keys that only verify.
    """

    def __init__(self, clock, secret_key=None, previous_keys=()):
        self._clock = clock
        self._signing_key = secret_key or None
        self._keys = tuple(key for key in (secret_key, *previous_keys) if key)

    @classmethod
    def from_config(cls, config, clock):
        """The signer of ``[signed_url]`` in a :class:`~zaqar_tw.config.Config`."""
        section = config.signed_url
        return cls(clock, section.secret_key, section.previous_secret_keys)

    @property
    def can_sign(self):
        """Whether a signing key is configured."""
        return self._signing_key is not None

    def now(self):
        """The clock's time, as an aware datetime in UTC."""
        return datetime.fromtimestamp(self._clock.seconds(), timezone.utc)

    def sign(self, paths, methods, project, expires=None):
        """Sign a URL.

        :param paths: the paths it covers (a list of text).
        :param methods: the methods it allows (a list of text).
        :param project: the project id.
        :param expires: its expiry, as the client wrote it (see :func:`parse_expiry`), or
            ``None`` for a day from now.
        :returns: ``{"paths", "methods", "project", "expires", "signature"}``, paths and
            methods sorted.
        :raises ValueError: no signing key, or a malformed or past expiry (the message is
            the wire contract's text).
        """
        if not self.can_sign:
            raise ValueError(NO_KEY)
        now = self.now()
        when = now + DEFAULT_LIFETIME if expires is None else parse_expiry(expires)
        if when <= now:
            raise ValueError("`expires` is lower than the current time")
        expires_text = when.strftime(DATE_FORMAT)
        return {
            "paths": sorted(paths),
            "methods": sorted(methods),
            "project": project,
            "expires": expires_text,
            "signature": signature(self._signing_key, paths, methods, project, expires_text),
        }

    def verify(self, headers, method, path):
        """Check the pre-signed URL headers of a request.

        :param headers: lowercase header names to text; ``URL-Methods`` and ``URL-Paths``
            are comma-separated.
        :param method: the request's method.
        :param path: the request's path.
        :returns: ``(grant, expires)``: the :class:`~zaqar_tw.context.Grant`, and its expiry
            in clock seconds.
        :raises InvalidSignature: the method or path is not granted, the project header is
            missing, the URL has expired, or no key gives its signature.
        """
        try:
            return self._verified(headers, method, path)
        except ValueError:  # a malformed expiry, or text that cannot be encoded
            raise InvalidSignature() from None

    def _verified(self, headers, method, path):
        given = headers.get(SIGNATURE)
        methods = headers.get(METHODS, "").split(",")
        paths = headers.get(PATHS, "").split(",")
        project = headers.get(PROJECT)
        if given is None or not project or method not in methods:
            raise InvalidSignature()
        if not any(covers(signed, path) for signed in paths):
            raise InvalidSignature()
        when = parse_expiry(headers.get(EXPIRES))
        if when <= self.now():
            raise InvalidSignature()
        expires_text = when.strftime(DATE_FORMAT)
        given = given.encode("utf-8", "replace")
        matched = False
        for key in self._keys:  # every key, so that the time taken does not tell which
            expected = signature(key, paths, methods, project, expires_text)
            matched |= hmac.compare_digest(expected.encode("ascii"), given)
        if not matched:
            raise InvalidSignature()
        grant = Grant(project=project, paths=tuple(sorted(paths)),
                      methods=tuple(sorted(methods)), expires=expires_text)
        return grant, when.timestamp()


@implementer(IAuthenticator)
class SignedUrlAuthenticator:
    """Identifies requests that carry ``URL-Signature`` by their pre-signed URL alone (spec
    0.1 hook 1: whatever else the request carries, a token included, is not looked at), and
    hands every other request to the configured authenticator.

    A pre-signed request's context is the signed project's, with no roles, the URL's expiry
    and its :class:`~zaqar_tw.context.Grant`; its Client-ID is checked as in no-auth mode.

    :param inner: the IAuthenticator of ``[DEFAULT] auth_strategy``.
    :param signer: the service's :class:`UrlSigner`.
    :param config: the :class:`~zaqar_tw.config.Config` (``[transport]`` Client-ID rules).
    """

    def __init__(self, inner, signer, config):
        self._inner = inner
        self._signer = signer
        self._limits = config.transport

    def authenticate(self, headers, method, path):
        """:returns: a Deferred firing with the RequestContext.
        :raises InvalidSignature: the request carries ``URL-Signature`` and its pre-signed
            URL does not grant it.
        :raises BadRequest: the Client-ID is missing or malformed.
        """
        if SIGNATURE not in headers:
            return self._inner.authenticate(headers, method, path)
        grant, expires = self._signer.verify(headers, method, path)
        client_id = client_id_from(headers.get("client-id"), self._limits)
        return succeed(RequestContext(
            project=grant.project, client_id=client_id, expires=expires, grant=grant
        ))

    def close(self):
        """Close the configured authenticator's connections, if it holds any.

        :returns: a Deferred firing once they are closed.
        """
        close = getattr(self._inner, "close", None)
        return maybeDeferred(close) if close is not None else succeed(None)
