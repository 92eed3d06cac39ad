"""Rendering of domain errors as HTTP responses: the one place REST turns a
:class:`zaqar_tw.errors.ZaqarError` into bytes on the wire.

The body is ``{"title": ..., "description": ...}`` (description left out when the error has
none) as ``application/json``, with ``Vary: Accept`` and the error's own headers.  A client
whose ``Accept`` header prefers XML gets the same fields as an ``<error>`` document; a
client accepting neither JSON nor XML (``text/plain``) gets an empty body.
"""

from xml.sax.saxutils import escape

import orjson

from zaqar_tw.errors import NotAcceptable

JSON = "application/json"

# Candidates in order of precedence on a tie (the last one wins a tie).
_ERROR_MEDIA = ("application/xml", "text/xml", JSON)


def parse_accept(header):
    """Parse an ``Accept`` header.

    :param header: the header's text, or ``None`` when absent (same as ``*/*``).
    :returns: a list of ``(type, subtype, quality)`` tuples, lowercase.
    """
    if header is None or not header.strip():
        return [("*", "*", 1.0)]
    ranges = []
    for item in header.split(","):
        parts = [part.strip() for part in item.split(";")]
        media = parts[0].lower()
        if not media:
            continue
        if media == "*":
            media = "*/*"
        kind, _, subtype = media.partition("/")
        quality = 1.0
        for param in parts[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 0.0
        ranges.append((kind, subtype or "*", quality))
    return ranges


def quality(media_type, ranges):
    """The quality and fitness that parsed ``Accept`` ranges give a media type.

    The most specific matching range decides (an exact type beats ``type/*`` beats ``*/*``).

    :returns: ``(quality, fitness)``; quality ``0.0`` when no range matches.
    """
    kind, _, subtype = media_type.partition("/")
    best_fitness, best_quality = -1, 0.0
    for r_kind, r_subtype, r_quality in ranges:
        if r_kind not in (kind, "*") or r_subtype not in (subtype, "*"):
            continue
        fitness = (100 if r_kind == kind else 0) + (10 if r_subtype == subtype else 0)
        if fitness > best_fitness:
            best_fitness, best_quality = fitness, r_quality
    return best_quality, best_fitness


def accepts_json(header):
    """Whether an ``Accept`` header (``None`` when absent) allows ``application/json``."""
    return quality(JSON, parse_accept(header))[0] > 0.0


def error_media_type(header):
    """The media type of an error body for this ``Accept`` header, or ``None`` for none."""
    ranges = parse_accept(header)
    scored = [
        (quality(media, ranges), position, media)
        for position, media in enumerate(_ERROR_MEDIA)
    ]
    (best_quality, _), _, media = max(scored)
    if best_quality > 0.0:
        return media
    lowered = (header or "").lower()
    if "+json" in lowered:
        return JSON
    if "+xml" in lowered:
        return "application/xml"
    return None


def not_acceptable():
    """The 406 error of a request whose ``Accept`` header excludes JSON."""
    return NotAcceptable(
        "This service answers in application/json only; accept it in the Accept header.",
        title="406 Not Acceptable",
    )


def error_body(error, media_type):
    """Serialise an error's fields for a media type (``None`` gives an empty body)."""
    if media_type is None:
        return b""
    fields = error.to_dict()
    if media_type == JSON:
        return orjson.dumps(fields)
    inner = "".join(
        f"<{name}>{escape(str(value))}</{name}>" for name, value in fields.items()
    )
    return f'<?xml version="1.0" encoding="UTF-8"?><error>{inner}</error>'.encode("utf-8")


def render_error(request, error):
    """Write an error's status and headers to a request.

    :param request: the :class:`twisted.web.server.Request` being answered.
    :param error: a :class:`zaqar_tw.errors.ZaqarError`.
    :returns: the body bytes.
    """
    accept = request.getHeader(b"accept")
    media_type = error_media_type(None if accept is None else accept.decode("latin-1"))
    body = error_body(error, media_type)
    request.setResponseCode(error.status)
    for name, value in error.headers.items():
        request.setHeader(name, str(value))
    if media_type is not None:
        request.setHeader(b"content-type", media_type)
    request.responseHeaders.addRawHeader(b"vary", b"Accept")
    request.setHeader(b"content-length", b"%d" % len(body))
    return body
