"""The shared clock: this node's clock plus its measured offset to the store's clock, kept
up to date by ClockSyncService, so that every node agrees on "now"."""

import time

import pytest
import pytest_twisted
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import Clock
from twisted.logger import LogLevel, formatEvent
from zope.interface.verify import verifyObject

from zaqar_tw.clock import ClockSyncService, SharedClock, UnreliableReading
from zaqar_tw.storage.redis.store import RedisStorage

from tests.waiting import wait_until

REDIS = "redis://127.0.0.1:6379"


def _reactor():
    from twisted.internet import reactor

    return reactor


def node_clock(skew):
    """A node's clock that reads real time plus ``skew`` seconds (and stands still)."""
    base = Clock()
    base.advance(time.time() + skew)
    return base


@pytest_twisted.async_yield_fixture
async def store():
    """The Redis store on the shared Redis, connected: the time source."""
    storage = RedisStorage(_reactor(), REDIS)
    await storage.connect()
    yield storage
    await storage.close()


def test_provides_ireactortime():
    """A SharedClock is an IReactorTime: everything that takes a clock can take it."""
    assert verifyObject(IReactorTime, SharedClock(Clock()))


def test_timers_run_on_the_base_clock():
    """Delays are relative: callLater and getDelayedCalls are the base clock's."""
    base = Clock()
    shared = SharedClock(base)
    shared.offset = -30.0
    called = []
    call = shared.callLater(3, called.append, "done")
    assert shared.getDelayedCalls() == [call]
    base.advance(3)
    assert called == ["done"]


@pytest_twisted.ensureDeferred
async def test_synchronize_takes_the_stores_time(store):
    """A node 30 s ahead reads the store's time once synchronized, and its own clock's
    progress after that."""
    base = node_clock(30)
    shared = SharedClock(base)
    assert abs(shared.seconds() - time.time() - 30) < 1
    offset = await shared.synchronize(store)
    assert shared.synchronized and abs(offset + 30) < 1
    assert abs(shared.seconds() - time.time()) < 1
    base.advance(5)
    assert abs(shared.seconds() - time.time() - 5) < 1


@pytest_twisted.ensureDeferred
async def test_a_slow_reading_is_not_used(store):
    """A reading that took longer than max_round_trip leaves the offset as it was."""
    base = node_clock(30)
    shared = SharedClock(base)
    reading = shared.synchronize(store)
    base.advance(shared.max_round_trip + 1)  # the node's clock moved on while waiting
    with pytest.raises(UnreliableReading):
        await reading
    assert shared.offset == 0.0 and not shared.synchronized


@pytest_twisted.ensureDeferred
async def test_a_skewed_node_is_warned_about(store, logged):
    """A node more than a second off the store's clock logs a warning saying how far and
    which way."""
    await SharedClock(node_clock(30)).synchronize(store)
    warnings = [formatEvent(e) for e in logged
                if e.get("log_namespace") == "zaqar_tw.clock" and e["log_level"] is LogLevel.warn]
    assert len(warnings) == 1 and "30.0 s ahead of the store's" in warnings[0], warnings


@pytest_twisted.ensureDeferred
async def test_sync_service_measures_when_ready_and_again_later(store):
    """The service measures once the store is ready, then every interval: a node clock
    that jumps is brought back to the store's time at the next reading."""
    base = node_clock(0)
    shared = SharedClock(base)
    service = ClockSyncService(shared, store, ready=lambda: store.connect())
    service.startService()
    try:
        await wait_until(lambda: shared.synchronized, what="the first reading")
        assert abs(shared.seconds() - time.time()) < 1
        first = shared.offset
        base.advance(ClockSyncService.interval)  # the node's clock gains a minute at once
        await wait_until(lambda: shared.offset != first, what="the next reading")
        assert abs(shared.seconds() - time.time()) < 1
    finally:
        service.stopService()
    assert base.getDelayedCalls() == []


@pytest_twisted.ensureDeferred
async def test_sync_service_retries_a_failed_reading():
    """While the store cannot be read, the service tries again every retry_interval."""
    from tests.processes import free_port

    storage = RedisStorage(_reactor(), f"redis://127.0.0.1:{free_port()}")
    base = Clock()
    service = ClockSyncService(SharedClock(base), storage)
    service.startService()
    try:
        await wait_until(lambda: base.getDelayedCalls(), what="a retry to be scheduled")
        (call,) = base.getDelayedCalls()
        assert call.getTime() == base.seconds() + ClockSyncService.retry_interval
    finally:
        service.stopService()
        await storage.close()
