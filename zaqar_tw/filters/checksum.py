"""The ``checksum`` filter: stores an MD5 checksum with each posted message (spec 3.11).

``[DEFAULT] enable_checksum = true`` runs it even when ``[filters] chain`` does not name it.
"""

import hashlib
import json

from zaqar_tw.filters.base import MessageFilter


def checksum(body):
    """The ``MD5:<hex>`` checksum of a message body, over its JSON as Python's default
    ``json.dumps`` writes it (so it matches the reference server's)."""
    return "MD5:" + hashlib.md5(json.dumps(body).encode("utf-8")).hexdigest()


class ChecksumFilter(MessageFilter):
    """Adds ``"checksum"`` to every posted message; the store keeps it and every read shows
    it."""

    def on_post(self, messages, queue_metadata, context):
        """:returns: the messages, each with its checksum."""
        for message in messages:
            message["checksum"] = checksum(message["body"])
        return messages
