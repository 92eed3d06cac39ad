"""Redis memory per message and per queue, as the store lays them out, and Redis CPU per
post (the figures of the paper estimate in docs/scaling.md).

Runs the Redis store of zaqar-tw in this process against a private ``redis-server`` (no
persistence) and reads ``used_memory`` (``INFO memory``) before and after:

* ``message``: posting ``--messages`` messages of a ~200-byte JSON body (the body of the
  ``post1`` workload), ten a request, to one queue;
* ``queue``: creating ``--queues`` queues (empty, no metadata) in one project;
* ``queue with a message``: posting one such message to each of those queues;

and the Redis CPU time (``used_cpu_user`` + ``used_cpu_sys`` of ``INFO cpu``) per request of
the first and last phases (a post of ten messages, a post of one).

    .venv/bin/python bench/store_memory.py [--messages 100000] [--queues 100000]
"""

import argparse
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from zaqar_bench import RedisTarget  # noqa: E402

BODY = {"event": "order.created", "id": "5f8c2a1e-7b7d-4c3e-9a62-1f2e3d4c5b6a",
        "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
        "items": [{"sku": "X-1", "qty": 2}, {"sku": "Y-9", "qty": 1}], "total": 42.5}
CONCURRENCY = 64


def _info(redis, section):
    client = redis.client()
    try:
        info = client.call("INFO", section).decode()
    finally:
        client.close()
    return dict(line.split(":", 1) for line in info.splitlines() if ":" in line)


def used_memory(redis):
    return int(_info(redis, "memory")["used_memory"])


def used_cpu(redis):
    """Seconds of CPU the server has used."""
    info = _info(redis, "cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def _in_parallel(reactor, count, one):
    from twisted.internet.defer import Deferred, gatherResults

    async def lane(start):
        for i in range(start, count, CONCURRENCY):
            await one(i)

    await gatherResults([Deferred.fromCoroutine(lane(s)) for s in range(CONCURRENCY)])


async def measure(reactor, args):
    from zaqar_tw.storage.redis.store import RedisStorage

    redis = RedisTarget()
    storage = RedisStorage(reactor, redis.uri(0))
    try:
        await storage.connect()
        project = uuid.uuid4().hex
        figures = []

        before, cpu = used_memory(redis), used_cpu(redis)

        async def post(i):
            await storage.messages.post(
                project, "big", [{"ttl": 3600, "body": BODY}] * 10, "client")

        await _in_parallel(reactor, args.messages // 10, post)
        figures.append(("message (~200-byte body)", args.messages,
                        used_memory(redis) - before))
        cpu_figures = [("post of 10 messages", (used_cpu(redis) - cpu) / (args.messages // 10))]

        before = used_memory(redis)

        async def create(i):
            await storage.queues.create(project, f"queue-{i:07d}", {})

        await _in_parallel(reactor, args.queues, create)
        figures.append(("queue (empty)", args.queues, used_memory(redis) - before))

        before, cpu = used_memory(redis), used_cpu(redis)

        async def first(i):
            await storage.messages.post(
                project, f"queue-{i:07d}", [{"ttl": 3600, "body": BODY}], "client")

        await _in_parallel(reactor, args.queues, first)
        figures.append(("first message of a queue", args.queues,
                        used_memory(redis) - before))
        cpu_figures.append(("post of 1 message", (used_cpu(redis) - cpu) / args.queues))
        for what, count, grown in figures:
            print(f"{what:28} {count:>9,} x  {grown / count:8.0f} bytes each "
                  f"({grown / 2**20:.1f} MiB)")
        for what, seconds in cpu_figures:
            print(f"Redis CPU per {what:20} {seconds * 1e6:8.1f} us")
    finally:
        await storage.close()
        redis.close()


def main():
    parser = argparse.ArgumentParser(prog="bench/store_memory.py", description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--queues", type=int, default=100_000)
    args = parser.parse_args()
    from twisted.internet import defer, task

    task.react(lambda reactor: defer.Deferred.fromCoroutine(measure(reactor, args)))


if __name__ == "__main__":
    main()
