"""Two nodes on one Redis, many consumers: no message is held twice, none is lost."""

import pytest_twisted
from twisted.internet import defer

from tests.processes import ZaqarProcess
from tests.scenarios import consumers_share_a_queue

SHARED_REDIS = "redis://127.0.0.1:6379"


@pytest_twisted.ensureDeferred
async def test_consumers_on_two_nodes_share_a_queue_safely(tmp_path):
    """20 consumers claim and delete through two nodes; each message is deleted exactly once."""
    nodes = [ZaqarProcess(str(tmp_path / name), SHARED_REDIS) for name in ("a", "b")]
    try:
        await defer.gatherResults([defer.ensureDeferred(node.start()) for node in nodes])
        await consumers_share_a_queue(nodes, messages=300, consumers=20)
    finally:
        for node in nodes:
            await node.stop()
