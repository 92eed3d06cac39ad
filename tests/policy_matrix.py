"""What the policy matrices of REST (tests/rest/test_access_rules.py) and WebSocket
(tests/websocket/test_ws_policy.py) share: the state every operation needs, seeded through the
store so that any one rule can be closed without starving the others, and the rules that
guard no operation yet."""

from zaqar_tw.auth.policies import list_rules

NOT_AUTHORIZED = "You are not authorized to complete this action."
HOOK = "http://127.0.0.1:9/hook"
# Rules of spec section 8 whose operations are not built yet (topics, pools, flavors), the
# base rules other rules refer to, and limits:exempt (checked beside the operations).
WITHOUT_OPERATION = frozenset(
    ["context_is_admin", "admin_or_owner", "limits:exempt"]
    + [rule.name for rule in list_rules() if rule.name.split(":")[0] in
       ("topics", "pools", "flavors")]
)


async def seed(storage, project, client_id):
    """Queue ``q`` of ``project`` with four messages, a claim on the first and a
    subscription.

    :returns: the values operations name: ``m1``..``m4``, ``c`` (the claim), ``s`` (the
        subscription).
    """
    await storage.queues.create(project, "q", {})
    ids, _ = await storage.messages.post(
        project, "q", [{"ttl": 300, "delay": 0, "body": n} for n in range(4)], client_id
    )
    claim_id, _ = await storage.claims.create(project, "q", 300, 60, 1)
    subscription, _ = await storage.subscriptions.create(project, "q", HOOK, 3600, {})
    values = {f"m{n + 1}": message_id for n, message_id in enumerate(ids)}
    return {**values, "c": claim_id, "s": subscription["id"]}


def fill(value, values):
    """``value`` with each ``{name}`` in its strings replaced from ``values``."""
    if isinstance(value, str):
        return value.format_map(values)
    if isinstance(value, list):
        return [fill(item, values) for item in value]
    if isinstance(value, dict):
        return {key: fill(item, values) for key, item in value.items()}
    return value
