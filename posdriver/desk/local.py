"""The desk over a journal in this process: what the CLI does by itself, and what the
daemon does when its API is asked (over the daemon's own journal, with the daemon's
refund plan runs).

The journal's refusals become the desk's errors here (:func:`_journal_says`), so a caller
meets one tree whichever desk it has.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..journal import (
    Incident,
    InvalidTransition,
    Journal,
    Kind,
    Operation,
    PrintJob,
    State,
    UnknownTransaction,
)
from ..journal.journal import Filters
from ..journal.records import RefundPlan
from ..journal.states import FINAL, NEEDS_ATTENTION
from ..money import Money
from . import starting
from .errors import BadInput, Conflict, Failed, NoStoredReceipt, NotFound, NotOffered, Refused
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
)

if TYPE_CHECKING:
    from ..cashier.cashier import Cashier
    from ..cashier.recovery import RecoveryReport
    from ..cashier.spooler import SpoolReport
    from .devices import Devices, Starts
    from .protocol import Operator

_SETTLED = FINAL | NEEDS_ATTENTION
_BEGUN = frozenset({State.PENDING, State.SENT})
_NOT_TAKEN = (State.DECLINED, State.ABORTED)  # a plan's part refunded so is still to do
_UNSETTLED_PART = (State.PENDING, State.SENT, State.IN_DOUBT, State.NEEDS_REVIEW)


class Run(Protocol):
    """A refund plan being carried out (a thread, in the daemon)."""

    def is_alive(self) -> bool: ...

    def join(self, timeout: float | None = None) -> None: ...


@contextlib.contextmanager
def _journal_says() -> Iterator[None]:
    """The journal's "no such record" and "not in that state" as the desk's errors."""
    try:
        yield
    except UnknownTransaction as exc:
        raise NotFound(str(exc)) from exc
    except InvalidTransition as exc:
        raise Conflict(str(exc)) from exc


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


class LocalDesk:
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
        with _journal_says():
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
        with _journal_says():
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

    # -- split refunds: the guard, a plan made, carried out, given up -----------------
    def refund_guard(self, sale_id: int, amount: Money | None, terminal: str | None) -> Guard:
        with _journal_says():
            sale = self.journal.get(sale_id)
        decision = self._devices().cashier("").refund_decision(sale, amount, on=terminal)
        return Guard(decision.as_dict(), decision)

    def create_plan(self, sale_id: int, guard: Guard, terminal: str | None, operator: str) -> int:
        assert guard.decision is not None, "a guard's answer over this journal"
        with _journal_says():
            sale = self.journal.get(sale_id)
        plan_id, _ = self._devices().cashier(operator).refund_plan(sale, guard.decision)
        return plan_id

    def run_plan(self, plan_id: int, terminal: str | None, operator: str) -> PlanRun:
        with _journal_says():
            sale = self.journal.get(self.journal.plan(plan_id).sale_id)
        cashier = self._devices().cashier(operator)
        result = cashier.carry_out_plan(sale, plan_id, on=terminal)
        return PlanRun(plan_id, tuple(result.parts), result.left, result.complete)

    def make_plan(
        self, sale_id: int, amount: Money | None, terminal: str | None, operator: str
    ) -> PlanMade:
        """A split plan, made only when the terminal's per-refund limit is all that
        stops the refund (the guard decides, as for ``posdriver refund --split``), and
        not while the sale has an open plan with parts left; decided one at a time."""
        with _journal_says():
            sale = self.journal.get(sale_id)
        cashier = self._devices().cashier(operator)
        with self._starts().deciding():
            for plan in self.journal.plans_of(sale.id):
                view = self.view(plan)
                if plan.state == "open" and view.left:
                    left = " + ".join(m.decimal() for m in view.left)
                    raise Conflict(
                        f"sale {sale.id} already has refund plan {plan.id} open (still to "
                        f"refund {left} {plan.parts[0].currency}): run or cancel it",
                        {"refund_plan": view.as_dict()},
                    )
            decision = cashier.refund_decision(sale, amount, on=terminal)
            guard = Guard(decision.as_dict(), decision)
            said = {"refund_guard": guard.answer}
            if decision.allowed:
                raise Refused(
                    f"Refund {decision.amount} can go as one refund; no plan is needed "
                    "(POST /v1/operations with kind refund)",
                    said,
                )
            if not decision.plan:
                raise Refused(decision.explain(), said)
            plan_id, _ = cashier.refund_plan(sale, decision)
        return PlanMade(self.view(self.journal.plan(plan_id)), guard)

    def start_plan(
        self, plan_id: int, terminal: str | None, operator: str, key: str | None = None
    ) -> PlanStarted:
        """Carry out a plan's remaining parts on a thread of ``starts``, one refund after
        another, each journaled and linked to the sale and the plan; answered once the
        first is journaled. Each part's idempotency key is ``key`` with ``#PART``, so
        the same ``key`` again finds the run it started (``repeated``). Refused while a
        run of it goes on, a part waits for a person, or nothing is left; the guard is
        asked again on what is left (part of the sale may have been refunded another
        way since, or it is another day)."""
        starts = self._starts()
        with _journal_says():
            plan = self.journal.plan(plan_id)
            sale = self.journal.get(plan.sale_id)
        cashier = self._devices().cashier(operator)
        with starts.deciding():
            plan = self.journal.plan(plan.id)  # as it is now, not as it was before the lock
            refunds = self.plan_refunds(plan)
            if key is not None:
                earlier = [r for r in refunds if (r.idempotency_key or "").startswith(f"{key}#")]
                if earlier:
                    return PlanStarted(self.view(plan), tuple(earlier), repeated=True)
                self._key_unused(key, plan)
            self._runnable(plan, refunds)
            missing = self.missing_parts(plan, refunds)
            left = Money(sum(plan.parts[i - 1].minor for i in missing), sale.currency)
            decision = cashier.refund_decision(sale, left, on=terminal)
            if not decision.allowed and not decision.plan:
                raise Refused(decision.explain(), {"refund_guard": decision.as_dict()})
            run_key = key or f"api-{uuid.uuid4()}"

            def carry_out() -> None:  # what ends it is logged and answered by where it runs
                cashier.carry_out_plan(
                    sale,
                    plan_id,
                    on=terminal,
                    idempotency_key=run_key,
                    should_stop=lambda: starts.stopping,
                    on_part=lambda r: starts.count("refund", r.operation.state),
                    checked=True,  # just now, under the lock, with the same answers
                )

            run = starts.begin(f"api-refund-plan-{plan.id}", cashier, carry_out)
            starts.runs_plan(plan.id, run)
        first = starts.first(run, f"refund plan {plan.id}")
        return PlanStarted(self.view(self.journal.plan(plan.id)), (first,), repeated=False)

    def _key_unused(self, key: str, plan: RefundPlan) -> None:
        """``key`` names no operation but this plan's run's: else it is refused."""
        for name in (key, *(f"{key}#{part}" for part in range(1, len(plan.parts) + 1))):
            other = self.journal.by_idempotency_key(name)
            if other is not None:
                raise Conflict(
                    f"idempotency key {key!r} was used for id:{other.id}, not for "
                    f"refund plan {plan.id}; use a new key"
                )

    def _runnable(self, plan: RefundPlan, refunds: Sequence[Operation]) -> None:
        """Refuse a run of ``plan`` while one goes on, once it is closed, while a part
        waits for a person, or when nothing is left."""
        if self.plan_running(plan.id):
            raise Conflict(
                f"refund plan {plan.id} is being carried out now; follow it with "
                f"GET /v1/refund-plans/{plan.id}?wait=60"
            )
        if plan.state != "open":
            raise Conflict(f"refund plan {plan.id} is {plan.state}; nothing is carried out")
        for op in refunds:
            if op.state in _UNSETTLED_PART:
                raise Conflict(
                    f"refund plan {plan.id}: part {op.plan_part} (transaction {op.id}) is "
                    f"{op.state.value}; resolve it first"
                )
        if not self.missing_parts(plan, refunds):
            raise Conflict(f"refund plan {plan.id} has nothing left to refund")

    def cancel_plan(self, plan_id: int, reason: str, operator: str) -> tuple[Money, ...]:
        cashier = self._devices().cashier(operator)
        left = cashier.parts_left(plan_id)
        cashier.cancel_plan(plan_id, reason)
        return left

    def recover(self) -> RecoveryReport:
        report = self._devices().recover()
        if report is None:
            raise Failed("recovery failed; see the log")
        return report

    def resolve(self, op_id: int, decision: Decision) -> Resolved:
        """The decision through the cashier (``Cashier.resolve``: the rules, the built
        receipt, the incident); the same decision again is answered, not written again."""
        from ..cashier.cashier import NotResolvable

        with _journal_says():
            op = self.journal.get(op_id)
        if (op.state, op.resolved_by, op.note) == (
            decision.state,
            decision.operator,
            decision.note,
        ):
            return Resolved(op, tuple(self.journal.jobs_of(op.id)), None, repeated=True)
        cashier = self._devices().cashier(decision.operator)
        try:
            with _journal_says():
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
        with _journal_says():
            return self.journal.job(job_id)

    def cancel_print_job(self, job_id: int, operator: str) -> PrintJob:
        job = self.print_job(job_id)
        if job.state not in WAITING_JOBS:
            raise Conflict(f"print job {job.id} is {job.state}; nothing to cancel")
        with _journal_says():
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
        with _journal_says():
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

    # -- split refunds -----------------------------------------------------------------
    def refund_plan(self, plan_id: int, wait: float = 0.0) -> PlanView:
        with _journal_says():
            self.journal.plan(plan_id)  # an unknown plan is not waited for
            run = self.plan_run(plan_id)
            if run is not None and wait > 0:
                run.join(wait)  # woken when the run ends, not by looking again and again
            return self.view(self.journal.plan(plan_id))

    def plan_refunds(self, plan: RefundPlan) -> list[Operation]:
        """The refunds made for ``plan``, in order."""
        return [op for op in self.journal.children(plan.sale_id) if op.plan_id == plan.id]

    def missing_parts(self, plan: RefundPlan, refunds: Sequence[Operation]) -> list[int]:
        """Part numbers with no approved or unresolved refund (as the cashier counts)."""
        taken = {op.plan_part for op in refunds if op.state not in _NOT_TAKEN}
        return [i for i in range(1, len(plan.parts) + 1) if i not in taken]

    def plan_running(self, plan_id: int) -> bool:
        run = self.plan_run(plan_id)
        return run is not None and run.is_alive()

    def view(self, plan: RefundPlan) -> PlanView:
        """``plan`` with what is left of it, whether it runs and its refunds."""
        refunds = self.plan_refunds(plan)
        return PlanView(
            plan=plan,
            left=tuple(plan.parts[i - 1] for i in self.missing_parts(plan, refunds)),
            running=self.plan_running(plan.id),
            refunds=tuple(refunds),
        )
