"""Keystone mode: each request bears a Keystone token (``X-Auth-Token``), and the token says
who the caller is.

The project, user, roles and expiry of the request come from the token as Keystone
validates it; identity headers the client sends (``X-Project-ID``, ``X-Tenant-ID``,
``X-Roles``, ``X-User-Id``, ...) are ignored.  A missing token is refused before the
Client-ID is looked at (keystonemiddleware runs before Zaqar's own checks), and the
Client-ID rules of no-auth mode apply after it.

* No token, or an invalid, expired or malformed one: 401 with keystonemiddleware's body
  and ``WWW-Authenticate: Keystone uri="<www_authenticate_uri>"``; a token not scoped to
  a project: the same, saying so.
* Keystone unreachable, too slow, or answering other than expected: 503; the next request
  asks again.  The log says why, once when it starts failing and once when it is back.
* Tokens are cached (:mod:`zaqar_tw.auth.token_cache`), and concurrent requests bearing
  one new token cost one validation.
"""

import re

from twisted.internet.defer import fail, succeed
from twisted.logger import Logger
from zope.interface import implementer

from zaqar_tw.auth.keystone_client import (
    NOT_VALID,
    KeystoneClient,
    KeystoneUnavailable,
    TokenRefused,
)
from zaqar_tw.auth.keystone_settings import keystone_settings
from zaqar_tw.auth.noauth import client_id_from
from zaqar_tw.auth.single_flight import SingleFlight
from zaqar_tw.auth.token_cache import Identity, TokenCache
from zaqar_tw.context import RequestContext
from zaqar_tw.errors import BadRequest, Unauthorized, Unavailable
from zaqar_tw.interfaces import IAuthenticator

# What a token can look like: visible ASCII, at most 8 KiB (Keystone's fernet tokens are
# about 200 characters; this leaves room for other formats).  Others never reach Keystone.
_TOKEN = re.compile(r"[\x21-\x7e]{1,8192}")
UNAVAILABLE = (
    "The token could not be validated: the identity service is unavailable. Please try "
    "again in a few seconds."
)


@implementer(IAuthenticator)
class KeystoneAuth:
    """Validates ``X-Auth-Token`` with Keystone (``[keystone_authtoken]``).

    :param reactor: the reactor Keystone is called with.
    :param config: the :class:`~zaqar_tw.config.Config`.
    :param clock: the ``IReactorTime`` of the cache, timeouts and expiries (default: the
        reactor).
    :raises zaqar_tw.config.ConfigError: ``[keystone_authtoken]`` misses a required option
        or asks for what zaqar-tw does not do.
    """

    _log = Logger()

    def __init__(self, reactor, config, clock=None):
        settings = keystone_settings(config)
        self._clock = reactor if clock is None else clock
        self._limits = config.transport
        self._keystone = KeystoneClient(reactor, self._clock, settings)
        self._tokens = TokenCache(
            self._clock, settings.token_cache_time, settings.token_cache_size, NOT_VALID
        )
        self._flights = SingleFlight()
        self._challenge = {"WWW-Authenticate": f'Keystone uri="{settings.www_authenticate_uri}"'}
        self._failing = False

    def authenticate(self, headers, method, path):
        """:returns: a Deferred firing with the RequestContext of the token's identity.
        :raises Unauthorized: no token, or one Keystone refuses.
        :raises BadRequest: the Client-ID is missing or malformed.
        :raises Unavailable: Keystone could not be asked.
        """
        token = headers.get("x-auth-token")
        if not token:
            return fail(self._refusal(NOT_VALID))
        known = self._tokens.lookup(token)
        if type(known) is Identity:
            try:
                return succeed(self._context(known, token, headers))
            except BadRequest as exc:
                return fail(exc)
        if known is not None:
            return fail(self._refusal(known))
        if not _TOKEN.fullmatch(token):
            return fail(self._refusal(NOT_VALID))
        found = self._flights.run(token, lambda: self._validate(token))
        return found.addCallback(self._context, token, headers)

    def close(self):
        """Close the connections to Keystone (when the service stops).

        :returns: a Deferred firing once they are closed.
        """
        return self._keystone.close()

    def _context(self, identity, token, headers):
        return RequestContext(
            project=identity.project,
            client_id=client_id_from(headers.get("client-id"), self._limits),
            roles=identity.roles,
            token=token,
            user=identity.user,
            expires=identity.expires,
        )

    async def _validate(self, token):
        try:
            identity = await self._keystone.validate(token)
        except TokenRefused as exc:
            self._answering()
            self._tokens.refuse(token, str(exc))
            raise self._refusal(str(exc)) from None
        except KeystoneUnavailable as exc:
            if not self._failing:
                self._failing = True
                self._log.error(
                    "Keystone auth: tokens cannot be validated (requests get 503 until "
                    "Keystone answers): {why}", why=exc,
                )
            raise Unavailable(UNAVAILABLE) from None
        self._answering()
        self._tokens.keep(token, identity)
        return identity

    def _answering(self):
        if self._failing:
            self._failing = False
            self._log.info("Keystone auth: Keystone answers again")

    def _refusal(self, message):
        return Unauthorized(message, headers=self._challenge)
