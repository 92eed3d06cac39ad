"""Runs the real zaqar-tw in-process, configured by a zaqar.conf that enables the notifier as
an operator would, on the Redis at 127.0.0.1:6379 and a REST port of 127.0.0.1; and a real
chat server stand-in: an HTTP receiver on 127.0.0.1 that records what it is sent.

Twisted's reactor, treq and the store are imported inside the fixtures, after pytest-twisted
has chosen the reactor.
"""

import json
import socket
import uuid

import pytest_twisted

from tests.notify.receiver import Receiver
from tests.waiting import wait_until

CONF = """
[drivers:message_store:redis]
uri = redis://127.0.0.1:6379

[service]
rest = tcp:{port}:interface=127.0.0.1
websocket = none

[notification]
notifiers = webhook, chat

[notifier:chat]
max_length = 40
"""


def free_port():
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Client:
    """A REST client for one fresh project, over connections that are not kept open."""

    def __init__(self, reactor, url):
        from treq.client import HTTPClient
        from twisted.web.client import Agent, HTTPConnectionPool

        self.url = url
        self.project = uuid.uuid4().hex
        self.client_id = str(uuid.uuid4())
        self._http = HTTPClient(Agent(reactor, pool=HTTPConnectionPool(reactor, False)))

    async def request(self, method, path, document=None):
        """:returns: ``(status, decoded JSON body or None)``."""
        headers = {"Client-ID": [self.client_id], "X-Project-ID": [self.project]}
        data = None
        if document is not None:
            data = json.dumps(document).encode()
            headers["Content-Type"] = ["application/json"]
        response = await self._http.request(method, self.url + path, headers=headers, data=data)
        content = await response.content()
        return response.code, json.loads(content) if content else None


@pytest_twisted.async_yield_fixture
async def api(tmp_path):
    """zaqar-tw with ``[notification] notifiers = webhook, chat``, started from a config
    file; a client."""
    from twisted.internet import reactor

    from zaqar_tw.config import load
    from zaqar_tw.service import makeService

    conf = tmp_path / "zaqar.conf"
    port = free_port()
    conf.write_text(CONF.format(port=port))
    service = makeService(load(str(conf)), reactor)
    service.startService()
    client = Client(reactor, f"http://127.0.0.1:{port}")

    async def store_answers():  # the store connects in the background
        status, _ = await client.request("GET", "/v2/ping")
        return status == 204

    await wait_until(store_answers, timeout=5, what="the store")
    yield client
    await service.stopService()


@pytest_twisted.async_yield_fixture
async def chat_server():
    """An HTTP receiver on 127.0.0.1 standing in for the chat server."""
    from twisted.internet import reactor

    receiver = await Receiver(reactor).start()
    yield receiver
    await receiver.stop()
