"""trust+http(s) subscribers without Keystone authentication: refused with a clear 400
(with Keystone: tests/keystone/test_keystone_trust.py)."""

import pytest
import pytest_twisted

from zaqar_tw.config import Config
from zaqar_tw.notify.outcome import DeliveryFailed
from zaqar_tw.notify.trust import TrustNotifier

NO_KEYSTONE = ("trust+http and trust+https subscribers need Keystone authentication, which "
               "this service does not use ([DEFAULT] auth_strategy = keystone).")


@pytest.mark.parametrize("scheme", ["trust+http", "trust+https"])
@pytest_twisted.ensureDeferred
async def test_trust_subscribers_need_keystone(api, scheme):
    """In no-auth mode, subscribing trust+http(s) answers 400 saying why."""
    reply = await api.post("/v2/queues/tq/subscriptions",
                           json={"subscriber": f"{scheme}://example.com/hook"})
    assert (reply.status, reply.json["description"]) == (400, NO_KEYSTONE)


@pytest_twisted.ensureDeferred
async def test_a_subscription_without_trust_is_not_delivered():
    """A stored subscription without a trust (Keystone turned off since) fails for good."""
    from twisted.internet import reactor

    with pytest.raises(DeliveryFailed) as failed:
        await TrustNotifier(reactor, Config(), {}).deliver({
            "id": "s", "subscriber": "trust+http://example.com/", "options": {},
            "project": "p", "delivery": {"id": "d"}}, {"body": 1})
    assert failed.value.permanent
