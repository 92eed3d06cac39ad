"""WebSocket load: N connections to a running server, each sending one request at a time.

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
    python bench/ws_load.py --processes 4     # the connections spread over 4 processes

The client is lean so that it is not what sets the pace: plain non-blocking sockets and
``epoll``, the WebSocket framing written here (requests that do not change are framed once),
one reply parsed per request.  With ``--processes N`` (default: one per CPU this process
may run on) the connections are spread over N processes that start and stop each phase
together; their counts and latencies are merged into one line per phase.

The server must be running (``twistd -n zaqar``, WebSocket on port 9000 by default).
"""

import argparse
import base64
import multiprocessing
import os
import select
import socket
import sys
import time
import uuid
from urllib.parse import urlparse

import msgpack
import orjson

MESSAGE = {
    "event": "order.created",
    "order": {"id": "ord-0001-8841", "customer": "cust-2071", "total": 45.23,
              "items": [{"sku": "SKU-1138", "qty": 2}, {"sku": "SKU-2187", "qty": 1}]},
}

TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA


# -- the WebSocket client side, lean ----------------------------------------------------------

def client_frame(opcode, payload):
    """One final, masked client frame.  The mask key is zero: the server unmasks it as any
    other (a load generator has no intermediary to protect from)."""
    size = len(payload)
    if size < 126:
        head = bytes((0x80 | opcode, 0x80 | size))
    elif size < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + size.to_bytes(8, "big")
    return head + b"\0\0\0\0" + payload


def handshake(url, timeout=30.0, sock=None):
    """Open a WebSocket connection (blocking); :returns: the connected socket, and any bytes
    that came after the handshake's response.

    :raises ConnectionError: the server did not switch protocols.
    """
    parsed = urlparse(url)
    host, port = parsed.hostname, parsed.port or 80
    if sock is None:
        sock = socket.create_connection((host, port), timeout=timeout)
    else:
        sock.settimeout(timeout)
        sock.connect((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {parsed.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(f"handshake refused: {head.splitlines()[0]!r}")
    return sock, rest


class Connection:
    """One connection of the load: one request in flight at a time."""

    __slots__ = ("sock", "fd", "buffer", "fragments", "headers", "queue", "binary", "sent",
                 "loop", "done", "post_frame", "claim_frame", "reply_handler")

    def __init__(self, sock, rest, headers, queue, binary, batch):
        self.sock = sock
        self.fd = sock.fileno()
        self.buffer = rest
        self.fragments = None
        self.headers = headers
        self.queue = queue
        self.binary = binary
        self.sent = 0.0
        self.done = True
        self.reply_handler = None
        messages = [{"ttl": 3600, "body": MESSAGE} for _ in range(batch)]
        self.post_frame = self.frame("message_post",
                                     {"queue_name": queue, "messages": messages})
        self.claim_frame = self.frame("claim_create", {"queue_name": queue, "limit": batch,
                                                       "ttl": 60, "grace": 60})

    def frame(self, action, body):
        """The frame of one request."""
        document = {"action": action, "headers": self.headers, "body": body}
        if self.binary:
            return client_frame(BINARY, msgpack.packb(document))
        return client_frame(TEXT, orjson.dumps(document))

    def decode(self, payload):
        return msgpack.unpackb(payload) if self.binary else orjson.loads(payload)

    def send(self, frame):
        self.sent = time.perf_counter()
        self.sock.sendall(frame)

    def feed(self, data):
        """Bytes read from the socket; :returns: the whole messages they complete."""
        buffer = self.buffer + data if self.buffer else data
        messages = []
        pos, end = 0, len(buffer)
        while end - pos >= 2:
            first, size = buffer[pos], buffer[pos + 1] & 0x7F
            start = pos + 2
            if size == 126:
                start += 2
                if start > end:
                    break
                size = int.from_bytes(buffer[pos + 2:start], "big")
            elif size == 127:
                start += 8
                if start > end:
                    break
                size = int.from_bytes(buffer[pos + 2:start], "big")
            stop = start + size
            if stop > end:
                break
            payload = buffer[start:stop]
            pos = stop
            opcode = first & 0x0F
            if opcode == PING:
                self.sock.sendall(client_frame(PONG, payload))
            elif opcode == CLOSE:
                raise ConnectionError(f"the server closed the connection: {payload[2:]!r}")
            elif opcode in (TEXT, BINARY, 0):
                if not first & 0x80:
                    self.fragments = (self.fragments or []) + [payload]
                    continue
                if self.fragments is not None:
                    payload = b"".join(self.fragments + [payload])
                    self.fragments = None
                messages.append(payload)
        self.buffer = buffer[pos:] if pos < end else b""
        return messages

    def call(self, action, body):
        """A blocking request (set-up and clean-up only); :returns: the reply document."""
        self.sock.setblocking(True)
        try:
            self.sock.sendall(self.frame(action, body))
            while True:
                data = self.sock.recv(65536)
                if not data:
                    raise ConnectionError("closed")
                messages = self.feed(data)
                if messages:
                    return self.decode(messages[0])
        finally:
            self.sock.setblocking(False)


class Phase:
    """What one phase measured (in one process, or merged)."""

    def __init__(self, name):
        self.name = name
        self.latencies = []
        self.requests = 0
        self.messages = 0
        self.errors = 0
        self.seconds = 0.0

    def merge(self, other):
        self.latencies += other.latencies
        self.requests += other.requests
        self.messages += other.messages
        self.errors += other.errors
        self.seconds = max(self.seconds, other.seconds)

    def report(self):
        """Print the phase's line (parsed by ``bench/zaqar_bench.py``, ``_WS_LINE``)."""
        rate = self.requests / self.seconds if self.seconds else 0.0
        per_message = self.messages / self.seconds if self.seconds else 0.0
        ordered = sorted(self.latencies)

        def pct(fraction):
            if not ordered:
                return float("nan")
            return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000

        print(f"{self.name:<14} {self.requests:>8} req  {rate:>9.1f} req/s  "
              f"{per_message:>9.1f} msg/s  p50 {pct(0.50):7.2f} ms  p99 {pct(0.99):7.2f} ms  "
              f"errors {self.errors}", flush=True)


class Worker:
    """Some of the connections, driven by one epoll loop in one process."""

    def __init__(self, url, project, queues, first, count, args):
        self.args = args
        self.connections = []
        for index in range(first, first + count):
            sock, rest = handshake(url)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
            headers = {"Client-ID": str(uuid.uuid4()), "X-Project-ID": project}
            self.connections.append(Connection(sock, rest, headers,
                                               queues[index % len(queues)], args.binary,
                                               args.batch))

    def run(self, name, start, deadline):
        """Run one phase (``message_post`` or ``claim``) from ``start`` to ``deadline``
        (``time.monotonic()`` values, shared by the processes); :returns: its
        :class:`Phase`."""
        phase = Phase(name)
        latencies = phase.latencies
        perf = time.perf_counter
        now = time.monotonic
        pause = start - now()
        if pause > 0:
            time.sleep(pause)
        poller = select.epoll()
        by_fd = {}
        post = name == "message_post"
        batch = self.args.batch
        for connection in self.connections:
            by_fd[connection.fd] = connection
            poller.register(connection.fd, select.EPOLLIN)
            connection.done = False
            connection.reply_handler = None
            connection.send(connection.post_frame if post else connection.claim_frame)
        active = len(self.connections)
        finished = start
        try:
            while active:
                for fd, _ in poller.poll():
                    connection = by_fd[fd]
                    try:
                        data = connection.sock.recv(262144)
                    except BlockingIOError:
                        continue
                    if not data:
                        raise ConnectionError("the server closed a connection")
                    for payload in connection.feed(data):
                        if connection.done:
                            continue
                        got = perf()
                        reply = connection.decode(payload)
                        status = reply["headers"]["status"]
                        handler = connection.reply_handler
                        if handler is not None:  # the delete of a claim's messages
                            connection.reply_handler = None
                            if status != 204:
                                phase.errors += 1
                        elif post:
                            latencies.append(got - connection.sent)
                            phase.requests += 1
                            if status == 201:
                                phase.messages += batch
                            else:
                                phase.errors += 1
                        else:
                            latencies.append(got - connection.sent)
                            phase.requests += 1
                            if status == 204:  # the queue is empty
                                connection.done = True
                                active -= 1
                                finished = now()
                                continue
                            if status != 201:
                                phase.errors += 1
                            else:
                                ids = [message["id"] for message in reply["body"]["messages"]]
                                phase.messages += len(ids)
                                connection.reply_handler = True
                                connection.send(connection.frame(
                                    "message_delete_many",
                                    {"queue_name": connection.queue, "message_ids": ids}))
                                continue
                        if now() >= deadline:
                            connection.done = True
                            active -= 1
                            finished = now()
                        else:
                            connection.send(connection.post_frame if post
                                            else connection.claim_frame)
        finally:
            poller.close()
        phase.seconds = finished - start
        return phase

    def delete_queues(self, queues):
        connection = self.connections[0]
        for queue in queues:
            connection.call("queue_delete", {"queue_name": queue})

    def close(self):
        for connection in self.connections:
            try:
                connection.sock.setblocking(True)
                connection.sock.sendall(client_frame(CLOSE, (1000).to_bytes(2, "big")))
            except OSError:
                pass
            connection.sock.close()


def _child(pipe, url, project, queues, first, count, args):
    """A load process: connects, then runs what the parent asks, one command at a time."""
    try:
        worker = Worker(url, project, queues, first, count, args)
        pipe.send("ready")
        while True:
            command = pipe.recv()
            if command[0] == "phase":
                pipe.send(worker.run(*command[1:]))
            elif command[0] == "delete":
                worker.delete_queues(queues)
                pipe.send("deleted")
            else:
                worker.close()
                pipe.send("closed")
                return
    except BaseException as exc:  # the parent reports it
        pipe.send(exc)
        raise


class Children:
    """Workers in processes of their own (``--processes`` > 1)."""

    def __init__(self, url, project, queues, shares, args):
        context = multiprocessing.get_context("fork")
        self.pipes, self.processes = [], []
        first = 0
        for count in shares:
            parent_end, child_end = context.Pipe()
            process = context.Process(target=_child, daemon=True, args=(
                child_end, url, project, queues, first, count, args))
            process.start()
            self.pipes.append(parent_end)
            self.processes.append(process)
            first += count
        self._gather()

    def _gather(self):
        results = []
        for pipe in self.pipes:
            result = pipe.recv()
            if isinstance(result, BaseException):
                raise result
            results.append(result)
        return results

    def run(self, name, start, deadline):
        for pipe in self.pipes:
            pipe.send(("phase", name, start, deadline))
        merged = Phase(name)
        for phase in self._gather():
            merged.merge(phase)
        return merged

    def delete_queues(self, queues):
        self.pipes[0].send(("delete",))
        self.pipes[0].recv()

    def close(self):
        for pipe in self.pipes:
            pipe.send(("close",))
        self._gather()
        for process in self.processes:
            process.join(10)


def main(args):
    project = f"ws-bench-{uuid.uuid4().hex}"
    queues = [f"bench-{index}" for index in range(args.queues)]
    processes = min(args.processes, args.connections)
    shares = [args.connections // processes + (index < args.connections % processes)
              for index in range(processes)]
    if processes == 1:
        load = Worker(args.url, project, queues, 0, args.connections, args)
    else:
        load = Children(args.url, project, queues, shares, args)
    print(f"{args.connections} connections to {args.url}, {args.queues} queues, "
          f"{args.batch} messages per request, {'MessagePack' if args.binary else 'JSON'}, "
          f"{args.duration} s per phase, {processes} load process"
          f"{'es' if processes > 1 else ''}", flush=True)
    try:
        for name in ("message_post", "claim"):
            start = time.monotonic() + 0.05
            load.run(name, start, start + args.duration).report()
    finally:
        try:
            load.delete_queues(queues)
        finally:
            load.close()


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="ws://127.0.0.1:9000")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--queues", type=int, default=8)
    parser.add_argument("--batch", type=int, default=1, help="messages per post or claim")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--binary", action="store_true", help="MessagePack instead of JSON")
    parser.add_argument("--processes", type=int, default=len(os.sched_getaffinity(0)),
                        help="load processes (default: one per CPU this process may use)")
    args = parser.parse_args(argv)
    if (args.connections < 1 or args.queues < 1 or args.processes < 1
            or not 1 <= args.batch <= 20):
        parser.error("--connections, --queues and --processes must be >= 1, "
                     "--batch within 1..20")
    return args


if __name__ == "__main__":
    main(parse(sys.argv[1:]))
