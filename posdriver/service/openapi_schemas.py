"""The schemas of the API's OpenAPI document (:mod:`.openapi`), by name: the values
it names, the errors, the journal records (made from their declarations,
:mod:`.openapi_records`), the request bodies (made from their models,
:mod:`.api_bodies`) and the answers the handlers put together from them.

The value sets (states, kinds, lifecycles, check statuses) are the code's own tuples, so
the document cannot drift from what the daemon says.
"""

from __future__ import annotations

from typing import Any

from ..journal.records import (
    CURRENCY_PATTERN,
    JOB_STATES,
    PLAN_STATES,
    Event,
    Incident,
    Operation,
    PrintJob,
    RefundPlan,
    StoredReceipt,
)
from ..journal.states import Kind, State
from .api_bodies import request_schemas
from .openapi_parts import (
    DECIMAL_PATTERN,
    INT,
    INT_OR_NULL,
    REQUEST_CURRENCY_PATTERN,
    STR,
    STR_OR_NULL,
    array,
    nullable,
    obj,
    ref,
)
from .openapi_records import record_schema
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
GUARD_STOPS = [
    "not_refundable",
    "currency",
    "sale_remainder",
    "unresolved_refunds",
    "per_refund_limit",
    "max_split_parts",
    "daily_cap",
]

SCHEMAS: dict[str, Any] = {
    # -- values ---------------------------------------------------------------------------
    "DecimalAmount": {
        "type": "string",
        "pattern": DECIMAL_PATTERN,
        "description": "a positive amount as a decimal string with a dot, never a number",
        "examples": ["12.50"],
    },
    "Currency": {"type": "string", "pattern": CURRENCY_PATTERN, "examples": ["EUR"]},
    "RequestCurrency": {
        "type": "string",
        "pattern": REQUEST_CURRENCY_PATTERN,
        "description": "an ISO 4217 code, in any case (eur is EUR)",
        "examples": ["EUR"],
    },
    "Money": obj(
        {"amount": ref("DecimalAmount"), "currency": ref("Currency")},
        description="an amount with its currency (the refund guard's figures)",
    ),
    "OperationKind": {"enum": MONEY_KINDS},
    "OperationState": {"enum": STATES},
    "JobState": {"enum": list(JOB_STATES)},
    "PlanState": {"enum": list(PLAN_STATES)},
    # -- errors ---------------------------------------------------------------------------
    "Error": obj(
        {"error": {"type": "string", "description": "what is wrong, in a sentence"}},
        description="every error answer",
    ),
    "RefundRefused": obj(
        {"error": STR, "refund_guard": ref("RefundDecision")},
        description="the refund guard stopped it: every stop, with its limit, and a plan",
    ),
    "PlanExists": obj(
        {"error": STR, "refund_plan": ref("RefundPlan")},
        description="the sale already has an open split refund plan: run or cancel it",
    ),
    # -- journal records (from their declarations) ----------------------------------------
    "Operation": record_schema(
        Operation,
        description="one money operation as the journal holds it; the card only masked",
    ),
    "Event": record_schema(Event, description="one line of an operation's history"),
    "Receipt": record_schema(
        StoredReceipt,
        description="a stored receipt, exactly as printed (card numbers masked)",
    ),
    "PrintJob": record_schema(PrintJob),
    "JobOutcome": {
        "allOf": [
            ref("PrintJob"),
            obj({"printed": {"type": "boolean"}, "reason": STR_OR_NULL}),
        ],
        "description": "a print job after a spooler run; reason: why it still waits",
    },
    "SpoolReport": obj(
        {
            "printed": INT,
            "waiting": INT,
            "jobs": array(ref("JobOutcome")),
        }
    ),
    "Incident": record_schema(Incident, description="one line of the fault record"),
    "RefundPlan": record_schema(
        RefundPlan,
        after={"parts": {"currency": ref("Currency")}},  # as the plan's answer has it
        extra={
            "left": {
                **array(ref("DecimalAmount")),
                "description": "parts with no approved or unresolved refund yet, in order",
            },
            "running": {
                "type": "boolean",
                "description": "the daemon is carrying out its parts now",
            },
            "refunds": {
                **array(ref("Operation")),
                "description": "every refund made for the plan, in order",
            },
        },
        description="a refund split into parts within the terminal's per-refund limit",
    ),
    "Limit": obj(
        {
            "name": {"enum": GUARD_STOPS},
            "limit": nullable(ref("Money")),
            "message": STR,
        }
    ),
    "RefundDecision": obj(
        {
            "sale_id": INT_OR_NULL,
            "amount": ref("Money"),
            "allowed": {"type": "boolean"},
            "stops": array(ref("Limit")),
            "plan": {
                **array(ref("Money")),
                "description": "a split plan, when only the per-refund limit is in the way",
            },
            "remainder_after": ref("Money"),
            "explanation": STR,
        },
        description="what the refund guard found",
    ),
    # -- requests (from their models) -----------------------------------------------------
    **request_schemas(),
    # -- answers --------------------------------------------------------------------------
    "OperationAccepted": obj(
        {
            "operation": ref("Operation"),
            "repeated": {
                "type": "boolean",
                "description": "true when the idempotency key named an earlier operation",
            },
        }
    ),
    "OperationDetail": obj(
        {
            "operation": ref("Operation"),
            "final": {"type": "boolean", "description": "approved, declined or aborted"},
            "receipts": array(ref("Receipt")),
            "print_jobs": array(ref("PrintJob")),
            "progress": array(STR)
            | {
                "description": "what the terminal has said while running it, oldest first "
                "(kept in memory for this daemon's latest operations; empty otherwise)"
            },
        }
    ),
    "TransactionDetail": obj(
        {
            "operation": ref("Operation"),
            "final": {"type": "boolean"},
            "events": array(ref("Event")),
            "receipts": array(ref("Receipt")),
            "print_jobs": array(ref("PrintJob")),
            "linked": {
                **array(ref("Operation")),
                "description": "refunds, reversals and bookings that refer to it",
            },
            "refund_plans": array(ref("RefundPlan")),
        }
    ),
    "ReprintAccepted": obj(
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
    "Resolved": obj(
        {
            "operation": ref("Operation"),
            "print_jobs": {
                **array(ref("PrintJob")),
                "description": "the receipt built for an approval, queued for its printer",
            },
            "incident": nullable(ref("Incident")),
            "repeated": {
                "type": "boolean",
                "description": "the same decision was recorded before; nothing changed",
            },
        }
    ),
    "InFlight": {
        "allOf": [ref("Operation"), obj({"running_pid": INT_OR_NULL})],
        "description": "pending or sent; running_pid null: interrupted (ask recovery)",
    },
    "Pending": obj(
        {
            "operations": {
                **array(ref("Operation")),
                "description": "in_doubt or needs_review",
            },
            "in_flight": array(ref("InFlight")),
            "refund_plans": {
                **array(ref("RefundPlan")),
                "description": "open split refunds with parts left",
            },
            "print_jobs_waiting": INT,
        }
    ),
    "RecoveredOperation": {"allOf": [ref("Operation"), obj({"detail": STR})]},
    "RecoveryReport": obj(
        {
            "resolved": array(ref("RecoveredOperation")),
            "needs_review": array(ref("RecoveredOperation")),
            "still_in_doubt": array(ref("RecoveredOperation")),
            "aborted": array(ref("Operation")),
            "running": array({"allOf": [ref("Operation"), obj({"pid": INT})]}),
            "printing": nullable(ref("SpoolReport")),
        }
    ),
    "RefundPlanCreated": obj(
        {"refund_plan": ref("RefundPlan"), "refund_guard": ref("RefundDecision")}
    ),
    "RefundPlanStarted": obj(
        {
            "refund_plan": ref("RefundPlan"),
            "operations": {
                **array(ref("Operation")),
                "description": (
                    "the refunds started so far (the first part; each next part starts "
                    "when the one before is approved): follow the plan"
                ),
            },
            "repeated": {"type": "boolean"},
        }
    ),
    "RefundPlanCancelled": obj(
        {"refund_plan": ref("RefundPlan"), "not_refunded": array(ref("DecimalAmount"))}
    ),
    "CheckResult": obj(
        {
            "device": STR,
            "check": STR,
            "status": {"enum": list(CHECK_STATUSES)},
            "text": STR,
            "duration_seconds": {"type": "number"},
            "at": {"type": "number", "description": "Unix time"},
            "attempts": INT,
            "since": {
                "type": "number",
                "description": "Unix time since which the check has had this status",
            },
        }
    ),
    "Device": obj(
        {
            "name": STR,
            "kind": {"enum": ["printer", "terminal"]},
            "url": STR,
            "lifecycle": {"enum": list(LIFECYCLE)},
            "up": {"type": "boolean"},
            "detail": STR,
            "last_contact": {"type": ["number", "null"], "description": "Unix time"},
            "status_age_seconds": {"type": ["number", "null"]},
            "stale": {"type": "boolean"},
            "info": {"type": "object", "additionalProperties": STR},
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
    "Health": obj(
        {
            "status": {"enum": list(CHECK_STATUSES)},
            "devices": array(ref("Device")),
            "journal": ref("JournalCheck"),
            "state_dir": STR
            | {
                "description": "the state directory whose journal this daemon serves, as "
                "an absolute path with symbolic links resolved (a desk command given "
                "--state-dir or --config asks this daemon only when it is the same)"
            },
            "in_doubt": INT,
            "needs_review": INT,
            "print_jobs": obj(
                {"queued": INT, "printing": INT, "failed": INT},
                description="print jobs by state",
            ),
            "late": array({"type": "string"})
            | {
                "description": "with refresh: devices whose checks did not finish in time "
                "(waiting behind a payment); their entries give what was known before"
            },
        },
        ["status", "devices", "journal", "state_dir", "in_doubt", "needs_review", "print_jobs"],
    ),
    "JournalCheck": obj(
        {
            "status": {"enum": list(CHECK_STATUSES)},
            "text": STR,
            "writable": {
                "type": "boolean",
                "description": "false while the last write failed, the file system is "
                "read-only or the journal file is gone: no payment is sent then",
            },
            "free_bytes": INT_OR_NULL | {"description": "free space under the state directory"},
            "write_errors": INT | {"description": "failed journal writes since the start"},
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
