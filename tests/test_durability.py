"""Acknowledged messages survive kill -9 of the service (and of its Redis) and a restart.

With ``appendfsync always`` Redis fsyncs each write before it answers, so a 201 means the
message is on disk.  With ``everysec`` (the embedded default) a power loss may lose up to the
last second, but a kill of zaqar-tw alone loses nothing: its orphaned Redis is shut down
cleanly (flushing the append-only file) before a new one starts on the same files.
"""

import os
import uuid

import pytest_twisted

from tests import scenarios
from tests.processes import Http, RedisProcess, ZaqarProcess, pid_alive
from tests.scenarios import list_all
from tests.waiting import wait_until

MESSAGES = 60
BATCH = 6


async def post_all(http, url, queue):
    """Post MESSAGES messages in batches; :returns: the ids acknowledged by 201s."""
    return await scenarios.post_all(http, url, queue, MESSAGES, BATCH)


def embedded_config(data_dir, fsync):
    return f"[embedded]\ndata_dir = {data_dir}\nappendfsync = {fsync}\n"


def redis_pid(data_dir):
    with open(os.path.join(data_dir, "redis.pid")) as handle:
        return int(handle.read())


@pytest_twisted.ensureDeferred
async def test_embedded_store_survives_kill_of_everything(tmp_path):
    """kill -9 of zaqar and its Redis child right after the 201s loses no message."""
    data_dir = str(tmp_path / "data")
    config = embedded_config(data_dir, "always")
    http = Http(uuid.uuid4().hex, str(uuid.uuid4()))
    first = await ZaqarProcess(str(tmp_path / "one"), "embedded", config).start()
    second = None
    try:
        posted = await post_all(http, first.url, "durable")
        child = redis_pid(data_dir)
        await first.kill()
        # SIGKILL reached the whole group, but the child dies (and is reaped) on its own time.
        await wait_until(lambda: not pid_alive(child), 30, "the embedded Redis to die")

        second = await ZaqarProcess(str(tmp_path / "two"), "embedded", config).start()
        assert redis_pid(data_dir) != child
        assert sorted(await list_all(http, second.url, "durable")) == sorted(posted)
    finally:
        await first.kill()
        if second is not None:
            await second.stop()
        await http.close()


@pytest_twisted.ensureDeferred
async def test_embedded_everysec_survives_kill_of_zaqar_alone(tmp_path):
    """On the everysec default, kill -9 of zaqar alone loses nothing: its Redis is flushed."""
    data_dir = str(tmp_path / "data")
    config = embedded_config(data_dir, "everysec")
    http = Http(uuid.uuid4().hex, str(uuid.uuid4()))
    first = await ZaqarProcess(str(tmp_path / "one"), "embedded", config).start()
    second = None
    orphan = redis_pid(data_dir)
    try:
        posted = await post_all(http, first.url, "durable")
        await first.kill(group=False)
        assert pid_alive(orphan), "the Redis child should outlive zaqar in this test"

        second = await ZaqarProcess(str(tmp_path / "two"), "embedded", config).start()
        assert not pid_alive(orphan)
        assert sorted(await list_all(http, second.url, "durable")) == sorted(posted)
    finally:
        await first.kill()
        if pid_alive(orphan):
            os.kill(orphan, 9)
        if second is not None:
            await second.stop()
        await http.close()


@pytest_twisted.ensureDeferred
async def test_external_redis_survives_kill_of_both(tmp_path):
    """kill -9 of zaqar and of an always-fsync Redis, then restarts, loses no message."""
    redis = await RedisProcess(str(tmp_path / "redis")).start()
    http = Http(uuid.uuid4().hex, str(uuid.uuid4()))
    first = second = None
    try:
        first = await ZaqarProcess(str(tmp_path / "one"), redis.uri).start()
        posted = await post_all(http, first.url, "durable")
        await first.kill()
        await redis.kill()

        await redis.start()
        second = await ZaqarProcess(str(tmp_path / "two"), redis.uri).start()
        assert sorted(await list_all(http, second.url, "durable")) == sorted(posted)
    finally:
        if first is not None:
            await first.kill()
        if second is not None:
            await second.stop()
        await redis.kill()
        await http.close()
