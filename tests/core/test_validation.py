"""Validation rules shared by every operation (spec 0.2, 0.4, 3.9, 3.10)."""

import hypothesis
import hypothesis.strategies
import pytest

from zaqar_tw.config import Config
from zaqar_tw.core import validation as v
from zaqar_tw.core.queues import _checked_change
from zaqar_tw.errors import BadRequest, InvalidBody, InvalidParameter

LIMITS = Config().transport


@pytest.mark.parametrize("text", ["true", "True", "t", "yes", "y", "1", "on"])
def test_true_spellings(text):
    """Every spelling of true the reference accepts parses as True."""
    assert v.as_bool(text, "echo") is True


@pytest.mark.parametrize("text", ["false", "False", "f", "no", "n", "0", "off"])
def test_false_spellings(text):
    """Every spelling of false the reference accepts parses as False."""
    assert v.as_bool(text, "echo") is False


def test_bad_bool_names_the_parameter():
    """A bad boolean is an "Invalid parameter" naming the parameter."""
    with pytest.raises(InvalidParameter) as caught:
        v.as_bool("None", "echo")
    assert caught.value.to_dict() == {
        "title": "Invalid parameter",
        "description": 'The "echo" parameter is invalid. '
        'The value of the parameter must be "true" or "false".',
    }


def test_bad_int_names_the_parameter():
    """A non-integer is an "Invalid parameter" naming the parameter."""
    with pytest.raises(InvalidParameter) as caught:
        v.as_int("ten", "limit")
    assert caught.value.description == (
        'The "limit" parameter is invalid. The value must be an integer.'
    )
    assert v.as_int(" 7 ", "limit") == 7 and v.as_int(None, "limit") is None


@pytest.mark.parametrize(
    "body, text",
    [
        (None, "Request body can not be empty"),
        (b"", "Request body could not be parsed."),
        (b"{nope", "Request body could not be parsed."),
        (b'"str"', "Request body could not be parsed."),
        (b"123", "Request body could not be parsed."),
        (b"null", "Request body could not be parsed."),
        (b"[NaN]", "Request body could not be parsed."),
        (b'{"a": 9223372036854775808}', "JSON contains integer that is too large."),
        (b'{"a": [-9223372036854775809]}', "JSON contains integer that is too large."),
    ],
)
def test_bad_documents(body, text):
    """Bodies the contract rejects get its exact texts."""
    with pytest.raises(InvalidBody) as caught:
        v.parse_document(body)
    assert caught.value.description == text


def test_integer_bounds_are_inclusive_and_exact():
    """The extreme signed 64-bit integers parse exactly, also inside strings of digits."""
    doc = v.parse_document(b'{"a": 9223372036854775807, "b": -9223372036854775808, '
                           b'"c": "12345678901234567890"}')
    assert doc == {"a": 2**63 - 1, "b": -(2**63), "c": "12345678901234567890"}


def test_optional_document():
    """An optional body may be absent or empty."""
    assert v.parse_document(None, required=False) is None
    assert v.parse_document(b"", required=False) is None


@pytest.mark.parametrize("name", ["a" * 65, "bad name", "ünï", "@$@^qw@", ""])
def test_bad_queue_names(name):
    """Names outside ^[a-zA-Z0-9_.-]{1,64}$ are rejected."""
    with pytest.raises(BadRequest) as caught:
        v.check_queue_name(name, "p")
    assert caught.value.title == "Invalid queue identification"


def test_good_queue_names_and_project_length():
    """Dots, dashes, digits pass; a 257-character project fails."""
    v.check_queue_name("a.b-c_1", "p" * 256)
    with pytest.raises(BadRequest):
        v.check_queue_name("q", "p" * 257)


@pytest.mark.parametrize(
    "metadata, text",
    [
        ({"_default_message_ttl": 30},
         "_default_message_ttl can not exceed 1209600 seconds, and must be at least 60 "
         "seconds long."),
        ({"_default_message_ttl": "x"}, "_default_message_ttl must be integer."),
        ({"_enable_encrypt_messages": 1}, "_enable_encrypt_messages must be boolean."),
        ({"_max_messages_post_size": 262145},
         "_max_messages_post_size can not exceed 262144,  and must be at least greater "
         "than 0."),
        ({"_default_message_delay": 901},
         "_default_message_delay can not exceed 900 seconds, and must be at least 0 "
         "seconds long."),
        ({"_max_claim_count": "3"}, "_max_claim_count must be integer."),
        # Falsy values are range-checked too (Zaqar's test_validation).
        ({"_default_message_ttl": 0},
         "_default_message_ttl can not exceed 1209600 seconds, and must be at least 60 "
         "seconds long."),
        ({"_max_messages_post_size": 0},
         "_max_messages_post_size can not exceed 262144,  and must be at least greater "
         "than 0."),
        ({"_default_message_ttl": ""}, "_default_message_ttl must be integer."),
    ],
)
def test_reserved_metadata(metadata, text):
    """Reserved keys are type- and range-checked with the contract's texts."""
    with pytest.raises(BadRequest) as caught:
        v.check_reserved_metadata(metadata, LIMITS, "Invalid API request")
    assert caught.value.to_dict() == {"title": "Invalid API request", "description": text}


def test_falsy_reserved_values_skip_the_type_check():
    """Falsy reserved values skip the type check (in range, or of a key without a range)
    and show their defaults."""
    metadata = {"_max_claim_count": "", "_default_message_delay": 0,
                "_enable_encrypt_messages": 0, "a": 1}
    v.check_reserved_metadata(metadata, LIMITS, "Invalid API request")
    shown = v.with_reserved_defaults(metadata, LIMITS)
    assert shown["_max_claim_count"] is None and shown["_enable_encrypt_messages"] is False
    assert shown["a"] == 1


@pytest.mark.parametrize(
    "change, text",
    [
        ({"path": "/metadata/a", "value": 1},
         "Unable to find `op` in JSON Schema change. It must be one of the following: add, "
         "remove, replace."),
        ({"op": "move", "path": "/metadata/a"},
         "Invalid operation: `move`. It must be one of the following: add, remove, replace."),
        ({"op": "add", "value": 1}, "Unable to find 'path' in JSON Schema change"),
        ({"op": "add", "path": "/metadata/a"}, 'Operation "add" requires a member named "value".'),
        ({"op": "add", "path": "/metadata", "value": 1},
         "Invalid JSON pointer for this resource: '/metadata, e.g /metadata/key'"),
        ({"op": "add", "path": "/other/a", "value": 1},
         "The root of path must be metadata, e.g /metadata/key."),
    ],
)
def test_patch_changes(change, text):
    """Malformed JSON-patch changes are rejected with the contract's texts."""
    with pytest.raises(InvalidBody) as caught:
        _checked_change(change)
    assert caught.value.description == text


def test_patch_pointer_unescapes():
    """~1 and ~0 unescape to / and ~; the root is matched case-insensitively."""
    assert _checked_change({"op": "add", "path": "/MetaData/a~1b~0c", "value": 2}) == (
        "add", "a/b~c", 2)
    with pytest.raises(InvalidBody):
        _checked_change({"op": "add", "path": "/metadata/a~2", "value": 2})


_NAME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


@pytest.mark.parametrize("name", ["oddq\n", "oddq\r\n", "q\n", "\nq", "q\x00", "q "])
def test_queue_names_must_match_whole(name):
    """A name that only starts like a good one (a trailing newline, which ``$`` lets
    through) is rejected."""
    with pytest.raises(BadRequest):
        v.check_queue_name(name, "p")


@hypothesis.settings(max_examples=500)
@hypothesis.given(hypothesis.strategies.text(
    alphabet=hypothesis.strategies.sampled_from(sorted(_NAME_CHARACTERS) + ["\n", "\r", " ",
                                                                             "\x00", "é"]),
    max_size=70))
def test_queue_names_are_accepted_exactly_when_the_whole_name_fits(name):
    """Fuzzed names: accepted if and only if every character is allowed and the length is
    1 to 64 (no partial match ever passes)."""
    expected = 1 <= len(name) <= 64 and set(name) <= _NAME_CHARACTERS
    try:
        v.check_queue_name(name, "p")
        accepted = True
    except BadRequest:
        accepted = False
    assert accepted == expected, repr(name)
