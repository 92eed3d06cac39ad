"""The embedded Redis: a private, supervised redis-server child on a unix socket."""

import os
import signal
import stat
import subprocess

import pytest
import pytest_twisted

from zaqar_tw.config import EmbeddedSection
from zaqar_tw.storage import embedded
from zaqar_tw.storage.embedded import EmbeddedRedisError, EmbeddedRedisService

from tests.waiting import pause, wait_until


def _reactor():
    from twisted.internet import reactor

    return reactor


async def redis_client(path):
    """A txredisapi connection over the unix socket ``path``."""
    import txredisapi

    return await txredisapi.UnixConnection(
        path, reconnect=False, convertNumbers=False, connectTimeout=5
    )


@pytest.fixture
def data_dir(tmp_path):
    """A fresh data directory (short enough for a unix socket path)."""
    return str(tmp_path / "data")


def section(data_dir, fsync="always"):
    return EmbeddedSection(data_dir=data_dir, appendfsync=fsync)


@pytest.fixture
def started():
    """Start embedded services and stop every one of them after the test."""
    services = []

    def start(service):
        service.privilegedStartService()
        service.startService()
        services.append(service)
        return service

    yield start
    for service in services:
        if service.running:
            pytest_twisted.blockon(service.stopService())


@pytest_twisted.ensureDeferred
async def test_ping_over_private_socket(data_dir, started):
    """The child answers PING on the unix socket in a 0700 data dir, with TCP off."""
    service = started(EmbeddedRedisService(section(data_dir), _reactor()))
    await service.whenReady()
    assert service.uri == "redis+unix://" + os.path.join(data_dir, "redis.sock")
    assert stat.S_IMODE(os.stat(data_dir).st_mode) == 0o700
    client = await redis_client(service.socket_path)
    try:
        assert await client.ping() == "PONG"
        config = await client.execute_command("CONFIG", "GET", "port")
        assert config[1] == "0"
        fsync = await client.execute_command("CONFIG", "GET", "appendfsync")
        assert fsync[1] == "always"
    finally:
        await client.disconnect()


@pytest_twisted.ensureDeferred
async def test_killed_child_is_restarted_with_its_data(data_dir, started):
    """After kill -9 of the child a new one starts and serves what was written before."""
    service = started(EmbeddedRedisService(section(data_dir), _reactor()))
    await service.whenReady()
    client = await redis_client(service.socket_path)
    await client.set("survivor", "still here")
    await client.disconnect()
    old_pid = service.pid
    os.kill(old_pid, signal.SIGKILL)
    await wait_until(lambda: service.pid not in (None, old_pid))
    await service.whenReady()
    assert service.restarts == 1
    client = await redis_client(service.socket_path)
    try:
        assert await client.get("survivor") == "still here"
    finally:
        await client.disconnect()


@pytest_twisted.ensureDeferred
async def test_stop_service_stops_child_and_releases_lock(data_dir, started):
    """stopService waits for the child to exit, then frees the data dir for another."""
    service = started(EmbeddedRedisService(section(data_dir), _reactor()))
    await service.whenReady()
    pid = service.pid
    assert embedded.lock_holder(data_dir) == os.getpid()
    await service.stopService()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert embedded.lock_holder(data_dir) is None
    assert not os.path.exists(os.path.join(data_dir, "redis.pid"))


@pytest_twisted.ensureDeferred
async def test_second_instance_on_same_data_dir_is_refused(data_dir, started):
    """A second service on a data dir in use is refused with a message naming the dir."""
    first = started(EmbeddedRedisService(section(data_dir), _reactor()))
    await first.whenReady()
    second = EmbeddedRedisService(section(data_dir), _reactor())
    with pytest.raises(EmbeddedRedisError, match=data_dir):
        second.privilegedStartService()
    with pytest.raises(EmbeddedRedisError, match=f"pid {os.getpid()}"):
        embedded.check(section(data_dir))
    await first.stopService()
    started(second)
    await second.whenReady()


@pytest_twisted.ensureDeferred
async def test_stale_files_from_a_crash_do_not_block_start(data_dir, started):
    """A leftover socket, lock file and pid file of a dead process do not stop a start."""
    os.makedirs(data_dir, mode=0o700)
    dead = subprocess.Popen(["true"])
    dead.wait()
    for name, text in (("redis.sock", ""), ("zaqar.lock", f"{dead.pid}\n"),
                       ("redis.pid", f"{dead.pid}\n")):
        with open(os.path.join(data_dir, name), "w") as handle:
            handle.write(text)
    embedded.check(section(data_dir))
    service = started(EmbeddedRedisService(section(data_dir), _reactor()))
    await service.whenReady()
    client = await redis_client(service.socket_path)
    try:
        assert await client.ping() == "PONG"
    finally:
        await client.disconnect()


@pytest_twisted.ensureDeferred
async def test_orphaned_redis_is_stopped_before_a_new_start(data_dir, started):
    """A redis-server left behind by a killed zaqar is shut down cleanly, and its data kept."""
    os.makedirs(data_dir, mode=0o700)
    probe = EmbeddedRedisService(section(data_dir, "everysec"), _reactor())
    probe.binary = embedded.find_redis_server()
    orphan = subprocess.Popen(
        probe._args(), cwd=data_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        with open(os.path.join(data_dir, "redis.pid"), "w") as handle:
            handle.write(f"{orphan.pid}\n")
        await wait_until(lambda: os.path.exists(probe.socket_path))
        client = None
        for _ in range(100):
            try:
                client = await redis_client(probe.socket_path)
                break
            except Exception:
                await pause(0.05)
        await client.set("orphaned", "kept")
        await client.disconnect()

        service = started(EmbeddedRedisService(section(data_dir), _reactor()))
        await service.whenReady()
        assert orphan.poll() == 0, "the orphan should have been shut down with SIGTERM"
        assert service.pid != orphan.pid
        client = await redis_client(service.socket_path)
        try:
            assert await client.get("orphaned") == "kept"
        finally:
            await client.disconnect()
    finally:
        if orphan.poll() is None:
            orphan.kill()
        orphan.wait()
