"""Subscription operations: create, list, get, update, confirm and delete.

A subscription is shown as ``{"id", "source", "subscriber", "ttl", "age", "options",
"confirmed"}`` (the :class:`~zaqar_tw.interfaces.ISubscriptionStore` dict), its options
without ``secret`` (the key that signs its webhooks, see :mod:`zaqar_tw.notify.signing`:
whoever may read a subscription, a pre-signed URL's holder included, must not learn it).
In a request body, a field that is JSON ``null`` counts as absent.

With ``[notification] require_confirmation`` on, a new subscription (and an unconfirmed one
subscribed again, and one whose subscriber an update changed, which becomes unconfirmed) is
sent a confirmation request, and unconfirming one sends a note (spec 5.3, see
:mod:`zaqar_tw.notify.confirmation`); REST and WebSocket alike.
"""

from datetime import datetime, timedelta

from zaqar_tw.core import validation as v
from zaqar_tw.core.operation import Operations, operation
from zaqar_tw.errors import BadRequest, SubscriptionAlreadyExists, SubscriptionDoesNotExist
from zaqar_tw.notify.signing import signing_key

# The fields a subscription body may set.
FIELDS = ("subscriber", "ttl", "options")
# The keys a subscription is shown with.
VIEW = ("id", "source", "subscriber", "ttl", "age", "options", "confirmed")
# Options stored and used but never shown: the key that signs webhooks.
WRITE_ONLY_OPTIONS = ("secret",)
# The last second (epoch) a subscription may live to: the reference server refuses a ttl
# that takes "now" past Python's largest datetime.
_LAST_SECOND = (datetime.max - datetime(1970, 1, 1)) // timedelta(seconds=1)


def _view(subscription):
    shown = {key: subscription[key] for key in VIEW}
    options = shown["options"]
    if isinstance(options, dict) and any(key in options for key in WRITE_ONLY_OPTIONS):
        shown["options"] = {
            key: value for key, value in options.items() if key not in WRITE_ONLY_OPTIONS
        }
    return shown


class SubscriptionOperations(Operations):
    """Every subscription operation of the API.

    :param confirmations: the service's
        :class:`~zaqar_tw.notify.confirmation.ConfirmationRequests` (after the parts every
        operation group takes).
    """

    def __init__(self, *parts, confirmations):
        super().__init__(*parts)
        self.confirmations = confirmations

    @operation("subscription:create", "Subscription could not be created.")
    async def create(self, ctx, queue, body):
        """Subscribe the body's ``subscriber`` (``ttl`` defaults to ``[transport]
        default_subscription_ttl``, ``options`` to ``{}``); the queue is created if needed.

        :returns: the new subscription's id; or, when an unconfirmed subscription of the
            queue already has this subscriber, that one's id (it is left unchanged).
        :raises SubscriptionAlreadyExists: a confirmed subscription of the queue has this
            subscriber.
        """
        document = v.parse_document(body, required=False)
        document = self._object({} if document is None else document)
        if document.get("subscriber") is None:
            raise BadRequest("Missing parameter subscriber in body.")
        fields = self._checked(document)
        ttl = fields.get("ttl", self.limits.default_subscription_ttl)
        subscription, created = await self.storage.subscriptions.create(
            ctx.project,
            queue,
            fields["subscriber"],
            ttl,
            await self._prepared(ctx, fields["subscriber"], fields.get("options", {}), ttl),
            **self.project_limits.quotas(ctx, "max_subscriptions", "max_queues"),
        )
        if not created and subscription["confirmed"]:
            raise SubscriptionAlreadyExists()
        self.confirmations.request(ctx.project, queue, subscription,
                                   traceparent=ctx.traceparent)
        return subscription["id"]

    @operation("subscription:get_all", "Subscriptions could not be listed.")
    async def list(self, ctx, queue, marker=None, limit=None):
        """:returns: a page of the queue's subscriptions, sorted by id (empty for a queue
        that does not exist)."""
        limit = v.check_limit(
            v.as_int(limit, "limit"), self.limits.max_subscriptions_per_page
        )
        page = await self.storage.subscriptions.list(
            ctx.project, queue, marker=marker, limit=limit
        )
        return [_view(subscription) for subscription in page]

    @operation("subscription:get", "Subscription could not be retrieved.")
    async def get(self, ctx, queue, subscription_id):
        """:returns: the subscription.
        :raises SubscriptionDoesNotExist: it is not a live subscription of this queue.
        """
        subscription = await self.storage.subscriptions.get(ctx.project, queue, subscription_id)
        if subscription is None:
            raise SubscriptionDoesNotExist(subscription_id)
        return _view(subscription)

    @operation("subscription:update", "Subscription could not be updated.")
    async def update(self, ctx, queue, subscription_id, body):
        """Change some of ``subscriber``, ``ttl`` (the age restarts) and ``options``; other
        keys are ignored.

        With ``require_confirmation`` on, a new subscriber makes the subscription
        unconfirmed, and is sent a confirmation request.

        :raises BadRequest: nothing to change.
        :raises SubscriptionDoesNotExist: it is not a live subscription of this queue.
        :raises SubscriptionAlreadyExists: the new subscriber is another subscription's.
        """
        document = v.parse_document(body, required=False)
        if not document:
            raise BadRequest("No subscription to create.")
        changes = self._checked(self._object(document))
        if not changes:
            raise BadRequest(
                f"Subscription {subscription_id} could not be updated.",
                title="Unable to update subscription",
            )
        changes = await self._prepared_changes(ctx, queue, subscription_id, changes)
        if not await self.storage.subscriptions.update(
            ctx.project, queue, subscription_id, changes
        ):
            raise SubscriptionDoesNotExist(subscription_id)
        if "subscriber" in changes and self.confirmations.enabled:
            # The new subscriber has not agreed to anything yet.
            await self._confirmed(ctx, queue, subscription_id, False, subscribe=True)

    @operation("subscription:confirm", "Subscription could not be confirmed.")
    async def confirm(self, ctx, queue, subscription_id, body):
        """Record the body's ``{"confirmed": true|false}``; unconfirming sends the
        subscriber a note when confirmation is required.

        :raises BadRequest: ``confirmed`` is missing or not a boolean.
        :raises SubscriptionDoesNotExist: it is not a live subscription of this queue.
        """
        document = v.parse_document(body, required=False)
        confirmed = document.get("confirmed") if isinstance(document, dict) else None
        if not isinstance(confirmed, bool):
            raise BadRequest("The 'confirmed' should be boolean.")
        subscribe = None if confirmed else False  # unconfirming sends a note
        await self._confirmed(ctx, queue, subscription_id, confirmed, subscribe)

    async def _confirmed(self, ctx, queue, subscription_id, confirmed, subscribe):
        """Record ``confirmed``; then, with ``subscribe`` not ``None`` and confirmation
        required, send the subscription's confirmation request (``True``) or unsubscribe
        note (``False``).

        :raises SubscriptionDoesNotExist: it is not a live subscription of this queue.
        """
        if not await self.storage.subscriptions.confirm(
            ctx.project, queue, subscription_id, confirmed
        ):
            raise SubscriptionDoesNotExist(subscription_id)
        if subscribe is None or not self.confirmations.enabled:
            return
        subscription = await self.storage.subscriptions.get(ctx.project, queue, subscription_id)
        if subscription is not None:
            self.confirmations.request(ctx.project, queue, subscription, subscribe,
                                       traceparent=ctx.traceparent)

    @operation("subscription:delete", "Subscription could not be deleted.")
    async def delete(self, ctx, queue, subscription_id):
        """Unsubscribe; an unknown subscription is no error."""
        await self.storage.subscriptions.delete(ctx.project, queue, subscription_id)

    async def _prepared(self, ctx, subscriber, options, ttl):
        """The options to store: what the notifier of ``subscriber`` makes of them (its
        optional ``prepare_options(ctx, options, ttl)``, e.g. a Keystone trust), else
        ``options``."""
        prepare = getattr(self.dispatcher.notifier_for(subscriber), "prepare_options", None)
        return options if prepare is None else await prepare(ctx, options, ttl)

    async def _prepared_changes(self, ctx, queue, subscription_id, changes):
        """``changes`` with the options its notifier prepared, when the subscriber or the
        options change (the stored subscription fills in what the changes leave out).

        :raises SubscriptionDoesNotExist: it had to be read and is not there.
        """
        if "subscriber" not in changes and "options" not in changes:
            return changes
        if "subscriber" in changes and not hasattr(
            self.dispatcher.notifier_for(changes["subscriber"]), "prepare_options"
        ):
            return changes
        stored = await self.storage.subscriptions.get(ctx.project, queue, subscription_id)
        if stored is None:
            raise SubscriptionDoesNotExist(subscription_id)
        current = {**stored, **changes}
        options = await self._prepared(
            ctx, current["subscriber"], current["options"] or {}, current["ttl"]
        )
        return changes if options is current["options"] else {**changes, "options": options}

    @staticmethod
    def _object(document):
        """:raises BadRequest: the body is not a JSON object."""
        if not isinstance(document, dict):
            raise BadRequest("Subscriptions must be a dict.")
        return document

    def _checked(self, document):
        """The subscription fields of a body, checked, in the reference server's order:
        subscriber, options (and their retry policy), ttl.

        :returns: the non-null fields among :data:`FIELDS`.
        :raises BadRequest: a field is invalid.
        """
        fields = {name: document[name] for name in FIELDS if document.get(name) is not None}
        if "subscriber" in fields:
            self._check_subscriber(fields["subscriber"])
        if "options" in fields:
            if not isinstance(fields["options"], dict):
                raise BadRequest("Options must be a dict.")
            v.check_retry_policy(fields["options"])
            if fields["options"].get("secret") is not None:
                try:
                    signing_key(fields["options"]["secret"])
                except ValueError as exc:
                    raise BadRequest(str(exc)) from None
        if "ttl" in fields:
            self._check_ttl(fields["ttl"])
        return fields

    def _check_subscriber(self, subscriber):
        """:raises BadRequest: not a URI whose scheme an enabled notifier serves, or one
        its notifier refuses (its optional ``check_subscriber``, e.g. a webhook to a
        private address)."""
        notifier = self.dispatcher.notifier_for(subscriber)
        if notifier is None:
            raise BadRequest(
                "The subscriber type of subscription must be supported in the list "
                f"{list(self.dispatcher.subscriber_types)!r}."
            )
        check = getattr(notifier, "check_subscriber", None)
        if check is not None:
            check(subscriber)

    def _check_ttl(self, ttl):
        """:raises BadRequest: not an integer, shorter than a minute, or taking the expiry
        past the largest date."""
        if not isinstance(ttl, int):
            raise BadRequest("TTL must be an integer.")
        if ttl < v.MIN_SUBSCRIPTION_TTL:
            raise BadRequest(
                f"The TTL for a subscription must be at least {v.MIN_SUBSCRIPTION_TTL} "
                "seconds long."
            )
        if int(self.clock.seconds()) + ttl > _LAST_SECOND:
            raise BadRequest(
                "The TTL seconds for a subscription plus current time must be less than "
                f"{datetime.max}."
            )
