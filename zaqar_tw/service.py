"""Build the running service from a :class:`~zaqar_tw.config.Config`: one ``MultiService``.

Children, in start order: the embedded Redis (only when the store URI is ``embedded``), the
store, the clock's synchronization with the store (when the store provides ``ITimeSource``:
see :mod:`zaqar_tw.clock`), the policy file watch (unless ``[oslo_policy] reload_interval``
is 0), the notifications, the authenticator (its connections, Keystone's, close when it
stops), then the listeners.  They stop in reverse, one after the other, so the listeners
close first, the notifications in progress get a bounded time to finish, and the store
closes before its Redis goes away.

Once the listeners listen, one line says what runs: the version, the config file, the URLs,
the store and the auth mode.  What stops start-up is a :class:`StartupError`: one line, no
traceback.
"""

from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import MultiService, Service
from twisted.internet import defer, endpoints
from twisted.internet.error import CannotListenError
from twisted.logger import Logger

from zaqar_tw import plugins
from zaqar_tw.auth.signed_url import SignedUrlAuthenticator
from zaqar_tw.clock import ClockSyncService, SharedClock
from zaqar_tw.config import ConfigError
from zaqar_tw.interfaces import ITimeSource
from zaqar_tw.openfiles import raise_open_files_limit
from zaqar_tw.startup import StartupError, cannot_listen, listening_urls, summary
from zaqar_tw.storage.redis.uri import parse_uri, redact

log = Logger()


class ZaqarService(MultiService):
    """A ``MultiService`` whose children stop one at a time, last started first.

    :ivar summary: when set (by :func:`makeService`), the start-up line is logged once the
        listeners listen: a dict of what it says besides their URLs.
    """

    summary = None

    def startService(self):
        """Start every child, then log the start-up line once the listeners listen."""
        MultiService.startService(self)
        if self.summary is not None:
            listening_urls(self).addCallback(self._announce)

    def _announce(self, urls):
        served = " and ".join(f"{label} on {url}" for label, url in urls) or "nothing"
        log.info(
            "zaqar-tw {version} serving {served}; config: {config}; store: {store}; "
            "auth: {auth}", served=served, **self.summary,
        )

    def stopService(self):
        """Stop every child in reverse order, each after the previous one has stopped.

        :returns: a Deferred firing once all have stopped.
        """
        Service.stopService(self)
        children = list(self)
        children.reverse()

        @defer.inlineCallbacks
        def stop_each():
            for child in children:
                try:
                    yield defer.maybeDeferred(child.stopService)
                except Exception:
                    log.failure("stopping {name} failed", name=child.name)

        return stop_each()


class StorageService(Service):
    """Connects the store when started (without holding up start-up) and closes it when
    stopped.

    While the store is unreachable the service still runs: the store retries on its own and
    fails requests fast, which clients see as 503s.
    """

    name = "storage"

    def __init__(self, storage, uri, ready=None):
        """
        :param storage: the IStorage provider, with ``connect()`` and ``close()``.
        :param uri: the store URI, for log messages (its password is never logged).
        :param ready: when given, a callable returning a Deferred that fires once the back
            end is worth connecting to (the embedded Redis accepting connections).
        """
        self.storage = storage
        self.uri = redact(uri)
        self.ready = ready
        self._connected = False
        self._waiters = []

    def startService(self):
        """Start connecting (once ``ready`` fires); log when the store answers first."""
        Service.startService(self)
        d = defer.maybeDeferred(self.ready) if self.ready is not None else defer.succeed(None)
        d.addCallback(lambda _: self.storage.connect() if self.running else None)
        d.addCallbacks(self._connected_first, self._failed)

    def whenConnected(self):
        """:returns: a Deferred firing once the store has connected (now, if it has); it
        fails if the store never does (it was stopped first)."""
        if self._connected:
            return defer.succeed(None)
        d = defer.Deferred()
        self._waiters.append(d)
        return d

    def _connected_first(self, _):
        if not self.running:
            return
        log.info("store connected: {uri}", uri=self.uri)
        self._connected = True
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            d.callback(None)

    def _failed(self, failure):
        if self.running:
            log.failure("store {uri} failed to connect", failure, uri=self.uri)
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            d.errback(failure)

    def stopService(self):
        """:returns: the Deferred of the store's ``close()``."""
        Service.stopService(self)
        return defer.maybeDeferred(self.storage.close)


class NotificationService(Service):
    """Gives the notifications in progress a bounded time to finish when stopped (it stops
    after the listeners and before the store the notifications read)."""

    name = "notifications"

    def __init__(self, dispatcher, confirmations=None):
        """:param dispatcher: the :class:`~zaqar_tw.notify.dispatcher.Dispatcher`.
        :param confirmations: the
            :class:`~zaqar_tw.notify.confirmation.ConfirmationRequests`, or ``None``."""
        self.dispatcher = dispatcher
        self.confirmations = confirmations

    def stopService(self):
        """:returns: a Deferred firing once the dispatcher and the confirmation requests
        have stopped."""
        Service.stopService(self)
        stops = [self.dispatcher.stop()]
        if self.confirmations is not None:
            stops.append(self.confirmations.stop())
        return defer.gatherResults(stops, consumeErrors=True).addCallback(lambda _: None)


class AuthenticatorService(Service):
    """Closes the authenticator's connections when stopped (it stops after the listeners),
    for an authenticator that has a ``close()`` method."""

    name = "authenticator"

    def __init__(self, authenticator):
        """:param authenticator: the IAuthenticator provider."""
        self.authenticator = authenticator

    def stopService(self):
        """:returns: the Deferred of the authenticator's ``close()``, if it has one."""
        Service.stopService(self)
        close = getattr(self.authenticator, "close", None)
        return defer.maybeDeferred(close) if close is not None else None


class Listener(StreamServerEndpointService):
    """A listener that reports an address it cannot listen on as a :class:`StartupError`
    naming its transport.

    :ivar label: the transport (``"REST"``, ``"WebSocket"``).
    :ivar description: the endpoint string.
    """

    def __init__(self, endpoint, factory, label, description):
        super().__init__(endpoint, factory)
        self.label = label
        self.description = description
        self._raiseSynchronously = True

    def privilegedStartService(self):
        """Listen now.

        :raises StartupError: the address is in use, or not ours to listen on.
        """
        try:
            super().privilegedStartService()
        except CannotListenError as exc:
            raise StartupError(cannot_listen(self.label, self.description, exc)) from None

    def listening(self):
        """:returns: ``[(label, endpoint string, Deferred firing with the port)]`` once
        started, else ``[]``."""
        if self._waitingForPort is None:
            return []
        waiting = defer.Deferred()

        def relay(port):
            waiting.callback(port)
            return port

        self._waitingForPort.addCallback(relay)
        return [(self.label, self.description, waiting)]


def check(config):
    """Refuse what this version cannot serve: things not built yet, a Redis URI that does
    not parse (other stores check their URIs when built), replicas waited for on the
    embedded Redis (it has none), policy files that cannot be used, and Keystone mode
    without what it needs in ``[keystone_authtoken]``.

    :raises ConfigError: naming the option.
    """
    if config.service.workers > 1:
        from zaqar_tw import workers

        workers.check(config)
    if config.default.auth_strategy == "keystone":
        from zaqar_tw.auth.keystone_settings import keystone_settings

        keystone_settings(config)
    uri = config.redis.uri.strip()
    if config.drivers.message_store == "redis" and uri == "embedded" and (
            config.redis.wait_replicas):
        raise ConfigError(
            f"[drivers:message_store:redis] wait_replicas = {config.redis.wait_replicas}: "
            "the embedded Redis has no replicas, so no write could be acknowledged; use a "
            "Redis with replicas (redis+sentinel://... or redis+cluster://...)"
        )
    if config.drivers.message_store == "redis" and uri != "embedded":
        try:
            parse_uri(uri)
        except ValueError as exc:
            raise ConfigError(
                f"--store: {exc} (from --store or [drivers:message_store:redis] uri)"
            ) from None
    from zaqar_tw.auth import policy

    policy.check(config)


def makeService(config, reactor, clock=None, announce=True):
    """Build zaqar-tw as a ``MultiService``.

    :param config: the :class:`~zaqar_tw.config.Config`.
    :param reactor: the reactor: endpoints, child processes and the store use it.
    :param clock: the ``IReactorTime`` of the core and the store; by default a
        :class:`~zaqar_tw.clock.SharedClock` on the reactor, kept on the store's clock when
        the store provides ``ITimeSource`` (a test passes its own clock, and keeps it).
    :param announce: whether the service logs the start-up line once it listens (a worker
        process leaves it to its supervisor).
    :returns: a :class:`ZaqarService`.
    :raises ConfigError: the configuration asks for something this version cannot do.
    """
    from zaqar_tw.auth.policy import OsloPolicy, PolicyReloadService
    from zaqar_tw.core import Core
    from zaqar_tw.transport.rest.app import RestApi

    check(config)
    raise_open_files_limit()
    shared = None
    if clock is None:
        clock = shared = SharedClock(reactor)
    top = ZaqarService()
    unused = plugins.unused_sections(config)
    if announce:
        top.summary = summary(config)
        for option, why in config.inert_settings + unused:
            log.warn("{option} is set but has no effect: {why}", option=option, why=why)

    uri = config.redis.uri.strip()
    ready = None
    if uri == "embedded":
        from zaqar_tw.storage.embedded import EmbeddedRedisService

        embedded = EmbeddedRedisService(config.embedded, reactor)
        embedded.setServiceParent(top)
        uri = embedded.uri
        ready = embedded.whenReady

    if config.service.workers > 1:
        # Worker processes serve; this one binds the listeners and supervises them, after
        # building what each worker will build, so that its mistakes stop start-up here.
        from zaqar_tw.workers import WorkerPoolService, worker_config

        makeService(worker_config(config, uri), reactor, announce=False)
        WorkerPoolService(config, reactor, uri, ready).setServiceParent(top)
        return top

    store_class = plugins.load(
        plugins.STORAGE, config.drivers.message_store, "[drivers] message_store"
    )
    options = {}
    if config.drivers.message_store == "redis" and config.redis.wait_replicas:
        options = {"wait_replicas": config.redis.wait_replicas,
                   "wait_timeout": config.redis.wait_timeout}
    try:
        storage = store_class(reactor, uri, clock=clock, **options)
    except ValueError as exc:
        raise ConfigError(
            f"[drivers:message_store:redis] uri = {redact(uri)}: {exc}"
        ) from None
    storage_service = StorageService(storage, uri, ready)
    storage_service.setServiceParent(top)
    if shared is not None and ITimeSource.providedBy(storage):
        ClockSyncService(shared, storage, storage_service.whenConnected).setServiceParent(top)

    auth_class = plugins.load(
        plugins.AUTH, config.default.auth_strategy or "noauth", "[DEFAULT] auth_strategy"
    )
    filters = plugins.filter_chain(config)
    if filters:
        log.info("message filters: {names}", names=", ".join(filters.names))
    notifiers = plugins.notifiers(config, reactor)
    policy = OsloPolicy(config)
    reload_interval = config.oslo_policy.reload_interval
    if reload_interval:
        PolicyReloadService(policy, reload_interval, clock).setServiceParent(top)
    core = Core(config, storage, clock, policy=policy, filters=filters, notifiers=notifiers)
    log.info(
        "notifiers: {names} (subscriber types: {types})",
        names=", ".join(config.notification.notifiers) or "none",
        types=", ".join(core.dispatcher.subscriber_types) or "none",
    )
    NotificationService(core.dispatcher, core.confirmations).setServiceParent(top)

    # Pre-signed URLs are checked first, whatever auth_strategy says (spec 0.1 hook 1).
    authenticator = SignedUrlAuthenticator(
        auth_class(reactor, config, clock), core.signer, config
    )
    AuthenticatorService(authenticator).setServiceParent(top)

    if config.rest_endpoint is not None:
        site = RestApi(core, config, authenticator).site()
        _listen(top, "rest", "REST", config.rest_endpoint, site, reactor)

    if config.websocket_endpoint is not None:
        from zaqar_tw.transport.websocket.factory import ZaqarServerFactory

        factory = ZaqarServerFactory(core, config, authenticator, reactor, clock)
        _listen(top, "websocket", "WebSocket", config.websocket_endpoint, factory, reactor)
    return top


def _listen(top, name, label, endpoint, factory, reactor):
    """Add a listener on ``endpoint`` serving ``factory`` as the child ``name`` of ``top``.

    :raises ConfigError: the endpoint string is malformed.
    """
    try:
        server = endpoints.serverFromString(reactor, endpoint)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{label} endpoint {endpoint!r} ([service] {name}): {exc}") from None
    listener = Listener(server, factory, label, endpoint)
    listener.setName(name)
    listener.setServiceParent(top)
