"""The desk commands that read and tidy the record, each written once over a
:class:`~posdriver.desk.Desk` (the journal here, or the running daemon): ``txn list``,
``txn show``, ``pending``, ``incidents`` (and ``incidents add``) and ``jobs`` (``list``,
``cancel``; ``run`` prints with this process's spooler or the daemon's printers).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..card import is_last4
from ..desk.models import IncidentNote
from ..desk.times import point_in_time
from ..journal.states import State
from .cli_common import (
    ATTENTION,
    DONE,
    CommandError,
    Context,
    actor_of,
    currency_of,
    emit,
    headline,
    printing_lines,
)

if TYPE_CHECKING:
    from ..journal import Operation


# -- finding ---------------------------------------------------------------------------
def txn_list(ctx: Context) -> int:
    from ..journal import Kind
    from ..journal.journal import Filters
    from ..money import Money

    a = ctx.args
    try:
        states = tuple(State(s.strip()) for v in a.state for s in v.split(","))
        kinds = tuple(Kind(k.strip()) for v in a.kind for k in v.split(","))
    except ValueError as exc:
        raise CommandError(
            f"{exc}; states: {', '.join(s.value for s in State)}; kinds: "
            f"{', '.join(k.value for k in Kind)}"
        ) from None
    if a.last4 is not None and not is_last4(a.last4):
        raise CommandError(f"--last4 takes exactly four digits, got {a.last4!r}")
    if a.limit is not None and a.limit < 1:
        raise CommandError("--limit must be at least 1")
    filters = Filters(
        since=point_in_time("--since", a.since) if a.since else None,
        until=point_in_time("--until", a.until, end=True) if a.until else None,
        amount=Money.parse(a.amount, currency_of(ctx)) if a.amount else None,
        last4=a.last4,
        states=states,
        kinds=kinds,
        terminal=a.terminal_name,
        limit=a.limit,
    )
    ops = ctx.desk().transactions(filters)
    rows = [_row(op) for op in ops]
    text = (
        _table(["id", "time", "kind", "amount", "card", "receipt", "state", "terminal"], rows)
        if rows
        else "no transactions match"
    )
    emit(ctx, [op.as_dict() for op in ops], text)
    return DONE


def _row(op: Operation) -> list[str]:
    return [
        str(op.id),
        f"{op.created_at.astimezone():%Y-%m-%d %H:%M}",
        op.kind.value,
        op.amount.format() if op.amount else "-",
        op.card or "-",
        str(op.receipt_no) if op.receipt_no is not None else "-",
        op.state.value,
        op.terminal or "-",
    ]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    for row in rows:
        out.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(out)


def txn_show(ctx: Context) -> int:
    found = ctx.desk().transaction(ctx.args.txn)
    op, events, receipts, children = found.operation, found.events, found.receipts, found.linked
    jobs, plans = found.print_jobs, [p.plan for p in found.refund_plans]
    body = op.as_dict() | {
        "events": [e.as_dict() for e in events],
        "receipts": [r.as_dict() for r in receipts],
        "linked": [c.as_dict() for c in children],
        "print_jobs": [j.as_dict() for j in jobs],
        "refund_plans": [p.as_dict() for p in plans],
    }
    lines = [headline(op)]
    for label, value in (
        ("created", f"{op.created_at.astimezone():%Y-%m-%d %H:%M:%S}"),
        ("terminal time", op.terminal_at and f"{op.terminal_at.astimezone():%Y-%m-%d %H:%M:%S}"),
        ("trace", op.trace),
        ("approval code", op.approval_code),
        ("terminal id", op.terminal_id),
        ("linked to", op.parent_id and f"id:{op.parent_id}"),
        ("refund plan", op.plan_id and f"{op.plan_id}, part {op.plan_part}"),
        ("reason", op.reason),
        ("doubt stage", op.doubt_stage),
        ("resolved by", op.resolved_by),
        ("note", op.note),
    ):
        if value:
            lines.append(f"  {label + ':':<15}{value}")
    if children:
        lines.append("linked transactions:")
        lines += ["  " + headline(c) for c in children]
    lines.append("history:")
    for e in events:
        change = f"{e.from_state or ''} -> {e.to_state}" if e.to_state else e.event
        who = f" by {e.actor}" if e.actor else ""
        lines.append(
            f"  {e.at.astimezone():%Y-%m-%d %H:%M:%S}  {change}{who}"
            + (f": {e.detail}" if e.detail else "")
        )
    for job in jobs:
        lines.append(
            f"print job {job.id}: {job.purpose} {job.state}, {job.attempts} attempt(s)"
            + (f", last error: {job.last_error}" if job.last_error and job.state != "done" else "")
        )
    for receipt in receipts:
        lines.append(f"{receipt.copy} receipt ({receipt.source}, reprinted {receipt.reprints}x):")
        lines += [f"  | {line}" for line in receipt.lines]
    emit(ctx, body, "\n".join(lines))
    return DONE


# -- attention -------------------------------------------------------------------------
def pending(ctx: Context) -> int:
    found = ctx.desk().pending()
    interrupted = [(i.operation, i.running_pid) for i in found.in_flight]
    ops = found.operations
    plan_rows = [(p.plan, p.left) for p in found.refund_plans]
    waiting = found.print_jobs_waiting
    body = {
        "operations": [op.as_dict() for op in ops],
        "in_flight": [op.as_dict() | {"running_pid": pid} for op, pid in interrupted],
        "refund_plans": [
            p.as_dict() | {"left": [m.decimal() for m in left]} for p, left in plan_rows
        ],
        "print_jobs_waiting": waiting,
    }
    lines: list[str] = []
    for op, pid in interrupted:
        lines.append(headline(op))
        lines.append(
            f"  running now (process {pid})"
            if pid is not None
            else "  INTERRUPTED (crash or power loss): run 'posdriver recover' to ask the terminal"
        )
    for op in ops:
        lines.append(headline(op))
        lines.append(
            f"  started {op.created_at.astimezone():%Y-%m-%d %H:%M:%S}; {op.reason or 'no detail'}"
        )
        known = [f"{k} {v}" for k, v in (("trace", op.trace), ("receipt", op.receipt_no)) if v]
        if known:
            lines.append("  the terminal had said: " + ", ".join(known))
        lines.append(
            f"  decide: posdriver resolve id:{op.id} --approved|--declined --note '...'"
            if op.state.value == "needs_review"
            else "  next: posdriver recover (asks the terminal)"
        )
    for plan, left in plan_rows:
        lines.append(
            f"refund plan {plan.id} for id:{plan.sale_id}: still to refund "
            + " + ".join(m.format() for m in left)
            + f" (posdriver refund id:{plan.sale_id} --split)"
        )
    if waiting:
        lines.append(f"{waiting} receipt(s) waiting for a printer (posdriver jobs)")
    emit(ctx, body, "\n".join(lines) or "nothing pending")
    return ATTENTION if ops or plan_rows or waiting or interrupted else DONE


def incidents(ctx: Context) -> int:
    a = ctx.args
    if a.action == "add":
        note = IncidentNote(
            fault=a.fault,
            action=a.taken,
            result=a.result,
            operator=a.by or actor_of(ctx),
            device=a.device,
            notes=a.note,
            txn=a.txn,
        )
        added = ctx.desk().add_incident(note)
        emit(ctx, added.as_dict(), f"incident {added.id} recorded")
        return DONE
    since = point_in_time("--since", a.since) if a.since else None
    items = ctx.desk().incidents(since)
    if a.csv:
        import csv

        from ..journal import Incident
        from ..journal.records import columns

        # the columns an incident answers with, as its record declares them
        fields = [c.key for c in columns(Incident) if c.answered]
        writer = csv.DictWriter(sys.stdout, fieldnames=fields)
        writer.writeheader()
        for item in items:
            writer.writerow(item.as_dict())
        return DONE
    blocks = []
    for i in items:
        head = f"#{i.id}  {i.at.astimezone():%Y-%m-%d %H:%M:%S}  {i.place}"
        head += f"  {i.device or '-'}  [{i.category}]" + (f"  by {i.actor}" if i.actor else "")
        if i.operation_id is not None:
            head += f"  id:{i.operation_id}"
        block = [
            head,
            f"    fault:  {i.fault}",
            f"    action: {i.action}",
            f"    result: {i.result}",
        ]
        if i.notes:
            block.append(f"    notes:  {i.notes}")
        blocks.append("\n".join(block))
    text = "\n".join(blocks) if blocks else "no incidents"
    emit(ctx, [i.as_dict() for i in items], text)
    return DONE


def _run_jobs(ctx: Context) -> int:
    """Print what waits: with this process's spooler, or through the daemon's printer
    workers (what they cannot print now is waited for up to ``--wait``, as the daemon
    prints it by itself once the printer recovers)."""
    a = ctx.args
    wait = a.wait if a.wait is not None else ctx.config.print.ready_timeout
    report = ctx.desk().run_print_jobs(None, wait)
    lines = printing_lines(report, False, ctx) or ["nothing waiting"]
    emit(ctx, report.as_dict(), "\n".join(lines))
    return ATTENTION if report.waiting else DONE


def jobs(ctx: Context) -> int:
    a = ctx.args
    if a.action == "run":
        return _run_jobs(ctx)
    if a.action == "cancel":
        job = ctx.desk().cancel_print_job(a.job, actor_of(ctx))
        emit(ctx, job.as_dict(), f"print job {job.id} cancelled")
        return DONE
    jobs = ctx.desk().print_jobs()
    rows = [
        [
            str(j.id),
            str(j.operation_id),
            j.purpose + (" (continuation)" if j.continuation else ""),
            j.state,
            str(j.attempts),
            j.printer or "-",
            j.last_error or "",
        ]
        for j in jobs
    ]
    text = (
        _table(["job", "txn", "purpose", "state", "attempts", "printer", "last error"], rows)
        if rows
        else "no receipts waiting for a printer"
    )
    emit(ctx, [j.as_dict() for j in jobs], text)
    return ATTENTION if jobs else DONE
