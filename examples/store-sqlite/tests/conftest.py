"""Fixtures of the SQLite store's own tests: a clock, a fresh project, a store on a new file.

The storage contract suite and the REST tests of zaqar-tw run against this store from
``test_zaqar_suites.py``; these tests cover what is particular to SQLite.
"""

import uuid

import pytest
import pytest_twisted

START = 1_700_000_000


@pytest.fixture
def clock():
    """A clock at START, shared by the store under test and the test."""
    from twisted.internet.task import Clock

    c = Clock()
    c.advance(START)
    return c


@pytest.fixture
def project():
    """A project id no other test uses."""
    return uuid.uuid4().hex


@pytest.fixture
def database(tmp_path):
    """The path of a database file private to the test (not created yet)."""
    return tmp_path / "zaqar.db"


@pytest_twisted.async_yield_fixture
async def open_store(clock):
    """``open_store(uri)``: a store on ``uri`` with the test's clock, closed after the test."""
    from twisted.internet import reactor

    from zaqar_store_sqlite import SQLiteStorage

    opened = []

    def open_store(uri):
        store = SQLiteStorage(reactor, uri, clock=clock)
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        await store.close()


@pytest_twisted.async_fixture
async def store(open_store, database):
    """A connected store on the test's database file."""
    store = open_store(f"sqlite://{database}")
    await store.connect()
    return store
