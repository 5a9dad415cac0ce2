"""The local HTTP+JSON API for the front-desk software (described by ``/openapi.json``).

Money requests return at once with the operation's journal id (``202``); the result is
polled or awaited (``GET /v1/operations/{id}?wait=SECONDS``). Amounts are decimal
strings. An ``Idempotency-Key`` (header or ``idempotency_key`` field) makes a retried
request return the first one's operation instead of charging again. Errors are JSON
``{"error": "..."}`` naming what is wrong: 400 bad input (an unknown query parameter or
body field too), 401 no or wrong token, 404 unknown, 405 wrong method, 409 refused in
the state things are in (the refund guard, an operation not in doubt, a job already
printed), 503 stopping.

Everything the CLI's journal commands do has an endpoint here, so that while the daemon
owns the devices the CLI asks it instead of opening them (:mod:`posdriver.cashier.via_daemon`).

Served by the standard library's threading HTTP server: the API is small, local and
low-traffic, and every request is a few journal reads or a queued device operation.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from ..config import Address
from .openapi import PATHS, accepted_fields, accepted_query

if TYPE_CHECKING:
    from ..journal import Journal, Operation
    from ..journal.records import RefundPlan
    from .daemon import Daemon

log = logging.getLogger(__name__)

MONEY_KINDS = ("sale", "refund", "reversal", "pre_auth", "booking")
JOB_STATES = ("queued", "printing", "done", "failed", "cancelled")
WAITING_JOBS = ("queued", "printing", "failed")
MAX_BODY = 64 * 1024
MAX_WAIT = 300.0
START_TIMEOUT = 5.0  # how long a 202 waits for the operation to be in the journal

Answer = tuple[int, Any]


class ApiError(Exception):
    def __init__(
        self,
        status: HTTPStatus,
        message: str,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.extra = extra or {}
        self.headers = headers or {}


def _bad(message: str) -> ApiError:
    return ApiError(HTTPStatus.BAD_REQUEST, message)


def _conflict(message: str, extra: dict[str, Any] | None = None) -> ApiError:
    return ApiError(HTTPStatus.CONFLICT, message, extra)


# -- routes ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Route:
    """One endpoint: its method, its path as the OpenAPI document writes it (``{name}``
    is one path segment, handed to the handler) and the :class:`Api` method answering."""

    method: str
    path: str
    handler: str

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(p for p in self.path.split("/") if p)

    def match(self, parts: list[str]) -> dict[str, str] | None:
        if len(parts) != len(self.segments):
            return None
        params: dict[str, str] = {}
        for want, got in zip(self.segments, parts, strict=True):
            if want.startswith("{"):
                params[want[1:-1]] = got
            elif want != got:
                return None
        return params

    @property
    def wildcards(self) -> int:
        return sum(1 for s in self.segments if s.startswith("{"))


# How long GET /v1/health?refresh= waits for the checks it asked for: a status read is
# quick unless a device is silent; a diagnosis dials the acquirer (seconds, more over a
# serial line). `posdriver check` waits a little longer than these.
REFRESH_WAIT = 10.0
REFRESH_ALL_WAIT = 60.0


ROUTES: tuple[Route, ...] = (
    Route("GET", "/openapi.json", "openapi"),
    Route("POST", "/v1/operations", "start_operation"),
    Route("GET", "/v1/operations/{id}", "operation"),
    Route("POST", "/v1/operations/{id}/reprint", "reprint"),
    Route("POST", "/v1/operations/{id}/resolve", "resolve"),
    Route("GET", "/v1/transactions", "transactions"),
    Route("GET", "/v1/transactions/{txn}", "transaction"),
    Route("GET", "/v1/transactions/{txn}/refund-guard", "refund_guard"),
    Route("GET", "/v1/pending", "pending"),
    Route("POST", "/v1/recover", "recover"),
    Route("GET", "/v1/incidents", "incidents"),
    Route("POST", "/v1/incidents", "add_incident"),
    Route("GET", "/v1/print-jobs", "print_jobs"),
    Route("POST", "/v1/print-jobs/run", "run_print_jobs"),
    Route("GET", "/v1/print-jobs/{id}", "print_job"),
    Route("POST", "/v1/print-jobs/{id}/cancel", "cancel_print_job"),
    Route("POST", "/v1/refund-plans", "create_plan"),
    Route("GET", "/v1/refund-plans/{id}", "refund_plan"),
    Route("POST", "/v1/refund-plans/{id}/run", "run_plan"),
    Route("POST", "/v1/refund-plans/{id}/cancel", "cancel_plan"),
    Route("GET", "/v1/devices", "devices"),
    Route("GET", "/v1/health", "health"),
)


def find_route(method: str, path: str) -> tuple[Route, dict[str, str]]:
    """The route for ``method`` and ``path``: the most specific template that matches
    (``/v1/print-jobs/run`` before ``/v1/print-jobs/{id}``), else a 404 or 405."""
    parts = [unquote(p) for p in path.split("/") if p]
    matching = [(r, p) for r in ROUTES if (p := r.match(parts)) is not None]
    if not matching:
        raise ApiError(HTTPStatus.NOT_FOUND, f"no such endpoint: {path}")
    best = min(r.wildcards for r, _ in matching)
    same = [(r, p) for r, p in matching if r.wildcards == best]
    for route, params in same:
        if route.method == method:
            return route, params
    allowed = sorted({r.method for r, _ in same})
    raise ApiError(
        HTTPStatus.METHOD_NOT_ALLOWED,
        f"{method} is not served on {path}; use {' or '.join(allowed)}",
        headers={"Allow": ", ".join(allowed)},
    )


@dataclass
class Request:
    """What a handler gets: path parameters, query, headers and the body, read (and its
    fields checked against the OpenAPI document) only when the handler asks for it."""

    route: Route
    params: dict[str, str]
    query: dict[str, list[str]]
    headers: Any  # the request's headers (case-insensitive)
    read_body: Callable[[], dict[str, Any]] = field(repr=False)
    _body: dict[str, Any] | None = field(default=None, repr=False)

    def body(self) -> dict[str, Any]:
        if self._body is None:
            body = self.read_body()
            known = accepted_fields(self.route.path, self.route.method) or frozenset()
            unknown = sorted(set(body) - known)
            if unknown:
                raise _bad(
                    f"unknown field{'s' if len(unknown) > 1 else ''} "
                    f"{', '.join(repr(u) for u in unknown)} for {self.route.method} "
                    f"{self.route.path}; it takes {', '.join(sorted(known)) or 'no fields'}"
                )
            self._body = body
        return self._body

    def one(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def many(self, name: str) -> list[str]:
        return [s.strip() for v in self.query.get(name, []) for s in v.split(",") if s.strip()]


# -- body fields -------------------------------------------------------------------------
def _text(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    """A string field: absent or null is None (or a 400 when required); not a string,
    or blank, is a 400 naming the field."""
    value = body.get(name)
    if value is None:
        if required:
            raise _bad(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise _bad(f"{name} must be a string, got {json.dumps(value)}")
    if not value.strip():
        raise _bad(f"{name} must not be empty")
    return value.strip()


def _operator(body: dict[str, Any], *, required: bool = False) -> str:
    who = _text(body, "operator", required=required)
    if who is not None and len(who) > 200:
        raise _bad("operator must be at most 200 characters")
    return who or "api"


def _seconds(value: Any, name: str) -> float:
    """A number of seconds, 0..MAX_WAIT, from a query string or a JSON number."""
    if isinstance(value, bool):
        raise _bad(f"{name} must be a number of seconds, got {json.dumps(value)}")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise _bad(f"{name} must be a number of seconds, got {value!r}") from None
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_WAIT:
        raise _bad(f"{name} must be 0..{MAX_WAIT:g} seconds, got {value!r}")
    return seconds


def _whole(text: str | None, name: str, low: int, high: int, default: int) -> int:
    if text is None:
        return default
    try:
        number = int(text)
    except ValueError:
        raise _bad(f"{name} must be a whole number, got {text!r}") from None
    if not low <= number <= high:
        raise _bad(f"{name} must be {low}..{high}, got {number}")
    return number


def _record_id(text: str, what: str) -> int:
    if not text.isdigit():
        raise _bad(f"a {what} id is a whole number, got {text!r}")
    return int(text)


def _when(name: str, text: str, *, end: bool = False) -> datetime:
    """An ISO date (a local day: its start, or with ``end`` the next day's start) or an
    ISO time (local when it has no offset)."""
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = datetime.fromisoformat(text)
            return (day + timedelta(days=1) if end else day).astimezone()
        value = datetime.fromisoformat(text)
    except ValueError:
        raise _bad(f"{name}: {text!r} is not an ISO date or time") from None
    return value if value.tzinfo else value.astimezone()


class Api:
    """The request logic, apart from HTTP plumbing (so it reads as what it does)."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.running: list[threading.Thread] = []  # money work in flight (joined at stop)
        self.plan_runs: dict[int, threading.Thread] = {}
        self._plans = threading.Lock()  # one decision at a time about starting a plan
        self._threads = threading.Lock()  # guards ``running``

    @property
    def journal(self) -> Journal:
        journal = self.daemon.journal
        assert journal is not None
        return journal

    def _not_stopping(self) -> None:
        if self.daemon.stopping:
            raise ApiError(HTTPStatus.SERVICE_UNAVAILABLE, "the daemon is stopping")

    def _op(self, ref: str) -> Operation:
        """An operation named in a path: a bare number is a journal id."""
        return self.journal.find(f"id:{ref}" if ref.isdigit() else ref)

    def _txn(self, ref: Any) -> Operation:
        """An operation named in a body: an integer is a journal id, a string is read as
        the CLI reads TXN."""
        if isinstance(ref, bool) or not isinstance(ref, str | int):
            raise _bad(f"txn must be a journal id or a string such as 'id:17', got {ref!r}")
        return self.journal.find(ref if isinstance(ref, str) else f"id:{ref}")

    def _terminal(self, body: dict[str, Any]) -> str | None:
        name = _text(body, "terminal")
        if name is not None:
            self.daemon.config.terminal(name)  # a wrong name is a 400 listing the real ones
        return name

    def _key(self, req: Request, body: dict[str, Any], longest: int = 128) -> str | None:
        key = req.headers.get("Idempotency-Key") or body.get("idempotency_key")
        if key is not None and (not isinstance(key, str) or not 1 <= len(key) <= longest):
            raise _bad(f"idempotency_key must be 1..{longest} characters")
        return key

    def _started(self, key: str, thread: threading.Thread, what: str) -> Operation:
        """The operation a thread just began under ``key``, once it is in the journal."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            op = self.journal.by_idempotency_key(key)
            if op is not None:
                return op
            if not thread.is_alive():
                break
            time.sleep(0.005)
        raise ApiError(HTTPStatus.INTERNAL_SERVER_ERROR, f"the {what} could not be started")

    def _background(self, target: Callable[[], None], name: str) -> threading.Thread:
        thread = threading.Thread(target=target, name=name, daemon=True)
        with self._threads:
            self.running = [t for t in self.running if t.is_alive()] + [thread]
        thread.start()
        return thread

    # -- money ---------------------------------------------------------------------------
    def start_operation(self, req: Request) -> Answer:
        from ..money import Money

        self._not_stopping()
        body = req.body()
        kind = body.get("kind")
        if kind not in MONEY_KINDS:
            raise _bad(f"kind must be one of {', '.join(MONEY_KINDS)}; got {kind!r}")
        key = self._key(req, body)
        if key is not None:
            earlier = self.journal.by_idempotency_key(key)
            if earlier is not None:
                asked = body.get("amount")
                if earlier.kind.value != kind or (
                    isinstance(asked, str)
                    and earlier.amount is not None
                    and asked.strip() != earlier.amount.decimal()
                ):
                    raise _conflict(
                        f"idempotency key {key!r} was used for id:{earlier.id} "
                        f"({earlier.kind.value} of {earlier.amount or '-'}), not for this "
                        "request; use a new key"
                    )
                return HTTPStatus.OK, {"operation": earlier.as_dict(), "repeated": True}
        currency = _text(body, "currency") or self.daemon.config.currency
        amount = None
        if body.get("amount") is not None:
            if not isinstance(body["amount"], str):
                raise _bad('amount must be a decimal string such as "12.50" (not a JSON number)')
            amount = Money.parse(body["amount"], currency)
        terminal = self._terminal(body)
        cashier = self.daemon.cashier(actor=_operator(body))
        parent = None
        if kind in ("refund", "reversal", "booking"):
            ref = body.get("txn")
            if ref is None:
                raise _bad(f"a {kind} needs txn: the journal id it refers to")
            parent = self._txn(ref)
            self._check_parent(kind, parent)
        if kind in ("sale", "pre_auth", "booking") and amount is None:
            raise _bad(f"a {kind} needs an amount")
        if kind == "refund":
            decision = cashier.refund_decision(parent, amount, on=terminal)
            if not decision.allowed:
                raise _conflict(decision.explain(), {"refund_guard": decision.as_dict()})
            amount = decision.amount
        key = key or f"api-{uuid.uuid4()}"

        def run() -> None:
            try:
                if kind == "sale":
                    result = cashier.sale(amount, on=terminal, idempotency_key=key)
                elif kind == "pre_auth":
                    result = cashier.pre_authorise(amount, on=terminal, idempotency_key=key)
                elif kind == "refund":
                    result = cashier.refund(
                        parent, amount, on=terminal, checked=True, idempotency_key=key
                    )
                elif kind == "reversal":
                    result = cashier.reverse(parent, on=terminal, idempotency_key=key)
                else:
                    result = cashier.book(parent, amount, idempotency_key=key)
                self.daemon.count_outcome(kind, result.operation.state)
            except Exception:
                log.exception("%s failed", kind)

        thread = self._background(run, f"api-{kind}")
        op = self._started(key, thread, kind)
        return HTTPStatus.ACCEPTED, {"operation": op.as_dict(), "repeated": False}

    def _check_parent(self, kind: str, parent: Any) -> None:
        """What a refund, reversal or booking refers to must be able to take it: say so
        now (409), not after the request was accepted."""
        from ..journal import Kind, State

        what = f"id:{parent.id} is {parent.state.value.replace('_', ' ')} ({parent.kind.value})"
        if kind == "booking" and (
            parent.kind is not Kind.PRE_AUTH or parent.state is not State.APPROVED
        ):
            raise _conflict(f"{what}: only an approved pre-authorisation can be booked")
        if kind == "reversal":
            if parent.kind is not Kind.SALE or parent.state is not State.APPROVED:
                raise _conflict(f"{what}: only an approved sale can be reversed")
            if parent.receipt_no is None:
                raise _conflict(f"id:{parent.id} has no terminal receipt number")
            for child in self.journal.children(parent.id):
                if child.kind is Kind.REVERSAL and child.state not in (
                    State.DECLINED,
                    State.ABORTED,
                ):
                    raise _conflict(
                        f"id:{parent.id} already has a reversal "
                        f"(id:{child.id}, {child.state.value})"
                    )

    def operation(self, req: Request) -> Answer:
        from ..journal.states import FINAL, NEEDS_ATTENTION

        wait = _seconds(req.one("wait") or "0", "wait")
        op = self._op(req.params["id"])
        deadline = time.monotonic() + wait
        settled = FINAL | NEEDS_ATTENTION
        while op.state not in settled and time.monotonic() < deadline:
            time.sleep(0.02)
            op = self.journal.get(op.id)
        return HTTPStatus.OK, {
            "operation": op.as_dict(),
            "final": op.state in FINAL,
            "receipts": [r.as_dict() for r in self.journal.receipts(op.id)],
            "print_jobs": [j.as_dict() for j in self.journal.jobs_of(op.id)],
        }

    def reprint(self, req: Request) -> Answer:
        """A copy goes to the printer of the terminal that made the operation (its
        ``printer`` in the config), unless the request names one. While the original
        has not printed yet, the guest gets that and no copy is queued."""
        from ..journal import State

        op = self._op(req.params["id"])
        body = req.body()
        copy = body.get("copy", "customer")
        if copy not in ("customer", "merchant"):
            raise _bad(f"copy must be customer or merchant, got {copy!r}")
        named = _text(body, "printer")
        if named is not None:
            self.daemon.config.printer(named)  # a wrong name is a 400 listing the real ones
        if op.state is not State.APPROVED:
            raise _conflict(
                f"id:{op.id} is {op.state.value.replace('_', ' ')}: it has no receipt to reprint"
            )
        stored = self.journal.receipt(op.id, copy)
        if stored is None:
            raise _conflict(f"id:{op.id} has no stored {copy} receipt")
        if not self.daemon.config.printers:
            raise _conflict("no receipt printer is configured")
        if named is None:
            for job in self.journal.jobs_of(op.id):
                if (
                    job.receipt_id == stored.id
                    and job.purpose == "original"
                    and job.state in ("queued", "printing")
                ):
                    return HTTPStatus.ACCEPTED, {"job": job.as_dict(), "reprint": False}
        printer = named or self._printer_of(op)
        job = self.journal.reprint(op.id, copy, printer, _operator(body))
        return HTTPStatus.ACCEPTED, {"job": job.as_dict(), "reprint": True}

    def _printer_of(self, op: Operation) -> str:
        """Where the receipts of ``op`` print: its terminal's printer, else the first."""
        from ..config import ConfigError

        config = self.daemon.config
        if op.terminal is not None:
            try:
                found = config.printer_for(op.terminal)
            except ConfigError:  # a terminal since removed from the config
                found = None
            if found is not None:
                return found.name
        return config.printers[0].name

    def resolve(self, req: Request) -> Answer:
        """A person's decision on an operation in doubt, with the CLI's rules: a note
        saying why, who decided, a receipt built and queued for an approval, an
        incident in the fault record."""
        from ..cashier.cli import record_decision
        from ..journal import State

        op = self._op(req.params["id"])
        body = req.body()
        verdict = body.get("state")
        if verdict not in ("approved", "declined"):
            raise _bad(f"state must be approved or declined, got {verdict!r}")
        note = _text(body, "note", required=True)
        assert note is not None
        who = _operator(body, required=True)
        receipt_no = body.get("receipt_no")
        if receipt_no is not None and (
            isinstance(receipt_no, bool) or not isinstance(receipt_no, int) or receipt_no < 0
        ):
            raise _bad(f"receipt_no must be a whole number, got {json.dumps(receipt_no)}")
        last4 = body.get("last4")
        if last4 is not None and (not isinstance(last4, str) or not re.fullmatch(r"\d{4}", last4)):
            raise _bad(f"last4 takes exactly four digits, got {json.dumps(last4)}")
        new = State(verdict)
        if op.state is new and op.resolved_by == who and op.note == note:
            return HTTPStatus.OK, {
                "operation": op.as_dict(),
                "print_jobs": [j.as_dict() for j in self.journal.jobs_of(op.id)],
                "incident": None,
                "repeated": True,
            }
        if op.state not in (State.IN_DOUBT, State.NEEDS_REVIEW):
            raise _conflict(
                f"transaction {op.id} is {op.state.value}; only an operation in doubt or "
                "needing review is resolved by hand"
            )
        moved, job_ids, incident = record_decision(
            self.daemon.cashier(actor=who),
            op,
            new,
            by=who,
            note=note,
            receipt_no=receipt_no,
            last4=last4,
        )
        return HTTPStatus.OK, {
            "operation": moved.as_dict(),
            "print_jobs": [self.journal.job(j).as_dict() for j in job_ids],
            "incident": incident.as_dict(),
            "repeated": False,
        }

    # -- the journal ---------------------------------------------------------------------
    def transactions(self, req: Request) -> Answer:
        from ..journal import Kind, State
        from ..journal.journal import Filters
        from ..money import Money

        limit = _whole(req.one("limit"), "limit", 1, 1000, 50)
        try:
            states = tuple(State(s) for s in req.many("state"))
            kinds = tuple(Kind(k) for k in req.many("kind"))
        except ValueError as exc:
            raise _bad(
                f"{exc}; states: {', '.join(s.value for s in State)}; kinds: "
                f"{', '.join(k.value for k in Kind)}"
            ) from None
        last4 = req.one("last4")
        if last4 is not None and not re.fullmatch(r"\d{4}", last4):
            raise _bad(f"last four digits must be four digits, got {last4!r}")
        amount = req.one("amount")
        since, until = req.one("since"), req.one("until")
        filters = Filters(
            since=None if since is None else _when("since", since),
            until=None if until is None else _when("until", until, end=True),
            amount=None
            if amount is None
            else Money.parse(amount, req.one("currency") or self.daemon.config.currency),
            last4=last4,
            states=states,
            kinds=kinds,
            terminal=req.one("terminal"),
            limit=limit,
        )
        return HTTPStatus.OK, [op.as_dict() for op in self.journal.search(filters)]

    def transaction(self, req: Request) -> Answer:
        """Everything ``posdriver txn show`` prints about one transaction."""
        from ..journal.states import FINAL

        op = self.journal.find(req.params["txn"])
        journal = self.journal
        return HTTPStatus.OK, {
            "operation": op.as_dict(),
            "final": op.state in FINAL,
            "events": [e.as_dict() for e in journal.events(op.id)],
            "receipts": [r.as_dict() for r in journal.receipts(op.id)],
            "print_jobs": [j.as_dict() for j in journal.jobs_of(op.id)],
            "linked": [c.as_dict() for c in journal.children(op.id)],
            "refund_plans": [self._plan_view(p) for p in journal.plans_of(op.id)],
        }

    def refund_guard(self, req: Request) -> Answer:
        from ..money import Money

        sale = self.journal.find(req.params["txn"])
        text = req.one("amount")
        amount = None if text is None else Money.parse(text, sale.currency)
        terminal = self._terminal({"terminal": req.one("terminal")})
        decision = self.daemon.cashier().refund_decision(sale, amount, on=terminal)
        return HTTPStatus.OK, decision.as_dict()

    def pending(self, req: Request) -> Answer:
        from ..cashier.terminals import operation_is_live
        from ..journal import State

        journal = self.journal
        in_flight = [
            op.as_dict() | {"running_pid": operation_is_live(self.daemon.config.state_dir, op.id)}
            for op in journal.unresolved(frozenset({State.PENDING, State.SENT}))
        ]
        plans = [self._plan_view(p) for p in journal.open_plans()]
        return HTTPStatus.OK, {
            "operations": [op.as_dict() for op in journal.needing_attention()],
            "in_flight": in_flight,
            "refund_plans": [p for p in plans if p["left"]],
            "print_jobs_waiting": len(journal.open_jobs()),
        }

    def recover(self, req: Request) -> Answer:
        report = self.daemon._recover(attempts=1)
        if report is None:
            raise ApiError(HTTPStatus.INTERNAL_SERVER_ERROR, "recovery failed; see the log")
        return HTTPStatus.OK, report.as_dict()

    def incidents(self, req: Request) -> Answer:
        since_text = req.one("since")
        since = None
        if since_text is not None:
            span = re.fullmatch(r"(\d+)\s*([hdw])", since_text.strip())
            if span:
                hours = int(span.group(1)) * {"h": 1, "d": 24, "w": 168}[span.group(2)]
                since = datetime.now().astimezone() - timedelta(hours=hours)
            else:
                try:
                    since = _when("since", since_text)
                except ApiError:
                    raise _bad(
                        f"since: {since_text!r} is not an ISO date or time, nor a span back "
                        "from now such as 24h, 7d or 2w"
                    ) from None
        limit = _whole(req.one("limit"), "limit", 1, 10000, 1000)
        return HTTPStatus.OK, [i.as_dict() for i in self.journal.incidents(since, limit)]

    def add_incident(self, req: Request) -> Answer:
        body = req.body()
        fault = _text(body, "fault", required=True)
        action = _text(body, "action", required=True)
        result = _text(body, "result", required=True)
        assert fault is not None and action is not None and result is not None
        linked = None if body.get("txn") is None else self._txn(body["txn"])
        incident = self.journal.add_incident(
            operation_id=None if linked is None else linked.id,
            category="note",
            device=_text(body, "device"),
            fault=fault,
            action=action,
            result=result,
            notes=_text(body, "notes"),
            actor=_operator(body),
        )
        return HTTPStatus.CREATED, incident.as_dict()

    # -- print jobs ----------------------------------------------------------------------
    def print_jobs(self, req: Request) -> Answer:
        states = req.many("state") or list(WAITING_JOBS)
        wrong = [s for s in states if s not in JOB_STATES]
        if wrong:
            raise _bad(
                f"state {wrong[0]!r} is not a print job state; states: {', '.join(JOB_STATES)}"
            )
        limit = _whole(req.one("limit"), "limit", 1, 1000, 100)
        jobs = self.journal.jobs(states=states, limit=limit)
        return HTTPStatus.OK, [j.as_dict() for j in jobs]

    def print_job(self, req: Request) -> Answer:
        job = self.journal.job(_record_id(req.params["id"], "print job"))
        return HTTPStatus.OK, job.as_dict()

    def run_print_jobs(self, req: Request) -> Answer:
        """Print what waits now. The printing is done by each printer's worker, which
        owns the printer (the daemon's ``spool_now``); a printer that cannot print now
        leaves its jobs waiting, with the reason, and the daemon prints them later."""
        printer = _text(req.body(), "printer")
        if not self.daemon.config.printers:
            raise _conflict("no receipt printer is configured")
        if printer is not None:
            self.daemon.config.printer(printer)  # a wrong name is a 400 listing the real ones
        self._not_stopping()
        report = self.daemon.spool_now(printer=printer)
        return HTTPStatus.OK, report.as_dict()

    def cancel_print_job(self, req: Request) -> Answer:
        job = self.journal.job(_record_id(req.params["id"], "print job"))
        who = _operator(req.body())
        if job.state not in WAITING_JOBS:
            raise _conflict(f"print job {job.id} is {job.state}; nothing to cancel")
        return HTTPStatus.OK, self.journal.cancel_job(job.id, who).as_dict()

    # -- split refunds -------------------------------------------------------------------
    def _plan_refunds(self, plan: RefundPlan) -> list[Operation]:
        return [op for op in self.journal.children(plan.sale_id) if op.plan_id == plan.id]

    def _missing(self, plan: RefundPlan, refunds: list[Operation]) -> list[int]:
        """Part numbers with no approved or unresolved refund (as the cashier counts)."""
        from ..journal import State

        taken = {op.plan_part for op in refunds if op.state not in (State.DECLINED, State.ABORTED)}
        return [i for i in range(1, len(plan.parts) + 1) if i not in taken]

    def _plan_running(self, plan_id: int) -> bool:
        thread = self.plan_runs.get(plan_id)
        return thread is not None and thread.is_alive()

    def _plan_view(self, plan: RefundPlan) -> dict[str, Any]:
        refunds = self._plan_refunds(plan)
        return plan.as_dict() | {
            "left": [plan.parts[i - 1].decimal() for i in self._missing(plan, refunds)],
            "running": self._plan_running(plan.id),
            "refunds": [op.as_dict() for op in refunds],
        }

    def _plan(self, req: Request) -> RefundPlan:
        return self.journal.plan(_record_id(req.params["id"], "refund plan"))

    def create_plan(self, req: Request) -> Answer:
        """A split plan, made only when the terminal's per-refund limit is all that
        stops the refund (the guard decides, as for ``posdriver refund --split``)."""
        from ..money import Money

        body = req.body()
        if body.get("txn") is None:
            raise _bad("txn is required: the sale to refund")
        sale = self._txn(body["txn"])
        amount = None
        if body.get("amount") is not None:
            if not isinstance(body["amount"], str):
                raise _bad('amount must be a decimal string such as "12.50" (not a JSON number)')
            amount = Money.parse(body["amount"], sale.currency)
        terminal = self._terminal(body)
        cashier = self.daemon.cashier(actor=_operator(body))
        with self._plans:
            for plan in self.journal.plans_of(sale.id):
                view = self._plan_view(plan)
                if plan.state == "open" and view["left"]:
                    raise _conflict(
                        f"sale {sale.id} already has refund plan {plan.id} open (still to "
                        f"refund {' + '.join(view['left'])} {plan.parts[0].currency}): run "
                        "or cancel it",
                        {"refund_plan": view},
                    )
            decision = cashier.refund_decision(sale, amount, on=terminal)
            guard = {"refund_guard": decision.as_dict()}
            if decision.allowed:
                raise _conflict(
                    f"Refund {decision.amount} can go as one refund; no plan is needed "
                    "(POST /v1/operations with kind refund)",
                    guard,
                )
            if not decision.plan:
                raise _conflict(decision.explain(), guard)
            plan_id, _ = cashier.refund_plan(sale, decision)
        view = self._plan_view(self.journal.plan(plan_id))
        return HTTPStatus.CREATED, {"refund_plan": view} | guard

    def refund_plan(self, req: Request) -> Answer:
        wait = _seconds(req.one("wait") or "0", "wait")
        plan = self._plan(req)
        deadline = time.monotonic() + wait
        while self._plan_running(plan.id) and time.monotonic() < deadline:
            time.sleep(0.02)
        return HTTPStatus.OK, self._plan_view(self.journal.plan(plan.id))

    def run_plan(self, req: Request) -> Answer:
        """Carry out a plan's remaining parts, one refund after another, each journaled
        and linked to the sale and the plan; the first that does not go through stops the
        run and the rest stays listed. Each part's idempotency key is the run's key with
        ``#PART``, so a repeated request finds the run it started."""
        from ..journal import State
        from ..money import Money

        self._not_stopping()
        plan = self._plan(req)
        body = req.body()
        key = self._key(req, body, longest=120)
        terminal = self._terminal(body)
        cashier = self.daemon.cashier(actor=_operator(body))
        sale = self.journal.get(plan.sale_id)
        with self._plans:
            plan = self.journal.plan(plan.id)  # as it is now, not as it was before the lock
            refunds = self._plan_refunds(plan)
            if key is not None:
                earlier = [r for r in refunds if (r.idempotency_key or "").startswith(f"{key}#")]
                if earlier:
                    return HTTPStatus.OK, {
                        "refund_plan": self._plan_view(plan),
                        "operations": [op.as_dict() for op in earlier],
                        "repeated": True,
                    }
                for name in (key, *(f"{key}#{part}" for part in range(1, len(plan.parts) + 1))):
                    other = self.journal.by_idempotency_key(name)
                    if other is not None:
                        raise _conflict(
                            f"idempotency key {key!r} was used for id:{other.id}, not for "
                            f"refund plan {plan.id}; use a new key"
                        )
            if self._plan_running(plan.id):
                raise _conflict(
                    f"refund plan {plan.id} is being carried out now; follow it with "
                    f"GET /v1/refund-plans/{plan.id}?wait=60"
                )
            if plan.state != "open":
                raise _conflict(f"refund plan {plan.id} is {plan.state}; nothing is carried out")
            for op in refunds:
                if op.state in (State.PENDING, State.SENT, State.IN_DOUBT, State.NEEDS_REVIEW):
                    raise _conflict(
                        f"refund plan {plan.id}: part {op.plan_part} (transaction {op.id}) is "
                        f"{op.state.value}; resolve it first"
                    )
            missing = self._missing(plan, refunds)
            if not missing:
                raise _conflict(f"refund plan {plan.id} has nothing left to refund")
            # the guard again, on what is left: since the plan was made, part of the sale
            # may have been refunded another way, or it may be another day (daily cap)
            left = Money(sum(plan.parts[i - 1].minor for i in missing), sale.currency)
            decision = cashier.refund_decision(sale, left, on=terminal)
            if not decision.allowed and not decision.plan:
                raise _conflict(decision.explain(), {"refund_guard": decision.as_dict()})
            key = key or f"api-{uuid.uuid4()}"
            run_key = key

            def carry_out() -> None:
                try:
                    for index in missing:
                        if self.daemon.stopping:
                            break  # the rest stays in the plan, listed as pending
                        result = cashier.refund(
                            sale,
                            plan.parts[index - 1],
                            on=terminal,
                            plan_id=plan.id,
                            plan_part=index,
                            checked=True,
                            idempotency_key=f"{run_key}#{index}",
                        )
                        self.daemon.count_outcome("refund", result.operation.state)
                        if result.state is not State.APPROVED:
                            break
                    if not cashier.parts_left(plan.id):
                        self.journal.set_plan_state(plan.id, "done")
                except Exception:
                    log.exception("refund plan %s failed", plan.id)

            thread = self._background(carry_out, f"api-refund-plan-{plan.id}")
            self.plan_runs[plan.id] = thread
        first = self._started(f"{key}#{missing[0]}", thread, f"refund plan {plan.id}")
        return HTTPStatus.ACCEPTED, {
            "refund_plan": self._plan_view(self.journal.plan(plan.id)),
            "operations": [first.as_dict()],
            "repeated": False,
        }

    def cancel_plan(self, req: Request) -> Answer:
        plan = self._plan(req)
        body = req.body()
        reason = _text(body, "reason", required=True)
        assert reason is not None
        cashier = self.daemon.cashier(actor=_operator(body))
        with self._plans:
            if self._plan_running(plan.id):
                raise _conflict(
                    f"refund plan {plan.id} is being carried out now; cancel it when the "
                    "refund in progress has ended"
                )
            plan = self.journal.plan(plan.id)
            if plan.state != "open":
                raise _conflict(f"refund plan {plan.id} is {plan.state} already")
            left = self._plan_view(plan)["left"]
            cashier.cancel_plan(plan.id, reason)
        return HTTPStatus.OK, {
            "refund_plan": self._plan_view(self.journal.plan(plan.id)),
            "not_refunded": left,
        }

    # -- devices -------------------------------------------------------------------------
    def devices(self, req: Request) -> Answer:
        return HTTPStatus.OK, [d.as_dict() for d in self.daemon.snapshot().devices]

    def health(self, req: Request) -> Answer:
        from .snapshot import NAGIOS

        refresh = req.one("refresh")
        late: list[str] = []
        if refresh is not None:
            if refresh not in ("status", "all"):
                raise _bad(f"refresh must be status or all, got {refresh!r}")
            dial = refresh == "all"
            late = self.daemon.check_now(
                connectivity=dial, timeout=REFRESH_ALL_WAIT if dial else REFRESH_WAIT
            )
        snap = self.daemon.snapshot()
        worst = "ok"
        for device in snap.devices:
            statuses = [c.status for c in device.checks.values()] or ["unknown"]
            if not device.up:
                statuses.append("critical")
            for status in statuses:
                if NAGIOS[status] > NAGIOS[worst]:
                    worst = status
        body = {
            "status": worst,
            "devices": [d.as_dict() for d in snap.devices],
            "in_doubt": snap.in_doubt,
            "needs_review": snap.needs_review,
            "print_jobs": snap.print_jobs,
        }
        if refresh is not None:
            body["late"] = late
        return (
            HTTPStatus.OK if worst in ("ok", "warning") else HTTPStatus.SERVICE_UNAVAILABLE
        ), body

    def openapi(self, req: Request) -> Answer:
        from .openapi import OPENAPI

        return HTTPStatus.OK, OPENAPI


def _handler(api: Api, token: str | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "posdriver"
        protocol_version = "HTTP/1.1"
        _raw = b""

        def log_message(self, fmt: str, *args: Any) -> None:
            log.debug("api: " + fmt, *args)

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PUT(self) -> None:
            self._dispatch("PUT")

        def do_PATCH(self) -> None:
            self._dispatch("PATCH")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

        def _dispatch(self, method: str) -> None:
            headers: dict[str, str] = {}
            try:
                self._raw = self._read_body()
                self._authorise()
                status, body = self._route(method)
                if (
                    status == HTTPStatus.CREATED
                    and isinstance(body, dict)
                    and "refund_plan" in body
                ):
                    headers["Location"] = f"/v1/refund-plans/{body['refund_plan']['id']}"
            except ApiError as exc:
                status, body = exc.status, {"error": str(exc)} | exc.extra
                headers = exc.headers
            except Exception as exc:
                status, body = _classify(exc)
            self._send(status, body, headers)

        def _read_body(self) -> bytes:
            """The whole body, read before anything can fail, so that an error answer
            leaves the connection (HTTP/1.1 keep-alive) in step for the next request."""
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                self.close_connection = True
                raise _bad("Content-Length is not a number") from None
            if length > MAX_BODY:
                self.close_connection = True  # not read: the connection cannot go on
                raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request body too large")
            return self.rfile.read(length) if length > 0 else b""

        def _authorise(self) -> None:
            if token is None:
                return
            given = self.headers.get("Authorization", "")
            expected = f"Bearer {token}"
            if not hmac.compare_digest(given.encode(), expected.encode()):
                raise ApiError(HTTPStatus.UNAUTHORIZED, "missing or wrong bearer token")

        def _body(self) -> dict[str, Any]:
            try:
                body = json.loads(self._raw or b"{}")
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise _bad(f"the body is not JSON: {exc}") from None
            if not isinstance(body, dict):
                raise _bad("the body must be a JSON object")
            return body

        def _route(self, method: str) -> Answer:
            url = urlsplit(self.path)
            route, params = find_route(method, url.path)
            query = parse_qs(url.query, keep_blank_values=True)
            known = accepted_query(route.path, route.method)
            unknown = sorted(set(query) - known)
            if unknown:
                raise _bad(
                    f"unknown query parameter{'s' if len(unknown) > 1 else ''} "
                    f"{', '.join(repr(u) for u in unknown)} for {route.method} {route.path}"
                    + (f"; it takes {', '.join(sorted(known))}" if known else "")
                )
            request = Request(route, params, query, self.headers, self._body)
            answer: Answer = getattr(api, route.handler)(request)
            return answer

        def _send(self, status: int, body: Any, headers: dict[str, str]) -> None:
            data = json.dumps(body, ensure_ascii=False, indent=1).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _classify(exc: Exception) -> tuple[int, dict[str, Any]]:
    from ..config import ConfigError
    from ..journal import InvalidTransition, JournalError, UnknownTransaction
    from ..money import AmountError

    if isinstance(exc, UnknownTransaction):
        return HTTPStatus.NOT_FOUND, {"error": str(exc)}
    if isinstance(exc, InvalidTransition):  # another request changed it a moment before
        return HTTPStatus.CONFLICT, {"error": str(exc)}
    if isinstance(exc, AmountError | ConfigError | ValueError):
        return HTTPStatus.BAD_REQUEST, {"error": str(exc)}
    if isinstance(exc, JournalError):
        return HTTPStatus.INTERNAL_SERVER_ERROR, {"error": str(exc)}
    log.exception("api request failed")
    return HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"internal error: {type(exc).__name__}"}


def start_api(daemon: Daemon, address: Address) -> tuple[ThreadingHTTPServer, int]:
    token = daemon.config.service.token
    if not address.loopback and token is None:
        raise ValueError(f"the API on {address} is beyond this machine: a token is required")
    api = Api(daemon)
    server = ThreadingHTTPServer((address.host, address.port), _handler(api, token))
    server.daemon_threads = True
    daemon.api = api
    threading.Thread(target=server.serve_forever, name="api", daemon=True).start()
    return server, int(server.server_address[1])


__all__ = ["PATHS", "ROUTES", "Api", "ApiError", "Route", "find_route", "start_api"]
