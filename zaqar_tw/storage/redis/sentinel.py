"""Finding and following a Redis master through Redis Sentinel.

:class:`SentinelEndpoint` is the endpoint of a
:class:`~zaqar_tw.storage.redis.connection.RedisConnection` whose address is a
:class:`~zaqar_tw.storage.redis.uri.SentinelAddress`: every connection attempt first asks the
sentinels, in turn, where the master is (``SENTINEL get-master-addr-by-name``), then connects
there.  So whatever drops the connection (the master died, it answered ``-READONLY`` or
``-LOADING``, it turned out to be a replica, a sentinel announced ``+switch-master``) makes
the next attempt find the new master.  Each change of master is one log line.

:class:`SwitchWatch` listens to the sentinels' ``+switch-master`` announcements (on one
sentinel at a time, moving on to the next when its connection fails), so that a connection
to a master that was demoted without dying is dropped at once.
"""

from twisted.application.internet import ClientService
from twisted.internet import defer
from twisted.internet.defer import CancelledError
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.error import ConnectError
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.logger import Logger
from zope.interface import implementer

from zaqar_tw.storage.redis import connection as _connection
from zaqar_tw.storage.redis.uri import host_port

log = Logger()

#: The channel on which sentinels announce a new master.
SWITCH_CHANNEL = "+switch-master"


def _auth(password):
    return [("AUTH", password)] if password is not None else []


@implementer(IStreamClientEndpoint)
class SentinelEndpoint:
    """Connects to the master the sentinels of ``address`` name at the time of the attempt.

    :param reactor: the reactor.
    :param address: a :class:`~zaqar_tw.storage.redis.uri.SentinelAddress`.
    :ivar master: ``(host, port)`` of the master last found, or ``None``.
    """

    def __init__(self, reactor, address):
        self._reactor = reactor
        self._address = address
        self._sentinels = list(address.sentinels)
        self.master = None
        self._watch = None

    def __repr__(self):
        return f"<Redis {self._address}>"

    def connect(self, factory):
        """Find the master, then connect ``factory`` to it.

        :returns: Deferred firing with the protocol; it fails with ``ConnectError`` when
            no sentinel names a master.
        """
        return defer.Deferred.fromCoroutine(self._connect(factory))

    async def _connect(self, factory):
        host, port = await self.locate()
        endpoint = HostnameEndpoint(
            self._reactor, host, port, timeout=self._address.connect_timeout
        )
        return await endpoint.connect(factory)

    async def locate(self):
        """Ask the sentinels, one after the other, where the master is; the first that
        knows answers (and is asked first next time).

        :returns: ``(host, port)`` of the master.
        :raises ConnectError: no sentinel could say.
        """
        address = self._address
        problems = []
        for sentinel in list(self._sentinels):
            where = host_port(*sentinel)
            commands = _auth(address.sentinel_password) + [
                ("SENTINEL", "get-master-addr-by-name", address.master_name)
            ]
            try:
                replies = await _connection.ask(
                    self._reactor, *sentinel, commands, address.connect_timeout
                )
            except CancelledError:
                raise  # the connection is being closed
            except Exception as exc:
                cause = str(exc).rstrip(".") or type(exc).__name__
                problems.append(f"sentinel {where}: {cause}")
                continue
            found = replies[-1]
            if not found:
                problems.append(f"sentinel {where} knows no master {address.master_name!r}")
                continue
            self._sentinels.remove(sentinel)
            self._sentinels.insert(0, sentinel)
            master = (found[0].decode(), int(found[1]))
            if master != self.master:
                log.info(
                    "Redis master {name!r} is at {new} (before: {old}), says sentinel "
                    "{sentinel}", name=address.master_name, new=host_port(*master),
                    old=host_port(*self.master) if self.master else "not known",
                    sentinel=where,
                )
                self.master = master
            return master
        raise ConnectError(string="no master known: " + "; ".join(problems))

    def watch(self, moved):
        """Start listening to ``+switch-master``; call ``moved(why)`` when the master is no
        longer the one last found."""
        if self._watch is None:
            self._watch = SwitchWatch(self._reactor, self._address, self._switched)
            self._watch.startService()
        self._moved = moved

    def unwatch(self):
        """Stop listening.

        :returns: Deferred firing once the watch's connection is closed.
        """
        watch, self._watch = self._watch, None
        return watch.stopService() if watch is not None else defer.succeed(None)

    def _switched(self, name, old, new):
        if name != self._address.master_name or new == self.master:
            return
        why = (f"sentinels switched master {name!r} from {host_port(*old)} to "
               f"{host_port(*new)}")
        self._moved(why)


class _SubscriberProtocol(_connection._RedisProtocol):
    """A connection in subscriber mode: published messages go to its owner."""

    def replyReceived(self, reply):
        if isinstance(reply, list) and reply and reply[0] == b"message":
            self.owner._message(reply[2])
            return
        super().replyReceived(reply)


class _SubscriberFactory(_connection._ProtocolFactory):
    def buildProtocol(self, addr):
        protocol = _SubscriberProtocol(self.owner, self.reactor.callLater)
        protocol.factory = self
        return protocol


@implementer(IStreamClientEndpoint)
class _EachSentinel:
    """Connects to the sentinels in turn, one per attempt."""

    def __init__(self, reactor, address):
        self._reactor = reactor
        self._address = address
        self._next = 0

    def connect(self, factory):
        sentinels = self._address.sentinels
        host, port = sentinels[self._next % len(sentinels)]
        self._next += 1
        return HostnameEndpoint(
            self._reactor, host, port, timeout=self._address.connect_timeout
        ).connect(factory)


class SwitchWatch(ClientService):
    """Stays subscribed to ``+switch-master`` on one of the sentinels of ``address``, and
    calls ``switched(name, (old host, old port), (new host, new port))`` on each
    announcement."""

    _log = Logger(observer=lambda event: None)

    def __init__(self, reactor, address, switched):
        self._address = f"sentinels of {address}"
        self._password = address.sentinel_password
        self._switched = switched
        super().__init__(
            _EachSentinel(reactor, address), _SubscriberFactory(self, reactor),
            retryPolicy=lambda attempt: min(0.5 * attempt, 5.0), clock=reactor,
        )

    def _handshake(self, protocol):
        commands = _auth(self._password) + [("SUBSCRIBE", SWITCH_CHANNEL)]
        for command in commands:
            protocol.execute_command(*command).addErrback(
                lambda failure: protocol.transport.abortConnection()
            )

    def _lost(self, protocol, reason):
        pass

    def _message(self, payload):
        try:
            name, old_host, old_port, new_host, new_port = payload.decode().split()
            old, new = (old_host, int(old_port)), (new_host, int(new_port))
        except ValueError:
            log.warn("unreadable {channel} message: {payload!r}", channel=SWITCH_CHANNEL,
                     payload=payload)
            return
        self._switched(name, old, new)
