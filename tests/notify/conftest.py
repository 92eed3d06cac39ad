"""Fixtures of the notification tests: a real HTTP subscriber on 127.0.0.1 (the log observer
``logged`` is in tests/conftest.py)."""

import pytest_twisted

from tests.notify.receiver import Receiver


@pytest_twisted.async_yield_fixture
async def receiver():
    """A :class:`~tests.notify.receiver.Receiver` listening on 127.0.0.1."""
    from twisted.internet import reactor

    started = await Receiver(reactor).start()
    yield started
    await started.stop()
