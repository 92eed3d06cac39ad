"""Which addresses a webhook may reach: the guard that keeps tenants' subscribers away from
the operator's own network.

A subscriber whose host is, or resolves to, a loopback, link-local, private, shared
(100.64.0.0/10), multicast, unspecified, reserved or documentation address is refused,
unless ``[notification] allow_private_subscribers`` names it (a network in CIDR form, an
address, or a host name).  An IPv6 address that carries an IPv4 address (IPv4-mapped,
IPv4-compatible, 6to4, NAT64) is judged by that IPv4 address too.

The guard acts twice:

* at subscription time, on the URI alone (:meth:`AddressPolicy.check_host`): an address
  written in any form the system resolver understands (``127.1``, ``0x7f.1``,
  ``2130706433``, ``[::ffff:127.0.0.1]``) and the ``localhost`` names are refused with a
  clear text.  Other names are not resolved there: what they resolve to may change;
* at delivery (:class:`VettedEndpointFactory`): the host name is resolved without blocking
  the reactor, each address is checked, and the connection goes to a vetted address, never
  to the name again, so a name that resolves to a public address when subscribed and to a
  private one later (DNS rebinding) is refused.
"""

import ipaddress
import socket

from twisted.internet import defer
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint, wrapClientTLS
from twisted.internet.error import DNSLookupError
from twisted.internet.interfaces import IResolutionReceiver, IStreamClientEndpoint
from twisted.web.client import BrowserLikePolicyForHTTPS
from twisted.web.iweb import IAgentEndpointFactory
from zope.interface import implementer

from zaqar_tw.config import ConfigError
from zaqar_tw.notify.outcome import DeliveryFailed

OPTION = "[notification] allow_private_subscribers"
# Names that always mean this machine (RFC 6761).
LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class AddressRefused(DeliveryFailed):
    """A webhook's host is, or resolves only to, addresses the guard refuses; permanent."""

    def __init__(self, reason):
        super().__init__(reason, permanent=True)


def embedded_ipv4(address):
    """The IPv4 address an IPv6 address carries (IPv4-mapped, 6to4, NAT64,
    IPv4-compatible), or ``None``."""
    if address.version != 6:
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64 or (address in IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _kind(address):
    """Why ``address`` is no public unicast address (a few words), or ``None``."""
    for flag, words in (
        ("is_unspecified", "an unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_private", "a private address"),
    ):
        if getattr(address, flag):
            return words
    if not address.is_global:
        return "a non-public address"
    return None


def literal_address(host):
    """The IP address ``host`` (a URI's host, without brackets) spells, in any form the
    system resolver reads as an address (``127.1``, ``0x7f.0.0.1``, ``2130706433``), or
    ``None`` when it is a name."""
    host = host[:-1] if host.endswith(".") else host
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if host and all(part for part in host.split(".")):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except (OSError, ValueError):
            return None
    return None


class AddressPolicy:
    """The addresses webhooks may reach.

    :param allowed: the entries of :data:`OPTION`: networks (``10.1.0.0/16``), addresses
        and host names that are allowed although not public.
    :raises ConfigError: an entry is neither a network, an address nor a host name.
    """

    def __init__(self, allowed=()):
        self.networks = []
        self.names = set()
        for entry in allowed:
            text = entry.strip()
            try:
                self.networks.append(ipaddress.ip_network(text, strict=False))
                continue
            except ValueError:
                pass
            name = text.lower().rstrip(".")
            if not name or not all(
                part and part.replace("-", "").replace("_", "").isalnum()
                for part in name.split(".")
            ):
                raise ConfigError(
                    f"{OPTION}: {entry!r} is neither a network (10.0.0.0/8), an address "
                    "nor a host name"
                )
            self.names.add(name)

    @classmethod
    def from_config(cls, config):
        """The policy of a :class:`~zaqar_tw.config.Config`."""
        return cls(config.notification.allow_private_subscribers)

    def refusal(self, address):
        """Why a webhook may not reach ``address`` (an ``ipaddress`` address), or ``None``
        when it may."""
        candidates = [address]
        inner = embedded_ipv4(address)
        if inner is not None:
            candidates.append(inner)
        if any(one in network for one in candidates for network in self.networks
               if one.version == network.version):
            return None
        for one in candidates:
            kind = _kind(one)
            if kind is not None:
                return f"{one} is {kind}"
        return None

    def host_allowed(self, host):
        """Whether the host name ``host`` is allowed whatever it resolves to."""
        return host.lower().rstrip(".") in self.names

    def check_host(self, host):
        """The subscription-time check of a URI's host (without brackets).

        :returns: why the host is refused (text ending without a period), or ``None``.
        """
        if not host:
            return "it names no host"
        if self.host_allowed(host):
            return None
        name = host.lower().rstrip(".")
        if name in LOCAL_NAMES or name.endswith(".localhost"):
            return f"{host} names this machine"
        address = literal_address(host)
        return None if address is None else self.refusal(address)


@implementer(IResolutionReceiver)
class _Addresses:
    """Collects the addresses of one name resolution into a Deferred."""

    def __init__(self):
        self.found = []
        self.done = defer.Deferred()

    def resolutionBegan(self, resolution):
        pass

    def addressResolved(self, address):
        self.found.append(address)

    def resolutionComplete(self):
        self.done.callback(self.found)


@implementer(IStreamClientEndpoint)
class VettedEndpoint:
    """Connects to the first address of ``host`` that the policy allows, after resolving it
    without blocking; fails with :class:`AddressRefused` when it allows none."""

    def __init__(self, reactor, policy, host, port, tls=None, timeout=30):
        self._reactor = reactor
        self._policy = policy
        self._host = host
        self._port = port
        self._tls = tls
        self._timeout = timeout

    def connect(self, protocol_factory):
        return defer.ensureDeferred(self._connect(protocol_factory))

    async def _connect(self, protocol_factory):
        targets = await self.vetted()
        failure = None
        for address in targets:
            kind = TCP6ClientEndpoint if address.version == 6 else TCP4ClientEndpoint
            endpoint = kind(self._reactor, str(address), self._port, timeout=self._timeout)
            if self._tls is not None:
                endpoint = wrapClientTLS(self._tls, endpoint)
            try:
                return await endpoint.connect(protocol_factory)
            except defer.CancelledError:
                raise
            except Exception as exc:  # try the next address
                failure = exc
        raise failure

    async def vetted(self):
        """:returns: the addresses of the host the policy allows (``ipaddress`` values),
        in the resolver's order.
        :raises AddressRefused: it allows none of them.
        :raises twisted.internet.error.DNSLookupError: the name does not resolve."""
        try:  # an address in its usual form needs no resolver (and no thread)
            addresses = [ipaddress.ip_address(self._host)]
        except ValueError:
            addresses = await self._resolved()
        if not addresses:
            raise DNSLookupError(self._host)
        if self._policy.host_allowed(self._host):
            return addresses
        allowed = [one for one in addresses if self._policy.refusal(one) is None]
        if not allowed:
            reasons = "; ".join(self._policy.refusal(one) for one in addresses)
            raise AddressRefused(
                f"refused to connect to {self._host}: {reasons} (not in {OPTION})"
            )
        return allowed

    async def _resolved(self):
        """The distinct addresses the reactor's resolver finds for the host."""
        receiver = _Addresses()
        self._reactor.nameResolver.resolveHostName(receiver, self._host, self._port)
        addresses = []
        for one in await receiver.done:
            address = ipaddress.ip_address(one.host.split("%", 1)[0])
            if address not in addresses:
                addresses.append(address)
        return addresses


@implementer(IAgentEndpointFactory)
class VettedEndpointFactory:
    """An ``Agent`` endpoint factory whose connections go only to vetted addresses
    (``Agent.usingEndpointFactory(reactor, VettedEndpointFactory(...), pool=...)``).

    :param reactor: the reactor (its ``nameResolver`` resolves host names).
    :param policy: the :class:`AddressPolicy`.
    :param timeout: seconds a TCP connection attempt may take.
    """

    def __init__(self, reactor, policy, timeout=30):
        self._reactor = reactor
        self._policy = policy
        self._timeout = timeout
        self._tls = BrowserLikePolicyForHTTPS()

    def endpointForURI(self, uri):
        host = uri.host.decode("ascii")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        tls = None
        if uri.scheme == b"https":
            tls = self._tls.creatorForNetloc(uri.host, uri.port)
        return VettedEndpoint(self._reactor, self._policy, host, uri.port, tls, self._timeout)
