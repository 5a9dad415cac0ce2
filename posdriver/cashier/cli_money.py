"""The money commands, ``sale`` and ``refund`` (a split refund plan carried out, or
given up), over the journal and this command's terminals, or through the running
daemon (:mod:`.cli_daemon`). Recovery runs first when something is left in flight.
"""

from __future__ import annotations

import contextlib
import sys
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from ..desk.models import Paid
from ..journal.states import State
from .cli_common import (
    APPROVED,
    DONE,
    IN_DOUBT,
    NOT_CHARGED,
    NOT_SENT,
    CommandError,
    Context,
    confirm,
    currency_of,
    emit,
    fail,
    headline,
    money_guard,
    printing_lines,
)
from .cli_daemon import refund_via

if TYPE_CHECKING:
    from ..journal import Operation
    from ..money import Money
    from .cashier import Cashier, MoneyResult
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


def _money_result(
    ctx: Context, result: MoneyResult, recovered: RecoveryReport | None = None
) -> int:
    return money_report(ctx, Paid(result, recovered=recovered))


def refund(ctx: Context) -> int:
    from ..journal import Kind
    from ..money import Money

    daemon = ctx.daemon()
    if daemon is not None:
        return refund_via(ctx, daemon)
    cashier = ctx.cashier()
    sale = ctx.journal.find(ctx.args.txn, last_kinds=(Kind.SALE, Kind.BOOKING))
    if ctx.args.cancel_plan is not None:
        return _cancel_plan(ctx, cashier, sale)
    if sale.kind not in (Kind.SALE, Kind.BOOKING):
        raise CommandError(f"transaction {sale.id} is a {sale.kind.value}; only sales are refunded")
    amount = Money.parse(ctx.args.amount, sale.currency) if ctx.args.amount else None
    if not ctx.config.terminals:
        raise CommandError("no payment terminal is configured; give --terminal URL or a config")
    with money_guard(ctx):
        return _refund_on_terminal(ctx, cashier, sale, amount)


def _refund_on_terminal(
    ctx: Context, cashier: Cashier, sale: Operation, amount: Money | None
) -> int:
    from .cashier import RefundRefused

    recovered = recover_first(ctx, cashier)
    sale = ctx.journal.get(sale.id)
    open_plans = [p for p in ctx.journal.plans_of(sale.id) if p.state == "open"]
    if open_plans and ctx.args.split and cashier.parts_left(open_plans[0].id):
        return _carry_out(ctx, cashier, sale, open_plans[0].id, resumed=True)
    decision = cashier.refund_decision(sale, amount, on=ctx.args.on)
    if decision.allowed:
        result = cashier.refund(sale, decision.amount, on=ctx.args.on, checked=True)
        return _money_result(ctx, result, recovered)
    if not decision.plan:
        raise RefundRefused(decision)
    if not ctx.args.split:
        return fail(
            ctx.args,
            decision.explain() + "\nRun again with --split to refund it in these parts.",
            NOT_SENT,
            {"refund_guard": decision.as_dict()},
        )
    if not ctx.args.yes and not confirm(decision.explain() + "\nCarry out this plan?"):
        return fail(ctx.args, "split refund not confirmed; nothing was sent", NOT_SENT)
    plan_id, _ = cashier.refund_plan(sale, decision)
    return _carry_out(ctx, cashier, sale, plan_id, resumed=False)


def _cancel_plan(ctx: Context, cashier: Cashier, sale: Operation) -> int:
    plans = [p for p in ctx.journal.plans_of(sale.id) if p.state == "open"]
    if not plans:
        raise CommandError(f"transaction {sale.id} has no open split refund plan")
    if not ctx.args.cancel_plan.strip():
        raise CommandError("--cancel-plan needs a reason")
    left = cashier.parts_left(plans[0].id)
    cashier.cancel_plan(plans[0].id, ctx.args.cancel_plan)
    text = f"refund plan {plans[0].id} cancelled; not refunded: " + (
        " + ".join(m.format() for m in left) or "nothing"
    )
    emit(
        ctx,
        {"plan_id": plans[0].id, "cancelled": True, "not_refunded": [m.decimal() for m in left]},
        text,
    )
    return DONE


def _carry_out(
    ctx: Context, cashier: Cashier, sale: Operation, plan_id: int, *, resumed: bool
) -> int:

    result = cashier.carry_out_plan(sale, plan_id, on=ctx.args.on)
    lines = [f"{'continuing' if resumed else 'split'} refund plan {plan_id} for id:{sale.id}:"]
    for part in result.parts:
        lines.append("  " + headline(part.operation))
        if part.state is not State.APPROVED and part.operation.reason:
            lines.append(f"    reason: {part.operation.reason}")
        for attempt in part.attempts:
            lines.append(f"    not done on {attempt.terminal}: {attempt.error}")
        lines += printing_lines(part.printing, part.state is State.APPROVED, ctx)
    if result.left:
        lines.append(
            "  STILL TO REFUND: "
            + " + ".join(m.format() for m in result.left)
            + f" (run 'posdriver refund id:{sale.id} --split' to continue, or "
            f"'--cancel-plan REASON' to give it up)"
        )
    body = {
        "plan_id": plan_id,
        "parts": [p.as_dict() for p in result.parts],
        "left": [m.decimal() for m in result.left],
        "complete": result.complete,
    }
    emit(ctx, body, "\n".join(lines))
    if result.complete:
        return APPROVED
    states = {p.state for p in result.parts}
    return IN_DOUBT if State.IN_DOUBT in states else NOT_CHARGED


_IN_FLIGHT = frozenset({State.PENDING, State.SENT, State.IN_DOUBT})
