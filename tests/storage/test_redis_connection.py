"""The Redis store's connection: fail fast, reconnect, PING, auth, database, unix socket,
script reloading and server errors.  Tests that break their server start their own."""

import time
import uuid

import pytest
import pytest_twisted
from zope.interface.verify import verifyObject

from zaqar_tw.errors import StoreUnavailable
from zaqar_tw.interfaces import IStorage
from zaqar_tw.storage.redis.connection import RedisConnection
from zaqar_tw.storage.redis.scripts import load_scripts
from zaqar_tw.storage.redis.store import RedisStorage
from zaqar_tw.storage.redis.uri import parse_uri

from redis_server import RedisServer, free_port

from tests.waiting import wait_until


def _reactor():
    from twisted.internet import reactor

    return reactor


async def raw(uri):
    """A plain connection for inspecting a server."""
    connection = RedisConnection(_reactor(), parse_uri(uri))
    await connection.connect()
    return connection


async def assert_unavailable(storage, project):
    """Every kind of operation fails with StoreUnavailable, quickly."""
    started = time.monotonic()
    operations = [
        lambda: storage.queues.create(project, "q", {}),
        lambda: storage.queues.list(project),
        lambda: storage.queues.stats(project, "q"),
        lambda: storage.messages.post(project, "q", [{"ttl": 60, "body": 1}], "c"),
        lambda: storage.messages.list(project, "q"),
        lambda: storage.claims.create(project, "q", 60, 60, 1),
        lambda: storage.claims.get(project, "q", str(uuid.uuid4())),
        lambda: storage.subscriptions.create(project, "q", "http://a", 60, {}),
        lambda: storage.subscriptions.list(project, "q"),
    ]
    for operation in operations:
        with pytest.raises(StoreUnavailable):
            await operation()
    assert time.monotonic() - started < 1.0
    assert await storage.ping() is False


async def unavailable_with(storage, text):
    """Whether an operation now fails with a StoreUnavailable whose text has ``text``."""
    try:
        await storage.queues.exists("p", "q")
    except StoreUnavailable as e:
        return text in str(e)
    return False


async def works(storage):
    """Whether a post and a list go through."""
    project = uuid.uuid4().hex
    try:
        ids, _ = await storage.messages.post(project, "q", [{"ttl": 60, "body": 1}], "c")
        listed = await storage.messages.list(project, "q", echo=True)
    except StoreUnavailable:
        return False
    return [m["id"] for m in listed] == ids


@pytest.fixture
def server(tmp_path):
    """A private redis-server (started by the test, killed afterwards)."""
    s = RedisServer(tmp_path)
    yield s
    s.kill()


@pytest_twisted.ensureDeferred
async def test_fails_fast_when_nothing_listens(clock, project):
    """With nothing listening, operations fail at once with StoreUnavailable, never hang."""
    storage = RedisStorage(_reactor(), f"redis://127.0.0.1:{free_port()}", clock=clock)
    verifyObject(IStorage, storage)
    await assert_unavailable(storage, project)  # before connect()
    connected = storage.connect()
    await assert_unavailable(storage, project)
    await wait_until(lambda: unavailable_with(storage, "cannot connect"),
                     what="a failed attempt")
    await storage.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        await connected


@pytest_twisted.ensureDeferred
async def test_close_then_operations_fail(storage, project):
    """After close, operations fail with StoreUnavailable and connect refuses."""
    await storage.close()
    await assert_unavailable(storage, project)
    with pytest.raises(StoreUnavailable):
        await storage.connect()


@pytest_twisted.ensureDeferred
async def test_reconnects_after_server_restart(server, clock, project):
    """When the server dies, operations fail fast; when it returns, they work again."""
    await server.start()
    storage = RedisStorage(_reactor(), server.uri, clock=clock)
    await storage.connect()
    try:
        assert await works(storage)
        server.kill()
        await wait_until(lambda: unavailable_with(storage, "lost"), what="the loss")
        await assert_unavailable(storage, project)
        await server.start()
        await wait_until(lambda: storage.ping(), what="the reconnection")
        assert await works(storage)
        # Scripts are loaded again on the new server (it started without them).
        assert await storage.claims.create(project, "q", 60, 60, 1) == (None, [])
    finally:
        await storage.close()


@pytest_twisted.ensureDeferred
async def test_ping_detects_frozen_server(server, clock, project):
    """A server that stops answering is detected by PING; operations then fail, and the
    connection comes back once the server answers again."""
    await server.start()
    storage = RedisStorage(_reactor(), server.uri, clock=clock,
                           ping_interval=0.1, ping_timeout=0.3)
    await storage.connect()
    try:
        server.freeze()
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await storage.queues.create(project, "q", {})
        assert time.monotonic() - started < 3.0
        await assert_unavailable(storage, project)
        server.thaw()
        await wait_until(lambda: storage.ping(), what="the reconnection")
        assert await works(storage)
    finally:
        server.thaw()
        await storage.close()


@pytest_twisted.ensureDeferred
async def test_password_and_database(tmp_path, clock, project):
    """A password in the URI logs in, a wrong one is refused fast, and /db selects the
    database the keys go to."""
    server = RedisServer(tmp_path, "--requirepass", "s3cret")
    await server.start()
    good = RedisStorage(_reactor(), f"redis://:s3cret@127.0.0.1:{server.port}/3", clock=clock)
    bad = RedisStorage(_reactor(), f"redis://:wrong@127.0.0.1:{server.port}", clock=clock)
    try:
        await good.connect()
        await good.queues.create(project, "q", {})
        bad.connect().addErrback(lambda f: f.trap(StoreUnavailable))
        await wait_until(lambda: unavailable_with(bad, "rejected"), what="the refusal")
        await assert_unavailable(bad, project)
        inspect = await raw(f"redis://:s3cret@127.0.0.1:{server.port}?dbid=3")
        assert await inspect.execute("DBSIZE") == 2  # the queue hash and the project index
        await inspect.execute("SELECT", 0)
        assert await inspect.execute("DBSIZE") == 0
        await inspect.close()
    finally:
        await good.close()
        await bad.close()
        server.kill()


@pytest_twisted.ensureDeferred
async def test_unix_socket(tmp_path, clock, project):
    """redis+unix:// URIs connect over the socket and select ?db=N."""
    path = str(tmp_path / "redis.sock")
    server = RedisServer(tmp_path, unixsocket=path)
    await server.start()
    storage = RedisStorage(_reactor(), f"redis+unix://{path}?db=2", clock=clock)
    try:
        await storage.connect()
        assert await works(storage)
        inspect = await raw(f"redis+unix://{path}?db=2")
        assert await inspect.execute("DBSIZE") > 0
        await inspect.close()
    finally:
        await storage.close()
        server.kill()


@pytest_twisted.ensureDeferred
async def test_scripts_reloaded_after_flush(server, clock, project):
    """If the server forgets the scripts (SCRIPT FLUSH), operations still work."""
    await server.start()
    storage = RedisStorage(_reactor(), server.uri, clock=clock)
    await storage.connect()
    inspect = await raw(server.uri)
    try:
        assert await works(storage)
        await inspect.execute("SCRIPT", "FLUSH")
        assert await works(storage)
        assert await inspect.execute("SCRIPT", "EXISTS", load_scripts()["message_post"].sha) == [1]
    finally:
        await inspect.close()
        await storage.close()


@pytest_twisted.ensureDeferred
async def test_server_error_is_store_unavailable(server, clock, project):
    """An error reply of the server (here: out of memory) fails with StoreUnavailable."""
    await server.start()
    storage = RedisStorage(_reactor(), server.uri, clock=clock)
    await storage.connect()
    inspect = await raw(server.uri)
    try:
        await inspect.execute("CONFIG", "SET", "maxmemory-policy", "noeviction")
        await inspect.execute("CONFIG", "SET", "maxmemory", "1")
        with pytest.raises(StoreUnavailable, match="OOM"):
            await storage.messages.post(project, "q", [{"ttl": 60, "body": 1}], "c")
        await inspect.execute("CONFIG", "SET", "maxmemory", "0")
        assert await works(storage)
    finally:
        await inspect.close()
        await storage.close()


def retry_lines(events):
    """The lines of logged ``events`` about reconnecting, formatted: ours, and any of
    Twisted's ClientService."""
    from twisted.logger import formatEvent

    lines = [
        formatEvent(event) for event in events
        if event.get("log_namespace", "").startswith(("zaqar_tw.storage.redis",
                                                      "twisted.application"))
    ]
    return [line for line in lines if not line.startswith("Connected to Redis")]


@pytest_twisted.ensureDeferred
async def test_each_reconnection_attempt_is_one_line(logged):
    """Each failed attempt logs exactly one line: the cause, then the delay rounded to a
    tenth of a second (no second line from Twisted's ClientService)."""
    connection = RedisConnection(
        _reactor(), parse_uri(f"redis://127.0.0.1:{free_port()}"), initial_delay=0.05
    )
    connection.connect().addErrback(lambda f: f.trap(StoreUnavailable))
    try:
        await wait_until(lambda: len(retry_lines(logged)) >= 3, what="three attempts")
    finally:
        await connection.close()
    lines = retry_lines(logged)
    for attempt, line in enumerate(lines[:3], start=1):
        assert line.startswith(f"Redis at 127.0.0.1:"), lines
        assert ": cannot connect: Connection was refused by other side" in line, lines
        assert line.endswith(f" s (attempt {attempt})"), lines
        delay = line.rsplit("; retrying in ", 1)[1].split(" s ")[0]
        assert delay == str(round(float(delay), 1)), lines
        assert ".;" not in line, lines


@pytest_twisted.ensureDeferred
async def test_a_lost_connection_is_one_line_per_attempt(server, clock, logged):
    """A server that goes away gives one line per reconnection attempt, each saying the
    connection was lost."""
    await server.start()
    connection = RedisConnection(_reactor(), parse_uri(server.uri), initial_delay=0.05)
    await connection.connect()
    try:
        server.kill()
        await wait_until(lambda: len(retry_lines(logged)) >= 2, what="two attempts")
    finally:
        await connection.close()
    lines = retry_lines(logged)
    assert "connection lost" in lines[0] and lines[0].endswith("(attempt 1)"), lines
    assert "cannot connect" in lines[1] and lines[1].endswith("(attempt 2)"), lines
