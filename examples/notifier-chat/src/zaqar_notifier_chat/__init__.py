"""The ``chat`` notifier for zaqar-tw: a worked example of a third-party notifier.

It serves subscribers ``chat+http://...`` and ``chat+https://...``: each notification is
POSTed to the URL without its ``chat+`` prefix as a chat incoming-webhook document (the shape
Slack and Mattermost accept)::

    {"text": "<queue>: <message body as compact JSON>", "username": ..., "channel": ...}

``username`` and ``channel`` come from the subscription's options when it has them.  The HTTP
side (timeout, pooled connections, what counts as a failure) is zaqar-tw's own webhook
client, reused through :meth:`zaqar_tw.notify.webhook.WebhookNotifier.post`.
"""

import json

from zope.interface import implementer

from zaqar_tw.interfaces import INotifier
from zaqar_tw.notify.webhook import WebhookNotifier

PREFIX = "chat+"
ELLIPSIS = "…"


@implementer(INotifier)
class ChatNotifier:
    """Posts each notification as one chat message.

    Options (section ``[notifier:chat]``):

    * ``max_length``: the longest ``text`` sent, in characters; longer ones are cut and end
      with an ellipsis (default 4000, at least 10).

    :raises ValueError: a bad option value (zaqar-tw refuses to start, naming it).
    """

    schemes = ("chat+http", "chat+https")
    # What [notifier:chat] may hold: zaqar-tw refuses to start on any other name (a typo).
    known_options = ("max_length",)

    def __init__(self, reactor, config, options):
        try:
            self.max_length = int(options.get("max_length", "4000"))
        except ValueError:
            raise ValueError("max_length must be a whole number") from None
        if self.max_length < 10:
            raise ValueError("max_length must be at least 10")
        self.http = WebhookNotifier(reactor, config, {})

    def document(self, subscription, payload):
        """The chat document announcing ``payload`` to ``subscription``."""
        body = json.dumps(payload["body"], separators=(",", ":"), ensure_ascii=False)
        text = f"{payload['queue_name']}: {body}"
        if len(text) > self.max_length:
            text = text[: self.max_length - len(ELLIPSIS)] + ELLIPSIS
        document = {"text": text}
        options = subscription.get("options") or {}
        for key in ("username", "channel"):
            if isinstance(options.get(key), str):
                document[key] = options[key]
        return document

    def deliver(self, subscription, payload):
        """POST the chat document to the subscriber URL without ``chat+``.

        :returns: the Deferred of :meth:`WebhookNotifier.post`: fires once the chat server
            answered below 400, fails otherwise.
        """
        url = subscription["subscriber"][len(PREFIX):]
        body = json.dumps(self.document(subscription, payload), ensure_ascii=False)
        return self.http.post(url, {"Content-Type": "application/json"}, body.encode("utf-8"))
