"""Time source contract: a store that provides ITimeSource (optional) gives the time of a
clock all its nodes share, in epoch seconds, and that time moves forward."""

import time

import pytest
import pytest_twisted
from zope.interface.verify import verifyObject

from zaqar_tw.interfaces import ITimeSource


def _time_source(storage):
    if not ITimeSource.providedBy(storage):
        pytest.skip("this store provides no shared clock (ITimeSource is optional)")
    return storage


def test_provides_interface(storage):
    """A store that declares ITimeSource provides it."""
    assert verifyObject(ITimeSource, _time_source(storage))


@pytest_twisted.ensureDeferred
async def test_time_is_epoch_seconds_moving_forward(storage):
    """time() fires with a float of epoch seconds (the test runs beside the server, so
    within seconds of this machine's), and a later reading is not earlier."""
    source = _time_source(storage)
    first = await source.time()
    second = await source.time()
    assert isinstance(first, float)
    assert abs(first - time.time()) < 5
    assert second >= first
