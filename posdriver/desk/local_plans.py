"""Split refund plans at a desk over a journal in this process: the guard asked, a plan
made, carried out part by part on the daemon's threads, looked at and given up.

A mixin of :class:`~.local.LocalDesk`, which gives it the journal, the devices (the
cashier that decides and refunds) and where the work runs (the daemon's threads).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

from ..journal import InvalidTransition, Journal, Operation, State, UnknownTransaction
from ..journal.records import RefundPlan
from ..money import Money
from .errors import Conflict, NotFound, Refused
from .models import Guard, PlanMade, PlanRun, PlanStarted, PlanView

if TYPE_CHECKING:
    from .devices import Devices, Starts

_NOT_TAKEN = (State.DECLINED, State.ABORTED)  # a plan's part refunded so is still to do
_UNSETTLED_PART = (State.PENDING, State.SENT, State.IN_DOUBT, State.NEEDS_REVIEW)


class Run(Protocol):
    """A refund plan being carried out (a thread, in the daemon)."""

    def is_alive(self) -> bool: ...

    def join(self, timeout: float | None = None) -> None: ...


@contextlib.contextmanager
def journal_says() -> Iterator[None]:
    """The journal's "no such record" and "not in that state" as the desk's errors."""
    try:
        yield
    except UnknownTransaction as exc:
        raise NotFound(str(exc)) from exc
    except InvalidTransition as exc:
        raise Conflict(str(exc)) from exc


class LocalPlans:
    """The split refund part of :class:`~.local.LocalDesk` (see the module docstring)."""

    journal: Journal
    plan_run: Callable[[int], Run | None]

    def _devices(self) -> Devices:
        raise NotImplementedError  # LocalDesk's

    def _starts(self) -> Starts:
        raise NotImplementedError  # LocalDesk's

    # -- the guard, a plan made, carried out, given up ---------------------------------
    def refund_guard(self, sale_id: int, amount: Money | None, terminal: str | None) -> Guard:
        with journal_says():
            sale = self.journal.get(sale_id)
        decision = self._devices().cashier("").refund_decision(sale, amount, on=terminal)
        return Guard(decision.as_dict(), decision)

    def create_plan(self, sale_id: int, guard: Guard, terminal: str | None, operator: str) -> int:
        assert guard.decision is not None, "a guard's answer over this journal"
        with journal_says():
            sale = self.journal.get(sale_id)
        plan_id, _ = self._devices().cashier(operator).refund_plan(sale, guard.decision)
        return plan_id

    def run_plan(self, plan_id: int, terminal: str | None, operator: str) -> PlanRun:
        with journal_says():
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
        with journal_says():
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
        with journal_says():
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

    # -- a plan as it stands -----------------------------------------------------------
    def refund_plan(self, plan_id: int, wait: float = 0.0) -> PlanView:
        with journal_says():
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
