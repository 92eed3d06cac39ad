"""Storage contract: the IStorage provider and the registry of stores."""

from importlib.metadata import entry_points

import pytest_twisted
from zope.interface.verify import verifyObject

from zaqar_tw.interfaces import IStorage

from conftest import VARIANTS


def test_provides_interface(storage):
    """The store provides IStorage."""
    assert verifyObject(IStorage, storage)


def test_every_registered_store_is_tested(store_names):
    """Every store registered in the zaqar_tw.storage group runs this suite (the built-in
    Redis store also on a cluster)."""
    registered = {ep.name for ep in entry_points(group="zaqar_tw.storage")}
    assert registered | set(VARIANTS) == store_names
    assert set(VARIANTS.values()) <= registered


@pytest_twisted.ensureDeferred
async def test_ping(storage):
    """A connected store answers ping with True."""
    assert await storage.ping() is True
