"""Idle WebSocket connections: how much memory each one costs the server.

Opens ``--connections`` WebSocket connections (10,000 by default) that send nothing, holds
them open, and reads the server's resident memory (``VmRSS`` of ``/proc/<pid>/status``, its
child processes included) before and after; prints the difference per connection, then
closes them all.  The client side spreads the connections over ``--processes`` processes,
which answer the server's pings while they hold them.

    .venv/bin/python bench/ws_idle.py         # starts zaqar-tw (pinned as bench/run does)
    .venv/bin/python bench/ws_idle.py --connections 2000
    .venv/bin/python bench/ws_idle.py --url ws://127.0.0.1:9000 --pid 1234   # running server

``bench/run --workloads ws_idle`` and ``bench/compare`` run it too (the line it prints is
parsed there).

Started here, zaqar-tw runs on the first CPU with a private redis-server and this client on
the last one, as in ``bench/run``.  The open-files limit is raised to its hard limit first
(the server inherits it); each connection takes one descriptor on each side and one local
port of 127.0.0.1.
"""

import argparse
import multiprocessing
import os
import select
import sys
import tempfile
import time

import ws_load
import zaqar_bench as zb

CONNECTIONS = zb.IDLE_CONNECTIONS
raise_open_files = zb.raise_open_files


def rss_kib(pid):
    """Resident memory of a process and its descendants, in KiB."""
    total = 0
    for each in [pid, *_descendants(pid)]:
        try:
            with open(f"/proc/{each}/status", encoding="ascii") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def _descendants(pid):
    found, stack = [], [pid]
    while stack:
        children = zb.children_of(stack.pop())
        found += children
        stack += children
    return found


def settled_rss(pid, timeout=15.0):
    """The server's RSS once it stops growing (two reads half a second apart within
    0.5 %), or after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last = rss_kib(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = rss_kib(pid)
        if abs(now - last) <= last * 0.005:
            return now
        last = now
    return last


def _hold(pipe, url, count):
    """A client process: opens ``count`` connections, holds them (answering pings) until
    told, then closes them."""
    connections = {}
    try:
        for _ in range(count):
            sock, rest = ws_load.handshake(url)
            sock.setblocking(False)
            connection = ws_load.Connection(sock, rest, {}, "idle", False, 1)
            connections[connection.fd] = connection
        pipe.send(len(connections))
        poller = select.epoll()
        for fd in connections:
            poller.register(fd, select.EPOLLIN)
        while not pipe.poll(0):
            for fd, _ in poller.poll(0.2):
                connection = connections[fd]
                try:
                    data = connection.sock.recv(65536)
                except BlockingIOError:
                    continue
                if not data:
                    raise ConnectionError("the server closed an idle connection")
                connection.feed(data)  # pings are answered there
        pipe.recv()
        poller.close()
    except BaseException as exc:  # the parent reports it
        pipe.send(exc)
        raise
    finally:
        for connection in connections.values():
            connection.sock.close()
    pipe.send("closed")


def measure(url, pid, connections=CONNECTIONS, processes=4, say=print):
    """Open ``connections`` idle connections to the server at ``url`` (process ``pid``) and
    measure its memory.

    :returns: ``{"connections", "before_kib", "after_kib", "per_connection_kib",
        "released_kib"}`` (``released_kib``: the RSS a second after they were closed).
    """
    raise_open_files(connections + 256)
    # Warm up: the first connections pay for what every later one shares.
    warm = [ws_load.handshake(url)[0] for _ in range(20)]
    for sock in warm:
        sock.close()
    time.sleep(0.5)
    before = settled_rss(pid)
    context = multiprocessing.get_context("fork")
    processes = max(1, min(processes, connections))
    shares = [connections // processes + (i < connections % processes)
              for i in range(processes)]
    pipes, children = [], []
    started = time.monotonic()
    try:
        for share in shares:
            parent_end, child_end = context.Pipe()
            child = context.Process(target=_hold, args=(child_end, url, share), daemon=True)
            child.start()
            pipes.append(parent_end)
            children.append(child)
        opened = 0
        for pipe in pipes:
            result = pipe.recv()
            if isinstance(result, BaseException):
                raise result
            opened += result
        say(f"{opened:,} connections open in {time.monotonic() - started:.1f} s")
        after = settled_rss(pid)
    finally:
        for pipe in pipes:
            try:
                pipe.send("close")
            except OSError:
                pass
        for pipe in pipes:
            try:
                pipe.recv()
            except (EOFError, OSError):
                pass
        for child in children:
            child.join(10)
    time.sleep(1.0)
    released = rss_kib(pid)
    return {
        "connections": opened,
        "before_kib": before,
        "after_kib": after,
        "per_connection_kib": (after - before) / opened,
        "released_kib": released,
    }


def line(result):
    """The figure's line (``zaqar_bench.IDLE_LINE`` parses it)."""
    return (f"ws_idle {result['connections']:>9} connections   RSS {result['before_kib']} -> "
            f"{result['after_kib']} KiB   {result['per_connection_kib']:.1f} KiB/connection   "
            f"({result['released_kib']} KiB once closed)")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="bench/ws_idle.py",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=CONNECTIONS,
                        help=f"idle connections to open ({CONNECTIONS})")
    parser.add_argument("--processes", type=int, default=4,
                        help="client processes holding them (4)")
    parser.add_argument("--url", default=None,
                        help="the WebSocket URL of a running server (needs --pid)")
    parser.add_argument("--pid", type=int, default=None,
                        help="with --url: the pid of that server, whose RSS is read")
    parser.add_argument("--server-cpus", default=None,
                        help="CPUs of the server started here (default: the first CPU)")
    parser.add_argument("--load-cpus", default=None,
                        help="CPUs of Redis and the clients (default: the last CPU)")
    parser.add_argument("--redis", default=None,
                        help="host:port of a running Redis (default: a private one)")
    parser.add_argument("--db", type=int, default=13, help="Redis database of zaqar-tw (13)")
    args = parser.parse_args(argv)
    if (args.url is None) != (args.pid is None):
        parser.error("--url and --pid go together")
    if args.connections < 1 or args.processes < 1:
        parser.error("--connections and --processes must be >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    limit = raise_open_files(args.connections + 256)
    if limit < args.connections + 64:
        raise SystemExit(f"the open-files limit is {limit}: too low for "
                         f"{args.connections} connections (ulimit -Hn)")
    if args.url is not None:
        zb.say(line(measure(args.url, args.pid, args.connections, args.processes, zb.say)))
        return
    server_cpus, load_cpus = zb.default_cpus(args.server_cpus, args.load_cpus)
    zb.say(f"machine: {zb.describe_machine()}")
    redis = zb.redis_target(args.redis, load_cpus)
    server = None
    try:
        redis.claim(args.db)
        logdir = tempfile.mkdtemp(prefix="zaqar-bench-")
        server = zb.ZaqarTw(redis, args.db, server_cpus, os.path.join(logdir, "zaqar-tw.log"),
                            websocket=True).start()
        os.sched_setaffinity(0, {int(cpu) for cpu in _cpus(load_cpus)})
        zb.say(f"pinning: zaqar-tw {server.pinning()} (taskset -c {server_cpus}); clients "
               f"({args.processes} processes) on CPU {load_cpus}; {redis.describe()}")
        zb.say(line(measure(server.ws_url, server.process.pid, args.connections,
                            args.processes, zb.say)))
    finally:
        if server is not None:
            server.stop()
        redis.close()


def _cpus(text):
    """The CPUs of a taskset list such as ``1`` or ``0-3,6``."""
    for part in text.split(","):
        first, _, last = part.partition("-")
        yield from range(int(first), int(last or first) + 1)


if __name__ == "__main__":
    sys.exit(main())
