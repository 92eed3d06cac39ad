"""Fixtures of the storage contract suite.

Every test that takes ``storage`` runs once per store of :data:`STORES`, each built on a
``task.Clock`` set to :data:`START` (tests advance it to make things expire) and used with a
fresh project id, so tests never see each other's data.

Which stores run: the built-in Redis store (on the shared Redis at :data:`REDIS_URI`), the
same store on a Redis Cluster of three masters (``redis-cluster``: started by the first test
that needs it, killed at the end of the session), plus every factory registered in the
``zaqar_tw.storage_tests`` entry-point group, so installing a third-party store package that
registers one makes this suite run against it.  A test checks that every store of
``zaqar_tw.storage`` has a factory.  The factory protocol::

    factory(reactor, clock, directory) -> store

* its entry-point name is the store's name in ``zaqar_tw.storage``;
* ``reactor`` is the running reactor, ``clock`` the ``task.Clock`` every notion of "now" of
  the store must come from, ``directory`` a ``pathlib.Path`` of an empty directory private
  to the test (for a database file, a socket...; removed by pytest);
* it returns a fresh, unconnected ``IStorage`` provider (or an awaitable of one); the suite
  awaits ``store.connect()`` before the test and ``store.close()`` after it.  Data may
  outlive the test (each test uses its own project ids).

``ZAQAR_TEST_STORE=<name>`` (environment) runs the suite against that store alone, e.g.
``ZAQAR_TEST_STORE=sqlite pytest tests/storage``; the REST fixtures of ``tests/conftest.py``
honour the same variable.
"""

import inspect
import os
import shutil
import tempfile
import uuid
from importlib.metadata import entry_points

import pytest
import pytest_twisted

START = 1_700_000_000
REDIS_URI = "redis://127.0.0.1:6379"
FACTORY_GROUP = "zaqar_tw.storage_tests"


def store_class(name):
    """:returns: the store class registered under ``name`` in ``zaqar_tw.storage``."""
    (entry_point,) = entry_points(group="zaqar_tw.storage", name=name)
    return entry_point.load()


def _redis(reactor, clock, directory):
    return store_class("redis")(reactor, REDIS_URI, clock=clock)


# The cluster the redis-cluster factory starts once, stopped by _stop_cluster.
_CLUSTER = []


async def _redis_cluster(reactor, clock, directory):
    from tests.redis_group import RedisCluster

    if not _CLUSTER:
        cluster = RedisCluster(tempfile.mkdtemp(prefix="zaqar-test-cluster-"))
        _CLUSTER.append(cluster)
        await cluster.start()
    return store_class("redis")(reactor, _CLUSTER[0].uri, clock=clock)


@pytest.fixture(scope="session", autouse=True)
def _stop_cluster():
    """Kill the cluster of the redis-cluster factory (by pid), if it was started."""
    yield
    while _CLUSTER:
        cluster = _CLUSTER.pop()
        for node in cluster.nodes:
            if not node.exited():
                node.popen.kill()
                node.popen.wait()
        shutil.rmtree(cluster.workdir, ignore_errors=True)


#: Built-in stores run on another kind of Redis: name -> the store they are.
VARIANTS = {"redis-cluster": "redis"}


def _factories():
    """name -> factory(reactor, clock, directory): Redis, Redis Cluster, then the registered
    ones."""
    found = {"redis": _redis, "redis-cluster": _redis_cluster}
    for entry_point in entry_points(group=FACTORY_GROUP):
        found.setdefault(entry_point.name, entry_point)
    return found


# name -> factory (or its entry point, loaded when used); one per registered store (checked
# by a test), or only the one ZAQAR_TEST_STORE names.
STORES = _factories()
SELECTED = os.environ.get("ZAQAR_TEST_STORE", "").strip()
if SELECTED:
    if SELECTED not in STORES:
        raise pytest.UsageError(
            f"ZAQAR_TEST_STORE={SELECTED}: no test factory for that store (known: "
            f"{', '.join(sorted(STORES))}; a store registers one in {FACTORY_GROUP})"
        )
    STORES = {SELECTED: STORES[SELECTED]}


@pytest.fixture
def store_names():
    """The names of the stores this suite builds."""
    if SELECTED:
        pytest.skip(f"ZAQAR_TEST_STORE={SELECTED} runs this suite against that store alone")
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
async def storage(request, clock, tmp_path):
    """A connected store of each registered kind."""
    from twisted.internet import reactor

    factory = STORES[request.param]
    if not callable(factory):
        factory = factory.load()
    store = factory(reactor, clock, tmp_path)
    if inspect.isawaitable(store):
        store = await store
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
        ids, _ = await storage.messages.post(project, queue, messages, client)
        return ids

    return post
