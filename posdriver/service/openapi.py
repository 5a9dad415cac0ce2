"""The API's OpenAPI 3.1 description, served at ``/openapi.json``."""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_OPERATION_RESULT = {
    "type": "object",
    "properties": {
        "operation": {"$ref": "#/components/schemas/Operation"},
        "repeated": {
            "type": "boolean",
            "description": "true when the idempotency key named an earlier operation",
        },
    },
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "posdriver local API",
        "version": "1",
        "description": (
            "Payments and receipts at the front desk. Amounts are decimal strings. Money "
            "requests return at once with the journal id; poll or wait on "
            "/v1/operations/{id}. A bearer token is required when one is configured."
        ),
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": {"type": "string"}},
            },
            "Operation": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "kind": {"enum": ["sale", "refund", "reversal", "pre_auth", "booking"]},
                    "state": {
                        "enum": [
                            "pending",
                            "sent",
                            "approved",
                            "declined",
                            "aborted",
                            "in_doubt",
                            "needs_review",
                        ]
                    },
                    "amount": {"type": ["string", "null"], "examples": ["12.50"]},
                    "currency": {"type": "string"},
                    "terminal": {"type": ["string", "null"]},
                    "receipt_no": {"type": ["integer", "null"]},
                    "card_brand": {"type": ["string", "null"]},
                    "card_last4": {"type": ["string", "null"], "pattern": "^[0-9]{4}$"},
                    "reason": {"type": ["string", "null"]},
                },
            },
            "OperationRequest": {
                "type": "object",
                "required": ["kind"],
                "properties": {
                    "kind": {"enum": ["sale", "refund", "reversal", "pre_auth", "booking"]},
                    "amount": {"type": "string", "examples": ["12.50"]},
                    "currency": {"type": "string", "examples": ["EUR"]},
                    "txn": {
                        "type": ["string", "integer"],
                        "description": "refund/reversal/booking: the journal id it refers to",
                    },
                    "terminal": {"type": "string", "description": "preferred terminal"},
                    "idempotency_key": {"type": "string", "maxLength": 128},
                    "operator": {"type": "string"},
                },
            },
        },
    },
    "security": [{"bearer": []}, {}],
    "paths": {
        "/v1/operations": {
            "post": {
                "summary": "Start a sale, refund, reversal, pre-authorisation or booking",
                "parameters": [
                    {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string"}}
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/OperationRequest"}
                        }
                    },
                },
                "responses": {
                    "202": _json(_OPERATION_RESULT, "started; poll /v1/operations/{id}"),
                    "200": _json(_OPERATION_RESULT, "the idempotency key's earlier operation"),
                    "400": _json(_ERROR, "invalid input, named"),
                    "401": _json(_ERROR, "missing or wrong token"),
                    "404": _json(_ERROR, "txn not found"),
                    "409": _json(_ERROR, "refused by the refund guard (with its reasons)"),
                    "503": _json(_ERROR, "the daemon is stopping"),
                },
            }
        },
        "/v1/operations/{id}": {
            "get": {
                "summary": "An operation, its receipts and print jobs; wait for its end",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
                    {
                        "name": "wait",
                        "in": "query",
                        "schema": {"type": "number", "maximum": 300},
                        "description": "seconds to wait for a final state",
                    },
                ],
                "responses": {
                    "200": _json({"type": "object"}, "the operation"),
                    "404": _json(_ERROR, "unknown"),
                },
            }
        },
        "/v1/operations/{id}/reprint": {
            "post": {
                "summary": "Queue a copy of the stored receipt, marked as a duplicate",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "202": _json({"type": "object"}, "queued"),
                    "409": _json(_ERROR, "no receipt"),
                },
            }
        },
        "/v1/transactions": {
            "get": {
                "summary": "Transactions, newest first",
                "parameters": [
                    {"name": n, "in": "query", "schema": {"type": "string"}}
                    for n in ("since", "until", "last4", "state", "kind", "terminal", "limit")
                ],
                "responses": {"200": _json({"type": "array"}, "matching operations")},
            }
        },
        "/v1/pending": {
            "get": {
                "summary": "Operations in doubt or needing review; receipts waiting",
                "responses": {"200": _json({"type": "object"}, "what needs attention")},
            }
        },
        "/v1/devices": {
            "get": {
                "summary": "Each device's lifecycle, status (unknown when stale) and checks",
                "responses": {"200": _json({"type": "array"}, "devices")},
            }
        },
        "/v1/health": {
            "get": {
                "summary": "Overall health: 200 ok/warning, 503 critical/unknown",
                "responses": {
                    "200": _json({"type": "object"}, "healthy"),
                    "503": _json({"type": "object"}, "something is down"),
                },
            }
        },
    },
}
