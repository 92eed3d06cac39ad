"""zaqar-tw itself on the SQLite store, as real ``twistd`` processes: acknowledged messages
survive kill -9, and two processes on one file never hand a message to two live claims."""

import uuid

import pytest_twisted
from twisted.internet import defer

from nodes import Http, Node

from tests.waiting import pause

MESSAGES = 120
CONSUMERS = 10


def hrefs_to_ids(body):
    return [href.rsplit("/", 1)[1] for href in body["resources"]]


async def list_all(http, url, queue):
    """Every message id of the queue, following the ``next`` links page by page."""
    seen = []
    path = f"/v2/queues/{queue}/messages?echo=true&include_claimed=true&limit=20"
    while True:
        status, body = await http.call("GET", url + path)
        assert status in (200, 204), body
        page = (body or {}).get("messages", [])
        if not page:
            return seen
        seen += [message["id"] for message in page]
        (path,) = [link["href"] for link in body["links"] if link["rel"] == "next"]


@pytest_twisted.ensureDeferred
async def test_acknowledged_messages_survive_kill(tmp_path):
    """kill -9 right after the 201s loses no message: a restart on the file lists them all."""
    database = tmp_path / "zaqar.db"
    http = Http(uuid.uuid4().hex)
    first = await Node(str(tmp_path / "one"), database).start()
    second = None
    try:
        posted = []
        for start in range(0, 60, 6):
            batch = [{"body": {"n": n}, "ttl": 3600} for n in range(start, start + 6)]
            status, body = await http.call(
                "POST", f"{first.url}/v2/queues/durable/messages", {"messages": batch}
            )
            assert status == 201, body
            posted += hrefs_to_ids(body)
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
    from twisted.internet import reactor

    database = tmp_path / "shared.db"
    nodes = [Node(str(tmp_path / name), database) for name in ("a", "b")]
    project = uuid.uuid4().hex
    producer = Http(project)
    consumers = [Http(project) for _ in range(CONSUMERS)]
    try:
        await defer.gatherResults([defer.ensureDeferred(node.start()) for node in nodes])
        posted = []
        for start in range(0, MESSAGES, 10):
            node = nodes[(start // 10) % 2]
            status, body = await producer.call(
                "POST", f"{node.url}/v2/queues/work/messages",
                {"messages": [{"body": {"n": n}} for n in range(start, start + 10)]},
            )
            assert status == 201, body
            posted += hrefs_to_ids(body)

        held = {}
        doubles = []
        deleted = []
        deadline = reactor.seconds() + 90

        async def consume(number, http):
            turn = number
            while len(deleted) < MESSAGES and reactor.seconds() < deadline:
                node = nodes[turn % 2]
                turn += 1
                status, body = await http.call(
                    "POST", f"{node.url}/v2/queues/work/claims?limit=5",
                    {"ttl": 60, "grace": 60},
                )
                if status == 204:
                    await pause(0.02)
                    continue
                assert status == 201, body
                for message in body["messages"]:
                    if message["id"] in held:
                        doubles.append(message["id"])
                    held[message["id"]] = True
                for message in body["messages"]:
                    other = nodes[turn % 2]
                    status, reply = await http.call("DELETE", other.url + message["href"])
                    assert status == 204, reply
                    held.pop(message["id"], None)
                    deleted.append(message["id"])

        await defer.gatherResults(
            [defer.ensureDeferred(consume(n, http)) for n, http in enumerate(consumers)]
        )
        assert doubles == []
        assert sorted(deleted) == sorted(posted)
        status, stats = await producer.call("GET", f"{nodes[1].url}/v2/queues/work/stats")
        assert status == 200 and stats["messages"]["total"] == 0, stats
    finally:
        for node in nodes:
            await node.stop()
        for http in [producer, *consumers]:
            await http.close()
