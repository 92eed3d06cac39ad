"""Message views both transports show alike: a popped message in the raw storage shape, and
the oldest/newest message of queue stats.

python-zaqarclient builds message objects from these items and rejects unknown keys, so each
view picks its keys.  Checksums show on REST only (spec 3.11): ``checksum`` says whether to
include a stored one.
"""

import time


def utc_iso(epoch):
    """Epoch seconds as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def popped_view(message, checksum=True):
    """A popped message: ``{"id", "age", "ttl", "body", "claim_id", "claim_count"
    [, "checksum"]}``."""
    view = {
        "id": message["id"],
        "age": message["age"],
        "ttl": message["ttl"],
        "body": message["body"],
        "claim_id": message.get("claim_id"),
        "claim_count": message.get("claim_count", 0),
    }
    return with_checksum(view, message) if checksum else view


def stats_view(message, checksum=True):
    """The oldest or newest message of queue stats, without its reference (REST adds
    ``href``, WebSocket ``id``): ``{"age", "ttl", "body", "claim_id", "claim_count",
    "created"[, "checksum"]}``."""
    view = {
        "age": message["age"],
        "ttl": message["ttl"],
        "body": message["body"],
        "claim_id": message.get("claim_id"),
        "claim_count": message.get("claim_count", 0),
        "created": utc_iso(message["created"]),
    }
    return with_checksum(view, message) if checksum else view


def with_checksum(view, message):
    """``view`` with the message's stored checksum, if it has one (REST)."""
    if message.get("checksum") is not None:
        view["checksum"] = message["checksum"]
    return view
