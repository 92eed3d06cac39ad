"""Parsing of Redis store URIs into an address to connect to.

Accepted forms (anything else raises :class:`ValueError` naming the URI)::

    redis://[[user]:password@]host[:port][/db][?dbid=N][&socket_timeout=S]
    redis+unix:///path/to/redis.sock[?db=N][&password=P][&socket_timeout=S]

``dbid`` is the spelling Zaqar writes; ``db`` is accepted in both forms, as is ``password``
in the query.  ``socket_timeout`` (seconds) bounds each connection attempt.
"""

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 6379
DEFAULT_CONNECT_TIMEOUT = 10.0

_QUERY_KEYS = frozenset({"db", "dbid", "password", "socket_timeout"})
_USERINFO = re.compile(r"\A([^:/?#]+://)(?:([^:@/?#]*:))?[^@/?#]*@")
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*")


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


def redact(uri):
    """:returns: ``uri`` with any password replaced by ``***``, for error texts."""
    uri = _USERINFO.sub(lambda m: f"{m[1]}{m[2] or ''}***@", uri, count=1)
    return _QUERY_PASSWORD.sub(r"\1***", uri)


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

    if scheme == "redis+sentinel":
        raise ValueError(
            f"Redis store URI {redact(uri)!r}: redis+sentinel:// is not supported yet; "
            "use redis://host:port/db or redis+unix:///path.sock"
        )
    if scheme not in ("redis", "redis+unix"):
        raise ValueError(
            f"Unsupported Redis store URI {redact(uri)!r}: expected "
            "redis://[:password@]host[:port][/db] or redis+unix:///path.sock?db=N"
        )
    if parts.fragment:
        raise bad("a fragment (#...) is not allowed")

    query = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
        if key not in _QUERY_KEYS:
            raise bad(f"unknown parameter {key!r} (known: {', '.join(sorted(_QUERY_KEYS))})")
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


def _db_number(text, bad):
    if not text.isdigit():
        raise bad(f"the database must be a non-negative integer, not {text!r}")
    return int(text)
