"""The built-in ``webhook`` notifier: one HTTP POST per notification to ``http`` and
``https`` subscribers.

The request carries ``Content-Type: application/json`` and the subscription's
``options.post_headers`` (a JSON object, merged over it).  Its body is the payload as JSON,
or, when the subscription has ``options.post_data`` (a string), that string with the literal
``"$zaqar_message$"`` (double quotes included) replaced by the payload JSON.  When the
subscription's ``options.secret`` is set, the request is signed with Standard Webhooks
headers (see :mod:`zaqar_tw.notify.signing`), which ``post_headers`` cannot override; a
delivery caused by a traced request carries its ``traceparent``.

An attempt fails when the subscriber cannot be reached, does not answer within
``[notification] delivery_timeout`` seconds, or answers with a status of 400 or more; a
refusal says whether a retry may help (see :class:`DeliveryRefused`).  A failed attempt is
not retried yet, and nothing is kept across restarts: retries and a durable outbox are left
for a later version.

Subscribers on the operator's own network are refused, when subscribed and at each delivery
(see :mod:`zaqar_tw.notify.addresses`).
"""

import json
from urllib.parse import urlsplit

from twisted.internet.defer import CancelledError, ensureDeferred
from twisted.web.client import Agent, HTTPConnectionPool, ResponseNeverReceived
from twisted.web.http_headers import Headers
from zope.interface import implementer

from zaqar_tw.errors import BadRequest
from zaqar_tw.http_body import BytesBody, read_body
from zaqar_tw.interfaces import INotifier
from zaqar_tw.notify.addresses import OPTION, AddressPolicy, VettedEndpointFactory
from zaqar_tw.notify.outcome import DeliveryFailed
from zaqar_tw.notify.signing import signature_headers

PLACEHOLDER = '"$zaqar_message$"'


class DeliveryRefused(DeliveryFailed):
    """The subscriber answered with an HTTP error status: permanent for a 4xx other than
    408 and 429, retryable otherwise, honouring a ``Retry-After`` of seconds.

    :ivar status: the status code.
    """

    def __init__(self, status, retry_after=None):
        super().__init__(
            f"the subscriber answered {status}",
            permanent=400 <= status < 500 and status not in (408, 429),
            retry_after=retry_after,
        )
        self.status = status


def retry_after_seconds(headers):
    """The ``Retry-After`` of a response as seconds (``None`` when absent or not a
    non-negative number of seconds; HTTP dates count as absent)."""
    values = headers.getRawHeaders(b"retry-after") or []
    try:
        seconds = float(values[0]) if values else None
    except ValueError:
        return None
    return seconds if seconds is not None and 0 <= seconds < float("inf") else None


def request_body(payload, options):
    """The bytes to POST for ``payload`` under the subscription ``options``."""
    document = json.dumps(payload, separators=(",", ":"))
    template = options.get("post_data")
    if isinstance(template, str):
        return template.replace(PLACEHOLDER, document).encode("utf-8")
    return document.encode("utf-8")


def request_headers(options):
    """The request headers (a dict): ``Content-Type: application/json``, then
    ``options.post_headers`` (string names and values only) merged over it."""
    headers = {"Content-Type": "application/json"}
    extra = options.get("post_headers")
    if isinstance(extra, dict):
        for name, value in extra.items():
            if isinstance(name, str) and isinstance(value, str):
                _replace(headers, name, value)
    return headers


def _replace(headers, name, value):
    """Set ``headers[name]``, dropping any header of that name in another case."""
    for existing in [key for key in headers if key.lower() == name.lower()]:
        del headers[existing]
    headers[name] = value


@implementer(INotifier)
class WebhookNotifier:
    """POSTs each notification to its ``http``/``https`` subscriber URI, over a pool of
    persistent connections.

    :param reactor: the reactor the HTTP client connects with.
    :param config: the :class:`~zaqar_tw.config.Config`; ``[notification]
        delivery_timeout`` bounds each attempt, ``allow_private_subscribers`` names the
        non-public addresses that may be reached.
    :param options: the ``[notifier:webhook]`` section (no options yet; must be empty).
    :param clock: the ``IReactorTime`` timing attempts out (default: ``reactor``).
    :raises ValueError: ``options`` names an option.
    :raises ConfigError: ``allow_private_subscribers`` holds a bad entry.
    """

    schemes = ("http", "https")

    def __init__(self, reactor, config, options, clock=None):
        if options:
            raise ValueError(f"unknown option(s): {', '.join(sorted(options))}")
        self.timeout = config.notification.delivery_timeout
        self.clock = reactor if clock is None else clock
        self.pool = HTTPConnectionPool(reactor, persistent=True)
        # As many kept-alive connections per subscriber host as deliveries may run at once
        # (Twisted keeps 2): otherwise most deliveries to a busy host open a new connection.
        self.pool.maxPersistentPerHost = config.notification.max_notifier_workers
        self.addresses = AddressPolicy.from_config(config)
        self.agent = Agent.usingEndpointFactory(
            reactor, VettedEndpointFactory(reactor, self.addresses, self.timeout),
            pool=self.pool,
        )

    def check_subscriber(self, subscriber):
        """Refuse a subscriber whose host is not public (see
        :meth:`~zaqar_tw.notify.addresses.AddressPolicy.check_host`).

        :raises BadRequest: it is refused.
        """
        try:
            host = urlsplit(subscriber).hostname or ""
        except ValueError:
            host = ""
        refusal = self.addresses.check_host(host)
        if refusal is not None:
            raise BadRequest(
                f"The subscriber {subscriber} is refused: {refusal}; webhooks may reach "
                f"public addresses only, unless the operator allows others in {OPTION}."
            )

    def deliver(self, subscription, payload):
        """POST one notification (see :meth:`post` for the outcome)."""
        options = subscription.get("options") or {}
        headers = request_headers(options)
        body = request_body(payload, options)
        delivery = subscription.get("delivery") or {}
        if delivery.get("traceparent"):
            _replace(headers, "traceparent", delivery["traceparent"])
        if options.get("secret"):
            signed = signature_headers(
                options["secret"], delivery["id"], self.clock.seconds(), body
            )
            for name, value in signed.items():
                _replace(headers, name, value)
        return self.post(subscription["subscriber"], headers, body)

    def post(self, url, headers, body):
        """POST ``body`` to ``url`` within the delivery timeout; other notifiers may reuse
        this (see examples/notifier-chat).

        :param url: an ``http`` or ``https`` URL (text).
        :param headers: a dict of header names to values (text).
        :param body: the request body (bytes).
        :returns: Deferred firing with ``None`` once the server answered below 400;
            failing with :class:`DeliveryRefused` (status of 400 or more),
            ``twisted.internet.defer.TimeoutError`` (no complete answer in time) or the
            connection error.
        """
        attempt = ensureDeferred(self._post(url, headers, body))
        return attempt.addTimeout(self.timeout, self.clock)

    async def _post(self, url, headers, body):
        headers = Headers({name: [value] for name, value in headers.items()})
        try:
            response = await self.agent.request(
                b"POST", url.encode("utf-8"), headers, BytesBody(body)
            )
        except ResponseNeverReceived as exc:
            # A request cancelled in flight (timed out) fails this way; say it plainly.
            if any(reason.check(CancelledError) for reason in exc.reasons):
                raise CancelledError() from None
            raise
        await read_body(response, keep=False)
        if response.code >= 400:
            raise DeliveryRefused(response.code, retry_after_seconds(response.headers))
