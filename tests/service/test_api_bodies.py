"""The request bodies are declared once, as pydantic models (:mod:`posdriver.service.
api_bodies`), and the document's request schemas are made from them: in the document's
shape (no titles, no null branches, closed), one model for every body an operation
takes, a field added to a model in its schema, and the models taking what the document
takes and refusing what it refuses."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import ValidationError
from openapi_schema_validator import OAS31Validator
from pydantic import Field

from posdriver.service.api_bodies import (
    BODIES,
    CancelJobRequest,
    IncidentRequest,
    OperationRequest,
    ReprintRequest,
    ResolveRequest,
    request_schema,
)
from posdriver.service.openapi import OPENAPI, PATHS, SCHEMAS, request_fields


def _bodies_in_paths() -> dict[str, str]:
    """Each operation that takes a body, and the schema it names."""
    out = {}
    for path, item in PATHS.items():
        for method, spec in item.items():
            if "requestBody" in spec:
                name = spec["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                out[f"{method.upper()} {path}"] = name.rsplit("/", 1)[1]
    return out


def test_every_body_the_document_names_is_a_model_and_made_from_it() -> None:
    named = set(_bodies_in_paths().values())
    assert named == {model.__name__ for model in BODIES}
    for model in BODIES:
        assert SCHEMAS[model.__name__] == request_schema(model), model.__name__


@pytest.mark.parametrize("model", BODIES, ids=lambda m: m.__name__)
def test_request_schemas_are_in_the_documents_shape(model: Any) -> None:
    schema = SCHEMAS[model.__name__]
    text = json.dumps(schema)
    assert '"title"' not in text and "$defs" not in text and "anyOf" not in text
    assert '"null"' not in text  # an optional field is left out, not null
    assert "x-posdriver" not in text
    assert schema["additionalProperties"] is False
    assert list(schema["properties"]) == [f.alias or n for n, f in model.model_fields.items()]
    assert schema["required"] == [
        f.alias or n for n, f in model.model_fields.items() if f.is_required()
    ]
    OAS31Validator.check_schema({"components": OPENAPI["components"], **schema})


def test_the_documents_request_fields_are_the_models() -> None:
    fields = request_fields("/v1/operations/{id}/resolve", "post")
    assert list(fields) == ["state", "note", "operator", "receipt_no", "last4"]
    assert fields["operator"]["description"] == "the person who decided"  # its own
    assert fields["operator"]["maxLength"] == 200  # the shared operator's
    assert request_fields("/v1/operations", "post")["amount"] == {
        "$ref": "#/components/schemas/DecimalAmount"
    }
    assert request_fields("/v1/operations/{id}/reprint", "post")["copy"] == {
        "enum": ["customer", "merchant"],
        "default": "customer",
    }


class _Noted(CancelJobRequest):
    note: str | None = Field(None, min_length=1, max_length=20, description="why")


def test_a_field_added_to_a_model_is_in_its_schema() -> None:
    schema = request_schema(_Noted)
    assert schema["properties"]["note"] == {
        "type": "string",
        "minLength": 1,
        "maxLength": 20,
        "description": "why",
    }
    assert schema["required"] == [] and schema["additionalProperties"] is False


# (model, body): each is taken by both or refused by both
AGREE: list[tuple[Any, dict[str, Any]]] = [
    (OperationRequest, {"kind": "sale", "amount": "12.50", "currency": "eur"}),
    (OperationRequest, {"kind": "refund", "txn": 17, "operator": "anna"}),
    (OperationRequest, {"kind": "refund", "txn": "id:17"}),
    (OperationRequest, {"kind": "sell"}),
    (OperationRequest, {"amount": "12.50"}),  # no kind
    (OperationRequest, {"kind": "sale", "amount": 12.5}),
    (OperationRequest, {"kind": "sale", "amount": "12,50"}),
    (OperationRequest, {"kind": "sale", "currency": "EURO"}),
    (OperationRequest, {"kind": "sale", "ammount": "5.00"}),
    (OperationRequest, {"kind": "sale", "terminal": ""}),
    (OperationRequest, {"kind": "sale", "terminal": None}),
    (OperationRequest, {"kind": "sale", "txn": 1.5}),
    (OperationRequest, {"kind": "sale", "idempotency_key": "k" * 129}),
    (OperationRequest, {"kind": "sale", "operator": "o" * 201}),
    (ReprintRequest, {}),
    (ReprintRequest, {"copy": "merchant", "printer": "bar"}),
    (ReprintRequest, {"copy": "both"}),
    (ResolveRequest, {"state": "approved", "note": "rang", "operator": "anna"}),
    (ResolveRequest, {"state": "approved", "note": "n", "operator": "a", "last4": "0119"}),
    (ResolveRequest, {"state": "approved", "note": "n", "operator": "a", "last4": "119"}),
    (ResolveRequest, {"state": "declined", "note": "n", "operator": "a", "receipt_no": -1}),
    (ResolveRequest, {"state": "declined", "note": "n", "operator": "a", "receipt_no": True}),
    (ResolveRequest, {"state": "approved", "note": "n"}),  # who decided is required
    (IncidentRequest, {"fault": "f", "action": "a", "result": "r", "txn": "last"}),
    (IncidentRequest, {"fault": "f", "action": "a", "result": ""}),
]


@pytest.mark.parametrize(("model", "body"), AGREE)
def test_the_models_take_what_the_document_takes(model: Any, body: dict[str, Any]) -> None:
    validator = OAS31Validator({"components": OPENAPI["components"], **SCHEMAS[model.__name__]})
    try:
        validator.validate(body)
        documented = True
    except ValidationError:
        documented = False
    try:
        model.model_validate_json(json.dumps(body))
        modelled = True
    except ValueError:  # pydantic's ValidationError is one
        modelled = False
    assert modelled == documented, body
