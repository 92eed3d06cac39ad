"""Fixtures that run the real service in-process on the test reactor.

``api`` starts Redis storage (the shared server on 127.0.0.1:6379; or the store that
``ZAQAR_TEST_STORE=<name>`` names, see the ``storage`` fixture), the core and the REST
transport listening on an ephemeral port of 127.0.0.1, all with one injected
:class:`~twisted.internet.task.Clock`, and hands tests a client bound to a fresh project.
Klein, txredisapi and treq are imported inside the fixtures: importing them here would
install the default reactor before pytest-twisted chooses one.

Config overrides: mark a test with ``@pytest.mark.zaqar_config((section, option, text), ...)``,
e.g. ``@pytest.mark.zaqar_config(("DEFAULT", "admin_mode", "true"))``.
"""

import inspect
import json
import os
import uuid
from importlib.metadata import entry_points

import hypothesis
import pytest
import pytest_twisted
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer
from zope.interface import implementer

from tests.loopback import allow_loopback
from zaqar_tw.config import Config

START = 1_700_000_000
TIMEOUT = 30  # seconds of real time a request may take before the test fails
REDIS_URI = "redis://127.0.0.1:6379"
# The store the service runs on: ZAQAR_TEST_STORE=<name> (default redis).
TEST_STORE = os.environ.get("ZAQAR_TEST_STORE", "").strip() or "redis"
_UNSET = object()

# Fuzz tests are standing tests: the same examples on every run (a fixed seed), no example
# database left in the work tree, no deadline (the machine is shared).
hypothesis.settings.register_profile(
    "zaqar", derandomize=True, database=None, deadline=None, print_blob=False
)
hypothesis.settings.load_profile("zaqar")


def pytest_report_header(config):
    """Say which store the service fixtures run on."""
    return f"zaqar-tw test store: {TEST_STORE}"


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "zaqar_config(*overrides): (section, option, text) config overrides for the service",
    )
    config.addinivalue_line(
        "markers", "broken_authenticator: serve with an authenticator that raises"
    )


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A temporary HOME, so ``~/.zaqar`` is the test's and no user file leaks in."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    return path


@pytest.fixture
def logged():
    """The events logged during the test (``twisted.logger`` dicts), in order."""
    from twisted.logger import globalLogPublisher

    events = []
    globalLogPublisher.addObserver(events.append)
    yield events
    globalLogPublisher.removeObserver(events.append)


@pytest.fixture
def policy_rules():
    """The rules of the service's policy file (``None``: there is no file); parametrize a
    test with ``policy_rules`` (a dict of rule name to rule) to serve others."""
    return None


@pytest.fixture
def config(request, tmp_path, policy_rules):
    """The service config: defaults (webhooks may reach 127.0.0.0/8: see tests/loopback.py)
    plus the test's ``zaqar_config`` overrides; the policy
    file is ``policy.json`` in the test's directory (so none of ``~/.zaqar`` or
    ``/etc/zaqar`` leaks in), holding ``policy_rules``."""
    built = allow_loopback(Config())
    policy_file = tmp_path / "policy.json"
    if policy_rules is not None:
        policy_file.write_text(json.dumps(policy_rules))
    built.set("oslo_policy", "policy_file", str(policy_file))
    marker = request.node.get_closest_marker("zaqar_config")
    for section, option, text in marker.args if marker else ():
        built.set(section, option, text)
    return built


@pytest.fixture
def clock():
    """The clock of the service, at 2023-11-14T22:13:20Z."""
    from twisted.internet.task import Clock

    clock = Clock()
    clock.advance(START)
    return clock


@pytest_twisted.async_yield_fixture
async def storage(clock, tmp_path):
    """The Redis store, connected to the shared Redis; or, when ``ZAQAR_TEST_STORE`` names
    another store, one built by that store's factory in the ``zaqar_tw.storage_tests``
    entry-point group (protocol in ``tests/storage/conftest.py``)."""
    from twisted.internet import reactor

    if TEST_STORE == "redis":
        from zaqar_tw.storage.redis.store import RedisStorage

        store = RedisStorage(reactor, REDIS_URI, clock=clock)
    else:
        store = _test_store_factory(TEST_STORE)(reactor, clock, tmp_path)
        if inspect.isawaitable(store):
            store = await store
    await store.connect()
    yield store
    await store.close()


def _test_store_factory(name):
    found = entry_points(group="zaqar_tw.storage_tests", name=name)
    if not found:
        known = sorted(ep.name for ep in entry_points(group="zaqar_tw.storage_tests"))
        raise pytest.UsageError(
            f"ZAQAR_TEST_STORE={name}: no factory named {name!r} in the "
            f"zaqar_tw.storage_tests entry-point group (installed: {', '.join(known) or 'none'})"
        )
    return next(iter(found)).load()


@pytest.fixture
def authenticator(config, clock):
    """The identity provider of the service, composed as the service composes it: pre-signed
    URLs (``[signed_url]``), then no-auth."""
    from zaqar_tw.auth.noauth import NoAuth
    from zaqar_tw.auth.signed_url import SignedUrlAuthenticator, UrlSigner

    return SignedUrlAuthenticator(NoAuth(None, config), UrlSigner.from_config(config, clock),
                                  config)


@pytest.fixture
def policy(config, clock):
    """The IPolicy provider of the core: the policy the config names, its files checked for
    changes every ``[oslo_policy] reload_interval`` seconds of the test clock (as the
    service does; ``0``: never)."""
    from zaqar_tw.auth.policy import OsloPolicy, PolicyReloadService

    built = OsloPolicy(config)
    interval = config.oslo_policy.reload_interval
    watch = PolicyReloadService(built, interval, clock) if interval else None
    if watch:
        watch.startService()
    yield built
    if watch:
        watch.stopService()


@pytest_twisted.async_yield_fixture
async def api(config, clock, storage, authenticator, policy):
    """The REST service on a real socket, and a client for one fresh project."""
    from twisted.internet import reactor
    from twisted.internet.endpoints import TCP4ServerEndpoint

    from zaqar_tw import plugins
    from zaqar_tw.core import Core
    from zaqar_tw.transport.rest.app import RestApi

    core = Core(
        config, storage, clock, policy=policy, notifiers=plugins.notifiers(config, reactor)
    )
    rest = RestApi(core, config, authenticator)
    port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(rest.site())
    client = ApiClient(reactor, f"http://127.0.0.1:{port.getHost().port}", clock)
    yield client
    await client.close()
    await port.stopListening()
    await core.dispatcher.stop()  # notifications in progress finish before the store closes


class Reply:
    """One HTTP response.

    :ivar status: the status code.
    :ivar headers: lowercase header names to text (repeated headers joined by ``, ``).
    :ivar body: the raw body bytes.
    :ivar json: the decoded JSON body, or ``None`` when the body is empty or not JSON.
    """

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        kind = headers.get("content-type", "")
        self.json = json.loads(body) if body and "json" in kind else None

    @property
    def error(self):
        """The ``(title, description)`` of an error body (description ``None`` if absent)."""
        return self.json["title"], self.json.get("description")

    def __repr__(self):
        return f"<Reply {self.status} {self.body[:300]!r}>"


@implementer(IBodyProducer)
class _Body:
    """A request body: sent with its Content-Length (even 0), or chunked without one."""

    def __init__(self, data, chunked=False):
        self.length = UNKNOWN_LENGTH if chunked else len(data)
        self._data = data

    def startProducing(self, consumer):
        from twisted.internet.defer import succeed

        if self._data:
            consumer.write(self._data)
        return succeed(None)

    def pauseProducing(self):
        pass

    def resumeProducing(self):
        pass

    def stopProducing(self):
        pass


class ApiClient:
    """A client of the in-process service, identified by a fresh project and Client-ID.

    :ivar url: the base URL, e.g. ``http://127.0.0.1:43127``.
    :ivar clock: the service's clock (advance it instead of sleeping).
    :ivar project: this test's project id (uuid4 hex).
    :ivar client_id: this client's Client-ID (dashed uuid4).
    """

    def __init__(self, reactor, url, clock):
        from treq.client import HTTPClient
        from twisted.web.client import Agent, HTTPConnectionPool

        self.url = url
        self.clock = clock
        self._reactor = reactor
        self.project = uuid.uuid4().hex
        self.client_id = str(uuid.uuid4())
        self._pool = HTTPConnectionPool(reactor, persistent=False)
        self._http = HTTPClient(Agent(reactor, pool=self._pool))

    def advance(self, seconds):
        """Move the service's clock forward."""
        self.clock.advance(seconds)

    def default_headers(self):
        """The identifying headers sent unless a test overrides them."""
        return {"Client-ID": self.client_id, "X-Project-ID": self.project}

    async def request(self, method, path, json=_UNSET, data=None, chunked=None,
                      headers=None, identify=True):
        """Send a request and read the whole response.

        :param path: the path and query, e.g. ``/v2/queues?limit=2``.
        :param json: a document to send as ``application/json``.
        :param data: raw body bytes (sent with Content-Length, even when empty); without
            ``data``, ``json`` or ``chunked`` there is no body (PUT and POST still send
            ``Content-Length: 0``).
        :param chunked: raw body bytes sent chunked (no Content-Length).
        :param headers: extra headers; a ``None`` value removes a default header.
        :param identify: whether to send the default Client-ID and project headers.
        :returns: a :class:`Reply`.
        """
        import treq

        sent = self.default_headers() if identify else {}
        if json is not _UNSET:
            data = _dumps(json)
            sent["Content-Type"] = "application/json"
        for name, value in (headers or {}).items():
            for existing in [key for key in sent if key.lower() == name.lower()]:
                del sent[existing]
            if value is not None:
                sent[name] = value
        body = None
        if chunked is not None:
            body = _Body(chunked, chunked=True)
        elif data is not None:
            body = _Body(data)
        response = await self._http.request(
            method,
            self.url + path,
            headers={name: [value] for name, value in sent.items()},
            data=body,
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        body = await treq.content(response)
        received = {
            name.decode("latin-1").lower(): ", ".join(v.decode("latin-1") for v in values)
            for name, values in response.headers.getAllRawHeaders()
        }
        return Reply(response.code, received, body)

    async def raw(self, method, path, headers=None, body=None, identify=True):
        """Send one request over a fresh socket and read the response bytes as they come,
        for what Twisted's client hides (``Content-Length``, ``Connection``).

        :param body: bytes sent with a Content-Length, or ``None`` for no body.
        :returns: a :class:`Reply` whose headers include every header received.
        """
        from twisted.internet.defer import Deferred
        from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
        from twisted.internet.protocol import Protocol

        class Collect(Protocol):
            def __init__(self):
                self.chunks = []
                self.done = Deferred()

            def dataReceived(self, data):
                self.chunks.append(data)

            def connectionLost(self, reason):
                self.done.callback(b"".join(self.chunks))

        sent = self.default_headers() if identify else {}
        sent.update({"Host": "127.0.0.1", "Connection": "close"})
        sent.update(headers or {})
        if body is not None:
            sent["Content-Length"] = str(len(body))
        lines = [f"{method} {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in sent.items()]
        host, port = self.url.rsplit("/", 1)[1].split(":")
        endpoint = TCP4ClientEndpoint(self._reactor, host, int(port))
        protocol = await connectProtocol(endpoint, Collect())
        protocol.transport.write("\r\n".join(lines).encode("latin-1") + b"\r\n\r\n"
                                 + (body or b""))
        response = await protocol.done.addTimeout(TIMEOUT, self._reactor)
        head, _, content = response.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        received = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            received[name] = (
                f"{received[name]}, {value.strip()}" if name in received else value.strip()
            )
        return Reply(int(status_line.split()[1]), received, content)

    def get(self, path, **kwargs):
        """``GET``"""
        return self.request("GET", path, **kwargs)

    def head(self, path, **kwargs):
        """``HEAD``"""
        return self.request("HEAD", path, **kwargs)

    def put(self, path, **kwargs):
        """``PUT``"""
        return self.request("PUT", path, **kwargs)

    def post(self, path, **kwargs):
        """``POST``"""
        return self.request("POST", path, **kwargs)

    def patch(self, path, **kwargs):
        """``PATCH``"""
        return self.request("PATCH", path, **kwargs)

    def delete(self, path, **kwargs):
        """``DELETE``"""
        return self.request("DELETE", path, **kwargs)

    def options(self, path, **kwargs):
        """``OPTIONS``"""
        return self.request("OPTIONS", path, **kwargs)

    # Shortcuts that assert the happy path, for tests about something else.

    async def create_queue(self, name, metadata=None, **kwargs):
        """Create a queue (201)."""
        reply = await self.put(
            f"/v2/queues/{name}", json=metadata if metadata is not None else {}, **kwargs
        )
        assert reply.status == 201, reply
        return reply

    async def post_messages(self, queue, *messages, **kwargs):
        """Post messages (dicts with ``body`` and maybe ``ttl``); returns their ids."""
        reply = await self.post(
            f"/v2/queues/{queue}/messages", json={"messages": list(messages)}, **kwargs
        )
        assert reply.status == 201, reply
        return [href.rsplit("/", 1)[1] for href in reply.json["resources"]]

    async def claim(self, queue, ttl=None, grace=None, limit=None, **kwargs):
        """Claim messages (201); returns ``(claim_id, reply)``."""
        body = {}
        if ttl is not None:
            body["ttl"] = ttl
        if grace is not None:
            body["grace"] = grace
        query = "" if limit is None else f"?limit={limit}"
        reply = await self.post(f"/v2/queues/{queue}/claims{query}", json=body, **kwargs)
        assert reply.status == 201, reply
        return reply.headers["location"].rsplit("/", 1)[1], reply

    async def close(self):
        """Drop any connection left open."""
        await self._pool.closeCachedConnections()


def _dumps(document):
    return json.dumps(document).encode("utf-8")
