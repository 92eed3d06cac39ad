"""Run zaqar-tw (and Redis) as real processes, for tests that kill and restart them.

Each process runs in its own session, so one ``killpg`` takes down twistd together with its
embedded Redis child.  Waiting happens on the reactor (bounded polling, :mod:`tests.waiting`),
never with ``time.sleep``.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import uuid

from tests.loopback import allowing_loopback
from tests.waiting import wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _reactor():
    from twisted.internet import reactor

    return reactor


def twistd_argv():
    """The command that runs twistd with this interpreter."""
    script = os.path.join(os.path.dirname(sys.executable), "twistd")
    if os.access(script, os.X_OK):
        return [script]
    return [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]


def free_port():
    """A TCP port of 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pid_alive(pid):
    """Whether ``pid`` runs (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except OSError:
        return True


class Http:
    """A small JSON client over treq, without persistent connections (servers get killed)."""

    def __init__(self, project, client_id):
        from treq.client import HTTPClient
        from twisted.web.client import Agent, HTTPConnectionPool

        self.headers = {
            "Client-ID": [client_id],
            "X-Project-ID": [project],
            "Content-Type": ["application/json"],
        }
        self._pool = HTTPConnectionPool(_reactor(), persistent=False)
        self._http = HTTPClient(Agent(_reactor(), pool=self._pool, connectTimeout=5))

    async def call(self, method, url, document=None):
        """Send a request; :returns: ``(status, decoded JSON or None)``."""
        data = None if document is None else json.dumps(document).encode()
        response = await self._http.request(method, url, headers=self.headers, data=data)
        body = await response.content()
        return response.code, (json.loads(body) if body else None)

    async def close(self):
        await self._pool.closeCachedConnections()


class Process:
    """A child process in its own session, its output in a log file.

    :ivar preexec: called in the child before it runs (e.g. to lower its limits), or
        ``None``.
    """

    def __init__(self, argv, log_path, env=None, cwd=ROOT):
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.preexec = None
        self.popen = None
        self._log_start = 0

    def spawn(self):
        self._log_start = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=self.env, cwd=self.cwd, start_new_session=True, preexec_fn=self.preexec,
            )

    @property
    def pid(self):
        return self.popen.pid

    def exited(self):
        return self.popen is None or self.popen.poll() is not None

    def output(self):
        """What the process wrote since its last spawn."""
        try:
            with open(self.log_path, "rb") as handle:
                handle.seek(self._log_start)
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, lines=40):
        """The last lines of the process's output, for failure messages."""
        return "\n".join(self.output().splitlines()[-lines:])

    async def kill(self, sig=signal.SIGKILL, group=True, timeout=30):
        """Send ``sig`` to the process (or its whole session's group) and wait for its exit."""
        if self.exited():
            return
        try:
            if group:
                os.killpg(self.popen.pid, sig)
            else:
                self.popen.send_signal(sig)
        except ProcessLookupError:
            pass
        await wait_until(self.exited, timeout, f"{self.argv[0]} to exit")

    async def stop(self, timeout=30):
        """SIGTERM, then SIGKILL the group if it does not exit in time."""
        try:
            await self.kill(signal.SIGTERM, group=False, timeout=timeout)
        finally:
            if not self.exited():
                await self.kill(signal.SIGKILL)


class ZaqarProcess(Process):
    """``twistd -n zaqar`` on a free port of 127.0.0.1, with a private HOME.

    :ivar url: the base URL of its REST API.
    """

    def __init__(self, workdir, store, config_text=None, extra=()):
        """
        :param workdir: a directory of its own (HOME, pid file, log and config live there).
        :param store: the ``--store`` URI.
        :param config_text: the text of the config file passed with ``--config``, to which
            ``allow_private_subscribers = 127.0.0.0/8`` is added unless it sets it (see
            tests/loopback.py); ``None``: that option alone.
        """
        os.makedirs(workdir, exist_ok=True)
        home = os.path.join(workdir, "home")
        os.makedirs(home, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = twistd_argv() + [
            "-n", "--pidfile", os.path.join(workdir, "twistd.pid"),
            "zaqar",
            "--rest", f"tcp:{self.port}:interface=127.0.0.1",
            "--websocket", "none",
            "--store", store,
        ]
        path = os.path.join(workdir, "zaqar.conf")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(allowing_loopback(config_text))
        argv += ["--config", path]
        argv += list(extra)
        env = dict(os.environ, HOME=home)
        super().__init__(argv, os.path.join(workdir, "twistd.log"), env=env)

    async def start(self, timeout=30, store=True):
        """Start it and wait until ``GET /`` answers (and, with ``store``, until
        ``GET /v2/ping`` says the store answers too).

        :raises AssertionError: it exited or was not ready within ``timeout`` seconds.
        """
        self.spawn()
        from treq.client import HTTPClient
        from twisted.web.client import Agent, HTTPConnectionPool

        pool = HTTPConnectionPool(_reactor(), persistent=False)
        http = HTTPClient(Agent(_reactor(), pool=pool, connectTimeout=1))
        headers = {"Client-ID": [str(uuid.uuid4())], "X-Project-ID": [uuid.uuid4().hex]}

        async def answers(path, statuses):
            if self.exited():
                raise AssertionError(
                    f"zaqar exited with {self.popen.returncode}:\n{self.log_tail()}"
                )
            try:
                response = await http.get(self.url + path, headers=headers)
                await response.content()
            except Exception:
                return False
            return statuses is None or response.code in statuses

        try:
            await wait_until(lambda: answers("/", None), timeout, f"zaqar on {self.url}")
            if store:
                await wait_until(
                    lambda: answers("/v2/ping", (200, 204)), timeout,
                    f"the store of zaqar on {self.url}",
                )
        except AssertionError:
            await self.kill()
            raise
        finally:
            await pool.closeCachedConnections()
        return self


class RedisProcess(Process):
    """A redis-server of the test's own on a free port, with an always-fsynced AOF."""

    def __init__(self, workdir):
        os.makedirs(workdir, exist_ok=True)
        self.workdir = workdir
        self.port = free_port()
        self.uri = f"redis://127.0.0.1:{self.port}"
        argv = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", workdir, "--appendonly", "yes", "--appendfsync", "always",
            "--save", "", "--daemonize", "no",
        ]
        super().__init__(argv, os.path.join(workdir, "redis.log"), cwd=workdir)

    async def start(self, timeout=20):
        """Start it (again) and wait until it accepts connections."""
        self.spawn()

        def ready():
            if self.exited():
                raise AssertionError(f"redis-server exited:\n{self.log_tail()}")
            return "ready to accept connections" in self.output().lower()

        await wait_until(ready, timeout, f"redis-server on port {self.port}")
        return self
