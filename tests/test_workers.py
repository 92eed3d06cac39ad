"""``--workers N``: worker processes that share the listening sockets of one port.

These tests run real ``twistd zaqar`` processes.  Which worker serves a connection is the
kernel's choice, so to show that each worker serves the port, every worker but one is
paused (SIGSTOP) while a request goes through: only the one left running can accept it.
"""

import os
import signal
import uuid

import pytest
import pytest_twisted

from zaqar_tw import workers
from zaqar_tw.config import Config, ConfigError

from tests.processes import Http, ZaqarProcess, pid_alive
from tests.waiting import wait_until

REDIS_URI = "redis://127.0.0.1:6379"
TIMEOUT = 30


def workers_of(pid):
    """The pids of the live worker processes of the supervisor ``pid``."""
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as handle:
                found += [int(child) for child in handle.read().split()]
        except OSError:
            pass
    return [child for child in found if pid_alive(child) and is_worker(child)]


def is_worker(pid):
    """Whether ``pid`` runs a zaqar-tw worker (not, say, the embedded redis-server)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"zaqar_tw.workers" in handle.read()
    except OSError:
        return False


def listening_inodes(port):
    """The socket inodes listening on TCP ``port`` of 127.0.0.1."""
    wanted = f"0100007F:{port:04X}"
    inodes = set()
    with open("/proc/net/tcp", encoding="ascii") as handle:
        next(handle)
        for line in handle:
            fields = line.split()
            if fields[1] == wanted and fields[3] == "0A":  # 0A: LISTEN
                inodes.add(fields[9])
    return inodes


def holds_socket(pid, inodes):
    """Whether process ``pid`` has one of the socket ``inodes`` open."""
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for name in names:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False


async def serving_workers(server, count, client, stopped):
    """Wait until ``server`` has ``count`` workers, each holding its listening socket and,
    alone, answering ``/v2/ping`` (so each is connected to the store).

    :returns: their pids.
    """

    def holding():
        pids = workers_of(server.pid)
        inodes = listening_inodes(server.port)
        if len(pids) == count and inodes and all(holds_socket(p, inodes) for p in pids):
            return pids
        return None

    pids = await wait_until(holding, TIMEOUT, f"{count} workers on port {server.port}")

    async def ping():
        status, _ = await client.call("GET", f"{server.url}/v2/ping")
        return status == 204

    for pid in pids:
        await wait_until(lambda: served_alone(pids, pid, stopped, ping), TIMEOUT,
                         f"worker {pid} to answer /v2/ping")
    return pids


@pytest.fixture
def client():
    """A JSON client for one fresh project."""
    http = Http(uuid.uuid4().hex, str(uuid.uuid4()))
    yield http


@pytest.fixture
def stopped():
    """Pids paused by a test; resumed at the end whatever happens."""
    paused = []
    yield paused
    for pid in paused:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


async def served_alone(pids, pid, stopped, call):
    """Run ``call()`` while every worker but ``pid`` is paused; :returns: its result."""
    others = [other for other in pids if other != pid]
    for other in others:
        os.kill(other, signal.SIGSTOP)
        stopped.append(other)
    try:
        return await call()
    finally:
        for other in others:
            os.kill(other, signal.SIGCONT)
            stopped.remove(other)


def start(tmp_path, store=REDIS_URI, count=2):
    return ZaqarProcess(
        str(tmp_path / "zaqar"), store, extra=["--workers", str(count), "--websocket", "none"]
    )


@pytest_twisted.ensureDeferred
async def test_two_workers_serve_one_port(tmp_path, client, stopped):
    """Two workers hold the one listening socket, and each alone serves requests on it:
    a message posted through one is listed through the other."""
    server = await start(tmp_path).start()
    try:
        pids = await serving_workers(server, 2, client, stopped)
        assert server.pid not in pids
        url = f"{server.url}/v2/queues/shared/messages"

        async def post():
            return await client.call("POST", url, {"messages": [{"body": {"n": 1}}]})

        async def listing():
            return await client.call("GET", url + "?echo=true")

        status, posted = await served_alone(pids, pids[0], stopped, post)
        assert status == 201, posted
        status, listed = await served_alone(pids, pids[1], stopped, listing)
        assert status == 200, listed
        assert [m["body"] for m in listed["messages"]] == [{"n": 1}]
    finally:
        await client.close()
        await server.stop()


@pytest_twisted.ensureDeferred
async def test_a_dead_worker_is_replaced(tmp_path, client, stopped):
    """A worker that dies is restarted on the same socket, and the new one serves."""
    server = await start(tmp_path).start()
    try:
        first, second = await serving_workers(server, 2, client, stopped)
        os.kill(first, signal.SIGKILL)
        await wait_until(lambda: not pid_alive(first), TIMEOUT, "the killed worker to exit")
        pids = await serving_workers(server, 2, client, stopped)
        assert second in pids and first not in pids
        assert "restarting it" in server.output()
    finally:
        await client.close()
        await server.stop()


@pytest_twisted.ensureDeferred
async def test_stopping_the_service_stops_the_workers(tmp_path, client, stopped):
    """SIGTERM to the supervisor stops every worker, then the supervisor exits."""
    server = await start(tmp_path).start()
    try:
        pids = await serving_workers(server, 2, client, stopped)
    finally:
        await client.close()
    await server.stop()
    assert not any(pid_alive(p) for p in pids)
    assert server.output().count(") stopped") == 2, server.log_tail()
    assert "Server Shut Down" in server.output()


@pytest_twisted.ensureDeferred
async def test_workers_do_not_outlive_a_killed_supervisor(tmp_path, client, stopped):
    """Workers whose supervisor is killed without warning (SIGKILL) exit on their own."""
    server = await start(tmp_path).start()
    try:
        pids = await serving_workers(server, 2, client, stopped)
        await client.close()
        await server.kill(signal.SIGKILL, group=False)
        await wait_until(lambda: not any(pid_alive(p) for p in pids), TIMEOUT,
                         "orphaned workers to exit")
    finally:
        await server.kill()


@pytest_twisted.ensureDeferred
async def test_workers_share_the_embedded_store(tmp_path, client, stopped):
    """With the embedded store, the supervisor runs Redis and both workers use it."""
    server = await start(tmp_path, store="embedded").start()
    try:
        pids = await serving_workers(server, 2, client, stopped)
        url = f"{server.url}/v2/queues/embedded/messages"

        async def post():
            return await client.call("POST", url, {"messages": [{"body": "x"}]})

        async def listing():
            return await client.call("GET", url + "?echo=true")

        assert (await served_alone(pids, pids[1], stopped, post))[0] == 201
        status, listed = await served_alone(pids, pids[0], stopped, listing)
        assert status == 200
        assert [m["body"] for m in listed["messages"]] == ["x"]
    finally:
        await client.close()
        await server.stop()


def test_worker_config_adopts_the_inherited_listeners():
    """A worker runs one process on the given store, adopting the inherited listeners
    (systemd endpoints by name) and opening no other."""
    import socket

    config = Config()
    config.set("service", "workers", "3")
    config.set("service", "rest", "tcp:8888")
    config.set("service", "websocket", "tcp:9000")
    worker = workers.worker_config(config, "redis+unix:///x.sock", [("rest", socket.AF_INET)])
    assert worker.service.workers == 1
    assert worker.redis.uri == "redis+unix:///x.sock"
    assert worker.rest_endpoint == "systemd:domain=INET:name=rest"
    assert worker.websocket_endpoint is None
    assert config.service.workers == 3 and config.rest_endpoint == "tcp:8888"


@pytest.mark.parametrize("endpoint", ["ssl:8443:privateKey=key.pem", "systemd:domain=INET:index=0"])
def test_listeners_that_cannot_be_shared_are_refused(endpoint):
    """Several workers need plain tcp, tcp6 or unix listeners; anything else is refused
    at start-up, naming the listener."""
    config = Config()
    config.set("service", "workers", "2")
    config.set("service", "rest", endpoint)
    with pytest.raises(ConfigError, match="rest listener.*cannot be shared"):
        workers.check(config)
