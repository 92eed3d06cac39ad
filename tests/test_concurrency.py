"""Two nodes on one Redis, many consumers: no message is held twice, none is lost."""

import uuid

import pytest_twisted
from twisted.internet import defer

from tests.processes import Http, ZaqarProcess
from tests.waiting import pause

SHARED_REDIS = "redis://127.0.0.1:6379"
MESSAGES = 300
CONSUMERS = 20
DEADLINE = 90.0


@pytest_twisted.ensureDeferred
async def test_consumers_on_two_nodes_share_a_queue_safely(tmp_path):
    """20 consumers claim and delete through two nodes; each message is deleted exactly once."""
    from twisted.internet import reactor

    nodes = [ZaqarProcess(str(tmp_path / name), SHARED_REDIS) for name in ("a", "b")]
    project = uuid.uuid4().hex
    clients = [Http(project, str(uuid.uuid4())) for _ in range(CONSUMERS)]
    producer = Http(project, str(uuid.uuid4()))
    queue = "work"
    try:
        await defer.gatherResults([defer.ensureDeferred(node.start()) for node in nodes])

        posted = []
        for start in range(0, MESSAGES, 10):
            node = nodes[(start // 10) % 2]
            status, body = await producer.call(
                "POST", f"{node.url}/v2/queues/{queue}/messages",
                {"messages": [{"body": {"n": n}} for n in range(start, start + 10)]},
            )
            assert status == 201, body
            posted += [href.rsplit("/", 1)[1] for href in body["resources"]]
        assert len(set(posted)) == MESSAGES

        held = {}  # message id -> claim id of the live claim that holds it
        doubles = []
        deleted = []
        deadline = reactor.seconds() + DEADLINE

        async def consume(number, http):
            turn = number
            while len(deleted) < MESSAGES and reactor.seconds() < deadline:
                node = nodes[turn % 2]
                turn += 1
                status, body = await http.call(
                    "POST", f"{node.url}/v2/queues/{queue}/claims?limit=5",
                    {"ttl": 60, "grace": 60},
                )
                if status == 204:
                    await pause(0.02)
                    continue
                assert status == 201, body
                for message in body["messages"]:
                    claim_id = message["href"].rsplit("claim_id=", 1)[1]
                    if message["id"] in held:
                        doubles.append((message["id"], held[message["id"]], claim_id))
                    held[message["id"]] = claim_id
                for message in body["messages"]:
                    other = nodes[turn % 2]
                    path = message["href"]
                    status, reply = await http.call("DELETE", other.url + path)
                    assert status == 204, (path, reply)
                    held.pop(message["id"], None)
                    deleted.append(message["id"])

        await defer.gatherResults(
            [defer.ensureDeferred(consume(n, http)) for n, http in enumerate(clients)]
        )

        assert doubles == []
        assert len(deleted) == MESSAGES, f"only {len(deleted)} of {MESSAGES} deleted"
        assert sorted(deleted) == sorted(posted)
        status, stats = await producer.call("GET", f"{nodes[0].url}/v2/queues/{queue}/stats")
        assert status == 200, stats
        assert stats["messages"]["total"] == 0
    finally:
        for node in nodes:
            await node.stop()
        for http in clients + [producer]:
            await http.close()
