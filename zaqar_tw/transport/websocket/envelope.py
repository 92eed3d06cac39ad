"""Frames and the envelope: decoding requests, encoding replies, and the one place the
WebSocket transport turns a domain error into a reply body.

A request is ``{"action", "headers", "body"}``; its reply is::

    {"request": {"action", "body", "headers", "api": "v2"},
     "body": <result>,
     "headers": {"status": <HTTP-like code>}}

Text messages carry JSON and binary messages MessagePack; a reply is encoded as its request
was.
"""

import json

import msgpack
import orjson

from zaqar_tw.core import values
from zaqar_tw.errors import TooManyRequests, ZaqarError

API = "v2"

UNEXPECTED = "Unexpected error."
NOT_AN_OBJECT = "Unexpected body type. Expected dict or dict like."
SCHEMA_FAILED = "Schema validation failed."

# The levels a request may have: a REST body's, plus the envelope's own.
ENVELOPE_DEPTH = values.MAX_DEPTH + 1


class FrameError(Exception):
    """A request that cannot be read: its text is the reply's ``error``."""


def decode(payload, binary):
    """Decode one request, under the rules of :mod:`zaqar_tw.core.values` (the envelope
    may nest one level more than a REST body, so that the values it carries nest as deep as
    over REST).

    :param payload: the message bytes.
    :param binary: whether it came in a binary message (MessagePack) or a text one (JSON).
    :returns: the decoded value (any JSON type).
    :raises FrameError: the payload does not decode, or holds a value that breaks a rule.
    """
    if binary:
        try:
            document = msgpack.unpackb(payload, raw=False)
            values.check_decoded(document, ENVELOPE_DEPTH)
            return document
        except Exception as exc:  # msgpack raises many unrelated types
            raise FrameError(
                f"Can't decode binary (MessagePack) request. {_describe(exc)}"
            ) from None
    try:
        return values.decode_json(payload, ENVELOPE_DEPTH)
    except values.ValueRefused as exc:
        raise FrameError(f"Can't decode text (JSON) request. {_describe(exc)}") from None
    except ValueError as exc:
        refused = exc
    # Only bad requests get here: the standard decoder gives the error its usual wording.
    try:
        json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise FrameError(f"Can't decode text (JSON) request. {_describe(exc)}") from None
    # What json accepts and orjson refuses (NaN, lone surrogates) is not JSON either.
    raise FrameError(f"Can't decode text (JSON) request. JSONDecodeError: {refused}")


def _describe(exc):
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _splice(value):
    """Let the core hand over message bodies already encoded as JSON bytes."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return orjson.Fragment(bytes(value))
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def encode(reply, binary):
    """Encode a reply as its request was encoded.

    :returns: the message bytes.
    :raises TypeError: the reply holds a value the encoding cannot carry.
    """
    if binary:
        return msgpack.packb(reply, use_bin_type=True)
    return orjson.dumps(reply, default=_splice)


_ECHO_KEYS = frozenset(("action", "headers", "body"))
_API_MEMBER = b',"api":"%s"}' % API.encode()


def echo(document=None, raw=None):
    """The ``request`` part of a reply: the request as sent (``action`` ``None`` and empty
    ``body`` and ``headers`` for one that could not be read).

    :param raw: the JSON text the document was decoded from, if it was: a request of
        exactly ``action``, ``headers`` and ``body`` is then echoed as those bytes plus
        ``"api"`` (an ``orjson.Fragment``), not encoded again.
    """
    if document is None:
        return {"action": None, "body": {}, "headers": {}, "api": API}
    if raw is not None and len(document) == 3 and document.keys() == _ECHO_KEYS:
        text = raw.rstrip(b" \t\r\n")
        if text.endswith(b"}"):
            return orjson.Fragment(text[:-1] + _API_MEMBER)
    return {
        "action": document.get("action"),
        "body": document.get("body", {}),
        "headers": document.get("headers", {}),
        "api": API,
    }


def reply(request, status, body):
    """A whole reply.

    :param request: the request echo (see :func:`echo`).
    :param status: the HTTP-like status code.
    :param body: the result: a document, a string, or ``{}``.
    """
    return {"request": request, "body": body, "headers": {"status": status}}


def framing_error(text, request=None, detail=None):
    """A 400 reply to a request that could not be read or understood.

    :param detail: what exactly is wrong, as the body's ``exception`` (so that ``error``
        keeps the text clients match, such as :data:`SCHEMA_FAILED`), or ``None``.
    """
    body = {"error": text}
    if detail is not None:
        body["exception"] = detail
    return reply(request or echo(), 400, body)


def error_body(error):
    """The body of a reply to a failed operation.

    * 400: ``{"exception": <message>, "error": null}``;
    * any other domain error (403, 404, 409, 503, ...): ``{"exception": <message>,
      "error": <message>}``, plus ``"retry_after": <whole seconds>`` for a 429 over a rate
      limit (REST's ``Retry-After``);
    * anything else (500): ``{"exception": <text>, "error": "Unexpected error."}``.

    :param error: the exception raised while answering.
    :returns: ``(status, body)``.
    """
    if isinstance(error, ZaqarError):
        message = error.description or error.title
        if error.status == 400:
            return 400, {"exception": message, "error": None}
        body = {"exception": message, "error": message}
        if isinstance(error, TooManyRequests) and error.retry_after is not None:
            body["retry_after"] = error.retry_after
        return error.status, body
    return 500, {"exception": str(error) or type(error).__name__, "error": UNEXPECTED}
