"""The desk commands' paths through a running daemon (``posdriver serve``): while it owns
the devices and the journal, ``sale``, ``refund``, ``reprint`` and ``jobs run``/``cancel``
ask it (:mod:`.via_daemon` is the client) and report with the same text, ``--json`` and
exit code as the direct paths in :mod:`.cli`.

Apart from :mod:`.cli` because these read as a conversation with the daemon (start, wait,
follow the receipts) rather than as the journal's own steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..desk.models import Payment
from ..journal.states import State
from .cli_common import (
    APPROVED,
    ATTENTION,
    AWAITING_DECISION,
    DONE,
    IN_DOUBT,
    NOT_CHARGED,
    NOT_SENT,
    CommandError,
    Context,
    actor_of,
    confirm,
    emit,
    extras,
    fail,
    headline,
    printing_lines,
)

if TYPE_CHECKING:
    from ..journal import Operation
    from .spooler import SpoolReport
    from .via_daemon import Daemon

_FROM_TERMINAL = (
    "; a receipt the journal does not hold is repeated by the terminal only when "
    "posdriver serve is not running (it holds the terminal)"
)


def money_via(ctx: Context, daemon: Daemon, payment: Payment) -> int:
    """A money operation through the running daemon (:meth:`RemoteDesk.pay`), reported
    as a direct run would; a refusal by the refund guard says how to go on."""
    from ..desk import Refused, RemoteDesk
    from .cli_money import money_report

    desk = RemoteDesk(daemon, print_wait=ctx.config.print.ready_timeout)
    try:
        paid = desk.pay(payment)
    except Refused as exc:
        message = str(exc)
        guard = exc.extra.get("refund_guard")
        if guard and guard.get("plan"):
            message += "\nRun again with --split to refund it in these parts."
        return fail(ctx.args, message, NOT_SENT, exc.extra)
    return money_report(ctx, paid)


def daemon_printing(
    ctx: Context, daemon: Daemon, answer: dict[str, Any], job_ids: Sequence[int] | None = None
) -> SpoolReport | None:
    """Wait (up to ``[print] ready_timeout``, as a direct run does) for the daemon to
    print the receipts of an operation; what printed and what still waits."""
    from .via_daemon import spool_report

    ids = job_ids if job_ids is not None else [j["id"] for j in answer["print_jobs"]]
    if not ids:
        return None
    op_id = answer["operation"]["id"]
    return spool_report(daemon.await_jobs(op_id, ids, ctx.config.print.ready_timeout))


def refund_via(ctx: Context, daemon: Daemon) -> int:
    """``refund`` while the daemon runs: the same steps and texts as the direct path,
    each asked of the daemon (the guard, the plan, its parts one by one)."""
    from ..journal import Kind
    from ..money import Money

    a = ctx.args
    sale = daemon.find(a.txn, last_kinds=(Kind.SALE, Kind.BOOKING))
    if a.cancel_plan is not None:
        return cancel_plan_via(ctx, daemon, sale)
    if sale.kind not in (Kind.SALE, Kind.BOOKING):
        raise CommandError(f"transaction {sale.id} is a {sale.kind.value}; only sales are refunded")
    amount = Money.parse(a.amount, sale.currency) if a.amount else None
    body = Payment(Kind.REFUND, amount, terminal=a.on, txn=f"id:{sale.id}")
    if not a.split:
        return money_via(ctx, daemon, body)
    plans = daemon.transaction(f"id:{sale.id}")["refund_plans"]
    resumable = [p for p in plans if p["state"] == "open" and p["left"]]
    if resumable:
        return carry_out_via(ctx, daemon, sale, resumable[0]["id"], resumed=True)
    decision = daemon.get(
        f"/v1/transactions/id:{sale.id}/refund-guard",
        amount=None if amount is None else amount.decimal(),
        terminal=a.on,
    )
    if decision["allowed"]:
        return money_via(ctx, daemon, body)
    if not decision["plan"]:
        return fail(a, decision["explanation"], NOT_SENT, {"refund_guard": decision})
    if not a.yes and not confirm(decision["explanation"] + "\nCarry out this plan?"):
        return fail(a, "split refund not confirmed; nothing was sent", NOT_SENT)
    created = daemon.post(
        "/v1/refund-plans",
        {
            "txn": f"id:{sale.id}",
            "amount": decision["amount"]["amount"],
            "terminal": a.on,
            "operator": actor_of(ctx),
        },
    )
    return carry_out_via(ctx, daemon, sale, created["refund_plan"]["id"], resumed=False)


def carry_out_via(
    ctx: Context, daemon: Daemon, sale: Operation, plan_id: int, *, resumed: bool
) -> int:
    """A split refund plan carried out by the daemon: start it (under a key of this run,
    so a lost answer is not a second run), follow it to its end, then each part's
    receipt, and report as :func:`.cli._carry_out` does."""
    import uuid

    from ..money import Money
    from .via_daemon import DaemonError, operation

    try:
        started = daemon.post(
            f"/v1/refund-plans/{plan_id}/run",
            {"terminal": ctx.args.on, "operator": actor_of(ctx)},
            key=f"cli-{uuid.uuid4()}",
        )
    except DaemonError as exc:
        if exc.status == 409:
            return fail(ctx.args, str(exc), NOT_SENT, extras(exc.body))
        raise
    first = min(op["id"] for op in started["operations"])
    plan = started["refund_plan"]
    while plan["running"]:
        plan = daemon.get(f"/v1/refund-plans/{plan_id}", timeout=310, wait=300)
    parts = []
    for refund in (r for r in plan["refunds"] if r["id"] >= first):
        answer = daemon.operation(refund["id"])
        originals = [j["id"] for j in answer["print_jobs"] if j["purpose"] == "original"]
        parts.append(
            (operation(answer["operation"]), daemon_printing(ctx, daemon, answer, originals))
        )
    left = [Money.parse(x, sale.currency) for x in plan["left"]]
    lines = [
        f"{'continuing' if resumed else 'split'} refund plan {plan_id} for id:{sale.id} "
        "(through the daemon):"
    ]
    for op, report in parts:
        lines.append("  " + headline(op))
        if op.state is not State.APPROVED and op.reason:
            lines.append(f"    reason: {op.reason}")
        lines += printing_lines(report, op.state is State.APPROVED, ctx)
    complete = not left and all(op.state is State.APPROVED for op, _ in parts)
    if left:
        lines.append(
            "  STILL TO REFUND: "
            + " + ".join(m.format() for m in left)
            + f" (run 'posdriver refund id:{sale.id} --split' to continue, or "
            f"'--cancel-plan REASON' to give it up)"
        )
    body = {
        "plan_id": plan_id,
        "parts": [
            {
                "operation": op.as_dict(),
                "outcome": None,
                "not_reached": [],
                "printing": None if report is None else report.as_dict(),
            }
            for op, report in parts
        ],
        "left": [m.decimal() for m in left],
        "complete": complete,
    }
    emit(ctx, body, "\n".join(lines))
    if complete:
        return APPROVED
    states = {op.state for op, _ in parts}
    return IN_DOUBT if states & {State.IN_DOUBT, State.NEEDS_REVIEW} else NOT_CHARGED


def cancel_plan_via(ctx: Context, daemon: Daemon, sale: Operation) -> int:
    from ..money import Money

    plans = [p for p in daemon.transaction(f"id:{sale.id}")["refund_plans"] if p["state"] == "open"]
    if not plans:
        raise CommandError(f"transaction {sale.id} has no open split refund plan")
    if not ctx.args.cancel_plan.strip():
        raise CommandError("--cancel-plan needs a reason")
    answer = daemon.post(
        f"/v1/refund-plans/{plans[0]['id']}/cancel",
        {"reason": ctx.args.cancel_plan, "operator": actor_of(ctx)},
    )
    left = [Money.parse(x, sale.currency) for x in answer["not_refunded"]]
    text = f"refund plan {plans[0]['id']} cancelled; not refunded: " + (
        " + ".join(m.format() for m in left) or "nothing"
    )
    emit(
        ctx,
        {"plan_id": plans[0]["id"], "cancelled": True, "not_refunded": [m.decimal() for m in left]},
        text,
    )
    return DONE


def reprint_via(ctx: Context, daemon: Daemon) -> int:
    """A reprint through the daemon: it queues the copy for the operation's own printer
    and prints it; this waits for that and reports as the direct path does."""
    from ..journal import UnknownTransaction
    from .via_daemon import DaemonError

    try:
        op = daemon.find(ctx.args.txn)
    except UnknownTransaction as exc:
        if "more than one" in str(exc):
            raise
        raise CommandError(f"{exc}{_FROM_TERMINAL}") from None
    if op.state is not State.APPROVED:
        raise CommandError(
            f"id:{op.id} is {op.state.value.replace('_', ' ')}: it has no receipt to reprint"
            + (" (resolve it first: posdriver pending)" if op.state in AWAITING_DECISION else "")
        )
    try:
        answer = daemon.reprint(op.id, ctx.args.copy, actor_of(ctx))
    except DaemonError as exc:
        if exc.status == 409 and "no stored" in str(exc):
            raise CommandError(f"{exc}{_FROM_TERMINAL}") from None
        raise
    job = answer["job"]
    seen = daemon.await_jobs(op.id, [job["id"]], ctx.config.print.ready_timeout)
    report = _spool(seen)
    if answer["reprint"]:
        lines = [
            f"reprint {job['reprint_no']} of id:{op.id} ({ctx.args.copy} copy, from the "
            "journal), marked as a duplicate, through the daemon"
        ]
    else:
        lines = [
            f"the receipt of id:{op.id} had not printed yet; printing the original, "
            "through the daemon"
        ]
    lines += printing_lines(report, True, ctx)
    body = {
        "operation": op.as_dict(),
        "copy": ctx.args.copy,
        "reprint_no": job["reprint_no"],
        "source": "journal",
        "printed": bool(report.printed),
        "printing": report.as_dict(),
        "job": seen[0] if seen else job,
    }
    emit(ctx, body, "\n".join(lines))
    return DONE if report.printed else ATTENTION


def _spool(jobs: Sequence[dict[str, Any]]) -> SpoolReport:
    from .via_daemon import spool_report

    report: SpoolReport = spool_report(jobs)
    return report
