"""Fixtures of the storage contract suite.

Every test that takes ``storage`` runs once per store of :data:`STORES`, each built on a
``task.Clock`` set to :data:`START` (tests advance it to make things expire) and used with a
fresh project id, so tests never see each other's data.
"""

import uuid
from importlib.metadata import entry_points

import pytest
import pytest_twisted

START = 1_700_000_000
REDIS_URI = "redis://127.0.0.1:6379"


def store_class(name):
    """:returns: the store class registered under ``name`` in ``zaqar_tw.storage``."""
    (entry_point,) = entry_points(group="zaqar_tw.storage", name=name)
    return entry_point.load()


def _redis(reactor, clock):
    return store_class("redis")(reactor, REDIS_URI, clock=clock)


# name -> builder(reactor, clock); one entry per registered store (checked by a test).
STORES = {
    "redis": _redis,
}


@pytest.fixture
def store_names():
    """The names of the stores this suite builds."""
    return set(STORES)


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


@pytest_twisted.async_yield_fixture(params=sorted(STORES))
async def storage(request, clock):
    """A connected store of each registered kind."""
    from twisted.internet import reactor

    store = STORES[request.param](reactor, clock)
    await store.connect()
    yield store
    await store.close()


POSTER = "a3c0e9d4-8f1b-4c2e-9d7a-6b5e4f3a2c1d"


@pytest.fixture
def post(storage, project):
    """``await post(queue, count, ttl=, delay=, client=, body=, **fields)``: post ``count``
    messages (bodies ``{"n": i}`` unless ``body`` is given) and return their ids."""

    async def post(queue, count=1, ttl=300, delay=0, client=POSTER, body=None, **fields):
        messages = [
            {"ttl": ttl, "delay": delay, "body": {"n": i} if body is None else body, **fields}
            for i in range(count)
        ]
        return await storage.messages.post(project, queue, messages, client)

    return post
