"""The API's OpenAPI 3.1 description, served at ``/openapi.json``.

It is more than documentation: the API takes the query parameters and request-body
fields it accepts from here (anything else is a 400 naming it), and the tests check that
every route is described, every described path answers, and answers match their schemas.
The value sets (states, kinds, lifecycles, check statuses) are the code's own tuples, so
the document cannot drift from what the daemon says.
"""

from __future__ import annotations

from typing import Any

from ..card import LAST4_PATTERN
from ..journal.states import Kind, State
from .snapshot import (
    ACQUIRER_STATES,
    CHECK_STATUSES,
    CIRCUIT_STATES,
    COVER_STATES,
    LIFECYCLE,
    PAPER_STATES,
    PRINTER_ERRORS,
)

MONEY_KINDS = [k.value for k in Kind]
STATES = [s.value for s in State]
JOB_STATES = ["queued", "printing", "done", "failed", "cancelled"]
PLAN_STATES = ["open", "done", "cancelled"]
INCIDENT_CATEGORIES = [
    "device_fault",
    "failover",
    "in_doubt",
    "resolution",
    "recovered",
    "manual",
    "note",
]
GUARD_STOPS = [
    "not_refundable",
    "currency",
    "sale_remainder",
    "unresolved_refunds",
    "per_refund_limit",
    "max_split_parts",
    "daily_cap",
]


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": [schema, {"type": "null"}]}


def _obj(
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


def _array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


_STR = {"type": "string"}
_NAME = {"type": "string", "minLength": 1}  # a request's name or text: blank is refused
_STR_OR_NULL = {"type": ["string", "null"]}
_INT = {"type": "integer"}
_INT_OR_NULL = {"type": ["integer", "null"]}
_TIME = {"type": "string", "format": "date-time", "examples": ["2026-11-23T18:29:02+00:00"]}
_TIME_OR_NULL = {
    "type": ["string", "null"],
    "format": "date-time",
    "examples": ["2026-11-23T18:29:02+00:00"],
}
_OPERATOR = {
    "type": "string",
    "minLength": 1,
    "maxLength": 200,
    "description": "who asked, written into the journal (default: api)",
    "examples": ["anna"],
}
_TXN_FIELD = {
    "type": ["string", "integer"],
    "description": (
        "the transaction it refers to: a JSON integer is a journal id; a string is read "
        "as the CLI reads TXN (id:17, receipt:1234, last, or a bare number that is "
        "either, refused when it is both)"
    ),
    "examples": ["id:17", 17],
}

SCHEMAS: dict[str, Any] = {
    # -- values ---------------------------------------------------------------------------
    "DecimalAmount": {
        "type": "string",
        "pattern": "^[0-9]+(\\.[0-9]+)?$",
        "description": "a positive amount as a decimal string with a dot, never a number",
        "examples": ["12.50"],
    },
    "Currency": {"type": "string", "pattern": "^[A-Z]{3}$", "examples": ["EUR"]},
    "RequestCurrency": {
        "type": "string",
        "pattern": "^[A-Za-z]{3}$",
        "description": "an ISO 4217 code, in any case (eur is EUR)",
        "examples": ["EUR"],
    },
    "Money": _obj(
        {"amount": ref("DecimalAmount"), "currency": ref("Currency")},
        description="an amount with its currency (the refund guard's figures)",
    ),
    "OperationKind": {"enum": MONEY_KINDS},
    "OperationState": {"enum": STATES},
    "JobState": {"enum": JOB_STATES},
    "PlanState": {"enum": PLAN_STATES},
    # -- errors ---------------------------------------------------------------------------
    "Error": _obj(
        {"error": {"type": "string", "description": "what is wrong, in a sentence"}},
        description="every error answer",
    ),
    "RefundRefused": _obj(
        {"error": _STR, "refund_guard": ref("RefundDecision")},
        description="the refund guard stopped it: every stop, with its limit, and a plan",
    ),
    "PlanExists": _obj(
        {"error": _STR, "refund_plan": ref("RefundPlan")},
        description="the sale already has an open split refund plan: run or cancel it",
    ),
    # -- journal records ------------------------------------------------------------------
    "Operation": _obj(
        {
            "id": {"type": "integer", "description": "journal id (ref. id:N on receipts)"},
            "kind": ref("OperationKind"),
            "state": ref("OperationState"),
            "amount": _nullable(ref("DecimalAmount")),
            "currency": ref("Currency"),
            "terminal": _STR_OR_NULL,
            "created_at": _TIME,
            "updated_at": _TIME,
            "parent_id": _INT_OR_NULL,
            "plan_id": _INT_OR_NULL,
            "plan_part": _INT_OR_NULL,
            "ref_receipt_no": _INT_OR_NULL,
            "trace": _INT_OR_NULL,
            "receipt_no": _INT_OR_NULL,
            "approval_code": _STR_OR_NULL,
            "terminal_id": _STR_OR_NULL,
            "card_brand": _STR_OR_NULL,
            "card_last4": {"type": ["string", "null"], "pattern": LAST4_PATTERN},
            "result_code": _INT_OR_NULL,
            "reason": _STR_OR_NULL,
            "doubt_stage": _STR_OR_NULL,
            "terminal_at": _TIME_OR_NULL,
            "resolved_by": _STR_OR_NULL,
            "note": _STR_OR_NULL,
        },
        description="one money operation as the journal holds it; the card only masked",
    ),
    "Event": _obj(
        {
            "at": _TIME,
            "event": {"type": "string", "examples": ["state", "attempt", "reprint", "printed"]},
            "from": _nullable(ref("OperationState")),
            "to": _nullable(ref("OperationState")),
            "actor": _STR_OR_NULL,
            "detail": _STR_OR_NULL,
        },
        description="one line of an operation's history",
    ),
    "Receipt": _obj(
        {
            "id": _INT,
            "copy": {"enum": ["customer", "merchant"]},
            "source": {"enum": ["terminal", "built", "repeat_receipt"]},
            "lines": _array(_STR),
            "created_at": _TIME,
            "reprints": _INT,
        },
        description="a stored receipt, exactly as printed (card numbers masked)",
    ),
    "PrintJob": _obj(
        {
            "id": _INT,
            "operation_id": _INT,
            "receipt_id": _INT,
            "printer": _STR_OR_NULL,
            "purpose": {"enum": ["original", "reprint"]},
            "reprint_no": _INT_OR_NULL,
            "state": ref("JobState"),
            "continuation": {"type": "boolean"},
            "attempts": _INT,
            "created_at": _TIME,
            "updated_at": _TIME,
            "finished_at": _TIME_OR_NULL,
            "last_error": _STR_OR_NULL,
        }
    ),
    "JobOutcome": {
        "allOf": [
            ref("PrintJob"),
            _obj({"printed": {"type": "boolean"}, "reason": _STR_OR_NULL}),
        ],
        "description": "a print job after a spooler run; reason: why it still waits",
    },
    "SpoolReport": _obj(
        {
            "printed": _INT,
            "waiting": _INT,
            "jobs": _array(ref("JobOutcome")),
        }
    ),
    "Incident": _obj(
        {
            "id": _INT,
            "at": _TIME,
            "place": _STR,
            "device": _STR_OR_NULL,
            "category": {"enum": INCIDENT_CATEGORIES},
            "fault": _STR,
            "action": _STR,
            "result": _STR,
            "notes": _STR_OR_NULL,
            "operation_id": _INT_OR_NULL,
            "actor": _STR_OR_NULL,
        },
        description="one line of the fault record",
    ),
    "RefundPlan": _obj(
        {
            "id": _INT,
            "sale_id": _INT,
            "parts": _array(ref("DecimalAmount")),
            "currency": ref("Currency"),
            "state": ref("PlanState"),
            "created_at": _TIME,
            "actor": _STR_OR_NULL,
            "left": {
                **_array(ref("DecimalAmount")),
                "description": "parts with no approved or unresolved refund yet, in order",
            },
            "running": {
                "type": "boolean",
                "description": "the daemon is carrying out its parts now",
            },
            "refunds": {
                **_array(ref("Operation")),
                "description": "every refund made for the plan, in order",
            },
        },
        description="a refund split into parts within the terminal's per-refund limit",
    ),
    "Limit": _obj(
        {
            "name": {"enum": GUARD_STOPS},
            "limit": _nullable(ref("Money")),
            "message": _STR,
        }
    ),
    "RefundDecision": _obj(
        {
            "sale_id": _INT_OR_NULL,
            "amount": ref("Money"),
            "allowed": {"type": "boolean"},
            "stops": _array(ref("Limit")),
            "plan": {
                **_array(ref("Money")),
                "description": "a split plan, when only the per-refund limit is in the way",
            },
            "remainder_after": ref("Money"),
            "explanation": _STR,
        },
        description="what the refund guard found",
    ),
    # -- requests -------------------------------------------------------------------------
    "OperationRequest": _obj(
        {
            "kind": ref("OperationKind"),
            "amount": ref("DecimalAmount"),
            "currency": ref("RequestCurrency"),
            "txn": _TXN_FIELD,
            "terminal": {**_NAME, "description": "the terminal to start with"},
            "idempotency_key": {"type": "string", "minLength": 1, "maxLength": 128},
            "operator": _OPERATOR,
        },
        ["kind"],
        closed=True,
    ),
    "ReprintRequest": _obj(
        {
            "copy": {"enum": ["customer", "merchant"], "default": "customer"},
            "printer": {
                **_NAME,
                "description": "print here instead of the operation's terminal's printer",
            },
            "operator": _OPERATOR,
        },
        [],
        closed=True,
    ),
    "ResolveRequest": _obj(
        {
            "state": {
                "enum": ["approved", "declined"],
                "description": "approved: the card was charged; declined: it was not",
            },
            "note": {
                "type": "string",
                "minLength": 1,
                "description": "why: what was checked, with whom",
            },
            "operator": {**_OPERATOR, "description": "the person who decided"},
            "receipt_no": {"type": "integer", "minimum": 0, "maximum": 999_999_999},
            "last4": {"type": "string", "pattern": LAST4_PATTERN},
        },
        ["state", "note", "operator"],
        closed=True,
    ),
    "IncidentRequest": _obj(
        {
            "fault": {"type": "string", "minLength": 1, "description": "what went wrong"},
            "action": {"type": "string", "minLength": 1, "description": "what was done"},
            "result": {"type": "string", "minLength": 1, "description": "how it ended"},
            "device": _NAME,
            "notes": {"type": "string", "minLength": 1},
            "txn": _TXN_FIELD,
            "operator": _OPERATOR,
        },
        ["fault", "action", "result"],
        closed=True,
    ),
    "PrintRunRequest": _obj(
        {
            "printer": {
                **_NAME,
                "description": "only this printer's jobs (default: every printer's)",
            }
        },
        [],
        closed=True,
    ),
    "CancelJobRequest": _obj({"operator": _OPERATOR}, [], closed=True),
    "RefundPlanRequest": _obj(
        {
            "txn": _TXN_FIELD,
            "amount": {
                **ref("DecimalAmount"),
                "description": "how much in all (default: everything left on the sale)",
            },
            "terminal": {
                **_NAME,
                "description": "the terminal whose per-refund limit applies",
            },
            "operator": _OPERATOR,
        },
        ["txn"],
        closed=True,
    ),
    "RefundPlanRunRequest": _obj(
        {
            "terminal": {**_NAME, "description": "the terminal to refund on"},
            "idempotency_key": {"type": "string", "minLength": 1, "maxLength": 120},
            "operator": _OPERATOR,
        },
        [],
        closed=True,
    ),
    "RefundPlanCancelRequest": _obj(
        {
            "reason": {"type": "string", "minLength": 1, "description": "why it is given up"},
            "operator": _OPERATOR,
        },
        ["reason"],
        closed=True,
    ),
    # -- answers --------------------------------------------------------------------------
    "OperationAccepted": _obj(
        {
            "operation": ref("Operation"),
            "repeated": {
                "type": "boolean",
                "description": "true when the idempotency key named an earlier operation",
            },
        }
    ),
    "OperationDetail": _obj(
        {
            "operation": ref("Operation"),
            "final": {"type": "boolean", "description": "approved, declined or aborted"},
            "receipts": _array(ref("Receipt")),
            "print_jobs": _array(ref("PrintJob")),
        }
    ),
    "TransactionDetail": _obj(
        {
            "operation": ref("Operation"),
            "final": {"type": "boolean"},
            "events": _array(ref("Event")),
            "receipts": _array(ref("Receipt")),
            "print_jobs": _array(ref("PrintJob")),
            "linked": {
                **_array(ref("Operation")),
                "description": "refunds, reversals and bookings that refer to it",
            },
            "refund_plans": _array(ref("RefundPlan")),
        }
    ),
    "ReprintAccepted": _obj(
        {
            "job": ref("PrintJob"),
            "reprint": {
                "type": "boolean",
                "description": (
                    "false when the original receipt had not printed yet: that job is "
                    "the answer and no copy is queued"
                ),
            },
        }
    ),
    "Resolved": _obj(
        {
            "operation": ref("Operation"),
            "print_jobs": {
                **_array(ref("PrintJob")),
                "description": "the receipt built for an approval, queued for its printer",
            },
            "incident": _nullable(ref("Incident")),
            "repeated": {
                "type": "boolean",
                "description": "the same decision was recorded before; nothing changed",
            },
        }
    ),
    "InFlight": {
        "allOf": [ref("Operation"), _obj({"running_pid": _INT_OR_NULL})],
        "description": "pending or sent; running_pid null: interrupted (ask recovery)",
    },
    "Pending": _obj(
        {
            "operations": {
                **_array(ref("Operation")),
                "description": "in_doubt or needs_review",
            },
            "in_flight": _array(ref("InFlight")),
            "refund_plans": {
                **_array(ref("RefundPlan")),
                "description": "open split refunds with parts left",
            },
            "print_jobs_waiting": _INT,
        }
    ),
    "RecoveredOperation": {"allOf": [ref("Operation"), _obj({"detail": _STR})]},
    "RecoveryReport": _obj(
        {
            "resolved": _array(ref("RecoveredOperation")),
            "needs_review": _array(ref("RecoveredOperation")),
            "still_in_doubt": _array(ref("RecoveredOperation")),
            "aborted": _array(ref("Operation")),
            "running": _array({"allOf": [ref("Operation"), _obj({"pid": _INT})]}),
            "printing": _nullable(ref("SpoolReport")),
        }
    ),
    "RefundPlanCreated": _obj(
        {"refund_plan": ref("RefundPlan"), "refund_guard": ref("RefundDecision")}
    ),
    "RefundPlanStarted": _obj(
        {
            "refund_plan": ref("RefundPlan"),
            "operations": {
                **_array(ref("Operation")),
                "description": (
                    "the refunds started so far (the first part; each next part starts "
                    "when the one before is approved): follow the plan"
                ),
            },
            "repeated": {"type": "boolean"},
        }
    ),
    "RefundPlanCancelled": _obj(
        {"refund_plan": ref("RefundPlan"), "not_refunded": _array(ref("DecimalAmount"))}
    ),
    "CheckResult": _obj(
        {
            "device": _STR,
            "check": _STR,
            "status": {"enum": list(CHECK_STATUSES)},
            "text": _STR,
            "duration_seconds": {"type": "number"},
            "at": {"type": "number", "description": "Unix time"},
            "attempts": _INT,
        }
    ),
    "Device": _obj(
        {
            "name": _STR,
            "kind": {"enum": ["printer", "terminal"]},
            "url": _STR,
            "lifecycle": {"enum": list(LIFECYCLE)},
            "up": {"type": "boolean"},
            "detail": _STR,
            "last_contact": {"type": ["number", "null"], "description": "Unix time"},
            "status_age_seconds": {"type": ["number", "null"]},
            "stale": {"type": "boolean"},
            "info": {"type": "object", "additionalProperties": _STR},
            "checks": {"type": "object", "additionalProperties": ref("CheckResult")},
            "paper": {"enum": list(PAPER_STATES), "description": "printers"},
            "cover": {"enum": list(COVER_STATES), "description": "printers"},
            "errors": {
                "type": "object",
                "propertyNames": {"enum": list(PRINTER_ERRORS)},
                "additionalProperties": {"type": ["boolean", "null"]},
                "description": "printers; null: unknown",
            },
            "acquirer": {"enum": list(ACQUIRER_STATES), "description": "terminals"},
            "circuit": {"enum": list(CIRCUIT_STATES), "description": "terminals"},
            "terminal_state": {"type": ["string", "null"], "description": "terminals"},
        },
        [
            "name",
            "kind",
            "url",
            "lifecycle",
            "up",
            "detail",
            "last_contact",
            "status_age_seconds",
            "stale",
            "info",
            "checks",
        ],
    ),
    "Health": _obj(
        {
            "status": {"enum": list(CHECK_STATUSES)},
            "devices": _array(ref("Device")),
            "journal": ref("JournalCheck"),
            "in_doubt": _INT,
            "needs_review": _INT,
            "print_jobs": _obj(
                {"queued": _INT, "printing": _INT, "failed": _INT},
                description="print jobs by state",
            ),
            "late": _array({"type": "string"})
            | {
                "description": "with refresh: devices whose checks did not finish in time "
                "(waiting behind a payment); their entries give what was known before"
            },
        },
        ["status", "devices", "journal", "in_doubt", "needs_review", "print_jobs"],
    ),
    "JournalCheck": _obj(
        {
            "status": {"enum": list(CHECK_STATUSES)},
            "text": _STR,
            "writable": {
                "type": "boolean",
                "description": "false while the last write failed, the file system is "
                "read-only or the journal file is gone: no payment is sent then",
            },
            "free_bytes": _INT_OR_NULL | {"description": "free space under the state directory"},
            "write_errors": _INT | {"description": "failed journal writes since the start"},
            "at": {"type": ["number", "null"], "description": "unix time of the look"},
            "since": {
                "type": ["number", "null"],
                "description": "unix time the status became what it is",
            },
        },
        description="whether the journal can take the next payment (a payment is sent "
        "only once its intent is on disk)",
    ),
}


def _error(description: str, schema: str = "Error") -> dict[str, Any]:
    return _json(ref(schema), description)


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


RESPONSES: dict[str, Any] = {
    "BadRequest": _error("invalid input, named: a field, a parameter, an amount, a name"),
    "Unauthorized": _error("a token is configured and the request did not carry it"),
    "NotFound": _error("no such transaction, print job or refund plan"),
    "TooLarge": _error("the body is over 64 KB"),
    "TimedOut": _error(
        "the body did not arrive within the connection timeout (service.connection_timeout)"
    ),
    "ServerError": _error("the journal failed, or the work could not be started"),
    "Stopping": _error(
        "the daemon is stopping and takes no new money operations, or the journal cannot "
        "be written (nothing was started, nothing reached a terminal), or every "
        "connection is in a request"
    ),
}


def _path_param(name: str, description: str, examples: list[Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": description,
        "examples": {str(e): {"value": e} for e in examples},
    }


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema, "description": description}


_OP_ID = _path_param(
    "id",
    "journal id: 17 or id:17; receipt:1234 (terminal receipt number) and last work too",
    ["17", "id:17", "receipt:1234", "last"],
)
_TXN = _path_param(
    "txn",
    "as the CLI reads TXN: id:17, receipt:1234, last, or a bare number that is a journal "
    "id or a receipt number (refused, with the candidates, when it is both)",
    ["id:17", "receipt:1234", "last", "17"],
)
_JOB_ID = _path_param("id", "print job id", ["17"])
_PLAN_ID = _path_param("id", "refund plan id", ["3"])
_WAIT = _query(
    "wait",
    {"type": "number", "minimum": 0, "maximum": 300},
    "seconds to wait for the end (returns at once when it already ended)",
)
_IDEMPOTENCY = {
    "name": "Idempotency-Key",
    "in": "header",
    "schema": {"type": "string", "minLength": 1, "maxLength": 128},
    "description": "the same as the body's idempotency_key (the header wins)",
}


def _body(schema: str, required: bool = True) -> dict[str, Any]:
    return {
        "required": required,
        "content": {"application/json": {"schema": ref(schema)}},
    }


def _common(*codes: str) -> dict[str, Any]:
    names = {
        "400": "BadRequest",
        "401": "Unauthorized",
        "404": "NotFound",
        "408": "TimedOut",
        "413": "TooLarge",
        "500": "ServerError",
        "503": "Stopping",
    }
    return {code: {"$ref": f"#/components/responses/{names[code]}"} for code in codes}


def _op(
    summary: str,
    responses: dict[str, Any],
    *,
    params: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    errors: tuple[str, ...] = ("400", "401", "500"),
    operation_id: str,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"operationId": operation_id, "summary": summary}
    if params:
        spec["parameters"] = params
    if body is not None:
        spec["requestBody"] = body
        errors = (*errors, "408", "413")
    spec["responses"] = responses | _common(*sorted(set(errors)))
    return spec


PATHS: dict[str, Any] = {
    "/openapi.json": {
        "get": _op(
            "This document",
            {"200": _json({"type": "object"}, "the OpenAPI 3.1 description")},
            errors=("401",),
            operation_id="openapi",
        )
    },
    "/v1/operations": {
        "post": _op(
            "Start a sale, refund, reversal, pre-authorisation or booking",
            {
                "202": _json(ref("OperationAccepted"), "started: follow /v1/operations/{id}"),
                "200": _json(ref("OperationAccepted"), "the idempotency key's operation"),
                "409": {
                    "description": (
                        "refused before it started: the refund guard (with refund_guard), "
                        "a reversal or booking of something that cannot take it, an "
                        "idempotency key used for another request"
                    ),
                    "content": {
                        "application/json": {
                            "schema": {"oneOf": [ref("RefundRefused"), ref("Error")]}
                        }
                    },
                },
            },
            params=[_IDEMPOTENCY],
            body=_body("OperationRequest"),
            errors=("400", "401", "404", "500", "503"),
            operation_id="startOperation",
        )
    },
    "/v1/operations/{id}": {
        "get": _op(
            "An operation, its receipts and print jobs; wait for its end",
            {"200": _json(ref("OperationDetail"), "the operation")},
            params=[_OP_ID, _WAIT],
            errors=("400", "401", "404", "500"),
            operation_id="getOperation",
        )
    },
    "/v1/operations/{id}/reprint": {
        "post": _op(
            "Queue a copy of the stored receipt, marked as a duplicate, on the printer of "
            "the operation's terminal (or the one named)",
            {
                "202": _json(ref("ReprintAccepted"), "queued (or the original still waiting)"),
                "409": _error("not approved, no stored receipt, or no printer configured"),
            },
            params=[_OP_ID],
            body=_body("ReprintRequest", required=False),
            errors=("400", "401", "404", "500"),
            operation_id="reprint",
        )
    },
    "/v1/operations/{id}/resolve": {
        "post": _op(
            "Record a person's decision on an operation in doubt or needing review",
            {
                "200": _json(ref("Resolved"), "recorded (or the same decision was before)"),
                "409": _error("the operation is not in doubt or needing review"),
            },
            params=[_OP_ID],
            body=_body("ResolveRequest"),
            errors=("400", "401", "404", "500"),
            operation_id="resolveOperation",
        )
    },
    "/v1/transactions": {
        "get": _op(
            "Transactions, newest first",
            {"200": _json(_array(ref("Operation")), "matching operations")},
            params=[
                _query("since", _NAME, "ISO 8601 date or time (local time when no offset)"),
                _query("until", _NAME, "ISO 8601 date (the whole day) or time"),
                _query("last4", {"type": "string", "pattern": LAST4_PATTERN}, "card"),
                _query("state", _STR, "states, comma-separated or repeated"),
                _query("kind", _STR, "kinds, comma-separated or repeated"),
                _query("terminal", _STR, "one terminal's name"),
                _query("amount", ref("DecimalAmount"), "exactly this amount"),
                _query("currency", ref("RequestCurrency"), "of amount (default: configured)"),
                _query(
                    "limit",
                    {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50},
                    "at most this many",
                ),
            ],
            operation_id="listTransactions",
        )
    },
    "/v1/transactions/{txn}": {
        "get": _op(
            "One transaction with its history, receipts, print jobs, linked refunds and "
            "split refund plans (what posdriver txn show prints)",
            {"200": _json(ref("TransactionDetail"), "the transaction")},
            params=[_TXN],
            errors=("401", "404", "500"),
            operation_id="getTransaction",
        )
    },
    "/v1/transactions/{txn}/refund-guard": {
        "get": _op(
            "Ask the refund guard about a refund of this transaction, without starting it",
            {"200": _json(ref("RefundDecision"), "the guard's decision (allowed or not)")},
            params=[
                _TXN,
                _query("amount", ref("DecimalAmount"), "default: everything left"),
                _query("terminal", _NAME, "the terminal whose per-refund limit applies"),
            ],
            errors=("400", "401", "404", "500"),
            operation_id="checkRefund",
        )
    },
    "/v1/pending": {
        "get": _op(
            "What needs a person: operations in doubt or needing review, operations in "
            "flight, unfinished split refunds, receipts waiting",
            {"200": _json(ref("Pending"), "what needs attention")},
            errors=("401", "500"),
            operation_id="pending",
        )
    },
    "/v1/recover": {
        "post": _op(
            "Ask the terminals about operations in doubt now",
            {"200": _json(ref("RecoveryReport"), "what was resolved and what was not")},
            errors=("401", "500"),
            operation_id="recover",
        )
    },
    "/v1/incidents": {
        "get": _op(
            "The fault record, oldest first",
            {"200": _json(_array(ref("Incident")), "incidents")},
            params=[
                _query(
                    "since",
                    {"type": "string", "examples": ["2026-11-23", "24h", "7d", "2w"]},
                    "ISO 8601 date or time, or a span back from now: 24h, 7d, 2w",
                ),
                _query(
                    "limit",
                    {"type": "integer", "minimum": 1, "maximum": 10000, "default": 1000},
                    "the newest this many",
                ),
            ],
            operation_id="listIncidents",
        ),
        "post": _op(
            "Write a staff entry into the fault record",
            {
                "201": _json(ref("Incident"), "recorded"),
            },
            body=_body("IncidentRequest"),
            errors=("400", "401", "404", "500"),
            operation_id="addIncident",
        ),
    },
    "/v1/print-jobs": {
        "get": _op(
            "The print queue, newest first",
            {"200": _json(_array(ref("PrintJob")), "print jobs")},
            params=[
                _query(
                    "state",
                    _STR,
                    "job states, comma-separated or repeated (default: queued, printing, "
                    "failed: the jobs that wait)",
                ),
                _query(
                    "limit",
                    {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                    "at most this many",
                ),
            ],
            operation_id="listPrintJobs",
        )
    },
    "/v1/print-jobs/run": {
        "post": _op(
            "Print what is waiting now (each printer's worker runs the spooler once)",
            {
                "200": _json(ref("SpoolReport"), "what printed and what still waits"),
                "409": _error("no printer is configured"),
            },
            body=_body("PrintRunRequest", required=False),
            errors=("400", "401", "500", "503"),
            operation_id="runPrintJobs",
        )
    },
    "/v1/print-jobs/{id}": {
        "get": _op(
            "One print job",
            {"200": _json(ref("PrintJob"), "the job")},
            params=[_JOB_ID],
            errors=("400", "401", "404", "500"),
            operation_id="getPrintJob",
        )
    },
    "/v1/print-jobs/{id}/cancel": {
        "post": _op(
            "Drop a waiting job from the queue (written into the transaction's history)",
            {
                "200": _json(ref("PrintJob"), "cancelled"),
                "409": _error("the job is not waiting (done or cancelled already)"),
            },
            params=[_JOB_ID],
            body=_body("CancelJobRequest", required=False),
            errors=("400", "401", "404", "500"),
            operation_id="cancelPrintJob",
        )
    },
    "/v1/refund-plans": {
        "post": _op(
            "Split a refund over the terminal's per-refund limit into a plan (nothing is "
            "refunded yet)",
            {
                "201": _json(ref("RefundPlanCreated"), "the plan"),
                "409": {
                    "description": (
                        "no plan: the refund can go as one, the guard stops it for another "
                        "reason (refund_guard), or the sale has an open plan (refund_plan)"
                    ),
                    "content": {
                        "application/json": {
                            "schema": {"oneOf": [ref("RefundRefused"), ref("PlanExists")]}
                        }
                    },
                },
            },
            body=_body("RefundPlanRequest"),
            errors=("400", "401", "404", "500"),
            operation_id="createRefundPlan",
        )
    },
    "/v1/refund-plans/{id}": {
        "get": _op(
            "A split refund plan: parts, refunds made, what is left; wait for a run's end",
            {"200": _json(ref("RefundPlan"), "the plan")},
            params=[_PLAN_ID, _WAIT],
            errors=("400", "401", "404", "500"),
            operation_id="getRefundPlan",
        )
    },
    "/v1/refund-plans/{id}/run": {
        "post": _op(
            "Refund the plan's remaining parts one after another (stops at the first that "
            "does not go through)",
            {
                "202": _json(ref("RefundPlanStarted"), "started: follow the plan"),
                "200": _json(ref("RefundPlanStarted"), "the idempotency key's earlier run"),
                "409": {
                    "description": (
                        "not started: the plan is not open, is running, has a part in "
                        "doubt, has nothing left, or the guard stops what is left"
                    ),
                    "content": {
                        "application/json": {
                            "schema": {"oneOf": [ref("RefundRefused"), ref("Error")]}
                        }
                    },
                },
            },
            params=[_PLAN_ID, _IDEMPOTENCY],
            body=_body("RefundPlanRunRequest", required=False),
            errors=("400", "401", "404", "500", "503"),
            operation_id="runRefundPlan",
        )
    },
    "/v1/refund-plans/{id}/cancel": {
        "post": _op(
            "Give up the rest of a split refund (a person's decision, with the reason)",
            {
                "200": _json(ref("RefundPlanCancelled"), "cancelled"),
                "409": _error("the plan is not open, or is being carried out now"),
            },
            params=[_PLAN_ID],
            body=_body("RefundPlanCancelRequest"),
            errors=("400", "401", "404", "500"),
            operation_id="cancelRefundPlan",
        )
    },
    "/v1/devices": {
        "get": _op(
            "Each device's lifecycle, status (unknown when stale) and checks",
            {"200": _json(_array(ref("Device")), "devices")},
            errors=("401",),
            operation_id="devices",
        )
    },
    "/v1/health": {
        "get": _op(
            "Overall health: 200 ok/warning, 503 critical/unknown",
            {
                "200": _json(ref("Health"), "healthy"),
                "503": _json(ref("Health"), "something is down"),
            },
            params=[
                _query(
                    "refresh",
                    {"type": "string", "enum": ["status", "all"]},
                    "run the checks now before answering (as `posdriver check` does): "
                    "`status` reads every device's status, `all` also has each terminal "
                    "dial its acquirer (a diagnosis; some acquirers charge per call). Each "
                    "runs behind any payment in progress; after 10 s (`all`: 60 s) the "
                    "answer gives what is known and names the devices in `late`",
                ),
            ],
            errors=("400", "401"),
            operation_id="health",
        )
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
