"""Request rates and quotas of each project: ``[limits]`` and ``[limits:PROJECT]``.

**Rates.**  Every operation belongs to a class, told by its policy rule:

* ``admin``: the rules of ``health``, ``pools`` and ``flavors``;
* ``claim``: ``claims:create``, ``claims:update`` and ``claims:delete`` (taking, renewing and
  releasing leases);
* ``read``: every other rule ending in ``:get``, ``:get_all`` or ``:stats`` (``claims:get``
  included);
* ``write``: every other rule (creating, changing, deleting and purging queues, messages and
  subscriptions; a pop, a bulk delete of messages, is one);
* none: ``ping:get``, so that liveness probes are never refused.

A project may make ``<class>_rate`` requests a second of a class on average and
``<class>_burst`` at once: a token bucket per project and class, kept in the store
(:class:`~zaqar_tw.interfaces.IRateStore`) so that every node and worker draws from the same
one, at the cost of one store round trip per request of a class that has a rate.  Over it,
:class:`~zaqar_tw.errors.RateLimited` (429).

**Quotas** (``max_queues_per_project``, ``max_messages_per_queue``,
``max_subscriptions_per_queue``) are checked by the store in the write that would break them
(see :mod:`zaqar_tw.interfaces`); over one, :class:`~zaqar_tw.errors.QuotaExceeded` (429).

**Exemption.**  A caller passing the policy rule ``limits:exempt`` is held to no rate and no
quota.  Its default, ``!``, exempts nobody: without Keystone the roles are whatever the
``X-Roles`` header says, so exempting ``role:admin`` would let any client lift every limit
with one header.  Deployments with Keystone may set it to ``role:admin``.

With no limit set (the default) none of this costs a request anything.
"""

import math
from dataclasses import dataclass

from zaqar_tw.config import ConfigError
from zaqar_tw.errors import RateLimited

CLASSES = ("read", "write", "claim", "admin")
EXEMPT_RULE = "limits:exempt"

_ADMIN_RESOURCES = ("health", "pools", "flavors")
_CLAIM_RULES = ("claims:create", "claims:update", "claims:delete")
_READ_ACTIONS = ("get", "get_all", "stats")
# Quota option of [limits] -> the keyword the store methods take.
_QUOTA_ARGUMENTS = {
    "max_queues_per_project": "max_queues",
    "max_messages_per_queue": "max_messages",
    "max_subscriptions_per_queue": "max_subscriptions",
}
_NO_QUOTAS = {}


def operation_class(rule):
    """:returns: the class (one of :data:`CLASSES`) of the operation guarded by policy rule
    ``rule``, or ``None`` for an operation no rate applies to."""
    if rule == "ping:get":
        return None
    resource, _, action = rule.partition(":")
    if resource in _ADMIN_RESOURCES:
        return "admin"
    if rule in _CLAIM_RULES:
        return "claim"
    if action in _READ_ACTIONS:
        return "read"
    return "write"


@dataclass(frozen=True)
class Bucket:
    """The token bucket of one class: ``rate`` requests a second, ``burst`` at once."""

    name: str
    rate: float
    burst: int


@dataclass(frozen=True)
class _ProjectLimits:
    """What applies to one project: its buckets by class, and the store keywords of each
    quota that is set."""

    buckets: dict
    quotas: dict


def _resolve(section):
    """:returns: the :class:`_ProjectLimits` of a :class:`~zaqar_tw.config.LimitsSection`."""
    buckets = {}
    for name in CLASSES:
        rate = getattr(section, f"{name}_rate")
        if rate > 0:
            burst = getattr(section, f"{name}_burst") or max(1, math.ceil(rate))
            buckets[name] = Bucket(name, rate, burst)
    quotas = {
        keyword: getattr(section, option)
        for option, keyword in _QUOTA_ARGUMENTS.items()
        if getattr(section, option)
    }
    return _ProjectLimits(buckets, quotas)


class Limits:
    """The rates and quotas of every project, and the rate check.

    :param config: the :class:`~zaqar_tw.config.Config`.
    :param storage: the IStorage provider (its ``rates`` keep the buckets).
    :param policy: the IPolicy provider that decides :data:`EXEMPT_RULE`.
    :raises ConfigError: a rate is set but the store keeps no token buckets.

    :ivar rated: whether some project has a rate (else :meth:`admit` need not be called).
    """

    def __init__(self, config, storage, policy):
        self._policy = policy
        self._default = _resolve(config.limits)
        self._projects = {
            project: _resolve(config.limits_of(project)) for project in config.project_limits
        }
        every = [self._default, *self._projects.values()]
        self.rated = any(limits.buckets for limits in every)
        self._quoted = any(limits.quotas for limits in every)
        self._rates = getattr(storage, "rates", None)
        if self.rated and self._rates is None:
            raise ConfigError(
                f"[limits]: the store {type(storage).__name__} keeps no token buckets "
                "(IStorage.rates), so no <class>_rate can be set"
            )

    def _of(self, project):
        return self._projects.get(project, self._default)

    def bucket(self, project, name):
        """:returns: the :class:`Bucket` of class ``name`` of ``project``, or ``None`` when
        that class has no rate there."""
        return self._of(project).buckets.get(name)

    def _exempt(self, ctx):
        return self._policy.allows(EXEMPT_RULE, ctx)

    async def admit(self, ctx, name):
        """Take a token from the bucket of class ``name`` of the caller's project, if that
        class has a rate and the caller is not exempt.

        :raises RateLimited: the bucket is empty.
        :raises StoreUnavailable: the store could not be asked.
        """
        bucket = self.bucket(ctx.project, name)
        if bucket is None or self._exempt(ctx):
            return
        taken, remaining, wait = await self._rates.take(
            ctx.project, name, bucket.rate, bucket.burst
        )
        if not taken:
            raise RateLimited(name, bucket.rate, bucket.burst, remaining, wait)

    def quotas(self, ctx, *keywords):
        """:param keywords: the store keywords the caller's store method takes, among
            ``"max_queues"``, ``"max_messages"`` and ``"max_subscriptions"``.
        :returns: those of them whose quota applies to the caller, as keyword arguments
            for the store (``{}`` when none does)."""
        if not self._quoted:
            return _NO_QUOTAS
        quotas = self._of(ctx.project).quotas
        found = {keyword: quotas[keyword] for keyword in keywords if keyword in quotas}
        if found and self._exempt(ctx):
            return _NO_QUOTAS
        return found
