"""Example values made from JSON Schemas, for the example frames of the document and its page."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

_STRING_FORMATS = {
    "date-time": "2024-01-01T12:00:00Z",
    "date": "2024-01-01",
    "time": "12:00:00",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "duration": "P1D",
    "ipv4": "127.0.0.1",
    "ipv6": "::1",
}


class NoExample(Exception):
    """The schema asks for something this small generator cannot produce (a regex pattern, say)."""


def example(schema: Schema, definitions: dict[str, Schema], depth: int = 0) -> Any:
    """A value valid against ``schema`` for the usual shapes pydantic produces; raises :class:`NoExample`."""
    if depth > 8:
        raise NoExample("too deep")
    if schema.get("examples"):
        return schema["examples"][0]
    for key in ("const", "default"):
        if key in schema:
            return schema[key]
    if "enum" in schema:
        return schema["enum"][0]
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return example(definitions[name], definitions, depth + 1)
    for key in ("allOf", "anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return example(options[0], definitions, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        value = {}
        for name in schema.get("required", []):
            value[name] = example(schema.get("properties", {}).get(name, {}), definitions, depth + 1)
        return value
    if kind == "array":
        if "prefixItems" in schema:
            return [example(s, definitions, depth + 1) for s in schema["prefixItems"]]
        count = max(1, schema.get("minItems", 1))
        return [example(schema.get("items", {}), definitions, depth + 1) for _ in range(count)]
    if kind == "string":
        if "pattern" in schema:
            raise NoExample("a string with a pattern")
        text = _STRING_FORMATS.get(schema.get("format", ""), "text")
        low, high = schema.get("minLength", 0), schema.get("maxLength")
        text = text.ljust(low, "x")
        if high is not None and len(text) > high:
            text = text[:high]
        return text
    if kind in ("integer", "number"):
        return _number(schema, kind == "integer")
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return {}  # any JSON value


def _number(schema: Schema, integer: bool) -> int | float:
    value: int | float = 1
    if "minimum" in schema:
        value = max(value, schema["minimum"])
    if "exclusiveMinimum" in schema:
        value = max(value, schema["exclusiveMinimum"] + 1)
    if "maximum" in schema:
        value = min(value, schema["maximum"])
    if "exclusiveMaximum" in schema:
        value = min(value, schema["exclusiveMaximum"] - 1)
    if "multipleOf" in schema:
        step = schema["multipleOf"]
        value = step * max(1, round(value / step))
    return int(value) if integer else value
