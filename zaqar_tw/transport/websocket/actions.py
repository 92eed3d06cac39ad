"""The actions of spec section 2.2: each one's request schema and the core operation it calls.

Every action calls the same core operation as its REST twin, with the typed values of the
request body (the core accepts ints, bools, lists and decoded documents as well as the raw
strings REST hands it), and shows the result in the WebSocket shapes: messages are
``{"id", "claim_id", "ttl", "age", "body"}`` (no href), queue metadata is shown as stored.

Actions the spec names whose core operations do not exist yet (pools, flavors) are known
names that answer 404 "not available".  Adding one is a method on :class:`Actions` plus its
line in :data:`ACTIONS`.
"""

from dataclasses import dataclass, field

from zaqar_tw.core.validation import check_queue_name
from zaqar_tw.errors import (
    BadRequest,
    ClaimDoesNotExist,
    ClaimNotValid,
    MessageIsClaimed,
    MessageNotClaimed,
    NotFound,
    SubscriptionAlreadyExists,
    SubscriptionDoesNotExist,
    Unavailable,
)
from zaqar_tw.transport.rest.home import json_home
from zaqar_tw.transport.views import popped_view, stats_view

STRING, INTEGER, BOOLEAN, ARRAY, OBJECT = "string", "integer", "boolean", "array", "object"

_KINDS = {
    STRING: lambda value: isinstance(value, str),
    INTEGER: lambda value: isinstance(value, int) and not isinstance(value, bool),
    BOOLEAN: lambda value: isinstance(value, bool),
    ARRAY: lambda value: isinstance(value, list),
    OBJECT: lambda value: isinstance(value, dict),
}

IDENTITY = ("Client-ID", "X-Project-ID")
# Headers that may also be lists of strings: a pre-signed URL's (spec 2.4).
LIST_HEADERS = frozenset(("URL-Methods", "URL-Paths"))
_Q = "/v2/queues/{queue_name}"


class SchemaError(Exception):
    """The request does not match its action's schema (the reply says "Schema validation
    failed."); the message says what is wrong, for the log."""


@dataclass(frozen=True)
class Action:
    """What one action accepts and where its REST twin lives.

    :ivar name: the action name.
    :ivar fields: body field name to JSON type (``STRING``, ``INTEGER``, ...).
    :ivar required: body fields that must be present (a body is then required).
    :ivar headers: headers that must be present.
    :ivar path: the REST twin's path, formatted with the body (given to the authenticator).
    :ivar method: the REST twin's method (given to the authenticator), ``None`` for none.
    :ivar signable: whether a pre-signed URL may grant it (message actions only).
    :ivar available: whether the server implements it.
    """

    name: str
    fields: dict = field(default_factory=dict)
    required: tuple = ()
    headers: tuple = IDENTITY
    path: str = "/v2/"
    method: str | None = "GET"
    signable: bool = False
    available: bool = True

    def check(self, document):
        """Check a request against the schema.

        :param document: the decoded request (a dict).
        :returns: ``(headers, body)``: the headers, and the body with its ``null`` optional
            fields left out.
        :raises SchemaError: what does not match.
        """
        headers = document.get("headers")
        if not isinstance(headers, dict):
            raise SchemaError("headers must be an object")
        for name, value in headers.items():
            if isinstance(value, str):
                continue
            if not (
                name in LIST_HEADERS
                and isinstance(value, list)
                and all(isinstance(item, str) for item in value)
            ):
                raise SchemaError(f"header {name} must be a string")
        for name in self.headers:
            if name not in headers:
                raise SchemaError(f"header {name} is required")
        if "body" not in document:
            if self.required:
                raise SchemaError("body is required")
            return headers, {}
        body = document["body"]
        if not isinstance(body, dict):
            raise SchemaError("body must be an object")
        checked = {}
        for name, value in body.items():
            kind = self.fields.get(name)
            if kind is None:
                checked[name] = value
            elif value is None and name not in self.required:
                continue
            elif not _KINDS[kind](value):
                raise SchemaError(f"body field {name} must be of type {kind}")
            else:
                checked[name] = value
        for name in self.required:
            if name not in checked:
                raise SchemaError(f"body field {name} is required")
        return headers, checked

    def rest_path(self, body):
        """The REST twin's path for this request, e.g. ``/v2/queues/q/messages``."""
        return self.path.format_map(body)


def _action(name, method, path, required=("queue_name",), **fields):
    fields = {"queue_name": STRING, **fields} if "queue_name" in required else fields
    return Action(name, fields, tuple(required), path=path, method=method,
                  signable=name.startswith("message_"))


def _unavailable(name, path="/v2/"):
    return Action(name, path=path, available=False)


ACTIONS = {
    action.name: action
    for action in (
        Action("authenticate", headers=("X-Auth-Token", "X-Project-ID"), method=None),
        Action("get_home_doc", headers=()),
        Action("ping_node", headers=(), path="/v2/ping"),
        Action("check_node_health", headers=(), path="/v2/health"),
        _action("queue_list", "GET", "/v2/queues", required=(),
                marker=STRING, limit=INTEGER, detailed=BOOLEAN),
        _action("queue_create", "PUT", _Q, metadata=OBJECT),
        _action("queue_get", "GET", _Q),
        _action("queue_update", "PATCH", _Q, required=("queue_name", "changes"), changes=ARRAY),
        _action("queue_delete", "DELETE", _Q),
        _action("queue_get_stats", "GET", _Q + "/stats"),
        _action("queue_purge", "POST", _Q + "/purge", resource_types=ARRAY),
        _action("message_list", "GET", _Q + "/messages", marker=STRING, limit=INTEGER,
                echo=BOOLEAN, include_claimed=BOOLEAN, include_delayed=BOOLEAN),
        _action("message_get", "GET", _Q + "/messages/{message_id}",
                required=("queue_name", "message_id"), message_id=STRING),
        _action("message_get_many", "GET", _Q + "/messages",
                required=("queue_name", "message_ids"), message_ids=ARRAY),
        _action("message_post", "POST", _Q + "/messages",
                required=("queue_name", "messages"), messages=ARRAY),
        _action("message_delete", "DELETE", _Q + "/messages/{message_id}",
                required=("queue_name", "message_id"), message_id=STRING, claim_id=STRING),
        _action("message_delete_many", "DELETE", _Q + "/messages",
                message_ids=ARRAY, claim_ids=ARRAY, pop=INTEGER),
        _action("claim_create", "POST", _Q + "/claims",
                limit=INTEGER, ttl=INTEGER, grace=INTEGER),
        _action("claim_get", "GET", _Q + "/claims/{claim_id}",
                required=("queue_name", "claim_id"), claim_id=STRING),
        _action("claim_update", "PATCH", _Q + "/claims/{claim_id}",
                required=("queue_name", "claim_id"), claim_id=STRING, ttl=INTEGER,
                grace=INTEGER),
        _action("claim_delete", "DELETE", _Q + "/claims/{claim_id}",
                required=("queue_name", "claim_id"), claim_id=STRING),
        _action("subscription_create", "POST", _Q + "/subscriptions",
                subscriber=STRING, ttl=INTEGER, options=OBJECT),
        _action("subscription_list", "GET", _Q + "/subscriptions",
                marker=STRING, limit=INTEGER),
        _action("subscription_get", "GET", _Q + "/subscriptions/{subscription_id}",
                required=("queue_name", "subscription_id"), subscription_id=STRING),
        _action("subscription_delete", "DELETE", _Q + "/subscriptions/{subscription_id}",
                required=("queue_name", "subscription_id"), subscription_id=STRING),
        # With pools and flavors (admin mode):
        *(_unavailable(f"{kind}_{verb}")
          for kind in ("pool", "flavor")
          for verb in ("create", "list", "get", "update", "delete")),
    )
}


PUSH_UNAVAILABLE = (
    "Missing parameter subscriber in body. This server does not push notifications over "
    "WebSocket connections yet: give a subscriber URI (e.g. an http or https webhook)."
)


def not_available(name):
    """The error of a known action this server does not serve."""
    return NotFound(f"{name} is not available on this server.")


# How values are shown.


def message_view(message, claim_id=None):
    """A message as WebSocket shows it: ``{"id", "claim_id", "ttl", "age", "body"}``.

    :param claim_id: the claim that holds it, when known better than the message's own.
    """
    return {
        "id": message["id"],
        "claim_id": claim_id or message.get("claim_id"),
        "ttl": message["ttl"],
        "age": message["age"],
        "body": message["body"],
    }


def stats_message_view(message):
    """The ``oldest``/``newest`` message of queue stats: REST's fields, with ``id`` where
    REST has ``href``, and no checksum."""
    return dict(stats_view(message, checksum=False), id=message["id"])


def _missing_claim(missing, claim_id):
    """The reply to a claim action on a claim that does not exist (spec 2.2)."""
    return missing.status, {"exception": missing.description,
                            "error": f"Claim {claim_id} does not exist."}


def _only(body, *names):
    """The named fields present in the body, as a document for the core."""
    return {name: body[name] for name in names if name in body}


class Actions:
    """The available actions, bound to one core.

    Each method takes the RequestContext and the checked body, and returns
    ``(status, reply body)``; failures are domain errors, rendered by the caller.
    """

    def __init__(self, core, config):
        """:param core: the :class:`zaqar_tw.core.Core`.
        :param config: the :class:`zaqar_tw.config.Config`.
        """
        self._core = core
        self._admin_mode = config.default.admin_mode
        self._home = json_home(self._admin_mode)

    async def run(self, action, ctx, body):
        """Run an available action.

        :returns: ``(status, reply body)``.
        """
        return await getattr(self, action.name)(ctx, body)

    # Identity, home and health.

    async def authenticate(self, ctx, body):
        """The caller identified: the connection is bound to its project (done by the
        caller, which holds the connection's state)."""
        return 200, {"message": "Authentified."}

    async def get_home_doc(self, ctx, body):
        """The JSON-Home document, as ``GET /v2/`` gives it."""
        return 200, self._home

    async def ping_node(self, ctx, body):
        """204 when the store answers, else 503 (``GET /v2/ping``)."""
        if await self._core.health.ping(ctx):
            return 204, {}
        raise Unavailable("The store does not answer.")

    async def check_node_health(self, ctx, body):
        """The detailed health check, in admin mode only (``GET /v2/health``)."""
        if not self._admin_mode:
            raise not_available("check_node_health")
        return 200, await self._core.health.status(ctx)

    # Queues.

    async def queue_list(self, ctx, body):
        """A page of queues: ``{"queues": [{"name"[, "metadata"]}]}``, no links."""
        page = await self._core.queues.list(
            ctx,
            marker=body.get("marker"),
            limit=body.get("limit"),
            detailed=body.get("detailed"),
            raw=True,
        )
        return 200, {"queues": page["queues"]}

    async def queue_create(self, ctx, body):
        """201 when created, 204 when it existed."""
        name = body["queue_name"]
        created = await self._core.queues.create(ctx, name, body.get("metadata"))
        return (201 if created else 204), f"Queue {name} created."

    async def queue_get(self, ctx, body):
        """The metadata as stored (``{}`` for a queue that does not exist)."""
        return 200, await self._core.queues.get(ctx, body["queue_name"], raw=True)

    async def queue_update(self, ctx, body):
        """Apply the JSON-patch ``changes``; the resulting metadata, as PATCH gives it."""
        return 200, await self._core.queues.update(
            ctx, body["queue_name"], body["changes"], media_type=None
        )

    async def queue_delete(self, ctx, body):
        """204."""
        name = body["queue_name"]
        await self._core.queues.delete(ctx, name)
        return 204, f"Queue {name} removed."

    async def queue_get_stats(self, ctx, body):
        """The counters (zeros for a queue that does not exist), and oldest/newest."""
        stats = await self._core.queues.stats(ctx, body["queue_name"])
        counters = dict(stats["messages"])
        for end in ("oldest", "newest"):
            if counters.get(end) is not None:
                counters[end] = stats_message_view(counters[end])
            else:
                counters.pop(end, None)
        return 200, {"messages": counters}

    async def queue_purge(self, ctx, body):
        """204."""
        document = _only(body, "resource_types") or None
        await self._core.queues.purge(ctx, body["queue_name"], document)
        return 204, {}

    # Messages.

    async def message_list(self, ctx, body):
        """A page of messages (empty for a queue that does not exist), no links."""
        page = await self._core.messages.list(
            ctx,
            body["queue_name"],
            marker=body.get("marker"),
            limit=body.get("limit"),
            echo=body.get("echo"),
            include_claimed=body.get("include_claimed"),
            include_delayed=body.get("include_delayed"),
        )
        return 200, {"messages": [message_view(message) for message in page]}

    async def message_get(self, ctx, body):
        """One message, as an object under the plural key ``messages``."""
        message = await self._core.messages.get(ctx, body["queue_name"], body["message_id"])
        return 200, {"messages": message_view(message)}

    async def message_get_many(self, ctx, body):
        """The messages found (an empty list when none is)."""
        try:
            found = await self._core.messages.get_many(
                ctx, body["queue_name"], body["message_ids"]
            )
        except NotFound:
            found = []
        return 200, {"messages": [message_view(message) for message in found]}

    async def message_post(self, ctx, body):
        """201 with the new ids."""
        ids = await self._core.messages.post(ctx, body["queue_name"], _only(body, "messages"))
        return 201, {"message_ids": ids}

    async def message_delete(self, ctx, body):
        """204; a claim that does not allow the delete is told in ``error`` too, 400 or 403
        alike."""
        try:
            await self._core.messages.delete(
                ctx, body["queue_name"], body["message_id"], claim_id=body.get("claim_id")
            )
        except (ClaimNotValid, MessageNotClaimed, MessageIsClaimed) as refused:
            return refused.status, {"exception": refused.description,
                                    "error": refused.description}
        return 204, {}

    async def message_delete_many(self, ctx, body):
        """Delete by ``message_ids`` (204), or ``pop`` (200 with the popped messages); an
        empty list counts as absent, as an empty ``?ids=`` does on REST."""
        popped = await self._core.messages.delete_many(
            ctx,
            body["queue_name"],
            ids=body.get("message_ids") or None,
            claim_ids=body.get("claim_ids") or None,
            pop=body.get("pop"),
        )
        if popped is None:
            return 204, {}
        return 200, {"messages": [popped_view(message, checksum=False) for message in popped]}

    # Claims.

    async def claim_create(self, ctx, body):
        """201 with the claim id and its messages; 204 without a claim id when nothing was
        claimable."""
        claim_id, messages = await self._core.claims.create(
            ctx, body["queue_name"], body.get("limit"), _only(body, "ttl", "grace")
        )
        if claim_id is None:
            return 204, {"messages": []}
        return 201, {
            "claim_id": claim_id,
            "messages": [message_view(message, claim_id) for message in messages],
        }

    async def claim_get(self, ctx, body):
        """``{"age", "ttl", "messages"}``; 404 "Claim C does not exist." when it does not
        (or no longer) exist."""
        try:
            claim = await self._core.claims.get(ctx, body["queue_name"], body["claim_id"])
        except ClaimDoesNotExist as missing:
            return _missing_claim(missing, body["claim_id"])
        return 200, {
            "age": claim["age"],
            "ttl": claim["ttl"],
            "messages": [message_view(message, claim["id"]) for message in claim["messages"]],
        }

    async def claim_update(self, ctx, body):
        """Renew with ``ttl`` and ``grace``; 204."""
        claim_id = body["claim_id"]
        try:
            await self._core.claims.update(
                ctx, body["queue_name"], claim_id, _only(body, "ttl", "grace")
            )
        except ClaimDoesNotExist as missing:
            return _missing_claim(missing, claim_id)
        return 204, f"Claim {claim_id} updated."

    async def claim_delete(self, ctx, body):
        """Release; 204."""
        claim_id = body["claim_id"]
        await self._core.claims.delete(ctx, body["queue_name"], claim_id)
        return 204, f"Claim {claim_id} deleted."

    # Subscriptions.

    async def subscription_create(self, ctx, body):
        """201 with the id (the existing one's for a duplicate unconfirmed subscriber), 409
        for a confirmed duplicate.  A subscription without ``subscriber`` (notifications
        pushed to this connection, spec 2.3) is not served yet: 400."""
        queue = body["queue_name"]
        if "subscriber" not in body:
            check_queue_name(queue, ctx.project)
            raise BadRequest(PUSH_UNAVAILABLE)
        try:
            subscription_id = await self._core.subscriptions.create(
                ctx, queue, _only(body, "subscriber", "ttl", "options")
            )
        except SubscriptionAlreadyExists:
            return 409, f"Subscription {queue} not created."
        return 201, {"subscription_id": subscription_id,
                     "message": f"Subscription {queue} created."}

    async def subscription_list(self, ctx, body):
        """A page of subscriptions (empty for a queue that does not exist), no links."""
        page = await self._core.subscriptions.list(
            ctx, body["queue_name"], marker=body.get("marker"), limit=body.get("limit")
        )
        return 200, {"subscriptions": page}

    async def subscription_get(self, ctx, body):
        """The subscription; 404 naming the queue when it is not one of its live ones."""
        queue, subscription_id = body["queue_name"], body["subscription_id"]
        try:
            return 200, await self._core.subscriptions.get(ctx, queue, subscription_id)
        except SubscriptionDoesNotExist as missing:
            return 404, {
                "exception": missing.description,
                "error": f"Subscription {subscription_id} for queue {queue} does not exist.",
            }

    async def subscription_delete(self, ctx, body):
        """Unsubscribe; 204."""
        subscription_id = body["subscription_id"]
        await self._core.subscriptions.delete(ctx, body["queue_name"], subscription_id)
        return 204, f"Subscription {subscription_id} removed."
