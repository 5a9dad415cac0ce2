"""The journal records' schemas in the API's document are made from the records'
declarations: every answered field is in its record's schema and nothing else is (but
what the API adds to a plan), each as its type and metadata say, and a field added to a
record is in its schema with no edit to the document's code."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from jsonschema import ValidationError
from openapi_schema_validator import OAS31Validator

from posdriver.journal.records import (
    Event,
    Incident,
    Operation,
    PrintJob,
    Record,
    RefundPlan,
    StoredReceipt,
    columns,
    stored,
)
from posdriver.journal.states import Kind, State
from posdriver.money import Money
from posdriver.service.openapi import OPENAPI, SCHEMAS
from posdriver.service.openapi_records import record_schema

AT = datetime(2026, 11, 23, 18, 29, 2, tzinfo=UTC)
RECORDS: dict[str, type[Record]] = {
    "Operation": Operation,
    "Event": Event,
    "Receipt": StoredReceipt,
    "PrintJob": PrintJob,
    "Incident": Incident,
    "RefundPlan": RefundPlan,
}
# what a plan's answer has besides its fields: its currency (Record.as_dict) and what
# the API adds (what is left, whether it runs, its refunds)
PLAN_EXTRA = ["currency", "left", "running", "refunds"]


def _answered(record: type[Record]) -> list[str]:
    return [c.key for c in columns(record) if c.answered]


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_every_answered_field_is_in_its_schema_and_nothing_else(name: str) -> None:
    schema = SCHEMAS[name]
    extra = PLAN_EXTRA if name == "RefundPlan" else []
    assert sorted(schema["properties"]) == sorted(_answered(RECORDS[name]) + extra)
    assert schema["required"] == list(schema["properties"])  # every key, null when unknown
    keys = [k for k in schema["properties"] if k not in extra]
    assert keys == _answered(RECORDS[name])  # in the answer's order


def test_fields_are_described_as_their_declarations_say() -> None:
    op = SCHEMAS["Operation"]["properties"]
    assert op["id"] == {"type": "integer", "description": "journal id (ref. id:N on receipts)"}
    assert op["kind"] == {"$ref": "#/components/schemas/OperationKind"}
    assert op["amount"] == {
        "oneOf": [{"$ref": "#/components/schemas/DecimalAmount"}, {"type": "null"}]
    }
    assert op["currency"] == {"$ref": "#/components/schemas/Currency"}
    assert op["card_last4"] == {"type": ["string", "null"], "pattern": "^[0-9]{4}$"}
    assert op["terminal_at"]["type"] == ["string", "null"]
    assert op["terminal_at"]["format"] == "date-time"
    assert "reference" not in op and "idempotency_key" not in op  # kept, not answered
    event = SCHEMAS["Event"]["properties"]
    assert event["from"] == {
        "oneOf": [{"$ref": "#/components/schemas/OperationState"}, {"type": "null"}]
    }
    assert SCHEMAS["Receipt"]["properties"]["lines"] == {
        "type": "array",
        "items": {"type": "string"},
    }
    assert SCHEMAS["PrintJob"]["properties"]["state"] == {"$ref": "#/components/schemas/JobState"}
    assert SCHEMAS["PrintJob"]["properties"]["continuation"] == {"type": "boolean"}
    assert "recovered" in SCHEMAS["Incident"]["properties"]["category"]["enum"]


@dataclass(frozen=True)
class _Tagged(Operation):
    """An operation with fields it does not have (yet)."""

    desk: str | None = field(
        default=None, metadata=stored(values=("front", "bar"), description="where it was")
    )
    room: str = field(default="", metadata=stored(pattern="^[0-9]{3}$", examples=("101",)))
    secret: str | None = field(default=None, metadata=stored(answered=False))


def test_a_field_added_to_a_record_is_in_its_schema() -> None:
    schema = record_schema(_Tagged)
    properties = schema["properties"]
    assert properties["desk"] == {
        "oneOf": [{"enum": ["front", "bar"]}, {"type": "null"}],
        "description": "where it was",
    }
    assert properties["room"] == {"type": "string", "pattern": "^[0-9]{3}$", "examples": ["101"]}
    assert "secret" not in properties
    assert list(properties) == [*SCHEMAS["Operation"]["properties"], "desk", "room"]
    answer = _operation(_Tagged, desk="bar", room="101").as_dict()
    _validate(schema, answer)
    with pytest.raises(ValidationError, match="does not match"):
        _validate(schema, answer | {"room": "1a"})


def _operation(record: type[Operation] = Operation, **more: Any) -> Operation:
    return record(
        id=1,
        kind=Kind.SALE,
        state=State.APPROVED,
        amount=Money.parse("12.50", "EUR"),
        currency="EUR",
        terminal="front",
        created_at=AT,
        updated_at=AT,
        card_brand="Visa",
        card_last4="0119",
        terminal_at=AT,
        **more,
    )


def _validate(schema: dict[str, Any], answer: dict[str, Any]) -> None:
    OAS31Validator({"components": OPENAPI["components"], **schema}).validate(answer)


def test_answers_made_from_records_match_their_schemas() -> None:
    answers = {
        "Operation": _operation().as_dict(),
        "Event": Event(1, 1, AT, "state", "pending", "sent", "anna", None).as_dict(),
        "Receipt": StoredReceipt(1, 1, "customer", "terminal", ("a", "b"), AT, 0).as_dict(),
        "PrintJob": PrintJob(
            1, 1, 1, None, "reprint", 1, "queued", False, 0, AT, AT, None, None
        ).as_dict(),
        "Incident": Incident(
            1, AT, "front", None, "recovered", "f", "a", "r", None, 1, None
        ).as_dict(),
        "RefundPlan": RefundPlan(1, 1, (Money.parse("5.00", "EUR"),), "open", AT, "anna").as_dict()
        | {"left": ["5.00"], "running": False, "refunds": []},
    }
    for name, answer in answers.items():
        _validate(SCHEMAS[name], answer)
    with pytest.raises(ValidationError, match="'nowhere' is not valid"):
        _validate(SCHEMAS["Event"], answers["Event"] | {"to": "nowhere"})
