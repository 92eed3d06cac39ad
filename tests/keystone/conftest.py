"""Fixtures of the Keystone tests.

* ``keystone``: one real Keystone for the whole session (tests/keystone_server.py builds its
  virtualenv and prepares a Keystone on first use, then starts a copy of it: about 5 s; it
  is stopped by process id at the end).
* ``relay``: a counting relay in front of it, on the test reactor (tests/keystone/relay.py).
* ``config`` and ``authenticator``: the service in Keystone mode (``[DEFAULT]
  auth_strategy = keystone``), validating tokens through the relay as the service user
  ``zaqar``; the REST ``api`` and WebSocket ``ws_server`` fixtures of the other conftest
  files serve with it.  ``zaqar_config`` markers apply last.
* ``tenants``: fresh Keystone projects and tokens for each test, so that no two tests share
  queues in the shared Redis.
"""

import time
from datetime import datetime
from functools import partialmethod

import pytest
import pytest_twisted
from twisted.internet.threads import deferToThread

from tests.keystone_server import KeystoneServer
from tests.loopback import loopback_config
# Fixtures of other folders used here too.
from tests.websocket.conftest import connect, ws_server  # noqa: F401


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "keystone_direct: the service calls Keystone itself, not through the relay"
    )


@pytest.fixture(scope="session")
def keystone():
    """The session's Keystone, started."""
    server = KeystoneServer()
    yield server
    server.remove()


@pytest_twisted.async_yield_fixture
async def relay(keystone):
    """A counting relay to the session's Keystone."""
    from twisted.internet import reactor

    from tests.keystone.relay import KeystoneRelay

    relayed = KeystoneRelay(reactor, keystone.port)
    await relayed.listen()
    yield relayed
    await relayed.close()


@pytest.fixture
def config(request, relay, keystone):
    """Keystone mode through the relay (or straight to Keystone for tests marked
    ``keystone_direct``), plus the test's ``zaqar_config`` overrides."""
    built = loopback_config()
    built.set("DEFAULT", "auth_strategy", "keystone")
    direct = request.node.get_closest_marker("keystone_direct") is not None
    for option, text in keystone.authtoken_options(None if direct else relay.url).items():
        built.set("keystone_authtoken", option, text)
    marker = request.node.get_closest_marker("zaqar_config")
    for section, option, text in marker.args if marker else ():
        built.set(section, option, text)
    return built


@pytest_twisted.async_yield_fixture
async def authenticator(config, clock):
    """The ``keystone`` authenticator on the test clock, behind the pre-signed URL check as
    the service composes them; closed afterwards."""
    from twisted.internet import reactor

    from zaqar_tw.auth.keystone import KeystoneAuth
    from zaqar_tw.auth.signed_url import SignedUrlAuthenticator, UrlSigner

    auth = SignedUrlAuthenticator(
        KeystoneAuth(reactor, config, clock), UrlSigner.from_config(config, clock), config
    )
    yield auth
    await auth.close()


class Tenants:
    """Fresh Keystone projects for one test, and tokens in them (each call runs in a
    thread: the Keystone helpers block)."""

    def __init__(self, keystone):
        self.keystone = keystone

    def project(self, *members):
        """A new project where each user of ``members`` is a member: its id."""
        return deferToThread(self.keystone.new_project, *members)

    def token(self, user, project_id):
        """A token of ``user`` scoped to ``project_id``."""
        return deferToThread(self.keystone.project_token, user, project_id)

    async def member(self, user="alice"):
        """A new project of which ``user`` is a member: ``(project id, token)``."""
        project = await self.project(user)
        return project, await self.token(user, project)

    def short_lived(self, user, project_id):
        """A token of ``user`` in ``project_id`` that Keystone itself holds valid for
        :data:`SHORT_LIFETIME` seconds at most: one of an application credential that
        expires then (Keystone ends such a token with its credential; the lifetime of other
        tokens is one setting for the whole Keystone).

        :returns: ``(token, token document)``.
        """
        return deferToThread(
            self.keystone.application_credential_token, user, project_id, SHORT_LIFETIME
        )

    def call(self, function, *args):
        """Run another blocking Keystone helper in a thread."""
        return deferToThread(function, *args)


@pytest.fixture
def tenants(keystone):
    """Fresh Keystone projects and tokens."""
    return Tenants(keystone)


# Seconds a short-lived token is asked to last (see tenants.short_lived).  Keystone rounds
# the expiry down to a whole second, and under load issuing a token and using it once can
# take a second or two: four leaves room for that, and is all a test waits in real time.
SHORT_LIFETIME = 4


async def wait_past(expires_at):
    """Wait in real time until Keystone's ``expires_at`` (ISO 8601) has passed, and half a
    second more: for tokens whose expiry only Keystone's own clock can bring."""
    from tests.waiting import pause

    expires = datetime.fromisoformat(expires_at).timestamp()
    await pause(max(0.0, expires - time.time()) + 0.5)


class Bearer:
    """The REST ``api`` client sending a token (``X-Auth-Token``) with each request."""

    def __init__(self, api, token):
        self.api = api
        self.token = token

    def request(self, method, path, headers=None, **kwargs):
        """As ``ApiClient.request``, with the token (a header of ``headers`` overrides)."""
        sent = {"X-Auth-Token": self.token, **(headers or {})}
        return self.api.request(method, path, headers=sent, **kwargs)

    get = partialmethod(request, "GET")
    put = partialmethod(request, "PUT")
    post = partialmethod(request, "POST")
