"""How the store's cost grows with a queue's size, and what one tenant's big queue does to
another tenant (the ``scale`` and ``bystander`` workloads of bench/README.md).

Runs the Redis store of zaqar-tw in this process against a private ``redis-server`` (or
``--redis host:port``, database 13 unless ``--db``), without the HTTP layer, so the figures
are the store's own: one script call per operation, timed from the call to its answer.

``scale``: for queues of 1,000, 10,000 and 100,000 messages, the median and p99 time of

* ``list own``: the producer lists its own queue with the default ``echo=false`` (every
  message is its own, so none may be shown);
* ``list other``: another client lists the same queue (a page of 10);
* ``claim delayed``: a claim on a queue whose messages are all delayed (none claimable);
* ``claim``: a claim of 10 messages (then released).

``bystander``: with 100,000 messages in tenant A's queues, tenant B posts one message at a
time to its own queue, first alone, then while A lists its queue and claims from its delayed
queue without pause; B's post latency (p50, p99, max) in both cases.

    .venv/bin/python bench/store_scale.py [--sizes 1000,10000,100000] [--redis HOST:PORT]
"""

import argparse
import os
import statistics
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from zaqar_bench import RedisTarget  # noqa: E402

BATCH = 1000
SAMPLES = 30
BYSTANDER_POSTS = 300


def _ms(samples):
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1000, p99 * 1000, ordered[-1] * 1000


async def _timed(call, *args, **kwargs):
    started = time.perf_counter()
    result = await call(*args, **kwargs)
    return time.perf_counter() - started, result


async def _fill(store, project, queue, count, client_id, delay=0):
    for start in range(0, count, BATCH):
        messages = [{"ttl": 3600, "delay": delay, "body": {"n": n, "pad": "x" * 100}}
                    for n in range(start, min(count, start + BATCH))]
        await store.messages.post(project, queue, messages, client_id)


async def scale(store, sizes):
    print(f"{'messages':>9}  {'operation':<14} {'median ms':>10} {'p99 ms':>8}")
    project = "scale-" + uuid.uuid4().hex[:8]
    producer, consumer = str(uuid.uuid4()), str(uuid.uuid4())
    for size in sizes:
        plain, delayed = f"plain{size}", f"delayed{size}"
        await _fill(store, project, plain, size, producer)
        await _fill(store, project, delayed, size, producer, delay=900)
        operations = {
            "list own": lambda: store.messages.list(project, plain, limit=10,
                                                    client_id=producer),
            "list other": lambda: store.messages.list(project, plain, limit=10,
                                                      client_id=consumer),
            "claim delayed": lambda: store.claims.create(project, delayed, 300, 60, 10),
        }
        for name, call in operations.items():
            times = [(await _timed(call))[0] for _ in range(SAMPLES)]
            median, p99, _ = _ms(times)
            print(f"{size:>9}  {name:<14} {median:>10.2f} {p99:>8.2f}")
        times = []
        for _ in range(SAMPLES):
            spent, (claim_id, _) = await _timed(store.claims.create, project, plain, 300, 60, 10)
            times.append(spent)
            await store.claims.delete(project, plain, claim_id)
        median, p99, _ = _ms(times)
        print(f"{size:>9}  {'claim':<14} {median:>10.2f} {p99:>8.2f}")
        await store.queues.delete(project, plain)
        await store.queues.delete(project, delayed)


async def bystander(store, size):
    from twisted.internet.defer import Deferred

    busy_project, quiet_project = "busy-" + uuid.uuid4().hex[:8], "quiet-" + uuid.uuid4().hex[:8]
    producer, quiet = str(uuid.uuid4()), str(uuid.uuid4())
    await _fill(store, busy_project, "big", size, producer)
    await _fill(store, busy_project, "later", size, producer, delay=900)

    async def posts():
        times = []
        for n in range(BYSTANDER_POSTS):
            spent, _ = await _timed(store.messages.post, quiet_project, "mine",
                                    [{"ttl": 3600, "delay": 0, "body": n}], quiet)
            times.append(spent)
        return times

    alone = await posts()
    running = [True]

    async def load():
        while running[0]:
            await store.messages.list(busy_project, "big", limit=10, client_id=producer)
            await store.claims.create(busy_project, "later", 300, 60, 10)

    loads = [Deferred.fromCoroutine(load()) for _ in range(4)]
    beside = await posts()
    running[0] = False
    for each in loads:
        await each
    print(f"bystander: tenant B posts one message; tenant A has {size:,} messages")
    for label, times in (("alone", alone), ("while A lists and claims", beside)):
        p50, p99, worst = _ms(times)
        print(f"  {label:<26} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  max {worst:6.2f} ms")
    for queue in ("big", "later"):
        await store.queues.delete(busy_project, queue)
    await store.queues.delete(quiet_project, "mine")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--redis", help="host:port of a running Redis (default: a private one)")
    parser.add_argument("--db", type=int, default=13)
    parser.add_argument("--workloads", default="scale,bystander")
    options = parser.parse_args(argv)
    sizes = [int(size) for size in options.sizes.split(",")]
    host, port = (options.redis.split(":") if options.redis else (None, None))
    redis = RedisTarget(host, int(port) if port else None)
    redis.claim(options.db)
    try:
        from twisted.internet import task
        from twisted.internet.defer import Deferred

        from zaqar_tw.storage.redis.store import RedisStorage

        async def run(reactor):
            store = RedisStorage(reactor, redis.uri(options.db))
            await store.connect()
            try:
                workloads = options.workloads.split(",")
                if "scale" in workloads:
                    await scale(store, sizes)
                if "bystander" in workloads:
                    await bystander(store, max(sizes))
            finally:
                await store.close()

        task.react(lambda reactor: Deferred.fromCoroutine(run(reactor)))
    finally:
        redis.close()


if __name__ == "__main__":
    main()
