"""Run ``twistd -n zaqar`` on the SQLite store as real processes, for tests that kill them.

Waiting happens on the reactor (bounded polling with ``deferLater``), never with
``time.sleep``.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from urllib.parse import quote

from twisted.internet import task


def _reactor():
    from twisted.internet import reactor

    return reactor


def free_port():
    """A TCP port of 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def wait_until(predicate, timeout, what):
    """Poll ``predicate`` (a plain or async callable) until true, or fail after ``timeout`` s."""
    reactor = _reactor()
    deadline = reactor.seconds() + timeout
    while True:
        result = predicate()
        if hasattr(result, "__await__"):
            result = await result
        if result:
            return result
        if reactor.seconds() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await task.deferLater(reactor, 0.1, lambda: None)


def sqlite_config(database):
    """The config file text that runs zaqar-tw on the SQLite file ``database``."""
    return (
        "[drivers]\nmessage_store = sqlite\n\n"
        "[drivers:message_store:redis]\n"
        f"uri = sqlite://{quote(str(database))}\n"
    )


class Http:
    """A small JSON client over treq, without persistent connections (servers get killed)."""

    def __init__(self, project):
        from treq.client import HTTPClient
        from twisted.web.client import Agent, HTTPConnectionPool

        self.headers = {
            "Client-ID": [str(uuid.uuid4())],
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


class Node:
    """One ``twistd -n zaqar`` process on a free port, in its own session and directory.

    :ivar url: the base URL of its REST API.
    """

    def __init__(self, workdir, database):
        os.makedirs(workdir, exist_ok=True)
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = os.path.join(workdir, "zaqar.conf")
        with open(config, "w", encoding="utf-8") as handle:
            handle.write(sqlite_config(database))
        self.argv = [
            sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
            "-n", "--pidfile", os.path.join(workdir, "twistd.pid"),
            "zaqar", "--config", config, "--rest", f"tcp:{self.port}:interface=127.0.0.1",
            "--websocket", "none",
        ]
        self.log_path = os.path.join(workdir, "twistd.log")
        self.popen = None

    def exited(self):
        return self.popen is None or self.popen.poll() is not None

    def log_tail(self, lines=30):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as handle:
                return "".join(handle.readlines()[-lines:])
        except OSError:
            return ""

    async def start(self, timeout=30):
        """Start it and wait until ``GET /v2/ping`` says the store answers."""
        env = dict(os.environ, HOME=self.workdir)
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.workdir, env=env, start_new_session=True,
            )
        http = Http(uuid.uuid4().hex)

        async def ready():
            if self.exited():
                raise AssertionError(f"zaqar exited:\n{self.log_tail()}")
            try:
                status, _ = await http.call("GET", self.url + "/v2/ping")
            except Exception:
                return False
            return status == 204

        try:
            await wait_until(ready, timeout, f"zaqar on {self.url}")
        except AssertionError:
            await self.kill()
            raise
        finally:
            await http.close()
        return self

    async def kill(self, sig=signal.SIGKILL):
        """Send ``sig`` to its whole process group and wait for it to exit."""
        if self.exited():
            return
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass
        await wait_until(self.exited, 30, "zaqar to exit")

    async def stop(self):
        """SIGTERM (a clean stop), then SIGKILL if it lingers."""
        try:
            await self.kill(signal.SIGTERM)
        finally:
            await self.kill()
