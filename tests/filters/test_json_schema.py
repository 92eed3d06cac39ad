"""The json_schema filter: queues whose metadata holds ``_schema`` accept only matching
message bodies; a bad schema is refused when a queue PUT or PATCH stores it."""

import json

import pytest
import pytest_twisted

from zaqar_tw.config import Config
from zaqar_tw.errors import BadRequest
from zaqar_tw.filters.json_schema import JsonSchemaFilter

ON = pytest.mark.zaqar_config(("filters", "chain", "json_schema"))
PATCH_TYPE = {"Content-Type": "application/openstack-messaging-v2.0-json-patch"}
SCHEMA = {
    "type": "object",
    "required": ["count"],
    "properties": {
        "count": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
}


async def post(api, *bodies):
    """Post one message per body to queue ``q``."""
    return await api.post(
        "/v2/queues/q/messages", json={"messages": [{"body": body} for body in bodies]}
    )


@ON
@pytest_twisted.ensureDeferred
async def test_matching_messages_are_accepted(api):
    """Bodies that match the queue's schema are stored and read back unchanged."""
    await api.create_queue("q", {"_schema": SCHEMA})
    reply = await post(api, {"count": 1}, {"count": 2, "tags": ["x"]})
    assert reply.status == 201
    listed = await api.get("/v2/queues/q/messages?echo=true")
    assert [m["body"] for m in listed.json["messages"]] == [
        {"count": 1}, {"count": 2, "tags": ["x"]}
    ]


@ON
@pytest_twisted.ensureDeferred
async def test_mismatch_names_index_and_path(api):
    """The third message has a string count: 400 naming message 2 and /body/count; nothing
    is stored."""
    await api.create_queue("q", {"_schema": SCHEMA})
    reply = await post(api, {"count": 1}, {"count": 2}, {"count": "three"})
    assert reply.status == 400
    assert reply.error == (
        "Invalid API request",
        "Message 2 does not match the queue's schema at /body/count: "
        "'three' is not of type 'integer'",
    )
    assert (await api.get("/v2/queues/q/messages?echo=true")).json["messages"] == []


@ON
@pytest_twisted.ensureDeferred
async def test_nested_and_root_paths(api):
    """A bad array item is reported at its index in the body; a missing property at /body."""
    await api.create_queue("q", {"_schema": SCHEMA})
    nested = await post(api, {"count": 1, "tags": ["x", 7]})
    assert nested.error[1] == (
        "Message 0 does not match the queue's schema at /body/tags/1: 7 is not of type 'string'"
    )
    missing = await post(api, {"count": 1}, {"tags": []})
    assert missing.error[1] == (
        "Message 1 does not match the queue's schema at /body: 'count' is a required property"
    )


@ON
@pytest_twisted.ensureDeferred
async def test_queue_without_schema_is_not_affected(api):
    """A queue with no _schema takes any body."""
    assert (await post(api, "anything", [1, 2], {"count": "x"})).status == 201


@pytest_twisted.ensureDeferred
async def test_schema_is_plain_metadata_when_the_filter_is_off(api):
    """Without json_schema in the chain, _schema is ordinary metadata: nothing is checked."""
    await api.create_queue("q", {"_schema": {"type": 12}})
    assert (await post(api, {"count": "x"})).status == 201


@ON
@pytest_twisted.ensureDeferred
async def test_bad_schema_refused_at_put(api):
    """PUT with an invalid schema answers 400 naming the offending place; no queue is made."""
    reply = await api.put("/v2/queues/q", json={"_schema": {"type": "float"}})
    assert reply.status == 400
    assert reply.error[1].startswith("_schema is not a valid JSON Schema at /_schema/type: ")
    queues = await api.get("/v2/queues")
    assert [q["name"] for q in queues.json["queues"]] == []


@ON
@pytest_twisted.ensureDeferred
async def test_bad_schema_refused_at_patch(api):
    """PATCH setting an invalid schema answers 400 and leaves the metadata as it was."""
    await api.create_queue("q", {"_schema": SCHEMA})
    reply = await api.patch(
        "/v2/queues/q",
        json=[{"op": "replace", "path": "/metadata/_schema", "value": {"required": "count"}}],
        headers=PATCH_TYPE,
    )
    assert reply.status == 400
    assert reply.error[1].startswith("_schema is not a valid JSON Schema at /_schema/required: ")
    assert (await api.get("/v2/queues/q")).json["_schema"] == SCHEMA


@ON
@pytest_twisted.ensureDeferred
async def test_good_schema_set_by_patch_applies(api):
    """A schema added by PATCH is enforced on the next post."""
    await api.create_queue("q")
    reply = await api.patch(
        "/v2/queues/q",
        json=[{"op": "add", "path": "/metadata/_schema", "value": {"type": "string"}}],
        headers=PATCH_TYPE,
    )
    assert reply.status == 200
    assert (await post(api, "text")).status == 201
    refused = await post(api, 5)
    assert refused.error[1] == (
        "Message 0 does not match the queue's schema at /body: 5 is not of type 'string'"
    )


@ON
@pytest.mark.parametrize(
    "schema, text",
    [
        ([1], "_schema must be a JSON Schema: an object or a boolean."),
        ({"$ref": "http://example.com/s.json"},
         "_schema may only use local references (#...), not 'http://example.com/s.json'."),
        ({"$schema": "urn:nowhere"}, "_schema names an unknown $schema: 'urn:nowhere'."),
        ({"$ref": "#"}, "_schema refers to itself in an endless loop."),
    ],
)
@pytest_twisted.ensureDeferred
async def test_unusable_schemas_refused(api, schema, text):
    """Non-schemas, remote references, unknown dialects and endless loops are refused."""
    reply = await api.put("/v2/queues/q", json={"_schema": schema})
    assert reply.status == 400
    assert reply.error[1] == text


@ON
@pytest_twisted.ensureDeferred
async def test_dangling_local_reference_refused(api):
    """A local reference to nothing is refused at PUT."""
    reply = await api.put("/v2/queues/q", json={"_schema": {"$ref": "#/$defs/none"}})
    assert reply.status == 400
    assert reply.error[1].startswith("_schema has a reference that cannot be resolved: ")


@ON
@pytest_twisted.ensureDeferred
async def test_schema_stored_before_the_filter_was_on(api, storage):
    """A bad schema stored while the filter was off makes posts fail with a 400 saying so."""
    await storage.queues.create(api.project, "q", {"_schema": {"type": 12}})
    reply = await post(api, {"count": 1})
    assert reply.status == 400
    assert reply.error[1].startswith("The queue's schema cannot be used: _schema is not a valid")


@ON
@pytest_twisted.ensureDeferred
async def test_draft_7_and_local_references(api):
    """A draft-07 schema with a local $ref works."""
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "definitions": {"n": {"type": "integer", "minimum": 0}},
        "properties": {"n": {"$ref": "#/definitions/n"}},
    }
    await api.create_queue("q", {"_schema": schema})
    assert (await post(api, {"n": 3})).status == 201
    assert (await post(api, {"n": -1})).error[1] == (
        "Message 0 does not match the queue's schema at /body/n: -1 is less than the minimum of 0"
    )


def test_each_schema_compiled_once():
    """The same schema, whatever its key order, is compiled once and then reused."""
    schema_filter = JsonSchemaFilter(Config(), {})
    first = schema_filter.validator({"type": "object", "required": ["a"]})
    again = schema_filter.validator({"required": ["a"], "type": "object"})
    other = schema_filter.validator({"type": "object"})
    assert first is again
    assert other is not first


def test_long_reasons_are_cut():
    """An error quoting a huge value is cut to a readable length."""
    schema_filter = JsonSchemaFilter(Config(), {})
    with pytest.raises(BadRequest) as raised:
        schema_filter.on_post(
            [{"body": "x" * 5000}], {"_schema": {"type": "integer"}}, None
        )
    assert len(raised.value.description) < 300
    assert raised.value.description.endswith("...")


# Bounded cost (issue 13, finding 9).


@ON
@pytest_twisted.ensureDeferred
async def test_backtracking_pattern_runs_in_linear_time(api):
    """``^(a+)+$``, which Python's regex engine takes seconds to fail on 27 characters, is
    matched by RE2 at once; matching bodies pass, others get the schema's 400."""
    import time

    schema = {"type": "string", "pattern": "^(a+)+$"}
    await api.create_queue("q", {"_schema": schema})
    started = time.monotonic()
    refused = await post(api, "a" * 27 + "!", "a" * 5000 + "!")
    assert time.monotonic() - started < 1.0
    assert refused.status == 400
    assert "does not match '^(a+)+$'" in refused.error[1]
    assert (await post(api, "a" * 27)).status == 201


@ON
@pytest_twisted.ensureDeferred
async def test_pattern_properties_and_additional_properties_use_the_same_engine(api):
    """patternProperties checks the properties its patterns match, and additionalProperties
    leaves those alone: the same answers as the JSON Schema rules give."""
    schema = {"type": "object", "properties": {"id": {"type": "integer"}},
              "patternProperties": {"^x-(a+)+$": {"type": "string"}},
              "additionalProperties": False}
    await api.create_queue("q", {"_schema": schema})
    assert (await post(api, {"id": 1, "x-aaa": "v"})).status == 201
    assert (await post(api, {"id": 1, "x-aaa": 5})).status == 400
    refused = await post(api, {"id": 1, "x-" + "a" * 30 + "!": "v"})
    assert refused.status == 400 and "Additional properties" in refused.error[1]


@ON
@pytest.mark.parametrize("schema", [
    {"type": "string", "pattern": "(a)\\1"},
    {"type": "string", "pattern": "^(?=a)a$"},
    {"type": "object", "patternProperties": {"(?<=x)y": {}}},
    {"properties": {"k": {"allOf": [{"pattern": "(?!z)"}]}}},
])
@pytest_twisted.ensureDeferred
async def test_patterns_re2_cannot_run_are_refused_when_stored(api, schema):
    """A pattern with a back-reference or a look-around is refused with a 400 by queue PUT
    and by PATCH, saying so; nothing is stored."""
    put = await api.put("/v2/queues/q", json={"_schema": schema})
    assert put.status == 400
    assert "cannot run in linear time" in put.error[1]
    await api.create_queue("q")
    patch = await api.patch("/v2/queues/q", data=json.dumps(
        [{"op": "add", "path": "/metadata/_schema", "value": schema}]).encode(),
        headers=PATCH_TYPE)
    assert patch.status == 400
    assert "cannot run in linear time" in patch.error[1]
    assert "_schema" not in (await api.get("/v2/queues/q")).json


@ON
@pytest_twisted.ensureDeferred
async def test_one_validation_has_a_bounded_cost(api):
    """A schema whose anyOf branches nest through references (exponential work) is cut off
    after a fixed number of steps: a body it fails on gets a 400 saying it is too costly,
    quickly; a schema that is that costly even for ``null`` is refused when stored."""
    import time

    from zaqar_tw.filters.json_schema import MAX_STEPS

    levels = 30
    defs = {f"d{n}": {"anyOf": [{"$ref": f"#/$defs/d{n + 1}"},
                                {"$ref": f"#/$defs/d{n + 1}"}]} for n in range(levels)}
    defs[f"d{levels}"] = {"type": "integer"}
    costly = await api.put("/v2/queues/q", json={"_schema": {"$ref": "#/$defs/d0",
                                                              "$defs": defs}})
    assert costly.error == ("Invalid API request", "_schema is too costly to evaluate.")
    await api.create_queue("q", {"_schema": {"type": "array", "items": {"$ref": "#/$defs/d0"},
                                             "$defs": defs}})
    assert (await post(api, [1])).status == 201
    started = time.monotonic()
    refused = await post(api, ["not an integer"])
    assert time.monotonic() - started < 5.0
    assert refused.error == (
        "Invalid API request",
        f"Message 0 is too costly to check against the queue's schema (more than "
        f"{MAX_STEPS} steps).",
    )
