"""The max_body_depth and max_body_size guards, through the REST API and on their own."""

import pytest
import pytest_twisted

from zaqar_tw.filters.guards import body_depth


async def post(api, *bodies):
    """Post one message per body to queue ``q``."""
    return await api.post(
        "/v2/queues/q/messages", json={"messages": [{"body": body} for body in bodies]}
    )


@pytest.mark.parametrize(
    "body, depth",
    [(1, 0), ("s", 0), ({}, 1), ([], 1), ({"a": [1]}, 2), ([[[]], {"b": {"c": {}}}], 4)],
)
def test_body_depth(body, depth):
    """Scalars have depth 0; each enclosing array or object adds one."""
    assert body_depth(body, 10) == depth


def test_body_depth_stops_past_the_limit():
    """Past the limit the walk stops and reports limit + 1."""
    deep = []
    for _ in range(500):
        deep = [deep]
    assert body_depth(deep, 5) == 6


@pytest.mark.zaqar_config(
    ("filters", "chain", "max_body_depth"), ("filters", "max_body_depth", "3")
)
@pytest_twisted.ensureDeferred
async def test_depth_guard(api):
    """Depth 3 passes; a second message of depth 4 is refused naming index 1."""
    assert (await post(api, {"a": {"b": {"c": 1}}})).status == 201
    reply = await post(api, {"a": 1}, {"a": {"b": {"c": []}}})
    assert reply.status == 400
    assert reply.error == (
        "Invalid API request", "Message 1 body nests too deeply: more than 3 levels."
    )


@pytest.mark.zaqar_config(
    ("filters", "chain", "max_body_size"), ("filters", "max_body_size", "20")
)
@pytest_twisted.ensureDeferred
async def test_size_guard(api):
    """A body of 20 bytes of compact JSON passes; 21 bytes is refused naming its index."""
    twenty = {"k": "x" * 12}  # {"k":"xxxxxxxxxxxx"} is 20 bytes
    assert (await post(api, twenty)).status == 201
    reply = await post(api, twenty, twenty, {"k": "x" * 13})
    assert reply.status == 400
    assert reply.error[1] == "Message 2 body is too large: 21 bytes, more than 20."
    listed = await api.get("/v2/queues/q/messages?echo=true")
    assert len(listed.json["messages"]) == 1
