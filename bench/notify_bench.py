"""The ``notify`` workload of ``bench/run``: notification fan-out to webhook subscribers.

One run: a fresh queue of a fresh project gets ``--subscribers`` webhook subscriptions, all
pointing at ``bench/webhook_receiver.py`` (started here, pinned with the load generator);
wrk posts one ~200-byte message per request to the queue (``workloads.lua``, workload
``notify``) over a fixed number of connections, as fast as it can or paced at a rate; when
wrk stops, the run waits for the deliveries still in flight to arrive.  Each message body
carries the time its post was sent, so the receiver measures each notification's delivery
latency.

Figures: posts/s accepted, notifications delivered/s, delivery latency p50/p99, the server's
CPU per delivered notification (the posts' own cost included), and the notifications that
were expected (messages stored x subscribers) but never arrived, with what the server's log
says about them (``notification backlog full``: dropped past ``[notification] max_backlog``;
failed deliveries).  Also the CPU share of every process while wrk ran, so that the load
side's headroom can be read.
"""

import glob
import json
import os
import re
import resource
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field

import zaqar_bench as zb

RECEIVER = os.path.join(zb.BENCH, "webhook_receiver.py")
# How long the deliveries still arriving after the posts stopped are waited for: the run
# ends once all that were expected came or none came for QUIET seconds, and after
# DRAIN_LIMIT seconds at most (the service's delivery timeout is 10 s).
QUIET = 1.0
DRAIN_LIMIT = 20.0

# The server sums its drops up in one warning at most every 10 s, naming the latest queue;
# each run posts one message per post to one queue of a fresh project, so a batch (the
# messages of one post for one subscription) is one notification.
_DROPPED = re.compile(
    r"(\d+) notification batch\(es\) dropped .*the latest for queue (\S+) \(project (\S+)\)"
)
_FAILED = re.compile(r"notification of subscription \S+ of queue (\S+) \(project (\S+)\) to ")


class Receiver:
    """``bench/webhook_receiver.py``, pinned to ``cpus``, driven through its stdin.

    :ivar port: the port it listens on (127.0.0.1).
    """

    def __init__(self, cpus, processes=None):
        self.port = zb.free_port()
        argv = [sys.executable, RECEIVER, "--port", str(self.port)]
        if processes:
            argv += ["--processes", str(processes)]
        self.process = subprocess.Popen(
            zb.pinned(cpus, argv),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        line = self.process.stdout.readline()
        if not line.startswith("listening"):
            self.process.kill()
            raise RuntimeError(f"bench/webhook_receiver.py did not start: {line!r}")

    def command(self, name):
        """Send one command; :returns: its JSON answer."""
        self.process.stdin.write(name + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def cpu_seconds(self):
        return zb.cpu_seconds([self.process.pid])

    def pinning(self):
        pids = zb.children_of(self.process.pid)
        return (f"pid {self.process.pid} (control) and {len(pids)} receiving process"
                f"{'es' if len(pids) > 1 else ''} on CPU {zb.affinity_of(pids[0])}")

    def close(self):
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class NotifyFigures:
    """What one run of ``notify`` measured.

    :ivar rate: posts accepted (201) per second.
    :ivar delivered_per_s: notifications the receiver got per second while wrk ran.
    :ivar p50_ms: median delivery latency (post sent -> notification received), in ms.
    :ivar p99_ms: its 99th percentile.
    :ivar cpu_us: server CPU (from the first post to the last delivery) per delivered
        notification, in microseconds.
    :ivar expected: messages stored (posts accepted, those still in flight when wrk
        stopped included) x subscribers.
    :ivar unanswered: posts stored whose answer wrk did not count (in flight when it
        stopped).
    :ivar delivered: notifications received, the drain included.
    :ivar dropped_logged: notifications the server logged as dropped (backlog full).
    :ivar failed_logged: deliveries the server logged as failed.
    :ivar drain_s: how long deliveries went on after wrk stopped.
    :ivar drain_per_s: notifications delivered per second meanwhile (no posts competing;
        ``nan`` when the drain took less than half a second).
    :ivar busy: share of one CPU each process used while wrk ran (``server``, ``wrk``,
        ``receiver``, ``redis``).
    """

    workload: str
    rate: float
    subscribers: int
    delivered_per_s: float
    p50_ms: float
    p99_ms: float
    post_p50_ms: float
    post_p99_ms: float
    cpu_us: float
    expected: int
    unanswered: int
    delivered: int
    dropped_logged: int
    failed_logged: int
    drain_s: float
    drain_per_s: float
    receiver_connections: int
    per_subscriber: tuple
    busy: dict
    unit: str = "posts/s"
    notes: list = field(default_factory=list)

    @property
    def lost(self):
        return self.expected - self.delivered

    @property
    def unaccounted(self):
        """Notifications neither delivered nor logged as dropped or failed."""
        return self.lost - self.dropped_logged - self.failed_logged

    def line(self):
        pad = " " * 18
        lost_share = self.lost / self.expected * 100 if self.expected else 0.0
        text = (
            f"{self.workload:<17} {self.rate:>10,.0f} posts/s x {self.subscribers} "
            f"subscribers   delivered {self.delivered_per_s:,.0f}/s   "
            f"delivery p50 {self.p50_ms:.2f} ms  p99 {self.p99_ms:.2f} ms   "
            f"server CPU {self.cpu_us:,.0f} us/notification\n"
            f"{pad}expected {self.expected:,}  delivered {self.delivered:,}  "
            f"not delivered {self.lost:,} ({lost_share:.1f}%; logged: dropped "
            f"{self.dropped_logged:,}, failed {self.failed_logged:,})  drained in "
            f"{self.drain_s:.1f} s ({self.drain_per_s:,.0f}/s)  per subscriber {self.per_subscriber[0]:,}.."
            f"{self.per_subscriber[1]:,}  post p50 {self.post_p50_ms:.2f} ms  "
            f"p99 {self.post_p99_ms:.2f} ms  receiver connections "
            f"{self.receiver_connections:,}\n"
            f"{pad}CPU while wrk ran (share of one CPU): "
            + ", ".join(f"{name} {share:.0%}" for name, share in self.busy.items())
        )
        notes = list(self.notes)
        if self.unaccounted:
            notes.append(f"{self.unaccounted:,} notifications neither delivered nor logged; "
                         f"{self.unanswered} posts were stored but in flight when wrk "
                         f"stopped")
        if notes:
            text += "\n" + pad + "(" + "; ".join(notes) + ")"
        return text


def percentile(ordered, fraction):
    """A percentile of a sorted list (``nan`` if empty)."""
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class NotifyBench:
    """Runs ``notify`` against a zaqar-tw started by the benchmark.

    :param server: the :class:`~zaqar_bench.ZaqarTw` (its CPU time and log are read).
    :param redis: the :class:`~zaqar_bench.RedisTarget` (its CPU time is read when private).
    :param receiver: the :class:`Receiver`.
    :param load_cpus: where wrk runs.
    :param duration: seconds wrk posts for, in each run.
    :param connections: wrk's connections when it posts as fast as it can (paced runs
        use :data:`~zaqar_bench.PACED_CONNECTIONS`).
    :param subscribers: webhook subscriptions of each run's queue.
    """

    def __init__(self, server, redis, receiver, load_cpus, duration, connections,
                 subscribers):
        self.server = server
        self.receiver = receiver
        self.load_cpus = load_cpus
        self.duration = duration
        self.connections = connections
        self.subscribers = subscribers
        self._runs = 0
        self._redis_pid = redis.pid if redis.process is not None else None

    def _subscribe(self, project, queue):
        for index in range(self.subscribers):
            subscriber = f"http://127.0.0.1:{self.receiver.port}/{project}/{queue}/{index}"
            status, body = zb.request(self.server.url, "POST",
                                      f"/v2/queues/{queue}/subscriptions",
                                      {"subscriber": subscriber, "ttl": 3600},
                                      project=project)
            if status != 201:
                raise RuntimeError(f"subscribing {subscriber} failed: {status} {body!r}")

    def _cpu(self):
        """CPU seconds so far of the server, the receiver and the private Redis, and of
        the waited-for children of this process (wrk)."""
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return {
            "server": self.server.cpu_seconds(),
            "wrk": children.ru_utime + children.ru_stime,
            "receiver": self.receiver.cpu_seconds(),
            "redis": zb.cpu_seconds([self._redis_pid]) if self._redis_pid else None,
        }

    def run(self, rate=None, name="notify"):
        """One run, as fast as wrk goes or paced at ``rate`` posts/s;
        :returns: :class:`NotifyFigures`."""
        self._runs += 1
        project = f"bench-notify-{uuid.uuid4().hex[:12]}"
        queue = f"notify-{self._runs}"
        self._subscribe(project, queue)
        prefix = f"/{project}/{queue}/"
        connections = zb.PACED_CONNECTIONS if rate else self.connections
        self.receiver.command("reset")
        before = self._cpu()
        started = time.monotonic()
        raw = zb.run_wrk(self.server.url, "notify", project, queue, self.duration,
                         connections, self.load_cpus, rate)
        wrk_wall = time.monotonic() - started
        at_wrk_end = self._cpu()
        during = self.receiver.command("count")["requests"]
        # The messages stored, not wrk's count of 201s: the posts in flight when wrk
        # stopped were stored and notified too.
        stored = self._stored(project, queue)
        expected = stored * self.subscribers
        drained, finished = self._drain(during, expected)
        after = self._cpu()
        report = self.receiver.command("report")
        dropped, failed = self._logged(project)
        mine = {path: n for path, n in report["by_path"].items() if path.startswith(prefix)}
        delivered = sum(mine.values())
        latencies = report["latencies_us"]
        seconds = raw["duration_us"] / 1e6
        notes = []
        errors = {kind: n for kind, n in raw["errors"].items() if n}
        if errors:
            notes.append("wrk errors " + ", ".join(f"{k} {v}" for k, v in errors.items()))
        if raw["unexpected"]:
            notes.append(f"{raw['unexpected']} posts not answered 201")
        if report["requests"] != delivered:
            notes.append(f"{report['requests'] - delivered} requests to other paths")
        if report["untimed"]:
            notes.append(f"{report['untimed']} notifications without a send time")
        if not finished:
            notes.append(f"still delivering after {DRAIN_LIMIT:.0f} s")
        busy = {}
        for key in ("server", "wrk", "receiver", "redis"):
            if before[key] is not None:
                busy[key] = (at_wrk_end[key] - before[key]) / wrk_wall
        return NotifyFigures(
            workload=name, rate=(raw["requests"] - raw["unexpected"]) / seconds,
            subscribers=self.subscribers,
            delivered_per_s=during / seconds,
            p50_ms=percentile(latencies, 0.50) / 1000,
            p99_ms=percentile(latencies, 0.99) / 1000,
            post_p50_ms=raw["p50_us"] / 1000, post_p99_ms=raw["p99_us"] / 1000,
            cpu_us=(after["server"] - before["server"]) * 1e6 / delivered if delivered
            else float("nan"),
            expected=expected, unanswered=stored - (raw["requests"] - raw["unexpected"]),
            delivered=delivered, dropped_logged=dropped,
            failed_logged=failed, drain_s=drained,
            drain_per_s=(delivered - during) / drained if drained >= 0.5 else float("nan"),
            receiver_connections=report["connections"],
            per_subscriber=(min(mine.values(), default=0), max(mine.values(), default=0)),
            busy=busy, notes=notes,
        )

    def _drain(self, count, expected):
        """Wait for the deliveries still arriving (``count`` arrived so far, ``expected``
        at most); :returns: how long they went on arriving (s), and whether they stopped
        before :data:`DRAIN_LIMIT`."""
        start = last_change = time.monotonic()
        while time.monotonic() - start < DRAIN_LIMIT:
            time.sleep(0.1)
            now = self.receiver.command("count")["requests"]
            if now != count:
                count, last_change = now, time.monotonic()
            if count >= expected or time.monotonic() - last_change >= QUIET:
                return last_change - start, True
        return last_change - start, False

    def _stored(self, project, queue):
        """How many messages the queue holds (none expire or are consumed in a run)."""
        status, body = zb.request(self.server.url, "GET", f"/v2/queues/{queue}/stats",
                                  project=project)
        if status != 200:
            raise RuntimeError(f"stats of {queue} failed: {status} {body!r}")
        return json.loads(body)["messages"]["total"]

    def _logged(self, project):
        """Notifications of ``project`` (one run's) the server's log reports as dropped,
        and deliveries it reports as failed.  twistd rotates its log every megabyte
        (``zaqar-tw.log.1``, ...): every file is read."""
        dropped = failed = 0
        needle = project.encode()
        for path in [self.server.log_path, *glob.glob(self.server.log_path + ".*")]:
            with open(path, "rb") as handle:
                lines = [line.decode("utf-8", "replace") for line in handle
                         if needle in line]
            for line in lines:
                match = _DROPPED.search(line)
                if match and match[3] == project:
                    dropped += int(match[1])
                match = _FAILED.search(line)
                if match and match[2] == project:
                    failed += 1
        return dropped, failed


def run(args, server, redis, load_cpus):
    """``notify`` as ``bench/run`` asked: as fast as possible then at half the delivered
    rate (unless ``--no-half``), or paced at ``--rate``; :returns: the
    :class:`NotifyFigures` of each run."""
    receiver = Receiver(load_cpus, args.receiver_processes)
    try:
        options = ", ".join(f"{k} = {v}" for k, v in server.notification.items())
        zb.say(f"notify: bench/webhook_receiver.py {receiver.pinning()} (taskset -c "
               f"{load_cpus}), port {receiver.port}; {args.subscribers} webhook subscribers; "
               f"zaqar-tw [notification] {options or 'defaults'}")
        bench = NotifyBench(server, redis, receiver, load_cpus, args.duration,
                            args.connections, args.subscribers)
        if args.rate:
            return [bench.run(rate=args.rate, name="notify@rate")]
        peak = bench.run()
        results = [peak]
        if not args.no_half:
            # Half the post rate whose notifications the server delivered.
            rate = max(1, round(peak.delivered_per_s / args.subscribers / 2))
            results.append(bench.run(rate=rate, name="notify@half"))
        return results
    finally:
        receiver.close()
