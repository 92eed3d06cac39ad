"""REST and WebSocket are two doors to one core: for the same state, each shared operation
gives the same data (in each transport's shape: hrefs on REST, ids and claim ids on
WebSocket, reserved metadata defaults only on REST's queue reads), the same errors, and what
one door changes the other sees."""

import pytest_twisted

from zaqar_tw.core.validation import with_reserved_defaults


def from_rest(item):
    """A REST message as WebSocket shows it: the claim id comes from the href."""
    _, _, claim_id = item["href"].partition("?claim_id=")
    return {"id": item["id"], "claim_id": claim_id or None, "ttl": item["ttl"],
            "age": item["age"], "body": item["body"]}


def stats_from_rest(stats):
    counters = dict(stats["messages"])
    for end in ("oldest", "newest"):
        if end in counters:
            item = dict(counters[end])
            item["id"] = item.pop("href").rsplit("/", 1)[1]
            counters[end] = item
    return {"messages": counters}


async def twin(api, connect):
    """A WebSocket client of the REST client's project."""
    client = await connect(api.project)
    client.client_id = api.client_id
    return client


@pytest_twisted.ensureDeferred
async def test_queue_operations_agree(api, connect, config):
    """Create, get, list (plain and detailed), update and delete give the same answers."""
    ws = await twin(api, connect)
    await api.create_queue("a", {"x": 1, "_default_message_ttl": 120})
    reply = await ws.request("queue_create", {"queue_name": "a"})
    assert reply.status == 204  # REST created it
    assert (await ws.request("queue_create", {"queue_name": "b", "metadata": {"y": 2}})
            ).status == 201
    assert (await api.put("/v2/queues/b", json={})).status == 204  # WebSocket created it

    for name in ("a", "b", "missing"):
        rest = (await api.get(f"/v2/queues/{name}")).json
        ws_metadata = await ws.ok("queue_get", {"queue_name": name})
        assert rest == with_reserved_defaults(ws_metadata, config.transport)

    rest = (await api.get("/v2/queues?limit=1")).json["queues"]
    assert [{"name": q["name"]} for q in rest] == (
        await ws.ok("queue_list", {"limit": 1}))["queues"]
    rest = (await api.get("/v2/queues?detailed=true")).json["queues"]
    ws_queues = (await ws.ok("queue_list", {"detailed": True}))["queues"]
    assert [(q["name"], q["metadata"]) for q in rest] == [
        (q["name"], with_reserved_defaults(q["metadata"], config.transport)) for q in ws_queues]

    patched = await ws.ok("queue_update", {"queue_name": "a", "changes": [
        {"op": "add", "path": "/metadata/z", "value": [3]}]})
    assert patched == (await api.get("/v2/queues/a")).json
    reply = await api.patch("/v2/queues/b", data=b'[{"op": "remove", "path": "/metadata/y"}]',
                            headers={"Content-Type":
                                     "application/openstack-messaging-v2.0-json-patch"})
    assert reply.json == with_reserved_defaults(
        await ws.ok("queue_get", {"queue_name": "b"}), config.transport)

    await ws.ok("queue_delete", {"queue_name": "a"})
    assert [q["name"] for q in (await api.get("/v2/queues")).json["queues"]] == ["b"]
    assert (await api.delete("/v2/queues/b")).status == 204
    assert await ws.ok("queue_list") == {"queues": []}


@pytest_twisted.ensureDeferred
async def test_message_reads_agree(api, connect, clock):
    """List (with every option), get, bulk get and stats give the same messages."""
    ws = await twin(api, connect)
    ids = await api.post_messages("q", {"body": {"n": 0}, "ttl": 300}, {"body": "one"},
                                  {"body": [2]})
    clock.advance(4)
    await ws.ok("message_post", {"queue_name": "q", "messages": [{"body": 3, "ttl": 90}]})
    claim_id, _ = await api.claim("q", ttl=120, limit=1)
    clock.advance(2)

    for query, body in [
        ("", {}),
        ("?echo=true", {"echo": True}),
        ("?echo=true&include_claimed=true", {"echo": True, "include_claimed": True}),
        ("?echo=true&limit=2", {"echo": True, "limit": 2}),
        (f"?echo=true&marker={ids[1]}", {"echo": True, "marker": ids[1]}),
    ]:
        rest = (await api.get(f"/v2/queues/q/messages{query}")).json["messages"]
        ws_messages = (await ws.ok("message_list", {"queue_name": "q", **body}))["messages"]
        assert [from_rest(item) for item in rest] == ws_messages, query

    for message_id in ids:
        rest = (await api.get(f"/v2/queues/q/messages/{message_id}")).json
        ws_message = await ws.ok("message_get", {"queue_name": "q", "message_id": message_id})
        assert from_rest(rest) == ws_message["messages"]
    rest = (await api.get(f"/v2/queues/q/messages?ids={ids[2]},{ids[0]}")).json["messages"]
    ws_messages = (await ws.ok("message_get_many", {"queue_name": "q",
                                                    "message_ids": [ids[2], ids[0]]}))
    assert [from_rest(item) for item in rest] == ws_messages["messages"]

    rest = (await api.get("/v2/queues/q/stats")).json
    assert stats_from_rest(rest) == await ws.ok("queue_get_stats", {"queue_name": "q"})
    assert rest["messages"]["claimed"] == 1
    rest = (await api.get("/v2/queues/missing/stats")).json
    assert rest == await ws.ok("queue_get_stats", {"queue_name": "missing"})
    rest = (await api.get("/v2/queues/missing/messages")).json
    assert rest["messages"] == (await ws.ok("message_list",
                                            {"queue_name": "missing"}))["messages"] == []
    claim = (await api.get(f"/v2/queues/q/claims/{claim_id}")).json
    ws_claim = await ws.ok("claim_get", {"queue_name": "q", "claim_id": claim_id})
    assert {"age": claim["age"], "ttl": claim["ttl"],
            "messages": [from_rest(m) for m in claim["messages"]]} == ws_claim


@pytest_twisted.ensureDeferred
async def test_writes_through_one_are_seen_by_the_other(api, connect, clock):
    """Posts, claims, renewals, deletes, pops and purges made through one transport are what
    the other one reads."""
    ws = await twin(api, connect)
    posted = (await ws.ok("message_post", {"queue_name": "w", "messages": [
        {"body": n, "ttl": 200} for n in range(6)]}))["message_ids"]
    rest_ids = [m["id"] for m in (await api.get("/v2/queues/w/messages?echo=true")).json[
        "messages"]]
    assert rest_ids == posted

    claim = await ws.ok("claim_create", {"queue_name": "w", "ttl": 100, "limit": 2})
    reply = await api.get(f"/v2/queues/w/claims/{claim['claim_id']}")
    assert [from_rest(m) for m in reply.json["messages"]] == claim["messages"]
    await ws.ok("claim_update", {"queue_name": "w", "claim_id": claim["claim_id"], "ttl": 500})
    assert (await api.get(f"/v2/queues/w/claims/{claim['claim_id']}")).json["ttl"] == 500

    rest_claim_id, _ = await api.claim("w", ttl=60, limit=1)
    got = await ws.ok("claim_get", {"queue_name": "w", "claim_id": rest_claim_id})
    assert [m["id"] for m in got["messages"]] == [posted[2]]
    assert (await api.delete(f"/v2/queues/w/claims/{rest_claim_id}")).status == 204
    reply = await ws.request("claim_get", {"queue_name": "w", "claim_id": rest_claim_id})
    assert reply.status == 404

    await ws.ok("message_delete", {"queue_name": "w", "message_id": posted[0],
                                   "claim_id": claim["claim_id"]})
    assert (await api.get(f"/v2/queues/w/messages/{posted[0]}")).status == 404
    assert (await api.delete(f"/v2/queues/w/messages?ids={posted[3]}")).status == 204
    reply = await ws.request("message_get", {"queue_name": "w", "message_id": posted[3]})
    assert reply.status == 404

    popped_rest = (await api.delete("/v2/queues/w/messages?pop=1")).json["messages"]
    popped_ws = (await ws.ok("message_delete_many", {"queue_name": "w", "pop": 1}))["messages"]
    assert [m["id"] for m in popped_rest + popped_ws] == [posted[2], posted[4]]
    assert set(popped_rest[0]) == set(popped_ws[0])

    assert (await api.post("/v2/queues/w/purge", json={"resource_types": ["messages"]})
            ).status == 204
    assert (await ws.ok("queue_get_stats", {"queue_name": "w"}))["messages"]["total"] == 0


@pytest_twisted.ensureDeferred
async def test_errors_agree(api, connect):
    """The same mistake gives the same status and text on both."""
    ws = await twin(api, connect)
    await api.post_messages("e", {"body": 1})
    cases = [
        ("GET", "/v2/queues?limit=30", "queue_list", {"limit": 30}),
        ("GET", "/v2/queues/e/messages?limit=0", "message_list",
         {"queue_name": "e", "limit": 0}),
        ("GET", "/v2/queues/bad%20name", "queue_get", {"queue_name": "bad name"}),
        ("GET", "/v2/queues/e/claims/nope", "claim_get",
         {"queue_name": "e", "claim_id": "nope"}),
        ("GET", "/v2/queues/e/messages/nope", "message_get",
         {"queue_name": "e", "message_id": "nope"}),
        ("GET", "/v2/queues/none/messages/nope", "message_get",
         {"queue_name": "none", "message_id": "nope"}),
        ("DELETE", "/v2/queues/e/messages", "message_delete_many", {"queue_name": "e"}),
        ("DELETE", "/v2/queues/e/messages?pop=50", "message_delete_many",
         {"queue_name": "e", "pop": 50}),
    ]
    for method, path, action, body in cases:
        rest = await api.request(method, path)
        reply = await ws.request(action, body)
        assert reply.status == rest.status, (path, reply)
        assert reply.body["exception"] == rest.json["description"], path

    rest = await api.post("/v2/queues/e/claims", json={"ttl": 10})
    reply = await ws.request("claim_create", {"queue_name": "e", "ttl": 10})
    assert (reply.status, reply.body["exception"]) == (rest.status, rest.json["description"])
    rest = await api.post("/v2/queues/e/messages", json={"messages": [{"body": 1, "ttl": 1}]})
    reply = await ws.request("message_post", {"queue_name": "e",
                                              "messages": [{"body": 1, "ttl": 1}]})
    assert (reply.status, reply.body["exception"]) == (rest.status, rest.json["description"])


@pytest_twisted.ensureDeferred
async def test_home_and_ping_agree(api, connect):
    """The JSON-Home document and the ping answer are the same."""
    ws = await twin(api, connect)
    assert (await api.get("/v2/")).json == await ws.ok("get_home_doc")
    assert (await api.get("/v2/ping")).status == (await ws.request("ping_node")).status == 204


@pytest_twisted.ensureDeferred
async def test_subscriptions_agree(api, connect, clock):
    """Create, duplicate, list, get, delete and their errors agree; what one transport
    subscribes, the other sees."""
    ws = await twin(api, connect)
    hook = "http://127.0.0.1:9/hook"
    rest_id = (await api.post("/v2/queues/s/subscriptions", json={
        "subscriber": hook, "ttl": 300, "options": {"a": 1}})).json["subscription_id"]
    duplicate = await ws.ok("subscription_create",
                            {"queue_name": "s", "subscriber": hook}, status=201)
    assert duplicate["subscription_id"] == rest_id
    ws_id = (await ws.ok("subscription_create", {
        "queue_name": "s", "subscriber": "https://example.com/x", "ttl": 600},
        status=201))["subscription_id"]
    duplicate = await api.post("/v2/queues/s/subscriptions",
                               json={"subscriber": "https://example.com/x"})
    assert (duplicate.status, duplicate.json) == (201, {"subscription_id": ws_id})
    clock.advance(3)

    rest = (await api.get("/v2/queues/s/subscriptions")).json["subscriptions"]
    assert rest == (await ws.ok("subscription_list", {"queue_name": "s"}))["subscriptions"]
    assert sorted(item["id"] for item in rest) == sorted([rest_id, ws_id])
    for subscription_id in (rest_id, ws_id):
        assert (await api.get(f"/v2/queues/s/subscriptions/{subscription_id}")).json == (
            await ws.ok("subscription_get",
                        {"queue_name": "s", "subscription_id": subscription_id}))
    page = (await api.get("/v2/queues/s/subscriptions?limit=1")).json["subscriptions"]
    assert page == (await ws.ok("subscription_list",
                                {"queue_name": "s", "limit": 1}))["subscriptions"]

    await api.put(f"/v2/queues/s/subscriptions/{ws_id}/confirm", json={"confirmed": True})
    assert (await ws.ok("subscription_get", {"queue_name": "s", "subscription_id": ws_id})
            )["confirmed"] is True
    rest = await api.post("/v2/queues/s/subscriptions",
                          json={"subscriber": "https://example.com/x"})
    reply = await ws.request("subscription_create",
                             {"queue_name": "s", "subscriber": "https://example.com/x"})
    assert (rest.status, reply.status) == (409, 409)

    await ws.ok("subscription_delete", {"queue_name": "s", "subscription_id": rest_id})
    assert (await api.get(f"/v2/queues/s/subscriptions/{rest_id}")).status == 404
    assert (await api.delete(f"/v2/queues/s/subscriptions/{ws_id}")).status == 204
    reply = await ws.request("subscription_get", {"queue_name": "s", "subscription_id": ws_id})
    assert reply.status == 404
    assert await ws.ok("subscription_list", {"queue_name": "s"}) == {"subscriptions": []}

    cases = [
        ("/v2/queues/s/subscriptions", {"subscriber": "fake"}),
        ("/v2/queues/s/subscriptions", {"subscriber": hook, "ttl": 30}),
        ("/v2/queues/s/subscriptions", {"subscriber": hook, "options": {
            "_retry_policy": {"minimum_delay": 40}}}),
        ("/v2/queues/bad%20name/subscriptions", {"subscriber": hook}),
    ]
    for path, body in cases:
        rest = await api.post(path, json=body)
        queue = path.split("/")[3].replace("%20", " ")
        reply = await ws.request("subscription_create", {"queue_name": queue, **body})
        assert (reply.status, reply.body["exception"]) == (
            rest.status, rest.json["description"]), path
    rest = await api.get(f"/v2/queues/s/subscriptions/{ws_id}")
    reply = await ws.request("subscription_get", {"queue_name": "s", "subscription_id": ws_id})
    assert (reply.status, reply.body["exception"]) == (rest.status, rest.json["description"])
    rest = await api.get("/v2/queues/s/subscriptions?limit=0")
    reply = await ws.request("subscription_list", {"queue_name": "s", "limit": 0})
    assert (reply.status, reply.body["exception"]) == (rest.status, rest.json["description"])
