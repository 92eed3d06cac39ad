"""The ``stamp`` message filter for zaqar-tw: a worked example of a third-party filter.

On the way in, each object body gets ``"received_by": <[filter:stamp] received_by>`` (a value
the poster sent under that key is replaced).  On the way out, the top-level body keys listed
in ``[filter:stamp] redact`` read ``"[redacted]"``, unless the reader holds the role
``[filter:stamp] reveal_to``.  Bodies that are not JSON objects pass untouched.
"""

import socket

from zaqar_tw.filters import MessageFilter

REDACTED = "[redacted]"


def _names(text):
    return tuple(name.strip() for name in text.split(",") if name.strip())


class StampFilter(MessageFilter):
    """Stamps posted bodies and redacts keys from readers without a role.

    Options (section ``[filter:stamp]``):

    * ``received_by``: the stamp (default: this host's name).
    * ``redact``: comma-separated top-level body keys to hide from readers (default: none).
    * ``reveal_to``: the role that sees redacted keys anyway (default: ``admin``).
    """

    # Both hooks work on the bodies alone: reading the queue's metadata would cost a store
    # round trip on every read for nothing.
    needs_metadata = False
    # What [filter:stamp] may hold: zaqar-tw refuses to start on any other name (a typo).
    known_options = ("received_by", "redact", "reveal_to")

    def __init__(self, config, options):
        super().__init__(config, options)
        self.received_by = options.get("received_by") or socket.gethostname()
        self.redact = _names(options.get("redact", ""))
        self.reveal_to = options.get("reveal_to", "admin").strip()

    def on_post(self, messages, queue_metadata, context):
        """:returns: the messages, each object body stamped."""
        for message in messages:
            if isinstance(message["body"], dict):
                message["body"]["received_by"] = self.received_by
        return messages

    def on_read(self, messages, queue_metadata, context):
        """:returns: the messages, with the ``redact`` keys hidden unless the reader may see
        them."""
        if not self.redact or self.reveal_to in context.roles:
            return messages
        for message in messages:
            body = message["body"]
            if isinstance(body, dict):
                for name in self.redact:
                    if name in body:
                        body[name] = REDACTED
        return messages
