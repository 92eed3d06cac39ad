"""The built-in ``trust`` notifier: ``trust+http`` and ``trust+https`` subscribers, delivered
like webhooks with a Keystone token that acts for the subscriber (spec 5.1).

When such a subscription is made (or its subscriber changed) without ``options.trust_id``,
the caller's Keystone token creates a trust: the caller (trustor) delegates their roles in
the project, with impersonation, to zaqar-tw's service user (``[keystone_authtoken]``,
the trustee) until the subscription's TTL runs out; its id is stored in
``options.trust_id``.  Each delivery POSTs to the URI without ``trust+``, as the webhook
does (same address guard, signing and options), with ``X-Auth-Token``: a token of the
service user scoped to the trust, fetched once and reused until near its expiry.

Without Keystone authentication (``[DEFAULT] auth_strategy = keystone``) there is no one to
trust: such subscriptions are refused with 400.
"""

from datetime import datetime, timedelta, timezone

from twisted.internet import defer
from zope.interface import implementer

from zaqar_tw.auth.keystone_client import KeystoneClient, KeystoneUnavailable, TokenRefused
from zaqar_tw.auth.keystone_settings import keystone_settings
from zaqar_tw.auth.single_flight import SingleFlight
from zaqar_tw.errors import BadRequest, Unavailable
from zaqar_tw.interfaces import INotifier
from zaqar_tw.notify.outcome import DeliveryFailed
from zaqar_tw.notify.webhook import WebhookNotifier

PREFIX = "trust+"
TOKEN_MARGIN = 60.0  # seconds before its expiry a trust token is replaced


@implementer(INotifier)
class TrustNotifier:
    """Delivers to ``trust+http(s)`` subscribers with trust-scoped Keystone tokens.

    :param reactor: the reactor.
    :param config: the :class:`~zaqar_tw.config.Config` (``[keystone_authtoken]`` when
        ``[DEFAULT] auth_strategy = keystone``; the webhook's options).
    :param options: the ``[notifier:trust]`` section (no options; must be empty).
    :raises ValueError: ``options`` names an option.
    """

    schemes = ("trust+http", "trust+https")
    known_options = ()

    def __init__(self, reactor, config, options):
        if options:
            raise ValueError(f"unknown option(s): {', '.join(sorted(options))}")
        self.clock = reactor
        self.webhook = WebhookNotifier(reactor, config, {})
        self.keystone = None
        if config.default.auth_strategy == "keystone":
            self.keystone = KeystoneClient(reactor, reactor, keystone_settings(config))
        self._tokens = {}  # trust id -> (token, clock time to replace it at)
        self._fetches = SingleFlight()  # one token fetch per trust at a time

    def check_subscriber(self, subscriber):
        """:raises BadRequest: Keystone authentication is off, or the webhook guard refuses
        the URI without ``trust+``."""
        if self.keystone is None:
            raise BadRequest(
                "trust+http and trust+https subscribers need Keystone authentication, which "
                "this service does not use ([DEFAULT] auth_strategy = keystone)."
            )
        self.webhook.check_subscriber(subscriber[len(PREFIX):])

    async def prepare_options(self, ctx, options, ttl):
        """The options to store for a subscription of the caller ``ctx``: ``options`` with
        a ``trust_id`` (a new trust when it has none).

        :raises BadRequest: the caller holds no Keystone token, or Keystone refused.
        :raises Unavailable: Keystone could not be reached.
        """
        if options.get("trust_id"):
            return options
        if not ctx.token or not ctx.user:
            raise BadRequest(
                "A trust+http subscription is made with a Keystone token, which creates its "
                "trust."
            )
        expires = datetime.fromtimestamp(self.clock.seconds(), timezone.utc) + timedelta(
            seconds=ttl)
        try:
            trust = await self.keystone.create_trust(
                ctx.token, ctx.user, ctx.project, ctx.roles,
                expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            )
        except TokenRefused as exc:
            raise BadRequest(f"The subscription's trust could not be created: {exc}.") from None
        except KeystoneUnavailable:
            raise Unavailable("Subscription could not be created.") from None
        return {**options, "trust_id": trust}

    def deliver(self, subscription, payload):
        """POST one notification with the trust's token (see
        :meth:`~zaqar_tw.notify.webhook.WebhookNotifier.post` for the outcome); a trust
        Keystone no longer honours fails the delivery for good."""
        return defer.ensureDeferred(self._deliver(subscription, payload))

    async def _deliver(self, subscription, payload):
        options = subscription.get("options") or {}
        trust = options.get("trust_id")
        if not trust or self.keystone is None:
            raise DeliveryFailed("the subscription has no usable trust", permanent=True)
        try:
            token = await self._token(trust)
        except TokenRefused as exc:
            raise DeliveryFailed(str(exc), permanent=True) from None
        headers = dict(options.get("post_headers") or {}, **{"X-Auth-Token": token})
        await self.webhook.deliver({
            **subscription, "subscriber": subscription["subscriber"][len(PREFIX):],
            "options": {**options, "post_headers": headers},
        }, payload)

    async def _token(self, trust):
        cached = self._tokens.get(trust)
        if cached is not None and self.clock.seconds() < cached[1]:
            return cached[0]
        return await self._fetches.run(trust, lambda: self._fetch(trust))

    async def _fetch(self, trust):
        token, expires = await self.keystone.trust_token(trust)
        now = self.clock.seconds()
        self._tokens[trust] = (token, expires - min(TOKEN_MARGIN, (expires - now) / 2))
        return token
