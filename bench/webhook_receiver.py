"""The webhook receiver of the ``notify`` workload: counts the notifications POSTed to it and
how long each took to arrive.

    python bench/webhook_receiver.py --port 8123 --processes 2

Each notification's message body carries ``"sent": <microseconds>``, read from
``CLOCK_MONOTONIC`` by the load generator just before it sent the post; the receiver reads
the same clock when the notification's request is complete, so the difference is the
delivery latency (one machine, one clock).  Every request is answered
``204 No Content`` on a keep-alive connection, whatever its path.

It is lean so that it is never what sets the pace: plain non-blocking sockets and ``epoll``,
only the request line, the ``Content-Length`` header and the ``"sent"`` field are looked at,
and the answers to the requests one read completes go out in one ``send``.  With
``--processes N`` (default: one per CPU it may use) N processes accept on the port
(``SO_REUSEPORT``) and their counts are merged.

It prints ``listening 127.0.0.1:PORT`` once ready, then answers commands read from stdin,
one a line, each with one line of JSON on stdout:

* ``reset``: forget what was counted; ``{"reset": true}``.
* ``count``: ``{"requests"}`` since the last reset (cheap, for polling).
* ``report``: ``{"requests", "timed", "untimed", "latencies_us" (of the timed ones, sorted),
  "by_path" ({path: requests}), "connections" (accepted)}`` since the last reset.

End of input stops it.
"""

import argparse
import json
import multiprocessing
import os
import select
import socket
import sys
import time

RESPONSE = b"HTTP/1.1 204 No Content\r\n\r\n"
SENT = b'"sent":'
DIGITS = frozenset(b"0123456789")


class Counts:
    """What one process received since the last reset."""

    def __init__(self):
        self.requests = 0
        self.connections = 0
        self.untimed = 0
        self.latencies = []
        self.by_path = {}

    def as_dict(self):
        return {"requests": self.requests, "timed": len(self.latencies),
                "untimed": self.untimed, "latencies_us": self.latencies,
                "connections": self.connections,
                "by_path": {path.decode("latin-1"): count
                            for path, count in self.by_path.items()}}


def sent_us(body):
    """The ``"sent"`` microseconds in a notification body, or ``None``."""
    at = body.find(SENT)
    if at < 0:
        return None
    at += len(SENT)
    end = at
    while end < len(body) and body[end] in DIGITS:
        end += 1
    return int(body[at:end]) if end > at else None


def handle(buffer, counts, clock):
    """Take the whole requests at the start of ``buffer``; :returns: ``(answers, rest)``."""
    answers = 0
    while True:
        head_end = buffer.find(b"\r\n\r\n")
        if head_end < 0:
            break
        length = 0
        at = buffer.find(b"ontent-Length:", 0, head_end)  # Twisted's spelling
        if at < 0:
            at = buffer[:head_end].lower().find(b"ontent-length:")
        if at >= 0:
            line_end = buffer.find(b"\r\n", at)
            length = int(buffer[at + 14:line_end])
        end = head_end + 4 + length
        if len(buffer) < end:
            break
        now = clock()
        space = buffer.find(b" ")
        path = buffer[space + 1:buffer.find(b" ", space + 1)]
        counts.by_path[path] = counts.by_path.get(path, 0) + 1
        counts.requests += 1
        sent = sent_us(buffer[head_end + 4:end])
        if sent is None:
            counts.untimed += 1
        else:
            counts.latencies.append(now - sent)
        answers += 1
        buffer = buffer[end:]
    return answers, buffer


def serve(port, control):
    """Accept and answer on ``port`` (``SO_REUSEPORT``) until ``control`` (a connection
    to the parent) closes; answer its ``reset`` and ``report`` commands."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(1024)
    listener.setblocking(False)
    poller = select.epoll()
    poller.register(listener.fileno(), select.EPOLLIN)
    poller.register(control.fileno(), select.EPOLLIN)
    control.send("ready")
    sockets, buffers = {}, {}
    counts = Counts()
    clock_ns = time.monotonic_ns

    def clock():
        return clock_ns() // 1000

    listening, commands = listener.fileno(), control.fileno()
    while True:
        for fd, _ in poller.poll():
            if fd == listening:
                while True:
                    try:
                        sock, _ = listener.accept()
                    except BlockingIOError:
                        break
                    counts.connections += 1
                    sock.setblocking(False)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    sockets[sock.fileno()] = sock
                    buffers[sock.fileno()] = b""
                    poller.register(sock.fileno(), select.EPOLLIN)
                continue
            if fd == commands:
                try:
                    command = control.recv()
                except EOFError:
                    return
                if command == "reset":
                    counts = Counts()
                    control.send(None)
                elif command == "count":
                    control.send({"requests": counts.requests})
                else:
                    control.send(counts.as_dict())
                continue
            sock = sockets[fd]
            try:
                data = sock.recv(262144)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                poller.unregister(fd)
                del sockets[fd], buffers[fd]
                sock.close()
                continue
            buffer = buffers[fd]
            answers, buffers[fd] = handle(buffer + data if buffer else data, counts, clock)
            if answers:
                # The answers are tiny: the socket's buffer takes them at once.
                sock.send(RESPONSE * answers)


def merged(reports):
    """One report out of those of every process."""
    total = {"requests": 0, "timed": 0, "untimed": 0, "connections": 0, "latencies_us": [],
             "by_path": {}}
    for report in reports:
        for key in ("requests", "timed", "untimed", "connections"):
            total[key] += report[key]
        total["latencies_us"] += report["latencies_us"]
        for path, count in report["by_path"].items():
            total["by_path"][path] = total["by_path"].get(path, 0) + count
    total["latencies_us"].sort()
    return total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--processes", type=int, default=len(os.sched_getaffinity(0)),
                        help="processes accepting on the port (default: one per CPU this "
                             "process may use)")
    args = parser.parse_args(argv)
    context = multiprocessing.get_context("fork")
    pipes, processes = [], []
    for _ in range(max(1, args.processes)):
        parent_end, child_end = context.Pipe()
        process = context.Process(target=serve, args=(args.port, child_end), daemon=True)
        process.start()
        child_end.close()
        pipes.append(parent_end)
        processes.append(process)
    for pipe in pipes:
        pipe.recv()
    print(f"listening 127.0.0.1:{args.port}", flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command not in ("reset", "count", "report"):
            print(json.dumps({"error": f"unknown command {command!r}"}), flush=True)
            continue
        for pipe in pipes:
            pipe.send(command)
        replies = [pipe.recv() for pipe in pipes]
        if command == "reset":
            print(json.dumps({"reset": True}), flush=True)
        elif command == "count":
            print(json.dumps({"requests": sum(r["requests"] for r in replies)}), flush=True)
        else:
            print(json.dumps(merged(replies)), flush=True)
    for pipe in pipes:
        pipe.close()
    for process in processes:
        process.join(5)


if __name__ == "__main__":
    main()
