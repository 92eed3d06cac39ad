"""One self-healing connection to a Redis server, on txredisapi's protocol.

:class:`RedisConnection` keeps a single connection (Redis answers in order, so every caller
shares it, and commands issued in one reactor turn go out in one write).  It reconnects
forever with exponential backoff, logs why a connection failed or was lost, sends a periodic
``PING`` whose reply must come within a timeout (else the connection is dropped), and loads
the store's scripts on every new connection.  While no connection is ready, every command
fails at once with :class:`~zaqar_tw.errors.StoreUnavailable`; so does a command whose
connection is lost before it is answered, and any error reply of the server.

Each reconnection attempt is one log line, with its cause and its (rounded) delay.

Through Sentinel (an address that ``follows_master``), every attempt asks the sentinels where
the master is (see :mod:`zaqar_tw.storage.redis.sentinel`), a new connection is used only once
``ROLE`` says it reached a master, and the connection is dropped (so the next attempt finds
the new master) when a reply says the server is no master any more (``-READONLY``,
``-LOADING``) or a sentinel announces ``+switch-master``.

With ``wait_replicas`` (N > 0), a write is acknowledged only once N replicas have it: the
writes sent in one reactor turn are followed by one ``WAIT N timeout``, and a ``WAIT`` that
falls short fails them all with :class:`~zaqar_tw.errors.WriteNotReplicated`.
"""

import random
from collections import deque
from functools import lru_cache

import txredisapi
from twisted.application.internet import ClientService
from twisted.internet import defer
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.protocol import Factory
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from zaqar_tw.errors import StoreUnavailable, WriteNotReplicated

try:
    import hiredis
except ImportError:  # optional: txredisapi's own parser is used without it
    hiredis = None

log = Logger()

#: Error replies saying the server is not (or not yet) a master able to serve us: a
#: connection that follows its master drops and finds it again.
NOT_MASTER = ("READONLY", "LOADING", "MASTERDOWN")

#: The commands the store sends outside scripts that write (followed by ``WAIT`` when the
#: store waits for replicas).
WRITE_COMMANDS = frozenset({
    "ZADD", "ZREM", "ZINCRBY", "UNLINK", "DEL", "HSET", "HSETNX", "HDEL", "HINCRBY", "SET",
    "SETNX", "INCR", "INCRBY", "SADD", "SREM", "LPUSH", "RPUSH", "LREM", "LTRIM", "XADD",
    "XDEL", "XTRIM", "EXPIRE", "PEXPIRE",
})


def gather(*deferreds):
    """:returns: a Deferred firing with the list of results of ``deferreds``, or failing with
    the first failure among them (the others are consumed).  Cancelling it cancels them."""
    results = [None] * len(deferreds)
    remaining = [len(deferreds)]
    done = Deferred(lambda _: [d.cancel() for d in deferreds])
    if not deferreds:
        done.callback(results)
        return done

    def succeeded(value, index):
        results[index] = value
        remaining[0] -= 1
        if remaining[0] == 0 and not done.called:
            done.callback(results)

    def failed(failure, index):
        if not done.called:
            done.errback(failure)

    for index, d in enumerate(deferreds):
        d.addCallbacks(succeeded, failed, callbackArgs=(index,), errbackArgs=(index,))
    return done


def both(first, second):
    """Wait for two commands sent in this order on one connection (so ``first`` is answered
    first), more cheaply than :func:`gather`.

    :returns: a Deferred firing with the reply of ``first`` once both are answered, or
        failing with the first failure of the two (the other one's is consumed).
    """

    def first_failed(failure):
        second.addErrback(lambda _: None)
        return failure

    return first.addCallbacks(
        lambda reply: second.addCallback(lambda _: reply), first_failed
    )


def encode_arguments(args):
    """The RESP bulk strings of a command's arguments, without the leading array header
    (txredisapi's encoding, several times faster for our arguments)."""
    parts = []
    for arg in args:
        if isinstance(arg, str):
            arg = arg.encode()
        elif isinstance(arg, int) and not isinstance(arg, bool):
            arg = b"%d" % arg
        elif isinstance(arg, float):
            arg = format(arg, "f").encode()
        elif isinstance(arg, (bytearray, memoryview)):
            arg = bytes(arg)
        elif not isinstance(arg, bytes):
            arg = str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(parts)


@lru_cache(maxsize=4096)
def _script_head(sha, keys):
    """``EVALSHA sha numkeys keys...`` encoded (a queue's scripts repeat it on every call)."""
    return encode_arguments(("EVALSHA", sha, len(keys), *keys))


class _RedisProtocol(txredisapi.BaseRedisProtocol):
    """txredisapi's protocol, reporting to its :class:`RedisConnection` and using the injected
    reactor for its timers (txredisapi's own default is the global reactor).

    The command path is leaner than txredisapi's: one Deferred per command, kept in a FIFO
    that replies pop (Redis answers in order), and replies parsed by ``hiredis`` when it is
    installed (else by txredisapi's parser).  Replies are what txredisapi gives with
    ``charset=None, convertNumbers=False``: bulk strings as ``bytes``, integers as ``int``,
    nil as ``None``, arrays as lists; an error reply fails its Deferred with
    :class:`txredisapi.ResponseError`.
    """

    def __init__(self, owner, call_later):
        super().__init__(charset=None, convertNumbers=False)
        self.owner = owner
        self.callLater = call_later
        self._waiting = deque()
        self._reader = None
        if hiredis is not None:
            self._reader = hiredis.Reader(
                protocolError=txredisapi.InvalidData, replyError=txredisapi.ResponseError
            )

    def connectionMade(self):
        self.connected = 1
        self.owner._handshake(self)

    def dataReceived(self, data, unpause=False):
        reader = self._reader
        if reader is None:
            return super().dataReceived(data, unpause)
        reader.feed(data)
        try:
            reply = reader.gets()
            while reply is not False:
                self.replyReceived(reply)
                reply = reader.gets()
        except txredisapi.InvalidData:
            log.failure("Redis at {address} sent a reply that is not RESP",
                        address=self.owner._address)
            self.transport.abortConnection()
        return None

    def replyReceived(self, reply):
        if not self._waiting:
            log.error("Redis at {address} sent a reply nobody asked for: {reply!r}",
                      address=self.owner._address, reply=reply)
            return
        d = self._waiting.popleft()
        if isinstance(reply, Exception):
            d.errback(reply)
        else:
            d.callback(reply)

    def execute_command(self, *args, **kwargs):
        """Send one command.

        :returns: a Deferred firing with its reply.
        :raises txredisapi.ConnectionError: the connection is closed.
        """
        return self.send_encoded(b"*%d\r\n%s" % (len(args), encode_arguments(args)))

    def send_encoded(self, command):
        """Send one command already encoded as RESP (see :func:`encode_arguments`).

        :returns: a Deferred firing with its reply.
        :raises txredisapi.ConnectionError: the connection is closed.
        """
        if not self.connected:
            raise txredisapi.ConnectionError("Not connected")
        self.transport.write(command)
        d = Deferred()
        self._waiting.append(d)
        return d

    def _build_command(self, *args, **kwargs):
        return b"*%d\r\n%s" % (len(args), encode_arguments(args))

    def connectionLost(self, reason):
        self.owner._lost(self, reason)
        waiting, self._waiting = self._waiting, deque()
        for d in waiting:
            d.errback(txredisapi.ConnectionError("Lost connection"))
        super().connectionLost(reason)


class _ProtocolFactory(Factory):
    noisy = False

    def __init__(self, owner, reactor):
        self.owner = owner
        self.reactor = reactor

    def buildProtocol(self, addr):
        protocol = _RedisProtocol(self.owner, self.reactor.callLater)
        protocol.factory = self
        return protocol


class _ClientService(ClientService):
    """Twisted's ``ClientService``, without its own line per retry: the retry policy of
    :class:`RedisConnection` logs each attempt, with its cause."""

    _log = Logger(observer=lambda event: None)


@implementer(IStreamClientEndpoint)
class _ReportingEndpoint:
    """An endpoint that tells its :class:`RedisConnection` why an attempt failed."""

    def __init__(self, endpoint, owner):
        self._endpoint = endpoint
        self._owner = owner

    def __repr__(self):
        return f"<Redis at {self._owner._address}>"

    def connect(self, factory):
        d = self._endpoint.connect(factory)
        d.addErrback(self._owner._attempt_failed)
        return d


class RedisConnection:
    """A connection to one Redis server that heals itself.

    :param reactor: the reactor (``IReactorTCP``/``IReactorUNIX`` and ``IReactorTime``) used
        for the connection and its timers.
    :param address: a :class:`~zaqar_tw.storage.redis.uri.RedisAddress`.
    :param scripts: :class:`~zaqar_tw.storage.redis.scripts.Script` objects loaded on every
        new connection.
    :param ping_interval: seconds between two PINGs.
    :param ping_timeout: seconds a PING may wait for its reply before the connection is
        dropped.
    :param initial_delay: seconds before the first reconnection attempt; each further failed
        attempt doubles it, up to ``max_delay`` (at most 1 s through Sentinel, where a
        failover is waited for by retrying).
    :param wait_replicas: how many replicas must have each write before it is acknowledged
        (0: do not wait).
    :param wait_timeout: seconds a write may wait for its replicas.
    """

    def __init__(self, reactor, address, scripts=(), ping_interval=5.0, ping_timeout=10.0,
                 initial_delay=0.25, max_delay=30.0, wait_replicas=0, wait_timeout=1.0):
        self._reactor = reactor
        self._address = address
        self._scripts = tuple(scripts)
        self._wait_replicas = wait_replicas
        self._wait_timeout_ms = max(1, round(wait_timeout * 1000))
        self._waiting_writes = None  # the writes of this reactor turn, awaiting one WAIT
        if address.follows_master:
            max_delay = min(max_delay, 1.0)
            initial_delay = min(initial_delay, max_delay)
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._initial_delay = initial_delay
        self._max_delay = max_delay
        self._protocol = None
        self._rejected = 0
        self._closing = False
        self._why = "not connected yet"
        self._dropping = None  # why we drop the connection ourselves, when we do
        self._waiters = []
        self._ping_deadline = None
        self._pinger = LoopingCall(self._ping)
        self._pinger.clock = reactor
        self._endpoint = address.endpoint(reactor)
        self._service = _ClientService(
            _ReportingEndpoint(self._endpoint, self),
            _ProtocolFactory(self, reactor),
            retryPolicy=self._retry_delay,
            clock=reactor,
        )

    def connect(self):
        """Start connecting (once; later calls only wait).

        :returns: Deferred firing with ``None`` once a connection is ready; it fails with
            :class:`StoreUnavailable` if :meth:`close` comes first.
        """
        if self._closing:
            return defer.fail(StoreUnavailable(f"Redis at {self._address}: closed"))
        if self._protocol is not None:
            return defer.succeed(None)
        d = Deferred()
        self._waiters.append(d)
        if not self._service.running:
            if self._address.follows_master:
                self._endpoint.watch(self._master_moved)
            self._service.startService()
        return d

    def close(self):
        """Stop reconnecting and drop the connection.

        :returns: Deferred firing once the connection is closed.
        """
        self._closing = True
        self._stop_pinging()
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            d.errback(StoreUnavailable(f"Redis at {self._address}: closed"))
        stopping = []
        if self._address.follows_master:
            stopping.append(self._endpoint.unwatch())
        if self._service.running:
            stopping.append(self._service.stopService())
        return gather(*stopping).addCallback(lambda _: None)

    def execute(self, *args):
        """Send one command.

        :returns: Deferred firing with the reply (bulk strings as ``bytes``).
        :raises StoreUnavailable: (in the Deferred) no connection is ready, the connection was
            lost before the reply, or the server answered with an error.
        :raises WriteNotReplicated: (in the Deferred) the command writes and fewer replicas
            than ``wait_replicas`` confirmed it in time.
        """
        d = self._send(args)
        if self._wait_replicas and args[0].upper() in WRITE_COMMANDS:
            d = self._replicated(d)
        return d.addErrback(self.unavailable, args[0])

    def run(self, script, keys, args):
        """Run a script with ``EVALSHA``, falling back to ``EVAL`` if the server lacks it.

        :param script: a :class:`~zaqar_tw.storage.redis.scripts.Script`; one that
            ``writes`` is followed by ``WAIT`` as :meth:`execute` says.
        :returns: Deferred firing with the script's reply; fails as :meth:`execute` does.
        """
        d = self.send_script(script, keys, args)
        if self._wait_replicas and script.writes:
            d = self._replicated(d)
        return d.addErrback(self.unavailable, script.name)

    # The steps of execute and run, for a router that redirects between them (Cluster).

    def send_command(self, args):
        """Send one command as is.

        :returns: Deferred firing with the reply; an error reply fails it with
            ``txredisapi.ResponseError``, and no connection with :class:`StoreUnavailable`.
        """
        return self._send(args)

    def send_script(self, script, keys, args):
        """Send ``EVALSHA`` (``EVAL`` when the server lacks the script), as
        :meth:`send_command` does."""
        numkeys = len(keys)
        d = self._send_encoded(b"*%d\r\n%s%s" % (
            3 + numkeys + len(args), _script_head(script.sha, tuple(keys)),
            encode_arguments(args),
        ))

        def missing(failure):
            failure.trap(txredisapi.ResponseError)
            if not str(failure.value).startswith("NOSCRIPT"):
                return failure
            return self._send(("EVAL", script.source, numkeys, *keys, *args))

        return d.addErrback(missing)

    def confirmed(self, sent, writes):
        """:returns: ``sent`` (a Deferred of this reactor turn's command), followed by
        ``WAIT`` when it ``writes`` and the connection waits for replicas."""
        if self._wait_replicas and writes:
            return self._replicated(sent)
        return sent

    def ping(self):
        """:returns: Deferred firing with whether the server answers a PING."""
        return self.execute("PING").addCallbacks(lambda _: True, lambda _: False)

    # The command path.

    def _send(self, args):
        protocol = self._protocol
        if protocol is None:
            return defer.fail(
                StoreUnavailable(f"Redis at {self._address} is unavailable: {self._why}")
            )
        try:
            return protocol.execute_command(*args)
        except Exception:
            return defer.fail()

    def _send_encoded(self, command):
        protocol = self._protocol
        if protocol is None:
            return defer.fail(
                StoreUnavailable(f"Redis at {self._address} is unavailable: {self._why}")
            )
        try:
            return protocol.send_encoded(command)
        except Exception:
            return defer.fail()

    def _replicated(self, written):
        """:returns: a Deferred firing with ``written``'s reply once the ``WAIT`` that follows
        the writes of this reactor turn confirms it."""
        batch = self._waiting_writes
        if batch is None:
            batch = self._waiting_writes = []
            self._reactor.callLater(0, self._wait_for_replicas, batch)
        confirmed = Deferred()
        batch.append(confirmed)

        def written_ok(reply):
            return confirmed.addCallback(lambda _: reply)

        def written_failed(failure):
            confirmed.addErrback(lambda _: None)
            return failure

        return written.addCallbacks(written_ok, written_failed)

    def _wait_for_replicas(self, batch):
        self._waiting_writes = None
        wanted = self._wait_replicas
        timeout = self._wait_timeout_ms

        def counted(replicas):
            if replicas < wanted:
                raise WriteNotReplicated(wanted, replicas, timeout / 1000)

        d = self._send(("WAIT", wanted, timeout)).addCallback(counted)
        d.addErrback(self.unavailable, "WAIT")

        def tell(result):
            for confirmed in batch:
                if isinstance(result, Failure):
                    confirmed.errback(result)
                else:
                    confirmed.callback(None)

        d.addBoth(tell)

    def unavailable(self, failure, what):
        """The errback turning a failure of ``what`` into :class:`StoreUnavailable` (and
        noticing a master that is no master any more)."""
        if failure.check(StoreUnavailable):
            return failure
        if failure.check(txredisapi.RedisError):
            if (failure.check(txredisapi.ResponseError) and self._address.follows_master
                    and str(failure.value).startswith(NOT_MASTER)):
                self._not_master(str(failure.value))
            elif failure.check(txredisapi.ResponseError):
                log.error(
                    "Redis at {address} answered {command} with an error: {error}",
                    address=self._address, command=what, error=failure.value,
                )
            raise StoreUnavailable(f"Redis at {self._address} failed: {failure.value}")
        return failure

    # Connection life cycle.

    def _retry_delay(self, attempt):
        # A connection that was made but then rejected (bad password, database loading...)
        # resets ClientService's count; ours keeps the backoff growing.
        attempt = max(attempt, self._rejected)
        delay = min(self._initial_delay * 2 ** min(attempt - 1, 32), self._max_delay)
        delay *= random.uniform(0.8, 1.0)
        emit = log.error if self._why.startswith("rejected") else log.warn
        emit(
            "Redis at {address}: {why}; retrying in {delay} s (attempt {attempt})",
            address=self._address, why=self._why, delay=round(delay, 1), attempt=attempt,
        )
        return delay

    def _attempt_failed(self, failure):
        if not failure.check(CancelledError):
            self._why = f"cannot connect: {_cause(failure)}"
        return failure

    def _handshake(self, protocol):
        address = self._address
        commands = []
        if address.password is not None:
            if address.username:
                commands.append(("AUTH", address.username, address.password))
            else:
                commands.append(("AUTH", address.password))
        if address.db:
            commands.append(("SELECT", address.db))
        for script in self._scripts:
            commands.append(("SCRIPT", "LOAD", script.source))
        if address.follows_master:
            commands.append(("ROLE",))
        if not commands:
            self._ready(protocol)
            return
        # A server that accepts connections but never answers must not hold us here.
        deadline = self._reactor.callLater(
            self._ping_timeout, self._handshake_timed_out, protocol
        )
        d = gather(*[protocol.execute_command(*command) for command in commands])

        def done(result):
            if deadline.active():
                deadline.cancel()
            return result

        d.addBoth(done)
        d.addCallbacks(self._logged_in, self._rejected_by_server,
                       callbackArgs=(protocol,), errbackArgs=(protocol,))

    def _logged_in(self, replies, protocol):
        if self._address.follows_master and replies[-1][0] != b"master":
            self._drop(protocol, "the server named as master is a replica (not switched yet)")
            return
        self._ready(protocol)

    def _handshake_timed_out(self, protocol):
        self._drop(protocol, f"no answer within {self._ping_timeout:g} s of connecting")

    def _rejected_by_server(self, failure, protocol):
        self._rejected += 1
        self._drop(protocol, f"rejected the connection: {_cause(failure)}")

    def _drop(self, protocol, why):
        """Drop ``protocol``'s connection; the retry line gives ``why``."""
        self._why = self._dropping = why
        if protocol.transport is not None:
            protocol.transport.abortConnection()

    def _not_master(self, error):
        """The server answered that it is no master (any more): find the master again."""
        protocol = self._protocol
        if protocol is not None and self._dropping is None:
            log.warn("Redis at {address}: the master answered {error}; finding it again",
                     address=self._address, error=error)
            self._drop(protocol, f"the master answered {error.split()[0]}")

    def _master_moved(self, why):
        """A sentinel announced another master: drop the connection to the old one."""
        protocol = self._protocol
        if protocol is not None and self._dropping is None:
            log.warn("Redis at {address}: {why}", address=self._address, why=why)
            self._drop(protocol, why)

    def _ready(self, protocol):
        if self._closing or not protocol.connected:
            return
        self._protocol = protocol
        self._rejected = 0
        self._why = "connection lost"
        self._dropping = None
        log.info("Connected to Redis at {address}", address=self._address)
        self._pinger.start(self._ping_interval, now=False)
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            d.callback(None)

    def _lost(self, protocol, reason):
        if protocol is not self._protocol:
            return
        self._protocol = None
        self._stop_pinging()
        self._why = self._dropping or f"connection lost: {_cause(reason)}"
        self._dropping = None

    # Liveness.

    def _ping(self):
        protocol = self._protocol
        if protocol is None or self._ping_deadline is not None:
            return
        deadline = self._reactor.callLater(self._ping_timeout, self._ping_timed_out, protocol)
        self._ping_deadline = deadline
        protocol.execute_command("PING").addBoth(lambda _: self._pong(deadline))

    def _pong(self, deadline):
        if deadline is None or deadline is not self._ping_deadline:
            return
        self._ping_deadline = None
        if deadline.active():
            deadline.cancel()

    def _ping_timed_out(self, protocol):
        self._ping_deadline = None
        self._drop(protocol, f"no answer to PING within {self._ping_timeout:g} s")

    def _stop_pinging(self):
        if self._pinger.running:
            self._pinger.stop()
        self._pong(self._ping_deadline)


class _Question:
    """The owner of a connection that sends a few commands, collects the replies, hangs up."""

    def __init__(self, where, commands):
        self._address = where
        self._commands = commands
        self.replies = defer.Deferred()

    def _handshake(self, protocol):
        d = gather(*[protocol.execute_command(*c) for c in self._commands])

        def hang_up(result):
            protocol.transport.loseConnection()
            if not self.replies.called:
                self.replies.callback(result)

        def failed(failure):
            protocol.transport.abortConnection()
            if not self.replies.called:
                self.replies.errback(failure)

        d.addCallbacks(hang_up, failed)

    def _lost(self, protocol, reason):
        if not self.replies.called:
            self.replies.errback(reason)


async def ask(reactor, host, port, commands, timeout):
    """Send ``commands`` to the Redis server (or sentinel) at ``host:port`` on a connection of
    their own.

    :returns: the list of replies.
    :raises Exception: the connection failed, a reply was an error, or ``timeout`` seconds
        passed.
    """
    question = _Question(f"{host}:{port}", commands)
    factory = _ProtocolFactory(question, reactor)
    endpoint = HostnameEndpoint(reactor, host, port, timeout=timeout)
    connecting = endpoint.connect(factory)
    connecting.addTimeout(timeout, reactor)
    protocol = await connecting
    replies = question.replies
    replies.addTimeout(timeout, reactor)
    try:
        return await replies
    finally:
        if protocol.transport is not None and protocol.connected:
            protocol.transport.abortConnection()


def _cause(failure):
    """A failure's message, for a log line (without Twisted's trailing period)."""
    return failure.getErrorMessage().rstrip(".")
