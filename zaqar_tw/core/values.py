"""The one set of rules every JSON or MessagePack value entering the service meets.

Whatever carries it (a REST body, a WebSocket text or binary request), a value is read by one
parser per encoding (orjson for JSON, msgpack for MessagePack) and then holds:

* at most :data:`MAX_DEPTH` levels of arrays and objects (checked without recursion, before
  anything recursive sees the value: orjson itself writes at most 254 levels, and the
  replies wrap a request's values in a few levels of their own);
* integers in the signed 64-bit range (an integer literal past it would silently become a
  float);
* finite numbers only (JSON has no NaN or infinity; ``1e999`` would become ``null``);
* text only in strings and object keys (no lone surrogates, no bytes or extension types).

A value that breaks a rule is refused as sent, never altered.
"""

import math
import re

import orjson

MAX_DEPTH = 100
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# Digits become "0", everything else a space: a run of 19 digits, the shortest integer that
# may fall outside 64 bits, is then a plain substring search.
_DIGIT_RUNS = bytes(48 if 48 <= c <= 57 else 32 for c in range(256))
_LONG_RUN = b"0" * 19
# The tokens of a valid JSON text that may hold digits: strings, whose digits do not count,
# and numbers, whole (an integer literal has neither fraction nor exponent).
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?', re.DOTALL)
_SCALARS = (str, bool, type(None))


class ValueRefused(ValueError):
    """A value breaks a rule; the message says which, as the client may read it."""


class TooLargeInteger(ValueRefused):
    """An integer outside the signed 64-bit range."""

    def __init__(self):
        super().__init__("JSON contains integer that is too large.")


class TooDeep(ValueRefused):
    """More than :data:`MAX_DEPTH` levels of arrays and objects."""

    def __init__(self, limit):
        super().__init__(f"The document nests too deeply: more than {limit} levels.")


def depth(value, limit):
    """How deeply a value nests: 0 for a scalar, one more for each enclosing array or object
    (``{"a": [1]}`` has depth 2); iterative, so any value may be measured.

    :param limit: stop looking once the depth exceeds this.
    :returns: the depth, or more than ``limit`` (not the whole depth) if it is deeper.
    """
    deepest = 0
    stack = [(value, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if level > limit:
            return level
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


def decode_json(raw, max_depth=MAX_DEPTH):
    """Read a JSON text: the one JSON parser of requests.

    :param raw: the bytes (UTF-8).
    :param max_depth: the most levels allowed.
    :returns: the decoded value (any JSON type).
    :raises orjson.JSONDecodeError: not JSON (a ``ValueError``; NaN, infinity and lone
        surrogates are not JSON).
    :raises ValueRefused: valid JSON that breaks a rule of the module.
    """
    document = orjson.loads(raw)
    raw = bytes(raw)
    if _LONG_RUN in raw.translate(_DIGIT_RUNS):
        _check_integer_literals(raw)
    # A value cannot nest deeper than it has brackets: most requests need no walk at all.
    if raw.count(b"[") + raw.count(b"{") > max_depth and depth(document, max_depth) > max_depth:
        raise TooDeep(max_depth)
    return document


def _check_integer_literals(raw):
    """:raises TooLargeInteger: an integer literal of ``raw`` (valid JSON) does not fit."""
    for token in _TOKENS.finditer(raw):
        text = token.group()
        if (
            text[0] != 34  # '"'
            and token.group(1) is None
            and token.group(2) is None
            and len(text) >= 19
            and not INT64_MIN <= int(text) <= INT64_MAX
        ):
            raise TooLargeInteger()


def check_decoded(value, max_depth=MAX_DEPTH):
    """Check a value another parser decoded (MessagePack) against the rules of the module,
    and that it holds only what JSON can (string keys, no bytes, no extension types).

    :raises ValueRefused: what breaks a rule.
    """
    stack = [(value, 0)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict):
            if level >= max_depth:
                raise TooDeep(max_depth)
            for key, item in value.items():
                if not isinstance(key, str):
                    raise ValueRefused(
                        f"object keys must be strings, not {type(key).__name__}"
                    )
                stack.append((item, level + 1))
        elif isinstance(value, list):
            if level >= max_depth:
                raise TooDeep(max_depth)
            stack.extend((item, level + 1) for item in value)
        elif isinstance(value, _SCALARS):
            continue
        elif isinstance(value, int):
            if not INT64_MIN <= value <= INT64_MAX:
                raise TooLargeInteger()
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise ValueRefused(f"{value} is not a number JSON can hold")
        else:
            raise ValueRefused(f"{type(value).__name__} values are not supported")
