"""Build the running service from a :class:`~zaqar_tw.config.Config`: one ``MultiService``.

Children, in start order: the embedded Redis (only when the store URI is ``embedded``), the
store, then the listeners.  They stop in reverse, one after the other, so the listeners close
before the store, and the store closes before its Redis goes away.
"""

from importlib.metadata import entry_points

from twisted.application import strports
from twisted.application.service import MultiService, Service
from twisted.internet import defer
from twisted.logger import Logger

from zaqar_tw.config import ConfigError
from zaqar_tw.storage.redis.uri import redact

log = Logger()

STORAGE_GROUP = "zaqar_tw.storage"
AUTH_GROUP = "zaqar_tw.auth"


class ZaqarService(MultiService):
    """A ``MultiService`` whose children stop one at a time, last started first."""

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

    def startService(self):
        """Start connecting (once ``ready`` fires); log when the store answers first."""
        Service.startService(self)
        d = defer.maybeDeferred(self.ready) if self.ready is not None else defer.succeed(None)
        d.addCallback(lambda _: self.storage.connect() if self.running else None)
        d.addCallbacks(
            lambda _: self.running and log.info("store connected: {uri}", uri=self.uri),
            lambda f: self.running
            and log.failure("store {uri} failed to connect", f, uri=self.uri),
        )

    def stopService(self):
        """:returns: the Deferred of the store's ``close()``."""
        Service.stopService(self)
        return defer.maybeDeferred(self.storage.close)


def find_provider(group, name, option):
    """Load the provider registered as ``name`` in the entry-point ``group``.

    :param option: the config option that named it, for the error message.
    :raises ConfigError: no provider has that name.
    """
    found = entry_points(group=group, name=name)
    if not found:
        known = sorted(ep.name for ep in entry_points(group=group))
        raise ConfigError(
            f"{option}: no provider named {name!r} (known: {', '.join(known) or 'none'})"
        )
    return next(iter(found)).load()


def check(config):
    """Refuse what this version cannot serve yet.

    :raises ConfigError: naming the option.
    """
    if config.service.workers > 1:
        raise ConfigError(
            f"--workers / [service] workers = {config.service.workers}: several worker "
            f"processes arrive with the performance work; this version runs one "
            f"(use --workers 1)"
        )
    if config.default.auth_strategy == "keystone":
        raise ConfigError(
            "--auth / [DEFAULT] auth_strategy = keystone: Keystone authentication is not "
            "built yet; run with --auth noauth (the default) for now"
        )


def makeService(config, reactor, clock=None):
    """Build zaqar-tw as a ``MultiService``.

    :param config: the :class:`~zaqar_tw.config.Config`.
    :param reactor: the reactor: endpoints, child processes and the store use it.
    :param clock: the ``IReactorTime`` of the core and the store (default: the reactor).
    :returns: a :class:`ZaqarService`.
    :raises ConfigError: the configuration asks for something this version cannot do.
    """
    from zaqar_tw.core import Core
    from zaqar_tw.transport.rest.app import RestApi

    check(config)
    clock = reactor if clock is None else clock
    top = ZaqarService()

    uri = config.redis.uri.strip()
    ready = None
    if uri == "embedded":
        from zaqar_tw.storage.embedded import EmbeddedRedisService

        embedded = EmbeddedRedisService(config.embedded, reactor)
        embedded.setServiceParent(top)
        uri = embedded.uri
        ready = embedded.whenReady

    store_class = find_provider(
        STORAGE_GROUP, config.drivers.message_store, "[drivers] message_store"
    )
    try:
        storage = store_class(reactor, uri, clock=clock)
    except ValueError as exc:
        raise ConfigError(
            f"[drivers:message_store:redis] uri = {redact(uri)}: {exc}"
        ) from None
    StorageService(storage, uri, ready).setServiceParent(top)

    auth_class = find_provider(
        AUTH_GROUP, config.default.auth_strategy or "noauth", "[DEFAULT] auth_strategy"
    )
    core = Core(config, storage, clock)

    if config.websocket_endpoint is not None and config.service.websocket is not None:
        log.warn(
            "the WebSocket transport is not built yet: {endpoint} is not opened",
            endpoint=config.websocket_endpoint,
        )

    if config.rest_endpoint is not None:
        site = RestApi(core, config, auth_class(config)).site()
        try:
            rest = strports.service(config.rest_endpoint, site, reactor=reactor)
        except ValueError as exc:
            raise ConfigError(
                f"REST endpoint {config.rest_endpoint!r} ([service] rest): {exc}"
            ) from None
        rest.setName("rest")
        rest.setServiceParent(top)
    return top
