"""The pieces the API's OpenAPI document is written with: references, object and list
schemas, and the few value schemas every part of it shares."""

from __future__ import annotations

from typing import Any

DECIMAL_PATTERN = "^[0-9]+(\\.[0-9]+)?$"  # a positive amount, as a request writes it
REQUEST_CURRENCY_PATTERN = "^[A-Za-z]{3}$"  # an ISO 4217 code, in any case

STR: dict[str, Any] = {"type": "string"}
NAME: dict[str, Any] = {"type": "string", "minLength": 1}  # a request's text: blank is refused
STR_OR_NULL: dict[str, Any] = {"type": ["string", "null"]}
INT: dict[str, Any] = {"type": "integer"}
INT_OR_NULL: dict[str, Any] = {"type": ["integer", "null"]}
TIME: dict[str, Any] = {
    "type": "string",
    "format": "date-time",
    "examples": ["2026-11-23T18:29:02+00:00"],
}
TIME_OR_NULL: dict[str, Any] = TIME | {"type": ["string", "null"]}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": [schema, {"type": "null"}]}


def obj(
    properties: dict[str, Any],
    required: list[str] | None = None,
    *,
    closed: bool = False,
    description: str | None = None,
) -> dict[str, Any]:
    """An object schema; ``required`` defaults to every property (answers always carry
    every key, null when unknown). ``closed``: request bodies, where an unknown field is
    refused (a misspelt ``amount`` must not mean "refund everything")."""
    schema: dict[str, Any] = {
        "type": "object",
        "required": list(properties) if required is None else required,
        "properties": properties,
    }
    if closed:
        schema["additionalProperties"] = False
    if description:
        schema["description"] = description
    return schema


def array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}
