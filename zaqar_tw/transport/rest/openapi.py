"""The OpenAPI 3.1 document of the REST API, served at ``GET /v2/openapi.json``.

Built from one table, :data:`OPERATIONS` (route name, path, method, what it takes and what it
answers), which a test checks against the routes the service serves: a route missing from
the table, or a method, fails it.  Every operation may answer an error in the error format
(``{"title", "description"}``; 401 in keystonemiddleware's shape), with the headers errors
carry (``Retry-After`` and the RateLimit headers on 429, ``Allow`` on 405).

The document is not listed in the JSON-home document of ``GET /v2/``: the rels there are
the API's own (spec 1.9), and clients compare them.
"""

import copy

from zaqar_tw.transport.rest.responses import dumps, raw_response

_Q = "/v2/queues/{queue_name}"
_JSON = "application/json"
_PATCH = "application/openstack-messaging-v2.0-json-patch"

_ERROR = {
    "oneOf": [
        {"type": "object", "required": ["title"],
         "properties": {"title": {"type": "string"}, "description": {"type": "string"}}},
        {"type": "object", "required": ["error"],
         "properties": {"error": {"type": "object", "required": ["code", "title", "message"],
                                  "properties": {"code": {"type": "integer"},
                                                 "title": {"type": "string"},
                                                 "message": {"type": "string"}}}}},
    ],
}
_ERROR_HEADERS = {
    "Retry-After": {"description": "Seconds before retrying (429 over a rate, 503 when a "
                                   "connection cap is reached).",
                    "schema": {"type": "string"}},
    "Allow": {"description": "The methods the path serves (405).", "schema": {"type": "string"}},
}
_MESSAGE = {
    "type": "object", "required": ["id", "href", "ttl", "age", "body"],
    "properties": {"id": {"type": "string"}, "href": {"type": "string"},
                   "ttl": {"type": "integer"}, "age": {"type": "integer"}, "body": {},
                   "checksum": {"type": "string"}},
}
_LINKS = {"type": "array", "items": {"type": "object", "required": ["rel", "href"],
                                     "properties": {"rel": {"type": "string"},
                                                    "href": {"type": "string"}}}}
_SUBSCRIPTION = {"type": "object", "required": ["id", "subscriber", "ttl", "options"],
                 "properties": {"id": {"type": "string"}, "subscriber": {"type": "string"},
                                "ttl": {"type": "integer"}, "age": {"type": "integer"},
                                "options": {"type": "object"}, "source": {"type": "string"},
                                "confirmed": {"type": "boolean"}}}
_OBJECT = {"type": "object"}


def _query(name, kind="string"):
    return {"name": name, "in": "query", "required": False, "schema": {"type": kind}}


def _path(name):
    return {"name": name, "in": "path", "required": True,
            "schema": {"type": "string", "pattern": "^[a-zA-Z0-9_.-]{1,64}$"}
            if name == "queue_name" else {"type": "string"}}


# (route name, path, method, summary, query parameters, request body media type and schema
#  or None, {status: response schema, or None for no body})
OPERATIONS = [
    ("versions", "/", "GET", "The API versions", [], None, {"300": _OBJECT}),
    ("home", "/v2/", "GET", "The JSON-home document", [], None, {"200": _OBJECT}),
    ("openapi", "/v2/openapi.json", "GET", "This document", [], None, {"200": _OBJECT}),
    ("ping", "/v2/ping", "GET", "Whether the store answers", [], None, {"204": None}),
    ("ping", "/v2/ping", "HEAD", "Liveness", [], None, {"204": None}),
    ("health", "/v2/health", "GET", "Detailed health (admin mode)", [], None,
     {"200": _OBJECT}),
    ("queues", "/v2/queues", "GET", "List queues",
     [_query("marker"), _query("limit", "integer"), _query("detailed", "boolean"),
      _query("with_count", "boolean")], None,
     {"200": {"type": "object", "required": ["queues", "links"],
              "properties": {"queues": {"type": "array"}, "links": _LINKS,
                             "count": {"type": "integer"}}}}),
    ("queue", _Q, "GET", "Queue metadata", [], None, {"200": _OBJECT}),
    ("queue", _Q, "PUT", "Create a queue", [], (_JSON, _OBJECT), {"201": None, "204": None}),
    ("queue", _Q, "PATCH", "Change queue metadata (JSON patch)", [],
     (_PATCH, {"type": "array", "items": _OBJECT}), {"200": _OBJECT}),
    ("queue", _Q, "DELETE", "Delete a queue", [], None, {"204": None}),
    ("queue_stats", _Q + "/stats", "GET", "Queue statistics", [], None,
     {"200": {"type": "object", "required": ["messages"],
              "properties": {"messages": _OBJECT}}}),
    ("queue_purge", _Q + "/purge", "POST", "Purge messages and/or subscriptions", [],
     (_JSON, _OBJECT), {"204": None}),
    ("queue_share", _Q + "/share", "POST", "Sign a pre-signed URL", [], (_JSON, _OBJECT),
     {"200": _OBJECT}),
    ("messages", _Q + "/messages", "GET", "List messages, or get some by id",
     [_query("marker"), _query("limit", "integer"), _query("echo", "boolean"),
      _query("include_claimed", "boolean"), _query("include_delayed", "boolean"),
      _query("ids")], None,
     {"200": {"type": "object", "required": ["messages"],
              "properties": {"messages": {"type": "array", "items": _MESSAGE},
                             "links": _LINKS}}}),
    ("messages", _Q + "/messages", "POST", "Post messages", [],
     (_JSON, {"type": "object", "required": ["messages"],
              "properties": {"messages": {"type": "array", "items": {
                  "type": "object", "required": ["body"],
                  "properties": {"body": {}, "ttl": {"type": "integer"},
                                 "delay": {"type": "integer"}}}}}}),
     {"201": {"type": "object", "required": ["resources"],
              "properties": {"resources": {"type": "array", "items": {"type": "string"}}}}}),
    ("messages", _Q + "/messages", "DELETE", "Delete messages by id, or pop some",
     [_query("ids"), _query("claim_ids"), _query("pop", "integer")], None,
     {"200": {"type": "object", "required": ["messages"],
              "properties": {"messages": {"type": "array"}}}, "204": None}),
    ("message", _Q + "/messages/{message_id}", "GET", "Get a message", [], None,
     {"200": _MESSAGE}),
    ("message", _Q + "/messages/{message_id}", "DELETE", "Delete a message",
     [_query("claim_id")], None, {"204": None}),
    ("claims", _Q + "/claims", "POST", "Claim messages", [_query("limit", "integer")],
     (_JSON, {"type": "object", "properties": {"ttl": {"type": "integer"},
                                               "grace": {"type": "integer"}}}),
     {"201": {"type": "object", "required": ["messages"],
              "properties": {"messages": {"type": "array", "items": _MESSAGE}}},
      "204": None}),
    ("claim", _Q + "/claims/{claim_id}", "GET", "Get a claim", [], None,
     {"200": {"type": "object", "required": ["age", "ttl", "messages", "href"],
              "properties": {"messages": {"type": "array", "items": _MESSAGE}}}}),
    ("claim", _Q + "/claims/{claim_id}", "PATCH", "Renew a claim", [],
     (_JSON, {"type": "object", "properties": {"ttl": {"type": "integer"},
                                               "grace": {"type": "integer"}}}),
     {"204": None}),
    ("claim", _Q + "/claims/{claim_id}", "DELETE", "Release a claim", [], None,
     {"204": None}),
    ("subscriptions", _Q + "/subscriptions", "GET", "List subscriptions",
     [_query("marker"), _query("limit", "integer")], None,
     {"200": {"type": "object", "required": ["subscriptions", "links"],
              "properties": {"subscriptions": {"type": "array", "items": _SUBSCRIPTION},
                             "links": _LINKS}}}),
    ("subscriptions", _Q + "/subscriptions", "POST", "Subscribe", [],
     (_JSON, {"type": "object", "required": ["subscriber"],
              "properties": {"subscriber": {"type": "string"}, "ttl": {"type": "integer"},
                             "options": _OBJECT}}),
     {"201": {"type": "object", "required": ["subscription_id"],
              "properties": {"subscription_id": {"type": "string"}}}}),
    ("subscription", _Q + "/subscriptions/{subscription_id}", "GET", "Get a subscription",
     [], None, {"200": _SUBSCRIPTION}),
    ("subscription", _Q + "/subscriptions/{subscription_id}", "PATCH",
     "Change a subscription", [], (_JSON, _OBJECT), {"204": None}),
    ("subscription", _Q + "/subscriptions/{subscription_id}", "DELETE", "Unsubscribe", [],
     None, {"204": None}),
    ("subscription_confirm", _Q + "/subscriptions/{subscription_id}/confirm", "PUT",
     "Confirm or unconfirm a subscription", [],
     (_JSON, {"type": "object", "required": ["confirmed"],
              "properties": {"confirmed": {"type": "boolean"}}}), {"204": None}),
]

_IDENTITY = [
    {"name": "Client-ID", "in": "header", "required": True,
     "schema": {"type": "string", "format": "uuid"}},
    {"name": "X-Project-ID", "in": "header", "required": True,
     "schema": {"type": "string", "minLength": 1, "maxLength": 256}},
]
_UNIDENTIFIED = ("versions", "openapi")
_OPTIONAL_BODY = (("queue", "PUT"), ("queue_purge", "POST"), ("claims", "POST"))


def _operation(name, path, method, summary, query, body, successes):
    parameters = [_path(part[1:-1]) for part in path.split("/") if part.startswith("{")]
    if name not in _UNIDENTIFIED:
        parameters += copy.deepcopy(_IDENTITY)
    parameters += query
    responses = {}
    for status, schema in successes.items():
        response = {"description": f"{summary}: {status}"}
        if schema is not None and method != "HEAD":
            media = "application/json-home" if name == "home" else _JSON
            response["content"] = {media: {"schema": schema}}
        responses[status] = response
    error = {"description": "An error, in the error format", "headers": _ERROR_HEADERS}
    if method != "HEAD":
        error["content"] = {_JSON: {"schema": _ERROR}}
    for status in ("4XX", "503"):
        responses[status] = error
    operation = {"operationId": f"{name}_{method.lower()}", "summary": summary,
                 "parameters": parameters, "responses": responses}
    if body is not None:
        media, schema = body
        operation["requestBody"] = {"required": (name, method) not in _OPTIONAL_BODY,
                                    "content": {media: {"schema": schema}}}
    return operation


def openapi_document(admin_mode):
    """The OpenAPI 3.1 document of the routes served.

    :param admin_mode: whether ``/v2/health`` is served.
    """
    paths = {}
    for name, path, method, summary, query, body, successes in OPERATIONS:
        if name == "health" and not admin_mode:
            continue
        paths.setdefault(path, {})[method.lower()] = _operation(
            name, path, method, summary, query, body, successes
        )
    return {
        "openapi": "3.1.0",
        "info": {"title": "zaqar-tw: the OpenStack Zaqar API v2", "version": "2"},
        "paths": paths,
    }


class OpenApiResource:
    """``GET /v2/openapi.json``."""

    def __init__(self, config):
        """:param config: the :class:`zaqar_tw.config.Config` (``admin_mode`` matters)."""
        self.body = dumps(openapi_document(config.default.admin_mode))

    async def get(self, request, ctx):
        """200 with the document."""
        return raw_response(request, self.body)
