"""The factory zaqar-tw's test suites use to build this store (entry point ``sqlite`` of the
``zaqar_tw.storage_tests`` group)."""

from urllib.parse import quote

from zaqar_store_sqlite.store import SQLiteStorage


def make_test_store(reactor, clock, directory):
    """A fresh store on a new database file of its own.

    :param reactor: the reactor the store runs on.
    :param clock: the ``IReactorTime`` the store takes "now" from.
    :param directory: a ``pathlib.Path`` of an empty directory private to the test.
    :returns: an unconnected :class:`SQLiteStorage`.
    """
    path = (directory / "zaqar.db").absolute()
    return SQLiteStorage(reactor, "sqlite://" + quote(str(path)), clock=clock)
