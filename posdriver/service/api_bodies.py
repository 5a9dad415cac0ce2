"""The request bodies the API takes, declared once as pydantic models; the document's
request schemas are made from them (:func:`request_schemas`), and the API checks every
body against the document (:func:`.api_fields.check_fields`), so a field declared here
is a field the API takes, and its 400 says what the schema says.

The bodies are closed (``extra="forbid"``): a misspelt ``amount`` must not mean "refund
everything". An optional field is left out, never null: the document gives it its
value's schema alone. A value the document names (an amount, a kind) refers to it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from ..card import LAST4_PATTERN
from ..journal.states import Kind
from .openapi_parts import DECIMAL_PATTERN, REQUEST_CURRENCY_PATTERN, ref

_NAMED = "x-posdriver-named"  # a value the document names: made a reference to it
# a field schema's keys in the order the document writes them (pydantic sorts them)
_KEY_ORDER = (
    "$ref",
    "type",
    "format",
    "enum",
    "default",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "pattern",
    "description",
    "examples",
)


def _named(name: str) -> WithJsonSchema:
    return WithJsonSchema({_NAMED: name})


DecimalAmount = Annotated[str, Field(pattern=DECIMAL_PATTERN), _named("DecimalAmount")]
RequestCurrency = Annotated[str, Field(pattern=REQUEST_CURRENCY_PATTERN), _named("RequestCurrency")]
OperationKind = Annotated[Kind, _named("OperationKind")]
Name = Annotated[str, Field(min_length=1)]  # a name or a text: blank is refused
Operator = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        description="who asked, written into the journal (default: api)",
        examples=["anna"],
    ),
]
Txn = Annotated[
    str | int,
    WithJsonSchema(
        {
            "type": ["string", "integer"],
            "description": (
                "the transaction it refers to: a JSON integer is a journal id; a string is "
                "read as the CLI reads TXN (id:17, receipt:1234, last, or a bare number "
                "that is either, refused when it is both)"
            ),
            "examples": ["id:17", 17],
        }
    ),
]


class _Body(BaseModel):
    """A body: closed, strict (JSON already has types), its optional fields left out."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _left_out_not_null(cls, data: Any) -> Any:
        """``X | None`` says a field may be absent; null is refused, as the document
        refuses it (a null ``printer`` is not "the default printer")."""
        if isinstance(data, dict):
            for name, value in data.items():
                if value is None:
                    raise ValueError(f"{name} must not be null (leave it out instead)")
        return data


class OperationRequest(_Body):
    kind: OperationKind
    amount: DecimalAmount | None = None
    currency: RequestCurrency | None = None
    txn: Txn | None = None
    terminal: Name | None = Field(None, description="the terminal to start with")
    idempotency_key: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    operator: Operator | None = None


class ReprintRequest(_Body):
    copy_: Literal["customer", "merchant"] = Field("customer", alias="copy")
    printer: Name | None = Field(
        None, description="print here instead of the operation's terminal's printer"
    )
    operator: Operator | None = None


class ResolveRequest(_Body):
    state: Literal["approved", "declined"] = Field(
        description="approved: the card was charged; declined: it was not"
    )
    note: Name = Field(description="why: what was checked, with whom")
    operator: Operator = Field(description="the person who decided")
    receipt_no: Annotated[int, Field(ge=0, le=999_999_999)] | None = None
    last4: Annotated[str, Field(pattern=LAST4_PATTERN)] | None = None


class IncidentRequest(_Body):
    fault: Name = Field(description="what went wrong")
    action: Name = Field(description="what was done")
    result: Name = Field(description="how it ended")
    device: Name | None = None
    notes: Name | None = None
    txn: Txn | None = None
    operator: Operator | None = None


class PrintRunRequest(_Body):
    printer: Name | None = Field(
        None, description="only this printer's jobs (default: every printer's)"
    )


class CancelJobRequest(_Body):
    operator: Operator | None = None


class RefundPlanRequest(_Body):
    txn: Txn
    amount: DecimalAmount | None = Field(
        None, description="how much in all (default: everything left on the sale)"
    )
    terminal: Name | None = Field(None, description="the terminal whose per-refund limit applies")
    operator: Operator | None = None


class RefundPlanRunRequest(_Body):
    terminal: Name | None = Field(None, description="the terminal to refund on")
    idempotency_key: Annotated[str, Field(min_length=1, max_length=120)] | None = None
    operator: Operator | None = None


class RefundPlanCancelRequest(_Body):
    reason: Name = Field(description="why it is given up")
    operator: Operator | None = None


BODIES: tuple[type[BaseModel], ...] = (
    OperationRequest,
    ReprintRequest,
    ResolveRequest,
    IncidentRequest,
    PrintRunRequest,
    CancelJobRequest,
    RefundPlanRequest,
    RefundPlanRunRequest,
    RefundPlanCancelRequest,
)


def request_schemas() -> dict[str, dict[str, Any]]:
    """Each body's schema as the document has it, by the model's name."""
    return {model.__name__: request_schema(model) for model in BODIES}


def request_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A body's schema in the document's shape: pydantic's, without its titles and its
    null branches (an optional field is left out, not null), a named value made a
    reference, every body closed and its required fields listed (none: an empty list)."""
    generated = model.model_json_schema(by_alias=True)
    return {
        "type": "object",
        "required": generated.get("required", []),
        "properties": {name: _field(schema) for name, schema in generated["properties"].items()},
        "additionalProperties": False,
    }


def _field(schema: dict[str, Any]) -> dict[str, Any]:
    outer = {k: v for k, v in schema.items() if k not in ("title", "anyOf")}
    if outer.get("default", ...) is None:  # pydantic's default for "left out"
        del outer["default"]
    branches = [b for b in schema.get("anyOf", ()) if b != {"type": "null"}]
    if len(branches) > 1:
        raise ValueError(f"a body field is one of several schemas: {schema}")
    inner = branches[0] if branches else {}
    merged = {k: v for k, v in inner.items() if k != "title"} | outer
    if _NAMED in merged:
        merged = ref(merged.pop(_NAMED)) | merged
    if "enum" in merged and merged.get("type") == "string":
        del merged["type"]  # the values say it
    rank = {key: n for n, key in enumerate(_KEY_ORDER)}
    return dict(sorted(merged.items(), key=lambda item: rank.get(item[0], len(rank))))
