"""The API's OpenAPI 3.1 description, served at ``/openapi.json``.

It is more than documentation: the API takes the query parameters and request-body
fields it accepts from here (anything else is a 400 naming it), and the tests check that
every route is described, every described path answers, and answers match their schemas.
The journal records' schemas are made from the records' declarations
(:mod:`.openapi_records`), the request bodies' from their models (:mod:`.api_bodies`);
the rest is written in :mod:`.openapi_schemas` and :mod:`.openapi_paths`.
"""

from __future__ import annotations

from typing import Any

from .openapi_paths import PATHS, RESPONSES
from .openapi_schemas import SCHEMAS

__all__ = [
    "OPENAPI",
    "PATHS",
    "SCHEMAS",
    "accepted_fields",
    "accepted_query",
    "request_fields",
    "resolve",
]

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "posdriver local API",
        "version": "1",
        "description": (
            "Payments and receipts at the front desk. Amounts are decimal strings. Money "
            "requests return at once with the journal id; poll or wait on "
            "/v1/operations/{id}. A bearer token is required when one is configured. "
            "Unknown query parameters and body fields are refused (400)."
        ),
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": SCHEMAS,
        "responses": RESPONSES,
    },
    "security": [{"bearer": []}, {}],
    "paths": PATHS,
}


def accepted_query(path: str, method: str) -> frozenset[str]:
    """The query parameters an operation takes, as documented."""
    spec = PATHS[path][method.lower()]
    return frozenset(p["name"] for p in spec.get("parameters", ()) if p["in"] == "query")


def resolve(schema: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """A request field's schema with its reference followed (its own keys on top) and
    the name of the schema referred to, if any."""
    if "$ref" not in schema:
        return schema, None
    name = schema["$ref"].rsplit("/", 1)[1]
    target, _ = resolve(SCHEMAS[name])
    return target | {k: v for k, v in schema.items() if k != "$ref"}, name


def request_fields(path: str, method: str) -> dict[str, dict[str, Any]]:
    """The body fields an operation takes, each with its schema (none: no body)."""
    spec = PATHS[path][method.lower()]
    body = spec.get("requestBody")
    if body is None:
        return {}
    name = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    properties: dict[str, dict[str, Any]] = SCHEMAS[name]["properties"]
    return properties


def accepted_fields(path: str, method: str) -> frozenset[str] | None:
    """The body fields an operation takes (None: it takes no body)."""
    spec = PATHS[path][method.lower()]
    body = spec.get("requestBody")
    if body is None:
        return None
    name = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    return frozenset(SCHEMAS[name]["properties"])
