"""A private redis-server for the tests that stop, freeze or reconfigure their server."""

import os
import signal
import socket
import subprocess

from tests.processes import free_port
from tests.waiting import wait_until


class RedisServer:
    """One redis-server child on 127.0.0.1 (and optionally a unix socket), no persistence.

    :param directory: its working directory.
    :param args: extra ``redis-server`` options.
    """

    def __init__(self, directory, *args, port=None, unixsocket=None):
        self.directory = str(directory)
        self.port = port or free_port()
        self.unixsocket = unixsocket
        self.args = args
        self.process = None

    @property
    def uri(self):
        return f"redis://127.0.0.1:{self.port}"

    async def start(self):
        """Start it and wait until it accepts connections."""
        command = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", self.directory, *self.args,
        ]
        if self.unixsocket:
            command += ["--unixsocket", self.unixsocket]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        await wait_until(self._answers, what=f"redis-server on port {self.port}")

    def _answers(self):
        if self.process.poll() is not None:
            raise AssertionError(f"redis-server exited with {self.process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False

    def kill(self):
        """Kill it at once (SIGKILL) and reap it."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def freeze(self):
        """Stop it answering without closing its sockets (SIGSTOP)."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self):
        """Undo :meth:`freeze`."""
        os.kill(self.process.pid, signal.SIGCONT)
