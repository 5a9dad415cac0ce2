"""The desk over a journal in this process: what the CLI does by itself, and what the
daemon does when its API is asked (over the daemon's own journal, with the daemon's
refund plan runs).

The journal's refusals become the desk's errors (:func:`.local_plans.journal_says`), so
a caller meets one tree whichever desk it has. Split refund plans are
:class:`~.local_plans.LocalPlans`'s.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..journal import (
    Incident,
    Journal,
    Kind,
    Operation,
    PrintJob,
    State,
)
from ..journal.journal import Filters
from ..journal.states import FINAL, NEEDS_ATTENTION
from ..money import Money
from . import starting
from .errors import BadInput, Conflict, Failed, NoStoredReceipt, NotOffered, Refused
from .local_plans import LocalPlans, Run, journal_says
from .models import (
    WAITING_JOBS,
    Decision,
    IncidentNote,
    InFlight,
    Order,
    Paid,
    Payment,
    Pending,
    Reprinted,
    Resolved,
    Settled,
    Started,
    Transaction,
)

if TYPE_CHECKING:
    from ..cashier.cashier import Cashier
    from ..cashier.recovery import RecoveryReport
    from ..cashier.spooler import SpoolReport
    from .devices import Devices, Starts
    from .protocol import Operator

_SETTLED = FINAL | NEEDS_ATTENTION
_BEGUN = frozenset({State.PENDING, State.SENT})


def _no_runs(_plan_id: int) -> Run | None:
    return None


def _able_to_reserve(cashier: Cashier, on: str | None) -> None:
    """A pre-authorisation or booking needs a terminal able to reserve money: refused
    before anything is journaled when none of those it would try is."""
    from ..terminal.protocol import Capability, CapabilityMissing

    try:
        cashier.terminals_able(Capability.PRE_AUTHORISATION, on=on)
    except CapabilityMissing as exc:
        raise Conflict(str(exc)) from None


class LocalDesk(LocalPlans):
    """:class:`~.protocol.Desk` over ``journal``; ``state_dir`` holds the claims that say
    which process runs an operation, ``devices`` reach the terminals and printers (none:
    a desk that reads and tidies the record only), ``plan_run`` is the daemon's run of a
    plan, if any, and ``starts`` where the money operations it starts run (the daemon's
    threads; none: this desk pays to the end, :meth:`pay`, and starts nothing)."""

    through_daemon = False

    def __init__(
        self,
        journal: Journal,
        state_dir: Path,
        *,
        devices: Devices | None = None,
        plan_run: Callable[[int], Run | None] = _no_runs,
        starts: Starts | None = None,
    ) -> None:
        self.journal = journal
        self.state_dir = state_dir
        self.devices = devices
        self.plan_run = plan_run
        self.starts = starts

    def _devices(self) -> Devices:
        if self.devices is None:
            raise NotOffered("this desk reads the journal only: it has no devices")
        return self.devices

    def _starts(self) -> Starts:
        if self.starts is None:
            raise NotOffered("this desk pays to the end: it starts nothing to follow")
        return self.starts

    # -- finding -----------------------------------------------------------------------
    def transactions(self, filters: Filters) -> list[Operation]:
        return self.journal.search(filters)

    def find(self, ref: str, *, last_kinds: Sequence[Kind] = ()) -> Operation:
        with journal_says():
            return self.journal.find(ref, last_kinds=tuple(last_kinds))

    def transaction(self, ref: str) -> Transaction:
        op = self.find(ref)
        journal = self.journal
        return Transaction(
            operation=op,
            events=tuple(journal.events(op.id)),
            receipts=tuple(journal.receipts(op.id)),
            print_jobs=tuple(journal.jobs_of(op.id)),
            linked=tuple(journal.children(op.id)),
            refund_plans=tuple(self.view(p) for p in journal.plans_of(op.id)),
        )

    def settled(self, op_id: int, wait: float = 0.0) -> Settled:
        with journal_says():
            op = self.journal.get(op_id)
            if op.state not in _SETTLED and wait > 0:  # woken by the journal's commits
                self.journal.wait_for(lambda: self.journal.get(op_id).state in _SETTLED, wait)
                op = self.journal.get(op_id)
        return Settled(op, tuple(self.journal.receipts(op.id)), tuple(self.journal.jobs_of(op.id)))

    # -- what needs a person -----------------------------------------------------------
    def pending(self) -> Pending:
        from ..cashier.terminals import operation_is_live

        journal = self.journal
        begun = [
            InFlight(op, operation_is_live(self.state_dir, op.id))
            for op in journal.unresolved(_BEGUN)
        ]
        plans = [self.view(p) for p in journal.open_plans()]
        return Pending(
            operations=tuple(journal.needing_attention()),
            in_flight=tuple(begun),
            refund_plans=tuple(p for p in plans if p.left),
            print_jobs_waiting=len(journal.open_jobs()),
        )

    def pay(self, payment: Payment) -> Paid:
        """A sale or a refund on this process's terminals (recovery first, if a crash
        left something in flight), to the end: its receipt stored and printed or queued.
        A refund the guard stops is :class:`Refused`, with what the guard said."""
        devices = self._devices()
        cashier = devices.cashier("")
        refund = payment.kind is Kind.REFUND
        # a refund's terminal is the guard's to judge (its own, by default)
        devices.can_pay(None if refund else payment.terminal)
        if payment.kind not in (Kind.SALE, Kind.REFUND):
            raise NotOffered(f"a {payment.kind.value} is not paid through this desk yet")
        recovered = None if payment.prepared else devices.recover_first(cashier)
        if not refund:
            assert payment.amount is not None, "a sale has an amount"
            result = cashier.sale(payment.amount, on=payment.terminal, failover=payment.failover)
            return Paid(result, recovered=recovered)
        assert payment.txn is not None, "a refund names its sale"
        sale = self.find(payment.txn)  # as recovery left it
        decision = cashier.refund_decision(sale, payment.amount, on=payment.terminal)
        if not decision.allowed:
            raise Refused(decision.explain(), {"refund_guard": decision.as_dict()})
        result = cashier.refund(sale, decision.amount, on=payment.terminal, checked=True)
        return Paid(result, recovered=recovered)

    def prepare(self, terminal: str | None) -> RecoveryReport | None:
        return self._devices().prepare(terminal)

    def start(self, order: Order) -> Started:
        """Any money operation, started on a thread of ``starts`` and answered as soon as
        it is journaled (the terminal is asked after). A request under an idempotency
        key used before is answered with the first one's operation (``repeated``), or
        refused when it asks for something else; every other refusal comes before
        anything is journaled, in the order :mod:`.starting` tells."""
        starts, devices = self._starts(), self._devices()
        key = order.idempotency_key
        asked = starting.asks(self.journal, order, starts.default_currency)
        if key is not None:
            earlier = self.journal.by_idempotency_key(key)
            if earlier is not None:
                differ = starting.differs(asked, starts.asked(key), order, earlier)
                if differ:
                    raise starting.key_conflict(key, earlier, differ)
                return Started(earlier, repeated=True)
        amount, terminal = self._terms(order, starts.default_currency)
        cashier = devices.cashier(starting.operator(order.operator))
        kind, parent = order.kind, None
        if kind in starting.NEEDS_PARENT:
            if order.txn is None:
                raise BadInput(f"a {kind.value} needs txn: the journal id it refers to")
            parent = starting.referred(self.journal, order.txn)
            starting.check_parent(self.journal, kind, parent)
        if kind in starting.NEEDS_AMOUNT and amount is None:
            raise BadInput(f"a {kind.value} needs an amount")
        if kind in starting.RESERVES:  # a terminal that has none: refused, up front
            _able_to_reserve(cashier, parent.terminal if parent is not None else terminal)
        if kind is Kind.REFUND:
            assert parent is not None, "a refund names its sale"
            decision = cashier.refund_decision(parent, amount, on=terminal)
            if not decision.allowed:
                raise Refused(decision.explain(), {"refund_guard": decision.as_dict()})
            amount = decision.amount
        key = key or f"api-{uuid.uuid4()}"
        starts.remember(key, asked)
        work = self._work(cashier, kind, amount, terminal, parent, key)
        op = starts.first(starts.begin(f"api-{kind.value}", cashier, work), kind.value)
        return Started(op, repeated=False)

    def _terms(self, order: Order, default_currency: str) -> tuple[Money | None, str | None]:
        """The amount and terminal an order names, read (and refused) as the API has
        always read them, after its idempotency key was looked for."""
        code = starting.currency(order.currency, default_currency)
        amount = None
        if order.amount is not None:
            if not isinstance(order.amount, str):
                raise BadInput(
                    'amount must be a decimal string such as "12.50" (not a JSON number)'
                )
            with starting.read_as_input():
                amount = Money.parse(order.amount, code)
        terminal = starting.text(order.terminal, "terminal")
        with starting.read_as_input():
            self._devices().can_pay(terminal)  # a wrong name is refused, listing the real ones
        return amount, terminal

    def _work(
        self,
        cashier: Cashier,
        kind: Kind,
        amount: Money | None,
        terminal: str | None,
        parent: Operation | None,
        key: str,
    ) -> Callable[[], None]:
        """The money work of an order checked, to run beyond the request: the cashier's
        write-ahead path for ``kind``, its outcome counted."""
        starts = self.starts
        assert starts is not None

        def run() -> None:  # what ends it is logged and answered by where it runs
            if kind is Kind.SALE:
                assert amount is not None
                result = cashier.sale(amount, on=terminal, idempotency_key=key)
            elif kind is Kind.PRE_AUTH:
                assert amount is not None
                result = cashier.pre_authorise(amount, on=terminal, idempotency_key=key)
            elif kind is Kind.REFUND:
                assert parent is not None and amount is not None
                result = cashier.refund(
                    parent, amount, on=terminal, checked=True, idempotency_key=key
                )
            elif kind is Kind.REVERSAL:
                assert parent is not None
                result = cashier.reverse(parent, on=terminal, idempotency_key=key)
            else:
                assert parent is not None and amount is not None
                result = cashier.book(parent, amount, idempotency_key=key)
            starts.count(kind.value, result.operation.state)

        return run

    def recover(self) -> RecoveryReport:
        report = self._devices().recover()
        if report is None:
            raise Failed("recovery failed; see the log")
        return report

    def resolve(self, op_id: int, decision: Decision) -> Resolved:
        """The decision through the cashier (``Cashier.resolve``: the rules, the built
        receipt, the incident); the same decision again is answered, not written again."""
        from ..cashier.cashier import NotResolvable

        with journal_says():
            op = self.journal.get(op_id)
        if (op.state, op.resolved_by, op.note) == (
            decision.state,
            decision.operator,
            decision.note,
        ):
            return Resolved(op, tuple(self.journal.jobs_of(op.id)), None, repeated=True)
        cashier = self._devices().cashier(decision.operator)
        try:
            with journal_says():
                decided = cashier.resolve(
                    op,
                    decision.state,
                    by=decision.operator,
                    note=decision.note,
                    receipt_no=decision.receipt_no,
                    last4=decision.last4,
                )
        except NotResolvable as exc:
            raise Conflict(str(exc)) from None
        jobs = tuple(self.journal.job(j) for j in decided.job_ids)
        return Resolved(decided.operation, jobs, decided.incident, repeated=False)

    # -- the fault record --------------------------------------------------------------
    def incidents(self, since: datetime | None = None, limit: int | None = None) -> list[Incident]:
        return self.journal.incidents(since, limit)

    def add_incident(self, note: IncidentNote) -> Incident:
        linked = None
        if note.txn is not None:
            linked = self.find(note.txn if isinstance(note.txn, str) else f"id:{note.txn}")
        return self.journal.add_incident(
            operation_id=None if linked is None else linked.id,
            category="note",
            device=note.device,
            fault=note.fault,
            action=note.action,
            result=note.result,
            notes=note.notes,
            actor=note.operator,
        )

    # -- the print queue ---------------------------------------------------------------
    def print_jobs(self, states: Sequence[str] = WAITING_JOBS, limit: int = 100) -> list[PrintJob]:
        return self.journal.jobs(states=states, limit=limit)

    def print_job(self, job_id: int) -> PrintJob:
        with journal_says():
            return self.journal.job(job_id)

    def cancel_print_job(self, job_id: int, operator: str) -> PrintJob:
        job = self.print_job(job_id)
        if job.state not in WAITING_JOBS:
            raise Conflict(f"print job {job.id} is {job.state}; nothing to cancel")
        with journal_says():
            return self.journal.cancel_job(job.id, operator)

    def print_now(
        self, op_id: int, job_ids: Sequence[int], wait: float, *, alone: bool = False
    ) -> SpoolReport | None:
        devices = self._devices()
        return devices.print_these(job_ids, wait) if alone else devices.print_now(job_ids)

    def reprint(
        self, op_id: int, copy: str, operator: Operator, printer: str | None = None
    ) -> Reprinted:
        """A copy for the printer of the terminal that made the operation (or
        ``printer``), marked as a duplicate; while the original has not printed yet (and
        no printer is named), the guest gets that and no copy is queued."""
        with journal_says():
            op = self.journal.get(op_id)
        if op.state is not State.APPROVED:
            raise Conflict(
                f"id:{op.id} is {op.state.value.replace('_', ' ')}: it has no receipt to reprint"
            )
        stored = self.journal.receipt(op.id, copy)
        if stored is None:
            raise NoStoredReceipt(f"id:{op.id} has no stored {copy} receipt")
        target = printer if printer is not None else self._devices().printer_for(op.terminal)
        if printer is None:
            waiting = tuple(
                job
                for job in self.journal.jobs_of(op.id)
                if job.receipt_id == stored.id
                and job.purpose == "original"
                and job.state in ("queued", "printing")
            )
            if waiting:
                return Reprinted(waiting, reprint=False)
        who = operator if isinstance(operator, str) else operator()
        job = self.journal.reprint(op.id, copy, target, who)
        return Reprinted((job,), reprint=True)

    def run_print_jobs(self, printer: str | None, wait: float) -> SpoolReport:
        return self._devices().run_print_jobs(printer, wait)
