"""WebSocket load: N connections to a running zaqar-tw, each sending one request at a time.

Two phases, each for ``--duration`` seconds:

* **post**: every connection posts ``--batch`` messages per ``message_post``;
* **claim**: every connection claims up to ``--batch`` messages (``claim_create``) and
  deletes what it got (``message_delete_many``), until the time is up or the queues are
  empty.

For each phase it prints requests per second, messages per second and the p50 and p99
latency of the timed action (``message_post``; ``claim_create``).  Connections share
``--queues`` queues of one fresh project, deleted at the end.

    python bench/ws_load.py --url ws://127.0.0.1:9000 --connections 50 --duration 10
    python bench/ws_load.py --binary          # MessagePack instead of JSON

The server must be running (``twistd -n zaqar``, WebSocket on port 9000 by default).
"""

import argparse
import json
import sys
import time
import uuid
from urllib.parse import urlparse

import msgpack
from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet import defer, task
from twisted.internet.endpoints import TCP4ClientEndpoint

MESSAGE = {
    "event": "order.created",
    "order": {"id": "ord-0001-8841", "customer": "cust-2071", "total": 45.23,
              "items": [{"sku": "SKU-1138", "qty": 2}, {"sku": "SKU-2187", "qty": 1}]},
}


class LoadClient(WebSocketClientProtocol):
    """One connection: sends a request, waits for its reply."""

    def onOpen(self):
        self._waiting = None
        self.factory.ready.callback(self)

    def onMessage(self, payload, isBinary):
        waiting, self._waiting = self._waiting, None
        document = msgpack.unpackb(payload) if isBinary else json.loads(payload)
        waiting.callback(document)

    def onClose(self, wasClean, code, reason):
        if not self.factory.ready.called:
            self.factory.ready.errback(ConnectionError(f"{code} {reason}"))
        if getattr(self, "_waiting", None) is not None:
            self._waiting.errback(ConnectionError(f"closed: {code} {reason}"))

    def call(self, action, body, headers, binary):
        """Send one request; a Deferred firing with its reply document."""
        document = {"action": action, "headers": headers, "body": body}
        payload = msgpack.packb(document) if binary else json.dumps(document).encode()
        self._waiting = defer.Deferred()
        self.sendMessage(payload, isBinary=binary)
        return self._waiting


class Phase:
    """What one phase measured."""

    def __init__(self, name):
        self.name = name
        self.latencies = []
        self.requests = 0
        self.messages = 0
        self.errors = 0
        self.seconds = 0.0

    def report(self):
        rate = self.requests / self.seconds if self.seconds else 0.0
        per_message = self.messages / self.seconds if self.seconds else 0.0
        ordered = sorted(self.latencies)

        def pct(fraction):
            if not ordered:
                return float("nan")
            return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000

        print(f"{self.name:<14} {self.requests:>8} req  {rate:>9.1f} req/s  "
              f"{per_message:>9.1f} msg/s  p50 {pct(0.50):7.2f} ms  p99 {pct(0.99):7.2f} ms  "
              f"errors {self.errors}")


async def connect(reactor, url):
    parsed = urlparse(url)
    factory = WebSocketClientFactory(url, reactor=reactor)
    factory.protocol = LoadClient
    factory.ready = defer.Deferred()
    endpoint = TCP4ClientEndpoint(reactor, parsed.hostname, parsed.port or 80)
    await endpoint.connect(factory)
    return await factory.ready


async def post_loop(reactor, client, headers, queue, args, phase, deadline):
    messages = [{"ttl": 3600, "body": MESSAGE} for _ in range(args.batch)]
    while reactor.seconds() < deadline:
        started = time.perf_counter()
        reply = await client.call("message_post", {"queue_name": queue, "messages": messages},
                                  headers, args.binary)
        phase.latencies.append(time.perf_counter() - started)
        phase.requests += 1
        if reply["headers"]["status"] == 201:
            phase.messages += len(messages)
        else:
            phase.errors += 1


async def claim_loop(reactor, client, headers, queue, args, phase, deadline):
    while reactor.seconds() < deadline:
        started = time.perf_counter()
        reply = await client.call("claim_create", {"queue_name": queue, "limit": args.batch,
                                                   "ttl": 60, "grace": 60},
                                  headers, args.binary)
        phase.latencies.append(time.perf_counter() - started)
        phase.requests += 1
        status = reply["headers"]["status"]
        if status == 204:
            return  # the queue is empty
        if status != 201:
            phase.errors += 1
            continue
        ids = [message["id"] for message in reply["body"]["messages"]]
        phase.messages += len(ids)
        reply = await client.call("message_delete_many",
                                  {"queue_name": queue, "message_ids": ids}, headers,
                                  args.binary)
        if reply["headers"]["status"] != 204:
            phase.errors += 1


async def run_phase(reactor, name, loop, clients, args):
    phase = Phase(name)
    started = reactor.seconds()
    deadline = started + args.duration
    await defer.gatherResults([
        defer.ensureDeferred(loop(reactor, client, headers, queue, args, phase, deadline))
        for client, headers, queue in clients
    ], consumeErrors=True)
    phase.seconds = reactor.seconds() - started
    phase.report()


async def main(reactor, args):
    project = f"ws-bench-{uuid.uuid4().hex}"
    queues = [f"bench-{index}" for index in range(args.queues)]
    clients = []
    for index in range(args.connections):
        client = await connect(reactor, args.url)
        headers = {"Client-ID": str(uuid.uuid4()), "X-Project-ID": project}
        clients.append((client, headers, queues[index % len(queues)]))
    print(f"{args.connections} connections to {args.url}, {args.queues} queues, "
          f"{args.batch} messages per request, {'MessagePack' if args.binary else 'JSON'}, "
          f"{args.duration} s per phase")
    try:
        await run_phase(reactor, "message_post", post_loop, clients, args)
        await run_phase(reactor, "claim", claim_loop, clients, args)
    finally:
        client, headers, _ = clients[0]
        for queue in queues:
            await client.call("queue_delete", {"queue_name": queue}, headers, args.binary)
        for client, _, _ in clients:
            client.transport.loseConnection()


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="ws://127.0.0.1:9000")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--queues", type=int, default=8)
    parser.add_argument("--batch", type=int, default=1, help="messages per post or claim")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--binary", action="store_true", help="MessagePack instead of JSON")
    args = parser.parse_args(argv)
    if args.connections < 1 or args.queues < 1 or not 1 <= args.batch <= 20:
        parser.error("--connections and --queues must be >= 1, --batch within 1..20")
    return args


if __name__ == "__main__":
    arguments = parse(sys.argv[1:])
    task.react(lambda reactor: defer.ensureDeferred(main(reactor, arguments)))
