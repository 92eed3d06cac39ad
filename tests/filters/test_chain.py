"""The filter chain through the real REST API: order, rejection, read hooks on every read
path, queue metadata, and the metadata check on queue PUT and PATCH."""

import pytest
import pytest_twisted

from zaqar_tw.config import Config
from zaqar_tw.filters import FilterChain, MessageFilter

TAGS = (("filter:tag_a", "tag", "a"), ("filter:tag_b", "tag", "b"))


def bodies(reply):
    """The bodies of a ``{"messages": [...]}`` reply."""
    return [item["body"] for item in reply.json["messages"]]


@pytest.mark.zaqar_config(("filters", "chain", "tag_a, tag_b"), *TAGS)
@pytest_twisted.ensureDeferred
async def test_post_runs_in_configured_order_read_in_reverse(api):
    """Posts pass tag_a then tag_b (each awaited); reads pass tag_b then tag_a."""
    (message_id,) = await api.post_messages("q", {"body": {"n": 1}})
    got = await api.get(f"/v2/queues/q/messages/{message_id}")
    assert got.json["body"] == {"n": 1, "trail": ["a", "b"], "seen": ["b", "a"]}


@pytest.mark.zaqar_config(("filters", "chain", "tag_b, tag_a"), *TAGS)
@pytest_twisted.ensureDeferred
async def test_order_follows_the_config(api):
    """Swapping the names in [filters] chain swaps the order."""
    (message_id,) = await api.post_messages("q", {"body": {}})
    got = await api.get(f"/v2/queues/q/messages/{message_id}")
    assert got.json["body"] == {"trail": ["b", "a"], "seen": ["a", "b"]}


@pytest.mark.zaqar_config(("filters", "chain", "tag_a, reject_bad"), *TAGS)
@pytest_twisted.ensureDeferred
async def test_rejection_names_the_index_and_stores_nothing(api):
    """A filter refusing the third message answers 400 naming index 2; none is stored."""
    reply = await api.post(
        "/v2/queues/q/messages",
        json={"messages": [{"body": {}}, {"body": {}}, {"body": {"bad": True}}]},
    )
    assert reply.status == 400
    assert reply.error == ("Invalid API request", "Message 2 is marked bad.")
    listed = await api.get("/v2/queues/q/messages?echo=true")
    assert listed.json["messages"] == []


@pytest.mark.zaqar_config(("filters", "chain", "tag_a"), *TAGS)
@pytest_twisted.ensureDeferred
async def test_read_hooks_on_every_read_path(api):
    """list, bulk get, get, claim create, claim get, stats and pop all pass on_read."""
    first, second = await api.post_messages("q", {"body": {"n": 1}}, {"body": {"n": 2}})
    seen = {"trail": ["a"], "seen": ["a"]}
    listed = await api.get("/v2/queues/q/messages?echo=true")
    assert bodies(listed) == [{"n": 1, **seen}, {"n": 2, **seen}]
    many = await api.get(f"/v2/queues/q/messages?ids={first},{second}")
    assert bodies(many) == [{"n": 1, **seen}, {"n": 2, **seen}]
    one = await api.get(f"/v2/queues/q/messages/{second}")
    assert one.json["body"] == {"n": 2, **seen}
    stats = (await api.get("/v2/queues/q/stats")).json["messages"]
    assert stats["oldest"]["body"] == {"n": 1, **seen}
    assert stats["newest"]["body"] == {"n": 2, **seen}
    claim_id, claimed = await api.claim("q", limit=1)
    assert bodies(claimed) == [{"n": 1, **seen}]
    claim = await api.get(f"/v2/queues/q/claims/{claim_id}")
    assert bodies(claim) == [{"n": 1, **seen}]
    popped = await api.delete("/v2/queues/q/messages?pop=1")
    assert bodies(popped) == [{"n": 2, **seen}]


@pytest.mark.zaqar_config(("filters", "chain", "tag_a"), *TAGS)
@pytest_twisted.ensureDeferred
async def test_stats_of_one_message_filtered_once(api):
    """With one message, stats' oldest and newest each show it filtered exactly once."""
    await api.post_messages("q", {"body": {}})
    stats = (await api.get("/v2/queues/q/stats")).json["messages"]
    assert stats["oldest"]["body"] == stats["newest"]["body"] == {"trail": ["a"], "seen": ["a"]}


@pytest.mark.zaqar_config(("filters", "chain", "show_color, sees_metadata"))
@pytest_twisted.ensureDeferred
async def test_metadata_and_context_reach_read_hooks_when_needed(api):
    """A filter with needs_metadata gets the queue's metadata and the reader's context, and
    so do the others of that chain."""
    await api.create_queue("q", {"color": "teal"})
    await api.post_messages("q", {"body": {}})
    (body,) = bodies(await api.get("/v2/queues/q/messages?echo=true"))
    assert body == {"color": "teal", "reader": api.project, "had_metadata": True}


@pytest.mark.zaqar_config(("filters", "chain", "sees_metadata"))
@pytest_twisted.ensureDeferred
async def test_no_metadata_read_when_no_filter_needs_it(api):
    """A chain whose filters do not need metadata reads none: on_read gets None."""
    await api.create_queue("q", {"color": "teal"})
    await api.post_messages("q", {"body": {}})
    (body,) = bodies(await api.get("/v2/queues/q/messages?echo=true"))
    assert body == {"had_metadata": False}


@pytest.mark.zaqar_config(("filters", "chain", "refuse_queue_key"))
@pytest_twisted.ensureDeferred
async def test_check_metadata_on_put_and_patch(api):
    """A filter refusing queue metadata answers 400 on PUT and PATCH and nothing changes."""
    put = await api.put("/v2/queues/q", json={"forbidden": 1})
    assert put.status == 400
    assert put.error[1] == "forbidden is not allowed here."
    assert (await api.get("/v2/queues/q/stats")).status == 200
    await api.create_queue("q", {"fine": 1})
    patch = await api.patch(
        "/v2/queues/q",
        json=[{"op": "add", "path": "/metadata/forbidden", "value": 1}],
        headers={"Content-Type": "application/openstack-messaging-v2.0-json-patch"},
    )
    assert patch.status == 400
    assert patch.error[1] == "forbidden is not allowed here."
    assert "forbidden" not in (await api.get("/v2/queues/q")).json


@pytest.mark.zaqar_config(("filters", "chain", "explode"))
@pytest_twisted.ensureDeferred
async def test_unexpected_filter_error_is_a_500(api):
    """A filter failing with something other than a ZaqarError gives a 500; nothing is
    stored."""
    reply = await api.post("/v2/queues/q/messages", json={"messages": [{"body": 1}]})
    assert reply.status == 500
    listed = await api.get("/v2/queues/q/messages?echo=true")
    assert listed.json["messages"] == []


@pytest_twisted.ensureDeferred
async def test_empty_chain_changes_nothing(api):
    """Without filters, messages come back exactly as posted."""
    (message_id,) = await api.post_messages("q", {"body": {"n": 1}})
    got = await api.get(f"/v2/queues/q/messages/{message_id}")
    assert got.json["body"] == {"n": 1}
    assert "checksum" not in got.json


def test_empty_chain_is_falsy():
    """An empty chain is falsy, so the core skips it outright; one filter makes it true."""
    assert not FilterChain()
    assert FilterChain([MessageFilter(Config(), {})])
    assert not FilterChain().needs_metadata


@pytest_twisted.ensureDeferred
async def test_chain_awaits_coroutines_deferreds_and_values():
    """Hooks may return a value, a Deferred or a coroutine; the chain settles each in turn."""
    from twisted.internet.defer import succeed

    class Plain(MessageFilter):
        def on_post(self, messages, queue_metadata, context):
            return messages + ["plain"]

    class Deferring(MessageFilter):
        def on_post(self, messages, queue_metadata, context):
            return succeed(messages + ["deferred"])

    class Coroutine(MessageFilter):
        async def on_post(self, messages, queue_metadata, context):
            return messages + ["coroutine"]

    chain = FilterChain([cls(Config(), {}) for cls in (Plain, Deferring, Coroutine)])
    assert await chain.on_post([], {}, None) == ["plain", "deferred", "coroutine"]
