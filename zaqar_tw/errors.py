"""The one family of domain errors.

The core and the stores raise these; each transport renders them in one place (REST:
``transport/rest/errors.py``).  Every error carries the HTTP-like status, the title and the
description of the wire contract, so a transport never has to guess what went wrong.
"""

import math


class ZaqarError(Exception):
    """Base of every error a client may see.

    :ivar status: the HTTP-like status code.
    :ivar title: the short title of the error body.
    :ivar description: the long text, or ``None`` when the body has no description.
    :ivar headers: extra response headers (name to value).
    """

    status = 500
    title = "Internal server error"

    def __init__(self, description=None, title=None, headers=None):
        super().__init__(description or title or self.title)
        self.description = description
        if title is not None:
            self.title = title
        self.headers = dict(headers or {})

    def to_dict(self):
        """The error as the ``{"title", "description"}`` object of the wire contract."""
        body = {"title": self.title}
        if self.description is not None:
            body["description"] = self.description
        return body


class BadRequest(ZaqarError):
    """400: the request is malformed or breaks a limit."""

    status = 400
    title = "Invalid API request"


class InvalidBody(BadRequest):
    """400 for a body that cannot be parsed or has the wrong shape."""

    title = "Invalid request body"


class InvalidParameter(BadRequest):
    """400 for a query parameter of the wrong type."""

    title = "Invalid parameter"


class MalformedClientId(BadRequest):
    """400 for a Client-ID that is not a UUID (where the configuration wants one)."""

    title = "Wrong UUID value"

    def __init__(self):
        super().__init__("Malformed hexadecimal UUID.")


class Unauthorized(ZaqarError):
    """401: the caller's credential is missing, invalid or expired.

    The body is keystonemiddleware's (``{"error": {"code", "title", "message"}}``), which
    Zaqar's clients and test suites expect.
    """

    status = 401
    title = "Unauthorized"

    def __init__(self, description="The request you have made requires authentication.",
                 headers=None):
        super().__init__(description, headers=headers)

    def to_dict(self):
        """keystonemiddleware's 401 body."""
        return {"error": {"code": 401, "title": self.title, "message": self.description}}


class Forbidden(ZaqarError):
    """403: the caller may not do this."""

    status = 403
    title = "Not authorized"


class NotFound(ZaqarError):
    """404: the resource does not exist."""

    status = 404
    title = "Not found"


class InvalidSignature(NotFound):
    """404 for a request whose pre-signed URL headers do not prove it may be served (spec
    0.1 hook 1): the body says no more than an unknown path's would."""

    def __init__(self):
        super().__init__(title="404 Not Found")


class MethodNotAllowed(ZaqarError):
    """405: the path exists but not with this method."""

    status = 405
    title = "405 Method Not Allowed"


class NotAcceptable(ZaqarError):
    """406: the client does not accept JSON."""

    status = 406
    title = "Media type not acceptable"


class Conflict(ZaqarError):
    """409: the request conflicts with the resource's state."""

    status = 409
    title = "Resource conflict"


class TooManyRequests(ZaqarError):
    """429: a limit of the caller's project is reached (see :mod:`zaqar_tw.core.limits`).

    :ivar retry_after: whole seconds after which a retry may succeed, or ``None`` when no
        wait helps (a quota frees only when something is deleted or expires).
    """

    status = 429
    title = "Too many requests"
    retry_after = None


class RateLimited(TooManyRequests):
    """429: the project made more requests of one class than its token bucket allows.

    The HTTP headers are ``Retry-After`` and the ``RateLimit-Policy`` and ``RateLimit``
    fields of draft-ietf-httpapi-ratelimit-headers-11 (structured fields, one policy per
    class named after it): ``RateLimit-Policy: "write";q=<burst>;w=<seconds an empty
    bucket takes to fill>`` and ``RateLimit: "write";r=<requests left>;t=<seconds until
    the next one>``.

    :param policy: the class of the operation (``"read"``, ``"write"``...).
    :param rate: the requests per second the bucket refills with.
    :param burst: the bucket's size.
    :param remaining: the whole requests left in the bucket.
    :param wait: seconds until the next request is allowed.
    """

    def __init__(self, policy, rate, burst, remaining, wait):
        self.retry_after = max(1, math.ceil(wait))
        window = max(1, math.ceil(burst / rate))
        super().__init__(
            f"Rate limit exceeded for {policy} requests: {burst} at once, {rate:.15g} per second "
            f"on average. Retry in {self.retry_after} s.",
            headers={
                "Retry-After": self.retry_after,
                "RateLimit-Policy": f'"{policy}";q={burst};w={window}',
                "RateLimit": f'"{policy}";r={remaining};t={self.retry_after}',
            },
        )


class QuotaExceeded(TooManyRequests):
    """429: the request would take a project or a queue past a quota.

    It carries no ``Retry-After``: a quota does not refill with time.

    :param quota: ``"queues"`` (per project), ``"messages"`` (live messages per queue) or
        ``"subscriptions"`` (live subscriptions per queue).
    :param limit: the quota's value.
    """

    title = "Quota exceeded"
    _TEXTS = {
        "queues": "Queue quota exceeded: a project may have at most {} queues.",
        "messages": "Message quota exceeded: a queue may hold at most {} messages.",
        "subscriptions": "Subscription quota exceeded: a queue may have at most {} "
                         "subscriptions.",
    }

    def __init__(self, quota, limit):
        self.quota = quota
        self.limit = limit
        super().__init__(self._TEXTS[quota].format(limit))


class UnsupportedMediaType(ZaqarError):
    """415: the request body has the wrong media type."""

    status = 415
    title = "415 Unsupported Media Type"


class Unavailable(ZaqarError):
    """503: the store could not be reached or failed."""

    status = 503
    title = "Service temporarily unavailable"


# Storage-level outcomes.  Stores raise these; their texts are the wire contract's.


class StoreUnavailable(Exception):
    """The store cannot be reached or failed; the core turns it into :class:`Unavailable`
    with the description of the operation that failed."""


class WriteNotReplicated(StoreUnavailable):
    """A write was applied by the store's master but fewer replicas than asked for confirmed
    it in time, so a failover now could lose it; the core's 503 says so."""

    def __init__(self, wanted, replicas, timeout):
        self.wanted = wanted
        self.replicas = replicas
        super().__init__(
            f"The write was made, but only {replicas} of the {wanted} replica(s) required "
            f"confirmed it within {timeout:g} s: it may still have taken effect (a message "
            "may still exist), or be lost if the store fails over now."
        )


class MetadataChanged(Exception):
    """A compare-and-set of queue metadata found it changed since it was read."""


class QueueDoesNotExist(NotFound):
    """The queue does not exist."""

    def __init__(self, queue, project):
        super().__init__(f"Queue {queue} does not exist for project {project}")


class MessageDoesNotExist(NotFound):
    """The message does not exist (or has expired)."""

    def __init__(self, message_id, queue, project):
        super().__init__(
            f"Message {message_id} does not exist in queue {queue} for project {project}"
        )


class ClaimDoesNotExist(NotFound):
    """The claim does not exist (or has expired)."""

    def __init__(self, claim_id, queue, project):
        super().__init__(
            f"Claim {claim_id} does not exist in queue {queue} for project {project}"
        )


class SubscriptionDoesNotExist(NotFound):
    """The subscription does not exist in this queue (or has expired)."""

    def __init__(self, subscription_id):
        super().__init__(f"Subscription {subscription_id} does not exist")


class SubscriptionAlreadyExists(Conflict):
    """Another live subscription of the queue has this subscriber URI."""

    def __init__(self):
        super().__init__(
            "Such subscription already exists.Subscriptions are unique by project + queue "
            "+ subscriber URI."
        )


class MessageIsClaimed(Forbidden):
    """A claimed message was deleted without its claim id, or with another live claim's id."""

    title = "Unable to delete"

    def __init__(self):
        super().__init__(
            "This message is claimed; it cannot be deleted without a valid claim ID."
        )


class MessageNotClaimed(BadRequest):
    """A claim id was given for a message that is not currently claimed."""

    title = "Unable to delete"

    def __init__(self):
        super().__init__(
            "A claim was specified, but the message is not currently claimed."
        )


class ClaimNotValid(BadRequest):
    """A claim id was given that is malformed, unknown or expired."""

    title = "Unable to delete"

    def __init__(self):
        super().__init__("The specified claim does not exist or has expired.")


class PayloadTooLarge(ZaqarError):
    """413: the request body is larger than any operation accepts."""

    status = 413
    title = "Request body too large"
