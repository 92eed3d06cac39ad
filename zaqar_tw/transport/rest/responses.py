"""Writing success responses and reading request bodies.

JSON bodies are UTF-8 without ASCII escaping, typed ``application/json`` (no charset).
Every response carries an explicit ``Content-Length``; empty responses carry no
``Content-Type`` unless asked for (a ``201`` from ``PUT`` is typed ``application/json``).
"""

import orjson

JSON = b"application/json"


def _splice(value):
    """Let the core hand over message bodies already encoded as JSON bytes."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return orjson.Fragment(bytes(value))
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def dumps(document):
    """Encode a document as JSON bytes (pre-encoded ``bytes`` values are spliced in)."""
    return orjson.dumps(document, default=_splice)


def json_response(request, document, status=200, headers=None, content_type=JSON):
    """Answer with a JSON document.

    :param request: the request being answered.
    :param document: the JSON-serialisable document.
    :param status: the status code.
    :param headers: extra headers (name to text value).
    :returns: the body bytes, for the handler to return.
    """
    body = dumps(document)
    return raw_response(request, body, status, headers, content_type)


def raw_response(request, body, status=200, headers=None, content_type=JSON):
    """Answer with body bytes already encoded."""
    request.setResponseCode(status)
    for name, value in (headers or {}).items():
        request.setHeader(name, value)
    if content_type is not None:
        request.setHeader(b"content-type", content_type)
    request.setHeader(b"content-length", b"%d" % len(body))
    return body


def empty_response(request, status=204, headers=None, content_type=None):
    """Answer with an empty body (``Content-Length: 0``).

    :param content_type: a Content-Type to send anyway (``201`` from ``PUT``), or ``None``.
    """
    return raw_response(request, b"", status, headers, content_type)


def read_body(request):
    """The raw request body.

    :returns: the bytes, or ``None`` when the request had no ``Content-Length`` header (no
        body, or a chunked upload): the core answers "Request body can not be empty" then.
    """
    if request.getHeader(b"content-length") is None:
        return None
    request.content.seek(0)
    return request.content.read()


def header(request, name):
    """A request header as text (``None`` when absent)."""
    value = request.getHeader(name)
    return None if value is None else value.decode("latin-1")
