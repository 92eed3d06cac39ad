"""The webhook address guard ([notification] allow_private_subscribers): subscribers on the
operator's own network are refused when subscribed (REST and WebSocket, create and update)
and at delivery, after name resolution, against real receivers on 127.0.0.1."""

import pytest
import pytest_twisted
from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import IHostnameResolver
from zope.interface import implementer

from tests.websocket.conftest import client, codec, ws_server  # noqa: F401
from zaqar_tw.config import Config, ConfigError
from zaqar_tw.notify.addresses import AddressPolicy, AddressRefused
from zaqar_tw.notify.webhook import WebhookNotifier

# Dangerous hosts, each refused by default.
REFUSED = [
    "127.0.0.1", "127.1", "0x7f.1", "0177.0.0.1", "2130706433", "017700000001", "127.0.0.1.",
    "localhost", "LOCALHOST.", "api.localhost", "0.0.0.0", "0", "::", "::1",
    "169.254.169.254", "fe80::1", "10.0.0.1", "172.16.0.1", "172.31.255.255",
    "192.168.1.1", "100.64.0.1", "fc00::1", "fd12::1", "224.0.0.1", "239.255.255.250",
    "ff02::1", "255.255.255.255", "::ffff:127.0.0.1", "::ffff:169.254.169.254",
    "::127.0.0.1", "64:ff9b::a00:1", "2002:a00:1::", "192.0.2.1", "198.18.0.1",
]
PUBLIC = ["example.com", "hooks.example.org", "8.8.8.8", "2606:4700::1111", "172.32.0.1",
          "100.128.0.1"]
ALLOW_NONE = pytest.mark.zaqar_config(("notification", "allow_private_subscribers", ""))


@pytest.mark.parametrize("host", REFUSED)
def test_dangerous_hosts_are_refused(host):
    """Loopback, link-local, private, shared, multicast, unspecified and reserved addresses,
    in every spelling, and the localhost names, are refused by default."""
    assert AddressPolicy().check_host(host) is not None


@pytest.mark.parametrize("host", PUBLIC)
def test_public_hosts_pass(host):
    """Public addresses and names (not resolved when subscribing) pass."""
    assert AddressPolicy().check_host(host) is None


def test_the_allow_list_names_networks_addresses_and_hosts():
    """Networks, single addresses and host names of the list are allowed; nothing else."""
    policy = AddressPolicy(["10.1.0.0/16", "127.0.0.1", "Hooks.Internal."])
    assert policy.check_host("10.1.2.3") is None
    assert policy.check_host("::ffff:10.1.2.3") is None
    assert policy.check_host("127.0.0.1") is None
    assert policy.check_host("hooks.internal") is None
    assert policy.check_host("10.2.0.1") == "10.2.0.1 is a private address"
    assert policy.check_host("127.0.0.2") == "127.0.0.2 is a loopback address"


def test_a_bad_allow_list_entry_stops_start_up():
    """An entry that is neither a network, an address nor a name is a config error."""
    config = Config()
    config.set("notification", "allow_private_subscribers", "10.0.0.0/8, not a host!")
    with pytest.raises(ConfigError, match="'not a host!' is neither a network"):
        WebhookNotifier(None, config, {})


def refusal(url, host):
    return (f"The subscriber {url} is refused: {host} is a loopback address; webhooks may "
            "reach public addresses only, unless the operator allows others in "
            "[notification] allow_private_subscribers.")


@ALLOW_NONE
@pytest_twisted.ensureDeferred
async def test_rest_refuses_private_subscribers_on_create_and_update(api):
    """POST and PATCH of a subscription to a loopback URL answer 400 saying why."""
    url = "http://0x7f.1:8080/hook"
    reply = await api.post("/v2/queues/g/subscriptions", json={"subscriber": url})
    assert reply.status == 400
    assert reply.json["description"] == refusal(url, "127.0.0.1")
    reply = await api.post(
        "/v2/queues/g/subscriptions", json={"subscriber": "https://example.com/hook"}
    )
    assert reply.status == 201
    path = f"/v2/queues/g/subscriptions/{reply.json['subscription_id']}"
    reply = await api.patch(path, json={"subscriber": "http://[::1]/x"})
    assert (reply.status, reply.json["description"]) == (400, refusal("http://[::1]/x", "::1"))
    assert (await api.get(path)).json["subscriber"] == "https://example.com/hook"


@ALLOW_NONE
@pytest_twisted.ensureDeferred
async def test_websocket_refuses_private_subscribers(client):  # noqa: F811
    """subscription_create over WebSocket refuses a loopback URL with the same text."""
    url = "http://2130706433/hook"
    reply = await client.request(
        "subscription_create", {"queue_name": "g", "subscriber": url, "ttl": 60}
    )
    assert (reply.status, reply.body["exception"]) == (400, refusal(url, "127.0.0.1"))


@pytest_twisted.ensureDeferred
async def test_loopback_is_allowed_when_listed(api, receiver):
    """With 127.0.0.0/8 allowed (the test services' default), a loopback webhook is
    accepted and delivered to."""
    reply = await api.post("/v2/queues/g/subscriptions", json={"subscriber": receiver.url})
    assert reply.status == 201
    await api.post_messages("g", {"body": "hi"})
    (got,) = await receiver.wait_for(1)
    assert got.json["body"] == "hi"


@implementer(IHostnameResolver)
class FixedResolver:
    """A name server stand-in: every name resolves to 127.0.0.1 (as a name that rebinds to
    a private address would)."""

    def resolveHostName(self, receiver, hostName, portNumber=0, addressTypes=None,
                        transportSemantics="TCP"):
        receiver.resolutionBegan(None)
        receiver.addressResolved(IPv4Address("TCP", "127.0.0.1", portNumber))
        receiver.resolutionComplete()
        return receiver


class ResolvingReactor:
    """The real reactor, whose names resolve with :class:`FixedResolver`."""

    def __init__(self, reactor):
        self._reactor = reactor
        self.nameResolver = FixedResolver()

    def __getattr__(self, name):
        return getattr(self._reactor, name)


def deliver(notifier, url):
    subscription = {
        "id": "s", "subscriber": url, "options": {}, "project": "p",
        "delivery": {"id": "d", "message_id": "m", "attempt": 1, "traceparent": None},
    }
    return notifier.deliver(subscription, {"body": 1})


@pytest_twisted.ensureDeferred
async def test_a_name_resolving_to_a_private_address_is_refused_at_delivery(receiver):
    """A name that passes the subscription check but resolves to 127.0.0.1 when delivered
    to (DNS rebinding) is refused after resolution, permanently; the receiver gets
    nothing.  Listing the network, or the name, lets the same delivery through, to the
    address resolved."""
    from twisted.internet import reactor

    url = f"http://rebound.example:{receiver.port.getHost().port}/hook"
    refusing = WebhookNotifier(ResolvingReactor(reactor), Config(), {})
    refusing.check_subscriber(url)  # a name: not refused when subscribing
    with pytest.raises(AddressRefused) as refused:
        await deliver(refusing, url)
    assert refused.value.permanent
    assert refused.value.reason == (
        "refused to connect to rebound.example: 127.0.0.1 is a loopback address (not in "
        "[notification] allow_private_subscribers)"
    )
    assert receiver.requests == []
    for allowed in ("127.0.0.1/32", "rebound.example"):
        config = Config()
        config.set("notification", "allow_private_subscribers", allowed)
        await deliver(WebhookNotifier(ResolvingReactor(reactor), config, {}), url)
    first, second = await receiver.wait_for(2)
    assert first.headers["host"] == f"rebound.example:{receiver.port.getHost().port}"


@pytest_twisted.ensureDeferred
async def test_delivery_to_a_literal_private_address_is_refused(receiver):
    """A subscription stored while allowed is not delivered to once the address is no
    longer allowed: the check runs again at each delivery."""
    from twisted.internet import reactor

    with pytest.raises(AddressRefused):
        await deliver(WebhookNotifier(reactor, Config(), {}), receiver.url)
    assert receiver.requests == []
