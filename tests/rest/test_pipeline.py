"""Section 0 of the wire contract: the request pipeline, error and success formats, query
parsing."""

import re
import uuid

import pytest
import pytest_twisted

REQUEST_ID = re.compile(
    r"^req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
)
NOT_FOUND = {"title": "404 Not Found"}
MISSING_CLIENT_ID = ("Missing header value", 'The "Client-Id" header is required.')
WRONG_UUID = ("Wrong UUID value", "Malformed hexadecimal UUID.")
BAD_QUEUE = (
    "Invalid queue identification",
    "The format of the submitted queue name or project id is not valid.",
)


def assert_json_error(reply, status, title, description=None):
    assert reply.status == status, reply
    assert reply.headers["content-type"] == "application/json"
    assert reply.headers["vary"] == "Accept"
    expected = {"title": title}
    if description is not None:
        expected["description"] = description
    assert reply.json == expected


# Routing: 404 before any header check.


@pytest.mark.parametrize(
    "path", ["/nope", "/v2", "/v2/nope", "/v1/queues", "/v2/queues/q/nope", "/v2/queues/"]
)
@pytest_twisted.ensureDeferred
async def test_unknown_path_is_404_before_headers(api, path):
    """An unknown path answers 404 even without Client-ID, project or an acceptable Accept."""
    reply = await api.get(path, identify=False)
    assert_json_error(reply, 404, "404 Not Found")
    reply = await api.get(path, identify=False, headers={"Accept": "application/xml",
                                                         "Content-Type": "text/plain"})
    assert reply.status == 404


@pytest_twisted.ensureDeferred
async def test_v2_without_slash_is_404_but_home_needs_headers(api):
    """``/v2`` is no alias of ``/v2/``; the home document itself checks the headers."""
    assert (await api.get("/v2", identify=False)).json == NOT_FOUND
    reply = await api.get("/v2/", identify=False)
    assert_json_error(reply, 400, *MISSING_CLIENT_ID)


@pytest_twisted.ensureDeferred
async def test_health_route_is_404_without_admin_mode(api):
    """``/v2/health`` exists only in admin mode; elsewhere it is an unknown path."""
    reply = await api.get("/v2/health", identify=False)
    assert_json_error(reply, 404, "404 Not Found")


# Hook 2: form bodies.


@pytest_twisted.ensureDeferred
async def test_form_content_type_with_body_is_rejected_first(api):
    """A form-encoded body is a 400 that beats the Accept check and the missing Client-ID."""
    reply = await api.post(
        "/v2/queues/q/messages",
        data=b"a=1",
        identify=False,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/plain"},
    )
    assert reply.status == 400
    assert reply.body == b""
    reply = await api.post(
        "/v2/queues/q/messages",
        data=b"a=1",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    assert reply.status == 400
    assert reply.json["title"] == "Invalid Content-Type"


@pytest_twisted.ensureDeferred
async def test_form_content_type_without_body_passes(api):
    """The form check needs a Content-Length: a GET typed as a form is served."""
    reply = await api.get(
        "/v2/queues", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert reply.status == 200
    assert reply.json == {"queues": [], "links": []}


@pytest_twisted.ensureDeferred
async def test_json_body_is_read_whatever_its_content_type(api):
    """The body's Content-Type is not otherwise checked: JSON sent as text/plain is read."""
    reply = await api.post(
        "/v2/queues/q/messages",
        data=b'{"messages": [{"body": 1}]}',
        headers={"Content-Type": "text/plain"},
    )
    assert reply.status == 201


# Hook 3: Accept.


@pytest.mark.parametrize(
    "accept",
    ["application/json", "*/*", "application/*", "text/plain, application/json;q=0.1",
     "application/json; charset=utf-8"],
)
@pytest_twisted.ensureDeferred
async def test_accept_allowing_json_is_served(api, accept):
    """Any Accept header that gives application/json a non-zero quality is served."""
    reply = await api.get("/v2/queues", headers={"Accept": accept})
    assert reply.status == 200, reply


@pytest_twisted.ensureDeferred
async def test_missing_accept_is_served(api):
    """No Accept header at all means anything goes."""
    reply = await api.get("/v2/queues")
    assert reply.status == 200


@pytest_twisted.ensureDeferred
async def test_not_acceptable_beats_missing_client_id(api):
    """406 comes before the Client-ID check; a text/plain client gets an empty body."""
    reply = await api.get("/v2/queues", identify=False, headers={"Accept": "text/plain"})
    assert reply.status == 406
    assert reply.body == b""
    assert reply.headers["vary"] == "Accept"
    assert "content-type" not in reply.headers


@pytest_twisted.ensureDeferred
async def test_not_acceptable_with_zero_quality_json(api):
    """``application/json;q=0`` excludes JSON; a JSON-capable client gets a JSON error."""
    reply = await api.get(
        "/v2/queues", headers={"Accept": "application/json;q=0, application/vnd.x+json"}
    )
    assert reply.status == 406
    assert reply.headers["content-type"] == "application/json"
    assert reply.json["title"] == "406 Not Acceptable"
    assert reply.json["description"]


@pytest_twisted.ensureDeferred
async def test_not_acceptable_renders_xml_for_xml_clients(api):
    """A client preferring XML gets the error as an ``<error>`` document."""
    reply = await api.get("/v2/queues", identify=False, headers={"Accept": "application/xml"})
    assert reply.status == 406
    assert reply.headers["content-type"] == "application/xml"
    assert reply.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?><error>')
    assert b"<title>406 Not Acceptable</title>" in reply.body
    assert b"<description>" in reply.body


@pytest_twisted.ensureDeferred
async def test_xml_preferring_client_gets_every_error_as_xml(api):
    """Errors after the Accept check follow the client's preference too."""
    reply = await api.get(
        "/v2/queues/bad@name",
        headers={"Accept": "application/xml, application/json;q=0.5"},
    )
    assert reply.status == 400
    assert reply.headers["content-type"] == "application/xml"
    assert reply.body == (
        b'<?xml version="1.0" encoding="UTF-8"?><error>'
        b"<title>Invalid queue identification</title>"
        b"<description>The format of the submitted queue name or project id is not valid."
        b"</description></error>"
    )


# Hooks 5, 5b and 6: Client-ID and project.


@pytest_twisted.ensureDeferred
async def test_missing_client_id(api):
    """Every path but ``/`` needs a Client-ID."""
    reply = await api.get("/v2/queues", headers={"Client-ID": None})
    assert_json_error(reply, 400, *MISSING_CLIENT_ID)


@pytest.mark.parametrize("client_id", ["not-a-uuid", "1234567890", "", "g" * 32,
                                       "123e4567-e89b-12d3-a456-42661417400"])
@pytest_twisted.ensureDeferred
async def test_malformed_client_id_in_strict_mode(api, client_id):
    """In strict mode the Client-ID must parse as a UUID."""
    reply = await api.get("/v2/queues", headers={"Client-ID": client_id})
    assert_json_error(reply, 400, *WRONG_UUID)


@pytest.mark.parametrize("client_id", [str(uuid.uuid4()), uuid.uuid4().hex,
                                       str(uuid.uuid4()).upper()])
@pytest_twisted.ensureDeferred
async def test_uuid_client_ids_in_strict_mode(api, client_id):
    """Dashed and 32-hex UUIDs are both accepted."""
    reply = await api.get("/v2/queues", headers={"Client-ID": client_id})
    assert reply.status == 200, reply


@pytest.mark.zaqar_config(("transport", "client_id_uuid_safe", "off"))
@pytest.mark.parametrize("client_id", ["a" * 9, "a" * 37, ""])
@pytest_twisted.ensureDeferred
async def test_client_id_length_when_uuid_check_is_off(api, client_id):
    """With the UUID check off, the Client-ID must be 10 to 36 characters long."""
    reply = await api.get("/v2/queues", headers={"Client-ID": client_id})
    assert_json_error(
        reply, 400, "Length of client id must be at least 10 and no greater than 36."
    )


@pytest.mark.zaqar_config(("transport", "client_id_uuid_safe", "off"))
@pytest.mark.parametrize("client_id", ["a" * 10, "my client 36 characters long........"])
@pytest_twisted.ensureDeferred
async def test_any_client_id_of_good_length_when_uuid_check_is_off(api, client_id):
    """With the UUID check off, any Client-ID of 10 to 36 characters is accepted."""
    assert len(client_id) in (10, 36)
    reply = await api.get("/v2/queues", headers={"Client-ID": client_id})
    assert reply.status == 200, reply


@pytest_twisted.ensureDeferred
async def test_missing_project(api):
    """Without X-Project-ID (or X-Tenant-ID, X-Tenant) the request is refused."""
    reply = await api.get("/v2/queues", headers={"X-Project-ID": None})
    assert_json_error(reply, 400, "Project-Id Missing", "The header X-PROJECT-ID was missing")


@pytest.mark.parametrize("header", ["X-Project-ID", "X-Tenant-ID", "X-Tenant"])
@pytest_twisted.ensureDeferred
async def test_empty_project(api, header):
    """An empty project header is refused, whichever of the three names carries it."""
    reply = await api.get("/v2/queues", headers={"X-Project-ID": None, header: ""})
    assert_json_error(
        reply,
        400,
        "Empty project header not allowed",
        "X-PROJECT-ID cannot be an empty string. Specify the right header X-PROJECT-ID and "
        "retry.",
    )


@pytest.mark.parametrize("header", ["X-Tenant-ID", "X-Tenant"])
@pytest_twisted.ensureDeferred
async def test_tenant_headers_name_the_project(api, header):
    """X-Tenant-ID and X-Tenant name the same project as X-Project-ID."""
    await api.create_queue("tenanted")
    reply = await api.get("/v2/queues", headers={"X-Project-ID": None, header: api.project})
    assert [q["name"] for q in reply.json["queues"]] == ["tenanted"]


@pytest_twisted.ensureDeferred
async def test_client_id_check_beats_project_check(api):
    """Hook order: the Client-ID is checked before the project."""
    reply = await api.get("/v2/queues", identify=False)
    assert_json_error(reply, 400, *MISSING_CLIENT_ID)


# Hook 7 and the core's order: queue name, then parameters, then body.


@pytest_twisted.ensureDeferred
async def test_invalid_queue_name_beats_parameter_and_body_errors(api):
    """A bad queue name wins over a bad limit and an unparsable body."""
    reply = await api.post("/v2/queues/bad@name/claims?limit=x", data=b"{not json")
    assert_json_error(reply, 400, *BAD_QUEUE)
    reply = await api.put("/v2/queues/bad@name", data=b"[")
    assert_json_error(reply, 400, *BAD_QUEUE)


@pytest_twisted.ensureDeferred
async def test_parameter_errors_beat_body_errors(api):
    """A bad query parameter is reported before a bad body."""
    reply = await api.post("/v2/queues/q/claims?limit=x", data=b"{not json")
    assert_json_error(
        reply, 400, "Invalid parameter",
        'The "limit" parameter is invalid. The value must be an integer.',
    )


ADMIN_ONLY_CLAIMS = {"claims:create": "role:admin"}


@pytest.mark.parametrize("policy_rules", [ADMIN_ONLY_CLAIMS])
@pytest_twisted.ensureDeferred
async def test_invalid_queue_name_beats_policy(api, policy_rules):
    """The queue name is checked before the policy (hook 7 before hook 9)."""
    reply = await api.post("/v2/queues/bad@name/claims", json={})
    assert_json_error(reply, 400, *BAD_QUEUE)


@pytest.mark.parametrize("policy_rules", [ADMIN_ONLY_CLAIMS])
@pytest_twisted.ensureDeferred
async def test_policy_beats_parameter_and_body_errors(api, policy_rules):
    """A caller the policy refuses gets 403 before any parameter or body check."""
    reply = await api.post("/v2/queues/q/claims?limit=x", data=b"{not json")
    assert_json_error(
        reply, 403, "Not authorized", "You are not authorized to complete this action."
    )
    reply = await api.post("/v2/queues/q/claims", json={}, headers={"X-Roles": "admin"})
    assert reply.status == 204


@pytest_twisted.ensureDeferred
async def test_project_longer_than_256_is_an_invalid_queue_identification(api):
    """A project id over 256 characters is refused on queue routes."""
    reply = await api.get("/v2/queues/fine", headers={"X-Project-ID": "p" * 257})
    assert_json_error(reply, 400, *BAD_QUEUE)
    reply = await api.get("/v2/queues/fine", headers={"X-Project-ID": "p" * 256})
    assert reply.status == 200


# 405 after the hooks.


@pytest_twisted.ensureDeferred
async def test_wrong_method_runs_hooks_first(api):
    """An unsupported method on a known path checks headers, then answers 405 with Allow."""
    reply = await api.post("/v2/queues", identify=False)
    assert_json_error(reply, 400, *MISSING_CLIENT_ID)
    reply = await api.post("/v2/queues")
    assert_json_error(reply, 405, "405 Method Not Allowed")
    assert reply.headers["allow"] == "GET, OPTIONS"


@pytest.mark.parametrize(
    "method, path, allow",
    [
        ("HEAD", "/v2/queues/q", "DELETE, GET, PATCH, PUT, OPTIONS"),
        ("POST", "/v2/queues/q", "DELETE, GET, PATCH, PUT, OPTIONS"),
        ("PUT", "/v2/queues/q/messages", "DELETE, GET, POST, OPTIONS"),
        ("PATCH", "/v2/queues/q/messages/m", "DELETE, GET, OPTIONS"),
        ("GET", "/v2/queues/q/claims", "POST, OPTIONS"),
        ("PUT", "/v2/queues/q/claims/c", "DELETE, GET, PATCH, OPTIONS"),
        ("DELETE", "/v2/queues/q/stats", "GET, OPTIONS"),
        ("GET", "/v2/queues/q/purge", "POST, OPTIONS"),
        ("POST", "/v2/ping", "GET, HEAD, OPTIONS"),
        ("DELETE", "/v2/", "GET, OPTIONS"),
    ],
)
@pytest_twisted.ensureDeferred
async def test_method_not_allowed_lists_allowed_methods(api, method, path, allow):
    """Every known path answers 405 with its Allow list for other methods."""
    reply = await api.request(method, path)
    assert reply.status == 405
    assert reply.headers["allow"] == allow
    if method != "HEAD":
        assert reply.json == {"title": "405 Method Not Allowed"}


@pytest_twisted.ensureDeferred
async def test_wrong_method_on_root_needs_no_headers(api):
    """``/`` never checks identity, so a wrong method there is a plain 405."""
    reply = await api.post("/", identify=False)
    assert_json_error(reply, 405, "405 Method Not Allowed")
    assert reply.headers["allow"] == "GET, OPTIONS"


# OPTIONS.


@pytest.mark.parametrize("path", ["/", "/v2/queues", "/v2/queues/q/messages", "/nope", "/v2"])
@pytest_twisted.ensureDeferred
async def test_options_on_any_path(api, path):
    """OPTIONS answers 200 with an empty body anywhere, without headers."""
    reply = await api.raw("OPTIONS", path, identify=False)
    assert reply.status == 200
    assert reply.body == b""
    assert reply.headers["content-length"] == "0"
    assert REQUEST_ID.match(reply.headers["x-openstack-request-id"])


# Request ids.


@pytest.mark.parametrize(
    "method, path, identify",
    [
        ("GET", "/", False),
        ("GET", "/v2/queues", True),
        ("DELETE", "/v2/queues/q", True),
        ("GET", "/nope", False),
        ("POST", "/v2/queues", True),
        ("GET", "/v2/queues", False),
        ("GET", "/v2/queues/bad@name", True),
    ],
)
@pytest_twisted.ensureDeferred
async def test_every_response_has_a_request_id(api, method, path, identify):
    """Successes and errors alike carry ``x-openstack-request-id: req-<uuid4>``."""
    reply = await api.request(method, path, identify=identify)
    assert REQUEST_ID.match(reply.headers["x-openstack-request-id"]), reply.headers


@pytest_twisted.ensureDeferred
async def test_request_ids_are_unique(api):
    """Each request gets its own id."""
    ids = {(await api.get("/v2/queues")).headers["x-openstack-request-id"] for _ in range(5)}
    assert len(ids) == 5


@pytest_twisted.ensureDeferred
async def test_not_acceptable_has_a_request_id(api):
    """Even the empty-bodied 406 carries a request id."""
    reply = await api.get("/v2/queues", headers={"Accept": "text/plain"})
    assert REQUEST_ID.match(reply.headers["x-openstack-request-id"])


# Success formats (0.3).


@pytest_twisted.ensureDeferred
async def test_no_content_format(api):
    """204: no body, Content-Length 0, no Content-Type."""
    reply = await api.raw("DELETE", "/v2/queues/q")
    assert reply.status == 204
    assert reply.body == b""
    assert reply.headers["content-length"] == "0"
    assert "content-type" not in reply.headers


@pytest_twisted.ensureDeferred
async def test_created_by_put_format(api):
    """201 from PUT: empty body, typed application/json, Content-Length 0, Location."""
    reply = await api.raw("PUT", "/v2/queues/fresh")
    assert reply.status == 201
    assert reply.body == b""
    assert reply.headers["content-type"] == "application/json"
    assert reply.headers["content-length"] == "0"
    assert reply.headers["location"] == "/v2/queues/fresh"


@pytest_twisted.ensureDeferred
async def test_json_format_is_utf8_without_escapes(api):
    """JSON bodies are application/json (no charset), UTF-8, non-ASCII left unescaped."""
    await api.post_messages("q", {"body": {"word": "été ☃"}})
    reply = await api.raw("GET", "/v2/queues/q/messages?echo=true")
    assert reply.headers["content-type"] == "application/json"
    assert "été ☃".encode("utf-8") in reply.body
    assert int(reply.headers["content-length"]) == len(reply.body)
    assert reply.json["messages"][0]["body"] == {"word": "été ☃"}


# Error format (0.2).


@pytest_twisted.ensureDeferred
async def test_error_without_description_has_only_a_title(api):
    """The description is left out when the error has none."""
    reply = await api.raw("GET", "/nope")
    assert reply.json == {"title": "404 Not Found"}
    assert reply.headers["vary"] == "Accept"
    assert int(reply.headers["content-length"]) == len(reply.body)


class _BrokenAuthenticator:
    """An authenticator that fails unexpectedly (a provider with a bug)."""

    def authenticate(self, headers, method, path):
        raise RuntimeError("the identity provider broke")


@pytest.fixture
def authenticator(request, config):
    """The no-auth provider, or a broken one for tests that ask for it."""
    if request.node.get_closest_marker("broken_authenticator"):
        return _BrokenAuthenticator()
    from zaqar_tw.auth.noauth import NoAuth

    return NoAuth(None, config)


@pytest.mark.broken_authenticator
@pytest_twisted.ensureDeferred
async def test_unexpected_error_is_a_500_without_traceback(api):
    """An unexpected exception answers 500 with its message, and no traceback."""
    reply = await api.get("/v2/queues")
    assert_json_error(reply, 500, "Internal server error", "the identity provider broke")
    assert b"Traceback" not in reply.body
    assert REQUEST_ID.match(reply.headers["x-openstack-request-id"])
    assert (await api.get("/", identify=False)).status == 300


# Body errors (0.2).


@pytest_twisted.ensureDeferred
async def test_body_required_but_no_content_length(api):
    """A required body sent chunked (no Content-Length) is "can not be empty"."""
    reply = await api.post("/v2/queues/q/messages", chunked=b'{"messages": [{"body": 1}]}')
    assert_json_error(reply, 400, "Invalid request body", "Request body can not be empty")
    reply = await api.patch("/v2/queues/q/claims/" + str(uuid.uuid4()))
    assert_json_error(reply, 400, "Invalid request body", "Request body can not be empty")


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"not json", b'"str"', b"123", b"null", b"\xff\xfe", b"[1,]", b"NaN"],
)
@pytest_twisted.ensureDeferred
async def test_unparsable_bodies(api, body):
    """Empty, malformed and scalar bodies "could not be parsed"."""
    reply = await api.post("/v2/queues/q/messages", data=body)
    assert_json_error(reply, 400, "Invalid request body", "Request body could not be parsed.")


@pytest.mark.parametrize("number", [2**63, -(2**63) - 1, 10**30])
@pytest_twisted.ensureDeferred
async def test_integers_outside_64_bits(api, number):
    """Integers outside the signed 64-bit range are refused."""
    body = b'{"messages": [{"body": {"n": %d}}]}' % number
    reply = await api.post("/v2/queues/q/messages", data=body)
    assert_json_error(
        reply, 400, "Invalid request body", "JSON contains integer that is too large."
    )


@pytest.mark.parametrize("number", [2**63 - 1, -(2**63)])
@pytest_twisted.ensureDeferred
async def test_integers_at_the_64_bit_bounds(api, number):
    """The extreme signed 64-bit integers are accepted and returned intact."""
    body = b'{"messages": [{"body": {"n": %d}}]}' % number
    assert (await api.post("/v2/queues/q/messages", data=body)).status == 201
    reply = await api.get("/v2/queues/q/messages?echo=true")
    assert reply.json["messages"][0]["body"] == {"n": number}


@pytest_twisted.ensureDeferred
async def test_wrong_document_type(api):
    """A well-formed body of the wrong shape is "Document type not supported."."""
    reply = await api.post("/v2/queues/q/claims", json=[1, 2])
    assert_json_error(reply, 400, "Invalid request body", "Document type not supported.")


@pytest_twisted.ensureDeferred
async def test_missing_field(api):
    """A missing required field is named."""
    reply = await api.post("/v2/queues/q/messages", json={"messages": [{"ttl": 60}]})
    assert_json_error(reply, 400, "Invalid request body", 'Missing "body" field.')


@pytest.mark.parametrize("ttl", ["60", 60.5, [60], {"a": 1}])
@pytest_twisted.ensureDeferred
async def test_mistyped_field(api, ttl):
    """A field of the wrong type is named with its expected type."""
    reply = await api.post("/v2/queues/q/messages", json={"messages": [{"ttl": ttl,
                                                                       "body": 1}]})
    assert_json_error(
        reply, 400, "Invalid request body", 'The value of the "ttl" field must be a int.'
    )


# Query strings (0.4).


@pytest.mark.parametrize("value", ["true", "True", "t", "yes", "y", "1", "on"])
@pytest_twisted.ensureDeferred
async def test_true_spellings(api, value):
    """Every true spelling turns ``detailed`` on."""
    await api.create_queue("q")
    reply = await api.get(f"/v2/queues?detailed={value}")
    assert "metadata" in reply.json["queues"][0]


@pytest.mark.parametrize("value", ["false", "False", "f", "no", "n", "0", "off"])
@pytest_twisted.ensureDeferred
async def test_false_spellings(api, value):
    """Every false spelling leaves ``detailed`` off."""
    await api.create_queue("q")
    reply = await api.get(f"/v2/queues?detailed={value}")
    assert reply.status == 200
    assert "metadata" not in reply.json["queues"][0]


@pytest.mark.parametrize(
    "path, name",
    [
        ("/v2/queues?detailed=None", "detailed"),
        ("/v2/queues?with_count=TRUE", "with_count"),
        ("/v2/queues/q/messages?echo=None", "echo"),
        ("/v2/queues/q/messages?include_claimed=2", "include_claimed"),
        ("/v2/queues/q/messages?include_delayed=yes%20", "include_delayed"),
    ],
)
@pytest_twisted.ensureDeferred
async def test_bad_boolean(api, path, name):
    """Anything but an accepted spelling is an invalid boolean parameter."""
    reply = await api.get(path)
    assert_json_error(
        reply,
        400,
        "Invalid parameter",
        f'The "{name}" parameter is invalid. The value of the parameter must be "true" or '
        '"false".',
    )


@pytest.mark.parametrize(
    "method, path, name",
    [
        ("GET", "/v2/queues?limit=ten", "limit"),
        ("GET", "/v2/queues/q/messages?limit=1.5", "limit"),
        ("POST", "/v2/queues/q/claims?limit=abc", "limit"),
        ("DELETE", "/v2/queues/q/messages?pop=%20", "pop"),
        ("DELETE", "/v2/queues/q/messages?pop=x", "pop"),
    ],
)
@pytest_twisted.ensureDeferred
async def test_bad_integer(api, method, path, name):
    """A non-integer where an integer is expected is an invalid parameter."""
    reply = await api.request(method, path, json={})
    assert_json_error(
        reply, 400, "Invalid parameter",
        f'The "{name}" parameter is invalid. The value must be an integer.',
    )


@pytest_twisted.ensureDeferred
async def test_blank_parameter_is_absent(api):
    """``?limit=`` is the same as no limit (default 10)."""
    for index in range(11):
        await api.create_queue(f"q{index:02d}")
    reply = await api.get("/v2/queues?limit=&detailed=")
    assert reply.status == 200
    assert len(reply.json["queues"]) == 10


@pytest_twisted.ensureDeferred
async def test_unknown_parameters_are_ignored(api):
    """Unknown query parameters change nothing."""
    await api.post_messages("q", {"body": 1})
    reply = await api.get("/v2/queues/q/messages?echo=true&bogus=1")
    assert len(reply.json["messages"]) == 1
    claim_reply = await api.post("/v2/queues/q/claims?bogus=1", json={})
    assert claim_reply.status == 201


# Store failures (0.2: "Service temporarily unavailable").


@pytest.mark.parametrize(
    "method, path, body, what",
    [
        ("GET", "/v2/queues", None, "Queues could not be listed."),
        ("PUT", "/v2/queues/q", b"{}", "Queue could not be created."),
        ("GET", "/v2/queues/q", None, None),
        ("DELETE", "/v2/queues/q", None, None),
        ("GET", "/v2/queues/q/stats", None, None),
        ("POST", "/v2/queues/q/purge", b"", None),
        ("POST", "/v2/queues/q/messages", b'{"messages": [{"body": 1}]}',
         "Messages could not be enqueued."),
        ("GET", "/v2/queues/q/messages", None, None),
        ("DELETE", f"/v2/queues/q/messages?ids={uuid.uuid4()}", None,
         "Messages could not be deleted."),
        ("GET", f"/v2/queues/q/messages/{uuid.uuid4()}", None, None),
        ("DELETE", f"/v2/queues/q/messages/{uuid.uuid4()}", None, None),
        ("POST", "/v2/queues/q/claims", b"{}", None),
        ("GET", f"/v2/queues/q/claims/{uuid.uuid4()}", None, None),
        ("PATCH", f"/v2/queues/q/claims/{uuid.uuid4()}", b"{}", None),
        ("DELETE", f"/v2/queues/q/claims/{uuid.uuid4()}", None, None),
    ],
)
@pytest_twisted.ensureDeferred
async def test_store_failure_is_a_503(api, storage, method, path, body, what):
    """When the store is unreachable every operation answers 503 saying what failed."""
    await storage.close()
    reply = await api.request(method, path, data=body)
    assert reply.status == 503, reply
    title, description = reply.error
    assert title == "Service temporarily unavailable"
    assert re.fullmatch(
        r"[A-Z][a-z ]+ could not be [a-z]+\. Please try again in a few seconds\.", description
    ), description
    if what is not None:
        assert description == f"{what} Please try again in a few seconds."


@pytest_twisted.ensureDeferred
async def test_body_just_over_the_post_limit_gets_the_operation_error(api):
    """A body a little over the post limit is refused by the operation with its own text."""
    body = b'{"messages": [{"body": "' + b"x" * 262144 + b'"}]}'
    reply = await api.post("/v2/queues/q/messages", data=body)
    assert_json_error(reply, 400, "Invalid API request",
                      "Message collection size is too large. Max size 262144")


@pytest.mark.parametrize("chunked", [False, True])
@pytest_twisted.ensureDeferred
async def test_huge_body_is_refused_without_being_buffered(api, chunked):
    """A body past twice the largest limit gets a 413, and the connection stays usable."""
    body = b'{"messages": [{"body": "' + b"x" * (3 * 262144) + b'"}]}'
    kwargs = {"chunked": body} if chunked else {"data": body}
    reply = await api.post("/v2/queues/q/messages", **kwargs)
    assert_json_error(reply, 413, "Request body too large",
                      "The request body is larger than 524288 bytes.")
    assert reply.headers["x-openstack-request-id"].startswith("req-")
    listed = await api.get("/v2/queues/q/messages?echo=true")
    assert listed.status == 200 and listed.json["messages"] == []



async def _logged_request_lines(api):
    """Send one request and return the access-log lines it caused."""
    from twisted.logger import globalLogPublisher

    events = []
    globalLogPublisher.addObserver(events.append)
    try:
        reply = await api.get("/v2/queues/q/stats")
    finally:
        globalLogPublisher.removeObserver(events.append)
    assert reply.status == 200
    return [event for event in events if "/v2/queues/q/stats" in repr(event)]


@pytest_twisted.ensureDeferred
async def test_access_log_is_off_by_default(api):
    """Without [service] access_log no line is logged per request."""
    assert await _logged_request_lines(api) == []


@pytest.mark.zaqar_config(("service", "access_log", "true"))
@pytest_twisted.ensureDeferred
async def test_access_log_when_turned_on(api):
    """With [service] access_log = true each request is logged."""
    assert len(await _logged_request_lines(api)) == 1


async def _idle_connection(api):
    """A raw TCP connection to the service that sends nothing; its Deferred fires on close."""
    from twisted.internet import reactor
    from twisted.internet.defer import Deferred
    from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
    from twisted.internet.protocol import Protocol

    class Idle(Protocol):
        def __init__(self):
            self.closed = Deferred()

        def connectionLost(self, reason):
            self.closed.callback(None)

    host, port = api.url.rsplit("/", 1)[1].split(":")
    return await connectProtocol(TCP4ClientEndpoint(reactor, host, int(port)), Idle())


@pytest.mark.zaqar_config(("drivers:transport:wsgi", "idle_timeout", "30"),
                          ("drivers:transport:wsgi", "header_timeout", "0"))
@pytest_twisted.ensureDeferred
async def test_silent_connections_are_closed_after_the_idle_timeout(api):
    """A connection that sends nothing is closed once idle_timeout passes on the clock."""
    from tests.waiting import pause, wait_until

    idle = await _idle_connection(api)
    api.advance(29)
    await pause(0.1)
    assert not idle.closed.called
    api.advance(2)
    await wait_until(lambda: idle.closed.called, timeout=5, what="the server to close")
