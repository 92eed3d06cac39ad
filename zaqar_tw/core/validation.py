"""Validation shared by every operation: names, query parameters, JSON documents, the
reserved queue metadata and retry policies.  Error texts are the wire contract's."""

import re

import orjson

from zaqar_tw.core import values
from zaqar_tw.errors import BadRequest, InvalidBody, InvalidParameter

QUEUE_NAME = re.compile(r"[a-zA-Z0-9_.\-]{1,64}")  # the whole name (fullmatch)
MAX_PROJECT_LENGTH = 256
MIN_MESSAGE_TTL = 60
MIN_CLAIM_TTL = 60
MIN_CLAIM_GRACE = 60
MIN_SUBSCRIPTION_TTL = 60
# Retry policies (spec 5.4): the backoff functions, and the delays (seconds) a policy that
# leaves them out gets; the two delays must lie at least two linear steps apart.
RETRY_BACKOFF_FUNCTIONS = ("linear", "arithmetic", "geometric", "exponential")
DEFAULT_MINIMUM_DELAY = 5
DEFAULT_MAXIMUM_DELAY = 30
MIN_RETRY_DELAY_SPAN = 10
_RETRY_INTEGERS = (
    "retries_with_no_delay", "minimum_delay_retries", "minimum_delay", "maximum_delay",
    "maximum_delay_retries",
)

_TRUE = {"true", "True", "t", "yes", "y", "1", "on"}
_FALSE = {"false", "False", "f", "no", "n", "0", "off"}


def check_queue_name(name, project):
    """:raises BadRequest: the queue name or the project id is malformed."""
    if not QUEUE_NAME.fullmatch(name) or len(project) > MAX_PROJECT_LENGTH:
        raise BadRequest(
            "The format of the submitted queue name or project id is not valid.",
            title="Invalid queue identification",
        )


def as_int(value, name):
    """A query parameter as an int, or ``None`` when absent.

    :param value: the raw string from the URL, an int (WebSocket), or ``None``.
    :raises InvalidParameter: not an integer.
    """
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise InvalidParameter(f'The "{name}" parameter is invalid. The value must be an integer.')


def as_bool(value, name, default=False):
    """A query parameter as a bool, ``default`` when absent.

    :raises InvalidParameter: not one of the accepted spellings.
    """
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
    raise InvalidParameter(
        f'The "{name}" parameter is invalid. '
        'The value of the parameter must be "true" or "false".'
    )


def as_list(value):
    """A comma-separated query parameter as a list of non-empty items, ``None`` when absent."""
    if value is None:
        return None
    if isinstance(value, list):
        return [str(item) for item in value]
    items = [item for item in value.split(",") if item]
    return items or None


def check_limit(limit, maximum, default=10, wording="may not be"):
    """A page size within 1..maximum.

    :raises BadRequest: out of range.
    """
    if limit is None:
        return default
    if not 1 <= limit <= maximum:
        if wording == "may not be":
            text = f"Limit must be at least 1 and may not be greater than {maximum}."
        else:
            text = f"Limit must be at least 1 and no greater than {maximum}."
        raise BadRequest(text)
    return limit


def parse_document(body, required=True):
    """Decode a JSON request body (see :mod:`zaqar_tw.core.values` for what is accepted).

    :param body: the raw bytes, ``None`` when the request had no body, or an already decoded
        value (WebSocket frames, checked when they were read).
    :param required: when false, an absent or empty body gives ``None``.
    :returns: the decoded object or list.
    :raises InvalidBody: absent, unparsable, not an object or array, nested too deeply, or
        with an integer outside the signed 64-bit range.
    """
    if not isinstance(body, (bytes, bytearray, memoryview, type(None))):
        return body
    if body is None or not required and len(body) == 0:
        if required:
            raise InvalidBody("Request body can not be empty")
        return None
    try:
        document = values.decode_json(body)
    except values.ValueRefused as exc:
        raise InvalidBody(str(exc)) from None
    except ValueError:
        raise InvalidBody("Request body could not be parsed.") from None
    if not isinstance(document, (dict, list)):
        raise InvalidBody("Request body could not be parsed.")
    return document


def require_object(document):
    """:raises InvalidBody: the document is not a JSON object."""
    if not isinstance(document, dict):
        raise InvalidBody("Document type not supported.")
    return document


def checked_field(document, name, kind, default=None, null_means_default=False):
    """One typed field of a JSON object.

    :param kind: ``int`` or ``None`` for any JSON value.
    :param default: returned when the field is absent; ``None`` makes the field required.
    :raises InvalidBody: missing, or of the wrong type (JSON ``true`` counts as an int, as it
        does for the reference server).
    """
    if name not in document or (null_means_default and document[name] is None):
        if default is None:
            raise InvalidBody(f'Missing "{name}" field.')
        return default
    value = document[name]
    if kind is None or isinstance(value, kind):
        return value
    raise InvalidBody(f'The value of the "{name}" field must be a {kind.__name__}.')


def size_of(body, document=None):
    """The size that metadata and post limits are checked against: the raw body's length, or
    for an already decoded document its compact JSON length."""
    if isinstance(body, (bytes, bytearray, memoryview)):
        return len(body)
    if body is None:
        return 0
    return len(orjson.dumps(document if document is not None else body))


def check_reserved_metadata(metadata, transport, title):
    """Check the reserved (underscore) keys of queue metadata (spec 3.9): the type of
    falsy values is not checked, but every value but ``null`` must be in its key's range
    (``"_default_message_ttl": 0`` is refused).

    :raises BadRequest: a reserved key has the wrong type or range; the error's title is
        ``title`` ("Invalid API request" on PUT, "Invalid request body" on PATCH).
    """
    max_ttl = transport.max_message_ttl

    def integer(key, low=None, high=None, unit=" seconds", text=None):
        value = metadata.get(key)
        if value is None:
            return
        if value and not isinstance(value, int):
            raise BadRequest(f"{key} must be integer.", title=title)
        if low is None:
            return
        if not isinstance(value, (int, float)):  # a falsy non-number ("", [], {})
            raise BadRequest(f"{key} must be integer.", title=title)
        if not low <= value <= high:
            raise BadRequest(text or (
                f"{key} can not exceed {high}{unit}, and must be at least {low}{unit} long."
            ), title=title)

    integer("_default_message_ttl", MIN_MESSAGE_TTL, max_ttl)
    integer(
        "_max_messages_post_size", 1, transport.max_messages_post_size,
        text=(
            f"_max_messages_post_size can not exceed {transport.max_messages_post_size}, "
            " and must be at least greater than 0."
        ),
    )
    integer("_default_message_delay", 0, transport.max_message_delay)
    integer("_max_claim_count")
    integer("_dead_letter_queue_messages_ttl", MIN_MESSAGE_TTL, max_ttl)
    encrypt = metadata.get("_enable_encrypt_messages")
    if encrypt and not isinstance(encrypt, bool):
        raise BadRequest("_enable_encrypt_messages must be boolean.", title=title)
    if encrypt:
        # Refused rather than stored unencrypted: a queue that asks for encryption must not
        # believe its messages are encrypted.
        raise BadRequest(
            "_enable_encrypt_messages: message encryption is not supported by this server "
            "yet; leave it false or unset.", title=title,
        )
    check_retry_policy(metadata, title)


def check_retry_policy(document, title="Invalid API request"):
    """Check the ``_retry_policy`` of queue metadata or of subscription options (spec 5.4);
    a falsy policy, and falsy values in it, are not checked.

    :param document: the metadata or options dict (or ``None``).
    :raises BadRequest: the policy is not an object, a count or delay is not an integer,
        the backoff function is unknown, ``ignore_subscription_override`` is not a boolean,
        or the delays are inverted or closer than :data:`MIN_RETRY_DELAY_SPAN`.
    """
    policy = document.get("_retry_policy") if document else None
    if not policy:
        return
    if not isinstance(policy, dict):
        raise BadRequest("retry_policy must be a dict.", title=title)
    for key in _RETRY_INTEGERS:
        value = policy.get(key)
        if value and not isinstance(value, int):
            raise BadRequest(f"Retry policy: {key} must be a integer.", title=title)
    function = policy.get("retry_backoff_function")
    if function and not isinstance(function, str):
        raise BadRequest("retry_backoff_function must be a string.", title=title)
    if function and function not in RETRY_BACKOFF_FUNCTIONS:
        raise BadRequest("invalid retry_backoff_function.", title=title)
    override = policy.get("ignore_subscription_override")
    if override and not isinstance(override, bool):
        raise BadRequest("ignore_subscription_override must be a boolean.", title=title)
    minimum = _delay(policy, "minimum_delay", DEFAULT_MINIMUM_DELAY)
    maximum = _delay(policy, "maximum_delay", DEFAULT_MAXIMUM_DELAY)
    if maximum < minimum:
        raise BadRequest("minimum_delay must less than maximum_delay.", title=title)
    if maximum - minimum < MIN_RETRY_DELAY_SPAN:
        raise BadRequest("invalid minimum_delay and maximum_delay.", title=title)


def _delay(policy, key, default):
    """A delay of a checked retry policy: its integer value, else the default."""
    value = policy.get(key)
    return value if isinstance(value, int) else default


#: Reserved keys of dead-lettering (spec 3.7), accepted but without effect until it is built.
DEAD_LETTER_KEYS = ("_max_claim_count", "_dead_letter_queue", "_dead_letter_queue_messages_ttl")


def dead_letter_keys(metadata):
    """:returns: the dead-lettering keys ``metadata`` sets (to a truthy value), in order."""
    return [key for key in DEAD_LETTER_KEYS if metadata.get(key)]


def with_reserved_defaults(metadata, transport):
    """The metadata as clients see it: reserved keys whose stored value is falsy (or absent)
    show their defaults."""
    shown = dict(metadata)
    defaults = {
        "_max_messages_post_size": transport.max_messages_post_size,
        "_default_message_ttl": transport.default_message_ttl,
        "_default_message_delay": transport.default_message_delay,
        "_dead_letter_queue": None,
        "_dead_letter_queue_messages_ttl": None,
        "_max_claim_count": None,
        "_enable_encrypt_messages": False,
    }
    for key, value in defaults.items():
        if not shown.get(key):
            shown[key] = value
    return shown
