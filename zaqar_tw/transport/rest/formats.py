"""How REST shows the core's values: hrefs and the message shapes of the wire contract.

The core returns store message dicts (``id``, ``ttl``, ``age``, ``body``, ``claim_id``,
``claim_count``, ``created``, optional ``checksum``); each view below picks its keys, since
python-zaqarclient builds objects from the items and rejects unknown keys.
"""

from zaqar_tw.transport.views import stats_view, with_checksum


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


def message_view(queue, message, claim_id=None):
    """A message in listings, bulk get, single get and claims:
    ``{"id", "href", "ttl", "age", "body"[, "checksum"]}``.

    :param claim_id: the claim to show in the href; defaults to the message's own.
    """
    view = {
        "id": message["id"],
        "href": message_href(queue, message["id"], claim_id or message.get("claim_id")),
        "ttl": message["ttl"],
        "age": message["age"],
        "body": message["body"],
    }
    return with_checksum(view, message)


def stats_message_view(queue, message):
    """The ``oldest``/``newest`` message of queue stats, with its ``href``."""
    return dict(stats_view(message), href=message_href(queue, message["id"]))
