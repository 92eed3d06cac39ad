"""A one-off login to a Redis server at start-up, to tell a mistake from an outage.

A wrong password or a database the server does not have will never heal: start-up stops with
a message saying so.  A server that cannot be reached, or that is still loading its data, is
an outage: the service starts anyway, answers 503 and reconnects on its own.

It runs before the reactor does (``twistd`` checks its configuration first), so it uses a
plain blocking socket, bounded by a short timeout.
"""

import socket

from zaqar_tw.storage.redis.connection import encode_arguments
from zaqar_tw.storage.redis.uri import ClusterAddress, RedisAddress, parse_uri

#: Seconds the whole login may take; a slower server is treated as unreachable.
TIMEOUT = 2.0

#: Error replies that say "not now" rather than "never".
_TRANSIENT = ("LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN")


class LoginRefused(Exception):
    """The server refused the password or the database; the message says which and why."""


def check_login(uri, timeout=TIMEOUT):
    """Log in to the Redis of ``uri`` once (``AUTH``, ``SELECT``, ``PING``), then hang up.

    :param uri: a Redis store URI (see :mod:`zaqar_tw.storage.redis.uri`).
    :returns: ``True`` when the server accepted the login, ``False`` when it could not be
        asked (unreachable, too slow, not speaking RESP, or busy loading).
    :raises LoginRefused: the server refused the password or the database.
    :raises ValueError: the URI does not parse.
    """
    address = parse_uri(uri)
    if isinstance(address, ClusterAddress):
        return any(_check(address.node(*seed), timeout) for seed in address.seeds)
    if address.follows_master:
        address = _master_of(address, timeout)
        if address is None:
            return False
    return _check(address, timeout)


def _check(address, timeout):
    """:func:`check_login` on one server's :class:`RedisAddress`."""
    commands = []
    if address.password is not None:
        user = (address.username,) if address.username else ()
        commands.append(("AUTH", *user, address.password))
    if address.db:
        commands.append(("SELECT", address.db))
    commands.append(("PING",))
    try:
        replies = _exchange(address, commands, timeout)
    except (OSError, ValueError):
        return False
    for command, reply in zip(commands, replies):
        if not reply.startswith("-"):
            continue
        error = reply[1:]
        if error.startswith(_TRANSIENT):
            return False
        raise LoginRefused(_refusal(address, command[0], error))
    return True


def _master_of(address, timeout):
    """:returns: the :class:`RedisAddress` of the master the first answering sentinel of
    ``address`` names, or ``None`` when none does."""
    command = ("SENTINEL", "get-master-addr-by-name", address.master_name)
    for host, port in address.sentinels:
        sentinel = RedisAddress(host=host, port=port, password=address.sentinel_password)
        commands = [command]
        if address.sentinel_password is not None:
            commands.insert(0, ("AUTH", address.sentinel_password))
        try:
            reply = _exchange(sentinel, commands, timeout, last_is_array=True)[-1]
        except (OSError, ValueError):
            continue
        if isinstance(reply, list) and len(reply) == 2:
            return RedisAddress(
                host=reply[0], port=int(reply[1]), db=address.db, username=address.username,
                password=address.password, connect_timeout=address.connect_timeout,
            )
    return None


def _refusal(address, command, error):
    if command == "SELECT":
        return f"Redis at {address} refused database {address.db}: {error}"
    if command == "AUTH":
        return f"Redis at {address} refused the password: {error}"
    return f"Redis at {address} refused the connection: {error} (is a password needed?)"


def _exchange(address, commands, timeout, last_is_array=False):
    """Send ``commands`` at once and read one reply line for each (for the last, with
    ``last_is_array``, an array of bulk strings, as a list, or ``None`` for nil).

    :returns: the reply lines, decoded, without their line ends.
    :raises OSError: the connection failed or timed out.
    :raises ValueError: the server does not answer in RESP.
    """
    if address.path is not None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(address.path)
        except OSError:
            sock.close()
            raise
    else:
        sock = socket.create_connection((address.host, address.port), timeout=timeout)
    with sock, sock.makefile("rb") as replies:
        sock.sendall(b"".join(
            b"*%d\r\n%s" % (len(command), encode_arguments(command)) for command in commands
        ))
        lines = []
        for index, _ in enumerate(commands):
            if last_is_array and index == len(commands) - 1:
                lines.append(_read_array(replies))
                continue
            line = replies.readline(4096)
            if not line.endswith(b"\r\n") or line[:1] not in b"+-":
                raise ValueError(f"not a Redis reply: {line[:40]!r}")
            lines.append(line[:-2].decode("utf-8", "replace"))
        return lines


def _read_array(replies):
    """Read a RESP array of bulk strings: a list of texts, ``None`` for a nil array.

    :raises ValueError: the reply is something else.
    """
    head = replies.readline(64)
    if head.startswith(b"-"):
        raise ValueError(f"error reply: {head[:80]!r}")
    if not head.startswith(b"*") or not head.endswith(b"\r\n"):
        raise ValueError(f"not a Redis array: {head[:40]!r}")
    count = int(head[1:-2])
    if count < 0:
        return None
    items = []
    for _ in range(count):
        size = replies.readline(64)
        if not size.startswith(b"$"):
            raise ValueError(f"not a bulk string: {size[:40]!r}")
        items.append(replies.read(int(size[1:-2]) + 2)[:-2].decode("utf-8", "replace"))
    return items
