"""``GET /`` (the version list) and ``GET /v2/`` (the JSON-Home document).

Both documents are fixed for the life of the process, so they are encoded once.  The
JSON-Home document lists what this server serves of API v2: the reference's rels (its pools
and flavors rels arrive with them: they are not built yet); like the reference's, it names
no confirm rel for subscriptions.
"""

import json

from zaqar_tw.transport.rest.responses import dumps, raw_response

VERSIONS = {
    "versions": [
        {
            "id": "2",
            "status": "CURRENT",
            "updated": "2014-9-24T04:06:47Z",
            "media-types": [
                {"base": "application/json", "type": "application/vnd.openstack.messaging-v2+json"}
            ],
            "links": [{"href": "/v2/", "rel": "self"}],
        }
    ]
}

_Q = "/v2/queues/{queue_name}"

# rel -> (href template, href variables, allowed methods)
_RELS = [
    ("queues", "/v2/queues{?marker,limit,detailed}", ("marker", "limit", "detailed"), ["GET"]),
    ("queue", _Q, ("queue_name",), ["GET", "PUT", "DELETE", "PATCH"]),
    ("queue_stats", _Q + "/stats", ("queue_name",), ["GET"]),
    ("queue_share", _Q + "/share", ("queue_name",), ["POST"]),
    ("queue_purge", _Q + "/purge", ("queue_name",), ["POST"]),
    (
        "messages",
        _Q + "/messages{?marker,limit,echo,include_claimed}",
        ("queue_name", "marker", "limit", "echo", "include_claimed"),
        ["GET"],
    ),
    ("post_messages", _Q + "/messages", ("queue_name",), ["POST"]),
    ("messages_delete", _Q + "/messages{?ids,pop}", ("queue_name", "ids", "pop"), ["DELETE"]),
    (
        "message_delete",
        _Q + "/messages/{message_id}{?claim}",
        ("queue_name", "message_id", "claim"),
        ["DELETE"],
    ),
    ("message_get", _Q + "/messages/{message_id}", ("queue_name", "message_id"), ["GET"]),
    ("claim", _Q + "/claims/{claim_id}", ("queue_name", "claim_id"), ["GET"]),
    ("post_claim", _Q + "/claims{?limit}", ("queue_name", "limit"), ["POST"]),
    ("patch_claim", _Q + "/claims/{claim_id}", ("queue_name", "claim_id"), ["PATCH"]),
    ("delete_claim", _Q + "/claims/{claim_id}", ("queue_name", "claim_id"), ["DELETE"]),
    (
        "subscriptions_get",
        _Q + "/subscriptions{?marker,limit}",
        ("queue_name", "marker", "limit"),
        ["GET"],
    ),
    ("subscriptions_post", _Q + "/subscriptions", ("queue_name",), ["POST"]),
    (
        "subscription",
        _Q + "/subscriptions/{subscriptions_id}",
        ("queue_name", "subscriptions_id"),
        ["GET", "DELETE"],
    ),
    (
        "subscription_patch",
        _Q + "/subscriptions/{subscriptions_id}",
        ("queue_name", "subscriptions_id"),
        ["PATCH"],
    ),
    ("ping", "/v2/ping", (), ["GET", "HEAD"]),
]

def _rel(template, variables, methods):
    hints = {"allow": methods, "formats": {"application/json": {}}}
    if methods in (["POST"], ["PATCH"]):
        hints["accept-post"] = ["application/json"]
    rel = {"href-template": template}
    if variables:
        rel["href-vars"] = {name: f"param/{name}" for name in variables}
    rel["hints"] = hints
    return rel


def json_home(admin_mode):
    """The JSON-Home document of API v2.

    :param admin_mode: whether the admin rel (health) is listed.
    """
    resources = {}
    for name, template, variables, methods in _RELS:
        resources[f"rel/{name}"] = _rel(template, variables, methods)
    if admin_mode:
        resources["rel/health"] = {
            "href": "/v2/health",
            "hints": {"allow": ["GET"], "formats": {"application/json": {}}},
        }
    return {"resources": resources}


class HomeResource:
    """The version list and the JSON-Home document."""

    def __init__(self, config):
        """:param config: the :class:`zaqar_tw.config.Config` (``admin_mode`` matters)."""
        self._versions = dumps(VERSIONS)
        self._home = json.dumps(
            json_home(config.default.admin_mode), indent=4, ensure_ascii=False
        ).encode("utf-8")

    async def versions(self, request, ctx):
        """``GET /``: 300 with the version list."""
        return raw_response(request, self._versions, status=300)

    async def home(self, request, ctx):
        """``GET /v2/``: 200 with the JSON-Home document."""
        return raw_response(
            request,
            self._home,
            headers={b"cache-control": b"max-age=86400"},
            content_type=b"application/json-home",
        )
