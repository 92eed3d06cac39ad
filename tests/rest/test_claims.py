"""Section 1.4 of the wire contract (and 3.2): claims over REST."""

import uuid

import pytest
import pytest_twisted

LIMIT_ERROR = ("Invalid API request", "Limit must be at least 1 and may not be greater than 20.")
TTL_ERROR = (
    "Invalid API request",
    "The TTL for a claim may not exceed 43200 seconds, and must be at least 60 seconds long.",
)
GRACE_ERROR = (
    "Invalid API request",
    "The grace for a claim may not exceed 43200 seconds, and must be at least 60 seconds long.",
)


async def visible(api, queue):
    reply = await api.get(f"/v2/queues/{queue}/messages?echo=true")
    return [message["id"] for message in reply.json["messages"]]


# Create.


@pytest_twisted.ensureDeferred
async def test_create_claim(api):
    """A claim answers 201 with its messages and a Location; the id is not in the body."""
    ids = await api.post_messages("q", {"body": {"n": 1}, "ttl": 600}, {"body": 2})
    api.advance(2)
    reply = await api.post("/v2/queues/q/claims", json={"ttl": 100, "grace": 60})
    assert reply.status == 201
    claim_id = reply.headers["location"].rsplit("/", 1)[1]
    assert reply.headers["location"] == f"/v2/queues/q/claims/{claim_id}"
    assert str(uuid.UUID(claim_id)) == claim_id
    assert reply.json == {
        "messages": [
            {"id": ids[0], "href": f"/v2/queues/q/messages/{ids[0]}?claim_id={claim_id}",
             "ttl": 600, "age": 2, "body": {"n": 1}},
            {"id": ids[1], "href": f"/v2/queues/q/messages/{ids[1]}?claim_id={claim_id}",
             "ttl": 3600, "age": 2, "body": 2},
        ]
    }


@pytest_twisted.ensureDeferred
async def test_claimed_messages_are_hidden_from_lists_and_claims(api):
    """Claimed messages leave the default listing and cannot be claimed twice."""
    first, second = await api.post_messages("q", {"body": 1}, {"body": 2})
    await api.claim("q", limit=1)
    assert await visible(api, "q") == [second]
    _, reply = await api.claim("q")
    assert [message["id"] for message in reply.json["messages"]] == [second]
    nothing = await api.post("/v2/queues/q/claims", json={})
    assert nothing.status == 204


@pytest_twisted.ensureDeferred
async def test_create_default_limit_and_limit(api):
    """A claim takes 10 messages by default, ``limit`` of them when given, oldest first."""
    ids = await api.post_messages("q", *[{"body": index} for index in range(13)])
    _, reply = await api.claim("q")
    assert [message["id"] for message in reply.json["messages"]] == ids[:10]
    _, reply = await api.claim("q", limit=2)
    assert [message["id"] for message in reply.json["messages"]] == ids[10:12]


@pytest.mark.parametrize("kwargs", [{}, {"data": b""}, {"chunked": b""}, {"json": {}},
                                    {"json": {"ttl": 120}}, {"json": {"grace": 120}},
                                    {"json": {"ttl": None, "grace": None}}])
@pytest_twisted.ensureDeferred
async def test_create_with_default_ttl_and_grace(api, kwargs):
    """Absent body, ``{}``, one field or JSON nulls fall back to the defaults (300, 60)."""
    await api.post_messages("q", {"body": 1})
    reply = await api.post("/v2/queues/q/claims", **kwargs)
    assert reply.status == 201, reply
    claim = await api.get(reply.headers["location"])
    expected = kwargs.get("json", {}).get("ttl") or 300
    assert claim.json["ttl"] == expected


@pytest_twisted.ensureDeferred
async def test_create_nothing_claimable_or_missing_queue(api):
    """No claimable message (or no queue) answers 204 without a body or Location."""
    reply = await api.post("/v2/queues/none/claims", json={})
    assert reply.status == 204
    assert reply.body == b""
    assert "location" not in reply.headers
    await api.create_queue("empty")
    assert (await api.post("/v2/queues/empty/claims", json={})).status == 204


@pytest.mark.parametrize("ttl", [59, 43201, 0, -1])
@pytest_twisted.ensureDeferred
async def test_create_ttl_out_of_range(api, ttl):
    """A claim ttl outside 60..43200 is refused."""
    reply = await api.post("/v2/queues/q/claims", json={"ttl": ttl})
    assert reply.status == 400
    assert reply.error == TTL_ERROR


@pytest.mark.parametrize("grace", [59, 43201])
@pytest_twisted.ensureDeferred
async def test_create_grace_out_of_range(api, grace):
    """A claim grace outside 60..43200 is refused."""
    reply = await api.post("/v2/queues/q/claims", json={"grace": grace})
    assert reply.status == 400
    assert reply.error == GRACE_ERROR


@pytest.mark.parametrize("ttl, grace", [(60, 60), (43200, 43200)])
@pytest_twisted.ensureDeferred
async def test_create_bounds(api, ttl, grace):
    """The bounds of ttl and grace are accepted."""
    await api.post_messages("q", {"body": 1})
    await api.claim("q", ttl=ttl, grace=grace)


@pytest.mark.parametrize("limit", ["0", "-1", "21", "200"])
@pytest_twisted.ensureDeferred
async def test_create_limit_out_of_range(api, limit):
    """A claim limit outside 1..20 is refused."""
    reply = await api.post(f"/v2/queues/q/claims?limit={limit}", json={})
    assert reply.status == 400
    assert reply.error == LIMIT_ERROR


@pytest.mark.parametrize(
    "body, description",
    [
        (b'"123"', "Request body could not be parsed."),
        (b"[", "Request body could not be parsed."),
        (b"[]", "Document type not supported."),
        (b'{"ttl": "100"}', 'The value of the "ttl" field must be a int.'),
        (b'{"grace": 100.5}', 'The value of the "grace" field must be a int.'),
    ],
)
@pytest_twisted.ensureDeferred
async def test_create_bad_bodies(api, body, description):
    """Malformed claim bodies are refused."""
    reply = await api.post("/v2/queues/q/claims", data=body)
    assert reply.status == 400
    assert reply.error == ("Invalid request body", description)


@pytest_twisted.ensureDeferred
async def test_grace_raises_short_message_ttl(api):
    """A message that would die before the claim ends lives until claim end + grace."""
    short, long = await api.post_messages("q", {"body": 1, "ttl": 120}, {"body": 2})
    _, reply = await api.claim("q", ttl=300, grace=60)
    assert [message["ttl"] for message in reply.json["messages"]] == [360, 3600]
    api.advance(300)
    assert (await api.get(f"/v2/queues/q/messages/{short}")).json["ttl"] == 360
    api.advance(59)
    assert (await api.get(f"/v2/queues/q/messages/{short}")).status == 200
    api.advance(1)
    assert (await api.get(f"/v2/queues/q/messages/{short}")).status == 404
    assert (await api.get(f"/v2/queues/q/messages/{long}")).status == 200


@pytest_twisted.ensureDeferred
async def test_claim_expiry_releases_messages(api):
    """When the claim's ttl is over its messages are visible and claimable again."""
    [message_id] = await api.post_messages("q", {"body": 1})
    claim_id, _ = await api.claim("q", ttl=60)
    api.advance(59)
    assert await visible(api, "q") == []
    api.advance(1)
    assert await visible(api, "q") == [message_id]
    reply = await api.get(f"/v2/queues/q/messages/{message_id}")
    assert reply.json["href"] == f"/v2/queues/q/messages/{message_id}"
    new_claim, reply = await api.claim("q")
    assert new_claim != claim_id
    assert [message["id"] for message in reply.json["messages"]] == [message_id]


@pytest_twisted.ensureDeferred
async def test_claims_are_per_project(api):
    """Another project cannot claim, see or release this project's messages."""
    await api.post_messages("q", {"body": 1})
    other = {"X-Project-ID": uuid.uuid4().hex}
    assert (await api.post("/v2/queues/q/claims", json={}, headers=other)).status == 204
    claim_id, _ = await api.claim("q")
    path = f"/v2/queues/q/claims/{claim_id}"
    assert (await api.get(path, headers=other)).status == 404
    assert (await api.patch(path, json={}, headers=other)).status == 404
    assert (await api.delete(path, headers=other)).status == 204
    assert (await api.get(path)).status == 200


# Get.


@pytest_twisted.ensureDeferred
async def test_get_claim(api):
    """GET shows age, ttl, the messages and the claim's href; age follows the clock."""
    [message_id] = await api.post_messages("q", {"body": {"k": "v"}})
    claim_id, _ = await api.claim("q", ttl=120, grace=60)
    api.advance(2)
    reply = await api.get(f"/v2/queues/q/claims/{claim_id}")
    assert reply.status == 200
    assert reply.json == {
        "age": 2,
        "ttl": 120,
        "messages": [
            {"id": message_id,
             "href": f"/v2/queues/q/messages/{message_id}?claim_id={claim_id}",
             "ttl": 3600, "age": 2, "body": {"k": "v"}}
        ],
        "href": f"/v2/queues/q/claims/{claim_id}",
    }
    api.advance(10)
    assert (await api.get(f"/v2/queues/q/claims/{claim_id}")).json["age"] == 12


@pytest.mark.parametrize("claim_id", [str(uuid.uuid4()), "not-a-claim"])
@pytest_twisted.ensureDeferred
async def test_get_unknown_claim(api, claim_id):
    """An unknown claim is a 404 naming it."""
    await api.create_queue("q")
    reply = await api.get(f"/v2/queues/q/claims/{claim_id}")
    assert reply.status == 404
    assert reply.error == (
        "Not found", f"Claim {claim_id} does not exist in queue q for project {api.project}"
    )


@pytest_twisted.ensureDeferred
async def test_get_claim_of_missing_queue(api):
    """A claim of a queue that does not exist is a 404."""
    reply = await api.get(f"/v2/queues/none/claims/{uuid.uuid4()}")
    assert reply.status == 404
    assert reply.error[0] == "Not found"


@pytest_twisted.ensureDeferred
async def test_get_expired_claim(api):
    """An expired claim is simply gone: 404, not 503."""
    await api.post_messages("q", {"body": 1})
    claim_id, _ = await api.claim("q", ttl=60)
    api.advance(60)
    reply = await api.get(f"/v2/queues/q/claims/{claim_id}")
    assert reply.status == 404
    assert reply.error == (
        "Not found", f"Claim {claim_id} does not exist in queue q for project {api.project}"
    )


@pytest_twisted.ensureDeferred
async def test_claim_ids_are_scoped_to_their_queue(api):
    """A claim id is unknown in another queue."""
    await api.post_messages("q", {"body": 1})
    await api.post_messages("other", {"body": 2})
    claim_id, _ = await api.claim("q")
    path = f"/v2/queues/other/claims/{claim_id}"
    assert (await api.get(path)).status == 404
    assert (await api.patch(path, json={})).status == 404
    assert (await api.delete(path)).status == 204
    assert (await api.get(f"/v2/queues/q/claims/{claim_id}")).status == 200


# Update (renew).


@pytest_twisted.ensureDeferred
async def test_renew_claim(api):
    """PATCH renews: ttl replaced, age restarts, expiry moves."""
    [message_id] = await api.post_messages("q", {"body": 1})
    claim_id, _ = await api.claim("q", ttl=60)
    path = f"/v2/queues/q/claims/{claim_id}"
    api.advance(50)
    reply = await api.patch(path, json={"ttl": 120, "grace": 60})
    assert reply.status == 204
    assert reply.body == b""
    claim = (await api.get(path)).json
    assert (claim["ttl"], claim["age"]) == (120, 0)
    api.advance(119)
    assert await visible(api, "q") == []
    api.advance(1)
    assert await visible(api, "q") == [message_id]


@pytest_twisted.ensureDeferred
async def test_renew_with_empty_object_resets_to_defaults(api):
    """PATCH ``{}`` sets the ttl back to the default 300."""
    await api.post_messages("q", {"body": 1})
    claim_id, _ = await api.claim("q", ttl=100)
    path = f"/v2/queues/q/claims/{claim_id}"
    assert (await api.patch(path, json={})).status == 204
    assert (await api.get(path)).json["ttl"] == 300


@pytest_twisted.ensureDeferred
async def test_renew_reapplies_grace(api):
    """Renewal raises the ttl of messages that would now die before the claim ends."""
    [message_id] = await api.post_messages("q", {"body": 1, "ttl": 600})
    claim_id, reply = await api.claim("q", ttl=60, grace=60)
    assert reply.json["messages"][0]["ttl"] == 600
    await api.patch(f"/v2/queues/q/claims/{claim_id}", json={"ttl": 1000, "grace": 100})
    assert (await api.get(f"/v2/queues/q/messages/{message_id}")).json["ttl"] == 1100
    api.advance(1099)
    assert (await api.get(f"/v2/queues/q/messages/{message_id}")).status == 200
    api.advance(1)
    assert (await api.get(f"/v2/queues/q/messages/{message_id}")).status == 404


@pytest_twisted.ensureDeferred
async def test_renew_needs_a_body(api):
    """PATCH needs a body: none is "can not be empty", a zero-length one "could not be parsed"."""
    await api.post_messages("q", {"body": 1})
    claim_id, _ = await api.claim("q")
    path = f"/v2/queues/q/claims/{claim_id}"
    reply = await api.patch(path)
    assert reply.status == 400
    assert reply.error == ("Invalid request body", "Request body can not be empty")
    reply = await api.patch(path, data=b"")
    assert reply.status == 400
    assert reply.error == ("Invalid request body", "Request body could not be parsed.")


@pytest.mark.parametrize("body, error", [({"ttl": 59}, TTL_ERROR), ({"ttl": 43201}, TTL_ERROR),
                                         ({"grace": 10}, GRACE_ERROR)])
@pytest_twisted.ensureDeferred
async def test_renew_out_of_range(api, body, error):
    """Renewal checks ttl and grace like creation."""
    await api.post_messages("q", {"body": 1})
    claim_id, _ = await api.claim("q")
    reply = await api.patch(f"/v2/queues/q/claims/{claim_id}", json=body)
    assert reply.status == 400
    assert reply.error == error


@pytest_twisted.ensureDeferred
async def test_renew_unknown_expired_or_deleted_queue(api):
    """Renewing an unknown or expired claim, or one of a deleted queue, is a 404."""
    await api.create_queue("q")
    unknown = str(uuid.uuid4())
    reply = await api.patch(f"/v2/queues/q/claims/{unknown}", json={})
    assert reply.status == 404
    assert reply.error == (
        "Not found", f"Claim {unknown} does not exist in queue q for project {api.project}"
    )
    await api.post_messages("q", {"body": 1})
    claim_id, _ = await api.claim("q", ttl=60)
    api.advance(60)
    assert (await api.patch(f"/v2/queues/q/claims/{claim_id}", json={})).status == 404
    api.advance(1)
    claim_id, _ = await api.claim("q")
    await api.delete("/v2/queues/q")
    assert (await api.patch(f"/v2/queues/q/claims/{claim_id}", json={})).status == 404


# Delete (release).


@pytest_twisted.ensureDeferred
async def test_release_claim(api):
    """DELETE releases the messages at once; the claim is gone."""
    [message_id] = await api.post_messages("q", {"body": 1})
    claim_id, _ = await api.claim("q")
    path = f"/v2/queues/q/claims/{claim_id}"
    reply = await api.delete(path)
    assert reply.status == 204
    assert reply.body == b""
    assert await visible(api, "q") == [message_id]
    assert (await api.get(path)).status == 404
    message = (await api.get(f"/v2/queues/q/messages/{message_id}")).json
    assert message["href"] == f"/v2/queues/q/messages/{message_id}"


@pytest_twisted.ensureDeferred
async def test_release_unknown_expired_or_missing(api):
    """Releasing an unknown or expired claim, or on a missing queue, is a 204."""
    assert (await api.delete(f"/v2/queues/none/claims/{uuid.uuid4()}")).status == 204
    await api.post_messages("q", {"body": 1})
    assert (await api.delete(f"/v2/queues/q/claims/{uuid.uuid4()}")).status == 204
    claim_id, _ = await api.claim("q", ttl=60)
    api.advance(61)
    assert (await api.delete(f"/v2/queues/q/claims/{claim_id}")).status == 204


@pytest_twisted.ensureDeferred
async def test_deleting_the_queue_deletes_its_claims(api):
    """A deleted queue's claims are gone with it."""
    await api.post_messages("q", {"body": 1})
    claim_id, _ = await api.claim("q")
    await api.delete("/v2/queues/q")
    assert (await api.get(f"/v2/queues/q/claims/{claim_id}")).status == 404
