"""Benchmark workloads for zaqar-tw (and, through ``bench/compare``, OpenStack Zaqar).

Run ``bench/run --help``.  Each REST workload is driven by wrk with ``bench/workloads.lua``
and prints its throughput and its p50 and p99 latencies; the server runs pinned to one CPU
and wrk to another (``taskset``), and the pinning is printed.  Only the standard library is
used here, so ``bench/compare`` can import this module from any Python.

Redis: the server under test uses its own database number (default 13).  On a Redis given
with ``--redis``, a database is only used if it is empty or holds this benchmark's marker
key, its keys are deleted when the run ends, and database 0 is refused.
By default that Redis is a private ``redis-server`` started for the run, pinned with the
load generator.
"""

import argparse
import http.client
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field

# Run as bench/run, this module is __main__; bench/notify_bench.py imports it by name and
# must get this same module, not a second copy.
sys.modules.setdefault("zaqar_bench", sys.modules[__name__])

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
LUA = os.path.join(BENCH, "workloads.lua")
# The WebSocket load generator (Python, a lean client of its own).
WS_LOAD = os.path.join(BENCH, "ws_load.py")
# Idle WebSocket connections and the server's memory (bench/ws_idle.py).
WS_IDLE = os.path.join(BENCH, "ws_idle.py")
IDLE_CONNECTIONS = 10_000

REST_WORKLOADS = ("post1", "post10", "list", "claim_delete")
WS_WORKLOADS = ("ws_post", "ws_claim_delete")
IDLE_WORKLOAD = "ws_idle"
# Notification fan-out to webhook subscribers (bench/notify_bench.py).
NOTIFY_WORKLOAD = "notify"
WORKLOADS = REST_WORKLOADS + WS_WORKLOADS + (IDLE_WORKLOAD, NOTIFY_WORKLOAD)
# Workloads whose latency is also measured at half the peak rate.
HALF_PEAK = ("post1", "claim_delete")
MARKER = "zaqar-bench:owner"
# Connections of the load generator: enough to keep a server busy while its requests wait
# for Redis (with 16, zaqar-tw idled a fifth of the time; Zaqar's 4 threads are busy from 4).
CONNECTIONS = 64
# Connections of the paced runs: many, each mostly waiting, so a request seldom waits for
# the previous one of its connection and the achieved rate stays near the asked one.
PACED_CONNECTIONS = 64

# One message as the REST workloads post it (the same body as workloads.lua).
MESSAGE = {
    "ttl": 3600,
    "body": {
        "event": "order.created",
        "order": {
            "id": "ord-0001-8841", "customer": "cust-2071",
            "items": [{"sku": "SKU-1138", "qty": 2, "price": 19.99},
                      {"sku": "SKU-2187", "qty": 1, "price": 5.25}],
            "total": 45.23, "currency": "EUR",
        },
        "source": "bench",
    },
}


def say(*parts):
    """Print at once (the output is read while long runs go on)."""
    print(*parts, flush=True)


# -- tools ----------------------------------------------------------------------------------

def ensure_wrk():
    """:returns: the path of wrk, installing Debian's package if it is missing (as root).

    :raises SystemExit: wrk is missing and cannot be installed here.
    """
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say("wrk is missing: installing Debian's package (apt-get install wrk)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, env=env)
        found = shutil.which("wrk")
        if found:
            return found
    raise SystemExit("wrk is needed: install it (Debian/Ubuntu: apt-get install wrk)")


def cpu_list():
    """The CPUs this process may run on."""
    return sorted(os.sched_getaffinity(0))


def pinned(cpus, argv):
    """``argv`` run under ``taskset -c cpus``."""
    return ["taskset", "-c", cpus, *argv]


def affinity_of(pid):
    """The CPUs a process may run on, as taskset writes them (``0``, ``0-1``)."""
    try:
        cpus = sorted(os.sched_getaffinity(pid))
    except OSError:
        return "?"
    if len(cpus) > 1 and cpus == list(range(cpus[0], cpus[-1] + 1)):
        return f"{cpus[0]}-{cpus[-1]}"
    return ",".join(str(cpu) for cpu in cpus)


def raise_open_files(wanted):
    """Raise this process's open-files limit (inherited by the servers and clients it
    starts) towards ``wanted``, up to the hard limit; :returns: the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard == resource.RLIM_INFINITY else min(hard, max(soft, wanted))
    if soft != resource.RLIM_INFINITY and target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def free_port():
    """A TCP port of 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(predicate, timeout, what):
    """Poll ``predicate`` until it is true; :raises RuntimeError: after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}")


# -- Redis ------------------------------------------------------------------------------------

class RedisError(Exception):
    """An error reply of Redis."""


class Redis:
    """A minimal blocking Redis client (RESP2), enough to prepare and clean a database."""

    def __init__(self, host, port, db=0, timeout=10):
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._file = self._sock.makefile("rb")
        if db:
            self.call("SELECT", db)

    def call(self, *args):
        """Send one command; :returns: its reply; :raises RedisError: on an error reply."""
        parts = [b"*%d\r\n" % len(args)]
        for arg in args:
            arg = arg if isinstance(arg, bytes) else str(arg).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
        self._sock.sendall(b"".join(parts))
        return self._reply()

    def _reply(self):
        line = self._file.readline()
        if not line:
            raise ConnectionError("Redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            data = self._file.read(size + 2)
            return data[:-2]
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [self._reply() for _ in range(count)]
        raise RedisError(f"unexpected reply {line!r}")

    def close(self):
        self._file.close()
        self._sock.close()


def redis_answers(host, port):
    """Whether a Redis at ``host:port`` answers PING."""
    try:
        client = Redis(host, port, timeout=2)
    except OSError:
        return False
    try:
        return client.call("PING") == "PONG"
    finally:
        client.close()


class RedisTarget:
    """The Redis server the benchmark uses, and the databases it may use there.

    By default a private ``redis-server`` is started for the run (no persistence), pinned
    to the load generator's CPUs so that the server under test has its CPU to itself; given
    ``host`` and ``port``, an existing server is used instead.

    :ivar host: its host.
    :ivar port: its port.
    :ivar process: the private redis-server, or ``None``.
    """

    def __init__(self, host=None, port=None, cpus=None):
        self.host = host
        self.port = port
        self.process = None
        self._claimed = []
        if host is None:
            self._start_private(cpus)
        elif not self._answers():
            raise SystemExit(f"no Redis answers at {host}:{port}")

    def _answers(self):
        return redis_answers(self.host, self.port)

    def _start_private(self, cpus):
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server is needed (Debian: apt-get install redis-server), "
                             "or give the address of a running Redis with --redis")
        self.host, self.port = "127.0.0.1", free_port()
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", tempfile.mkdtemp(prefix="zaqar-bench-redis-")]
        self.process = subprocess.Popen(
            pinned(cpus, argv) if cpus else argv,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for(self._answers, 20, "the private redis-server")

    def describe(self):
        """Which Redis, and where it may run."""
        pid = self.pid
        kind = "private redis-server" if self.process is not None else "redis-server"
        return f"{kind} {self.host}:{self.port} pid {pid} on CPU {affinity_of(pid)}"

    def client(self, db=0):
        """A new :class:`Redis` client on database ``db``."""
        return Redis(self.host, self.port, db)

    def uri(self, db):
        """``redis://host:port/db``"""
        return f"redis://{self.host}:{self.port}/{db}"

    @property
    def pid(self):
        """The server's pid (from ``INFO server``), or ``None``."""
        client = self.client()
        try:
            info = client.call("INFO", "server").decode()
        finally:
            client.close()
        for line in info.splitlines():
            if line.startswith("process_id:"):
                return int(line.split(":", 1)[1])
        return None

    def claim(self, db):
        """Take database ``db`` for this run: it must be empty or marked as the benchmark's.

        :raises SystemExit: it is database 0 of a shared server, or holds keys that are not
            the benchmark's.
        """
        if db == 0 and self.process is None:
            raise SystemExit("database 0 of a shared Redis is never used by the benchmark: "
                             "pick another (--db)")
        client = self.client(db)
        try:
            size = client.call("DBSIZE")
            if size and client.call("EXISTS", MARKER) != 1:
                raise SystemExit(
                    f"Redis database {db} on {self.host}:{self.port} holds {size} keys that "
                    f"are not the benchmark's: pick another database"
                )
            client.call("SET", MARKER, f"zaqar-tw benchmark, pid {os.getpid()}")
        finally:
            client.close()
        self._claimed.append(db)

    def clear(self, db):
        """Delete every key of a claimed database (they are all the benchmark's), marker
        included."""
        if db not in self._claimed:
            raise ValueError(f"database {db} was not claimed")
        client = self.client(db)
        try:
            cursor = b"0"
            while True:
                cursor, keys = client.call("SCAN", cursor, "COUNT", 1000)
                if keys:
                    client.call("UNLINK", *keys)
                if cursor == b"0":
                    break
        finally:
            client.close()

    def close(self):
        """Empty the claimed databases; stop the private server if one was started."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None
        else:
            for db in self._claimed:
                try:
                    self.clear(db)
                except OSError:
                    pass
        self._claimed = []


# -- servers ----------------------------------------------------------------------------------

class Server:
    """A server under test, run as a child process pinned to some CPUs.

    :ivar name: how tables call it.
    :ivar url: the base URL of its REST API.
    :ivar ws_url: the URL of its WebSocket API, or ``None``.
    """

    name = "server"
    url = None
    ws_url = None
    token = None  # the X-Auth-Token its requests need, if any

    def __init__(self, cpus, log_path):
        self.cpus = cpus
        self.log_path = log_path
        self.process = None

    def argv(self):
        raise NotImplementedError

    def env(self):
        return dict(os.environ)

    def start(self, timeout=60):
        """Start it and wait until its REST API answers."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                pinned(self.cpus, self.argv()), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, env=self.env(), cwd=self.cwd(),
                start_new_session=True,
            )

        def ready():
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
            status, _ = request(self.url, "GET", "/v2/ping", project="bench-ping", timeout=2,
                                token=self.token)
            return status in (200, 204)

        wait_for(ready, timeout, f"{self.name} on {self.url}")
        return self

    def cwd(self):
        return ROOT

    def stop(self, timeout=30):
        """SIGTERM (the whole process group after ``timeout`` s)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=timeout)

    def log_tail(self, lines=30):
        try:
            with open(self.log_path, "rb") as handle:
                text = handle.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def cpu_seconds(self):
        """CPU time used so far by the server's processes (its children included)."""
        return cpu_seconds([self.process.pid]) if self.process is not None else 0.0

    def pinning(self):
        """Where its processes may run, e.g. ``pid 123 on CPU 0``."""
        if self.process is None:
            return "not running"
        pids = [self.process.pid] + children_of(self.process.pid)
        return ", ".join(f"pid {pid} on CPU {affinity_of(pid)}" for pid in pids)


def cpu_seconds(pids):
    """CPU time (user + system, seconds) used so far by processes and their descendants."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    seen = set()
    stack = list(pids)
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
        stack += children_of(pid)
    return total


def children_of(pid):
    """The pids of a process's children (Linux)."""
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as handle:
                found += [int(child) for child in handle.read().split()]
    except OSError:
        pass
    return found


class ZaqarTw(Server):
    """``twistd -n zaqar`` on a Redis database of the benchmark's.

    :param options: ``{section: {option: value}}`` to set (a config file of their own is
        written in the server's private HOME), or ``None``.
    :param keystone: a started ``tests.keystone_server.KeystoneServer`` to validate tokens
        with (``auth_strategy = keystone``; :attr:`token` is then a token of a fresh project
        of it), or ``None`` for no-auth.
    """

    name = "zaqar-tw"

    def __init__(self, redis, db, cpus, log_path, workers=1, websocket=False,
                 options=None, keystone=None):
        super().__init__(cpus, log_path)
        self.store = redis.uri(db)
        self.workers = workers
        self.options = {section: found for section, found in (options or {}).items() if found}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_port = free_port() if websocket else None
        self.ws_url = f"ws://127.0.0.1:{self.ws_port}" if websocket else None
        self._home = tempfile.mkdtemp(prefix="zaqar-bench-home-")
        sections = dict(self.options)
        if keystone is not None:
            sections["DEFAULT"] = {"auth_strategy": "keystone"}
            sections["keystone_authtoken"] = keystone.authtoken_options()
            self.token = keystone.project_token("alice", keystone.new_project("alice"))
        self._config = []
        if sections:
            path = os.path.join(self._home, "zaqar.conf")
            with open(path, "w", encoding="utf-8") as handle:
                for section, values in sections.items():
                    handle.write(f"[{section}]\n" + "".join(
                        f"{key} = {value}\n" for key, value in values.items()))
            self._config = ["--config", path]

    def argv(self):
        python_bin = os.path.dirname(sys.executable)
        twistd = os.path.join(python_bin, "twistd")
        argv = [twistd] if os.access(twistd, os.X_OK) else [
            sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]
        websocket = f"tcp:{self.ws_port}:interface=127.0.0.1" if self.ws_port else "none"
        return argv + [
            "-n", "--pidfile", "", "--logfile", self.log_path, "zaqar", *self._config,
            "--store", self.store,
            "--rest", f"tcp:{self.port}:interface=127.0.0.1",
            "--websocket", websocket,
            "--workers", str(self.workers),
        ]

    def env(self):
        # A private HOME: no user config file is read.
        return dict(os.environ, HOME=self._home)


# -- HTTP -------------------------------------------------------------------------------------

def request(url, method, path, body=None, project="bench", client_id=None, timeout=30,
            token=None):
    """One HTTP request (with ``X-Auth-Token: token`` when given); :returns: ``(status,
    body bytes)``."""
    host, port = url.split("//", 1)[1].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        headers = {"Client-ID": client_id or str(uuid.uuid4()), "X-Project-ID": project}
        if token:
            headers["X-Auth-Token"] = token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def fill(url, project, queue, count, per_request=50, threads=4, token=None):
    """Post ``count`` messages (from a client id of their own) into a queue."""
    client_id = str(uuid.uuid4())
    batches = [per_request] * (count // per_request)
    if count % per_request:
        batches.append(count % per_request)
    lock = threading.Lock()
    failures = []

    def work():
        host, port = url.split("//", 1)[1].split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        headers = {"Client-ID": client_id, "X-Project-ID": project,
                   "Content-Type": "application/json"}
        if token:
            headers["X-Auth-Token"] = token
        try:
            while True:
                with lock:
                    if not batches or failures:
                        return
                    size = batches.pop()
                body = json.dumps({"messages": [MESSAGE] * size}).encode()
                connection.request("POST", f"/v2/queues/{queue}/messages", body, headers)
                response = connection.getresponse()
                response.read()
                if response.status != 201:
                    failures.append(response.status)
        finally:
            connection.close()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if failures:
        raise RuntimeError(f"filling {queue} failed: HTTP {failures[0]}")


# -- wrk --------------------------------------------------------------------------------------

@dataclass
class Figures:
    """What one run of a workload measured.

    :ivar rate: operations per second (``unit`` says which operations).
    :ivar p50_ms: median latency of one request, in milliseconds.
    :ivar p99_ms: 99th percentile latency of one request, in milliseconds.
    :ivar cpu_us: server CPU time per request, in microseconds (``None`` if unknown): a
        figure that other load on the machine disturbs less than throughput.
    :ivar notes: anything that makes the run suspect (errors, an empty queue).
    """

    workload: str
    rate: float
    unit: str
    p50_ms: float
    p99_ms: float
    requests_per_s: float
    cpu_us: float = None
    notes: list = field(default_factory=list)
    raw: dict = field(default_factory=dict)

    def line(self):
        text = (f"{self.workload:<17} {self.rate:>10,.0f} {self.unit:<7} "
                f"p50 {self.p50_ms:7.2f} ms   p99 {self.p99_ms:7.2f} ms")
        if self.cpu_us is not None:
            text += f"   server CPU {self.cpu_us:6.0f} us/request"
        if self.notes:
            text += "   (" + "; ".join(self.notes) + ")"
        return text


def run_wrk(url, workload, project, queue, duration, connections, load_cpus, rate=None,
            token=None):
    """Run wrk once with ``workloads.lua``; :returns: the dict its ``done()`` printed."""
    env = dict(os.environ, BENCH_WORKLOAD=workload, BENCH_PROJECT=project, BENCH_QUEUE=queue,
               BENCH_CLIENT=str(uuid.uuid4()), BENCH_CONNECTIONS=str(connections))
    if rate:
        env["BENCH_RATE"] = str(rate)
    if token:
        env["BENCH_TOKEN"] = token
    argv = pinned(load_cpus, [
        ensure_wrk(), "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "10s",
        "-s", LUA, url,
    ])
    out = subprocess.run(argv, env=env, capture_output=True, text=True,
                         timeout=duration + 60)
    for line in out.stdout.splitlines():
        if line.startswith("BENCH "):
            return json.loads(line[6:])
    raise RuntimeError(f"wrk printed no figures:\n{out.stdout}\n{out.stderr}")


def figures_of(workload, raw, cpu_s=None):
    """Turn wrk's counts (and the server's CPU seconds meanwhile) into :class:`Figures`."""
    seconds = raw["duration_us"] / 1e6
    per_s = raw["requests"] / seconds
    notes = []
    errors = {name: count for name, count in raw["errors"].items() if count}
    if errors:
        notes.append("errors " + ", ".join(f"{k} {v}" for k, v in errors.items()))
    if raw["unexpected"]:
        notes.append(f"{raw['unexpected']} unexpected statuses")
    if workload == "post10":
        rate, unit = per_s * 10, "msg/s"
    elif workload == "claim_delete":
        rate, unit = raw["claimed"] / seconds, "msg/s"
        dry = raw["claims_sent"] - raw["claims_ok"]
        if dry > raw.get("connections", 0) + 2:
            notes.append(f"queue ran dry ({dry} empty claims)")
    elif workload == "list":
        rate, unit = per_s, "req/s"
        if raw["pages"] and raw["listed"] < raw["pages"] * 10:
            notes.append(f"pages held {raw['listed'] / raw['pages']:.1f} messages, not 10")
    else:
        rate, unit = per_s, "msg/s"
    cpu_us = None
    if cpu_s is not None and raw["requests"]:
        cpu_us = cpu_s * 1e6 / raw["requests"]
    return Figures(workload, rate, unit, raw["p50_us"] / 1000, raw["p99_us"] / 1000,
                   per_s, cpu_us, notes, raw)


class RestBench:
    """Runs the REST workloads against one server.

    :param url: the server's base URL.
    :param load_cpus: where wrk runs (``taskset -c``).
    :param duration: seconds per run.
    :param connections: wrk's connections.
    :param cpu: a callable giving the server's CPU seconds so far, or ``None``.
    :param token: the ``X-Auth-Token`` of every request, or ``None``.
    """

    def __init__(self, url, load_cpus, duration=10, connections=CONNECTIONS, cpu=None,
                 token=None):
        self.url = url
        self.cpu = cpu
        self.token = token
        self.load_cpus = load_cpus
        self.duration = duration
        self.connections = connections
        self.project = f"bench-{uuid.uuid4().hex[:12]}"
        self._runs = 0
        # claim_delete consumes messages: the queue is filled for this rate (msg/s) and
        # grows when a run finds it empty.
        self.claim_rate_hint = 20000

    def _queue(self, workload):
        self._runs += 1
        return f"{workload}-{self._runs}"

    def run(self, workload, rate=None):
        """Run one workload once (``rate``: paced requests/s); :returns: :class:`Figures`."""
        if workload == "claim_delete":
            return self._claim_delete(rate)
        queue = self._queue(workload)
        if workload == "list":
            fill(self.url, self.project, queue, 200, token=self.token)
        return self._wrk(workload, queue, rate)

    def _wrk(self, workload, queue, rate):
        before = self.cpu() if self.cpu else None
        raw = run_wrk(self.url, workload, self.project, queue, self.duration,
                      self.connections, self.load_cpus, rate, self.token)
        used = self.cpu() - before if self.cpu else None
        raw["connections"] = self.connections
        return figures_of(workload, raw, used)

    def _claim_delete(self, rate):
        for _ in range(3):
            queue = self._queue("claim_delete")
            wanted = (rate * 10 if rate else self.claim_rate_hint) * self.duration
            fill(self.url, self.project, queue, int(wanted * 1.3) + 1000, token=self.token)
            figures = self._wrk("claim_delete", queue, rate)
            if not any(note.startswith("queue ran dry") for note in figures.notes):
                if not rate:
                    self.claim_rate_hint = max(self.claim_rate_hint // 2, figures.rate)
                return figures
            self.claim_rate_hint *= 3
        return figures

    def half_peak(self, workload, peak):
        """Latency at half the peak rate of a workload (``peak``: its :class:`Figures`).

        The requests are paced over :data:`PACED_CONNECTIONS` connections, each waiting a
        random time before each request, so that they arrive as a Poisson process; the
        achieved rate is what the line prints.
        """
        connections, self.connections = self.connections, PACED_CONNECTIONS
        try:
            return self.run(workload, rate=max(1, round(peak.requests_per_s / 2)))
        finally:
            self.connections = connections


_WS_LINE = re.compile(
    r"^(?P<phase>message_post|claim)\s+(?P<requests>\d+) req\s+(?P<rps>[\d.]+) req/s\s+"
    r"(?P<mps>[\d.]+) msg/s\s+p50\s+(?P<p50>[\d.]+|nan) ms\s+p99\s+(?P<p99>[\d.]+|nan) ms"
    r"\s+errors (?P<errors>\d+)"
)
_WS_PHASES = {"message_post": "ws_post", "claim": "ws_claim_delete"}


def run_ws(url, args, load_cpus, cpu=None):
    """One run of bench/ws_load.py (its post phase, then its claim-and-delete phase) against
    a WebSocket listener, pinned with the load.  The server's CPU time is read when each
    phase starts and ends (the load generator prints a line at each), so each phase gets
    its own CPU per request.

    :param cpu: a callable giving the server's CPU seconds so far, or ``None``.
    :returns: ``{"ws_post": Figures, "ws_claim_delete": Figures}``.
    """
    argv = pinned(load_cpus, [
        sys.executable, WS_LOAD, "--url", url,
        "--connections", str(args.connections), "--duration", str(args.duration),
    ])
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    marks = []
    lines = []
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env) as process:
        for line in process.stdout:
            lines.append(line)
            if "connections to" in line or _WS_LINE.match(line.strip()):
                marks.append(cpu() if cpu else None)
        errors = process.stderr.read()
    found = {}
    phase_cpu = [b - a if a is not None and b is not None else None
                 for a, b in zip(marks, marks[1:])]
    for line in lines:
        match = _WS_LINE.match(line.strip())
        if match is None:
            continue
        name = _WS_PHASES[match["phase"]]
        notes = [f"{match['errors']} errors"] if int(match["errors"]) else []
        requests = int(match["requests"])
        used = phase_cpu[len(found)] if len(found) < len(phase_cpu) else None
        found[name] = Figures(
            name, float(match["mps"]), "msg/s", float(match["p50"]), float(match["p99"]),
            float(match["rps"]), used * 1e6 / requests if used and requests else None, notes,
        )
    if len(found) != len(_WS_PHASES):
        raise RuntimeError(f"bench/ws_load.py printed no figures for {url}:\n"
                           f"{''.join(lines)}\n{errors}")
    return found


IDLE_LINE = re.compile(
    r"^ws_idle\s+(?P<connections>\d+) connections\s+RSS (?P<before>\d+) -> (?P<after>\d+) KiB"
    r"\s+(?P<per>[\d.]+) KiB/connection"
)


@dataclass
class IdleFigures:
    """What bench/ws_idle.py measured: a server's memory with idle WebSocket connections.

    :ivar connections: how many were held open.
    :ivar before_kib: the server's RSS before they opened (KiB).
    :ivar after_kib: its RSS while they were open (KiB).
    :ivar per_connection_kib: the difference per connection (KiB).
    """

    connections: int
    before_kib: int
    after_kib: int
    per_connection_kib: float
    workload: str = IDLE_WORKLOAD

    def line(self):
        return (f"{self.workload:<17} {self.connections:>10,} idle connections   server RSS "
                f"{self.before_kib / 1024:,.1f} -> {self.after_kib / 1024:,.1f} MiB   "
                f"{self.per_connection_kib:.1f} KiB/connection")


def run_ws_idle(url, pid, load_cpus, connections=IDLE_CONNECTIONS):
    """Run bench/ws_idle.py (pinned with the load) against the WebSocket listener of the
    server whose process is ``pid``; :returns: :class:`IdleFigures`."""
    raise_open_files(connections + 256)
    argv = pinned(load_cpus, [sys.executable, WS_IDLE, "--url", url, "--pid", str(pid),
                              "--connections", str(connections)])
    out = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    for line in out.stdout.splitlines():
        match = IDLE_LINE.match(line.strip())
        if match:
            return IdleFigures(int(match["connections"]), int(match["before"]),
                               int(match["after"]), float(match["per"]))
    raise RuntimeError(f"bench/ws_idle.py printed no figures for {url}:\n{out.stdout}\n"
                       f"{out.stderr}")


# -- the command ------------------------------------------------------------------------------

def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="bench/run",
        description="Run the benchmark workloads against zaqar-tw (started here, pinned to "
                    "one CPU) and print their throughput and latency.",
    )
    parser.add_argument("--workloads", default=",".join(REST_WORKLOADS),
                        help=f"comma-separated, from "
                             f"{', '.join(WORKLOADS)}")
    parser.add_argument("--idle-connections", type=int, default=IDLE_CONNECTIONS,
                        help=f"idle WebSocket connections of ws_idle ({IDLE_CONNECTIONS})")
    parser.add_argument("--duration", type=int, default=10, help="seconds per run (10)")
    parser.add_argument("--connections", type=int, default=CONNECTIONS,
                        help=f"concurrent connections of the load generator ({CONNECTIONS})")
    parser.add_argument("--server-cpus", default=None,
                        help="CPUs of the server (taskset -c; default: the first CPU)")
    parser.add_argument("--load-cpus", default=None,
                        help="CPUs of the load generator (default: the last CPU)")
    parser.add_argument("--workers", type=int, default=1, help="zaqar-tw --workers (1)")
    parser.add_argument("--redis", default=None,
                        help="host:port of a running Redis to use (default: a private "
                             "redis-server started for the run, on the load's CPUs)")
    parser.add_argument("--store", choices=("single", "sentinel", "cluster"),
                        default="single",
                        help="the Redis set-up, private to the run and pinned with the "
                             "load: one redis-server (single, the default), a Sentinel "
                             "group (a master, a replica, three sentinels), or a Cluster "
                             "of --masters masters")
    parser.add_argument("--masters", type=int, default=3,
                        help="--store cluster: its masters (3)")
    parser.add_argument("--wait-replicas", type=int, default=0,
                        help="the server's [drivers:message_store:redis] wait_replicas (0)")
    parser.add_argument("--db", type=int, default=13,
                        help="Redis database of zaqar-tw (13); must be empty or the "
                             "benchmark's, never 0")
    parser.add_argument("--url", default=None,
                        help="drive an already running server at this URL instead of "
                             "starting one (its pinning is then yours)")
    parser.add_argument("--ws-url", default=None,
                        help="with --url: the WebSocket URL of that server")
    parser.add_argument("--no-half", action="store_true",
                        help="skip the latency runs at half the peak rate")
    parser.add_argument("--subscribers", type=int, default=10,
                        help="notify: webhook subscriptions of the queue (10)")
    parser.add_argument("--rate", type=int, default=None,
                        help="notify: post at this many posts/s (Poisson arrivals over "
                             f"{PACED_CONNECTIONS} connections) instead of as fast as "
                             "possible then at half the rate delivered")
    parser.add_argument("--receiver-processes", type=int, default=None,
                        help="notify: processes of bench/webhook_receiver.py (default: one "
                             "per CPU of the load)")
    parser.add_argument("--notifier-workers", type=int, default=None,
                        help="notify: the server's [notification] max_notifier_workers "
                             "(default: the service's, 10)")
    parser.add_argument("--max-backlog", type=int, default=None,
                        help="notify: the server's [notification] max_backlog (default: "
                             "the service's, 10000)")
    parser.add_argument("--limit", action="append", default=[], metavar="OPTION=VALUE",
                        help="set [limits] OPTION of the server, e.g. write_rate=1000000 "
                             "(repeatable; default: no limits)")
    parser.add_argument("--auth", choices=("noauth", "keystone"), default="noauth",
                        help="keystone: run a Keystone (tests/keystone_server.py; its "
                             "virtualenv is built under ~/.cache/zaqar-tw the first time), "
                             "serve with --auth keystone and send a token with each request "
                             "(REST workloads only)")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    return parser.parse_args(argv)


def server_options(args):
    """The ``{section: {option: value}}`` of zaqar-tw that the command line sets:
    ``[notification]`` and ``[limits]``.  The webhook receivers listen on 127.0.0.1, which
    ``allow_private_subscribers`` must allow."""
    notification = {"allow_private_subscribers": "127.0.0.0/8"}
    if args.notifier_workers is not None:
        notification["max_notifier_workers"] = args.notifier_workers
    if args.max_backlog is not None:
        notification["max_backlog"] = args.max_backlog
    limits = {}
    for setting in args.limit:
        name, equals, value = setting.partition("=")
        if not equals:
            raise SystemExit(f"--limit {setting}: expected OPTION=VALUE")
        limits[name.strip()] = value.strip()
    store = {}
    if args.wait_replicas:
        store["wait_replicas"] = args.wait_replicas
    return {"notification": notification, "limits": limits,
            "drivers:message_store:redis": store}


def redis_target(address, load_cpus, store="single", masters=3):
    """The :class:`RedisTarget` of ``--redis`` (``None``: a private one on the load's CPUs),
    or the private Sentinel group or Cluster of ``--store`` (``bench/redis_groups.py``)."""
    if store != "single":
        if address is not None:
            raise SystemExit(f"--store {store} starts its own Redis: leave out --redis")
        import redis_groups

        if store == "sentinel":
            return redis_groups.SentinelTarget(load_cpus)
        return redis_groups.ClusterTarget(load_cpus, masters)
    if address is None:
        return RedisTarget(cpus=load_cpus)
    host, _, port = address.partition(":")
    return RedisTarget(host or "127.0.0.1", int(port or 6379))


def default_cpus(server_cpus, load_cpus):
    """The server's and the load's CPUs: the first and the last CPU unless given."""
    cpus = cpu_list()
    if len(cpus) < 2 and (server_cpus is None or load_cpus is None):
        say("warning: one CPU only: the server and the load share it")
    server = server_cpus or str(cpus[0])
    load = load_cpus or str(cpus[-1])
    return server, load


def describe_machine():
    """One line about the machine: CPU model and count, memory, kernel."""
    model = "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = "?"
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            memory = f"{int(handle.readline().split()[1]) / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return (f"{os.cpu_count()} x {model}, {memory} RAM, Linux {os.uname().release}, "
            f"Python {sys.version.split()[0]}")


def start_keystone():
    """A started Keystone of tests/keystone_server.py (not pinned: zaqar-tw asks it once per
    token and then serves from its cache)."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from tests.keystone_server import KeystoneServer

    keystone = KeystoneServer()
    say(f"keystone: {keystone.url} (its files in {keystone.directory})")
    return keystone


def main(argv=None):
    args = parse_args(argv)
    workloads = [name.strip() for name in args.workloads.split(",") if name.strip()]
    unknown = [name for name in workloads if name not in WORKLOADS]
    if unknown:
        raise SystemExit(f"unknown workloads: {', '.join(unknown)}")
    if IDLE_WORKLOAD in workloads:
        raise_open_files(args.idle_connections + 256)
    ensure_wrk()
    server_cpus, load_cpus = default_cpus(args.server_cpus, args.load_cpus)
    say(f"machine: {describe_machine()}")
    if args.auth == "keystone":
        if args.url is not None or any(w not in REST_WORKLOADS for w in workloads):
            raise SystemExit("--auth keystone: REST workloads of a server started here only")
    redis = server = keystone = None
    logdir = tempfile.mkdtemp(prefix="zaqar-bench-")
    results = []
    try:
        url = args.url
        if url is None:
            if args.auth == "keystone":
                keystone = start_keystone()
            redis = redis_target(args.redis, load_cpus, args.store, args.masters)
            redis.claim(args.db)
            server = ZaqarTw(redis, args.db, server_cpus, os.path.join(logdir, "zaqar-tw.log"),
                             workers=args.workers,
                             websocket=any(w in WS_WORKLOADS + (IDLE_WORKLOAD,)
                                           for w in workloads),
                             options=server_options(args),
                             keystone=keystone).start()
            url = server.url
            say(f"pinning: zaqar-tw {server.pinning()} (taskset -c {server_cpus}); "
                f"wrk on CPU {load_cpus} (taskset -c {load_cpus}, 1 thread, "
                f"{args.connections} connections); {redis.describe()}")
            if args.limit:
                say(f"limits: {', '.join(args.limit)}")
        else:
            say(f"pinning: server at {url} as you started it; wrk on CPU {load_cpus} "
                f"(taskset -c {load_cpus}, 1 thread, {args.connections} connections)")
        bench = RestBench(url, load_cpus, args.duration, args.connections,
                          cpu=server.cpu_seconds if server is not None else None,
                          token=server.token if server is not None else None)
        ws_figures = None
        for workload in workloads:
            if workload == IDLE_WORKLOAD:
                if server is None:
                    say(f"{workload:<17} skipped: needs the server started here (its pid)")
                    continue
                figures = run_ws_idle(server.ws_url, server.process.pid, load_cpus,
                                      args.idle_connections)
                say(figures.line())
                results.append(figures)
                continue
            if workload == NOTIFY_WORKLOAD:
                if server is None:
                    say(f"{workload:<17} skipped: needs the server started here (its CPU "
                        f"time and log)")
                    continue
                import notify_bench  # here: it imports this module
                for figures in notify_bench.run(args, server, redis, load_cpus):
                    say(figures.line())
                    results.append(figures)
                continue
            if workload in WS_WORKLOADS:
                if not os.path.exists(WS_LOAD):
                    say(f"{workload:<17} skipped: bench/ws_load.py is not there")
                    continue
                if ws_figures is None:
                    ws_figures = run_ws(server.ws_url if server else args.ws_url, args,
                                        load_cpus, server.cpu_seconds if server else None)
                figures = ws_figures[workload]
                say(figures.line())
                results.append(figures)
                continue
            figures = bench.run(workload)
            say(figures.line())
            results.append(figures)
            if workload in HALF_PEAK and not args.no_half:
                half = bench.half_peak(workload, figures)
                half.workload = f"{workload}@half"
                say(half.line())
                results.append(half)
    finally:
        if server is not None:
            server.stop()
        if redis is not None:
            redis.close()
        if keystone is not None:
            keystone.remove()
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump([vars(f) for f in results], handle, indent=2)
    return results


def median(values):
    """The median of a non-empty list."""
    return statistics.median(values)


if __name__ == "__main__":
    main()
