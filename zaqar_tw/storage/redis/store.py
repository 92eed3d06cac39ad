"""The default store: Redis through txredisapi.

``RedisStorage(reactor, "redis://127.0.0.1:6379/0")`` provides ``IStorage``; call
:meth:`RedisStorage.connect` to start connecting.  See ``keys.py`` for the layout and
``common.lua`` and ``subscription_common.lua`` for the invariants the scripts keep.
"""

from functools import lru_cache

from zope.interface import implementer

from zaqar_tw.interfaces import IStorage, ITimeSource
from zaqar_tw.storage.redis.claims import RedisClaimStore
from zaqar_tw.storage.redis.cluster import ClusterConnection
from zaqar_tw.storage.redis.connection import RedisConnection
from zaqar_tw.storage.redis.messages import RedisMessageStore
from zaqar_tw.storage.redis.queues import RedisQueueStore
from zaqar_tw.storage.redis.rates import RedisRateStore
from zaqar_tw.storage.redis.runner import ScriptRunner
from zaqar_tw.storage.redis.scripts import load_scripts
from zaqar_tw.storage.redis.subscriptions import RedisSubscriptionStore
from zaqar_tw.storage.redis.uri import ClusterAddress, parse_uri


@lru_cache(maxsize=1)
def _scripts():
    return load_scripts()


def connect_to(reactor, address, scripts, **options):
    """:returns: the connection serving ``address``: a
    :class:`~zaqar_tw.storage.redis.cluster.ClusterConnection` for a cluster, else a
    :class:`~zaqar_tw.storage.redis.connection.RedisConnection` (one server, or the master
    the sentinels name)."""
    if isinstance(address, ClusterAddress):
        return ClusterConnection(reactor, address, scripts, **options)
    return RedisConnection(reactor, address, scripts, **options)


@implementer(IStorage, ITimeSource)
class RedisStorage:
    """A store on one Redis server.

    :param reactor: the reactor the connection runs on.
    :param uri: ``redis://[:password@]host[:port][/db]`` (or ``?dbid=N``),
        ``redis+unix:///path.sock?db=N``, ``redis+sentinel://host:port,.../master[/db]`` or
        ``redis+cluster://host:port,...``;
        see :mod:`zaqar_tw.storage.redis.uri`.
    :param clock: the ``IReactorTime`` every notion of "now" comes from (default: reactor).
    :param connection_options: passed to
        :class:`~zaqar_tw.storage.redis.connection.RedisConnection` (ping and backoff tuning,
        ``wait_replicas`` and ``wait_timeout``).
    :raises ValueError: the URI is not a Redis URI this store understands.
    """

    def __init__(self, reactor, uri, clock=None, **connection_options):
        self.address = parse_uri(uri)
        scripts = _scripts()
        self._connection = connect_to(reactor, self.address, scripts.values(),
                                      **connection_options)
        runner = ScriptRunner(self._connection, clock if clock is not None else reactor, scripts)
        self.queues = RedisQueueStore(runner)
        self.messages = RedisMessageStore(runner)
        self.claims = RedisClaimStore(runner)
        self.subscriptions = RedisSubscriptionStore(runner)
        self.rates = RedisRateStore(runner)

    def connect(self):
        """Start connecting (reconnecting forever after that).

        :returns: Deferred firing once the first connection is ready.  Requests made before
            then fail at once with :class:`~zaqar_tw.errors.StoreUnavailable`.
        """
        return self._connection.connect()

    def ping(self):
        """:returns: Deferred firing with whether Redis answers."""
        return self._connection.ping()

    def time(self):
        """:returns: Deferred firing with the Redis server's ``TIME``, in epoch seconds."""
        return self._connection.execute("TIME").addCallback(
            lambda reply: int(reply[0]) + int(reply[1]) / 1e6
        )

    def close(self):
        """Stop reconnecting and close the connection.

        :returns: Deferred firing once closed.
        """
        return self._connection.close()
