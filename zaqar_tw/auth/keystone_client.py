"""Zaqar-tw's calls to Keystone's v3 API: getting the service token and validating users'
tokens with it, over a pool of connections, never blocking the reactor.

* The service token comes from a password authentication of the configured service user
  (``POST /v3/auth/tokens``, scoped to its project).  It is kept until shortly before it
  expires (:data:`SERVICE_TOKEN_MARGIN`), and fetched again at once when Keystone answers
  401 to a validation made with it.  Concurrent requests share one fetch.
* A user's token is validated with ``GET /v3/auth/tokens?nocatalog`` (``X-Auth-Token``: the
  service token, ``X-Subject-Token``: the user's).  200 gives its :class:`Identity`; 404 (or
  400) means the token is not valid.  Anything else means Keystone cannot vouch for anybody
  now: :class:`KeystoneUnavailable`.
* Each call is bounded by ``settings.timeout`` seconds of the injected clock; a call whose
  connection fails is tried again at once, ``settings.max_retries`` times at most.
* Keystone's ``expires_at`` becomes seconds of the injected clock through the ``Date`` of
  Keystone's answer (its own "now"), so that clock skew between the hosts does not shift
  expiries; a second is taken off for the ``Date``'s rounding.
"""

import json
from datetime import datetime, timezone

from twisted.internet import error
from twisted.internet.defer import Deferred
from twisted.internet.ssl import CertificateOptions, trustRootFromCertificates
from twisted.web.client import (
    Agent,
    BrowserLikePolicyForHTTPS,
    HTTPConnectionPool,
    RequestTransmissionFailed,
    ResponseFailed,
    ResponseNeverReceived,
)
from twisted.web.http import stringToDatetime
from twisted.web.http_headers import Headers
from twisted.web.iweb import IPolicyForHTTPS
from zope.interface import implementer

from zaqar_tw.auth.single_flight import SingleFlight
from zaqar_tw.auth.token_cache import Identity
from zaqar_tw.http_body import BytesBody, read_body

SERVICE_TOKEN_MARGIN = 60.0  # seconds before its expiry the service token is replaced
MAX_PERSISTENT = 10  # idle connections kept open to Keystone
NOT_VALID = "The request you have made requires authentication."
NOT_SCOPED = (
    "The token is not scoped to a project; this service needs a project-scoped token."
)
_SERVICE = object()  # the SingleFlight key of the service token's fetch
# Failures of a connection, worth another attempt.
_CONNECTION_FAILURES = (
    error.ConnectError,
    error.ConnectionLost,
    error.DNSLookupError,
    ResponseNeverReceived,
    ResponseFailed,
    RequestTransmissionFailed,
)


class TokenRefused(Exception):
    """Keystone says the token is not valid (or not usable here); the message is for the
    client."""


class KeystoneUnavailable(Exception):
    """Keystone could not be asked, or did not answer as it should; the message is for the
    service's log."""


class KeystoneClient:
    """Talks to one Keystone.

    :param reactor: the reactor connections are made with.
    :param clock: the ``IReactorTime`` of timeouts and token lifetimes.
    :param settings: the :class:`~zaqar_tw.auth.keystone_settings.KeystoneSettings`.
    """

    def __init__(self, reactor, clock, settings):
        self._reactor = reactor
        self._clock = clock
        self._settings = settings
        self._tokens_url = (settings.identity_url + "/v3/auth/tokens?nocatalog").encode()
        self._trusts_url = (settings.identity_url + "/v3/OS-TRUST/trusts").encode()
        self._credentials = json.dumps({"auth": settings.credentials}).encode()
        self._password_identity = settings.credentials["identity"]
        self.service_user = None  # the service user's id, once it authenticated
        self._pool = HTTPConnectionPool(reactor, persistent=True)
        self._pool.maxPersistentPerHost = MAX_PERSISTENT
        self._agent = Agent(
            reactor,
            contextFactory=_tls_policy(settings),
            connectTimeout=settings.timeout,
            pool=self._pool,
        )
        self._service = None  # (token, clock time to replace it at)
        self._flights = SingleFlight()

    def close(self):
        """Close the idle connections.

        :returns: a Deferred firing once they are closed.
        """
        return self._pool.closeCachedConnections()

    async def validate(self, token):
        """What Keystone says of a user's token.

        :returns: its :class:`~zaqar_tw.auth.token_cache.Identity`.
        :raises TokenRefused: the token is not valid, or not scoped to a project.
        :raises KeystoneUnavailable: Keystone could not say.
        """
        for attempt in (1, 2):
            service = await self.service_token()
            code, headers, body = await self._call(
                b"GET", {"X-Auth-Token": service, "X-Subject-Token": token}
            )
            if code == 200:
                return self._identity(headers, body)
            if code in (400, 404):
                raise TokenRefused(NOT_VALID)
            if code == 401 and attempt == 1:
                self._forget(service)
                continue
            raise KeystoneUnavailable(_refusal(code, "a token validation"))

    async def service_token(self):
        """The service token, fetched when there is none or it nears its expiry.

        :raises KeystoneUnavailable: it could not be had.
        """
        if self._service is not None and self._clock.seconds() < self._service[1]:
            return self._service[0]
        return await self._flights.run(_SERVICE, self._authenticate)

    def _forget(self, token):
        """Drop the service token Keystone no longer takes (unless already replaced)."""
        if self._service is not None and self._service[0] == token:
            self._service = None

    async def _authenticate(self):
        code, headers, body = await self._call(
            b"POST", {"Content-Type": "application/json"}, self._credentials
        )
        if code != 201:
            raise KeystoneUnavailable(_refusal(code, "the service user's authentication"))
        token = headers.getRawHeaders(b"x-subject-token", [b""])[0].decode("latin-1")
        try:
            expires = self._clock_time(json.loads(body)["token"]["expires_at"], headers)
        except (ValueError, KeyError, TypeError) as exc:
            raise KeystoneUnavailable(f"unexpected service token from Keystone: {exc}") from None
        if not token:
            raise KeystoneUnavailable("Keystone's authentication answer carried no token")
        self.service_user = json.loads(body)["token"]["user"]["id"]
        now = self._clock.seconds()
        self._service = (token, expires - min(SERVICE_TOKEN_MARGIN, (expires - now) / 2))
        return token

    async def create_trust(self, token, trustor, project, roles, expires_at):
        """Make the service user a trustee of ``trustor`` in ``project`` (Keystone trusts,
        with impersonation), as the trustor, with the trustor's token.

        :param roles: role names the trust delegates.
        :param expires_at: its expiry, ISO 8601 in UTC.
        :returns: the trust's id.
        :raises TokenRefused: Keystone refused to create it (the text says why).
        :raises KeystoneUnavailable: Keystone could not say.
        """
        await self.service_token()
        document = {"trust": {
            "trustor_user_id": trustor, "trustee_user_id": self.service_user,
            "project_id": project, "impersonation": True, "expires_at": expires_at,
            "roles": [{"name": name} for name in roles],
        }}
        code, _, body = await self._call(
            b"POST", {"X-Auth-Token": token, "Content-Type": "application/json"},
            json.dumps(document).encode(), url=self._trusts_url,
        )
        if code == 201:
            return json.loads(body)["trust"]["id"]
        if 400 <= code < 500:
            raise TokenRefused(f"Keystone refused the trust ({code})")
        raise KeystoneUnavailable(_refusal(code, "a trust creation"))

    async def trust_token(self, trust_id):
        """A token of the service user scoped to a trust.

        :returns: ``(token, clock time it expires at)``.
        :raises TokenRefused: Keystone refused it (the trust is gone or expired).
        :raises KeystoneUnavailable: Keystone could not say.
        """
        document = {"auth": {"identity": self._password_identity,
                             "scope": {"OS-TRUST:trust": {"id": trust_id}}}}
        code, headers, body = await self._call(
            b"POST", {"Content-Type": "application/json"}, json.dumps(document).encode()
        )
        if code != 201:
            if 400 <= code < 500:
                raise TokenRefused(f"Keystone refused a token of trust {trust_id} ({code})")
            raise KeystoneUnavailable(_refusal(code, "a trust token"))
        token = headers.getRawHeaders(b"x-subject-token", [b""])[0].decode("latin-1")
        return token, self._clock_time(json.loads(body)["token"]["expires_at"], headers)

    def _identity(self, headers, body):
        try:
            token = json.loads(body)["token"]
            project = token.get("project")
            if not project:
                raise TokenRefused(NOT_SCOPED)
            return Identity(
                project=project["id"],
                user=token["user"]["id"],
                roles=tuple(role["name"] for role in token.get("roles") or ()),
                expires=self._clock_time(token["expires_at"], headers),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise KeystoneUnavailable(
                f"unexpected token validation from Keystone: {type(exc).__name__}: {exc}"
            ) from None

    def _clock_time(self, expires_at, headers):
        """Keystone's ``expires_at`` in seconds of the injected clock."""
        expiry = datetime.fromisoformat(expires_at)
        if expiry.tzinfo is None:
            expiry = expiry.replace(tzinfo=timezone.utc)
        keystone_now = self._reactor.seconds()
        for date in headers.getRawHeaders(b"date", ()):
            try:
                keystone_now = stringToDatetime(date)
            except ValueError:
                pass
        return self._clock.seconds() + (expiry.timestamp() - keystone_now) - 1.0

    async def _call(self, method, headers, body=None, url=None):
        """One call to ``url`` (default ``/v3/auth/tokens``), tried again when its
        connection fails.

        :returns: ``(status, response headers, body bytes)``.
        :raises KeystoneUnavailable: no answer.
        """
        sent = Headers({name: [value] for name, value in headers.items()})
        attempts = self._settings.max_retries + 1
        for attempt in range(1, attempts + 1):
            call = Deferred.fromCoroutine(
                self._once(method, sent, body, url or self._tokens_url)
            )
            call.addTimeout(self._settings.timeout, self._clock, onTimeoutCancel=_timed_out)
            try:
                return await call
            except _CONNECTION_FAILURES as exc:
                if attempt == attempts:
                    raise KeystoneUnavailable(
                        f"Keystone cannot be reached at {self._settings.identity_url} "
                        f"({attempts} attempts): {_describe(exc)}"
                    ) from None

    async def _once(self, method, headers, body, url):
        response = await self._agent.request(
            method, url, headers, None if body is None else BytesBody(body)
        )
        content = await read_body(response)
        return response.code, response.headers, content


def _timed_out(result, timeout):
    """The outcome of a call cancelled at its timeout, whatever its cancellation raised."""
    raise KeystoneUnavailable(f"Keystone did not answer within {timeout:g} s")


def _refusal(code, what):
    if code == 401:
        return (
            f"Keystone answered 401 to {what}: check the service user's credentials in "
            f"[keystone_authtoken]"
        )
    if code == 403:
        return (
            f"Keystone answered 403 to {what}: the service user needs a role that may "
            f"validate tokens (Keystone's identity:validate_token rule, e.g. 'service')"
        )
    return f"Keystone answered {code} to {what}"


def _describe(exc):
    reasons = getattr(exc, "reasons", None)
    if reasons:
        return "; ".join(_describe(reason.value) for reason in reasons)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _tls_policy(settings):
    """How Keystone's certificate is checked: against ``cafile``'s authorities, the system's,
    or not at all (``insecure``)."""
    if settings.insecure:
        return _Unverified()
    if settings.ca_certificates is None:
        return BrowserLikePolicyForHTTPS()
    return BrowserLikePolicyForHTTPS(trustRootFromCertificates(settings.ca_certificates))


@implementer(IPolicyForHTTPS)
class _Unverified:
    """TLS without checking the server's certificate (``insecure = true``)."""

    def creatorForNetloc(self, hostname, port):
        return CertificateOptions(verify=False)
