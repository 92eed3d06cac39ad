"""zaqar-tw itself on the SQLite store, as real ``twistd`` processes: acknowledged messages
survive kill -9, and two processes on one file never hand a message to two live claims."""

import uuid

import pytest_twisted
from twisted.internet import defer

from nodes import Http, Node

from tests.scenarios import consumers_share_a_queue, list_all, post_all


@pytest_twisted.ensureDeferred
async def test_acknowledged_messages_survive_kill(tmp_path):
    """kill -9 right after the 201s loses no message: a restart on the file lists them all."""
    database = tmp_path / "zaqar.db"
    http = Http(uuid.uuid4().hex)
    first = await Node(str(tmp_path / "one"), database).start()
    second = None
    try:
        posted = await post_all(http, first.url, "durable", 60, 6)
        await first.kill()

        second = await Node(str(tmp_path / "two"), database).start()
        assert await list_all(http, second.url, "durable") == posted
    finally:
        await first.kill()
        if second is not None:
            await second.stop()
        await http.close()


@pytest_twisted.ensureDeferred
async def test_two_processes_share_a_queue_safely(tmp_path):
    """Consumers claim and delete through two processes on one file: each message is held
    by one live claim at a time and deleted exactly once."""
    database = tmp_path / "shared.db"
    nodes = [Node(str(tmp_path / name), database) for name in ("a", "b")]
    try:
        await defer.gatherResults([defer.ensureDeferred(node.start()) for node in nodes])
        await consumers_share_a_queue(nodes, messages=120, consumers=10)
    finally:
        for node in nodes:
            await node.stop()
