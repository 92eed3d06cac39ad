"""The Redis set-ups of ``bench/run --store``: a Sentinel group and a Cluster, private to the
run, started on free ports of 127.0.0.1 (pinned like the private Redis) and stopped by pid.

They offer what the benchmark asks of :class:`zaqar_bench.RedisTarget`: ``claim``, ``uri``,
``describe``, ``pid``, ``process`` and ``close``.  Standard library only.
"""

import os
import shutil
import subprocess
import tempfile

import zaqar_bench as zb

MASTER_NAME = "bench"


def _binary():
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is needed (Debian: apt-get install redis-server)")
    return binary


class _Group:
    """Private ``redis-server`` processes of one set-up."""

    def __init__(self, cpus):
        self.cpus = cpus
        self.directory = tempfile.mkdtemp(prefix="zaqar-bench-redis-")
        self.processes = []  # (port, Popen)
        self.process = None  # the benchmark reads the CPU of a single private server only

    def _spawn(self, name, *args, config=None):
        port = zb.free_port()
        directory = os.path.join(self.directory, name)
        os.makedirs(directory)
        argv = [_binary()]
        if config is not None:
            path = os.path.join(directory, "redis.conf")
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(config)
            argv.append(path)
        argv += ["--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", directory, *args]
        popen = subprocess.Popen(zb.pinned(self.cpus, argv) if self.cpus else argv,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.processes.append((port, popen))
        zb.wait_for(lambda: zb.redis_answers("127.0.0.1", port), 20,
                    f"redis-server on port {port}")
        return port

    @staticmethod
    def call(port, *args):
        """One command to the server at ``port``; :returns: its reply."""
        client = zb.Redis("127.0.0.1", port)
        try:
            return client.call(*args)
        finally:
            client.close()

    @property
    def pid(self):
        return self.processes[0][1].pid

    def claim(self, db):
        """Private servers are empty: nothing to check."""

    def close(self):
        """Stop every process (SIGTERM, by pid) and remove their files."""
        for _, popen in self.processes:
            popen.terminate()
        for _, popen in self.processes:
            popen.wait(timeout=30)
        self.processes = []
        shutil.rmtree(self.directory, ignore_errors=True)


class SentinelTarget(_Group):
    """A master, one replica and three sentinels."""

    def __init__(self, cpus):
        super().__init__(cpus)
        try:
            self._make()
        except BaseException:
            self.close()
            raise

    def _make(self):
        self.master = self._spawn("master")
        self.replica = self._spawn("replica", "--replicaof", "127.0.0.1", str(self.master))
        config = (f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master} 2\n"
                  f"sentinel down-after-milliseconds {MASTER_NAME} 2000\n")
        self.sentinels = [self._spawn(f"sentinel{i}", "--sentinel", config=config)
                          for i in range(3)]

        def synced():
            info = self.call(self.replica, "INFO", "replication").decode()
            return "master_link_status:up" in info

        zb.wait_for(synced, 30, "the replica to sync")

    def uri(self, db):
        sentinels = ",".join(f"127.0.0.1:{port}" for port in self.sentinels)
        return f"redis+sentinel://{sentinels}/{MASTER_NAME}/{db}"

    def describe(self):
        return (f"private Sentinel group: master 127.0.0.1:{self.master}, replica "
                f"127.0.0.1:{self.replica}, 3 sentinels, on CPU {self.cpus}")


class ClusterTarget(_Group):
    """A cluster of ``masters`` masters without replicas, the slots shared evenly."""

    def __init__(self, cpus, masters):
        super().__init__(cpus)
        try:
            self._make(masters)
        except BaseException:
            self.close()
            raise

    def _make(self, masters):
        self.masters = []
        bus = []
        for i in range(masters):
            bus.append(zb.free_port())
            self.masters.append(self._spawn(
                f"node{i}", "--cluster-enabled", "yes", "--cluster-port", str(bus[-1]),
                "--cluster-config-file", os.path.join(self.directory, f"nodes{i}.conf"),
            ))
        share = 16384 // masters
        for i, port in enumerate(self.masters):
            last = 16383 if i == masters - 1 else (i + 1) * share - 1
            self.call(port, "CLUSTER", "ADDSLOTSRANGE", i * share, last)
            if i:
                self.call(port, "CLUSTER", "MEET", "127.0.0.1", self.masters[0], bus[0])

        def ok():
            return all(b"cluster_state:ok" in self.call(port, "CLUSTER", "INFO")
                       for port in self.masters)

        zb.wait_for(ok, 30, "the cluster to be ok")

    def uri(self, db):
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.masters)

    def describe(self):
        return (f"private Redis Cluster of {len(self.masters)} master(s) on CPU {self.cpus}")
