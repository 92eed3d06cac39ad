"""The frame every core operation runs in.

An operation checks, in the order of spec section 0.1: the queue name (when it has one), then
policy, then the project's request rate for the operation's class (see
:mod:`zaqar_tw.core.limits`), then its own parameters and body; and a store failure becomes a
503 that says what could not be done.  Writing that once here keeps each operation about its
own rules.
"""

import functools

from twisted.internet.defer import Deferred

from zaqar_tw.core.limits import operation_class
from zaqar_tw.core.validation import check_queue_name
from zaqar_tw.errors import StoreUnavailable, Unavailable, WriteNotReplicated


def operation(rule, failure, scoped=True):
    """Decorate an ``async`` operation method ``(self, ctx, [queue,] ...)``.

    :param rule: the policy rule the caller must pass, e.g. ``"queues:create"``; it also
        tells the operation's rate class (:func:`~zaqar_tw.core.limits.operation_class`).
    :param failure: the 503 description when the store fails, e.g.
        ``"Queue could not be created."``.
    :param scoped: whether the first argument after the context is a queue name.
    """

    rate_class = operation_class(rule)

    def decorate(method):
        @functools.wraps(method)
        async def run(self, ctx, *args, **kwargs):
            if scoped:
                check_queue_name(args[0], ctx.project)
            self.policy.enforce(rule, ctx)
            try:
                if rate_class is not None and self.project_limits.rated:
                    await self.project_limits.admit(ctx, rate_class)
                return await method(self, ctx, *args, **kwargs)
            except WriteNotReplicated as exc:
                raise Unavailable(f"{failure} {exc}") from None
            except StoreUnavailable:
                raise Unavailable(f"{failure} Please try again in a few seconds.") from None

        return run

    return decorate


def uncancellable(deferred):
    """:returns: a Deferred firing with ``deferred``'s result; cancelling it (the caller went
    away) leaves ``deferred`` and its callbacks running to the end."""
    relay = Deferred()

    def forward(result):
        if not relay.called:
            relay.callback(result)

    deferred.addBoth(forward)
    return relay


class Operations:
    """Base of the per-resource operation groups: what every operation may use."""

    def __init__(self, config, storage, clock, policy, filters, dispatcher, project_limits):
        """:param project_limits: the :class:`~zaqar_tw.core.limits.Limits` (rates and
        quotas of each project)."""
        self.config = config
        self.limits = config.transport
        self.project_limits = project_limits
        self.storage = storage
        self.clock = clock
        self.policy = policy
        self.filters = filters
        self.dispatcher = dispatcher

    async def filtered(self, ctx, queue, messages):
        """Pass messages read from ``queue`` through the filter chain's read hooks.

        Costs nothing when the chain is empty or nothing was read; reads the queue's metadata
        (one store round trip) only when a filter needs it.

        :returns: the messages to hand out.
        """
        if not self.filters or not messages:
            return messages
        metadata = None
        if self.filters.needs_metadata:
            metadata = await self.storage.queues.get_metadata(ctx.project, queue) or {}
        return await self.filters.on_read(messages, metadata, ctx)
