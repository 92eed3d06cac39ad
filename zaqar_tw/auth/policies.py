"""The access rules in code: every rule of the API (spec section 8) with its default.

:func:`list_rules` is registered in the ``oslo.policy.policies`` entry-point group as
``zaqar_tw``, so ``oslopolicy-sample-generator --namespace zaqar_tw`` prints a sample policy
file with each rule's description and the operations it guards (``etc/policy.yaml``);
``python -m zaqar_tw.auth.policies`` prints the same rules as JSON (``etc/policy.json``).  A
rule's name is what a policy file overrides; ``""`` lets everyone through, ``"!"`` no one.
"""

import json
import sys

from oslo_policy import policy

ADMIN = "role:admin"
EVERYONE = ""
NOBODY = "!"
QUEUE = "/v2/queues/{queue_name}"
TOPIC = "/v2/topics/{topic_name}"


def _rule(name, default, description, *operations, websocket=()):
    """One documented rule.

    :param operations: ``"METHOD /path"`` strings.
    :param websocket: the WebSocket actions it also guards.
    """
    if websocket:
        description += f" WebSocket: {', '.join(websocket)}."
    return policy.DocumentedRuleDefault(
        name=name,
        check_str=default,
        description=description,
        operations=[
            {"method": method, "path": path}
            for method, path in (operation.split(" ", 1) for operation in operations)
        ],
    )


def _managed(family, noun, plural, collection, defaults):
    """The five rules of a resource listed at ``collection`` and managed at
    ``collection/{<noun>_name}`` (topics, pools, flavors).

    :param defaults: verb (``get_all``, ``create``, ``get``, ``delete``, ``update``) to its
        default when not ``""``.
    """
    item = f"{collection}/{{{noun}_name}}"
    verbs = (
        ("get_all", f"List {plural}.", f"GET {collection}"),
        ("create", f"Create a {noun}.", f"PUT {item}"),
        ("get", f"Read a {noun}.", f"GET {item}"),
        ("delete", f"Delete a {noun}.", f"DELETE {item}"),
        ("update", f"Change a {noun}.", f"PATCH {item}"),
    )
    return [
        _rule(f"{family}:{verb}", defaults.get(verb, EVERYONE), description, operation)
        for verb, description, operation in verbs
    ]


BASE = [
    policy.RuleDefault(
        "context_is_admin", ADMIN,
        description="Who is an administrator: the is_admin credential of every check, "
                    "which is_admin:True tests.",
    ),
    policy.RuleDefault(
        "admin_or_owner", "is_admin:True or project_id:%(project_id)s",
        description="An administrator, or a member of the project the request is for "
                    "(the target's project_id is always the caller's own project). "
                    "No rule uses it by default.",
    ),
]

QUEUES = [
    _rule("queues:get_all", EVERYONE, "List queues.", "GET /v2/queues",
          websocket=["queue_list"]),
    _rule("queues:create", EVERYONE, "Create a queue.", f"PUT {QUEUE}",
          websocket=["queue_create"]),
    _rule("queues:get", EVERYONE, "Read a queue's metadata.", f"GET {QUEUE}",
          websocket=["queue_get"]),
    _rule("queues:delete", EVERYONE, "Delete a queue.", f"DELETE {QUEUE}",
          websocket=["queue_delete"]),
    _rule("queues:update", EVERYONE, "Change a queue's metadata.", f"PATCH {QUEUE}",
          websocket=["queue_update"]),
    _rule("queues:stats", EVERYONE, "Read a queue's statistics.", f"GET {QUEUE}/stats",
          websocket=["queue_get_stats"]),
    _rule("queues:share", EVERYONE, "Create a pre-signed URL for a queue.",
          f"POST {QUEUE}/share"),
    _rule("queues:purge", EVERYONE, "Delete a queue's messages or subscriptions.",
          f"POST {QUEUE}/purge", websocket=["queue_purge"]),
]

MESSAGES = [
    _rule("messages:get_all", EVERYONE, "List messages, or get several by id.",
          f"GET {QUEUE}/messages", websocket=["message_list", "message_get_many"]),
    _rule("messages:create", EVERYONE, "Post messages.", f"POST {QUEUE}/messages",
          websocket=["message_post"]),
    _rule("messages:get", EVERYONE, "Read a message.", f"GET {QUEUE}/messages/{{message_id}}",
          websocket=["message_get"]),
    _rule("messages:delete", EVERYONE, "Delete a message.",
          f"DELETE {QUEUE}/messages/{{message_id}}", websocket=["message_delete"]),
    _rule("messages:delete_all", EVERYONE, "Delete several messages by id, or pop messages.",
          f"DELETE {QUEUE}/messages", websocket=["message_delete_many"]),
]

CLAIMS = [
    _rule("claims:create", EVERYONE, "Claim messages.", f"POST {QUEUE}/claims",
          websocket=["claim_create"]),
    _rule("claims:get", EVERYONE, "Read a claim.", f"GET {QUEUE}/claims/{{claim_id}}",
          websocket=["claim_get"]),
    _rule("claims:update", EVERYONE, "Renew a claim.", f"PATCH {QUEUE}/claims/{{claim_id}}",
          websocket=["claim_update"]),
    _rule("claims:delete", EVERYONE, "Release a claim.", f"DELETE {QUEUE}/claims/{{claim_id}}",
          websocket=["claim_delete"]),
]

SUBSCRIPTION = f"{QUEUE}/subscriptions/{{subscription_id}}"
SUBSCRIPTIONS = [
    _rule("subscription:get_all", EVERYONE, "List a queue's subscriptions.",
          f"GET {QUEUE}/subscriptions", websocket=["subscription_list"]),
    _rule("subscription:create", EVERYONE, "Subscribe to a queue.",
          f"POST {QUEUE}/subscriptions", websocket=["subscription_create"]),
    _rule("subscription:get", EVERYONE, "Read a subscription.", f"GET {SUBSCRIPTION}",
          websocket=["subscription_get"]),
    _rule("subscription:delete", EVERYONE, "Delete a subscription.",
          f"DELETE {SUBSCRIPTION}", websocket=["subscription_delete"]),
    _rule("subscription:update", EVERYONE, "Change a subscription.",
          f"PATCH {SUBSCRIPTION}"),
    _rule("subscription:confirm", EVERYONE, "Confirm or cancel a subscription.",
          f"PUT {SUBSCRIPTION}/confirm"),
]

TOPICS = [
    *_managed("topics", "topic", "topics", "/v2/topics", {}),
    _rule("topics:stats", EVERYONE, "Read a topic's statistics.", f"GET {TOPIC}/stats"),
    _rule("topics:purge", EVERYONE, "Delete a topic's messages or subscriptions.",
          f"POST {TOPIC}/purge"),
]

HEALTH = [
    _rule("ping:get", EVERYONE, "Check that the service answers.",
          "GET /v2/ping", "HEAD /v2/ping", websocket=["ping_node"]),
    _rule("health:get", ADMIN, "Run the detailed health check (admin mode).",
          "GET /v2/health", websocket=["check_node_health"]),
]

POOLS = _managed("pools", "pool", "pools", "/v2/pools", dict.fromkeys(
    ("get_all", "create", "get", "delete", "update"), ADMIN))
FLAVORS = _managed("flavors", "flavor", "flavors", "/v2/flavors", dict.fromkeys(
    ("create", "delete", "update"), ADMIN))


LIMITS = [
    policy.RuleDefault(
        name="limits:exempt",
        check_str=NOBODY,
        description=(
            "Callers held to no [limits] rate or quota. Nobody by default: without "
            "Keystone, roles are whatever the X-Roles header says, so role:admin would let "
            "any client lift every limit; behind Keystone, role:admin is a sensible choice."
        ),
    ),
]


def list_rules():
    """:returns: every rule in code, as oslo.policy ``RuleDefault`` objects (the entry point
    of the ``oslo.policy.policies`` group)."""
    return [*BASE, *QUEUES, *MESSAGES, *CLAIMS, *SUBSCRIPTIONS, *TOPICS, *HEALTH, *POOLS,
            *FLAVORS, *LIMITS]


def defaults_as_json():
    """:returns: every rule in code with its default, as the text of a JSON policy file
    (``etc/policy.json``; oslo.policy's own sample generator writes YAML only)."""
    return json.dumps({rule.name: rule.check_str for rule in list_rules()}, indent=4) + "\n"


if __name__ == "__main__":  # python -m zaqar_tw.auth.policies > etc/policy.json
    sys.stdout.write(defaults_as_json())
