"""The ``json_schema`` filter: a queue whose metadata holds ``_schema``, a JSON Schema, only
accepts messages whose body matches it.

The schema is checked when a queue PUT or PATCH stores it (a bad one is a 400 then), and
compiled once per distinct schema (cached by its JSON text).  Only local references
(``"$ref": "#/..."``) are allowed: the service never fetches anything a schema points to.
Schemas without ``$schema`` follow draft 2020-12.

Validation never blocks the service for long: regular expressions (``pattern``,
``patternProperties``, and the properties ``additionalProperties`` leaves to them) run on
RE2, in time linear in the text, and a pattern RE2 cannot run (back-references,
look-arounds) is refused when the schema is stored; and one body may take at most
:data:`MAX_STEPS` keyword evaluations (a schema whose ``anyOf`` branches nest through
references could otherwise take exponential time), past which it is refused as too costly
to check.
"""

import functools

import orjson
import re2
import referencing
import referencing.exceptions
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError, best_match
from jsonschema.validators import extend, validator_for

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


MAX_STEPS = 50_000
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


class TooCostly(Exception):
    """A validation took more than :data:`MAX_STEPS` keyword evaluations."""


@functools.lru_cache(maxsize=CACHE_SIZE)
def linear_regex(pattern):
    """:returns: ``pattern`` compiled by RE2.
    :raises re2.error: RE2 cannot run it.
    """
    return re2.compile(pattern, _RE2_OPTIONS)


def _patterns(schema):
    """Every regular expression of a schema: ``pattern`` strings, ``patternProperties``
    keys (anything under a key of those names counts, which may refuse a schema that only
    mentions one in a ``const``, never accept one that runs a bad pattern)."""
    stack = [schema]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            for key, child in value.items():
                if key == "pattern" and isinstance(child, str):
                    yield child
                elif key == "patternProperties" and isinstance(child, dict):
                    yield from child
                stack.append(child)
        elif isinstance(value, list):
            stack.extend(value)


def _pattern(validator, pattern, instance, schema):
    if validator.is_type(instance, "string") and not linear_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(validator, patterns, instance, schema):
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        regex = linear_regex(pattern)
        for name, value in instance.items():
            if regex.search(name):
                yield from validator.descend(value, subschema, path=name, schema_path=pattern)


def _additional_properties(original):
    """``additionalProperties``, with the properties that ``patternProperties`` takes found
    by RE2 and handed to the original keyword as named properties."""

    def keyword(validator, additional, instance, schema):
        patterns = schema.get("patternProperties")
        if patterns and validator.is_type(instance, "object"):
            regexes = [linear_regex(pattern) for pattern in patterns]
            taken = {
                name: True for name in instance
                if any(regex.search(name) for regex in regexes)
            }
            schema = {key: value for key, value in schema.items() if key != "patternProperties"}
            schema["properties"] = {**taken, **schema.get("properties", {})}
        return original(validator, additional, instance, schema)

    return keyword


def _counted(keyword, budget):
    """A keyword function that spends one step of ``budget`` (a one-item list) per call.

    :raises TooCostly: the budget is spent.
    """

    def counted(validator, value, instance, schema):
        budget[0] -= 1
        if budget[0] < 0:
            raise TooCostly()
        return keyword(validator, value, instance, schema)

    return counted


def _bounded_class(cls):
    """``cls`` with RE2 regular expressions and a step budget (its ``budget`` attribute)."""
    keywords = dict(cls.VALIDATORS)
    for name, replacement in (("pattern", _pattern),
                              ("patternProperties", _pattern_properties)):
        if name in keywords:
            keywords[name] = replacement
    if "additionalProperties" in keywords:
        keywords["additionalProperties"] = _additional_properties(
            keywords["additionalProperties"]
        )
    budget = [MAX_STEPS]
    bounded = extend(cls, {name: _counted(fn, budget) for name, fn in keywords.items()})
    bounded.budget = budget
    return bounded


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
    for pattern in _patterns(schema):
        try:
            linear_regex(pattern)
        except re2.error as exc:
            raise BadRequest(
                f"{SCHEMA_KEY} has a pattern that cannot run in linear time (RE2: "
                f"{_short(exc.args[0].decode('utf-8', 'replace') if exc.args else '')}): "
                f"{_short(repr(pattern))}."
            ) from None
    if b'"unevaluatedProperties"' in text and b'"patternProperties"' in text:
        raise BadRequest(
            f"{SCHEMA_KEY} may not use unevaluatedProperties with patternProperties."
        )
    validator = _bounded_class(cls)(schema, registry=referencing.Registry())
    _probe(validator)
    return validator


def check(validator, instance):
    """The most relevant error of ``instance`` against a validator of
    :func:`build_validator`, or ``None`` when it matches.

    :raises TooCostly: checking it takes more than :data:`MAX_STEPS` steps.
    :raises RecursionError: it nests too deeply for the schema.
    :raises referencing.exceptions.Unresolvable: a reference of the schema points nowhere.
    """
    budget = type(validator).budget
    budget[0] = MAX_STEPS
    return best_match(validator.iter_errors(instance))


def _probe(validator):
    """Validate ``null`` once, so a schema whose references loop or point nowhere is refused
    when it is stored rather than on each post.

    :raises BadRequest: the schema cannot be evaluated.
    """
    try:
        check(validator, None)
    except TooCostly:
        raise BadRequest(f"{SCHEMA_KEY} is too costly to evaluate.") from None
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
                error = check(validator, message["body"])
            except TooCostly:
                raise rejected(
                    index, f"is too costly to check against the queue's schema (more than "
                    f"{MAX_STEPS} steps)."
                ) from None
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
