"""How a notifier tells the dispatcher what a failed delivery means.

A notifier's ``deliver`` fails with :class:`DeliveryFailed` to say whether the attempt may
be retried and when; any other exception counts as a retryable failure (a connection error,
a timeout).  The dispatcher's retry policy (spec 5.4) decides how often and how late.
"""


class DeliveryFailed(Exception):
    """One delivery attempt failed.

    :param reason: what happened, for the subscription's failure record and the log (text,
        without credentials).
    :param permanent: ``True`` when retrying cannot help (an HTTP 4xx other than 408 and
        429, an SMTP 5xx): the delivery ends at once.
    :param retry_after: seconds the subscriber asked to wait before the next attempt
        (HTTP ``Retry-After``), or ``None``.
    """

    def __init__(self, reason, permanent=False, retry_after=None):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after
