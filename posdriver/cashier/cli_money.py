"""The money commands, ``sale`` and ``refund`` (a split refund plan carried out, or
given up), written once over the desk: this command's terminals (recovery first, when
something is left in flight) or the running daemon's.
"""

from __future__ import annotations

import contextlib
import sys
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import TYPE_CHECKING

from ..desk import Desk, Refused
from ..desk.models import Paid, Payment, PlanView
from ..journal.states import State
from .cli_common import (
    APPROVED,
    DONE,
    IN_DOUBT,
    NOT_CHARGED,
    NOT_SENT,
    CommandError,
    Context,
    actor_of,
    confirm,
    currency_of,
    emit,
    fail,
    headline,
    money_guard,
    printing_lines,
)

if TYPE_CHECKING:
    from ..journal import Operation
    from ..money import Money
    from .cashier import Cashier
    from .recovery import RecoveryReport


# -- sale -----------------------------------------------------------------------------
def recover_first(ctx: Context, cashier: Cashier) -> RecoveryReport | None:
    """Before a command reaches a terminal: what a crash left in flight is asked about
    first, once per terminal; what it settles or leaves is said on stderr."""
    from .recovery import recover

    if not ctx.journal.unresolved(_IN_FLIGHT):
        return None
    # one try per terminal: a guest is waiting, and what stays in doubt is retried later
    report = recover(cashier, attempts=1)
    if not ctx.args.json:
        for op, why in report.resolved:
            print(f"recovered: id:{op.id} is {op.state.value}: {why}", file=sys.stderr)
        for op, why in report.needs_review + report.still_in_doubt:
            print(f"attention: id:{op.id} is {op.state.value}: {why}", file=sys.stderr)
    return report


def sale(ctx: Context) -> int:
    from ..desk.models import Payment
    from ..journal import Kind
    from ..money import Money

    a = ctx.args
    amount = Money.parse(a.amount, currency_of(ctx))
    desk = ctx.desk()
    payment = Payment(Kind.SALE, amount, terminal=a.on, failover=not a.no_failover)
    with guarded(ctx, desk.through_daemon):
        paid = desk.pay(payment)
    return money_report(ctx, paid)


def guarded(ctx: Context, through_daemon: bool) -> AbstractContextManager[None]:
    """:func:`money_guard` around a payment this process makes; the daemon guards its own
    (and this process has no journal to read then)."""
    return contextlib.nullcontext() if through_daemon else money_guard(ctx)


def money_report(ctx: Context, paid: Paid) -> int:
    """A money operation's end, as text or JSON, and its exit code."""
    op = paid.operation
    code = _code(paid)
    lines = [headline(op, via=paid.through_daemon)]
    for attempt in paid.result.attempts:
        lines.append(f"  not done on {attempt.terminal}: {attempt.error}")
    if op.reason and op.state is not State.APPROVED:
        lines.append(f"  reason: {op.reason}")
    if op.state is State.IN_DOUBT:
        lines.append(
            "  THE CARD MAY HAVE BEEN CHARGED. Do not charge again; run "
            "'posdriver recover', then 'posdriver pending'."
        )
    lines += printing_lines(paid.result.printing, op.state is State.APPROVED, ctx)
    emit(ctx, paid.as_dict(), "\n".join(lines))
    return code


def _code(paid: Paid) -> int:
    """The exit code of a money operation's end. Through the daemon a review pending is
    as doubtful as doubt; here an abort before any terminal took it is "not sent"."""
    state = paid.operation.state
    if paid.through_daemon:
        return {
            State.APPROVED: APPROVED,
            State.IN_DOUBT: IN_DOUBT,
            State.NEEDS_REVIEW: IN_DOUBT,
        }.get(state, NOT_CHARGED)
    if state is State.ABORTED and paid.result.outcome is None:
        return NOT_SENT
    return {
        State.APPROVED: APPROVED,
        State.DECLINED: NOT_CHARGED,
        State.IN_DOUBT: IN_DOUBT,
    }.get(state, NOT_CHARGED)


def refund(ctx: Context) -> int:
    from ..journal import Kind
    from ..money import Money

    a = ctx.args
    desk = ctx.desk()
    sale = desk.find(a.txn, last_kinds=(Kind.SALE, Kind.BOOKING))
    if a.cancel_plan is not None:
        return _cancel_plan(ctx, desk, sale)
    if sale.kind not in (Kind.SALE, Kind.BOOKING):
        raise CommandError(f"transaction {sale.id} is a {sale.kind.value}; only sales are refunded")
    amount = Money.parse(a.amount, sale.currency) if a.amount else None
    with guarded(ctx, desk.through_daemon):
        if not a.split:
            return _refund_once(ctx, desk, Payment(Kind.REFUND, amount, a.on, txn=f"id:{sale.id}"))
        return _split_refund(ctx, desk, sale, amount)


def _refund_once(
    ctx: Context, desk: Desk, payment: Payment, recovered: RecoveryReport | None = None
) -> int:
    """One refund, if the guard lets it go as one; else what it said and how to go on."""
    try:
        paid = desk.pay(payment)
    except Refused as exc:
        message = str(exc)
        guard = exc.extra.get("refund_guard")
        if guard and guard.get("plan"):
            message += "\nRun again with --split to refund it in these parts."
        return fail(ctx.args, message, NOT_SENT, exc.extra)
    if recovered is not None:
        paid = replace(paid, recovered=recovered)
    return money_report(ctx, paid)


def _split_refund(ctx: Context, desk: Desk, sale: Operation, amount: Money | None) -> int:
    """``refund --split``: carry on an open plan of the sale, or refund it as one when
    the guard lets it, or (confirmed) make the plan the guard offers and carry it out."""
    from ..journal import Kind

    a = ctx.args
    recovered = desk.prepare(None)  # a refund's terminal is the guard's to judge
    open_plans = [p for p in desk.transaction(f"id:{sale.id}").refund_plans if _open(p)]
    if open_plans and open_plans[0].left:
        return _carry_out(ctx, desk, sale, open_plans[0].plan.id, resumed=True)
    guard = desk.refund_guard(sale.id, amount, a.on)
    if guard.allowed:
        payment = Payment(Kind.REFUND, amount, a.on, txn=f"id:{sale.id}", prepared=True)
        return _refund_once(ctx, desk, payment, recovered)
    if not guard.has_plan:
        return fail(a, guard.explanation, NOT_SENT, {"refund_guard": guard.answer})
    if not a.yes and not confirm(guard.explanation + "\nCarry out this plan?"):
        return fail(a, "split refund not confirmed; nothing was sent", NOT_SENT)
    plan_id = desk.create_plan(sale.id, guard, a.on, actor_of(ctx))
    return _carry_out(ctx, desk, sale, plan_id, resumed=False)


def _open(view: PlanView) -> bool:
    return view.plan.state == "open"


def _cancel_plan(ctx: Context, desk: Desk, sale: Operation) -> int:
    plans = [p for p in desk.transaction(f"id:{sale.id}").refund_plans if _open(p)]
    if not plans:
        raise CommandError(f"transaction {sale.id} has no open split refund plan")
    if not ctx.args.cancel_plan.strip():
        raise CommandError("--cancel-plan needs a reason")
    plan_id = plans[0].plan.id
    left = desk.cancel_plan(plan_id, ctx.args.cancel_plan, actor_of(ctx))
    text = f"refund plan {plan_id} cancelled; not refunded: " + (
        " + ".join(m.format() for m in left) or "nothing"
    )
    emit(
        ctx,
        {"plan_id": plan_id, "cancelled": True, "not_refunded": [m.decimal() for m in left]},
        text,
    )
    return DONE


def _carry_out(ctx: Context, desk: Desk, sale: Operation, plan_id: int, *, resumed: bool) -> int:
    try:
        run = desk.run_plan(plan_id, ctx.args.on, actor_of(ctx))
    except Refused as exc:
        return fail(ctx.args, str(exc), NOT_SENT, exc.extra)
    where = " (through the daemon)" if run.through_daemon else ""
    lines = [
        f"{'continuing' if resumed else 'split'} refund plan {plan_id} for id:{sale.id}{where}:"
    ]
    for part in run.parts:
        lines.append("  " + headline(part.operation))
        if part.state is not State.APPROVED and part.operation.reason:
            lines.append(f"    reason: {part.operation.reason}")
        for attempt in part.attempts:
            lines.append(f"    not done on {attempt.terminal}: {attempt.error}")
        lines += printing_lines(part.printing, part.state is State.APPROVED, ctx)
    if run.left:
        lines.append(
            "  STILL TO REFUND: "
            + " + ".join(m.format() for m in run.left)
            + f" (run 'posdriver refund id:{sale.id} --split' to continue, or "
            f"'--cancel-plan REASON' to give it up)"
        )
    emit(ctx, run.as_dict(), "\n".join(lines))
    if run.complete:
        return APPROVED
    states = {p.state for p in run.parts}
    # through the daemon, a part left for a person's review is as doubtful as doubt
    doubtful = {State.IN_DOUBT, State.NEEDS_REVIEW} if run.through_daemon else {State.IN_DOUBT}
    return IN_DOUBT if states & doubtful else NOT_CHARGED


_IN_FLIGHT = frozenset({State.PENDING, State.SENT, State.IN_DOUBT})
