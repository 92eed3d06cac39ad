"""Every built-in filter is registered by zaqar-tw and provides IMessageFilter."""

from importlib.metadata import distribution

import pytest
from zope.interface.verify import verifyObject

from zaqar_tw.config import Config
from zaqar_tw.interfaces import IMessageFilter

BUILT_IN = sorted(
    ep.name for ep in distribution("zaqar-tw").entry_points if ep.group == "zaqar_tw.filters"
)


def test_the_built_in_set():
    """zaqar-tw registers the built-in filters of this issue (others may join them)."""
    assert set(BUILT_IN) >= {"checksum", "json_schema", "max_body_depth", "max_body_size"}


@pytest.mark.parametrize("name", BUILT_IN)
def test_provides_the_interface(name):
    """The filter, built as the service builds it, provides IMessageFilter."""
    (entry_point,) = [
        ep for ep in distribution("zaqar-tw").entry_points
        if ep.group == "zaqar_tw.filters" and ep.name == name
    ]
    assert verifyObject(IMessageFilter, entry_point.load()(Config(), {}))
