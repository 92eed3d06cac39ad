"""Access rules over REST: every rule guards its operations, admin rules hold, owner rules
work, and a changed policy file takes effect without a restart."""

import json
import os

import pytest
import pytest_twisted
from twisted.logger import formatEvent

from tests.policy_matrix import NOT_AUTHORIZED, WITHOUT_OPERATION, fill, seed
from zaqar_tw.auth.policies import list_rules

JSON_PATCH = "application/openstack-messaging-v2.0-json-patch"
Q = "/v2/queues/q"
S = f"{Q}/subscriptions/{{s}}"
ADMIN = {"X-Roles": "admin"}

# (rule, method, path, request options): in an order where each operation finds what it
# needs (the claim is read before it is released, a claimed message is not deleted alone,
# the queue is deleted last).
OPERATIONS = [
    ("queues:get_all", "GET", "/v2/queues", {}),
    ("queues:create", "PUT", Q, {"json": {}}),
    ("queues:get", "GET", Q, {}),
    ("queues:update", "PATCH", Q, {
        "data": b'[{"op": "add", "path": "/metadata/a", "value": 1}]',
        "headers": {"Content-Type": JSON_PATCH}}),
    ("queues:stats", "GET", f"{Q}/stats", {}),
    ("queues:share", "POST", f"{Q}/share", {"json": {}}),
    ("messages:create", "POST", f"{Q}/messages", {"json": {"messages": [{"body": 1}]}}),
    ("messages:get_all", "GET", f"{Q}/messages?echo=true", {}),
    ("messages:get_all", "GET", f"{Q}/messages?ids={{m1}}", {}),
    ("messages:get", "GET", f"{Q}/messages/{{m1}}", {}),
    ("claims:get", "GET", f"{Q}/claims/{{c}}", {}),
    ("claims:update", "PATCH", f"{Q}/claims/{{c}}", {"json": {"ttl": 100}}),
    ("claims:create", "POST", f"{Q}/claims?limit=1", {"json": {}}),
    ("claims:delete", "DELETE", f"{Q}/claims/{{c}}", {}),
    ("messages:delete", "DELETE", f"{Q}/messages/{{m4}}", {}),
    ("messages:delete_all", "DELETE", f"{Q}/messages?ids={{m3}}", {}),
    ("messages:delete_all", "DELETE", f"{Q}/messages?pop=1", {}),
    ("subscription:get_all", "GET", f"{Q}/subscriptions", {}),
    ("subscription:get", "GET", S, {}),
    ("subscription:update", "PATCH", S, {"json": {"ttl": 600}}),
    ("subscription:confirm", "PUT", f"{S}/confirm", {"json": {"confirmed": True}}),
    ("subscription:create", "POST", f"{Q}/subscriptions",
     {"json": {"subscriber": "http://127.0.0.1:9/other"}}),
    ("subscription:delete", "DELETE", S, {}),
    ("queues:purge", "POST", f"{Q}/purge", {"json": {"resource_types": ["messages"]}}),
    ("queues:delete", "DELETE", Q, {}),
    ("ping:get", "GET", "/v2/ping", {}),
    ("ping:get", "HEAD", "/v2/ping", {}),
    ("health:get", "GET", "/v2/health", {"headers": ADMIN}),
]
GUARDED = sorted({rule for rule, *_ in OPERATIONS})


def assert_not_authorized(reply):
    assert (reply.status, reply.error) == (403, ("Not authorized", NOT_AUTHORIZED)), reply


def test_every_rule_is_in_the_matrix_or_has_no_operation_yet():
    """Each rule in code either guards a REST operation of the matrix or belongs to a
    resource not built yet."""
    assert set(GUARDED) | WITHOUT_OPERATION == {rule.name for rule in list_rules()}
    assert not set(GUARDED) & WITHOUT_OPERATION


@pytest.mark.zaqar_config(("DEFAULT", "admin_mode", "true"), ("signed_url", "secret_key", "k"))
@pytest.mark.parametrize("policy_rules", [{rule: "!"} for rule in GUARDED], ids=GUARDED)
@pytest_twisted.ensureDeferred
async def test_a_closed_rule_refuses_its_operations_only(api, storage, policy_rules):
    """With one rule set to "!" in the policy file, its operations answer 403 with the spec's
    body, and every other operation still succeeds."""
    [closed] = policy_rules
    values = await seed(storage, api.project, api.client_id)
    for rule, method, path, options in OPERATIONS:
        reply = await api.request(method, fill(path, values), **options)
        if rule == closed:
            if method == "HEAD":
                assert reply.status == 403, reply
            else:
                assert_not_authorized(reply)
        else:
            assert 200 <= reply.status < 300, (rule, method, path, reply)


@pytest.mark.zaqar_config(("DEFAULT", "admin_mode", "true"))
@pytest_twisted.ensureDeferred
async def test_health_is_for_admins(api):
    """By default health:get needs the admin role, which X-Roles carries without auth."""
    assert_not_authorized(await api.get("/v2/health"))
    assert_not_authorized(await api.get("/v2/health", headers={"X-Roles": "reader"}))
    assert (await api.get("/v2/health", headers={"X-Roles": "reader,admin"})).status == 200


@pytest.mark.zaqar_config(("DEFAULT", "admin_mode", "true"))
@pytest.mark.parametrize("policy_rules", [{"health:get": "", "queues:delete": "role:ops"}])
@pytest_twisted.ensureDeferred
async def test_a_policy_file_moves_what_needs_a_role(api, policy_rules):
    """A policy file can open an admin rule to everyone and put a role on an open one."""
    assert (await api.get("/v2/health")).status == 200
    assert_not_authorized(await api.delete(Q))
    assert_not_authorized(await api.delete(Q, headers={"X-Roles": "admin"}))
    assert (await api.delete(Q, headers={"X-Roles": "ops"})).status == 204


@pytest.mark.parametrize("policy_rules", [{
    "queues:create": "project_id:%(project_id)s",
    "queues:get": "project_id:tenant-b",
    "queues:stats": "rule:admin_or_owner",
}])
@pytest_twisted.ensureDeferred
async def test_owner_rules(api, policy_rules):
    """project_id checks see the caller's project as the target's: an owner rule lets the
    caller through; a rule naming another project refuses it and admits that project."""
    assert (await api.put(Q, json={})).status == 201
    assert (await api.get(f"{Q}/stats")).status == 200
    assert_not_authorized(await api.get(Q))
    assert (await api.get(Q, headers={"X-Project-ID": "tenant-b"})).status == 200


@pytest_twisted.ensureDeferred
async def test_a_changed_file_applies_without_restart(api, tmp_path, logged):
    """Writing the policy file while the service runs changes the answers once the check
    interval has passed; a broken file is logged and the last good rules stay."""
    path = tmp_path / "policy.json"
    assert (await api.put(Q, json={})).status == 201
    path.write_text(json.dumps({"queues:get": "!"}))
    api.advance(10)
    assert_not_authorized(await api.get(Q))
    stamp = os.stat(path).st_mtime_ns + 1_000_000_000
    path.write_text('{"queues:get": ""')
    os.utime(path, ns=(stamp, stamp))
    api.advance(10)
    api.advance(10)
    assert_not_authorized(await api.get(Q))
    errors = [formatEvent(event) for event in logged if event["log_level"].name == "error"]
    assert len(errors) == 1 and "not YAML or JSON" in errors[0], errors
    path.write_text(json.dumps({"queues:get": ""}))
    os.utime(path, ns=(stamp + 1, stamp + 1))
    api.advance(10)
    assert (await api.get(Q)).status == 200
