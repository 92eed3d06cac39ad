"""trust+http subscribers against a real Keystone: subscribing with a user's token creates
a Keystone trust to zaqar-tw's service user, and each delivery carries a token scoped to
that trust, acting for the user (impersonation), to a real receiver on 127.0.0.1."""

import pytest_twisted

from tests.keystone.conftest import Bearer
from tests.notify.conftest import receiver  # noqa: F401


@pytest_twisted.ensureDeferred
async def test_deliveries_carry_a_trust_scoped_token(api, tenants, keystone,
                                                     receiver):  # noqa: F811
    """The subscription stores the trust's id; each delivery POSTs to the URI without
    trust+, with a token Keystone says is alice's in her project through that trust; the
    token is reused."""
    project, token = await tenants.member("alice")
    alice = Bearer(api, token)
    reply = await alice.post("/v2/queues/tq/subscriptions", json={
        "subscriber": "trust+" + receiver.url + "/hook", "ttl": 3600})
    assert reply.status == 201, reply
    sid = reply.json["subscription_id"]
    shown = await alice.get(f"/v2/queues/tq/subscriptions/{sid}")
    trust = shown.json["options"]["trust_id"]
    for body in ("first", "second"):
        reply = await alice.post("/v2/queues/tq/messages", json={"messages": [{"body": body}]})
        assert reply.status == 201, reply
    first, second = await receiver.wait_for(2)
    assert (first.path, first.json["body"], second.json["body"]) == ("/hook", "first",
                                                                     "second")
    delegated = first.headers["x-auth-token"]
    assert second.headers["x-auth-token"] == delegated
    admin = await tenants.call(keystone.issue_token, "admin")
    said = (await tenants.call(keystone.call, "GET", "/v3/auth/tokens", admin, None,
                               {"X-Subject-Token": delegated}))["token"]
    assert said["OS-TRUST:trust"]["id"] == trust
    assert said["user"]["id"] == keystone.user_ids["alice"]
    assert said["project"]["id"] == project


@pytest_twisted.ensureDeferred
async def test_a_private_trust_subscriber_is_refused(api, tenants):
    """The webhook address guard applies to the URI behind trust+ (the keystone tests'
    services allow only 127.0.0.0/8)."""
    _, token = await tenants.member("alice")
    reply = await Bearer(api, token).post("/v2/queues/tq/subscriptions", json={
        "subscriber": "trust+http://169.254.169.254/latest"})
    assert reply.status == 400
    assert "169.254.169.254 is a link-local address" in reply.json["description"]
