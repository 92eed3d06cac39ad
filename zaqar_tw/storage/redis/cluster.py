"""Talking to a Redis Cluster: :class:`ClusterConnection`.

It offers what :class:`~zaqar_tw.storage.redis.connection.RedisConnection` offers (``execute``,
``run``, ``ping``, ``connect``, ``close``), so the store runs unchanged on a cluster: each
command and script goes to the master that owns the slot of its first key.  Every key of one
queue carries the queue's hash tag and every project key the project's (see ``keys.py``), and
no command or script mixes two tags, so one node always serves one request.

The slot map comes from ``CLUSTER SLOTS``, asked of the known masters, then of the nodes of
the URI.  There is one :class:`RedisConnection` per master (scripts loaded, kept alive,
reconnecting, ``WAIT`` for replicas as configured).  A ``-MOVED`` reply updates the map for
its slot, asks for the whole map again, and sends the command to the new owner; ``-ASK``
(a slot being migrated) sends it once to the named node after ``ASKING``; a node met so for
the first time (a master that just joined) is connected to first.  ``-TRYAGAIN`` sends it
again a moment later.  A master that cannot be reached, and every few seconds in any case,
the map is asked for again, so that a failover's new master is found.  Each change of map is
one log line.
"""

import binascii
import random

import txredisapi
from twisted.internet import defer, task
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from zaqar_tw.errors import StoreUnavailable
from zaqar_tw.storage.redis.connection import RedisConnection, WRITE_COMMANDS, ask, gather
from zaqar_tw.storage.redis.uri import host_port

log = Logger()

SLOTS = 16384

#: Commands that name no key: sent to any master.
KEYLESS = frozenset({"PING", "TIME", "INFO", "DBSIZE"})

#: How many redirections one command may follow (``TRYAGAIN`` waits 10 ms more each time:
#: about 1.2 s in all).
MAX_HOPS = 15


def key_slot(key):
    """:returns: the cluster slot of ``key`` (``str`` or ``bytes``): CRC16 of its hash tag
    (the text between the first ``{`` and the next ``}``, when not empty), or of the key."""
    if isinstance(key, str):
        key = key.encode()
    start = key.find(b"{")
    if start != -1:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            key = key[start + 1:end]
    return binascii.crc_hqx(key, 0) % SLOTS


class ClusterConnection:
    """Connections to the masters of a Redis Cluster, routing each command by its key.

    :param reactor: the reactor.
    :param address: a :class:`~zaqar_tw.storage.redis.uri.ClusterAddress`.
    :param scripts: the store's scripts, loaded on every master.
    :param refresh_interval: seconds between two readings of the slot map.
    :param connection_options: passed to each master's
        :class:`~zaqar_tw.storage.redis.connection.RedisConnection`.
    """

    def __init__(self, reactor, address, scripts=(), refresh_interval=5.0,
                 **connection_options):
        self._reactor = reactor
        self._address = address
        self._scripts = tuple(scripts)
        self._options = connection_options
        self._slots = [None] * SLOTS  # slot -> (host, port) of its master
        self._nodes = {}  # (host, port) -> RedisConnection
        self._closing = False
        self._refresh_waiters = []
        self._refresher = LoopingCall(self.refresh)
        self._refresher.clock = reactor
        self._refresh_interval = refresh_interval
        self._why = "the slot map is not known yet"

    # The command path.

    def execute(self, *args):
        """Send one command to the master of its key (``args[1]``), or to any master for a
        command without a key.  See ``RedisConnection.execute``."""
        name = args[0].upper()
        if name in KEYLESS:
            node = self._any_node()
            if node is None:
                return defer.fail(self._unavailable())
            return node.execute(*args)
        return self._routed(
            key_slot(args[1]), lambda node: node.send_command(args), name,
            name in WRITE_COMMANDS, 0,
        )

    def run(self, script, keys, args):
        """Run a script on the master of its first key (any master for a script without
        keys).  See ``RedisConnection.run``."""
        if not keys:
            node = self._any_node()
            if node is None:
                return defer.fail(self._unavailable())
            return node.run(script, keys, args)
        return self._routed(
            key_slot(keys[0]), lambda node: node.send_script(script, keys, args),
            script.name, script.writes, 0,
        )

    def _routed(self, slot, send, what, writes, hops, node=None):
        """Send to the master of ``slot`` (or to ``node``, after ``ASKING``), following
        redirections."""
        asking = node is not None
        if not asking:
            where = self._slots[slot]
            node = self._nodes.get(where) if where is not None else None
            if node is None:
                self._refresh_soon()
                return defer.fail(self._unavailable())
        else:
            node.send_command(("ASKING",)).addErrback(lambda _: None)
        d = node.confirmed(send(node), writes)

        def redirected(failure):
            if failure.check(StoreUnavailable):
                self._refresh_soon()
                return failure
            if not failure.check(txredisapi.ResponseError) or hops >= MAX_HOPS:
                return failure
            kind, _, rest = str(failure.value).partition(" ")
            if kind == "MOVED":
                target = _where(rest)
                self._slots[slot] = target
                self._refresh_soon()
                return self._when_ready(self._node(target)).addCallback(
                    lambda _: self._routed(slot, send, what, writes, hops + 1))
            if kind == "ASK":
                target = self._node(_where(rest))
                return self._when_ready(target).addCallback(
                    lambda _: self._routed(slot, send, what, writes, hops + 1, target))
            if kind == "TRYAGAIN":  # a queue's keys are split by a migration in progress
                return task.deferLater(
                    self._reactor, 0.01 * (hops + 1), self._routed, slot, send, what,
                    writes, hops + 1,
                )
            return failure

        return d.addErrback(redirected).addErrback(node.unavailable, what)

    def _when_ready(self, node):
        """:returns: a Deferred firing once ``node`` (a master met in a redirection, maybe
        new) is connected, or after ``connect_timeout`` seconds at most (the command then
        fails as on any master not connected)."""
        connected = node.connect()
        if connected.called:
            return connected.addErrback(lambda _: None)
        waited = defer.Deferred()
        connected.addBoth(lambda _: None if waited.called else waited.callback(None))
        timer = self._reactor.callLater(
            self._address.connect_timeout,
            lambda: None if waited.called else waited.callback(None),
        )
        waited.addCallback(lambda _: timer.cancel() if timer.active() else None)
        return waited

    def ping(self):
        """:returns: Deferred firing with whether every master answers a PING."""
        if not self._nodes:
            return defer.succeed(False)
        pings = [node.ping() for node in self._nodes.values()]
        return gather(*pings).addCallback(all)

    def _any_node(self):
        nodes = list(self._nodes.values())
        return random.choice(nodes) if nodes else None

    def _unavailable(self):
        return StoreUnavailable(f"Redis {self._address} is unavailable: {self._why}")

    def _node(self, where):
        """:returns: the connection to the node at ``where``, made (and started) if new."""
        node = self._nodes.get(where)
        if node is None:
            node = RedisConnection(
                self._reactor, self._address.node(*where), self._scripts, **self._options
            )
            self._nodes[where] = node
            node.connect().addErrback(lambda _: None)
        return node

    # The slot map.

    def connect(self):
        """Learn the slot map (asking again until some node answers) and connect to every
        master.

        :returns: Deferred firing once every master's connection is ready; it fails with
            :class:`StoreUnavailable` if :meth:`close` comes first.
        """
        return defer.Deferred.fromCoroutine(self._connect())

    async def _connect(self):
        delay = 0.1
        while not await self.refresh():
            if self._closing:
                raise StoreUnavailable(f"Redis {self._address}: closed")
            log.warn("Redis {address}: {why}; asking again in {delay} s",
                     address=self._address, why=self._why, delay=round(delay, 1))
            await task.deferLater(self._reactor, delay, lambda: None)
            delay = min(delay * 2, 5.0)
        if not self._refresher.running:
            self._refresher.start(self._refresh_interval, now=False)
        await gather(*[node.connect() for node in list(self._nodes.values())])

    def refresh(self):
        """Ask for the slot map again (once at a time: a call made meanwhile shares the
        answer).

        :returns: Deferred firing with whether a node answered.
        """
        waiting = defer.Deferred()
        self._refresh_waiters.append(waiting)
        if len(self._refresh_waiters) == 1:
            defer.Deferred.fromCoroutine(self._refresh()).addBoth(self._refreshed)
        return waiting

    def _refreshed(self, result):
        waiters, self._refresh_waiters = self._refresh_waiters, []
        for waiting in waiters:
            waiting.callback(result)

    def _refresh_soon(self):
        if not self._refresh_waiters and not self._closing:
            self.refresh()

    async def _refresh(self):
        candidates = list(dict.fromkeys([*self._nodes, *self._address.seeds]))
        problems = []
        for where in candidates:
            if self._closing:
                return False
            commands = [("CLUSTER", "SLOTS")]
            if self._address.password is not None:
                user = (self._address.username,) if self._address.username else ()
                commands.insert(0, ("AUTH", *user, self._address.password))
            try:
                replies = await ask(self._reactor, *where, commands,
                                    self._address.connect_timeout)
            except Exception as exc:
                problems.append(f"{host_port(*where)}: {str(exc).rstrip('.') or type(exc)}")
                continue
            ranges = replies[-1]
            if self._closing:
                return False
            if not ranges:
                problems.append(f"{host_port(*where)}: no slot is served")
                continue
            self._install(ranges, where)
            return True
        self._why = "no node gave the slot map (" + "; ".join(problems) + ")"
        return False

    def _install(self, ranges, source):
        slots = [None] * SLOTS
        for start, end, master, *_replicas in ranges:
            host = master[0].decode() or source[0]
            where = (host, int(master[1]))
            slots[start:end + 1] = [where] * (end - start + 1)
        masters = set(filter(None, slots))
        before = set(filter(None, self._slots))
        changed = slots != self._slots
        self._slots = slots
        for where in masters:
            self._node(where)
        for where in set(self._nodes) - masters:
            self._nodes.pop(where).close()
        if changed:
            uncovered = slots.count(None)
            log.info(
                "Redis {address}: slot map from {source}: masters {masters}{gap}",
                address=self._address, source=host_port(*source),
                masters=", ".join(host_port(*m) for m in sorted(masters)),
                gap=f" ({uncovered} slots without a master)" if uncovered else "",
            )
            if before and before != masters:
                log.info("Redis {address}: masters changed: {gone} left, {new} joined",
                         address=self._address,
                         gone=", ".join(host_port(*m) for m in sorted(before - masters))
                         or "none",
                         new=", ".join(host_port(*m) for m in sorted(masters - before))
                         or "none")
        if None in slots:
            self._why = "some slots have no master"

    def close(self):
        """Stop asking for the map and close every master's connection.

        :returns: Deferred firing once all are closed.
        """
        self._closing = True
        if self._refresher.running:
            self._refresher.stop()
        nodes, self._nodes = list(self._nodes.values()), {}
        return gather(*[node.close() for node in nodes]).addCallback(lambda _: None)


def _where(text):
    """``(host, port)`` of the ``slot host:port`` of a ``MOVED``/``ASK`` reply."""
    address = text.split()[-1]
    host, _, port = address.rpartition(":")
    return host, int(port)
