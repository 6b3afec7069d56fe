"""Validation against docker/cli's Compose schemas (config_schema_v3.*.json, vendored with
their notice in schema/), with jsonschema; the error reported is the one docker/cli's
schema.toError picks (the most specific field, a wrong type first) in its words:
``services.web.ports.0 must be a number``, ``services.web Additional property foo is not
allowed``."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema

from swarmpy.compose.units import parse_duration
from swarmpy.errors import InvalidArgument

SCHEMAS = Path(__file__).parent / "schema"
# docker/cli's schema.defaultVersion: a file without "version" (the Compose spec's way).
DEFAULT_VERSION = "3.13"


def version_of(config: Mapping[str, Any]) -> str:
    """A file's schema version, as docker/cli's schema.Version."""
    if "version" not in config:
        return DEFAULT_VERSION
    text = _go_text(config["version"])
    return DEFAULT_VERSION if text in ("", "3") else text


def _go_text(value: Any) -> str:
    """fmt.Sprint of a YAML scalar (version: 3.8 is a float there too)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@functools.cache
def _validator(version: str) -> jsonschema.protocols.Validator:
    path = SCHEMAS / f"config_schema_v{version}.json"
    if "/" in version or not path.is_file():
        raise InvalidArgument(f"unsupported Compose file version: {version}")
    schema = json.loads(path.read_text())
    checker = jsonschema.FormatChecker(formats=())
    checker.checks("duration")(_is_duration)
    checker.checks("ports")(lambda _value: True)  # docker/cli checks ports on conversion
    checker.checks("expose")(lambda _value: True)
    return jsonschema.Draft4Validator(schema, format_checker=checker)


def _is_duration(value: object) -> bool:
    return not isinstance(value, str) or parse_duration(value) is not None


def _flatten(errors: Any) -> Iterator[jsonschema.ValidationError]:
    for error in errors:
        yield error
        yield from _flatten(error.context or ())


def _field(error: jsonschema.ValidationError) -> str:
    return ".".join(str(part) for part in error.absolute_path) or "(root)"


def _specificity(error: jsonschema.ValidationError) -> int:
    return len(_field(error).split("."))


def _type_name(name: str) -> str:
    return {"object": "mapping", "array": "list"}.get(name, name)


def _human_types(expected: Any) -> str:
    if isinstance(expected, list):
        names = [_type_name(str(t)) for t in expected]
        return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]
    return _type_name(str(expected))


def _description(error: jsonschema.ValidationError) -> str:
    """gojsonschema's words for an error, as docker/cli shows them."""
    kind = error.validator
    value: Any = error.validator_value
    instance: Any = error.instance
    schema: Any = error.schema
    if kind == "type":
        return f"must be a {_human_types(value)}"
    if kind == "additionalProperties":
        extra = sorted(set(instance) - set(schema.get("properties", {})))
        patterns = schema.get("patternProperties", {})
        extra = [k for k in extra if not any(re.search(p, k) for p in patterns)]
        return f"Additional property {extra[0] if extra else ''} is not allowed"
    if kind == "required":
        missing = next((k for k in value if k not in instance), "")
        return f"{missing} is required"
    if kind == "enum":
        allowed = ", ".join(json.dumps(v) for v in value)
        return f"{_field(error).rsplit('.', 1)[-1]} must be one of the following: {allowed}"
    if kind == "oneOf":
        return "Must validate one and only one schema (oneOf)"
    if kind == "anyOf":
        return "Must validate at least one schema (anyOf)"
    if kind == "format":
        return f"Does not match format '{value}'"
    if kind == "uniqueItems":
        return "array items must be unique"
    if kind == "minimum":
        return f"Must be greater than or equal to {value}"
    if kind == "maximum":
        return f"Must be less than or equal to {value}"
    if kind == "pattern":
        return f"Does not match pattern '{value}'"
    if kind == "minItems":
        return f"Array must have at least {value} items"
    if kind == "maxItems":
        return f"Array must have at most {value} items"
    return str(error.message)


def validate(config: Mapping[str, Any], version: str) -> None:
    """Raise InvalidArgument with docker/cli's message for the first error of ``config``."""
    errors = list(_flatten(_validator(version).iter_errors(config)))
    if not errors:
        return
    best = errors[0]
    for error in errors[1:]:
        if _specificity(error) > _specificity(best) or (
            _specificity(error) == _specificity(best)
            and error.validator == "type"
            and best.validator != "type"
        ):
            best = error
    if best.validator in ("oneOf", "anyOf") and best.context:
        # docker/cli shows the error gojsonschema lists right after a oneOf: its first
        # alternative's.
        best = best.context[0]
    raise InvalidArgument(f"{_field(best)} {_description(best)}")
