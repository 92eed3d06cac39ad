"""Several processes serving the same listeners: ``--workers N``.

The process twistd starts (the supervisor) binds every listener of the configuration and
starts N worker processes.  Each worker inherits the listening sockets the way systemd hands
sockets over (file descriptors 3, 4, ... named in ``LISTEN_FDNAMES``) and runs the usual
service with its listeners turned into ``systemd:`` endpoints, so Twisted adopts the
inherited sockets; the kernel gives each new connection to one of the workers.  The
supervisor serves no request: it restarts a worker that dies and stops them all on shutdown.
With the embedded store, it also runs the embedded Redis, and the workers connect to its
socket.

A worker gets its configuration from the supervisor (pickled, on its standard input, which
stays open: a worker stops when it reads end-of-file there, so workers never outlive a
supervisor killed without warning), and writes its log events as text on its standard
output, which the supervisor logs with the worker's number and pid.
"""

import copy
import os
import pickle
import signal
import socket
import struct
import sys

from twisted.application.service import Service
from twisted.internet import defer, endpoints
from twisted.internet.error import CannotListenError, ProcessExitedAlready
from twisted.internet.protocol import Factory, ProcessProtocol, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from zaqar_tw.config import ConfigError
from zaqar_tw.startup import StartupError, cannot_listen

log = Logger()

#: The listeners a worker may inherit, in the order of their file descriptors.
LISTENERS = ("rest", "websocket")
LABELS = {"rest": "REST", "websocket": "WebSocket"}
#: Endpoint types whose sockets can be handed to workers (plain stream sockets).
SHAREABLE = ("tcp", "tcp6", "unix")
_FAMILIES = {socket.AF_INET: "INET", socket.AF_INET6: "INET6", socket.AF_UNIX: "UNIX"}
_FIRST_FD = 3

# The worker's first lines: LISTEN_PID must name the worker before Twisted reads the
# systemd variables (when twisted.internet.endpoints is first imported).
_BOOT = (
    "import os; os.environ['LISTEN_PID'] = str(os.getpid()); "
    "from zaqar_tw.workers import worker_main; worker_main()"
)


def listener_endpoints(config):
    """The listeners a configuration opens: ``{"rest": endpoint string, ...}``."""
    found = {"rest": config.rest_endpoint, "websocket": config.websocket_endpoint}
    return {name: found[name] for name in LISTENERS if found[name] is not None}


def check(config):
    """Refuse listeners whose sockets cannot be shared by workers.

    :raises ConfigError: naming the listener.
    """
    for name, description in listener_endpoints(config).items():
        kind = description.split(":", 1)[0].strip().lower()
        if kind not in SHAREABLE:
            raise ConfigError(
                f"--workers {config.service.workers}: the {name} listener {description!r} "
                f"cannot be shared by worker processes (use {', '.join(SHAREABLE)} "
                f"endpoints, e.g. behind a TLS-terminating proxy)"
            )


def worker_config(config, store_uri, inherited=()):
    """The configuration a worker runs: one process, the given store, and each listener
    either adopted from the supervisor (named in ``inherited``) or turned off.

    :param inherited: ``(name, socket family)`` pairs, in file-descriptor order.
    """
    worker = copy.deepcopy(config)
    worker.service.workers = 1
    worker.redis.uri = store_uri
    families = dict(inherited)
    for name in LISTENERS:
        family = families.get(name)
        value = "none" if family is None else (
            f"systemd:domain={_FAMILIES[family]}:name={name}")
        setattr(worker.service, name, value)
    return worker


class _Refuse(Protocol):
    def connectionMade(self):
        self.transport.abortConnection()


class _Unused(Factory):
    """The factory of the supervisor's listening ports, which never accept."""

    noisy = False
    protocol = _Refuse


class _WorkerProcess(ProcessProtocol):
    """One run of one worker: relays its log lines and reports its exit."""

    def __init__(self, pool, index):
        self.pool = pool
        self.index = index
        self.ended = defer.Deferred()
        self.pid = None
        self._partial = b""

    def connectionMade(self):
        self.pid = self.transport.pid
        payload = pickle.dumps(self.pool.child_config, protocol=pickle.HIGHEST_PROTOCOL)
        self.transport.writeToChild(0, struct.pack(">I", len(payload)) + payload)

    def childDataReceived(self, fd, data):
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            self._relay(line)

    def _relay(self, raw):
        line = raw.decode("utf-8", "replace").rstrip()
        if not line:
            return
        level, sep, text = line.partition("|")
        emit = {"critical": log.critical, "error": log.error, "warn": log.warn}.get(
            level if sep else "", log.info)
        emit("[worker {index} pid {pid}] {text}", index=self.index, pid=self.pid,
             text=text if sep else line)

    def processEnded(self, reason):
        if self._partial:
            self._relay(self._partial)
            self._partial = b""
        self.pool._ended(self, reason)
        self.ended.callback(None)


class WorkerPoolService(Service):
    """Binds the listeners, runs ``count`` workers on them and keeps them running.

    :ivar workers: the running workers' process protocols, by index (``None`` while one is
        being restarted).
    """

    name = "workers"

    #: A worker that dies sooner than this after starting is restarted after a growing delay.
    threshold = 2.0
    min_restart_delay = 0.5
    max_restart_delay = 30.0
    #: Seconds a worker gets to exit after SIGTERM before it gets SIGKILL.
    stop_timeout = 30.0

    def __init__(self, config, reactor, store_uri, ready=None):
        """
        :param config: the :class:`~zaqar_tw.config.Config` (``[service] workers`` of them).
        :param reactor: provides IReactorProcess, IReactorTime and the endpoints' interfaces.
        :param store_uri: the store URI the workers use (the embedded Redis's socket when the
            store is embedded).
        :param ready: when given, a callable returning a Deferred that fires once the store is
            worth connecting to; workers start after it.
        """
        self.config = config
        self.reactor = reactor
        self.count = config.service.workers
        self.store_uri = store_uri
        self.ready = ready
        self.ports = {}
        self.child_config = None
        self.workers = [None] * self.count
        self._started_at = [0.0] * self.count
        self._delays = [self.min_restart_delay] * self.count
        self._pending = {}

    # -- IService --------------------------------------------------------------------------

    def privilegedStartService(self):
        """Bind the listeners (before twistd drops privileges)."""
        Service.privilegedStartService(self)
        self._bind()

    def startService(self):
        """Bind the listeners if not yet done, then start the workers (once ``ready``)."""
        self._bind()
        Service.startService(self)
        d = defer.maybeDeferred(self.ready) if self.ready is not None else defer.succeed(None)
        d.addCallback(lambda _: self._spawn_all())
        d.addErrback(lambda f: log.failure("workers could not start", f))

    def stopService(self):
        """Stop every worker (SIGTERM, then SIGKILL after :attr:`stop_timeout`), then close
        the listeners.

        :returns: a Deferred firing once all are done.
        """
        Service.stopService(self)
        for call in self._pending.values():
            if call.active():
                call.cancel()
        self._pending.clear()
        waits = []
        for worker in self.workers:
            if worker is None or worker.ended.called:
                continue
            self._signal(worker, "TERM")
            killer = self.reactor.callLater(self.stop_timeout, self._signal, worker, "KILL")
            worker.ended.addBoth(lambda _, k=killer: k.active() and k.cancel())
            waits.append(worker.ended)
        d = defer.gatherResults(waits, consumeErrors=True)
        d.addBoth(lambda _: self._unbind())
        return d

    # -- listeners -------------------------------------------------------------------------

    def _bind(self):
        if self.ports:
            return
        inherited = []
        for name, description in listener_endpoints(self.config).items():
            port = self._listen(name, description)
            self.ports[name] = port
            inherited.append((name, port.socket.family))
            log.info("{name} listening on {endpoint}, shared by {count} workers",
                     name=name, endpoint=description, count=self.count)
        self.child_config = worker_config(self.config, self.store_uri, inherited)

    def listening(self):
        """:returns: ``[(label, endpoint string, Deferred firing with the port)]`` of the
        listeners bound (see :func:`zaqar_tw.service.listening_urls`)."""
        descriptions = listener_endpoints(self.config)
        return [
            (LABELS[name], descriptions[name], defer.succeed(port))
            for name, port in self.ports.items()
        ]

    def _listen(self, name, description):
        endpoint = endpoints.serverFromString(self.reactor, description)
        found = []
        endpoint.listen(_Unused()).addBoth(found.append)
        if found and isinstance(found[0], Failure) and found[0].check(CannotListenError):
            raise StartupError(cannot_listen(LABELS[name], description, found[0].value))
        if not found or not hasattr(found[0], "socket"):
            if found and hasattr(found[0], "raiseException"):
                found[0].raiseException()
            raise ConfigError(f"the {name} listener {description!r} cannot be shared "
                              f"by worker processes")
        port = found[0]
        # The supervisor never accepts: the workers do.
        port.stopReading()
        return port

    def _unbind(self):
        ports, self.ports = self.ports, {}
        return defer.gatherResults(
            [defer.maybeDeferred(port.stopListening) for port in ports.values()],
            consumeErrors=True,
        )

    # -- workers ---------------------------------------------------------------------------

    def _spawn_all(self):
        for index in range(self.count):
            if self.workers[index] is None:
                self._spawn(index)

    def _spawn(self, index):
        self._pending.pop(index, None)
        if not self.running:
            return
        fds = {0: "w", 1: "r", 2: "r"}
        names = []
        for offset, (name, port) in enumerate(self.ports.items()):
            fds[_FIRST_FD + offset] = port.fileno()
            names.append(name)
        env = dict(os.environ, LISTEN_FDS=str(len(names)), LISTEN_FDNAMES=":".join(names))
        env.pop("LISTEN_PID", None)
        worker = _WorkerProcess(self, index)
        self.workers[index] = worker
        self._started_at[index] = self.reactor.seconds()
        self.reactor.spawnProcess(
            worker, sys.executable, [sys.executable, "-c", _BOOT], env=env, childFDs=fds,
        )
        log.info("worker {index} started: pid {pid}", index=index, pid=worker.pid)

    def _ended(self, worker, reason):
        index = worker.index
        if self.workers[index] is worker:
            self.workers[index] = None
        if not self.running:
            log.info("worker {index} (pid {pid}) stopped", index=index, pid=worker.pid)
            return
        lived = self.reactor.seconds() - self._started_at[index]
        if lived < self.threshold:
            delay = self._delays[index]
            self._delays[index] = min(delay * 2, self.max_restart_delay)
        else:
            delay = self._delays[index] = self.min_restart_delay
        log.warn(
            "worker {index} (pid {pid}) exited ({why}); restarting it in {delay:.1f} s",
            index=index, pid=worker.pid, why=reason.getErrorMessage(), delay=delay,
        )
        self._pending[index] = self.reactor.callLater(delay, self._spawn, index)

    @staticmethod
    def _signal(worker, name):
        try:
            worker.transport.signalProcess(name)
        except (ProcessExitedAlready, OSError):
            pass

    @property
    def pids(self):
        """The pids of the running workers."""
        return [w.pid for w in self.workers if w is not None and w.pid is not None]


# -- the worker side ------------------------------------------------------------------------

def _read_config(stream):
    header = stream.read(4)
    if len(header) != 4:
        raise SystemExit("zaqar-tw worker: no configuration on standard input")
    (size,) = struct.unpack(">I", header)
    payload = stream.read(size)
    if len(payload) != size:
        raise SystemExit("zaqar-tw worker: truncated configuration on standard input")
    return pickle.loads(payload)


def _log_line(event):
    from twisted.logger import eventAsText

    text = eventAsText(event, includeTimestamp=False, includeSystem=False)
    level = event.get("log_level")
    name = level.name if level is not None else "info"
    return "".join(f"{name}|{line}\n" for line in text.splitlines() or [""])


class _SupervisorWatch(Protocol):
    """Standard input of a worker: the supervisor has gone when it closes."""

    def __init__(self, reactor):
        self.reactor = reactor

    def connectionLost(self, reason):
        if self.reactor.running:
            self.reactor.stop()


def worker_main():
    """Run one worker (see the module docstring); started by :class:`WorkerPoolService`."""
    from twisted.internet import reactor
    from twisted.internet.stdio import StandardIO
    from twisted.logger import (
        FileLogObserver,
        FilteringLogObserver,
        LogLevel,
        LogLevelFilterPredicate,
        globalLogBeginner,
    )

    from zaqar_tw import service
    from zaqar_tw.tap import settle_garbage_collector

    config = _read_config(sys.stdin.buffer)
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)
    observer = FilteringLogObserver(
        FileLogObserver(sys.stdout, _log_line),
        [LogLevelFilterPredicate(defaultLogLevel=LogLevel.info)],
    )
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
    # The supervisor stops workers with SIGTERM; Ctrl-C in a terminal reaches the whole
    # process group, and the supervisor handles it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    top = service.makeService(config, reactor, announce=False)
    StandardIO(_SupervisorWatch(reactor), stdout=os.open(os.devnull, os.O_WRONLY),
               reactor=reactor)
    top.privilegedStartService()
    top.startService()
    reactor.addSystemEventTrigger("before", "shutdown", top.stopService)
    reactor.callWhenRunning(settle_garbage_collector)
    reactor.run()
