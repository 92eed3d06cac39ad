"""``twistd zaqar``: the command line, and the one place that imports the reactor.

Command-line values override the config file (``--config FILE``, else
``~/.zaqar/zaqar.conf`` if it exists, else ``/etc/zaqar/zaqar.conf``, else the defaults).
A malformed command-line value is a :class:`~twisted.python.usage.UsageError` naming the
option (twistd prints the usage, then the error); anything else that stops start-up (the
config file, a plugin, the store, a port) is a :class:`~zaqar_tw.startup.StartupError`,
printed as one line.  Either way twistd exits non-zero.
"""

import gc
import os
import sys
from urllib.parse import urlsplit

from twisted.internet import endpoints
from twisted.python import usage

from zaqar_tw import config as configuration
from zaqar_tw import service
from zaqar_tw.startup import StartupError, zaqar_version
from zaqar_tw.storage import embedded
from zaqar_tw.storage.redis.login import LoginRefused, check_login
from zaqar_tw.storage.redis.uri import redact

class _NoReactor:
    """Stands in for the reactor while an endpoint string is only being checked."""


def _check_endpoint(option, value):
    if value.strip().lower() == "none":
        return "none"
    try:
        endpoints.serverFromString(_NoReactor(), value)
    except Exception as exc:
        raise usage.UsageError(f"--{option}: bad endpoint {value!r}: {exc}") from None
    return value


class Options(usage.Options):
    """The options of ``twistd zaqar``."""

    synopsis = (
        "[--config FILE] [--rest ENDPOINT] [--websocket ENDPOINT] [--store URI] "
        "[--auth noauth|keystone] [--admin-mode] [--workers N]"
    )
    longdesc = (
        "Run zaqar-tw, a message service speaking the OpenStack Zaqar API v2. By default it "
        "serves REST on tcp:8888:interface=127.0.0.1 and keeps its data in a private "
        "redis-server under ~/.zaqar/data. Command-line values override the config file."
    )
    optFlags = [
        ["admin-mode", None, "Serve the admin API (/v2/health)."],
    ]
    optParameters = [
        ["config", "c", None,
         "Config file (default: ~/.zaqar/zaqar.conf if it exists, else /etc/zaqar/zaqar.conf, "
         "else built-in defaults)."],
        ["rest", None, None,
         "REST listener: a Twisted endpoint string, or 'none' to turn REST off "
         "(default tcp:8888:interface=127.0.0.1)."],
        ["websocket", None, None,
         "WebSocket listener: a Twisted endpoint string, or 'none' "
         "(default tcp:9000:interface=127.0.0.1)."],
        ["store", None, None,
         "Store URI: 'embedded' (default: a private redis-server, data in ~/.zaqar/data), "
         "redis://[:password@]host[:port][/db], or redis+unix:///path.sock?db=N."],
        ["auth", None, None,
         "Authentication: noauth (default: project from X-Project-ID) or keystone."],
        ["workers", None, None, "Worker processes sharing the listeners (N >= 1; default 1)."],
    ]

    def __init__(self):
        super().__init__()
        self.config = None

    def opt_version(self):
        """Print zaqar-tw's version and exit."""
        print(f"zaqar-tw {zaqar_version()}")
        sys.exit(0)

    def _check_config(self, path):
        path = os.path.expanduser(path)
        if not os.path.isfile(path):
            raise usage.UsageError(f"--config: {path} is not a file")
        return path

    def _check_store(self, uri):
        """``embedded`` or a URI with a scheme; the selected store checks the rest (a
        ``sqlite:///...`` URI is fine with ``[drivers] message_store = sqlite``)."""
        uri = uri.strip()
        if uri == "embedded":
            return uri
        try:
            scheme = urlsplit(uri).scheme
        except ValueError as exc:
            raise usage.UsageError(f"--store: bad URI {uri!r}: {exc}") from None
        if not scheme:
            raise usage.UsageError(
                f"--store: bad URI {uri!r}: use embedded, redis://host:port, "
                f"redis+unix:///path.sock, or the URI of the store named in [drivers]"
            )
        return uri

    def _check_auth(self, strategy):
        if strategy not in ("noauth", "keystone"):
            raise usage.UsageError(f"--auth: must be noauth or keystone, not {strategy!r}")
        return strategy

    def _check_workers(self, count):
        try:
            workers = int(count)
        except ValueError:
            workers = 0
        if workers < 1:
            raise usage.UsageError(f"--workers: must be a whole number >= 1, not {count!r}")
        return workers

    def _check_values(self):
        checks = {
            "config": self._check_config,
            "rest": lambda value: _check_endpoint("rest", value),
            "websocket": lambda value: _check_endpoint("websocket", value),
            "store": self._check_store,
            "auth": self._check_auth,
            "workers": self._check_workers,
        }
        for key, check in checks.items():
            if self[key] is not None:
                self[key] = check(self[key])

    def overrides(self):
        """The command-line values as ``(section, option, text)`` triples for config.load."""
        pairs = [
            ("store", "drivers:message_store:redis", "uri"),
            ("rest", "service", "rest"),
            ("websocket", "service", "websocket"),
            ("workers", "service", "workers"),
            ("auth", "DEFAULT", "auth_strategy"),
        ]
        result = [
            (section, name, str(self[key]))
            for key, section, name in pairs
            if self[key] is not None
        ]
        if self["admin-mode"]:
            result.append(("DEFAULT", "admin_mode", "true"))
        return result

    def postOptions(self):
        """Check each value, then build the configuration now, so twistd reports any
        mistake before starting."""
        self._check_values()
        self.config = load_config(self)


def load_config(options):
    """The configuration the options ask for, checked: the file, the values, and whether
    the store can be used (the embedded Redis's data directory; an external Redis's
    password and database, once, without waiting for an unreachable one).

    :raises StartupError: the file or a value is wrong, or asks for something this version
        cannot do.
    """
    try:
        config = configuration.load(options["config"], options.overrides())
        service.check(config)
        uri = config.redis.uri.strip()
        if uri == "embedded":
            embedded.check(config.embedded)
        elif config.drivers.message_store == "redis":
            check_login(uri)
    except (configuration.ConfigError, embedded.EmbeddedRedisError) as exc:
        raise StartupError(str(exc)) from None
    except LoginRefused as exc:
        raise StartupError(
            f"--store / [drivers:message_store:redis] uri = {redact(uri)}: {exc}"
        ) from None
    return config


def makeService(options):
    """Build the zaqar-tw service for twistd.

    :param options: parsed :class:`Options`.
    :raises StartupError: the configuration cannot be used.
    """
    config = options.config if options.config is not None else load_config(options)
    from twisted.internet import reactor

    try:
        top = service.makeService(config, reactor)
    except configuration.ConfigError as exc:
        raise StartupError(str(exc)) from None
    if not reactor.running:
        reactor.callWhenRunning(settle_garbage_collector)
    return top


#: Collections of the youngest generation happen after this many more allocations than
#: deallocations (Python's default is 700: several collections a request under load).
GC_THRESHOLDS = (10_000, 20, 20)


def settle_garbage_collector():
    """Tune the cyclic garbage collector for a long-running server, once started.

    Everything alive once the service runs (modules, the service tree) lives as long as the
    process: it is collected once, then frozen out of the collector's sight
    (:func:`gc.freeze`), so that full collections stop walking it (left alone, they stalled
    the reactor for tens of milliseconds a few times a second under load).  Young
    collections are made rarer too.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
