"""Section 1.2 of the wire contract: queues over REST."""

import uuid

import pytest
import pytest_twisted

JSON_PATCH = "application/openstack-messaging-v2.0-json-patch"
DEFAULTS = {
    "_max_messages_post_size": 262144,
    "_default_message_ttl": 3600,
    "_default_message_delay": 0,
    "_dead_letter_queue": None,
    "_dead_letter_queue_messages_ttl": None,
    "_max_claim_count": None,
    "_enable_encrypt_messages": False,
}
BAD_QUEUE = (
    "Invalid queue identification",
    "The format of the submitted queue name or project id is not valid.",
)


def patch(api, queue, changes, **kwargs):
    headers = {"Content-Type": JSON_PATCH}
    headers.update(kwargs.pop("headers", {}))
    return api.patch(f"/v2/queues/{queue}", data=_encode(changes), headers=headers, **kwargs)


def _encode(document):
    import json

    return json.dumps(document).encode("utf-8")


# List.


@pytest_twisted.ensureDeferred
async def test_list_empty_project(api):
    """A project without queues lists none, with no links."""
    reply = await api.get("/v2/queues")
    assert reply.status == 200
    assert reply.json == {"queues": [], "links": []}


@pytest_twisted.ensureDeferred
async def test_list_is_sorted_with_hrefs_and_a_next_link(api):
    """Queues come sorted by name with their href; a non-empty page has a next link."""
    for name in ("b", "a", "c"):
        await api.create_queue(name)
    reply = await api.get("/v2/queues")
    assert reply.json == {
        "queues": [
            {"name": "a", "href": "/v2/queues/a"},
            {"name": "b", "href": "/v2/queues/b"},
            {"name": "c", "href": "/v2/queues/c"},
        ],
        "links": [{"rel": "next", "href": "/v2/queues?marker=c"}],
    }


@pytest_twisted.ensureDeferred
async def test_list_pagination_follows_next_links(api):
    """Following next links walks every queue once, ending on an empty page."""
    names = [f"q{index}" for index in range(5)]
    for name in names:
        await api.create_queue(name)
    reply = await api.get("/v2/queues?limit=2")
    assert reply.json["links"] == [{"rel": "next", "href": "/v2/queues?limit=2&marker=q1"}]
    seen, pages = [], 0
    while reply.json["queues"]:
        seen += [queue["name"] for queue in reply.json["queues"]]
        pages += 1
        reply = await api.get(reply.json["links"][0]["href"])
    assert seen == names
    assert pages == 3
    assert reply.json == {"queues": [], "links": []}


@pytest_twisted.ensureDeferred
async def test_list_next_link_keeps_arguments_in_order(api):
    """The next link keeps the arguments as sent, booleans as true/false, marker replaced."""
    for name in ("a", "b"):
        await api.create_queue(name)
    reply = await api.get("/v2/queues?detailed=yes&marker=0&limit=1&with_count=0")
    assert reply.json["links"] == [
        {"rel": "next", "href": "/v2/queues?detailed=true&marker=a&limit=1&with_count=false"}
    ]


@pytest_twisted.ensureDeferred
async def test_list_marker_is_exclusive(api):
    """The marker names the last queue already seen."""
    for name in ("a", "b", "c"):
        await api.create_queue(name)
    reply = await api.get("/v2/queues?marker=a")
    assert [queue["name"] for queue in reply.json["queues"]] == ["b", "c"]


@pytest_twisted.ensureDeferred
async def test_list_default_and_maximum_limit(api):
    """10 queues per page by default, at most 20."""
    for index in range(21):
        await api.create_queue(f"q{index:02d}")
    assert len((await api.get("/v2/queues")).json["queues"]) == 10
    assert len((await api.get("/v2/queues?limit=20")).json["queues"]) == 20


@pytest.mark.parametrize("limit", ["0", "21", "-1"])
@pytest_twisted.ensureDeferred
async def test_list_limit_out_of_range(api, limit):
    """A queue-list limit outside 1..20 is refused with its own wording."""
    reply = await api.get(f"/v2/queues?limit={limit}")
    assert reply.status == 400
    assert reply.error == (
        "Invalid API request", "Limit must be at least 1 and no greater than 20."
    )


@pytest_twisted.ensureDeferred
async def test_list_detailed_shows_metadata_with_defaults(api):
    """``detailed=true`` adds each queue's metadata with the reserved defaults."""
    await api.create_queue("a", {"color": "red", "_default_message_ttl": 120})
    reply = await api.get("/v2/queues?detailed=true")
    assert reply.json["queues"] == [
        {
            "name": "a",
            "href": "/v2/queues/a",
            "metadata": dict(DEFAULTS, color="red", _default_message_ttl=120),
        }
    ]


@pytest_twisted.ensureDeferred
async def test_list_with_count(api):
    """``with_count=true`` adds the project's queue count, only when non-zero."""
    reply = await api.get("/v2/queues?with_count=true")
    assert reply.json == {"queues": [], "links": []}
    for name in ("a", "b", "c"):
        await api.create_queue(name)
    reply = await api.get("/v2/queues?with_count=true&limit=1")
    assert reply.json["count"] == 3
    assert len(reply.json["queues"]) == 1
    assert "count" not in (await api.get("/v2/queues")).json


@pytest_twisted.ensureDeferred
async def test_list_names_with_dots(api):
    """Queue names with dots list as themselves."""
    await api.create_queue("a.b")
    await api.create_queue("a")
    reply = await api.get("/v2/queues")
    assert [queue["name"] for queue in reply.json["queues"]] == ["a", "a.b"]


@pytest_twisted.ensureDeferred
async def test_list_is_per_project(api):
    """Another project sees none of this project's queues."""
    await api.create_queue("mine")
    other = await api.get("/v2/queues", headers={"X-Project-ID": uuid.uuid4().hex})
    assert other.json == {"queues": [], "links": []}


# Create.


@pytest_twisted.ensureDeferred
async def test_create_then_create_again(api):
    """PUT answers 201 the first time, 204 after, both with Location."""
    first = await api.put("/v2/queues/fresh", json={"a": 1})
    assert first.status == 201
    assert first.body == b""
    assert first.headers["location"] == "/v2/queues/fresh"
    again = await api.put("/v2/queues/fresh", json={"a": 2})
    assert again.status == 204
    assert again.headers["location"] == "/v2/queues/fresh"
    assert "content-type" not in again.headers
    assert (await api.get("/v2/queues/fresh")).json == dict(DEFAULTS, a=1)


@pytest_twisted.ensureDeferred
async def test_create_without_body(api):
    """PUT without a body (Content-Length 0 or none) creates a queue without metadata."""
    assert (await api.put("/v2/queues/empty")).status == 201
    assert (await api.put("/v2/queues/chunked", chunked=b"")).status == 201
    assert (await api.get("/v2/queues/empty")).json == DEFAULTS


@pytest.mark.parametrize("name", ["1234", "a" * 64, "A-b_c.d", "-", "."])
@pytest_twisted.ensureDeferred
async def test_create_valid_names(api, name):
    """Names of letters, digits, ``_``, ``-`` and ``.``, up to 64, are accepted."""
    reply = await api.put(f"/v2/queues/{name}")
    assert reply.status == 201
    assert reply.headers["location"] == f"/v2/queues/{name}"


@pytest.mark.parametrize("name", ["a" * 65, "@$@^qw@", "caf%C3%A9", "a%20b", "a+b", "%2A",
                                  "oddq%0A", "oddq%0D%0A", "%0Aq"])
@pytest_twisted.ensureDeferred
async def test_create_invalid_names(api, name):
    """Long, non-ASCII or punctuated names are refused, and so is a good name followed by a
    newline."""
    reply = await api.put(f"/v2/queues/{name}")
    assert reply.status == 400
    assert reply.error == BAD_QUEUE


@pytest_twisted.ensureDeferred
async def test_create_metadata_too_large(api):
    """Metadata over 65536 bytes is refused."""
    reply = await api.put("/v2/queues/big", json={"x": "a" * 65536})
    assert reply.status == 400
    assert reply.error == ("Invalid API request", "Queue metadata is too large. Max size: 65536")


@pytest_twisted.ensureDeferred
async def test_create_metadata_at_the_size_limit(api):
    """Metadata of exactly 65536 bytes is accepted."""
    body = b'{"x": "' + b"a" * (65536 - 9) + b'"}'
    assert len(body) == 65536
    assert (await api.put("/v2/queues/big", data=body)).status == 201


@pytest.mark.parametrize(
    "metadata, description",
    [
        ({"_default_message_ttl": 59},
         "_default_message_ttl can not exceed 1209600 seconds, and must be at least 60 "
         "seconds long."),
        ({"_default_message_ttl": 1209601},
         "_default_message_ttl can not exceed 1209600 seconds, and must be at least 60 "
         "seconds long."),
        ({"_default_message_ttl": "x"}, "_default_message_ttl must be integer."),
        ({"_enable_encrypt_messages": "yes"}, "_enable_encrypt_messages must be boolean."),
        ({"_max_messages_post_size": 262145},
         "_max_messages_post_size can not exceed 262144,  and must be at least greater than 0."),
        ({"_max_messages_post_size": -1},
         "_max_messages_post_size can not exceed 262144,  and must be at least greater than 0."),
        ({"_default_message_delay": 901},
         "_default_message_delay can not exceed 900 seconds, and must be at least 0 seconds "
         "long."),
        ({"_max_claim_count": "2"}, "_max_claim_count must be integer."),
        ({"_dead_letter_queue_messages_ttl": 30},
         "_dead_letter_queue_messages_ttl can not exceed 1209600 seconds, and must be at "
         "least 60 seconds long."),
        # Zero is out of range too (Zaqar's test_validation.test_queue_metadata_putting).
        ({"_default_message_ttl": 0},
         "_default_message_ttl can not exceed 1209600 seconds, and must be at least 60 "
         "seconds long."),
        ({"_max_messages_post_size": 0},
         "_max_messages_post_size can not exceed 262144,  and must be at least greater than 0."),
        ({"_dead_letter_queue_messages_ttl": 0},
         "_dead_letter_queue_messages_ttl can not exceed 1209600 seconds, and must be at "
         "least 60 seconds long."),
    ],
)
@pytest_twisted.ensureDeferred
async def test_create_reserved_metadata_checks(api, metadata, description):
    """Reserved keys are type- and range-checked on PUT ("Invalid API request")."""
    reply = await api.put("/v2/queues/q", json=metadata)
    assert reply.status == 400
    assert reply.error == ("Invalid API request", description)
    assert (await api.get("/v2/queues")).json["queues"] == []


ENCRYPTION_REFUSED = (
    "_enable_encrypt_messages: message encryption is not supported by this server yet; "
    "leave it false or unset."
)


@pytest_twisted.ensureDeferred
async def test_encryption_is_refused_until_built(api):
    """A queue that asks for encryption is refused (400) on PUT and PATCH rather than given
    unencrypted storage it would believe encrypted; false is accepted."""
    reply = await api.put("/v2/queues/q", json={"_enable_encrypt_messages": True})
    assert reply.status == 400
    assert reply.error == ("Invalid API request", ENCRYPTION_REFUSED)
    assert (await api.put("/v2/queues/q", json={"_enable_encrypt_messages": False})).status == 201
    reply = await patch(api, "q", [
        {"op": "replace", "path": "/metadata/_enable_encrypt_messages", "value": True}])
    assert reply.status == 400
    assert reply.error == ("Invalid request body", ENCRYPTION_REFUSED)
    assert (await api.get("/v2/queues/q")).json["_enable_encrypt_messages"] is False


@pytest_twisted.ensureDeferred
async def test_dead_lettering_is_accepted_with_a_warning(api, logged):
    """A queue that sets dead-letter keys is created (201, as Zaqar clients and tempest
    expect) and keeps them, and the operator is warned that they do nothing yet, on PUT and
    on a PATCH that sets them."""
    from twisted.logger import LogLevel, formatEvent

    reply = await api.put("/v2/queues/q", json={"_max_claim_count": 2,
                                               "_dead_letter_queue": "dlq"})
    assert reply.status == 201
    shown = (await api.get("/v2/queues/q")).json
    assert (shown["_max_claim_count"], shown["_dead_letter_queue"]) == (2, "dlq")
    reply = await patch(api, "q", [
        {"op": "add", "path": "/metadata/_dead_letter_queue_messages_ttl", "value": 60},
        {"op": "add", "path": "/metadata/other", "value": 1}])
    assert reply.status == 200
    await patch(api, "q", [{"op": "add", "path": "/metadata/more", "value": 1}])
    warnings = [formatEvent(e) for e in logged if e.get("log_level") is LogLevel.warn]
    assert warnings == [
        f"queue {api.project}/q sets _max_claim_count, _dead_letter_queue, but dead-letter "
        "queues are not built yet: its messages stay in it however often they are claimed",
        f"queue {api.project}/q sets _dead_letter_queue_messages_ttl, but dead-letter queues "
        "are not built yet: its messages stay in it however often they are claimed",
    ]


@pytest_twisted.ensureDeferred
async def test_create_falsy_reserved_values_show_the_defaults(api):
    """Falsy reserved values that pass the checks are stored and show the defaults."""
    reply = await api.put("/v2/queues/q", json={"_max_claim_count": 0,
                                               "_default_message_delay": 0})
    assert reply.status == 201
    assert (await api.get("/v2/queues/q")).json == DEFAULTS


@pytest.mark.parametrize(
    "body, description",
    [
        (b"[1]", "Document type not supported."),
        (b"{", "Request body could not be parsed."),
        (b'"x"', "Request body could not be parsed."),
    ],
)
@pytest_twisted.ensureDeferred
async def test_create_bad_bodies(api, body, description):
    """A non-object or unparsable PUT body is refused."""
    reply = await api.put("/v2/queues/q", data=body)
    assert reply.status == 400
    assert reply.error == ("Invalid request body", description)


@pytest_twisted.ensureDeferred
async def test_create_existing_still_validates_metadata(api):
    """Metadata sent to an existing queue is validated though it is then ignored."""
    await api.create_queue("q")
    reply = await api.put("/v2/queues/q", json={"_default_message_ttl": 1})
    assert reply.status == 400


# Get.


@pytest_twisted.ensureDeferred
async def test_get_missing_queue_shows_defaults(api):
    """Queues are lazy: a missing queue answers 200 with the reserved defaults."""
    reply = await api.get("/v2/queues/missing")
    assert reply.status == 200
    assert reply.json == DEFAULTS


@pytest_twisted.ensureDeferred
async def test_get_metadata(api):
    """Stored metadata is returned with reserved defaults filling falsy gaps."""
    await api.create_queue("q", {"a": [1, {"b": None}], "_default_message_ttl": 600,
                                 "_enable_encrypt_messages": False})
    reply = await api.get("/v2/queues/q")
    assert reply.json == dict(DEFAULTS, a=[1, {"b": None}], _default_message_ttl=600)


@pytest_twisted.ensureDeferred
async def test_get_is_per_project(api):
    """Another project sees its own (missing) queue of the same name."""
    await api.create_queue("q", {"secret": 1})
    reply = await api.get("/v2/queues/q", headers={"X-Project-ID": uuid.uuid4().hex})
    assert reply.json == DEFAULTS


@pytest_twisted.ensureDeferred
async def test_get_invalid_name(api):
    """GET checks the name too."""
    reply = await api.get("/v2/queues/" + "a" * 65)
    assert reply.error == BAD_QUEUE


# Update (PATCH).


@pytest_twisted.ensureDeferred
async def test_patch_add_replace_remove(api):
    """add, replace and remove apply in order; the answer is the resulting metadata."""
    await api.create_queue("q", {"a": 1, "b": 2})
    reply = await patch(api, "q", [
        {"op": "add", "path": "/metadata/c", "value": {"x": 1}},
        {"op": "replace", "path": "/metadata/a", "value": 10},
        {"op": "remove", "path": "/metadata/b"},
        {"op": "replace", "path": "/metadata/_default_message_ttl", "value": 300},
    ])
    assert reply.status == 200
    expected = dict(DEFAULTS, a=10, c={"x": 1}, _default_message_ttl=300)
    assert reply.json == expected
    assert (await api.get("/v2/queues/q")).json == expected


@pytest_twisted.ensureDeferred
async def test_patch_removing_reserved_keys_never_stored_is_fine(api):
    """Removing an injected reserved default the queue never stored is accepted."""
    await api.create_queue("q", {"a": 1})
    changes = [{"op": "remove", "path": f"/metadata/{key}"} for key in DEFAULTS]
    reply = await patch(api, "q", changes)
    assert reply.status == 200
    assert reply.json == dict(DEFAULTS, a=1)


@pytest.mark.parametrize("content_type", [None, "application/json",
                                          "application/json-patch+json"])
@pytest_twisted.ensureDeferred
async def test_patch_wrong_content_type(api, content_type):
    """PATCH needs the exact JSON-patch media type."""
    await api.create_queue("q")
    reply = await patch(api, "q", [{"op": "add", "path": "/metadata/a", "value": 1}],
                        headers={"Content-Type": content_type})
    assert reply.status == 415
    assert reply.error == (
        "415 Unsupported Media Type",
        "Accepted media type for PATCH: "
        "{'Accept-Patch': 'application/openstack-messaging-v2.0-json-patch'}.",
    )


@pytest_twisted.ensureDeferred
async def test_patch_media_type_is_checked_before_the_body(api):
    """A wrong media type wins over an empty body, and parameters make it wrong."""
    await api.create_queue("q")
    for content_type in ("application/json", JSON_PATCH + "; charset=utf-8"):
        reply = await api.patch("/v2/queues/q", headers={"Content-Type": content_type},
                                data=b"")
        assert reply.status == 415


@pytest_twisted.ensureDeferred
async def test_patch_empty_body(api):
    """An empty PATCH body is refused."""
    await api.create_queue("q")
    for kwargs in ({"data": b""}, {"chunked": b""}):
        reply = await api.patch("/v2/queues/q", headers={"Content-Type": JSON_PATCH}, **kwargs)
        assert reply.status == 400
        assert reply.error == ("Invalid request body", "PATCH body could not be empty for update.")


@pytest_twisted.ensureDeferred
async def test_patch_non_array(api):
    """The PATCH body must be an array of changes."""
    await api.create_queue("q")
    reply = await patch(api, "q", {"op": "add", "path": "/metadata/a", "value": 1})
    assert reply.status == 400
    assert reply.error[0] == "Invalid request body"


@pytest_twisted.ensureDeferred
async def test_patch_too_large(api):
    """A PATCH whose resulting metadata exceeds 65536 bytes is refused."""
    await api.create_queue("q")
    reply = await patch(api, "q", [{"op": "add", "path": "/metadata/a", "value": "x" * 65536}])
    assert reply.status == 400
    assert reply.error == ("Invalid request body", "Queue metadata is too large. Max size: 65536")


@pytest.mark.parametrize(
    "change, description",
    [
        ({"path": "/metadata/a", "value": 1},
         "Unable to find `op` in JSON Schema change. It must be one of the following: add, "
         "remove, replace."),
        ({"op": "move", "path": "/metadata/a", "value": 1},
         "Invalid operation: `move`. It must be one of the following: add, remove, replace."),
        ({"op": "add", "value": 1}, "Unable to find 'path' in JSON Schema change"),
        ({"op": "add", "path": "/metadata/a"}, 'Operation "add" requires a member named "value".'),
        ({"op": "replace", "path": "/metadata/a"},
         'Operation "replace" requires a member named "value".'),
        ({"op": "add", "path": "/metadata", "value": 1},
         "Invalid JSON pointer for this resource: '/metadata, e.g /metadata/key'"),
        ({"op": "add", "path": "/metadata/a/b", "value": 1},
         "Invalid JSON pointer for this resource: '/metadata, e.g /metadata/key'"),
        ({"op": "add", "path": "/other/a", "value": 1},
         "The root of path must be metadata, e.g /metadata/key."),
    ],
)
@pytest_twisted.ensureDeferred
async def test_patch_bad_changes(api, change, description):
    """Malformed changes are refused with the contract's texts."""
    await api.create_queue("q")
    reply = await patch(api, "q", [change])
    assert reply.status == 400
    assert reply.error == ("Invalid request body", description)


@pytest.mark.parametrize("path", ["metadata/a", "/metadata/a/", "/metadata//a", "/metadata/~2"])
@pytest_twisted.ensureDeferred
async def test_patch_malformed_pointers(api, path):
    """Malformed JSON pointers are refused."""
    await api.create_queue("q")
    reply = await patch(api, "q", [{"op": "add", "path": path, "value": 1}])
    assert reply.status == 400
    assert reply.error[0] == "Invalid request body"


@pytest_twisted.ensureDeferred
async def test_patch_remove_ignores_the_root(api):
    """remove does not check that the root is ``metadata``."""
    await api.create_queue("q", {"a": 1})
    reply = await patch(api, "q", [{"op": "remove", "path": "/anything/a"}])
    assert reply.status == 200
    assert reply.json == DEFAULTS


@pytest_twisted.ensureDeferred
async def test_patch_missing_queue(api):
    """PATCH of a queue that does not exist is a 404."""
    reply = await patch(api, "nope", [{"op": "add", "path": "/metadata/a", "value": 1}])
    assert reply.status == 404
    assert reply.error == ("Not found", f"Queue nope does not exist for project {api.project}")


@pytest.mark.parametrize("op", ["replace", "remove"])
@pytest_twisted.ensureDeferred
async def test_patch_missing_key_conflicts(api, op):
    """replace or remove of a key that is neither present nor reserved is a 409."""
    await api.create_queue("q")
    change = {"op": op, "path": "/metadata/zz", "value": 1}
    reply = await patch(api, "q", [change])
    assert reply.status == 409
    assert reply.error == ("Resource conflict", f"Can't {op} non-existent object zz.")


@pytest_twisted.ensureDeferred
async def test_patch_reserved_checks(api):
    """The resulting metadata is re-validated, titled "Invalid request body"."""
    await api.create_queue("q")
    reply = await patch(api, "q", [
        {"op": "add", "path": "/metadata/_default_message_ttl", "value": 10}
    ])
    assert reply.status == 400
    assert reply.error == (
        "Invalid request body",
        "_default_message_ttl can not exceed 1209600 seconds, and must be at least 60 seconds "
        "long.",
    )


# Delete.


@pytest_twisted.ensureDeferred
async def test_delete_queue_and_its_messages(api):
    """DELETE answers 204 and removes the queue with its messages."""
    await api.create_queue("q", {"a": 1})
    await api.post_messages("q", {"body": 1})
    reply = await api.delete("/v2/queues/q")
    assert reply.status == 204
    assert reply.body == b""
    assert (await api.get("/v2/queues")).json["queues"] == []
    assert (await api.get("/v2/queues/q")).json == DEFAULTS
    assert (await api.get("/v2/queues/q/messages?echo=true")).json["messages"] == []


@pytest_twisted.ensureDeferred
async def test_delete_missing_queue(api):
    """Deleting a missing queue is a 204 too."""
    assert (await api.delete("/v2/queues/never")).status == 204


@pytest_twisted.ensureDeferred
async def test_delete_is_per_project(api):
    """Another project's DELETE of the same name leaves this project's queue alone."""
    await api.create_queue("q")
    await api.delete("/v2/queues/q", headers={"X-Project-ID": uuid.uuid4().hex})
    assert [q["name"] for q in (await api.get("/v2/queues")).json["queues"]] == ["q"]


# Stats.


@pytest_twisted.ensureDeferred
async def test_stats_of_missing_queue(api):
    """A missing queue has zero counters and no oldest/newest."""
    reply = await api.get("/v2/queues/missing/stats")
    assert reply.status == 200
    assert reply.json == {"messages": {"claimed": 0, "free": 0, "total": 0}}


@pytest_twisted.ensureDeferred
async def test_stats_counts_and_ends(api):
    """Stats count free and claimed messages; oldest (ttl raised by grace) and newest."""
    first, _, last = await api.post_messages(
        "q", {"body": {"n": 1}, "ttl": 120}, {"body": 2}, {"body": 3}
    )
    api.advance(5)
    await api.claim("q", limit=1)
    reply = await api.get("/v2/queues/q/stats")
    counters = reply.json["messages"]
    assert (counters["claimed"], counters["free"], counters["total"]) == (1, 2, 3)
    assert counters["oldest"] == {
        "age": 5,
        "ttl": 360,
        "body": {"n": 1},
        "claim_id": counters["oldest"]["claim_id"],
        "claim_count": counters["oldest"]["claim_count"],
        "created": "2023-11-14T22:13:20Z",
        "href": f"/v2/queues/q/messages/{first}",
    }
    assert counters["newest"]["href"] == f"/v2/queues/q/messages/{last}"
    assert counters["newest"]["body"] == 3
    assert set(counters["newest"]) == {"age", "ttl", "body", "claim_id", "claim_count",
                                       "created", "href"}


@pytest_twisted.ensureDeferred
async def test_stats_forget_expired_messages(api):
    """Messages past their ttl leave the counters."""
    await api.post_messages("q", {"body": 1, "ttl": 60})
    api.advance(60)
    reply = await api.get("/v2/queues/q/stats")
    assert reply.json == {"messages": {"claimed": 0, "free": 0, "total": 0}}


@pytest_twisted.ensureDeferred
async def test_stats_after_claim_expiry(api):
    """An expired claim no longer counts as claimed (and is no error)."""
    await api.post_messages("q", {"body": 1, "ttl": 600})
    await api.claim("q", ttl=60, grace=60)
    api.advance(61)
    reply = await api.get("/v2/queues/q/stats")
    assert reply.status == 200
    counters = reply.json["messages"]
    assert (counters["claimed"], counters["free"], counters["total"]) == (0, 1, 1)


# Purge.


@pytest.mark.parametrize("body", [None, {"resource_types": ["messages"]},
                                  {"resource_types": ["messages", "subscriptions"]}])
@pytest_twisted.ensureDeferred
async def test_purge_messages(api, body):
    """Purge removes every message, claimed ones too, and keeps the queue."""
    await api.create_queue("q", {"a": 1})
    await api.post_messages("q", {"body": 1}, {"body": 2})
    await api.claim("q", limit=1)
    kwargs = {} if body is None else {"json": body}
    reply = await api.post("/v2/queues/q/purge", **kwargs)
    assert reply.status == 204
    stats = (await api.get("/v2/queues/q/stats")).json
    assert stats == {"messages": {"claimed": 0, "free": 0, "total": 0}}
    assert (await api.get("/v2/queues/q")).json["a"] == 1


@pytest_twisted.ensureDeferred
async def test_purge_subscriptions_only_keeps_messages(api):
    """Purging only subscriptions leaves the messages."""
    await api.post_messages("q", {"body": 1})
    reply = await api.post("/v2/queues/q/purge", json={"resource_types": ["subscriptions"]})
    assert reply.status == 204
    assert (await api.get("/v2/queues/q/stats")).json["messages"]["total"] == 1


@pytest_twisted.ensureDeferred
async def test_purge_missing_queue(api):
    """Purging a missing queue is a 204."""
    assert (await api.post("/v2/queues/none/purge")).status == 204


@pytest_twisted.ensureDeferred
async def test_purge_requires_resource_types(api):
    """A purge body must name ``resource_types``."""
    reply = await api.post("/v2/queues/q/purge", json={"types": ["messages"]})
    assert reply.status == 400
    assert reply.error == ("Invalid API request", 'Post body must contain key "resource_types".')


@pytest.mark.parametrize("types", [["messages", "queues"], ["claims"], "messages"])
@pytest_twisted.ensureDeferred
async def test_purge_unknown_resource_types(api, types):
    """Resource types other than messages and subscriptions are refused."""
    reply = await api.post("/v2/queues/q/purge", json={"resource_types": types})
    assert reply.status == 400
    assert reply.error == (
        "Invalid API request",
        "Resource types must be a sub set of {'messages', 'subscriptions'}.",
    )


@pytest_twisted.ensureDeferred
async def test_concurrent_patches_lose_no_update(api):
    """Many PATCHes of one queue at once each land: none overwrites another."""
    from twisted.internet.defer import ensureDeferred, gatherResults

    await api.create_queue("q")
    replies = await gatherResults([
        ensureDeferred(patch(api, "q", [{"op": "add", "path": f"/metadata/k{i}", "value": i}]))
        for i in range(20)
    ])
    assert {reply.status for reply in replies} == {200}
    metadata = (await api.get("/v2/queues/q")).json
    assert {f"k{i}": i for i in range(20)}.items() <= metadata.items()
