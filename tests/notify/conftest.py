"""Fixtures of the notification tests: a real HTTP subscriber on 127.0.0.1, and a log
observer collecting what the dispatcher logs."""

import pytest
import pytest_twisted
from twisted.logger import globalLogPublisher

from tests.notify.receiver import Receiver


@pytest_twisted.async_yield_fixture
async def receiver():
    """A :class:`~tests.notify.receiver.Receiver` listening on 127.0.0.1."""
    from twisted.internet import reactor

    started = await Receiver(reactor).start()
    yield started
    await started.stop()


@pytest.fixture
def logged():
    """The events logged during the test (``twisted.logger`` dicts), in order."""
    events = []
    globalLogPublisher.addObserver(events.append)
    yield events
    globalLogPublisher.removeObserver(events.append)
