"""Signed webhooks, as the Standard Webhooks specification defines them: when a
subscription's options carry a ``secret``, each delivery says who sent it and when, so the
receiver can check it came from this service, unchanged, and recently.

The secret is ``whsec_`` followed by the base64 of 24 to 64 random bytes (the key).  Each
delivery carries ``webhook-id`` (the delivery id, the same on every attempt of one
delivery: receivers de-duplicate with it), ``webhook-timestamp`` (seconds since the epoch,
of this attempt) and ``webhook-signature``: ``v1,`` and the base64 of the HMAC-SHA256, keyed
with the key, of ``<webhook-id>.<webhook-timestamp>.<body>``.
"""

import base64
import binascii
import hashlib
import hmac
import re

PREFIX = "whsec_"
MIN_KEY, MAX_KEY = 24, 64  # bytes
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
SECRET_FORM = (
    f"options.secret must be a Standard Webhooks secret: {PREFIX} followed by the base64 "
    f"of {MIN_KEY} to {MAX_KEY} random bytes."
)


def signing_key(secret):
    """The key of a secret.

    :param secret: ``whsec_<base64>`` (padded or not).
    :returns: the key (bytes).
    :raises ValueError: not of that form, or a key of another length (the message is
        :data:`SECRET_FORM`).
    """
    if not isinstance(secret, str) or not secret.startswith(PREFIX):
        raise ValueError(SECRET_FORM)
    encoded = secret[len(PREFIX):]
    if not _BASE64.fullmatch(encoded):
        raise ValueError(SECRET_FORM)
    try:
        key = base64.b64decode(encoded.rstrip("=") + "=" * (-len(encoded.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        raise ValueError(SECRET_FORM) from None
    if not MIN_KEY <= len(key) <= MAX_KEY:
        raise ValueError(SECRET_FORM)
    return key


def signature_headers(secret, delivery_id, timestamp, body):
    """The headers that sign one delivery attempt.

    :param secret: the subscription's ``options.secret`` (checked when it was stored).
    :param delivery_id: the delivery's stable id.
    :param timestamp: the attempt's time, in seconds since the epoch.
    :param body: the request body (bytes), exactly as sent.
    :returns: ``{"webhook-id", "webhook-timestamp", "webhook-signature"}``.
    """
    stamp = str(int(timestamp))
    signed = f"{delivery_id}.{stamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return {
        "webhook-id": delivery_id,
        "webhook-timestamp": stamp,
        "webhook-signature": "v1," + base64.b64encode(digest).decode("ascii"),
    }
