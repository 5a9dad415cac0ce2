"""The paths of the API's OpenAPI document (:mod:`.openapi`): every operation, its
parameters, its body (a schema of :mod:`.openapi_schemas`) and its answers, and the
error answers they share. The API takes the query parameters it accepts from here."""

from __future__ import annotations

from typing import Any

from ..card import LAST4_PATTERN
from .openapi_parts import NAME, STR, array, ref


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
_PROGRESS = _query(
    "progress",
    {"type": "integer", "minimum": 0, "maximum": 100},
    "with wait: how many of the terminal's texts (progress) the caller has seen; the "
    "answer also comes as soon as the terminal says another",
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
            params=[_OP_ID, _WAIT, _PROGRESS],
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
            {"200": _json(array(ref("Operation")), "matching operations")},
            params=[
                _query("since", NAME, "ISO 8601 date or time (local time when no offset)"),
                _query("until", NAME, "ISO 8601 date (the whole day) or time"),
                _query("last4", {"type": "string", "pattern": LAST4_PATTERN}, "card"),
                _query("state", STR, "states, comma-separated or repeated"),
                _query("kind", STR, "kinds, comma-separated or repeated"),
                _query("terminal", STR, "one terminal's name"),
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
                _query("terminal", NAME, "the terminal whose per-refund limit applies"),
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
            {"200": _json(array(ref("Incident")), "incidents")},
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
            {"200": _json(array(ref("PrintJob")), "print jobs")},
            params=[
                _query(
                    "state",
                    STR,
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
            {"200": _json(array(ref("Device")), "devices")},
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
