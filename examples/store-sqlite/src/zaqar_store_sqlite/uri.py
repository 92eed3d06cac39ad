"""Parsing of SQLite store URIs.

Accepted forms (anything else raises :class:`ValueError` naming the URI)::

    sqlite:///absolute/path/to/zaqar.db[?options]
    sqlite:relative/path/to/zaqar.db[?options]      (relative to the working directory)
    sqlite:~/zaqar.db[?options]                       (~ is the user's home)
    sqlite://:memory:[?options]                       (private to the process, lost on exit)

Options, all optional:

``timeout=S``
    seconds a transaction waits for another process's write lock before the operation fails
    with ``StoreUnavailable`` (default 5).
``synchronous=full|normal``
    ``full`` (the default) fsyncs the write-ahead log at every commit, so an acknowledged
    message survives a power loss as well as a process kill; ``normal`` survives a kill of
    the process but may lose the last commits on an OS crash or power loss.
``readers=N``
    threads (each with its own connection) that serve reads beside the one writer thread
    (default 2; 0 serves everything on the writer thread; always 0 for ``:memory:``).
"""

import os
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

MEMORY = ":memory:"
DEFAULT_TIMEOUT = 5.0
DEFAULT_READERS = 2
SYNCHRONOUS = ("full", "normal")
_OPTIONS = ("timeout", "synchronous", "readers")


@dataclass(frozen=True)
class SQLiteAddress:
    """Where the database lives and how to use it.

    :ivar path: the database file (absolute), or ``":memory:"``.
    :ivar timeout: seconds to wait for a lock held by another connection.
    :ivar synchronous: ``"full"`` or ``"normal"``.
    :ivar readers: threads serving reads beside the writer thread.
    """

    path: str
    timeout: float = DEFAULT_TIMEOUT
    synchronous: str = "full"
    readers: int = DEFAULT_READERS

    @property
    def memory(self):
        """Whether the database lives in memory (one connection, nothing on disk)."""
        return self.path == MEMORY

    def __str__(self):
        return f"sqlite:{self.path}"


def parse_uri(uri):
    """Parse an SQLite store URI.

    :param uri: a ``sqlite:`` URI (forms in the module docstring).
    :returns: a :class:`SQLiteAddress`.
    :raises ValueError: another scheme, or a malformed URI; the message names the URI and
        the problem.
    """
    if not isinstance(uri, str):
        raise ValueError(f"SQLite store URI must be a string, not {uri!r}")

    def bad(problem):
        return ValueError(f"Invalid SQLite store URI {uri!r}: {problem}")

    try:
        parts = urlsplit(uri.strip())
    except ValueError as exc:
        raise bad(str(exc)) from None
    if parts.scheme.lower() != "sqlite":
        raise ValueError(
            f"Unsupported SQLite store URI {uri!r}: expected sqlite:///absolute/path.db, "
            "sqlite:relative/path.db or sqlite://:memory:"
        )
    if parts.fragment:
        raise bad("a fragment (#...) is not allowed")

    options = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in _OPTIONS:
            raise bad(f"unknown option {key!r} (known: {', '.join(_OPTIONS)})")
        if key in options:
            raise bad(f"option {key!r} given twice")
        options[key] = value

    path = unquote(parts.path)
    if parts.netloc == MEMORY or path in (MEMORY, "/" + MEMORY):
        if parts.netloc not in ("", MEMORY) or (parts.netloc and path):
            raise bad("write an in-memory database as sqlite://:memory:")
        path = MEMORY
    elif parts.netloc:
        raise bad(
            f"{parts.netloc!r} looks like a host; write sqlite:///absolute/path.db "
            "(three slashes) or sqlite:relative/path.db"
        )
    elif not path or path.endswith("/"):
        raise bad("the database file name is missing")
    else:
        path = os.path.abspath(os.path.expanduser(path))

    timeout = DEFAULT_TIMEOUT
    if "timeout" in options:
        try:
            timeout = float(options["timeout"])
        except ValueError:
            raise bad("timeout must be a number of seconds") from None
        if not 0 <= timeout <= 3600:
            raise bad("timeout must be from 0 to 3600 seconds")

    synchronous = options.get("synchronous", "full").lower()
    if synchronous not in SYNCHRONOUS:
        raise bad(f"synchronous must be one of {', '.join(SYNCHRONOUS)}")

    readers = DEFAULT_READERS
    if "readers" in options:
        text = options["readers"]
        if not text.isdigit() or int(text) > 64:
            raise bad("readers must be a whole number from 0 to 64")
        readers = int(text)
    if path == MEMORY:
        readers = 0  # another connection would see another, empty database
    return SQLiteAddress(path, timeout, synchronous, readers)
