"""The desk through the running daemon's API: while ``posdriver serve`` runs it owns the
devices and the journal, and the CLI beside it asks it. Each answer is read back into the
journal's records (:func:`.wire.decode`) and the desk's own answers, so a command prints
exactly what it prints over the journal; each error answer becomes one of the desk's
errors (:func:`translated`), worded as the CLI has always said it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..journal import Event, Incident, Kind, Operation, PrintJob, State, StoredReceipt
from ..journal.journal import Filters
from ..journal.records import RefundPlan
from ..journal.states import FINAL, NEEDS_ATTENTION
from .client import Daemon, DaemonError, DaemonUnreachable
from .errors import (
    BadInput,
    Conflict,
    DeskError,
    Failed,
    NoStoredReceipt,
    NotAllowed,
    NotFound,
    NotOffered,
    Refused,
    Unreachable,
)
from .models import (
    WAITING_JOBS,
    Decision,
    Guard,
    IncidentNote,
    InFlight,
    Order,
    Paid,
    Payment,
    Pending,
    PlanMade,
    PlanRun,
    PlanStarted,
    PlanView,
    Reprinted,
    Resolved,
    Settled,
    Started,
    Transaction,
    money_left,
)
from .wire import decode

if TYPE_CHECKING:
    from ..cashier.recovery import RecoveryReport
    from ..cashier.spooler import SpoolReport
    from ..money import Money
    from .protocol import Operator

PAY_WAIT = 300.0  # the longest a payment is waited for (the API's largest wait)
PRINT_WAIT = 15.0  # [print] ready_timeout's default
_SETTLED = FINAL | NEEDS_ATTENTION  # where the daemon's wait for an operation's end stops
MOST_INCIDENTS = 10000  # the API's largest page: the whole fault record in practice


def translated(exc: DaemonError) -> DeskError:
    """The daemon's error answer as the desk's error: its own sentence for a request it
    refused (it reads as the CLI's would), with who said it when the fault is the
    daemon's."""
    text = str(exc)
    extra = {k: v for k, v in exc.body.items() if k != "error"}
    if isinstance(exc, DaemonUnreachable):
        return Unreachable(text)
    if exc.status == 401:
        return NotAllowed(
            f"the daemon refused the request: {text} (set [service] token in the config)", extra
        )
    if exc.status == 404 and "no such endpoint" in text:
        return NotOffered(
            f"the running daemon does not offer this ({text}); is it an older posdriver?", extra
        )
    if exc.status >= 500:
        return Failed(f"the daemon could not do it: {text}", extra)
    kind = {400: BadInput, 404: NotFound, 409: Conflict}.get(exc.status, DeskError)
    return kind(text, extra)


@contextmanager
def _daemon_says() -> Iterator[None]:
    try:
        yield
    except DaemonError as exc:
        raise translated(exc) from None


@contextmanager
def _guard_refuses() -> Iterator[None]:
    """A refusal carrying the refund guard's answer as :class:`Refused` (nothing was
    sent), as a desk over the journal refuses it."""
    try:
        yield
    except Conflict as exc:
        if "refund_guard" in exc.extra:
            raise Refused(str(exc), exc.extra) from None
        raise


def _plan_view(d: Mapping[str, Any]) -> PlanView:
    return PlanView(
        plan=decode(RefundPlan, d),
        left=money_left(d["left"], d["currency"]),
        running=d["running"],
        refunds=tuple(decode(Operation, r) for r in d["refunds"]),
    )


def spool_report(jobs: Sequence[Mapping[str, Any]]) -> SpoolReport:
    """Print jobs as the daemon last saw them, as the report a spooler run gives: each
    printed, or still waiting with the reason it gave."""
    from ..cashier.spool_report import JobOutcome, SpoolReport

    return SpoolReport(
        tuple(
            JobOutcome(
                decode(PrintJob, j),
                j["state"] == "done",
                None if j["state"] == "done" else (j["last_error"] or _waiting(j["state"])),
            )
            for j in jobs
        )
    )


def run_report(answer: Mapping[str, Any]) -> SpoolReport:
    """A spooler run's report as the daemon answered with it (``SpoolReport.as_dict``)."""
    from ..cashier.spool_report import JobOutcome, SpoolReport

    return SpoolReport(
        tuple(JobOutcome(decode(PrintJob, j), j["printed"], j["reason"]) for j in answer["jobs"])
    )


def _waiting(state: str) -> str:
    return {"cancelled": "the job was cancelled", "failed": "printing failed"}.get(
        state, "waiting for the printer"
    )


def recovery_report(d: Mapping[str, Any]) -> RecoveryReport:
    """A recovery run's report as the daemon answered with it (``RecoveryReport.as_dict``)."""
    from ..cashier.recovery import RecoveryReport

    def why(rows: Sequence[Mapping[str, Any]]) -> list[tuple[Operation, str]]:
        return [(decode(Operation, r), r["detail"]) for r in rows]

    return RecoveryReport(
        resolved=why(d["resolved"]),
        needs_review=why(d["needs_review"]),
        still_in_doubt=why(d["still_in_doubt"]),
        aborted=[decode(Operation, r) for r in d["aborted"]],
        running=[(decode(Operation, r), r["pid"]) for r in d["running"]],
        printing=None if d["printing"] is None else run_report(d["printing"]),
    )


def _operations(rows: Sequence[Mapping[str, Any]]) -> tuple[Operation, ...]:
    return tuple(decode(Operation, r) for r in rows)


class RemoteDesk:
    """:class:`~.protocol.Desk` through the daemon ``daemon`` (its API's client)."""

    through_daemon = True

    def __init__(
        self,
        daemon: Daemon,
        *,
        print_wait: float = PRINT_WAIT,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.daemon = daemon
        self.print_wait = print_wait  # how long a payment's receipts are given to print
        self.progress = progress  # told each text the terminal shows while a payment runs

    def _get(self, path: str, timeout: float = 10, **query: Any) -> Any:
        with _daemon_says():
            return self.daemon.get(path, timeout, **query)

    def _post(self, path: str, body: dict[str, Any], timeout: float = 10) -> Any:
        with _daemon_says():
            return self.daemon.post(path, body, timeout)

    # -- finding -----------------------------------------------------------------------
    def transactions(self, filters: Filters) -> list[Operation]:
        rows = self._get(
            "/v1/transactions",
            since=None if filters.since is None else filters.since.isoformat(),
            until=None if filters.until is None else filters.until.isoformat(),
            amount=None if filters.amount is None else filters.amount.decimal(),
            currency=None if filters.amount is None else filters.amount.currency,
            last4=filters.last4,
            state=",".join(s.value for s in filters.states) or None,
            kind=",".join(k.value for k in filters.kinds) or None,
            terminal=filters.terminal,
            limit=filters.limit,
        )
        return list(_operations(rows))

    def find(self, ref: str, *, last_kinds: Sequence[Kind] = ()) -> Operation:
        if ref.strip().lower() == "last" and last_kinds:
            rows = self._get(
                "/v1/transactions", kind=",".join(k.value for k in last_kinds), limit=1
            )
            if not rows:
                raise NotFound(f"the journal has no {'/'.join(k.value for k in last_kinds)} yet")
            return decode(Operation, rows[0])
        return self.transaction(ref).operation

    def transaction(self, ref: str) -> Transaction:
        d = self._get(f"/v1/transactions/{quote(ref.strip(), safe=':')}")
        op = decode(Operation, d["operation"])
        return Transaction(
            operation=op,
            events=tuple(decode(Event, e, id=0, operation_id=op.id) for e in d["events"]),
            receipts=tuple(decode(StoredReceipt, r, operation_id=op.id) for r in d["receipts"]),
            print_jobs=tuple(decode(PrintJob, j) for j in d["print_jobs"]),
            linked=_operations(d["linked"]),
            refund_plans=tuple(_plan_view(p) for p in d["refund_plans"]),
        )

    def settled(self, op_id: int, wait: float = 0.0) -> Settled:
        d = self._get(f"/v1/operations/id:{op_id}", timeout=wait + 10, wait=f"{wait:g}")
        op = decode(Operation, d["operation"])
        return Settled(
            op,
            tuple(decode(StoredReceipt, r, operation_id=op.id) for r in d["receipts"]),
            tuple(decode(PrintJob, j) for j in d["print_jobs"]),
        )

    def _followed(self, op_id: int, wait: float) -> Settled:
        """:meth:`settled`, up to ``wait``, telling :attr:`progress` each text the
        terminal shows meanwhile (``?progress=N`` answers at each new one)."""
        if self.progress is None:
            return self.settled(op_id, wait)
        deadline = time.monotonic() + wait
        seen = 0
        while True:
            left = max(0.0, deadline - time.monotonic())
            try:
                d = self._get(
                    f"/v1/operations/id:{op_id}",
                    timeout=left + 10,
                    wait=f"{left:g}",
                    progress=str(seen),
                )
            except BadInput:  # an older daemon, without progress: only the end
                return self.settled(op_id, left)
            texts = d.get("progress") or []
            for text in texts[seen:]:
                self.progress(str(text))
            seen = len(texts)
            op = decode(Operation, d["operation"])
            if op.state in _SETTLED or left <= 0:
                return Settled(
                    op,
                    tuple(decode(StoredReceipt, r, operation_id=op.id) for r in d["receipts"]),
                    tuple(decode(PrintJob, j) for j in d["print_jobs"]),
                )

    # -- what needs a person -----------------------------------------------------------
    def pending(self) -> Pending:
        d = self._get("/v1/pending")
        return Pending(
            operations=_operations(d["operations"]),
            in_flight=tuple(
                InFlight(decode(Operation, o), o["running_pid"]) for o in d["in_flight"]
            ),
            refund_plans=tuple(_plan_view(p) for p in d["refund_plans"]),
            print_jobs_waiting=int(d["print_jobs_waiting"]),
        )

    def pay(self, payment: Payment) -> Paid:
        """Started by the daemon on its terminal worker, waited for (up to
        :data:`PAY_WAIT`), its receipts given ``print_wait`` to print. A request the daemon
        refuses (bad input, unknown, the refund guard) is :class:`Refused`: nothing was
        sent."""
        from ..cashier.cashier import MoneyResult

        body: dict[str, Any] = {"kind": payment.kind.value, "terminal": payment.terminal}
        if payment.txn is not None:
            body["txn"] = payment.txn
        if payment.amount is not None:
            body["amount"] = payment.amount.decimal()
            if payment.txn is None:
                body["currency"] = payment.amount.currency
        try:
            started = self._post("/v1/operations", body)
        except (BadInput, NotFound, Conflict) as exc:
            raise Refused(str(exc), exc.extra) from None
        settled = self._followed(started["operation"]["id"], PAY_WAIT)
        jobs = [j.id for j in settled.print_jobs]
        printing = self.print_now(settled.operation.id, jobs, self.print_wait)
        return Paid(
            MoneyResult(settled.operation, None, printing=printing),
            through_daemon=True,
            receipts=settled.receipts,
            print_jobs=settled.print_jobs,
        )

    def start(self, order: Order) -> Started:
        """``POST /v1/operations``: the daemon starts it on its terminal worker and
        answers once it is journaled. The refund guard's refusal is :class:`Refused`,
        as when a payment is refused."""
        with _guard_refuses():
            answer = self._post("/v1/operations", order.as_body())
        return Started(decode(Operation, answer["operation"]), bool(answer["repeated"]))

    def prepare(self, terminal: str | None) -> RecoveryReport | None:
        return None  # the daemon's terminals are the daemon's to ready

    # -- split refunds: the guard, a plan made, carried out, given up -----------------
    def refund_guard(self, sale_id: int, amount: Money | None, terminal: str | None) -> Guard:
        answer = self._get(
            f"/v1/transactions/id:{sale_id}/refund-guard",
            amount=None if amount is None else amount.decimal(),
            terminal=terminal,
        )
        return Guard(answer)

    def create_plan(self, sale_id: int, guard: Guard, terminal: str | None, operator: str) -> int:
        body = {
            "txn": f"id:{sale_id}",
            "amount": guard.answer["amount"]["amount"],
            "terminal": terminal,
            "operator": operator,
        }
        return int(self._post("/v1/refund-plans", body)["refund_plan"]["id"])

    def make_plan(
        self, sale_id: int, amount: Money | None, terminal: str | None, operator: str
    ) -> PlanMade:
        """``POST /v1/refund-plans``; what the guard refuses is :class:`Refused`."""
        body = {
            "txn": f"id:{sale_id}",
            "amount": None if amount is None else amount.decimal(),
            "terminal": terminal,
            "operator": operator,
        }
        with _guard_refuses():
            answer = self._post("/v1/refund-plans", body)
        return PlanMade(_plan_view(answer["refund_plan"]), Guard(answer["refund_guard"]))

    def start_plan(
        self, plan_id: int, terminal: str | None, operator: str, key: str | None = None
    ) -> PlanStarted:
        """``POST /v1/refund-plans/{id}/run``, answered once its first refund is
        journaled; what the guard refuses is :class:`Refused`."""
        body = {"terminal": terminal, "operator": operator}
        with _guard_refuses(), _daemon_says():
            answer = self.daemon.post(f"/v1/refund-plans/{plan_id}/run", body, key=key)
        return PlanStarted(
            _plan_view(answer["refund_plan"]),
            _operations(answer["operations"]),
            bool(answer["repeated"]),
        )

    def run_plan(self, plan_id: int, terminal: str | None, operator: str) -> PlanRun:
        """Started by the daemon (under a key of this run, so a lost answer is not a
        second run), followed to its end, then each part's receipt given ``print_wait``
        to print. A run the daemon refuses (409) is :class:`Refused`: nothing was sent."""
        import uuid

        from ..cashier.cashier import MoneyResult

        body = {"terminal": terminal, "operator": operator}
        with _daemon_says():
            try:
                started = self.daemon.post(
                    f"/v1/refund-plans/{plan_id}/run", body, key=f"cli-{uuid.uuid4()}"
                )
            except DaemonError as exc:
                if exc.status == 409:
                    raise Refused(str(exc), translated(exc).extra) from None
                raise
        first = min(op["id"] for op in started["operations"])
        view = _plan_view(started["refund_plan"])
        while view.running:
            view = self.refund_plan(plan_id, wait=PAY_WAIT)
        parts = []
        for refund in (r for r in view.refunds if r.id >= first):
            settled = self.settled(refund.id)
            originals = [j.id for j in settled.print_jobs if j.purpose == "original"]
            printing = self.print_now(refund.id, originals, self.print_wait)
            parts.append(MoneyResult(settled.operation, None, printing=printing))
        complete = not view.left and all(p.state is State.APPROVED for p in parts)
        return PlanRun(plan_id, tuple(parts), view.left, complete, through_daemon=True)

    def cancel_plan(self, plan_id: int, reason: str, operator: str) -> tuple[Money, ...]:
        answer = self._post(
            f"/v1/refund-plans/{plan_id}/cancel", {"reason": reason, "operator": operator}
        )
        plan = answer["refund_plan"]
        return money_left(answer["not_refunded"], plan["currency"])

    def recover(self) -> RecoveryReport:
        """The daemon asks its terminals (it owns them)."""
        with _daemon_says():
            answer = self.daemon._request("POST", "/v1/recover", {}, timeout=600)
        return recovery_report(answer)

    def resolve(self, op_id: int, decision: Decision) -> Resolved:
        body = {
            "state": decision.state.value,
            "note": decision.note,
            "operator": decision.operator,
            "receipt_no": decision.receipt_no,
            "last4": decision.last4,
        }
        d = self._post(f"/v1/operations/id:{op_id}/resolve", body)
        return Resolved(
            decode(Operation, d["operation"]),
            tuple(decode(PrintJob, j) for j in d["print_jobs"]),
            None if d["incident"] is None else decode(Incident, d["incident"]),
            d["repeated"],
        )

    # -- the fault record --------------------------------------------------------------
    def incidents(self, since: datetime | None = None, limit: int | None = None) -> list[Incident]:
        rows = self._get(
            "/v1/incidents",
            since=None if since is None else since.isoformat(),
            limit=MOST_INCIDENTS if limit is None else limit,
        )
        return [decode(Incident, r) for r in rows]

    def add_incident(self, note: IncidentNote) -> Incident:
        body = {
            "fault": note.fault,
            "action": note.action,
            "result": note.result,
            "device": note.device,
            "notes": note.notes,
            "txn": note.txn,
            "operator": note.operator,
        }
        return decode(Incident, self._post("/v1/incidents", body))

    # -- the print queue ---------------------------------------------------------------
    def print_jobs(self, states: Sequence[str] = WAITING_JOBS, limit: int = 100) -> list[PrintJob]:
        rows = self._get("/v1/print-jobs", state=",".join(states), limit=limit)
        return [decode(PrintJob, r) for r in rows]

    def print_job(self, job_id: int) -> PrintJob:
        return decode(PrintJob, self._get(f"/v1/print-jobs/{job_id}"))

    def cancel_print_job(self, job_id: int, operator: str) -> PrintJob:
        answer = self._post(f"/v1/print-jobs/{job_id}/cancel", {"operator": operator})
        return decode(PrintJob, answer)

    def reprint(
        self, op_id: int, copy: str, operator: Operator, printer: str | None = None
    ) -> Reprinted:
        who = operator if isinstance(operator, str) else operator()
        body = {"copy": copy, "operator": who, "printer": printer}
        try:
            d = self._post(f"/v1/operations/id:{op_id}/reprint", body)
        except Conflict as exc:
            if "no stored" in str(exc):
                raise NoStoredReceipt(str(exc), exc.extra) from None
            raise
        return Reprinted((decode(PrintJob, d["job"]),), d["reprint"])

    def print_now(
        self, op_id: int, job_ids: Sequence[int], wait: float, *, alone: bool = False
    ) -> SpoolReport | None:
        """The daemon's printer workers print them: wait (up to ``wait``, as a run here
        waits for a printer) for the jobs to end, and report how they did."""
        if not job_ids:
            return None
        with _daemon_says():
            return spool_report(self.daemon.await_jobs(op_id, job_ids, wait))

    def run_print_jobs(self, printer: str | None, wait: float) -> SpoolReport:
        """The daemon's printer workers print what waits; what they could not print now
        the daemon prints by itself once it can, and this waits for that up to ``wait``."""
        report = run_report(self._post("/v1/print-jobs/run", {"printer": printer}, timeout=120))
        deadline = time.monotonic() + wait
        while _still_queued(report) and time.monotonic() < deadline:
            time.sleep(0.1)
            report = spool_report(
                [self._get(f"/v1/print-jobs/{o.job.id}") for o in report.outcomes]
            )
        return report

    # -- split refunds -----------------------------------------------------------------
    def refund_plan(self, plan_id: int, wait: float = 0.0) -> PlanView:
        d = self._get(f"/v1/refund-plans/{plan_id}", timeout=wait + 10, wait=f"{wait:g}")
        return _plan_view(d)


def _still_queued(report: SpoolReport) -> bool:
    return any(o.job.state in ("queued", "printing") for o in report.outcomes)
