"""Refunds of a sale: the guard's view of it, and refunds split into a plan.

The guard (:mod:`.refund_guard`) is pure: it is given what the journal says of the sale
(refunded so far, reserved by refunds not settled yet, refunded today) and the limits of
the terminal the refund would go to, and answers allowed, refused, or allowed as a split.
This module gathers those facts from the journal and carries out a split: each part is a
refund of its own down the write-ahead path, journaled as part N of the plan, so a plan
interrupted anywhere (a decline, a crash, a daemon stopping) shows exactly which parts
are done and which are left, and is carried on, never silently dropped or done twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from ..errors import PosdriverError
from ..journal import Journal, Kind, Operation, State
from ..journal.journal import day_bounds
from ..money import Money
from . import refund_guard
from .terminals import failover_targets
from .writeahead import UNRESOLVED

if TYPE_CHECKING:
    from .cashier import Cashier
    from .writeahead import MoneyResult


class RefundRefused(PosdriverError):
    """The refund guard stopped a refund before it reached a terminal."""

    def __init__(self, decision: refund_guard.RefundDecision) -> None:
        super().__init__(decision.explain())
        self.decision = decision


@dataclass
class PlanResult:
    """A split refund carried out (or carried on): each part's result, what is left."""

    plan_id: int
    parts: list[MoneyResult] = field(default_factory=list)
    left: tuple[Money, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.left and all(p.state is State.APPROVED for p in self.parts)


def taken_back(journal: Journal, sale: Operation) -> list[Operation]:
    """The refunds of ``sale`` that paid money back, or may have (still unresolved): a
    reversal would pay the whole sale back on top of them."""
    return [
        op
        for op in journal.children(sale.id)
        if op.kind is Kind.REFUND and op.state in (State.APPROVED, *UNRESOLVED)
    ]


def reversal_over_refunds(sale: Operation, refunded: list[Operation]) -> str:
    """Why a sale with refunds is not reversed: the terminal would give back all of it."""
    ids = ", ".join(f"id:{op.id} {op.amount or '-'} {op.state.value}" for op in refunded)
    return (
        f"id:{sale.id} has refunds ({ids}); a reversal would pay the whole sale back on top "
        "of them: refund what is left instead"
    )


def refund_decision(
    cashier: Cashier, sale: Operation, amount: Money | None, *, on: str | None = None
) -> refund_guard.RefundDecision:
    """The guard's answer to refunding ``amount`` of ``sale`` now (on ``on``, else the
    terminal that made the sale), from what the journal holds this moment."""
    children = cashier.journal.children(sale.id)
    refunds = [op for op in children if op.kind is Kind.REFUND]
    currency = sale.currency
    refunded = sum(op.amount.minor for op in refunds if op.state is State.APPROVED and op.amount)
    if any(
        op.kind is Kind.REVERSAL and op.state in (State.APPROVED, *UNRESOLVED) for op in children
    ):
        # reversed, or a reversal that may have gone through: nothing left to refund
        refunded = sale.amount.minor if sale.amount else refunded
    reserved = sum(
        op.amount.minor
        for op in refunds
        if op.state in (State.PENDING, State.SENT, State.IN_DOUBT, State.NEEDS_REVIEW) and op.amount
    )
    start, end = day_bounds(datetime.now().astimezone().date())
    today = [op for op in cashier.journal.refunds_between(start, end) if op.currency == currency]
    limit = None
    targets = failover_targets(cashier.config, on or sale.terminal, failover=True)
    if targets:
        limit = targets[0].refund_limit
    return refund_guard.check(
        refund_guard.RefundRequest(
            sale_id=sale.id,
            sale_state=sale.state.value,
            sale_kind=sale.kind.value,
            sale_amount=sale.amount or Money(0, currency),
            refunded=Money(refunded, currency),
            reserved=Money(reserved, currency),
            amount=amount,
            per_refund_limit=limit,
            daily_cap=cashier.config.refund.daily_cap,
            refunded_today=Money(sum(op.amount.minor for op in today if op.amount), currency),
            max_split_parts=cashier.config.refund.max_split_parts,
        )
    )


def refund_plan(
    cashier: Cashier, sale: Operation, decision: refund_guard.RefundDecision
) -> tuple[int, tuple[Money, ...]]:
    """Journal the split plan the guard offered; returns (plan id, parts)."""
    if not decision.plan:
        raise RefundRefused(decision)
    plan = cashier.journal.create_plan(sale.id, decision.plan, cashier.actor)
    cashier.journal.add_incident(
        category="manual",
        fault=f"refund of {decision.amount} on transaction {sale.id} is over the "
        "terminal's per-refund limit",
        action=f"split into {len(plan.parts)} refunds: "
        + " + ".join(p.format() for p in plan.parts),
        result="plan created",
        operation_id=sale.id,
        actor=cashier.actor,
    )
    return plan.id, plan.parts


def parts_left(journal: Journal, plan_id: int) -> tuple[Money, ...]:
    """Parts of a plan with no refund yet (approved or unresolved), in order."""
    plan = journal.plan(plan_id)
    return tuple(plan.parts[i - 1] for i in sorted(_missing(journal, plan_id)))


def carry_out_plan(
    cashier: Cashier,
    sale: Operation,
    plan_id: int,
    *,
    on: str | None = None,
    idempotency_key: str | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_part: Callable[[MoneyResult], None] | None = None,
    checked: bool = False,
) -> PlanResult:
    """The plan's remaining parts refunded one by one (see :meth:`.Cashier.carry_out_plan`
    for what each argument is for)."""
    journal = cashier.journal
    plan = journal.plan(plan_id)
    if not checked:
        _check_plan_run(cashier, sale, plan_id, on)
    result = PlanResult(plan_id)
    for index in sorted(_missing(journal, plan_id)):
        if should_stop is not None and should_stop():
            break  # the rest stays in the plan, listed as pending
        outcome = cashier.refund(
            sale,
            plan.parts[index - 1],
            on=on,
            plan_id=plan_id,
            plan_part=index,
            checked=True,
            idempotency_key=None if idempotency_key is None else f"{idempotency_key}#{index}",
        )
        result.parts.append(outcome)
        if on_part is not None:
            on_part(outcome)
        if outcome.state is not State.APPROVED:
            break
    result.left = parts_left(journal, plan_id)
    if not result.left:
        journal.set_plan_state(plan_id, "done")
    return result


def _check_plan_run(cashier: Cashier, sale: Operation, plan_id: int, on: str | None) -> None:
    """What must hold before a plan's parts are refunded: no part unresolved, the plan
    open, and the guard agreeing to what is left."""
    journal = cashier.journal
    plan = journal.plan(plan_id)
    unresolved = [
        op for op in journal.children(sale.id) if op.plan_id == plan_id and op.state in UNRESOLVED
    ]
    if unresolved:
        raise ValueError(
            f"refund plan {plan_id}: part {unresolved[0].plan_part} (transaction "
            f"{unresolved[0].id}) is {unresolved[0].state.value}; resolve it first"
        )
    if plan.state != "open":
        raise ValueError(f"refund plan {plan_id} is {plan.state}; nothing is carried out")
    left = parts_left(journal, plan_id)
    if left:
        # the guard again, on what is left: since the plan was made, someone may have
        # refunded part of the sale another way, or it may be another day
        decision = refund_decision(
            cashier, sale, Money(sum(p.minor for p in left), sale.currency), on=on
        )
        if not decision.allowed and not decision.plan:
            raise RefundRefused(decision)


def cancel_plan(journal: Journal, actor: str, plan_id: int, reason: str) -> None:
    """Give up the rest of a split refund (a person's decision, journaled)."""
    plan = journal.plan(plan_id)
    if plan.state != "open":
        raise ValueError(f"refund plan {plan_id} is {plan.state} already")
    left = parts_left(journal, plan_id)
    with journal.atomic():
        journal.set_plan_state(plan_id, "cancelled")
        journal.note_event(
            plan.sale_id, "refund_plan_cancelled", f"plan {plan_id}: {reason}", actor
        )
        journal.add_incident(
            category="manual",
            fault=f"split refund plan {plan_id} of transaction {plan.sale_id} not finished",
            action=f"cancelled by {actor}: {reason}",
            result="not refunded: " + (" + ".join(m.format() for m in left) or "nothing"),
            operation_id=plan.sale_id,
            actor=actor,
        )


def _missing(journal: Journal, plan_id: int) -> set[int]:
    """Part numbers of a plan that have no approved or unresolved refund."""
    plan = journal.plan(plan_id)
    taken = {
        op.plan_part
        for op in journal.children(plan.sale_id)
        if op.plan_id == plan_id and op.state in (State.APPROVED, *UNRESOLVED)
    }
    return {i for i in range(1, len(plan.parts) + 1) if i not in taken}
