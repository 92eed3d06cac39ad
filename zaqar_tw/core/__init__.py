"""The transport-neutral core: every operation of the API, written once.

REST and WebSocket parse, authenticate and format; everything else (validation, policy, limits,
calls to the store) happens here.
"""

from zaqar_tw.auth.signed_url import UrlSigner
from zaqar_tw.core.claims import ClaimOperations
from zaqar_tw.core.health import HealthOperations
from zaqar_tw.core.limits import Limits
from zaqar_tw.core.messages import MessageOperations
from zaqar_tw.core.queues import QueueOperations
from zaqar_tw.core.shares import ShareOperations
from zaqar_tw.core.subscriptions import SubscriptionOperations
from zaqar_tw.notify.confirmation import ConfirmationRequests
from zaqar_tw.notify.dispatcher import Dispatcher
from zaqar_tw.plugins import filter_chain


class Core:
    """The operations, grouped by resource.

    :param config: the :class:`zaqar_tw.config.Config`.
    :param storage: the IStorage provider.
    :param clock: the IReactorTime every notion of "now" comes from.
    :param policy: the IPolicy provider (default: an
        :class:`~zaqar_tw.auth.policy.OsloPolicy` built from the config, read once).
    :param filters: the :class:`~zaqar_tw.filters.FilterChain` (default: built from the
        config's ``[filters]``, see :func:`zaqar_tw.plugins.filter_chain`).
    :param notifiers: the enabled INotifier providers (default: none, so no subscription
        can be made; the service passes :func:`zaqar_tw.plugins.notifiers`).
    :raises zaqar_tw.config.ConfigError: a configured filter cannot be loaded, or a
        ``[limits]`` rate is set for a store that keeps no token buckets.

    :ivar signer: the :class:`~zaqar_tw.auth.signed_url.UrlSigner` of ``[signed_url]``, built
        once: the share operation signs with it, and the service's authenticator verifies
        pre-signed requests with it.
    :ivar confirmations: the :class:`~zaqar_tw.notify.confirmation.ConfirmationRequests`
        the subscription operations send through.
    """

    def __init__(self, config, storage, clock, policy=None, filters=None, notifiers=()):
        if policy is None:
            from zaqar_tw.auth.policy import OsloPolicy

            policy = OsloPolicy(config)
        filters = filter_chain(config) if filters is None else filters
        self.dispatcher = Dispatcher(config, storage, notifiers, filters, clock)
        self.limits = Limits(config, storage, policy)
        parts = (config, storage, clock, policy, filters, self.dispatcher, self.limits)
        self.config = config
        self.filters = filters
        self.storage = storage
        self.clock = clock
        self.signer = UrlSigner.from_config(config, clock)
        self.queues = QueueOperations(*parts)
        self.messages = MessageOperations(*parts)
        self.claims = ClaimOperations(*parts)
        self.confirmations = ConfirmationRequests(config, self.signer, self.dispatcher)
        self.subscriptions = SubscriptionOperations(*parts, confirmations=self.confirmations)
        self.health = HealthOperations(*parts)
        self.shares = ShareOperations(*parts, signer=self.signer)
