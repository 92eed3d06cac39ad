"""The ``json_schema`` filter: a queue whose metadata holds ``_schema``, a JSON Schema, only
accepts messages whose body matches it.

The schema is checked when a queue PUT or PATCH stores it (a bad one is a 400 then), and
compiled once per distinct schema (cached by its JSON text).  Only local references
(``"$ref": "#/..."``) are allowed: the service never fetches anything a schema points to.
Schemas without ``$schema`` follow draft 2020-12.
"""

import functools

import orjson
import referencing
import referencing.exceptions
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, best_match
from jsonschema.validators import validator_for

from zaqar_tw.errors import BadRequest
from zaqar_tw.filters.base import MessageFilter, rejected

SCHEMA_KEY = "_schema"
CACHE_SIZE = 512
MAX_REASON = 200
_REFERENCE_KEYS = ("$ref", "$dynamicRef")


def pointer(path):
    """A JSON pointer (RFC 6901) from a sequence of keys and indexes."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def _short(text):
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 3] + "..."


def _remote_reference(schema):
    """The first reference of ``schema`` that is not local (``#...``), or ``None``."""
    stack = [schema]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            for key, child in value.items():
                if key in _REFERENCE_KEYS and isinstance(child, str):
                    if not child.startswith("#"):
                        return child
                else:
                    stack.append(child)
        elif isinstance(value, list):
            stack.extend(value)
    return None


def build_validator(text):
    """Compile a schema given as JSON text.

    :returns: a jsonschema validator that resolves no remote reference.
    :raises BadRequest: the schema is not a valid JSON Schema, names an unknown ``$schema``,
        or refers to anything outside itself.
    """
    schema = orjson.loads(text)
    if not isinstance(schema, (dict, bool)):
        raise BadRequest(f"{SCHEMA_KEY} must be a JSON Schema: an object or a boolean.")
    cls = Draft202012Validator
    if isinstance(schema, dict) and "$schema" in schema:
        cls = validator_for(schema, default=None)
        if cls is None:
            raise BadRequest(
                f"{SCHEMA_KEY} names an unknown $schema: {_short(repr(schema['$schema']))}."
            )
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        raise BadRequest(
            f"{SCHEMA_KEY} is not a valid JSON Schema at "
            f"/{SCHEMA_KEY}{pointer(exc.absolute_path)}: {_short(exc.message)}"
        ) from None
    remote = _remote_reference(schema)
    if remote is not None:
        raise BadRequest(
            f"{SCHEMA_KEY} may only use local references (#...), not {_short(repr(remote))}."
        )
    validator = cls(schema, registry=referencing.Registry())
    _probe(validator)
    return validator


def _probe(validator):
    """Validate ``null`` once, so a schema whose references loop or point nowhere is refused
    when it is stored rather than on each post.

    :raises BadRequest: the schema cannot be evaluated.
    """
    try:
        best_match(validator.iter_errors(None))
    except referencing.exceptions.Unresolvable as exc:
        raise BadRequest(
            f"{SCHEMA_KEY} has a reference that cannot be resolved: {_short(str(exc))}"
        ) from None
    except RecursionError:
        raise BadRequest(f"{SCHEMA_KEY} refers to itself in an endless loop.") from None


class JsonSchemaFilter(MessageFilter):
    """Validates each posted body against the queue's ``_schema``; queues without one are
    not affected."""

    def __init__(self, config, options):
        super().__init__(config, options)
        self._compiled = functools.lru_cache(maxsize=CACHE_SIZE)(build_validator)

    def validator(self, schema):
        """:returns: the compiled validator of ``schema`` (from the cache when seen before).
        :raises BadRequest: the schema is unusable.
        """
        return self._compiled(orjson.dumps(schema, option=orjson.OPT_SORT_KEYS))

    def check_metadata(self, queue_metadata, context):
        """:raises BadRequest: ``_schema`` is set to something that is not a usable schema."""
        schema = queue_metadata.get(SCHEMA_KEY)
        if schema is not None:
            self.validator(schema)

    def on_post(self, messages, queue_metadata, context):
        """:raises BadRequest: naming the first message that does not match, and where."""
        schema = queue_metadata.get(SCHEMA_KEY)
        if schema is None:
            return messages
        try:
            validator = self.validator(schema)
        except BadRequest as exc:
            raise BadRequest(f"The queue's schema cannot be used: {exc.description}") from None
        for index, message in enumerate(messages):
            try:
                error = best_match(validator.iter_errors(message["body"]))
            except referencing.exceptions.Unresolvable as exc:
                raise BadRequest(
                    "The queue's schema cannot be used: a reference cannot be resolved: "
                    f"{_short(str(exc))}"
                ) from None
            except RecursionError:
                raise rejected(index, "nests too deeply for the queue's schema.") from None
            if error is not None:
                raise rejected(
                    index,
                    f"does not match the queue's schema at "
                    f"/body{pointer(error.absolute_path)}: {_short(error.message)}",
                )
        return messages
