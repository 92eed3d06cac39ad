"""The notification dispatcher: after a message post, one notification per message and
subscription of the queue, each handed to the enabled notifier serving the subscriber's URI
scheme.

Delivery happens after the post was acknowledged, in the background of this process: the
poster never waits for it and never sees its failures, which are logged.  There are no
retries and no durable outbox yet: a notification whose delivery fails, or that is still
waiting when the process stops, is lost.
"""

from urllib.parse import urlsplit
from uuid import uuid4

from twisted.internet import defer
from twisted.logger import Logger, LogLevel

from zaqar_tw.config import ConfigError

log = Logger()

PAGE = 100  # subscriptions read per store call
DROP_REPORT_INTERVAL = 10.0  # seconds between two warnings about a full backlog, at least


def scheme_of(subscriber):
    """The lowercase URI scheme of a subscriber URI (``""`` when it has none, or when it is
    not a URI at all)."""
    if not isinstance(subscriber, str):
        return ""
    try:
        return urlsplit(subscriber).scheme.lower()
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return ""


def _redacted(subscriber):
    """The subscriber URI without credentials or query, for logs."""
    parts = urlsplit(subscriber)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}" if host else f"{parts.scheme}:{parts.path}"


class Dispatcher:
    """Fans the messages posted to a queue out to the queue's subscriptions, each through
    the enabled notifier serving its subscriber's URI scheme.

    :param config: the :class:`~zaqar_tw.config.Config`: ``[transport] subscriber_types``,
        ``[notification] require_confirmation``, ``max_notifier_workers`` (subscriptions
        being notified at once; each gets the messages of one post in order, one after the
        other), ``max_backlog`` (deliveries waiting for a worker, at most; past it the
        notifications of new posts are dropped, with a warning at most every
        :data:`DROP_REPORT_INTERVAL` seconds, so a subscriber slower than the posts cannot
        exhaust memory) and ``delivery_timeout`` (how long :meth:`stop` waits).
    :param storage: the IStorage provider; its ``subscriptions`` are read on each post.
    :param notifiers: the enabled INotifier providers (instances).
    :param filters: the :class:`~zaqar_tw.filters.FilterChain`; notifications pass its read
        hooks, with the poster's context.
    :param clock: the IReactorTime.
    :raises ConfigError: two notifiers serve one scheme, or ``subscriber_types`` names a
        scheme that no enabled notifier serves.

    :ivar subscriber_types: the subscriber URI schemes accepted, sorted: ``[transport]
        subscriber_types`` when set, else every scheme an enabled notifier serves.
    """

    def __init__(self, config, storage, notifiers, filters, clock):
        self.storage = storage
        self.filters = filters
        self.clock = clock
        self.require_confirmation = config.notification.require_confirmation
        self.stop_timeout = config.notification.delivery_timeout
        served = {}
        for notifier in notifiers:
            for scheme in notifier.schemes:
                scheme = scheme.lower()
                if scheme in served:
                    raise ConfigError(
                        f"[notification] notifiers: {type(served[scheme]).__name__} and "
                        f"{type(notifier).__name__} both serve {scheme!r} subscribers; "
                        "enable only one of them"
                    )
                served[scheme] = notifier
        wanted = config.transport.subscriber_types
        if wanted is None:
            wanted = sorted(served)
        unserved = [scheme for scheme in wanted if scheme.lower() not in served]
        if unserved:
            raise ConfigError(
                f"[transport] subscriber_types: no enabled notifier serves "
                f"{', '.join(repr(s) for s in unserved)} (served: "
                f"{', '.join(sorted(served)) or 'none'}; enable notifiers with "
                "[notification] notifiers, or leave subscriber_types unset to accept every "
                "served scheme)"
            )
        self.subscriber_types = sorted({scheme.lower() for scheme in wanted})
        self._routes = {scheme: served[scheme] for scheme in self.subscriber_types}
        self._workers = defer.DeferredSemaphore(config.notification.max_notifier_workers)
        self._max_backlog = config.notification.max_backlog
        self._drops = _DropReport(clock, self._max_backlog)
        self._dropping_from = 0  # where the part of a list kept past a full backlog starts
        self._in_flight = set()

    def accepts(self, subscriber):
        """Whether ``subscriber`` is a URI of one of :attr:`subscriber_types`."""
        return scheme_of(subscriber) in self._routes

    def notifier_for(self, subscriber):
        """The enabled notifier serving ``subscriber``'s URI scheme, or ``None``."""
        return self._routes.get(scheme_of(subscriber))

    def posted(self, ctx, queue, messages, ids, metadata):
        """Schedule the notifications of messages just stored; never raises, never waits.

        :param ctx: the poster's :class:`~zaqar_tw.context.RequestContext`.
        :param messages: the stored message dicts (``ttl``, ``delay``, ``body``, maybe
            ``checksum``), after the post filters.
        :param ids: their new ids, in the same order.
        :param metadata: the queue's metadata as the post read it.
        """
        if not self._routes:
            return
        now = self.clock.seconds()
        # Most queues have no subscriptions: their first page is read without a coroutine.
        work = self.storage.subscriptions.list(ctx.project, queue, None, PAGE)
        work.addCallback(
            lambda page: page and defer.ensureDeferred(
                self._notify(ctx, queue, page, messages, ids, metadata, now)
            )
        )
        self._in_flight.add(work)

        def failed(failure):
            if not failure.check(defer.CancelledError):
                log.failure(
                    "notifications of queue {queue} (project {project}) failed", failure,
                    level=LogLevel.error, queue=queue, project=ctx.project,
                )

        work.addErrback(failed)
        work.addBoth(lambda _: self._in_flight.discard(work))

    async def _notify(self, ctx, queue, first_page, messages, ids, metadata, now):
        targets = []
        async for subscription in self._subscriptions(ctx.project, queue, first_page):
            notifier = self._routes.get(scheme_of(subscription["subscriber"]))
            if notifier is None:
                continue
            if self.require_confirmation and not subscription.get("confirmed"):
                continue
            targets.append((notifier, {**subscription, "project": ctx.project}))
        if not targets:
            return
        room = max(self._max_backlog - len(self._workers.waiting) + self._workers.tokens, 0)
        if len(targets) > room:
            self._drops.add(len(targets) - room, queue, ctx.project)
            # Keep a different part of the list each time, so that the drops do not always
            # fall on the same subscriptions.
            start = self._dropping_from % len(targets)
            self._dropping_from += room
            targets = (targets[start:] + targets[:start])[:room]
            if not targets:
                return
        payloads = await self._payloads(ctx, queue, messages, ids, metadata, now)
        batches = [
            self._workers.run(
                self._deliver_in_order, notifier, subscription, payloads, ids,
                ctx.traceparent,
            )
            for notifier, subscription in targets
        ]
        await defer.DeferredList(batches, consumeErrors=True)

    async def _subscriptions(self, project, queue, page):
        """Every live subscription of the queue, page after page from the first ``page``."""
        while True:
            for subscription in page:
                yield subscription
            if len(page) < PAGE:
                return
            page = await self.storage.subscriptions.list(project, queue, page[-1]["id"], PAGE)

    async def _payloads(self, ctx, queue, messages, ids, metadata, now):
        """The notification of each message, after the filter chain's read hooks."""
        read = []
        for message, message_id in zip(messages, ids):
            one = {
                "id": message_id, "ttl": message["ttl"], "age": 0, "body": message["body"],
                "claim_id": None, "claim_count": 0, "created": now,
            }
            if "checksum" in message:
                one["checksum"] = message["checksum"]
            read.append(one)
        if self.filters:
            hooks_metadata = metadata if self.filters.needs_metadata else None
            read = await self.filters.on_read(read, hooks_metadata, ctx)
        delayed = bool((metadata or {}).get("_default_message_delay"))
        payloads = []
        for message, posted in zip(read, messages):
            payload = {
                "body": message["body"], "ttl": message["ttl"], "queue_name": queue,
                "Message_Type": "Notification",
            }
            if delayed:
                payload["delay"] = posted["delay"]
            payloads.append(payload)
        return payloads

    async def _deliver_in_order(self, notifier, subscription, payloads, ids, traceparent):
        """Deliver the notifications of one post to one subscription, one after the other;
        a failed one is logged and the next is still tried."""
        for payload, message_id in zip(payloads, ids):
            delivery = {
                "id": str(uuid4()), "message_id": message_id, "attempt": 1,
                "traceparent": traceparent,
            }
            try:
                await defer.maybeDeferred(
                    notifier.deliver, {**subscription, "delivery": delivery}, payload
                )
            except defer.CancelledError:
                raise
            except Exception:
                log.failure(
                    "notification of subscription {subscription} of queue {queue} (project "
                    "{project}) to {subscriber} failed",
                    level=LogLevel.warn,
                    subscription=subscription["id"],
                    queue=subscription.get("source"),
                    project=subscription["project"],
                    subscriber=_redacted(subscription["subscriber"]),
                )

    def stop(self):
        """Let the notifications in progress finish, for at most ``[notification]
        delivery_timeout`` seconds, then cancel what is left (those are lost).

        :returns: a Deferred firing once nothing is in progress.
        """
        self._drops.flush()
        pending = list(self._in_flight)
        if not pending:
            return defer.succeed(None)
        everything = defer.DeferredList(pending, consumeErrors=True)
        timer = self.clock.callLater(self.stop_timeout, self._cancel_all)
        everything.addBoth(lambda _: timer.active() and timer.cancel())
        return everything.addCallback(lambda _: None)

    def _cancel_all(self):
        left = list(self._in_flight)
        log.warn(
            "stopping: {count} notification batch(es) still in progress were dropped",
            count=len(left),
        )
        for work in left:
            work.cancel()


class _DropReport:
    """Warns about notifications dropped because the backlog was full, at most once per
    :data:`DROP_REPORT_INTERVAL` seconds: the first drop at once, the later ones summed up
    when the interval ends (a saturated service would otherwise log a line per post)."""

    def __init__(self, clock, limit):
        self._clock = clock
        self._limit = limit
        self._quiet_until = None
        self._timer = None
        self._dropped = 0
        self._latest = None

    def add(self, dropped, queue, project):
        """``dropped`` deliveries (the messages of one post for one subscription each) of
        ``queue`` were dropped."""
        self._dropped += dropped
        self._latest = (queue, project)
        now = self._clock.seconds()
        if self._quiet_until is None or now >= self._quiet_until:
            self.flush()
        elif self._timer is None:
            self._timer = self._clock.callLater(self._quiet_until - now, self.flush)

    def flush(self):
        """Warn about the drops not reported yet, if any."""
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if not self._dropped:
            return
        queue, project = self._latest
        log.warn(
            "notification backlog full ([notification] max_backlog = {limit}): {dropped} "
            "notification batch(es) dropped (the messages of one post for one subscription "
            "each), the latest for queue {queue} (project {project})",
            limit=self._limit, dropped=self._dropped, queue=queue, project=project,
        )
        self._dropped = 0
        self._quiet_until = self._clock.seconds() + DROP_REPORT_INTERVAL
