"""How REST shows the core's values: hrefs and the message shapes of the wire contract.

The core returns store message dicts (``id``, ``ttl``, ``age``, ``body``, ``claim_id``,
``claim_count``, ``created``, optional ``checksum``); each view below picks its keys, since
python-zaqarclient builds objects from the items and rejects unknown keys.
"""

import time


def queue_href(queue):
    """``/v2/queues/<queue>``"""
    return f"/v2/queues/{queue}"


def message_href(queue, message_id, claim_id=None):
    """A message's href, with ``?claim_id=`` when it is held by a claim."""
    href = f"/v2/queues/{queue}/messages/{message_id}"
    return f"{href}?claim_id={claim_id}" if claim_id else href


def claim_href(queue, claim_id):
    """``/v2/queues/<queue>/claims/<claim_id>``"""
    return f"/v2/queues/{queue}/claims/{claim_id}"


def _with_checksum(item, message):
    checksum = message.get("checksum")
    if checksum is not None:
        item["checksum"] = checksum
    return item


def message_view(queue, message, claim_id=None):
    """A message in listings, bulk get, single get and claims:
    ``{"id", "href", "ttl", "age", "body"[, "checksum"]}``.

    :param claim_id: the claim to show in the href; defaults to the message's own.
    """
    return _with_checksum(
        {
            "id": message["id"],
            "href": message_href(queue, message["id"], claim_id or message.get("claim_id")),
            "ttl": message["ttl"],
            "age": message["age"],
            "body": message["body"],
        },
        message,
    )


def popped_view(message):
    """A message returned by pop, in the raw storage shape (no href):
    ``{"id", "age", "ttl", "body", "claim_id", "claim_count"[, "checksum"]}``."""
    return _with_checksum(
        {
            "id": message["id"],
            "age": message["age"],
            "ttl": message["ttl"],
            "body": message["body"],
            "claim_id": message.get("claim_id"),
            "claim_count": message.get("claim_count", 0),
        },
        message,
    )


def utc_iso(epoch):
    """Epoch seconds as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def stats_message_view(queue, message):
    """The ``oldest``/``newest`` message of queue stats."""
    return _with_checksum(
        {
            "age": message["age"],
            "ttl": message["ttl"],
            "body": message["body"],
            "claim_id": message.get("claim_id"),
            "claim_count": message.get("claim_count", 0),
            "created": utc_iso(message["created"]),
            "href": message_href(queue, message["id"]),
        },
        message,
    )
