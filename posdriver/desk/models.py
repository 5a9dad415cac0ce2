"""The desk's requests and answers beyond the journal's own records: what ``txn show``
tells of one transaction, what waits for a person, a split refund plan with what is left
of it, an operation as it settled, a staff note for the fault record.

Each answer renders itself as the API answers with it (``as_dict``); the CLI prints its
own text and ``--json`` from the same values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..journal import Event, Incident, Kind, Operation, PrintJob, State, StoredReceipt
from ..journal.records import RefundPlan
from ..journal.states import FINAL
from ..money import Money

if TYPE_CHECKING:
    from ..cashier.cashier import MoneyResult
    from ..cashier.recovery import RecoveryReport
    from ..cashier.refund_guard import RefundDecision

WAITING_JOBS = ("queued", "printing", "failed")  # a print job a person may still act on


@dataclass(frozen=True)
class PlanView:
    """A split refund plan with the parts that have no approved or unresolved refund yet
    (``left``), whether it is being carried out now, and every refund made for it."""

    plan: RefundPlan
    left: tuple[Money, ...]
    running: bool
    refunds: tuple[Operation, ...]

    def as_dict(self) -> dict[str, Any]:
        return self.plan.as_dict() | {
            "left": [m.decimal() for m in self.left],
            "running": self.running,
            "refunds": [op.as_dict() for op in self.refunds],
        }


@dataclass(frozen=True)
class Transaction:
    """One transaction and all the journal holds about it (``posdriver txn show``)."""

    operation: Operation
    events: tuple[Event, ...]
    receipts: tuple[StoredReceipt, ...]
    print_jobs: tuple[PrintJob, ...]
    linked: tuple[Operation, ...]
    refund_plans: tuple[PlanView, ...]

    @property
    def final(self) -> bool:
        return self.operation.state in FINAL

    def as_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation.as_dict(),
            "final": self.final,
            "events": [e.as_dict() for e in self.events],
            "receipts": [r.as_dict() for r in self.receipts],
            "print_jobs": [j.as_dict() for j in self.print_jobs],
            "linked": [c.as_dict() for c in self.linked],
            "refund_plans": [p.as_dict() for p in self.refund_plans],
        }


@dataclass(frozen=True)
class Settled:
    """An operation as a wait for its end left it, with its receipts and print jobs."""

    operation: Operation
    receipts: tuple[StoredReceipt, ...]
    print_jobs: tuple[PrintJob, ...]

    @property
    def final(self) -> bool:
        return self.operation.state in FINAL

    def as_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation.as_dict(),
            "final": self.final,
            "receipts": [r.as_dict() for r in self.receipts],
            "print_jobs": [j.as_dict() for j in self.print_jobs],
        }


@dataclass(frozen=True)
class InFlight:
    """An operation begun and not ended: ``running_pid`` is the process still running
    it, None when none is (a crash or power loss left it)."""

    operation: Operation
    running_pid: int | None


@dataclass(frozen=True)
class Pending:
    """What needs a person: operations in doubt or needing review, operations begun and
    not ended, split refunds not finished, and how many receipts wait for a printer."""

    operations: tuple[Operation, ...]
    in_flight: tuple[InFlight, ...]
    refund_plans: tuple[PlanView, ...]
    print_jobs_waiting: int

    @property
    def anything(self) -> bool:
        return bool(
            self.operations or self.in_flight or self.refund_plans or self.print_jobs_waiting
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "operations": [op.as_dict() for op in self.operations],
            "in_flight": [
                i.operation.as_dict() | {"running_pid": i.running_pid} for i in self.in_flight
            ],
            "refund_plans": [p.as_dict() for p in self.refund_plans],
            "print_jobs_waiting": self.print_jobs_waiting,
        }


@dataclass(frozen=True)
class IncidentNote:
    """A staff note for the fault record; ``txn`` names the transaction it concerns."""

    fault: str
    action: str
    result: str
    operator: str
    device: str | None = None
    notes: str | None = None
    txn: str | int | None = None


@dataclass(frozen=True)
class Decision:
    """A person's word on an operation in doubt: approved or declined, why, who."""

    state: State
    note: str
    operator: str
    receipt_no: int | None = None
    last4: str | None = None


@dataclass(frozen=True)
class Resolved:
    """A decision as the journal took it: the operation now, the print jobs of a receipt
    built for an approval, the incident in the fault record; ``repeated`` when the same
    decision had been recorded already (nothing was written again)."""

    operation: Operation
    print_jobs: tuple[PrintJob, ...]
    incident: Incident | None
    repeated: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation.as_dict(),
            "print_jobs": [j.as_dict() for j in self.print_jobs],
            "incident": None if self.incident is None else self.incident.as_dict(),
            "repeated": self.repeated,
        }


@dataclass(frozen=True)
class Payment:
    """A money operation asked for: its kind, its amount (a refund's default is all that is
    left), the terminal to start on and whether a standby may take it, and for a refund,
    reversal or booking the transaction it refers to. ``prepared`` says the desk was
    readied for it already (``Desk.prepare``: recovery has run)."""

    kind: Kind
    amount: Money | None = None
    terminal: str | None = None
    failover: bool = True
    txn: str | None = None
    prepared: bool = False


@dataclass(frozen=True)
class Order:
    """A money operation asked to start, as the request gave it (``POST /v1/operations``):
    the amount, currency, terminal, transaction and operator as written, read by the desk
    only after an earlier request under the same ``idempotency_key`` was looked for, so a
    repeat is answered with what the first one started whatever else it says."""

    kind: Kind
    amount: str | None = None
    currency: str | None = None
    terminal: str | None = None
    txn: str | int | None = None
    idempotency_key: str | None = None
    operator: str | None = None

    def as_body(self) -> dict[str, Any]:
        """The request as ``POST /v1/operations`` takes it (the fields it gives)."""
        body: dict[str, Any] = {
            "kind": self.kind.value,
            "amount": self.amount,
            "currency": self.currency,
            "terminal": self.terminal,
            "txn": self.txn,
            "idempotency_key": self.idempotency_key,
            "operator": self.operator,
        }
        return {name: value for name, value in body.items() if value is not None}


@dataclass(frozen=True)
class Started:
    """A money operation journaled (its PENDING written, the terminal not yet asked), or
    the one an idempotency key used before stands for (``repeated``: nothing started)."""

    operation: Operation
    repeated: bool

    def as_dict(self) -> dict[str, Any]:
        return {"operation": self.operation.as_dict(), "repeated": self.repeated}


@dataclass(frozen=True)
class Paid:
    """How a money operation ended: the cashier's result (through the daemon: the
    operation as it settled, its receipts printed or waiting, no outcome of the terminal's
    own), what recovery did first, and through the daemon the receipts and print jobs it
    answered with."""

    result: MoneyResult
    through_daemon: bool = False
    recovered: RecoveryReport | None = None
    receipts: tuple[StoredReceipt, ...] = ()
    print_jobs: tuple[PrintJob, ...] = ()

    @property
    def operation(self) -> Operation:
        return self.result.operation

    def as_dict(self) -> dict[str, Any]:
        body = self.result.as_dict()
        if self.through_daemon:
            body["receipts"] = [r.as_dict() for r in self.receipts]
            body["print_jobs"] = [j.as_dict() for j in self.print_jobs]
        if self.recovered is not None:
            body["recovery"] = self.recovered.as_dict()
        return body


@dataclass(frozen=True)
class Guard:
    """What the refund guard says of a refund: its answer as the API gives it
    (``RefundDecision.as_dict``), and over a journal the decision itself, to act on."""

    answer: dict[str, Any]
    decision: RefundDecision | None = None

    @property
    def allowed(self) -> bool:
        return bool(self.answer["allowed"])

    @property
    def has_plan(self) -> bool:
        return bool(self.answer["plan"])

    @property
    def explanation(self) -> str:
        return str(self.answer["explanation"])


@dataclass(frozen=True)
class PlanMade:
    """A split refund plan journaled, with what the refund guard said that made it."""

    view: PlanView
    guard: Guard

    def as_dict(self) -> dict[str, Any]:
        return {"refund_plan": self.view.as_dict(), "refund_guard": self.guard.answer}


@dataclass(frozen=True)
class PlanStarted:
    """A run of a plan's remaining parts started (its first refund journaled), or the
    refunds an idempotency key used before stands for (``repeated``: nothing started)."""

    view: PlanView
    operations: tuple[Operation, ...]
    repeated: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "refund_plan": self.view.as_dict(),
            "operations": [op.as_dict() for op in self.operations],
            "repeated": self.repeated,
        }


@dataclass(frozen=True)
class PlanRun:
    """A split refund plan carried out (or carried on): each part's result (through the
    daemon without the terminal's own outcome), what is left, whether it is all done."""

    plan_id: int
    parts: tuple[MoneyResult, ...]
    left: tuple[Money, ...]
    complete: bool
    through_daemon: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "plan_id": self.plan_id,
            "parts": [p.as_dict() for p in self.parts],
            "left": [m.decimal() for m in self.left],
            "complete": self.complete,
        }


@dataclass(frozen=True)
class Reprinted:
    """A reprint asked for: the copy queued (``reprint``), or, while the receipt's first
    print still waits, that original job (the guest never had it) and no copy."""

    jobs: tuple[PrintJob, ...]
    reprint: bool

    def as_dict(self) -> dict[str, Any]:
        return {"job": self.jobs[0].as_dict(), "reprint": self.reprint}


def money_left(decimals: Sequence[str], currency: str) -> tuple[Money, ...]:
    """A plan's ``left`` as an answer writes it (decimals in the plan's currency)."""
    return tuple(Money.parse(x, currency) for x in decimals)
