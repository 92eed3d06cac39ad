"""A one-off login to a Redis server at start-up, to tell a mistake from an outage.

A wrong password or a database the server does not have will never heal: start-up stops with
a message saying so.  A server that cannot be reached, or that is still loading its data, is
an outage: the service starts anyway, answers 503 and reconnects on its own.

It runs before the reactor does (``twistd`` checks its configuration first), so it uses a
plain blocking socket, bounded by a short timeout.
"""

import socket

from zaqar_tw.storage.redis.connection import encode_arguments
from zaqar_tw.storage.redis.uri import parse_uri

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


def _refusal(address, command, error):
    if command == "SELECT":
        return f"Redis at {address} refused database {address.db}: {error}"
    if command == "AUTH":
        return f"Redis at {address} refused the password: {error}"
    return f"Redis at {address} refused the connection: {error} (is a password needed?)"


def _exchange(address, commands, timeout):
    """Send ``commands`` at once and read one reply line for each.

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
        for _ in commands:
            line = replies.readline(4096)
            if not line.endswith(b"\r\n") or line[:1] not in b"+-":
                raise ValueError(f"not a Redis reply: {line[:40]!r}")
            lines.append(line[:-2].decode("utf-8", "replace"))
        return lines
