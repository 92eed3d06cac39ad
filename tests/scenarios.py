"""Scenarios run against real service processes, shared by the Redis tests and the example
stores' tests: post and list everything, and many consumers sharing a queue across nodes."""

import uuid

from twisted.internet import defer

from tests.processes import Http
from tests.waiting import pause


async def post_all(http, url, queue, count, batch):
    """Post ``count`` messages in batches of ``batch``.

    :returns: the ids acknowledged by 201s, in order.
    """
    ids = []
    for start in range(0, count, batch):
        messages = [{"body": {"n": n}, "ttl": 3600} for n in range(start, start + batch)]
        status, body = await http.call(
            "POST", f"{url}/v2/queues/{queue}/messages", {"messages": messages}
        )
        assert status == 201, body
        ids += [href.rsplit("/", 1)[1] for href in body["resources"]]
    return ids


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
        links = [link["href"] for link in body.get("links", []) if link["rel"] == "next"]
        assert links, body
        path = links[0]


async def consumers_share_a_queue(nodes, messages, consumers, deadline=90.0):
    """Post ``messages`` through two started nodes, then let ``consumers`` clients claim (5 at
    a time) through one node and delete through the other until all are gone.

    Checks that no message is ever held by two live claims, that each is deleted exactly
    once, and that the queue ends empty.
    """
    from twisted.internet import reactor

    project = uuid.uuid4().hex
    producer = Http(project, str(uuid.uuid4()))
    clients = [Http(project, str(uuid.uuid4())) for _ in range(consumers)]
    queue = "work"
    try:
        posted = []
        for start in range(0, messages, 10):
            node = nodes[(start // 10) % 2]
            posted += await post_all(producer, node.url, queue, 10, 10)
        assert len(set(posted)) == messages

        held = {}  # message id -> claim id of the live claim that holds it
        doubles = []
        deleted = []
        stop_at = reactor.seconds() + deadline

        async def consume(number, http):
            turn = number
            while len(deleted) < messages and reactor.seconds() < stop_at:
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
                    status, reply = await http.call("DELETE", other.url + message["href"])
                    assert status == 204, (message["href"], reply)
                    held.pop(message["id"], None)
                    deleted.append(message["id"])

        await defer.gatherResults(
            [defer.ensureDeferred(consume(n, http)) for n, http in enumerate(clients)]
        )

        assert doubles == []
        assert len(deleted) == messages, f"only {len(deleted)} of {messages} deleted"
        assert sorted(deleted) == sorted(posted)
        status, stats = await producer.call("GET", f"{nodes[0].url}/v2/queues/{queue}/stats")
        assert status == 200, stats
        assert stats["messages"]["total"] == 0
    finally:
        for http in clients + [producer]:
            await http.close()
