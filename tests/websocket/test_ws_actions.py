"""Spec 2.2: every action's success and error replies, in JSON and in MessagePack (each test
runs once per encoding through the ``client`` fixture)."""

import uuid

import pytest
import pytest_twisted

BAD_NAME = "The format of the submitted queue name or project id is not valid."
LIMIT = "Limit must be at least 1 and may not be greater than 20."


def assert_error(reply, status, exception, error=...):
    """An error reply: its status, ``exception`` text and ``error`` (for 400: null; else, by
    default, the same text)."""
    if error is ...:
        error = None if status == 400 else exception
    assert (reply.status, reply.body) == (status, {"exception": exception, "error": error}), reply


def message(item, **changes):
    """The WebSocket view of a message: exactly id, claim_id, ttl, age, body."""
    view = {"id": item["id"], "claim_id": None, "ttl": item["ttl"], "age": item["age"],
            "body": item["body"]}
    view.update(changes)
    return view


async def post(client, queue, *bodies, ttl=None):
    items = [{"body": body} if ttl is None else {"body": body, "ttl": ttl} for body in bodies]
    result = await client.ok("message_post", {"queue_name": queue, "messages": items},
                             status=201)
    return result["message_ids"]


# Identity, home and health.


@pytest_twisted.ensureDeferred
async def test_authenticate_without_auth(client):
    """authenticate answers 200 on a server without auth (python-zaqarclient sends it
    first)."""
    reply = await client.request(
        "authenticate", headers=client.headers(**{"X-Auth-Token": "anything"})
    )
    assert (reply.status, reply.body) == (200, {"message": "Authentified."})
    assert reply.request["action"] == "authenticate"


@pytest_twisted.ensureDeferred
async def test_authenticate_errors(client):
    """The authenticator's own checks apply: a malformed Client-ID is a 400."""
    reply = await client.request("authenticate", headers={
        "Client-ID": "not-a-uuid", "X-Project-ID": client.project, "X-Auth-Token": "t"})
    assert_error(reply, 400, "Malformed hexadecimal UUID.")


@pytest.mark.parametrize("action, body", [
    ("message_list", {"queue_name": "q"}),
    ("message_post", {"queue_name": "q", "messages": [{"body": 1}]}),
])
@pytest_twisted.ensureDeferred
async def test_bad_client_id_in_message_actions(client, action, body):
    """message_list and message_post tell a malformed Client-ID in Python's words (spec
    2.1): 400 "badly formed hexadecimal UUID string"."""
    reply = await client.request(action, body, headers={
        "Client-ID": "not-a-uuid", "X-Project-ID": client.project})
    assert_error(reply, 400, "badly formed hexadecimal UUID string")


@pytest_twisted.ensureDeferred
async def test_get_home_doc(client):
    """The JSON-Home document of GET /v2/."""
    body = await client.ok("get_home_doc", status=200)
    assert body["resources"]["rel/queues"]["href-template"] == (
        "/v2/queues{?marker,limit,detailed}"
    )
    assert "rel/pools" not in body["resources"]


@pytest_twisted.ensureDeferred
async def test_get_home_doc_needs_identity(client):
    """As for GET /v2/, the caller must identify: no Client-ID is a 400."""
    reply = await client.request("get_home_doc", headers={"X-Project-ID": client.project})
    assert_error(reply, 400, 'The "Client-Id" header is required.')


@pytest_twisted.ensureDeferred
async def test_ping_node(client):
    """204 while the store answers."""
    reply = await client.request("ping_node")
    assert (reply.status, reply.body) == (204, {})


@pytest_twisted.ensureDeferred
async def test_ping_node_needs_a_project(client):
    """As for GET /v2/ping, the caller must name a project."""
    reply = await client.request("ping_node", headers={"Client-ID": client.client_id})
    assert_error(reply, 400, "The header X-PROJECT-ID was missing")


@pytest_twisted.ensureDeferred
async def test_check_node_health_outside_admin_mode(client):
    """Outside admin mode the health check is not available: 404."""
    reply = await client.request("check_node_health")
    assert_error(reply, 404, "check_node_health is not available on this server.")


@pytest.mark.zaqar_config(("DEFAULT", "admin_mode", "true"))
@pytest_twisted.ensureDeferred
async def test_check_node_health_in_admin_mode(client):
    """In admin mode an admin gets the detailed status; others a 403."""
    reply = await client.request("check_node_health", headers=client.headers(**{
        "X-Roles": "admin"}))
    assert reply.status == 200, reply
    assert reply.body["storage_reachable"] is True
    assert reply.body["operation_status"]["post_messages"]["succeeded"] is True
    reply = await client.request("check_node_health")
    assert_error(reply, 403, "You are not authorized to complete this action.")


@pytest.mark.parametrize("action", [
    f"{kind}_{verb}" for kind in ("pool", "flavor")
    for verb in ("create", "list", "get", "update", "delete")
])
@pytest_twisted.ensureDeferred
async def test_actions_not_available_yet(client, action):
    """Known actions whose operations do not exist yet answer 404, and the connection
    goes on."""
    reply = await client.request(action, {"queue_name": "q"})
    assert_error(reply, 404, f"{action} is not available on this server.")
    assert (await client.request("queue_list")).status == 200


@pytest.mark.zaqar_config(("DEFAULT", "admin_mode", "true"))
@pytest_twisted.ensureDeferred
async def test_pools_not_available_in_admin_mode_either(client):
    """In admin mode too, pools answer 404 until their operations exist."""
    reply = await client.request("pool_list", {"pool_name": "p"})
    assert_error(reply, 404, "pool_list is not available on this server.")


# Queues.


@pytest_twisted.ensureDeferred
async def test_queue_create_then_again(client):
    """201 "Queue q created.", then 204 with the same text."""
    reply = await client.request("queue_create", {"queue_name": "q", "metadata": {"a": 1}})
    assert (reply.status, reply.body) == (201, "Queue q created.")
    reply = await client.request("queue_create", {"queue_name": "q"})
    assert (reply.status, reply.body) == (204, "Queue q created.")
    assert await client.ok("queue_get", {"queue_name": "q"}) == {"a": 1}


@pytest.mark.parametrize("body, text", [
    ({"queue_name": "bad name"}, BAD_NAME),
    ({"queue_name": "x" * 65}, BAD_NAME),
    ({"queue_name": "oddq\n"}, BAD_NAME),
    ({"queue_name": "q", "metadata": {"_default_message_ttl": 10}},
     "_default_message_ttl can not exceed 1209600 seconds, and must be at least 60 seconds "
     "long."),
    ({"queue_name": "q", "metadata": {"_enable_encrypt_messages": "yes"}},
     "_enable_encrypt_messages must be boolean."),
    ({"queue_name": "q", "metadata": {"_enable_encrypt_messages": True}},
     "_enable_encrypt_messages: message encryption is not supported by this server yet; "
     "leave it false or unset."),
    ({"queue_name": "q", "metadata": {"big": "x" * 70000}},
     "Queue metadata is too large. Max size: 65536"),
])
@pytest_twisted.ensureDeferred
async def test_queue_create_errors(client, body, text):
    """Names and metadata are checked as on REST: 400, error null."""
    assert_error(await client.request("queue_create", body), 400, text)


@pytest_twisted.ensureDeferred
async def test_queue_list(client):
    """Names in order; detailed adds the metadata as stored (no reserved defaults); no
    links, no href."""
    for name in ("b", "a", "c"):
        await client.ok("queue_create", {"queue_name": name, "metadata": {"n": name}})
    body = await client.ok("queue_list", {"limit": 2}, status=200)
    assert body == {"queues": [{"name": "a"}, {"name": "b"}]}
    body = await client.ok("queue_list", {"marker": "b", "detailed": True})
    assert body == {"queues": [{"name": "c", "metadata": {"n": "c"}}]}


@pytest.mark.parametrize("limit", [0, 21, -1])
@pytest_twisted.ensureDeferred
async def test_queue_list_errors(client, limit):
    """A limit out of range: 400 with the queue-list wording."""
    reply = await client.request("queue_list", {"limit": limit})
    assert_error(reply, 400, "Limit must be at least 1 and no greater than 20.")


@pytest_twisted.ensureDeferred
async def test_queue_get(client):
    """The metadata as stored; {} for a queue that does not exist."""
    assert await client.ok("queue_get", {"queue_name": "nope"}, status=200) == {}
    await client.ok("queue_create", {"queue_name": "q",
                                     "metadata": {"_default_message_ttl": 120, "x": [1]}})
    assert await client.ok("queue_get", {"queue_name": "q"}) == {
        "_default_message_ttl": 120, "x": [1]}


@pytest_twisted.ensureDeferred
async def test_queue_get_errors(client):
    """A malformed name: 400."""
    assert_error(await client.request("queue_get", {"queue_name": "a/b"}), 400, BAD_NAME)


@pytest_twisted.ensureDeferred
async def test_queue_update(client):
    """JSON-patch changes apply; the reply is the resulting metadata as PATCH gives it."""
    await client.ok("queue_create", {"queue_name": "q", "metadata": {"a": 1, "b": 2}})
    body = await client.ok("queue_update", {"queue_name": "q", "changes": [
        {"op": "add", "path": "/metadata/c", "value": 3},
        {"op": "replace", "path": "/metadata/a", "value": 10},
        {"op": "remove", "path": "/metadata/b"},
    ]}, status=200)
    assert body["a"] == 10 and body["c"] == 3 and "b" not in body
    assert body["_default_message_ttl"] == 3600
    assert await client.ok("queue_get", {"queue_name": "q"}) == {"a": 10, "c": 3}


@pytest_twisted.ensureDeferred
async def test_queue_update_errors(client):
    """A missing queue is a 404; an empty or bad patch a 400; a conflict a 409."""
    change = [{"op": "add", "path": "/metadata/a", "value": 1}]
    reply = await client.request("queue_update", {"queue_name": "nope", "changes": change})
    assert_error(reply, 404, f"Queue nope does not exist for project {client.project}")
    await client.ok("queue_create", {"queue_name": "q"})
    reply = await client.request("queue_update", {"queue_name": "q", "changes": []})
    assert_error(reply, 400, "PATCH body could not be empty for update.")
    reply = await client.request("queue_update", {"queue_name": "q", "changes": [
        {"op": "move", "path": "/metadata/a"}]})
    assert_error(reply, 400, "Invalid operation: `move`. It must be one of the following: "
                             "add, remove, replace.")
    reply = await client.request("queue_update", {"queue_name": "q", "changes": [
        {"op": "replace", "path": "/metadata/nothing", "value": 1}]})
    assert_error(reply, 409, "Can't replace non-existent object nothing.")


@pytest_twisted.ensureDeferred
async def test_queue_delete(client):
    """204 "Queue q removed."; the messages go with it; a missing queue is fine."""
    await post(client, "q", 1)
    reply = await client.request("queue_delete", {"queue_name": "q"})
    assert (reply.status, reply.body) == (204, "Queue q removed.")
    assert await client.ok("queue_list") == {"queues": []}
    reply = await client.request("queue_delete", {"queue_name": "q"})
    assert reply.status == 204


@pytest_twisted.ensureDeferred
async def test_queue_delete_errors(client):
    """A malformed name: 400."""
    assert_error(await client.request("queue_delete", {"queue_name": "b@d"}), 400, BAD_NAME)


@pytest_twisted.ensureDeferred
async def test_queue_get_stats(client, clock):
    """Counters, and the oldest and newest messages with their id (no href)."""
    ids = await post(client, "q", "first", "second", ttl=300)
    clock.advance(5)
    await client.ok("claim_create", {"queue_name": "q", "limit": 1})
    body = await client.ok("queue_get_stats", {"queue_name": "q"}, status=200)
    counters = body["messages"]
    assert (counters["claimed"], counters["free"], counters["total"]) == (1, 1, 2)
    assert counters["oldest"]["id"] == ids[0]
    assert counters["newest"] == {
        "id": ids[1], "age": 5, "ttl": 300, "body": "second", "claim_id": None,
        "claim_count": 0, "created": "2023-11-14T22:13:20Z",
    }


@pytest_twisted.ensureDeferred
async def test_queue_get_stats_of_missing_queue(client):
    """A queue that does not exist: 200 with zeros (as REST)."""
    body = await client.ok("queue_get_stats", {"queue_name": "nope"}, status=200)
    assert body == {"messages": {"claimed": 0, "free": 0, "total": 0}}


@pytest_twisted.ensureDeferred
async def test_queue_get_stats_errors(client):
    """A malformed name: 400."""
    reply = await client.request("queue_get_stats", {"queue_name": "$"})
    assert_error(reply, 400, BAD_NAME)


@pytest_twisted.ensureDeferred
async def test_queue_purge(client):
    """204 {}; the messages go, claimed ones included, the queue stays."""
    await post(client, "q", 1, 2)
    await client.ok("claim_create", {"queue_name": "q", "limit": 1})
    reply = await client.request("queue_purge", {"queue_name": "q",
                                                 "resource_types": ["messages"]})
    assert (reply.status, reply.body) == (204, {})
    body = await client.ok("queue_get_stats", {"queue_name": "q"})
    assert body["messages"]["total"] == 0
    assert await client.ok("queue_list") == {"queues": [{"name": "q"}]}
    await post(client, "q", 3)
    await client.ok("queue_purge", {"queue_name": "q"}, status=204)
    assert (await client.ok("queue_get_stats", {"queue_name": "q"}))["messages"]["total"] == 0


@pytest_twisted.ensureDeferred
async def test_queue_purge_errors(client):
    """Unknown resource types: 400."""
    reply = await client.request("queue_purge", {"queue_name": "q",
                                                 "resource_types": ["claims"]})
    assert_error(reply, 400, "Resource types must be a sub set of "
                             "{'messages', 'subscriptions'}.")


# Messages.


@pytest_twisted.ensureDeferred
async def test_message_post(client):
    """201 with the new ids; the queue is created on the way."""
    reply = await client.request("message_post", {"queue_name": "q", "messages": [
        {"body": {"k": [1, 2]}, "ttl": 120}, {"body": "two"}]})
    assert reply.status == 201
    ids = reply.body["message_ids"]
    assert len(ids) == 2 and all(str(uuid.UUID(i)) == i for i in ids)
    assert await client.ok("queue_list") == {"queues": [{"name": "q"}]}


@pytest.mark.parametrize("messages, text", [
    ([], "No messages to enqueu."),
    ([{"body": 1, "ttl": 30}],
     "The TTL for a message may not exceed 1209600 seconds, and must be at least 60 seconds "
     "long."),
    ([{"ttl": 60}], 'Missing "body" field.'),
    ([5], "Document type not supported."),
])
@pytest_twisted.ensureDeferred
async def test_message_post_errors(client, messages, text):
    """Bad messages: 400; a failed post creates no queue."""
    reply = await client.request("message_post", {"queue_name": "q", "messages": messages})
    assert_error(reply, 400, text)
    assert await client.ok("queue_list") == {"queues": []}


@pytest_twisted.ensureDeferred
async def test_message_list(client, clock):
    """Messages as {id, claim_id, ttl, age, body}; own messages only with echo; claimed ones
    only with include_claimed; no links."""
    ids = await post(client, "q", "a", "b", "c", ttl=600)
    clock.advance(3)
    assert await client.ok("message_list", {"queue_name": "q"}, status=200) == {
        "messages": []}
    body = await client.ok("message_list", {"queue_name": "q", "echo": True, "limit": 2})
    assert body == {"messages": [
        {"id": ids[0], "claim_id": None, "ttl": 600, "age": 3, "body": "a"},
        {"id": ids[1], "claim_id": None, "ttl": 600, "age": 3, "body": "b"},
    ]}
    body = await client.ok("message_list", {"queue_name": "q", "echo": True,
                                            "marker": ids[1]})
    assert [m["id"] for m in body["messages"]] == [ids[2]]
    claim = await client.ok("claim_create", {"queue_name": "q", "limit": 1})
    body = await client.ok("message_list", {"queue_name": "q", "echo": True})
    assert [m["id"] for m in body["messages"]] == ids[1:]
    body = await client.ok("message_list", {"queue_name": "q", "echo": True,
                                            "include_claimed": True})
    assert body["messages"][0] == {"id": ids[0], "claim_id": claim["claim_id"], "ttl": 600,
                                   "age": 3, "body": "a"}


@pytest_twisted.ensureDeferred
async def test_message_list_of_missing_queue(client):
    """A queue that does not exist: 200 with an empty list (as REST)."""
    assert await client.ok("message_list", {"queue_name": "nope"}, status=200) == {
        "messages": []}


@pytest_twisted.ensureDeferred
async def test_message_list_errors(client):
    """Limit out of range, or a malformed name: 400."""
    assert_error(await client.request("message_list", {"queue_name": "q", "limit": 21}),
                 400, LIMIT)
    assert_error(await client.request("message_list", {"queue_name": "q q"}), 400, BAD_NAME)


@pytest_twisted.ensureDeferred
async def test_message_get(client):
    """The message, as an object under the plural key "messages"."""
    (message_id,) = await post(client, "q", {"x": 1}, ttl=90)
    body = await client.ok("message_get", {"queue_name": "q", "message_id": message_id},
                           status=200)
    assert body == {"messages": {"id": message_id, "claim_id": None, "ttl": 90, "age": 0,
                                 "body": {"x": 1}}}


@pytest_twisted.ensureDeferred
async def test_message_get_errors(client):
    """An unknown message or queue: 404 naming it."""
    await post(client, "q", 1)
    reply = await client.request("message_get", {"queue_name": "q", "message_id": "nope"})
    assert_error(reply, 404, f"Message nope does not exist in queue q for project "
                             f"{client.project}")
    reply = await client.request("message_get", {"queue_name": "none", "message_id": "x"})
    assert_error(reply, 404, f"Queue none does not exist for project {client.project}")


@pytest_twisted.ensureDeferred
async def test_message_get_many(client):
    """The messages found, in the order asked; none found is an empty list."""
    ids = await post(client, "q", 1, 2, 3)
    body = await client.ok("message_get_many", {"queue_name": "q",
                                                "message_ids": [ids[2], "nope", ids[0]]},
                           status=200)
    assert [m["id"] for m in body["messages"]] == [ids[2], ids[0]]
    assert set(body["messages"][0]) == {"id", "claim_id", "ttl", "age", "body"}
    body = await client.ok("message_get_many", {"queue_name": "q", "message_ids": ["nope"]},
                           status=200)
    assert body == {"messages": []}


@pytest_twisted.ensureDeferred
async def test_message_get_many_errors(client):
    """More than 20 ids: 400."""
    reply = await client.request("message_get_many", {"queue_name": "q",
                                                      "message_ids": ["a"] * 21})
    assert_error(reply, 400, LIMIT)


@pytest_twisted.ensureDeferred
async def test_message_delete(client):
    """204 {}; a claimed message goes with its claim id."""
    first, second = await post(client, "q", 1, 2)
    reply = await client.request("message_delete", {"queue_name": "q", "message_id": first})
    assert (reply.status, reply.body) == (204, {})
    claim = await client.ok("claim_create", {"queue_name": "q"})
    await client.ok("message_delete", {"queue_name": "q", "message_id": second,
                                       "claim_id": claim["claim_id"]}, status=204)
    assert (await client.ok("queue_get_stats", {"queue_name": "q"}))["messages"]["total"] == 0


@pytest_twisted.ensureDeferred
async def test_message_delete_errors(client):
    """A claimed message without its claim id: 403; with an unknown claim: 400."""
    (message_id,) = await post(client, "q", 1)
    await client.ok("claim_create", {"queue_name": "q"})
    reply = await client.request("message_delete", {"queue_name": "q",
                                                    "message_id": message_id})
    assert_error(reply, 403, "This message is claimed; it cannot be deleted without a valid "
                             "claim ID.")
    reply = await client.request("message_delete", {"queue_name": "q",
                                                    "message_id": message_id,
                                                    "claim_id": "nope"})
    assert_error(reply, 400, "The specified claim does not exist or has expired.",
                 "The specified claim does not exist or has expired.")


@pytest_twisted.ensureDeferred
async def test_message_delete_many_by_ids(client):
    """Delete by ids: 204 {}."""
    ids = await post(client, "q", 1, 2, 3)
    reply = await client.request("message_delete_many", {"queue_name": "q",
                                                         "message_ids": ids[:2]})
    assert (reply.status, reply.body) == (204, {})
    body = await client.ok("message_list", {"queue_name": "q", "echo": True})
    assert [m["id"] for m in body["messages"]] == ids[2:]


@pytest_twisted.ensureDeferred
async def test_message_delete_many_pop(client, clock):
    """Pop: 200 with the popped messages in the raw storage shape."""
    ids = await post(client, "q", "a", "b", "c", ttl=120)
    clock.advance(1)
    body = await client.ok("message_delete_many", {"queue_name": "q", "pop": 2}, status=200)
    assert [m["id"] for m in body["messages"]] == ids[:2]
    popped = body["messages"][0]
    assert set(popped) == {"id", "age", "ttl", "body", "claim_id", "claim_count"}
    assert (popped["body"], popped["age"]) == ("a", 1)
    body = await client.ok("message_list", {"queue_name": "q", "echo": True})
    assert [m["id"] for m in body["messages"]] == ids[2:]


@pytest.mark.parametrize("body, text", [
    ({}, 'The request should have either "ids" or "pop" parameter in the request, to be able '
         'to delete.'),
    ({"message_ids": []}, 'The request should have either "ids" or "pop" parameter in the '
                          'request, to be able to delete.'),
    ({"message_ids": ["a"], "pop": 1},
     "pop and id params cannot be present together in the delete request."),
    ({"pop": 21}, "Pop value must be at least 1 and may not be greater than 20."),
    ({"message_ids": ["a"] * 21},
     "ids parameter should have at least 1 and not greater than 20 values."),
])
@pytest_twisted.ensureDeferred
async def test_message_delete_many_errors(client, body, text):
    """Neither ids nor pop, both, or out of range: 400."""
    reply = await client.request("message_delete_many", {"queue_name": "q", **body})
    assert_error(reply, 400, text)


# Claims.


@pytest_twisted.ensureDeferred
async def test_claim_create(client, clock):
    """201 with the claim id and its messages, each showing the claim; grace raises the
    ttl of a message that would die first."""
    ids = await post(client, "q", "a", "b", "c", ttl=120)
    clock.advance(2)
    reply = await client.request("claim_create", {"queue_name": "q", "ttl": 300,
                                                  "grace": 60, "limit": 2})
    assert reply.status == 201
    claim_id = reply.body["claim_id"]
    assert str(uuid.UUID(claim_id)) == claim_id
    assert reply.body["messages"] == [
        {"id": ids[0], "claim_id": claim_id, "ttl": 360, "age": 2, "body": "a"},
        {"id": ids[1], "claim_id": claim_id, "ttl": 360, "age": 2, "body": "b"},
    ]


@pytest_twisted.ensureDeferred
async def test_claim_create_with_nothing_to_claim(client):
    """Nothing claimable: 204 without a claim id."""
    reply = await client.request("claim_create", {"queue_name": "empty"})
    assert (reply.status, reply.body) == (204, {"messages": []})


@pytest.mark.parametrize("body, text", [
    ({"ttl": 30}, "The TTL for a claim may not exceed 43200 seconds, and must be at least 60 "
                  "seconds long."),
    ({"grace": 10}, "The grace for a claim may not exceed 43200 seconds, and must be at least "
                    "60 seconds long."),
    ({"limit": 21}, LIMIT),
])
@pytest_twisted.ensureDeferred
async def test_claim_create_errors(client, body, text):
    """ttl, grace or limit out of range: 400."""
    reply = await client.request("claim_create", {"queue_name": "q", **body})
    assert_error(reply, 400, text)


@pytest_twisted.ensureDeferred
async def test_claim_get(client, clock):
    """{age, ttl, messages}: age since the claim was made."""
    ids = await post(client, "q", "a", ttl=600)
    claim = await client.ok("claim_create", {"queue_name": "q", "ttl": 100})
    clock.advance(7)
    body = await client.ok("claim_get", {"queue_name": "q", "claim_id": claim["claim_id"]},
                           status=200)
    assert body == {"age": 7, "ttl": 100, "messages": [
        {"id": ids[0], "claim_id": claim["claim_id"], "ttl": 600, "age": 7, "body": "a"}]}


@pytest_twisted.ensureDeferred
async def test_claim_get_errors(client, clock):
    """An unknown or expired claim: 404."""
    await post(client, "q", "a")
    reply = await client.request("claim_get", {"queue_name": "q", "claim_id": "nope"})
    assert_error(reply, 404, f"Claim nope does not exist in queue q for project "
                             f"{client.project}", "Claim nope does not exist.")
    claim = await client.ok("claim_create", {"queue_name": "q", "ttl": 60})
    clock.advance(61)
    reply = await client.request("claim_get", {"queue_name": "q",
                                               "claim_id": claim["claim_id"]})
    assert reply.status == 404
    assert reply.body["error"] == f"Claim {claim['claim_id']} does not exist."


@pytest_twisted.ensureDeferred
async def test_claim_update(client, clock):
    """204 "Claim C updated."; the claim is renewed with the new ttl."""
    await post(client, "q", "a")
    claim_id = (await client.ok("claim_create", {"queue_name": "q", "ttl": 60}))["claim_id"]
    clock.advance(50)
    reply = await client.request("claim_update", {"queue_name": "q", "claim_id": claim_id,
                                                  "ttl": 200, "grace": 60})
    assert (reply.status, reply.body) == (204, f"Claim {claim_id} updated.")
    clock.advance(50)
    body = await client.ok("claim_get", {"queue_name": "q", "claim_id": claim_id})
    assert (body["ttl"], body["age"]) == (200, 50)


@pytest_twisted.ensureDeferred
async def test_claim_update_errors(client):
    """An unknown claim: 404; a bad ttl: 400."""
    reply = await client.request("claim_update", {"queue_name": "q", "claim_id": "nope",
                                                  "ttl": 100})
    assert_error(reply, 404, f"Claim nope does not exist in queue q for project "
                             f"{client.project}", "Claim nope does not exist.")
    reply = await client.request("claim_update", {"queue_name": "q", "claim_id": "nope",
                                                  "ttl": 5})
    assert reply.status == 400


@pytest_twisted.ensureDeferred
async def test_claim_delete(client):
    """204 "Claim C deleted."; the messages are free again; an unknown claim is fine."""
    await post(client, "q", "a")
    claim_id = (await client.ok("claim_create", {"queue_name": "q"}))["claim_id"]
    reply = await client.request("claim_delete", {"queue_name": "q", "claim_id": claim_id})
    assert (reply.status, reply.body) == (204, f"Claim {claim_id} deleted.")
    stats = await client.ok("queue_get_stats", {"queue_name": "q"})
    assert (stats["messages"]["claimed"], stats["messages"]["free"]) == (0, 1)
    reply = await client.request("claim_delete", {"queue_name": "q", "claim_id": "nope"})
    assert reply.status == 204


@pytest_twisted.ensureDeferred
async def test_claim_delete_errors(client):
    """A malformed queue name: 400."""
    reply = await client.request("claim_delete", {"queue_name": "?", "claim_id": "c"})
    assert_error(reply, 400, BAD_NAME)


# Store down, policy, unexpected errors.


@pytest.mark.parametrize("policy_rules", [{"queues:create": "!"}])
@pytest_twisted.ensureDeferred
async def test_policy_applies_as_on_rest(client, policy_rules):
    """The core's policy refuses over WebSocket as over REST: 403."""
    reply = await client.request("queue_create", {"queue_name": "q"})
    assert_error(reply, 403, "You are not authorized to complete this action.")


@pytest_twisted.ensureDeferred
async def test_store_down_is_a_503(config, clock, codec):
    """With the store unreachable, operations answer 503 saying what could not be done."""
    from twisted.internet import reactor
    from twisted.internet.endpoints import TCP4ServerEndpoint

    from tests.websocket.conftest import WsServer
    from zaqar_tw.auth.noauth import NoAuth
    from zaqar_tw.core import Core
    from zaqar_tw.storage.redis.store import RedisStorage
    from zaqar_tw.transport.websocket.factory import ZaqarServerFactory

    dead = RedisStorage(reactor, "redis://127.0.0.1:1", clock=clock)  # never connected
    factory = ZaqarServerFactory(Core(config, dead, clock), config, NoAuth(None, config), reactor,
                                 clock)
    port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(factory)
    server = WsServer(reactor, factory, port)
    try:
        client = await server.connect()
        client.binary = codec == "msgpack"
        reply = await client.request("message_post", {"queue_name": "q",
                                                      "messages": [{"body": 1}]})
        assert_error(reply, 503, "Messages could not be enqueued. Please try again in a few "
                                 "seconds.")
        reply = await client.request("ping_node")
        assert_error(reply, 503, "The store does not answer.")
    finally:
        await server.close()


class _BrokenAuthenticator:
    """An authenticator with a bug."""

    def authenticate(self, headers, method, path):
        raise RuntimeError("the identity provider broke")


@pytest.fixture
def authenticator(request, config):
    """No-auth, or a broken provider for the test that asks for it."""
    if request.node.name.startswith("test_unexpected_error"):
        return _BrokenAuthenticator()
    from zaqar_tw.auth.noauth import NoAuth

    return NoAuth(None, config)


@pytest_twisted.ensureDeferred
async def test_unexpected_error_is_a_500(client):
    """An unexpected exception: 500 with its text and "Unexpected error."; the connection
    goes on."""
    for _ in range(2):
        reply = await client.request("queue_list")
        assert_error(reply, 500, "the identity provider broke", "Unexpected error.")


@pytest.mark.zaqar_config(("DEFAULT", "enable_checksum", "true"))
@pytest_twisted.ensureDeferred
async def test_checksums_never_show_over_websocket(client):
    """Spec 3.11: checksums show on REST only, not in WebSocket pop or stats replies."""
    await client.ok("message_post", {"queue_name": "sums",
                                     "messages": [{"body": {"event": "a"}}, {"body": 2}]})
    stats = await client.ok("queue_get_stats", {"queue_name": "sums"})
    assert "checksum" not in stats["messages"]["oldest"]
    popped = await client.ok("message_delete_many", {"queue_name": "sums", "pop": 2})
    assert len(popped["messages"]) == 2
    assert all("checksum" not in message for message in popped["messages"])
