"""Confirmation requests (spec 5.3): with ``[notification] require_confirmation`` on, a new
subscription gets nothing but a request to confirm it, carrying a pre-signed URL that
allows exactly ``PUT /v2/queues/Q/subscriptions/S/confirm`` until the subscription's TTL
runs out; unconfirming it (``{"confirmed": false}``) sends a note saying how to confirm
again.

The request is a notification like any other, handed to the notifier serving the
subscriber through :func:`deliver_confirmation`, the one place that sends it: a webhook
POSTs it as JSON, the ``mailto`` notifier turns it into an e-mail whose link leads to
``[notification] external_confirmation_url``.
"""

from datetime import timedelta
from uuid import uuid4

from twisted.internet import defer
from twisted.logger import Logger

from zaqar_tw.auth.signed_url import DATE_FORMAT

log = Logger()

SUBSCRIBE = "SubscriptionConfirmation"
UNSUBSCRIBE = "UnsubscribeConfirmation"
KINDS = (SUBSCRIBE, UNSUBSCRIBE)


def confirmation_payload(signer, project, queue, subscription_id, lifetime, subscribe):
    """The notification that asks to confirm a subscription (or tells it was unconfirmed).

    :param signer: the service's :class:`~zaqar_tw.auth.signed_url.UrlSigner` (it can sign).
    :param lifetime: seconds the confirm URL stays valid.
    :param subscribe: ``True`` for a confirmation request, ``False`` for the note sent
        when the subscription was unconfirmed.
    :returns: ``{"Message_Type", "Message", "URL-Signature", "URL-Methods", "URL-Paths",
        "X-Project-ID", "URL-Expires", "SubscribeBody", "UnsubscribeBody", "queue_name"}``:
        the ``URL-*`` and ``X-Project-ID`` values are the headers of the confirming PUT.
    """
    path = f"/v2/queues/{queue}/subscriptions/{subscription_id}/confirm"
    expires = (signer.now() + timedelta(seconds=lifetime)).strftime(DATE_FORMAT)
    signed = signer.sign([path], ["PUT"], project, expires)
    if subscribe:
        message = f"You have chosen to subscribe to the queue: {queue}"
    else:
        message = (
            f"You have unsubscribed successfully to the queue: {queue}, you can resubscribe "
            "it by using confirmed=True."
        )
    return {
        "Message_Type": SUBSCRIBE if subscribe else UNSUBSCRIBE,
        "Message": message,
        "URL-Signature": signed["signature"],
        "URL-Methods": "PUT",
        "URL-Paths": path,
        "X-Project-ID": project,
        "URL-Expires": signed["expires"],
        "SubscribeBody": {"confirmed": True},
        "UnsubscribeBody": {"confirmed": False},
        "queue_name": queue,
    }


def deliver_confirmation(notifier, subscription, payload):
    """Hand one confirmation request to the notifier of its subscriber: the one call site
    of confirmation deliveries.

    :param subscription: the stored subscription plus ``"project"`` and ``"delivery"`` (as
        :meth:`~zaqar_tw.interfaces.INotifier.deliver` takes it).
    :returns: the Deferred of the notifier's ``deliver``.
    """
    return defer.maybeDeferred(notifier.deliver, subscription, payload)


class ConfirmationRequests:
    """Sends confirmation requests in the background: the operation that causes one never
    waits for it, and a failure is logged.

    :param config: the :class:`~zaqar_tw.config.Config`: ``[notification]
        require_confirmation``, ``[transport] default_subscription_ttl`` (the lifetime of
        the link of an unsubscribe note).
    :param signer: the service's :class:`~zaqar_tw.auth.signed_url.UrlSigner`.
    :param dispatcher: the :class:`~zaqar_tw.notify.dispatcher.Dispatcher` (which notifier
        serves a subscriber).
    """

    def __init__(self, config, signer, dispatcher):
        self.enabled = config.notification.require_confirmation
        self.default_ttl = config.transport.default_subscription_ttl
        self.signer = signer
        self.dispatcher = dispatcher
        self._in_flight = set()

    def request(self, project, queue, subscription, subscribe=True, traceparent=None):
        """Send the confirmation request (``subscribe``) or unsubscribe note of
        ``subscription`` (a stored subscription dict), when confirmation is required and a
        notifier serves it; never raises, never waits.

        :returns: a Deferred firing (with ``None``) once it was delivered or failed.
        """
        notifier = self.dispatcher.notifier_for(subscription["subscriber"])
        if not self.enabled or notifier is None or not self.signer.can_sign:
            return defer.succeed(None)
        lifetime = subscription["ttl"] if subscribe else self.default_ttl
        payload = confirmation_payload(
            self.signer, project, queue, subscription["id"], lifetime, subscribe
        )
        delivery = {"id": str(uuid4()), "message_id": None, "attempt": 1,
                    "traceparent": traceparent}
        work = deliver_confirmation(
            notifier, {**subscription, "project": project, "delivery": delivery}, payload
        )
        self._in_flight.add(work)

        def failed(failure):
            if not failure.check(defer.CancelledError):
                log.warn(
                    "confirmation request of subscription {subscription} of queue {queue} "
                    "(project {project}) failed: {reason}",
                    subscription=subscription["id"], queue=queue, project=project,
                    reason=failure.getErrorMessage(),
                )

        work.addCallbacks(lambda _: None, failed)
        work.addBoth(lambda _: self._in_flight.discard(work))
        return work

    def stop(self):
        """:returns: a Deferred firing once the requests in progress are done (each is
        bounded by its notifier's delivery timeout)."""
        pending = list(self._in_flight)
        return defer.DeferredList(pending, consumeErrors=True).addCallback(lambda _: None)
