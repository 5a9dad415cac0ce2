"""``reprint``: a stored receipt printed again, marked as a copy; the original when it
never printed; the terminal's repeat receipt when the journal does not hold it.
"""

from __future__ import annotations

import contextlib
import re
from typing import TYPE_CHECKING, Any

from ..desk import Desk, NoStoredReceipt, NotFound
from ..journal.states import State
from .cli_common import (
    ATTENTION,
    AWAITING_DECISION,
    DONE,
    FAILED,
    CommandError,
    Context,
    actor_of,
    emit,
    printing_lines,
)
from .cli_money import recover_first

if TYPE_CHECKING:
    from ..journal import Operation
    from .spooler import SpoolReport


_FROM_TERMINAL = (
    "; a receipt the journal does not hold is repeated by the terminal only when "
    "posdriver serve is not running (it holds the terminal)"
)


# -- receipts --------------------------------------------------------------------------
def reprint(ctx: Context) -> int:
    desk = ctx.desk()
    try:
        op: Operation | None = desk.find(ctx.args.txn)
    except NotFound as exc:
        if "more than one" in str(exc):
            raise
        if desk.through_daemon:  # the daemon holds the terminal: it cannot repeat one
            raise CommandError(f"{exc}{_FROM_TERMINAL}") from None
        if not ctx.config.terminals:
            raise
        op = None
        missing = str(exc)
    if op is not None and op.state is not State.APPROVED:
        raise CommandError(
            f"id:{op.id} is {op.state.value.replace('_', ' ')}: it has no receipt to reprint"
            + (" (resolve it first: posdriver pending)" if op.state in AWAITING_DECISION else "")
        )
    if op is not None:
        try:
            return _journaled_reprint(ctx, desk, op)
        except NoStoredReceipt as exc:
            if desk.through_daemon:
                raise CommandError(f"{exc}{_FROM_TERMINAL}") from None
            missing = f"transaction {op.id} has no stored {ctx.args.copy} receipt"
    return _reprint_from_terminal(ctx, op, missing)


def _journaled_reprint(ctx: Context, desk: Desk, op: Operation) -> int:
    """A stored receipt printed again (or, while its first print still waits, that one),
    reported with what the printer did."""
    reprinted = desk.reprint(op.id, ctx.args.copy, actor_of(ctx))
    wait = ctx.config.print.ready_timeout
    report = desk.print_now(op.id, [j.id for j in reprinted.jobs], wait, alone=True)
    where = ", through the daemon" if desk.through_daemon else ""
    if reprinted.reprint:
        number = reprinted.jobs[0].reprint_no or 1
        lines = [
            f"reprint {number} of id:{op.id} ({ctx.args.copy} copy, from the journal), marked "
            f"as a duplicate{where}"
        ]
    else:  # the guest never had the first print: give them that, not a copy
        number = None
        lines = [f"the receipt of id:{op.id} had not printed yet; printing the original{where}"]
    lines += printing_lines(report, True, ctx)
    printed = bool(report and report.printed)
    body = {
        "operation": op.as_dict(),
        "copy": ctx.args.copy,
        "reprint_no": number,
        "source": "journal",
        "printed": printed,
        "printing": None if report is None else report.as_dict(),
    }
    if desk.through_daemon:  # the job as the daemon last told of it
        seen = report.outcomes[0].job if report and report.outcomes else reprinted.jobs[0]
        body["job"] = seen.as_dict()
    emit(ctx, body, "\n".join(lines))
    return DONE if printed else ATTENTION


def _reprint_report(
    ctx: Context, op: Operation, number: int, report: SpoolReport | None, *, source: str
) -> int:
    printed = bool(report and report.printed)
    where = "the journal" if source == "journal" else "the terminal's repeat receipt"
    lines = [
        f"reprint {number} of id:{op.id} ({ctx.args.copy} copy, from {where}), marked "
        "as a duplicate"
    ]
    lines += printing_lines(report, True, ctx)
    body = {
        "operation": op.as_dict(),
        "copy": ctx.args.copy,
        "reprint_no": number,
        "source": source,
        "printed": printed,
        "printing": None if report is None else report.as_dict(),
    }
    emit(ctx, body, "\n".join(lines))
    return DONE if printed else ATTENTION


def printer_name(ctx: Context, terminal: str | None) -> str:
    """The printer for ``terminal``'s receipts: its own, else the first configured."""
    from ..config import ConfigError

    if not ctx.config.printers:
        raise CommandError("no receipt printer is configured; give --printer URL or a config")
    if terminal:
        with contextlib.suppress(ConfigError):
            found = ctx.config.printer_for(terminal)
            if found is not None:
                return found.name
    return ctx.config.printers[0].name


def _reprint_from_terminal(ctx: Context, op: Operation | None, missing: str) -> int:
    """No stored receipt: the terminal can repeat its *last* receipt, so use it when the
    transaction asked for is that one, and say so."""

    cashier = ctx.cashier()
    recover_first(ctx, cashier)  # the terminal's last transaction may settle one in doubt
    name = op.terminal if op and op.terminal else None
    cfg = ctx.config.failover_order(
        name if name in {t.name for t in ctx.config.terminals} else None
    )[0]
    with cashier.open_terminal(cfg) as terminal:
        last = terminal.last_transaction()
    wanted = _wanted_receipt_no(ctx.args.txn, op)
    if op is not None and wanted is None:
        raise CommandError(
            f"{missing}, and without its terminal receipt number the terminal's repeat "
            "receipt cannot be matched to it"
        )
    if last is None or not last.receipt:
        raise CommandError(f"{missing}; the terminal {cfg.name} has no receipt to repeat")
    if wanted is not None and last.receipt_no != wanted:
        raise CommandError(
            f"{missing}; the terminal {cfg.name} can only repeat its last transaction "
            f"(receipt {last.receipt_no}), not receipt {wanted}"
        )
    if op is None and ctx.args.txn.strip().lower() != "last" and wanted is None:
        raise CommandError(missing)
    if op is not None:
        cashier.store_receipts(op, last.receipt, source="repeat_receipt")
        # the original job is the guest's first copy; it is not printed again here
        for job in ctx.journal.jobs_of(op.id):
            if job.purpose == "original" and job.state == "queued":
                ctx.journal.cancel_job(job.id, "reprint")
        return _journaled_reprint(ctx, ctx.desk(), op)
    return _print_unjournaled(ctx, cfg.name, last)


def _wanted_receipt_no(ref: str, op: Operation | None) -> int | None:
    if op is not None:
        return op.receipt_no
    match = re.fullmatch(r"(?:receipt:|r)?(\d{1,9})", ref.strip(), re.IGNORECASE)
    return int(match.group(1)) if match else None


def _print_unjournaled(ctx: Context, terminal: str, last: Any) -> int:
    """A transaction from before posdriver kept a journal: print the terminal's repeat
    receipt as a duplicate and note it in the fault record."""
    from datetime import datetime as _dt

    from ..links import LinkError, link_for_url
    from ..printer.driver import Printer
    from ..printer.errors import PrinterError
    from ..printer.receipt import encode_segments
    from .receipts import mark_copy, to_printable

    rc = ctx.config.receipt
    printer_cfg = ctx.config.printer(printer_name(ctx, terminal) or "")
    lines = mark_copy(
        list(last.receipt),
        reprint_no=1,
        at=_dt.now().astimezone(),
        language=rc.language,
        columns=rc.columns,
    )
    link = link_for_url(printer_cfg.url)
    error = None
    try:
        link.open()
        Printer(link).print_job(
            encode_segments(to_printable(lines, columns=rc.columns), printer_cfg.profile)
        )
    except (LinkError, PrinterError) as exc:
        error = str(exc)
    finally:
        link.close()
    ctx.journal.add_incident(
        category="manual",
        device=printer_cfg.name,
        fault=f"receipt {last.receipt_no} is not in the journal (made on the terminal "
        "directly, or before posdriver kept a journal)",
        action=f"reprinted from terminal {terminal}'s repeat receipt",
        result="printed" if error is None else f"not printed: {error}",
        actor=actor_of(ctx),
    )
    body = {
        "source": "terminal",
        "receipt_no": last.receipt_no,
        "printed": error is None,
        "error": error,
    }
    text = (
        f"receipt {last.receipt_no} is not in the journal; printed the terminal's repeat "
        "receipt, marked as a duplicate"
        if error is None
        else f"receipt {last.receipt_no}: the terminal's repeat receipt could not be printed: "
        f"{error}"
    )
    emit(ctx, body, text)
    return DONE if error is None else FAILED
