"""The real zaqar-tw run in-process from a zaqar.conf, as an operator would configure it; the
worked examples' tests use it to show their plugin working once named in the config file.

Twisted's reactor and treq are imported when used, after pytest-twisted has chosen the
reactor.
"""

import contextlib
import json
import uuid

from tests.loopback import allowing_loopback
from tests.processes import free_port
from tests.waiting import wait_until

# What every configured service shares: the Redis at 127.0.0.1:6379, REST on a free port of
# 127.0.0.1, no WebSocket.
BASE = """
[drivers:message_store:redis]
uri = redis://127.0.0.1:6379

[service]
rest = tcp:{port}:interface=127.0.0.1
websocket = none
"""


class Client:
    """A REST client for one fresh project, over connections that are not kept open."""

    def __init__(self, reactor, url):
        from treq.client import HTTPClient
        from twisted.web.client import Agent, HTTPConnectionPool

        self.url = url
        self.project = uuid.uuid4().hex
        self.client_id = str(uuid.uuid4())
        self._http = HTTPClient(Agent(reactor, pool=HTTPConnectionPool(reactor, False)))

    async def request(self, method, path, document=None, roles=None, headers=None):
        """:param roles: an ``X-Roles`` header value, if any.
        :param headers: more headers (name to value).
        :returns: ``(status, decoded JSON body or None)``."""
        sent = {"Client-ID": self.client_id, "X-Project-ID": self.project, **(headers or {})}
        headers = {name: [value] for name, value in sent.items()}
        if roles:
            headers["X-Roles"] = [roles]
        data = None
        if document is not None:
            data = json.dumps(document).encode()
            headers["Content-Type"] = ["application/json"]
        response = await self._http.request(method, self.url + path, headers=headers, data=data)
        content = await response.content()
        return response.code, json.loads(content) if content else None


@contextlib.asynccontextmanager
async def configured_service(directory, sections):
    """Run zaqar-tw from a zaqar.conf of :data:`BASE` plus ``sections`` (INI text), written
    in ``directory``, until the block ends; webhooks may reach 127.0.0.0/8 unless
    ``sections`` sets ``allow_private_subscribers`` (see tests/loopback.py).

    :returns: (as the ``async with`` target) a :class:`Client` once the store answers.
    """
    from twisted.internet import reactor

    from zaqar_tw.config import load
    from zaqar_tw.service import makeService

    conf = directory / "zaqar.conf"
    port = free_port()
    conf.write_text(allowing_loopback(BASE.format(port=port) + sections))
    service = makeService(load(str(conf)), reactor)
    service.startService()
    try:
        client = Client(reactor, f"http://127.0.0.1:{port}")

        async def store_answers():  # the store connects in the background
            status, _ = await client.request("GET", "/v2/ping")
            return status == 204

        await wait_until(store_answers, timeout=5, what="the store")
        yield client
    finally:
        await service.stopService()
