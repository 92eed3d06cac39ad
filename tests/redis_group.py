"""Groups of redis-server processes the tests start on free ports of 127.0.0.1 and stop by
process id: a Sentinel group (a master, replicas, sentinels) and a Cluster.

The binaries are the system's ``redis-server`` (as the embedded store picks it, see
:func:`zaqar_tw.storage.embedded.find_redis_server`) and the ``redis-cli`` beside it.
"""

import os
import subprocess

import pytest

from tests.processes import Process, free_port
from tests.waiting import wait_until
from zaqar_tw.storage.embedded import find_redis_server, redis_version

MASTER_NAME = "mymaster"


async def _all_or_nothing(group, starting):
    """Await ``starting`` (the start of ``group``'s processes); if it fails, stop every
    process of the group before failing.

    :returns: ``group``.
    """
    try:
        await starting
    except BaseException:
        await group.stop()
        raise
    return group


def redis_server():
    """The ``redis-server`` binary the tests run."""
    return find_redis_server()


def redis_cli():
    """The ``redis-cli`` beside :func:`redis_server` (else the one on ``PATH``)."""
    beside = os.path.join(os.path.dirname(redis_server()), "redis-cli")
    return beside if os.access(beside, os.X_OK) else "redis-cli"


def cli(port, *args, timeout=10):
    """Run one ``redis-cli`` command against ``127.0.0.1:port``.

    :returns: its output, stripped.
    """
    done = subprocess.run(
        [redis_cli(), "-h", "127.0.0.1", "-p", str(port), *map(str, args)],
        capture_output=True, text=True, timeout=timeout, check=False,
    )
    return done.stdout.strip()


class RedisNode(Process):
    """One ``redis-server`` (or sentinel) on a free port, in its own directory, without
    persistence; its output goes to ``redis.log`` there."""

    def __init__(self, workdir, *args, config_text=None):
        os.makedirs(workdir, exist_ok=True)
        self.workdir = workdir
        self.port = free_port()
        argv = [redis_server()]
        if config_text is not None:
            path = os.path.join(workdir, "redis.conf")
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(config_text)
            argv.append(path)
        argv += [
            "--port", str(self.port), "--bind", "127.0.0.1", "--dir", workdir,
            "--save", "", "--appendonly", "no", "--daemonize", "no", *args,
        ]
        super().__init__(argv, os.path.join(workdir, "redis.log"), cwd=workdir)

    async def start(self, timeout=20):
        """Start it and wait until it answers PING."""
        self.spawn()

        def answers():
            if self.exited():
                raise AssertionError(f"redis-server exited:\n{self.log_tail()}")
            return cli(self.port, "PING") == "PONG"

        await wait_until(answers, timeout, f"redis-server on port {self.port}")
        return self


SENTINEL_CONFIG = """\
sentinel monitor {name} 127.0.0.1 {master} 2
sentinel down-after-milliseconds {name} 1000
sentinel failover-timeout {name} 4000
sentinel parallel-syncs {name} 1
"""


class SentinelGroup:
    """A master, ``replicas`` replicas and three sentinels watching them under
    :data:`MASTER_NAME` (quorum 2, a master silent for 1 s is down).

    :ivar uri: the ``redis+sentinel://`` URI of the group.
    """

    def __init__(self, workdir, replicas=1):
        self.master = RedisNode(os.path.join(workdir, "master"))
        self.replicas = [
            RedisNode(os.path.join(workdir, f"replica{i}")) for i in range(replicas)
        ]
        self.sentinels = []
        for i in range(3):
            directory = os.path.join(workdir, f"sentinel{i}")
            os.makedirs(directory, exist_ok=True)
            config = SENTINEL_CONFIG.format(name=MASTER_NAME, master=self.master.port)
            self.sentinels.append(RedisNode(directory, "--sentinel", config_text=config))
        where = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        self.uri = f"redis+sentinel://{where}/{MASTER_NAME}"

    @property
    def processes(self):
        return [self.master, *self.replicas, *self.sentinels]

    async def start(self, timeout=30):
        """Start every process; wait until the replicas are in sync and every sentinel knows
        them all.  If that fails, every process started is killed."""
        return await _all_or_nothing(self, self._start(timeout))

    async def _start(self, timeout):
        await self.master.start()
        for replica in self.replicas:
            await replica.start()
            cli(replica.port, "REPLICAOF", "127.0.0.1", self.master.port)
        for sentinel in self.sentinels:
            await sentinel.start()

        def settled():
            for replica in self.replicas:
                if "master_link_status:up" not in cli(replica.port, "INFO", "replication"):
                    return False
            for sentinel in self.sentinels:
                facts = cli(sentinel.port, "SENTINEL", "MASTER", MASTER_NAME).split("\n")
                pairs = dict(zip(facts[::2], facts[1::2]))
                if (pairs.get("num-slaves") != str(len(self.replicas))
                        or pairs.get("num-other-sentinels") != "2"):
                    return False
            return True

        await wait_until(settled, timeout, "the sentinel group to settle", step=0.2)

    def master_port(self):
        """The port of the master the first live sentinel names, or ``None``."""
        for sentinel in self.sentinels:
            if sentinel.exited():
                continue
            reply = cli(sentinel.port, "SENTINEL", "get-master-addr-by-name", MASTER_NAME)
            if reply:
                return int(reply.split()[-1])
        return None

    async def stop(self):
        """Kill every process of the group (by pid)."""
        for process in self.processes:
            await process.kill()


class RedisCluster:
    """A Redis Cluster of ``masters`` masters, each with ``replicas`` replicas, made with
    ``redis-cli --cluster create``; a node silent for 2 s is failed over.

    :ivar uri: the ``redis+cluster://`` URI naming every node.
    """

    def __init__(self, workdir, masters=3, replicas=0):
        self.workdir = workdir
        self.nodes = []
        for _ in range(masters * (1 + replicas)):
            self.nodes.append(self._new_node())
        self.replicas = replicas
        self.uri = "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    async def start(self, timeout=60):
        """Start every node, make the cluster, and wait until every node says it is ok.

        Skips the test when the ``redis-server`` is older than 7 (no ``--cluster-port``).
        """
        if redis_version(redis_server()) < (7, 0, 0):
            pytest.skip(f"Redis Cluster tests need redis-server 7 or later ({redis_server()} "
                        "is older)")
        return await _all_or_nothing(self, self._start(timeout))

    async def _start(self, timeout):
        for node in self.nodes:
            await node.start()
        done = subprocess.run(
            [redis_cli(), "--cluster", "create",
             *(f"127.0.0.1:{n.port}" for n in self.nodes),
             "--cluster-replicas", str(self.replicas), "--cluster-yes"],
            capture_output=True, text=True, timeout=60, check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"redis-cli --cluster create failed:\n{done.stdout}"
                                 f"{done.stderr}")
        await wait_until(self._ok, timeout, "the cluster to be ok", step=0.2)

    def _new_node(self):
        directory = os.path.join(self.workdir, f"node{len(self.nodes)}")
        node = RedisNode(
            directory, "--cluster-enabled", "yes", "--cluster-port", str(free_port()),
            "--cluster-config-file", os.path.join(directory, "nodes.conf"),
            "--cluster-node-timeout", "2000",
        )
        node.bus_port = int(node.argv[node.argv.index("--cluster-port") + 1])
        return node

    async def add_master(self, timeout=30):
        """Start one more node, without slots, and wait until every node knows it and it
        sees the cluster ok.

        :returns: the new node.
        """
        node = self._new_node()
        self.nodes.append(node)  # stopped with the others from now on
        await node.start()
        cli(self.nodes[0].port, "CLUSTER", "MEET", "127.0.0.1", node.port, node.bus_port)

        def known():
            return self._ok() and all(
                cli(n.port, "CLUSTER", "NODES").count("connected") == len(self.nodes)
                for n in self.nodes if not n.exited())

        await wait_until(known, timeout, "every node to know the new one", step=0.2)
        return node

    def _ok(self):
        return all("cluster_state:ok" in cli(n.port, "CLUSTER", "INFO")
                   for n in self.nodes if not n.exited())

    def owner(self, key):
        """The node that serves ``key`` now (asking a live node for the slot's master)."""
        live = next(n for n in self.nodes if not n.exited())
        slot = int(cli(live.port, "CLUSTER", "KEYSLOT", key))
        for line in cli(live.port, "CLUSTER", "NODES").splitlines():
            fields = line.split()
            if "master" not in fields[2] or "fail" in fields[2]:
                continue
            for part in fields[8:]:
                start, _, end = part.partition("-")
                if start.isdigit() and int(start) <= slot <= int(end or start):
                    port = int(fields[1].split(":")[1].split("@")[0])
                    return next(n for n in self.nodes if n.port == port), fields[0], slot
        raise AssertionError(f"no master serves slot {slot}")

    def node_id(self, node):
        """The cluster id of ``node``."""
        return cli(node.port, "CLUSTER", "MYID")

    async def stop(self):
        """Kill every node (by pid)."""
        for node in self.nodes:
            await node.kill()
