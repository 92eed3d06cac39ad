"""Access rules over WebSocket: every action is guarded by the rule of its REST twin, and a
refusal is a 403 in the WebSocket error envelope."""

import pytest
import pytest_twisted

from tests.policy_matrix import NOT_AUTHORIZED, WITHOUT_OPERATION, fill, seed
from zaqar_tw.auth.policies import list_rules

Q = {"queue_name": "q"}

# (rule, action, body, extra headers), in an order where each action finds what it needs.
ACTIONS = [
    ("queues:get_all", "queue_list", {}, {}),
    ("queues:create", "queue_create", Q, {}),
    ("queues:get", "queue_get", Q, {}),
    ("queues:update", "queue_update",
     {**Q, "changes": [{"op": "add", "path": "/metadata/a", "value": 1}]}, {}),
    ("queues:stats", "queue_get_stats", Q, {}),
    ("messages:create", "message_post", {**Q, "messages": [{"body": 1}]}, {}),
    ("messages:get_all", "message_list", {**Q, "echo": True}, {}),
    ("messages:get_all", "message_get_many", {**Q, "message_ids": ["{m1}"]}, {}),
    ("messages:get", "message_get", {**Q, "message_id": "{m1}"}, {}),
    ("claims:get", "claim_get", {**Q, "claim_id": "{c}"}, {}),
    ("claims:update", "claim_update", {**Q, "claim_id": "{c}", "ttl": 100}, {}),
    ("claims:create", "claim_create", {**Q, "limit": 1}, {}),
    ("claims:delete", "claim_delete", {**Q, "claim_id": "{c}"}, {}),
    ("messages:delete", "message_delete", {**Q, "message_id": "{m4}"}, {}),
    ("messages:delete_all", "message_delete_many", {**Q, "message_ids": ["{m3}"]}, {}),
    ("messages:delete_all", "message_delete_many", {**Q, "pop": 1}, {}),
    ("subscription:get_all", "subscription_list", Q, {}),
    ("subscription:get", "subscription_get", {**Q, "subscription_id": "{s}"}, {}),
    ("subscription:create", "subscription_create",
     {**Q, "subscriber": "http://127.0.0.1:9/other"}, {}),
    ("subscription:delete", "subscription_delete", {**Q, "subscription_id": "{s}"}, {}),
    ("queues:purge", "queue_purge", {**Q, "resource_types": ["messages"]}, {}),
    ("queues:delete", "queue_delete", Q, {}),
    ("ping:get", "ping_node", None, {}),
    ("health:get", "check_node_health", None, {"X-Roles": "admin"}),
]
GUARDED = sorted({rule for rule, *_ in ACTIONS})
# Operations with no WebSocket action (spec 2.2 has none for them).
REST_ONLY = {"subscription:update", "subscription:confirm", "queues:share"}


def test_every_rule_with_an_action_is_in_the_matrix():
    """Each rule in code guards an action of the matrix, has a REST operation only, or
    belongs to a resource not built yet."""
    assert set(GUARDED) | REST_ONLY | WITHOUT_OPERATION == {rule.name for rule in list_rules()}


@pytest.mark.zaqar_config(("DEFAULT", "admin_mode", "true"))
@pytest.mark.parametrize("policy_rules", [{rule: "!"} for rule in GUARDED], ids=GUARDED)
@pytest_twisted.ensureDeferred
async def test_a_closed_rule_refuses_its_actions_only(ws, storage, policy_rules):
    """With one rule set to "!" in the policy file, its actions answer 403 with the spec's
    text in the error envelope, and every other action still succeeds."""
    [closed] = policy_rules
    values = await seed(storage, ws.project, ws.client_id)
    for rule, action, body, headers in ACTIONS:
        reply = await ws.request(action, fill(body, values), headers=ws.headers(**headers))
        if rule == closed:
            assert (reply.status, reply.body) == (
                403, {"exception": NOT_AUTHORIZED, "error": NOT_AUTHORIZED}), (action, reply)
        else:
            assert 200 <= reply.status < 300, (rule, action, reply)


@pytest.mark.zaqar_config(("DEFAULT", "admin_mode", "true"))
@pytest.mark.parametrize("policy_rules", [
    {"context_is_admin": "role:operator", "health:get": "rule:context_is_admin"}
])
@pytest_twisted.ensureDeferred
async def test_admin_rules_follow_the_roles_of_each_frame(ws, policy_rules):
    """The roles a rule checks come from each frame's X-Roles (no auth): here health:get
    admits whoever context_is_admin admits, the operator role."""
    for roles, status in (("admin", 403), ("reader,operator", 200), ("", 403)):
        reply = await ws.request("check_node_health", headers=ws.headers(**{"X-Roles": roles}))
        assert reply.status == status, (roles, reply)
