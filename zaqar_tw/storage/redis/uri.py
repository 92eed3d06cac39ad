"""Parsing of Redis store URIs into an address to connect to.

Accepted forms (anything else raises :class:`ValueError` naming the URI)::

    redis://[[user]:password@]host[:port][/db][?dbid=N][&socket_timeout=S]
    redis+unix:///path/to/redis.sock[?db=N][&password=P][&socket_timeout=S]
    redis+sentinel://[[user]:password@]host1[:port1][,host2[:port2]...]/mastername[/db]
        [?sentinel_password=P][&socket_timeout=S]
    redis+cluster://[[user]:password@]host1[:port1][,host2[:port2]...][?socket_timeout=S]

``dbid`` is the spelling Zaqar writes; ``db`` is accepted in all forms, as is ``password``
in the query.  ``socket_timeout`` (seconds) bounds each connection attempt.  In the Sentinel
form the hosts are the sentinels (port 26379 by default), the password is the master's, and
``sentinel_password`` the sentinels' own, if they ask for one.  In the Cluster form the
hosts are nodes to learn the cluster's map from (port 6379 by default); a cluster has only
database 0.
"""

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 6379
DEFAULT_SENTINEL_PORT = 26379
DEFAULT_CONNECT_TIMEOUT = 10.0

_QUERY_KEYS = frozenset({"db", "dbid", "password", "socket_timeout"})
_SENTINEL_QUERY_KEYS = _QUERY_KEYS | {"sentinel_password"}
_USERINFO = re.compile(r"\A([^:/?#]+://)(?:([^:@/?#]*:))?[^@/?#]*@")
_QUERY_PASSWORD = re.compile(r"([?&](?:sentinel_)?password=)[^&#]*")


@dataclass(frozen=True)
class RedisAddress:
    """Where a Redis server listens and how to log in.

    :ivar host: the TCP host, or ``None`` for a unix socket.
    :ivar port: the TCP port, or ``None`` for a unix socket.
    :ivar path: the unix socket path, or ``None`` for TCP.
    :ivar db: the database number to ``SELECT``.
    :ivar username: the ACL user name for ``AUTH``, or ``None``.
    :ivar password: the password for ``AUTH``, or ``None``.
    :ivar connect_timeout: seconds one connection attempt may take.
    """

    host: str | None = DEFAULT_HOST
    port: int | None = DEFAULT_PORT
    path: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT

    #: A connection to this address stays with this server.
    follows_master = False

    def endpoint(self, reactor):
        """:returns: an ``IStreamClientEndpoint`` reaching this address."""
        from twisted.internet.endpoints import HostnameEndpoint, UNIXClientEndpoint

        if self.path is not None:
            return UNIXClientEndpoint(reactor, self.path, timeout=self.connect_timeout)
        return HostnameEndpoint(reactor, self.host, self.port, timeout=self.connect_timeout)

    def __str__(self):
        """The address for log lines and error texts (never the password)."""
        if self.path is not None:
            where = f"unix:{self.path}"
        elif ":" in self.host:
            where = f"[{self.host}]:{self.port}"
        else:
            where = f"{self.host}:{self.port}"
        return f"{where} db {self.db}"


def host_port(host, port):
    """:returns: ``host:port`` (``[host]:port`` for an IPv6 address), for texts."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True)
class SentinelAddress:
    """A master found through Redis Sentinel, and how to log in to it.

    :ivar sentinels: the ``(host, port)`` of each sentinel to ask, in order.
    :ivar master_name: the name the sentinels monitor the master under.
    :ivar db: the database number to ``SELECT``.
    :ivar username: the ACL user name for ``AUTH`` on the master, or ``None``.
    :ivar password: the master's password, or ``None``.
    :ivar sentinel_password: the sentinels' password, or ``None``.
    :ivar connect_timeout: seconds one connection attempt (or one question to a sentinel)
        may take.
    """

    sentinels: tuple
    master_name: str
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sentinel_password: str | None = field(default=None, repr=False)
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT

    #: A connection to this address follows the master when it moves.
    follows_master = True

    def endpoint(self, reactor):
        """:returns: an ``IStreamClientEndpoint`` that asks the sentinels where the master
        is on every connection attempt (see :mod:`zaqar_tw.storage.redis.sentinel`)."""
        from zaqar_tw.storage.redis.sentinel import SentinelEndpoint

        return SentinelEndpoint(reactor, self)

    def __str__(self):
        """The address for log lines and error texts (never a password)."""
        where = ",".join(host_port(host, port) for host, port in self.sentinels)
        return f"master {self.master_name!r} of sentinels {where} db {self.db}"


def redact(uri):
    """:returns: ``uri`` with any password replaced by ``***``, for error texts."""
    uri = _USERINFO.sub(lambda m: f"{m[1]}{m[2] or ''}***@", uri, count=1)
    return _QUERY_PASSWORD.sub(r"\1***", uri)


@dataclass(frozen=True)
class ClusterAddress:
    """A Redis Cluster, known by a few of its nodes, and how to log in to its nodes.

    :ivar seeds: the ``(host, port)`` of each node to ask for the cluster's map, in order.
    :ivar username: the ACL user name for ``AUTH``, or ``None``.
    :ivar password: the nodes' password, or ``None``.
    :ivar connect_timeout: seconds one connection attempt may take.
    """

    seeds: tuple
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT

    db = 0
    follows_master = False

    def node(self, host, port):
        """:returns: the :class:`RedisAddress` of the node at ``host:port``."""
        return RedisAddress(
            host=host, port=port, username=self.username, password=self.password,
            connect_timeout=self.connect_timeout,
        )

    def __str__(self):
        """The address for log lines and error texts (never a password)."""
        return "cluster of " + ",".join(host_port(host, port) for host, port in self.seeds)


def parse_uri(uri):
    """Parse a Redis store URI.

    :param uri: a ``redis://`` or ``redis+unix://`` URI.
    :returns: a :class:`RedisAddress`.
    :raises ValueError: the URI is of another scheme or malformed; the message names the
        URI (password hidden) and the problem.
    """
    if not isinstance(uri, str):
        raise ValueError(f"Redis store URI must be a string, not {uri!r}")
    try:
        parts = urlsplit(uri)
    except ValueError as e:
        raise ValueError(f"Invalid Redis store URI {redact(uri)!r}: {e}") from None
    scheme = parts.scheme.lower()

    def bad(problem):
        return ValueError(f"Invalid Redis store URI {redact(uri)!r}: {problem}")

    if scheme not in ("redis", "redis+unix", "redis+sentinel", "redis+cluster"):
        raise ValueError(
            f"Unsupported Redis store URI {redact(uri)!r}: expected "
            "redis://[:password@]host[:port][/db], redis+unix:///path.sock?db=N, "
            "redis+sentinel://host1:port1,host2:port2/mastername[/db] or "
            "redis+cluster://host1:port1,host2:port2"
        )
    if parts.fragment:
        raise bad("a fragment (#...) is not allowed")

    known = _SENTINEL_QUERY_KEYS if scheme == "redis+sentinel" else _QUERY_KEYS
    query = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
        if key not in known:
            raise bad(f"unknown parameter {key!r} (known: {', '.join(sorted(known))})")
        if key in query:
            raise bad(f"parameter {key!r} given twice")
        query[key] = value

    username = password = None
    if "@" in parts.netloc:
        userinfo = parts.netloc.rpartition("@")[0]
        user, sep, secret = userinfo.partition(":")
        if not sep:
            raise bad("write the password as redis://:password@host (note the colon)")
        username = unquote(user) or None
        password = unquote(secret)
    if "password" in query:
        if password is not None:
            raise bad("password given both before '@' and as ?password=")
        password = query["password"]

    db = None
    for key in ("db", "dbid"):
        if key in query:
            value = _db_number(query[key], bad)
            if db is not None and value != db:
                raise bad("conflicting database numbers")
            db = value

    timeout = DEFAULT_CONNECT_TIMEOUT
    if "socket_timeout" in query:
        try:
            timeout = float(query["socket_timeout"])
        except ValueError:
            raise bad("socket_timeout must be a number of seconds") from None
        if not timeout > 0:
            raise bad("socket_timeout must be positive")

    if scheme == "redis+sentinel":
        return _sentinel_address(parts, query, db, username, password, timeout, bad)
    if scheme == "redis+cluster":
        if parts.path not in ("", "/") or db:
            raise bad("a cluster has only database 0: write redis+cluster://host:port,...")
        return ClusterAddress(
            seeds=_hosts(parts, DEFAULT_PORT, bad), username=username, password=password,
            connect_timeout=timeout,
        )

    if scheme == "redis+unix":
        if parts.netloc.rpartition("@")[2]:
            raise bad("redis+unix:// takes no host; write redis+unix:///path/to/redis.sock")
        path = unquote(parts.path)
        if not path or path == "/":
            raise bad("the socket path is missing")
        return RedisAddress(
            host=None, port=None, path=path, db=db or 0, username=username,
            password=password, connect_timeout=timeout,
        )

    try:
        host = parts.hostname or DEFAULT_HOST
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise bad("the port must be a number from 1 to 65535") from None
    path = parts.path
    if path not in ("", "/"):
        value = _db_number(path[1:], bad)
        if db is not None and value != db:
            raise bad("conflicting database numbers")
        db = value
    return RedisAddress(
        host=host, port=port, path=None, db=db or 0, username=username,
        password=password, connect_timeout=timeout,
    )


def _sentinel_address(parts, query, db, username, password, timeout, bad):
    """The :class:`SentinelAddress` of a ``redis+sentinel://`` URI's parts."""
    sentinels = _hosts(parts, DEFAULT_SENTINEL_PORT, bad)
    name, _, rest = parts.path[1:].partition("/")
    name = unquote(name)
    if not name:
        raise bad("the master name is missing: redis+sentinel://host:port/mastername")
    if rest:
        value = _db_number(rest, bad)
        if db is not None and value != db:
            raise bad("conflicting database numbers")
        db = value
    return SentinelAddress(
        sentinels=tuple(sentinels), master_name=name, db=db or 0, username=username,
        password=password, sentinel_password=query.get("sentinel_password"),
        connect_timeout=timeout,
    )


def _hosts(parts, default_port, bad):
    """The ``(host, port)`` of each ``host[:port]`` of a URI's comma-separated host list
    (IPv6 in brackets)."""
    hosts = parts.netloc.rpartition("@")[2]
    if not hosts:
        raise bad(f"name at least one host: {parts.scheme}://host:port,...")
    found = []
    for item in hosts.split(","):
        match = re.fullmatch(
            r"\[([0-9A-Fa-f:.]+)\](?::(\w*))?|([^:\[\]]+)(?::(\w*))?", item
        )
        if match is None:
            raise bad(f"cannot read host address {item!r}: write host:port")
        host = match[1] or match[3]
        port = match[2] if match[1] else match[4]
        if port is None:
            port = default_port
        elif not port.isdigit() or not 0 < int(port) < 65536:
            raise bad(f"host {item!r}: the port must be a number from 1 to 65535")
        found.append((host, int(port)))
    return tuple(found)


def _db_number(text, bad):
    if not text.isdigit():
        raise bad(f"the database must be a non-negative integer, not {text!r}")
    return int(text)
