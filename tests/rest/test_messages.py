"""Section 1.3 of the wire contract (and 3.3-3.5): messages over REST."""

import json
import uuid

import pytest
import pytest_twisted

ITEM_KEYS = {"id", "href", "ttl", "age", "body"}
LIMIT_ERROR = ("Invalid API request", "Limit must be at least 1 and may not be greater than 20.")


async def listed(api, queue, query="echo=true", **kwargs):
    reply = await api.get(f"/v2/queues/{queue}/messages?{query}", **kwargs)
    assert reply.status == 200, reply
    return reply.json["messages"]


# Post.


@pytest_twisted.ensureDeferred
async def test_post_answers_hrefs_and_location(api):
    """POST answers 201 with one href per message, and a Location listing their ids."""
    reply = await api.post(
        "/v2/queues/q/messages", json={"messages": [{"body": {"a": 1}}, {"body": "b"}]}
    )
    assert reply.status == 201
    assert reply.headers["content-type"] == "application/json"
    hrefs = reply.json["resources"]
    assert set(reply.json) == {"resources"}
    ids = [href.rsplit("/", 1)[1] for href in hrefs]
    assert hrefs == [f"/v2/queues/q/messages/{message_id}" for message_id in ids]
    for message_id in ids:
        assert str(uuid.UUID(message_id)) == message_id
    assert reply.headers["location"] == f"/v2/queues/q/messages?ids={ids[0]},{ids[1]}"
    fetched = await api.get(reply.headers["location"])
    assert fetched.status == 200
    assert [message["body"] for message in fetched.json["messages"]] == [{"a": 1}, "b"]


@pytest_twisted.ensureDeferred
async def test_post_creates_the_queue(api):
    """Posting to a missing queue creates it."""
    await api.post_messages("born", {"body": 1})
    reply = await api.get("/v2/queues")
    assert [queue["name"] for queue in reply.json["queues"]] == ["born"]


@pytest_twisted.ensureDeferred
async def test_post_many_and_any_body(api):
    """25 messages in one post are fine; bodies may be any JSON value."""
    bodies = [None, True, 0, "s", [1, 2], {"k": {"n": [None]}}] + list(range(19))
    await api.post_messages("q", *[{"body": body} for body in bodies])
    seen = []
    reply = await api.get("/v2/queues/q/messages?echo=true&limit=20")
    while reply.json["messages"]:
        seen += [message["body"] for message in reply.json["messages"]]
        reply = await api.get(reply.json["links"][0]["href"])
    assert seen == bodies


@pytest_twisted.ensureDeferred
async def test_post_defaults_and_drops_extra_fields(api):
    """A message without ttl gets 3600 (or the queue's default); extra fields are dropped."""
    await api.post_messages("q", {"body": 1, "extra": "x"})
    await api.create_queue("short", {"_default_message_ttl": 120})
    await api.post_messages("short", {"body": 2})
    [message] = await listed(api, "q")
    assert set(message) == ITEM_KEYS
    assert message["ttl"] == 3600
    assert (await listed(api, "short"))[0]["ttl"] == 120


@pytest.mark.parametrize("document", [{"foo": []}, [{"body": 1}], {}])
@pytest_twisted.ensureDeferred
async def test_post_without_messages(api, document):
    """A body without a ``messages`` key is refused."""
    reply = await api.post("/v2/queues/q/messages", json=document)
    assert reply.status == 400
    assert reply.error == ("Invalid API request", "No messages were found in the request body.")


@pytest.mark.parametrize("document", [{"messages": {"body": 1}}, {"messages": [1]},
                                      {"messages": "x"}, {"messages": [{"body": 1}, []]}])
@pytest_twisted.ensureDeferred
async def test_post_wrong_document_types(api, document):
    """``messages`` must be an array of objects."""
    reply = await api.post("/v2/queues/q/messages", json=document)
    assert reply.status == 400
    assert reply.error == ("Invalid request body", "Document type not supported.")


@pytest_twisted.ensureDeferred
async def test_post_empty_list(api):
    """An empty ``messages`` list is refused (the typo is the contract's)."""
    reply = await api.post("/v2/queues/q/messages", json={"messages": []})
    assert reply.status == 400
    assert reply.error == ("Invalid API request", "No messages to enqueu.")


@pytest.mark.parametrize("ttl", [59, 1209601, -1, 0, True])
@pytest_twisted.ensureDeferred
async def test_post_ttl_out_of_range(api, ttl):
    """A message ttl outside 60..1209600 is refused (JSON true counts as 1)."""
    reply = await api.post("/v2/queues/q/messages", json={"messages": [{"body": 1, "ttl": ttl}]})
    assert reply.status == 400
    assert reply.error == (
        "Invalid API request",
        "The TTL for a message may not exceed 1209600 seconds, and must be at least 60 seconds "
        "long.",
    )


@pytest.mark.parametrize("ttl", [60, 1209600])
@pytest_twisted.ensureDeferred
async def test_post_ttl_bounds(api, ttl):
    """The ttl bounds themselves are accepted."""
    await api.post_messages("q", {"body": 1, "ttl": ttl})
    assert (await listed(api, "q"))[0]["ttl"] == ttl


@pytest_twisted.ensureDeferred
async def test_post_missing_body(api):
    """Every message needs a body."""
    reply = await api.post("/v2/queues/q/messages",
                           json={"messages": [{"body": 1}, {"ttl": 60}]})
    assert reply.error == ("Invalid request body", 'Missing "body" field.')
    assert (await api.get("/v2/queues")).json["queues"] == []


@pytest_twisted.ensureDeferred
async def test_post_too_large(api):
    """A post body over 262144 bytes is refused."""
    body = b'{"messages": [{"body": "' + b"a" * 262144 + b'"}]}'
    reply = await api.post("/v2/queues/q/messages", data=body)
    assert reply.status == 400
    assert reply.error == (
        "Invalid API request", "Message collection size is too large. Max size 262144"
    )


@pytest_twisted.ensureDeferred
async def test_post_too_large_for_the_queue(api):
    """A queue's ``_max_messages_post_size`` lowers the limit, with its own text."""
    await api.create_queue("small", {"_max_messages_post_size": 100})
    fitting = b'{"messages": [{"body": "' + b"a" * 72 + b'"}]}'
    assert len(fitting) == 100
    assert (await api.post("/v2/queues/small/messages", data=fitting)).status == 201
    reply = await api.post("/v2/queues/small/messages", data=fitting + b" ")
    assert reply.status == 400
    assert reply.error == (
        "Invalid API request",
        "Message collection size is too large. The max size for current queue is 100. It is "
        "calculated by max size = min(max_messages_post_size_config: 262144, "
        "max_messages_post_size_queue: 100).",
    )


@pytest_twisted.ensureDeferred
async def test_post_delay_ignored_without_queue_delay(api):
    """On a queue without a default delay, ``delay`` is dropped unchecked."""
    await api.post_messages("q", {"body": 1, "delay": 10000})
    assert len(await listed(api, "q")) == 1


@pytest.mark.parametrize("delay", [901, -1])
@pytest_twisted.ensureDeferred
async def test_post_delay_out_of_range_on_delayed_queue(api, delay):
    """On a delayed queue the delay must be 0..900."""
    await api.create_queue("slow", {"_default_message_delay": 30})
    reply = await api.post("/v2/queues/slow/messages",
                           json={"messages": [{"body": 1, "delay": delay}]})
    assert reply.status == 400
    assert reply.error == (
        "Invalid API request",
        "The Delay TTL for a message may not exceed 900 seconds,and must be at least 0 seconds "
        "long.",
    )


@pytest_twisted.ensureDeferred
async def test_post_invalid_queue_name(api):
    """Posting to a malformed queue name is refused."""
    reply = await api.post("/v2/queues/bad@/messages", json={"messages": [{"body": 1}]})
    assert reply.status == 400
    assert reply.error[0] == "Invalid queue identification"


# List.


@pytest_twisted.ensureDeferred
async def test_list_shape_and_links(api):
    """A page lists items with id, href, ttl, age and body, and a next link."""
    ids = await api.post_messages("q", {"body": {"n": 1}, "ttl": 300}, {"body": 2})
    reply = await api.get("/v2/queues/q/messages?echo=true")
    assert reply.json == {
        "messages": [
            {"id": ids[0], "href": f"/v2/queues/q/messages/{ids[0]}", "ttl": 300, "age": 0,
             "body": {"n": 1}},
            {"id": ids[1], "href": f"/v2/queues/q/messages/{ids[1]}", "ttl": 3600, "age": 0,
             "body": 2},
        ],
        "links": [{"rel": "next", "href": f"/v2/queues/q/messages?echo=true&marker={ids[1]}"}],
    }


@pytest_twisted.ensureDeferred
async def test_list_empty_and_missing_queue(api):
    """An empty page (or a missing queue) has no links."""
    reply = await api.get("/v2/queues/nothing/messages")
    assert reply.status == 200
    assert reply.json == {"messages": [], "links": []}


@pytest_twisted.ensureDeferred
async def test_list_pagination(api):
    """Next links walk every message once, in order, then an empty page."""
    ids = await api.post_messages("q", *[{"body": index} for index in range(5)])
    reply = await api.get("/v2/queues/q/messages?limit=2&echo=yes")
    assert reply.json["links"][0]["href"] == (
        f"/v2/queues/q/messages?limit=2&echo=true&marker={ids[1]}"
    )
    seen = []
    while reply.json["messages"]:
        seen += [message["id"] for message in reply.json["messages"]]
        reply = await api.get(reply.json["links"][0]["href"])
    assert seen == ids
    assert reply.json == {"messages": [], "links": []}


@pytest_twisted.ensureDeferred
async def test_list_default_limit(api):
    """Ten messages per page by default."""
    await api.post_messages("q", *[{"body": index} for index in range(12)])
    assert len(await listed(api, "q")) == 10
    assert len(await listed(api, "q", "echo=true&limit=20")) == 12


@pytest.mark.parametrize("limit", ["0", "21", "-5"])
@pytest_twisted.ensureDeferred
async def test_list_limit_out_of_range(api, limit):
    """A message-list limit outside 1..20 is refused."""
    reply = await api.get(f"/v2/queues/q/messages?limit={limit}")
    assert reply.status == 400
    assert reply.error == LIMIT_ERROR


@pytest_twisted.ensureDeferred
async def test_list_echo(api):
    """Own messages are hidden unless ``echo`` is true; others see them."""
    await api.post_messages("q", {"body": 1})
    assert await listed(api, "q", "") == []
    assert await listed(api, "q", "echo=false") == []
    assert len(await listed(api, "q", "echo=true")) == 1
    other = str(uuid.uuid4())
    assert len(await listed(api, "q", "", headers={"Client-ID": other})) == 1


@pytest_twisted.ensureDeferred
async def test_list_echo_compares_normalised_client_ids(api):
    """The same UUID as 32 hex digits is the same client for ``echo``."""
    await api.post_messages("q", {"body": 1})
    same = uuid.UUID(api.client_id).hex
    assert await listed(api, "q", "", headers={"Client-ID": same}) == []


@pytest_twisted.ensureDeferred
async def test_list_include_claimed(api):
    """Claimed messages are hidden unless ``include_claimed``; then their href has the claim."""
    first, second = await api.post_messages("q", {"body": 1}, {"body": 2})
    claim_id, _ = await api.claim("q", limit=1)
    assert [m["id"] for m in await listed(api, "q")] == [second]
    both = await listed(api, "q", "echo=true&include_claimed=true")
    assert [m["href"] for m in both] == [
        f"/v2/queues/q/messages/{first}?claim_id={claim_id}",
        f"/v2/queues/q/messages/{second}",
    ]


@pytest_twisted.ensureDeferred
async def test_list_include_claimed_with_only_claimed_messages(api):
    """``include_claimed`` without a marker works when everything is claimed."""
    await api.post_messages("q", {"body": 1})
    await api.claim("q")
    assert await listed(api, "q") == []
    assert len(await listed(api, "q", "echo=true&include_claimed=true")) == 1


@pytest_twisted.ensureDeferred
async def test_list_delayed_messages(api):
    """On a delayed queue, messages appear once the delay is over (or with include_delayed)."""
    await api.create_queue("slow", {"_default_message_delay": 30})
    await api.post_messages("slow", {"body": 1}, {"body": 2, "delay": 0})
    assert [m["body"] for m in await listed(api, "slow")] == [2]
    assert len(await listed(api, "slow", "echo=true&include_delayed=true")) == 2
    api.advance(30)
    assert len(await listed(api, "slow")) == 2


@pytest_twisted.ensureDeferred
async def test_list_age_grows_and_ttl_expires(api):
    """Age follows the clock; a message vanishes when its ttl is over."""
    await api.post_messages("q", {"body": 1, "ttl": 60})
    api.advance(7)
    assert (await listed(api, "q"))[0]["age"] == 7
    api.advance(52)
    assert (await listed(api, "q"))[0]["age"] == 59
    api.advance(1)
    assert await listed(api, "q") == []


@pytest_twisted.ensureDeferred
async def test_list_is_per_project_and_queue(api):
    """Messages are visible in their own queue of their own project only."""
    await api.post_messages("q", {"body": 1})
    assert await listed(api, "q", headers={"X-Project-ID": uuid.uuid4().hex}) == []
    assert await listed(api, "other") == []


@pytest.mark.zaqar_config(("DEFAULT", "enable_checksum", "true"))
@pytest_twisted.ensureDeferred
async def test_checksums_on_every_read(api):
    """With checksums on, every HTTP read of a message shows the stored MD5."""
    checksum = "MD5:e4db62ac1fe774afdcf38f2ef1a78efd"
    [message_id] = await api.post_messages("q", {"body": {"event": "a"}})
    [item] = await listed(api, "q")
    assert item["checksum"] == checksum
    assert set(item) == ITEM_KEYS | {"checksum"}
    assert (await api.get(f"/v2/queues/q/messages/{message_id}")).json["checksum"] == checksum
    bulk = await api.get(f"/v2/queues/q/messages?ids={message_id}")
    assert bulk.json["messages"][0]["checksum"] == checksum
    stats = (await api.get("/v2/queues/q/stats")).json["messages"]
    assert stats["oldest"]["checksum"] == stats["newest"]["checksum"] == checksum
    _, claimed = await api.claim("q")
    assert claimed.json["messages"][0]["checksum"] == checksum
    claim = await api.get(claimed.headers["location"])
    assert claim.json["messages"][0]["checksum"] == checksum
    await api.delete(claimed.headers["location"])
    popped = await api.delete("/v2/queues/q/messages?pop=1")
    assert popped.json["messages"][0]["checksum"] == checksum


# Bulk get.


@pytest_twisted.ensureDeferred
async def test_bulk_get(api):
    """``?ids=`` returns the messages found, without links; unknown ids are skipped."""
    first, second = await api.post_messages("q", {"body": 1}, {"body": 2})
    unknown = str(uuid.uuid4())
    reply = await api.get(f"/v2/queues/q/messages?ids={second},{unknown},{first}&limit=1")
    assert reply.status == 200
    assert set(reply.json) == {"messages"}
    assert [m["id"] for m in reply.json["messages"]] == [second, first]
    assert set(reply.json["messages"][0]) == ITEM_KEYS


@pytest_twisted.ensureDeferred
async def test_bulk_get_repeated_parameter(api):
    """``ids=a&ids=b`` (as python-zaqarclient sends lists) reads as ``ids=a,b``."""
    first, second = await api.post_messages("q", {"body": 1}, {"body": 2})
    reply = await api.get(f"/v2/queues/q/messages?ids={first}&ids={second}")
    assert [m["id"] for m in reply.json["messages"]] == [first, second]


@pytest_twisted.ensureDeferred
async def test_bulk_get_shows_claims_in_hrefs(api):
    """A claimed message fetched by id carries its claim in the href."""
    [message_id] = await api.post_messages("q", {"body": 1})
    claim_id, _ = await api.claim("q")
    reply = await api.get(f"/v2/queues/q/messages?ids={message_id}")
    assert reply.json["messages"][0]["href"] == (
        f"/v2/queues/q/messages/{message_id}?claim_id={claim_id}"
    )


@pytest_twisted.ensureDeferred
async def test_bulk_get_too_many_ids(api):
    """More than 20 ids are refused."""
    ids = ",".join(str(uuid.uuid4()) for _ in range(21))
    reply = await api.get(f"/v2/queues/q/messages?ids={ids}")
    assert reply.status == 400
    assert reply.error == LIMIT_ERROR


@pytest.mark.parametrize("queue_exists", [True, False])
@pytest_twisted.ensureDeferred
async def test_bulk_get_none_found(api, queue_exists):
    """When no id is found (or the queue is missing) the answer is 404."""
    if queue_exists:
        await api.post_messages("q", {"body": 1})
    reply = await api.get("/v2/queues/q/messages?ids=-1")
    assert reply.status == 404
    assert reply.error == (
        "Not found",
        f"No messages with IDs: ['-1'] found in the queue q for project {api.project}.",
    )


@pytest_twisted.ensureDeferred
async def test_bulk_get_ids_of_another_queue(api):
    """Ids are scoped to their queue."""
    [message_id] = await api.post_messages("q", {"body": 1})
    await api.post_messages("other", {"body": 2})
    reply = await api.get(f"/v2/queues/other/messages?ids={message_id}")
    assert reply.status == 404


# Get one.


@pytest_twisted.ensureDeferred
async def test_get_one(api):
    """A message by id: id, href, ttl, age, body."""
    [message_id] = await api.post_messages("q", {"body": {"x": "y"}, "ttl": 90})
    api.advance(3)
    reply = await api.get(f"/v2/queues/q/messages/{message_id}")
    assert reply.status == 200
    assert reply.json == {"id": message_id, "href": f"/v2/queues/q/messages/{message_id}",
                          "ttl": 90, "age": 3, "body": {"x": "y"}}


@pytest_twisted.ensureDeferred
async def test_get_one_claimed(api):
    """A claimed message's href carries the claim id."""
    [message_id] = await api.post_messages("q", {"body": 1})
    claim_id, _ = await api.claim("q")
    reply = await api.get(f"/v2/queues/q/messages/{message_id}")
    assert reply.json["href"] == f"/v2/queues/q/messages/{message_id}?claim_id={claim_id}"


@pytest_twisted.ensureDeferred
async def test_get_one_missing_queue(api):
    """A message of a queue that does not exist: 404 naming the queue."""
    reply = await api.get(f"/v2/queues/nope/messages/{uuid.uuid4()}")
    assert reply.status == 404
    assert reply.error == ("Not found", f"Queue nope does not exist for project {api.project}")


@pytest_twisted.ensureDeferred
async def test_get_one_missing_message(api):
    """An unknown message of an existing queue: 404 naming the message."""
    await api.create_queue("q")
    message_id = str(uuid.uuid4())
    reply = await api.get(f"/v2/queues/q/messages/{message_id}")
    assert reply.status == 404
    assert reply.error == (
        "Not found",
        f"Message {message_id} does not exist in queue q for project {api.project}",
    )


@pytest_twisted.ensureDeferred
async def test_get_one_expired(api):
    """A message past its ttl is gone."""
    [message_id] = await api.post_messages("q", {"body": 1, "ttl": 60})
    api.advance(59)
    assert (await api.get(f"/v2/queues/q/messages/{message_id}")).status == 200
    api.advance(1)
    assert (await api.get(f"/v2/queues/q/messages/{message_id}")).status == 404


@pytest_twisted.ensureDeferred
async def test_get_one_scoped_to_queue_and_project(api):
    """A message id is unknown in another queue and in another project."""
    [message_id] = await api.post_messages("q", {"body": 1})
    await api.create_queue("other")
    assert (await api.get(f"/v2/queues/other/messages/{message_id}")).status == 404
    reply = await api.get(f"/v2/queues/q/messages/{message_id}",
                          headers={"X-Project-ID": uuid.uuid4().hex})
    assert reply.status == 404


# Delete one.


@pytest_twisted.ensureDeferred
async def test_delete_one(api):
    """DELETE removes the message; deleting again (or a missing one) is still 204."""
    [message_id] = await api.post_messages("q", {"body": 1})
    path = f"/v2/queues/q/messages/{message_id}"
    assert (await api.delete(path)).status == 204
    assert (await api.get(path)).status == 404
    assert (await api.delete(path)).status == 204
    assert (await api.delete(f"/v2/queues/none/messages/{uuid.uuid4()}")).status == 204


@pytest_twisted.ensureDeferred
async def test_delete_claimed_needs_its_claim(api):
    """A claimed message is deleted only with its claim id."""
    [message_id] = await api.post_messages("q", {"body": 1})
    claim_id, _ = await api.claim("q")
    path = f"/v2/queues/q/messages/{message_id}"
    reply = await api.delete(path)
    assert reply.status == 403
    assert reply.error == (
        "Unable to delete",
        "This message is claimed; it cannot be deleted without a valid claim ID.",
    )
    assert (await api.delete(f"{path}?claim_id={claim_id}")).status == 204
    assert (await api.get(path)).status == 404


@pytest_twisted.ensureDeferred
async def test_delete_claimed_with_another_live_claim(api):
    """Another live claim's id does not unlock a claimed message."""
    first, _ = await api.post_messages("q", {"body": 1}, {"body": 2})
    await api.claim("q", limit=1)
    other_claim, _ = await api.claim("q", limit=1)
    reply = await api.delete(f"/v2/queues/q/messages/{first}?claim_id={other_claim}")
    assert reply.status == 403
    assert reply.error[0] == "Unable to delete"


@pytest_twisted.ensureDeferred
async def test_delete_with_claim_of_unclaimed_message(api):
    """A claim id for a message that is not claimed is a 400."""
    [message_id] = await api.post_messages("q", {"body": 1})
    reply = await api.delete(f"/v2/queues/q/messages/{message_id}?claim_id={uuid.uuid4()}")
    assert reply.status == 400
    assert reply.error == (
        "Unable to delete", "A claim was specified, but the message is not currently claimed."
    )


@pytest.mark.parametrize("claim_id", ["123", "not-a-uuid", str(uuid.uuid4())])
@pytest_twisted.ensureDeferred
async def test_delete_claimed_with_unknown_claim(api, claim_id):
    """A claimed message with a malformed or unknown claim id is a 400."""
    [message_id] = await api.post_messages("q", {"body": 1})
    await api.claim("q")
    reply = await api.delete(f"/v2/queues/q/messages/{message_id}?claim_id={claim_id}")
    assert reply.status == 400
    assert reply.error == (
        "Unable to delete", "The specified claim does not exist or has expired."
    )


@pytest_twisted.ensureDeferred
async def test_delete_with_expired_claim(api):
    """After the claim expired its id no longer counts: "not currently claimed"."""
    [message_id] = await api.post_messages("q", {"body": 1})
    claim_id, _ = await api.claim("q", ttl=60, grace=60)
    api.advance(60)
    reply = await api.delete(f"/v2/queues/q/messages/{message_id}?claim_id={claim_id}")
    assert reply.status == 400
    assert reply.error == (
        "Unable to delete", "A claim was specified, but the message is not currently claimed."
    )
    assert (await api.delete(f"/v2/queues/q/messages/{message_id}")).status == 204


# Bulk delete.


@pytest_twisted.ensureDeferred
async def test_bulk_delete(api):
    """``DELETE ?ids=`` removes the listed messages, claimed ones included."""
    first, second, third = await api.post_messages("q", {"body": 1}, {"body": 2}, {"body": 3})
    await api.claim("q", limit=1)
    reply = await api.delete(f"/v2/queues/q/messages?ids={first},{second},{uuid.uuid4()}")
    assert reply.status == 204
    assert reply.body == b""
    assert (await api.get(f"/v2/queues/q/messages?ids={first},{second}")).status == 404
    assert [m["id"] for m in await listed(api, "q")] == [third]


@pytest_twisted.ensureDeferred
async def test_bulk_delete_missing_queue(api):
    """Bulk delete on a missing queue is a 204."""
    reply = await api.delete(f"/v2/queues/none/messages?ids={uuid.uuid4()}")
    assert reply.status == 204


@pytest.mark.parametrize("query", ["", "?claim_ids=x", "?ids=", "?pop="])
@pytest_twisted.ensureDeferred
async def test_bulk_delete_needs_ids_or_pop(api, query):
    """Without ids or pop there is nothing to delete."""
    reply = await api.delete(f"/v2/queues/q/messages{query}")
    assert reply.status == 400
    assert reply.error == (
        "Invalid API request",
        'The request should have either "ids" or "pop" parameter in the request, to be able '
        "to delete.",
    )


@pytest_twisted.ensureDeferred
async def test_bulk_delete_ids_and_pop_together(api):
    """ids and pop are exclusive."""
    reply = await api.delete(f"/v2/queues/q/messages?ids={uuid.uuid4()}&pop=1")
    assert reply.status == 400
    assert reply.error == (
        "Invalid API request",
        "pop and id params cannot be present together in the delete request.",
    )


@pytest_twisted.ensureDeferred
async def test_bulk_delete_too_many_ids(api):
    """At most 20 ids per bulk delete."""
    ids = ",".join(str(uuid.uuid4()) for _ in range(21))
    reply = await api.delete(f"/v2/queues/q/messages?ids={ids}")
    assert reply.status == 400
    assert reply.error == (
        "Invalid API request",
        "ids parameter should have at least 1 and not greater than 20 values.",
    )


@pytest.mark.zaqar_config(("transport", "message_delete_with_claim_id", "true"))
@pytest_twisted.ensureDeferred
async def test_bulk_delete_with_claim_ids_mode(api):
    """With ``message_delete_with_claim_id``, bulk deletes need the claims of claimed messages."""
    first, second = await api.post_messages("q", {"body": 1}, {"body": 2})
    claim_id, _ = await api.claim("q", limit=1)
    reply = await api.delete(f"/v2/queues/q/messages?ids={first}")
    assert reply.status == 400
    assert reply.error == (
        "Invalid API request",
        'The request should have both "ids" and "claim_ids" parameter in the request when '
        "message_delete_with_claim_id is True.",
    )
    wrong = await api.delete(f"/v2/queues/q/messages?ids={first}&claim_ids={uuid.uuid4()}")
    assert wrong.status == 403
    assert len(await listed(api, "q", "echo=true&include_claimed=true")) == 2
    reply = await api.delete(f"/v2/queues/q/messages?ids={first},{second}&claim_ids={claim_id}")
    assert reply.status == 204
    assert await listed(api, "q", "echo=true&include_claimed=true") == []


# Pop.


@pytest_twisted.ensureDeferred
async def test_pop(api):
    """pop=N removes and returns up to N messages in the raw shape."""
    ids = await api.post_messages("q", {"body": 1}, {"body": 2}, {"body": 3, "ttl": 90})
    api.advance(4)
    reply = await api.delete("/v2/queues/q/messages?pop=2")
    assert reply.status == 200
    messages = reply.json["messages"]
    assert set(reply.json) == {"messages"}
    assert [m["id"] for m in messages] == ids[:2]
    for message in messages:
        assert set(message) == {"id", "age", "ttl", "body", "claim_id", "claim_count"}
        assert message["age"] == 4
        assert message["ttl"] == 3600
        assert str(uuid.UUID(message["claim_id"])) == message["claim_id"]
    assert [m["id"] for m in await listed(api, "q")] == ids[2:]


@pytest_twisted.ensureDeferred
async def test_pop_nothing(api):
    """Popping an empty or missing queue answers 200 with no messages."""
    reply = await api.delete("/v2/queues/none/messages?pop=5")
    assert reply.status == 200
    assert reply.json == {"messages": []}


@pytest_twisted.ensureDeferred
async def test_pop_skips_claimed(api):
    """Pop takes claimable messages only."""
    first, second = await api.post_messages("q", {"body": 1}, {"body": 2})
    await api.claim("q", limit=1)
    reply = await api.delete("/v2/queues/q/messages?pop=5")
    assert [m["id"] for m in reply.json["messages"]] == [second]
    assert (await api.get(f"/v2/queues/q/messages/{first}")).status == 200


@pytest.mark.parametrize("pop", ["0", "21", "-1"])
@pytest_twisted.ensureDeferred
async def test_pop_out_of_range(api, pop):
    """pop must be 1..20."""
    reply = await api.delete(f"/v2/queues/q/messages?pop={pop}")
    assert reply.status == 400
    assert reply.error == (
        "Invalid API request", "Pop value must be at least 1 and may not be greater than 20."
    )


@pytest_twisted.ensureDeferred
async def test_large_post_keeps_headers_small_for_common_clients(api):
    """A post of 1,800 messages is read by Python's http.client (which refuses header lines
    past 64 KiB): its Location is the collection, within 4 KiB, and the body lists every
    new message; a post of a few messages still names them in Location."""
    import http.client

    from twisted.internet.threads import deferToThread

    body = json.dumps({"messages": [{"body": n} for n in range(1800)]})
    host, port = api.url.rsplit("/", 1)[1].split(":")

    def post():
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            connection.request("POST", "/v2/queues/big/messages", body=body,
                               headers={**api.default_headers(),
                                        "Content-Type": "application/json"})
            response = connection.getresponse()
            return response.status, response.getheaders(), json.loads(response.read())
        finally:
            connection.close()

    status, headers, document = await deferToThread(post)
    assert status == 201
    assert len(document["resources"]) == 1800
    assert all(len(name) + len(value) < 4096 for name, value in headers)
    assert dict(headers)["Location"] == "/v2/queues/big/messages"
    few = await api.post("/v2/queues/big/messages", json={"messages": [{"body": 1}] * 100})
    assert few.headers["location"].startswith("/v2/queues/big/messages?ids=")
    assert len(few.headers["location"].split("=", 1)[1].split(",")) == 100


@pytest_twisted.ensureDeferred
async def test_listing_past_many_own_messages_follows_next_links(api):
    """A producer listing (echo off) a queue full of its own messages may get pages cut short
    by the store's bound, empty ones included, each with a next link; following the links
    reaches the other client's messages, and the listing ends."""
    await api.post("/v2/queues/q/messages",
                   json={"messages": [{"body": n} for n in range(600)]})
    other = {"Client-ID": "8f6f7b7e-2b9e-11e3-b191-71861300734c"}
    theirs = await api.post_messages("q", {"body": "a"}, {"body": "b"}, headers=other)
    href, seen = "/v2/queues/q/messages?limit=5", []
    for _ in range(20):
        reply = await api.get(href)
        assert reply.status == 200, reply
        seen += [message["id"] for message in reply.json["messages"]]
        if not reply.json["links"]:
            break
        href = reply.json["links"][0]["href"]
    assert seen == theirs
