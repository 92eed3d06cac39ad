"""The limits hold across nodes sharing one Redis: two independent services in this process
(each its own core, store connection and listener, one injected clock), and two real
``twistd zaqar`` processes (with a rate so slow that the test's own duration cannot refill
a bucket)."""

import contextlib
import json
import uuid

import pytest_twisted
from twisted.internet import defer

from tests.loopback import loopback_config
from tests.processes import ZaqarProcess, free_port
from tests.waiting import wait_until

REDIS_URI = "redis://127.0.0.1:6379"
START = 1_700_000_000


class Caller:
    """A REST caller of one project, over connections that are not kept open."""

    def __init__(self, project=None):
        from treq.client import HTTPClient
        from twisted.internet import reactor
        from twisted.web.client import Agent, HTTPConnectionPool

        self.project = project or uuid.uuid4().hex
        self._http = HTTPClient(Agent(reactor, pool=HTTPConnectionPool(reactor, False)))

    async def call(self, method, url, document=None):
        """:returns: ``(status, headers as a dict of lowercase names, decoded JSON)``."""
        headers = {"Client-ID": [str(uuid.uuid4())], "X-Project-ID": [self.project]}
        data = None
        if document is not None:
            data = json.dumps(document).encode()
            headers["Content-Type"] = ["application/json"]
        response = await self._http.request(method, url, headers=headers, data=data)
        body = await response.content()
        received = {
            name.decode().lower(): values[-1].decode()
            for name, values in response.headers.getAllRawHeaders()
        }
        return response.code, received, json.loads(body) if body else None


@contextlib.asynccontextmanager
async def nodes(clock, *options):
    """Two services built by ``makeService`` as two nodes would be, on the shared Redis and
    ``clock``, with the ``(section, option, text)`` options.

    :returns: (as the ``async with`` target) their base URLs.
    """
    from twisted.internet import reactor

    from zaqar_tw.service import makeService

    services, urls = [], []
    try:
        for _ in range(2):
            config = loopback_config()
            port = free_port()
            for section, option, text in (
                ("drivers:message_store:redis", "uri", REDIS_URI),
                ("service", "rest", f"tcp:{port}:interface=127.0.0.1"),
                ("service", "websocket", "none"),
                *options,
            ):
                config.set(section, option, text)
            service = makeService(config, reactor, clock)
            service.startService()
            services.append(service)
            urls.append(f"http://127.0.0.1:{port}")
        probe = Caller()
        for url in urls:
            async def answers(url=url):
                return (await probe.call("GET", url + "/v2/ping"))[0] == 204

            await wait_until(answers, timeout=10, what=f"the node at {url}")
        yield urls
    finally:
        for service in services:
            await service.stopService()


def shared_clock():
    from twisted.internet.task import Clock

    clock = Clock()
    clock.advance(START)
    return clock


@pytest_twisted.ensureDeferred
async def test_a_rate_holds_across_two_nodes():
    """Writes through either node draw on one bucket: three pass in all, the next is
    refused by both nodes, and the shared clock refills it for both."""
    clock = shared_clock()
    async with nodes(clock, ("limits", "write_rate", "0.5"), ("limits", "write_burst", "3")) \
            as (a, b):
        caller = Caller()
        assert (await caller.call("PUT", a + "/v2/queues/q"))[0] == 201
        message = {"messages": [{"body": 1}]}
        assert (await caller.call("POST", b + "/v2/queues/q/messages", message))[0] == 201
        assert (await caller.call("POST", a + "/v2/queues/q/messages", message))[0] == 201
        for url in (b, a):
            status, headers, _ = await caller.call("POST", url + "/v2/queues/q/messages",
                                                   message)
            assert (status, headers["retry-after"], headers["ratelimit"]) == (
                429, "2", '"write";r=0;t=2')
        clock.advance(2)
        assert (await caller.call("POST", b + "/v2/queues/q/messages", message))[0] == 201
        assert (await caller.call("POST", a + "/v2/queues/q/messages", message))[0] == 429
        other = Caller()
        assert (await other.call("PUT", b + "/v2/queues/q"))[0] == 201


@pytest_twisted.ensureDeferred
async def test_quotas_hold_under_concurrency_across_two_nodes():
    """Posts and queue creations sent at once through both nodes never take a queue or the
    project past its quota; each post is stored whole or refused."""
    clock = shared_clock()
    async with nodes(clock, ("limits", "max_messages_per_queue", "25"),
                     ("limits", "max_queues_per_project", "6")) as urls:
        caller = Caller()
        posts = [
            caller.call("POST", urls[i % 2] + "/v2/queues/q/messages",
                        {"messages": [{"body": i}] * (1 + i % 3)})
            for i in range(40)
        ]
        replies = await defer.gatherResults([defer.ensureDeferred(p) for p in posts])
        stored = sum(len(body["resources"]) for status, _, body in replies if status == 201)
        refused = [body for status, _, body in replies if status == 429]
        assert 23 <= stored <= 25
        assert all(body["title"] == "Quota exceeded" for body in refused)
        assert len(refused) == 40 - sum(status == 201 for status, _, _ in replies)
        stats = (await caller.call("GET", urls[0] + "/v2/queues/q/stats"))[2]
        assert stats["messages"]["total"] == stored
        creates = [caller.call("PUT", urls[i % 2] + f"/v2/queues/n{i}") for i in range(20)]
        replies = await defer.gatherResults([defer.ensureDeferred(c) for c in creates])
        assert sorted(status for status, _, _ in replies) == [201] * 5 + [429] * 15
        listed = (await caller.call("GET", urls[1] + "/v2/queues?limit=20"))[2]
        assert len(listed["queues"]) == 6


@pytest_twisted.ensureDeferred
async def test_limits_hold_across_two_twistd_processes(tmp_path):
    """Two ``twistd zaqar`` processes on one Redis share the quotas and the buckets: a
    write bucket of 6 gaining one token per 1000 s is spent through both, whichever
    process is asked next refuses."""
    config = (
        "[limits]\nwrite_rate = 0.001\nwrite_burst = 6\nmax_queues_per_project = 2\n"
    )
    processes = [ZaqarProcess(str(tmp_path / name), REDIS_URI, config) for name in "ab"]
    try:
        await defer.gatherResults([defer.ensureDeferred(p.start()) for p in processes])
        a, b = (process.url for process in processes)
        caller = Caller()
        assert (await caller.call("PUT", a + "/v2/queues/q1"))[0] == 201
        assert (await caller.call("PUT", b + "/v2/queues/q2"))[0] == 201
        status, _, body = await caller.call("PUT", a + "/v2/queues/q3")
        assert (status, body["title"]) == (429, "Quota exceeded")
        message = {"messages": [{"body": 1}]}
        for url in (b, a, b):
            status, _, _ = await caller.call("POST", url + "/v2/queues/q1/messages", message)
            assert status == 201
        for url in (a, b):
            status, headers, _ = await caller.call("POST", url + "/v2/queues/q1/messages",
                                                   message)
            assert status == 429
            assert 990 <= int(headers["retry-after"]) <= 1000
            assert headers["ratelimit-policy"] == '"write";q=6;w=6000'
    finally:
        for process in processes:
            await process.stop()
