"""What start-up tells the operator: the one line saying what runs, and the one line saying
why it cannot (:class:`StartupError`, printed by twistd without a traceback)."""

from importlib.metadata import PackageNotFoundError, version

from twisted.internet import defer
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress

from zaqar_tw.storage.redis.uri import redact


def zaqar_version():
    """:returns: the installed zaqar-tw's version (``"unknown"`` outside an install)."""
    try:
        return version("zaqar-tw")
    except PackageNotFoundError:
        return "unknown"


class StartupError(SystemExit, Exception):
    """zaqar-tw cannot start; the message, one line, says why and names what to change.

    A ``SystemExit``, so that twistd ends with status 1 and the message alone, not a
    traceback; an ``Exception`` too, so that twistd, when it comes from starting the
    services, removes its pid file first (it catches ``Exception`` there).

    :ivar message: the reason, without the ``zaqar-tw: cannot start:`` prefix printed.
    """

    def __init__(self, message):
        super().__init__(f"zaqar-tw: cannot start: {message}")
        self.message = message


def summary(config):
    """What the start-up line says besides the URLs: ``version``, ``config``, ``store``
    (its password hidden) and ``auth``."""
    uri = config.redis.uri.strip()
    if uri == "embedded":
        from zaqar_tw.storage.embedded import data_dir_of

        store = f"embedded Redis, data in {data_dir_of(config.embedded)}"
    else:
        store = redact(uri)
        if config.drivers.message_store != "redis":
            store = f"{config.drivers.message_store} {store}"
    return {
        "version": zaqar_version(),
        "config": config.source or "built-in defaults",
        "store": store,
        "auth": config.default.auth_strategy or "noauth",
    }


def cannot_listen(label, description, exc):
    """The one-line reason why ``label`` cannot listen on the endpoint ``description``.

    :param exc: the ``CannotListenError``.
    """
    reason = getattr(exc.socketError, "strerror", None) or str(exc.socketError)
    return (
        f"cannot listen for {label} on {description}: {reason[:1].lower()}{reason[1:]} "
        f"(another process may be listening there: stop it, or choose another endpoint "
        f"with --{label.lower()})"
    )


def listening_urls(top):
    """The URLs the listeners of a service tree listen on, once they do.

    :param top: a service tree; its children with a ``listening()`` method (a
        :class:`zaqar_tw.service.Listener`, a worker pool) are asked for ``(label, endpoint
        string, Deferred firing with the listening port)`` triples.
    :returns: a Deferred firing with ``[(label, url), ...]``; a listener that failed is
        left out (its failure is reported where it happened).
    """
    waits = [
        waiting.addCallback(_entry, label, description).addErrback(lambda _: None)
        for child in top
        for label, description, waiting in getattr(child, "listening", list)()
    ]
    return defer.gatherResults(waits).addCallback(
        lambda found: [entry for entry in found if entry is not None]
    )


def _entry(port, label, description):
    """``(label, url)`` of a listening port; ``None`` when it failed (and said so)."""
    if port is None:
        return None
    return label, url_of(label, description, port.getHost())


def url_of(label, description, address):
    """The URL a client uses to reach a listener.

    :param label: ``"REST"`` (``http``) or ``"WebSocket"`` (``ws``).
    :param description: its endpoint string (``ssl:`` ones get ``https``/``wss``).
    :param address: the address it listens on (``port.getHost()``).
    """
    scheme = "http" if label == "REST" else "ws"
    if description.strip().lower().startswith("ssl:"):
        scheme += "s"
    if isinstance(address, UNIXAddress):
        path = address.name.decode() if isinstance(address.name, bytes) else address.name
        return f"{scheme}+unix://{path}"
    if isinstance(address, IPv6Address):
        return f"{scheme}://[{address.host}]:{address.port}"
    if isinstance(address, IPv4Address):
        return f"{scheme}://{address.host}:{address.port}"
    return str(address)
