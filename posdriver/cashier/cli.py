"""The front desk's commands over the journal: ``sale``, ``refund``, ``txn``, ``reprint``,
``pending``, ``recover``, ``resolve``, ``incidents``, ``jobs`` and ``journal``.

Devices and the state directory come from the TOML config (``--config``) or flags
(``--state-dir``, ``--terminal URL`` repeatable with the first preferred, ``--printer
URL``). Recovery (:mod:`.recovery`) runs before any command that talks to a terminal.

While ``posdriver serve`` runs (it answers at the config's ``[service] api``), it owns
the devices and the journal, and every command but ``journal`` asks it instead
(:mod:`.via_daemon`), printing the same text, ``--json`` and exit code as when it reads
the journal itself; a daemon's error ends the command (exit 3) rather than the command
opening what the daemon holds. ``--terminal``/``--printer`` name devices to talk to
directly, and so never use the daemon; ``--api``/``POSDRIVER_API`` name the daemon to
ask. The commands that read and tidy the record are written once over a
:class:`posdriver.desk.Desk` (:mod:`.cli_records`); the longer money paths through the
daemon are in :mod:`.cli_daemon`; what all share (exit codes, context, output) is in
:mod:`.cli_common`.

Exit codes. Money commands (``sale``, ``refund``): 0 approved, 1 declined or aborted
(nothing charged), 2 IN DOUBT (the card may have been charged: do not repeat it; see
``posdriver pending``), 3 not sent (bad input, refused by the refund guard, no terminal
reached, journal unusable). Other commands: 0 done, 1 done but something needs a
person (operations pending, receipts waiting for a printer), 3 could not do it.
Errors go to stderr (with ``--json``, as ``{"error": ...}`` on stdout too).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..card import is_last4
from ..desk import errors
from ..journal.states import State
from . import cli_records as records
from .cli_common import (
    APPROVED,
    ATTENTION,
    AWAITING_DECISION,
    DONE,
    FAILED,
    IN_DOUBT,
    NOT_CHARGED,
    NOT_SENT,
    CommandError,
    Context,
    MoneyStopped,
    actor_of,
    confirm,
    currency_of,
    emit,
    fail,
    headline,
    money_guard,
    printing_lines,
    state_failure,
)
from .cli_daemon import (
    money_via,
    refund_via,
    reprint_via,
)

if TYPE_CHECKING:
    from ..desk import DeskError
    from ..journal import Operation
    from ..money import Money
    from .cashier import Cashier, MoneyResult
    from .recovery import RecoveryReport
    from .spooler import SpoolReport


COMMANDS = (
    "sale",
    "refund",
    "txn",
    "reprint",
    "pending",
    "recover",
    "resolve",
    "incidents",
    "jobs",
    "journal",
)


# -- parser ----------------------------------------------------------------------------
def _common(*, desk: bool = True) -> argparse.ArgumentParser:
    """The options every command takes; a desk command (``desk``: all but ``journal``,
    which reads the file itself) may name the running daemon to ask (``--api``)."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("devices and journal")
    group.add_argument("--json", action="store_true", help="print JSON instead of text")
    group.add_argument(
        "--config",
        metavar="FILE",
        help="TOML config (default: POSDRIVER_CONFIG or /etc/posdriver/posdriver.toml)",
    )
    group.add_argument("--state-dir", metavar="DIR", help="where the journal lives")
    group.add_argument(
        "--terminal",
        metavar="URL",
        action="append",
        default=[],
        help="payment terminal URL (repeatable; the first is preferred, the next are standbys)",
    )
    group.add_argument(
        "--printer", metavar="URL", action="append", default=[], help="receipt printer URL"
    )
    if desk:
        group.add_argument(
            "--api",
            metavar="HOST:PORT",
            help="ask the daemon answering here (default: POSDRIVER_API, else [service] api "
            "when a daemon answers there); it must answer",
        )
    return common


def add_parsers(commands: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    common = _common()
    file_only = _common(desk=False)

    def add(name: str, text: str, **kwargs: Any) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=text, description=text, parents=[common], **kwargs)

    sale = add("sale", "charge AMOUNT to a card: journaled, receipt stored and printed")
    sale.add_argument("amount", metavar="AMOUNT", help="decimal amount, e.g. 12.50")
    sale.add_argument("--currency", help="ISO 4217 code (default: the config's currency)")
    sale.add_argument("--on", metavar="NAME", help="preferred terminal (default: the first)")
    sale.add_argument("--no-failover", action="store_true", help="do not try a standby terminal")

    refund = add("refund", "pay back (part of) a sale, after the refund guard's checks")
    refund.add_argument("txn", metavar="TXN", help="the sale: journal id, receipt:N or last")
    refund.add_argument("--amount", help="amount to refund (default: all that is left)")
    refund.add_argument(
        "--split", action="store_true", help="carry out the split plan when over the limit"
    )
    refund.add_argument("--yes", action="store_true", help="do not ask before a split refund")
    refund.add_argument("--on", metavar="NAME", help="terminal to use (default: the sale's)")
    refund.add_argument(
        "--cancel-plan",
        metavar="REASON",
        help="give up the rest of this sale's split refund plan (journaled with REASON)",
    )

    txn = commands.add_parser("txn", help="find transactions in the journal")
    actions = txn.add_subparsers(
        dest="action", required=True, metavar="ACTION", parser_class=parser_class
    )
    listing = actions.add_parser("list", help="list transactions, newest first", parents=[common])
    listing.add_argument("--since", metavar="DATE", help="from this day (YYYY-MM-DD) or time")
    listing.add_argument("--until", metavar="DATE", help="up to and including this day")
    listing.add_argument("--amount", help="exactly this amount")
    listing.add_argument("--currency", help="currency of --amount")
    listing.add_argument("--last4", metavar="NNNN", help="card's last four digits")
    listing.add_argument("--state", action="append", default=[], help="state (repeatable)")
    listing.add_argument("--kind", action="append", default=[], help="sale, refund, ...")
    listing.add_argument(
        "--terminal-name", dest="terminal_name", metavar="NAME", help="only this terminal"
    )
    listing.add_argument("--limit", type=int, default=50, help="at most N rows (default 50)")
    show = actions.add_parser(
        "show", help="one transaction, its history and receipts", parents=[common]
    )
    show.add_argument("txn", metavar="TXN", help="journal id, receipt:N or last")

    reprint = add("reprint", "print a stored receipt again, marked as a copy")
    reprint.add_argument("txn", metavar="TXN", help="journal id, receipt:N or last")
    reprint.add_argument(
        "--copy", choices=("customer", "merchant"), default="customer", help="which copy"
    )

    add("pending", "operations in doubt or needing review, unfinished split refunds")
    add("recover", "resolve operations in doubt by asking the terminals, now")

    resolve = add("resolve", "record a person's decision on an operation in doubt")
    resolve.add_argument("txn", metavar="TXN")
    verdict = resolve.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--approved", action="store_true", help="the card was charged")
    verdict.add_argument("--declined", action="store_true", help="the card was not charged")
    resolve.add_argument("--note", required=True, help="why (what was checked, with whom)")
    resolve.add_argument("--by", help="who decided (default: the logged-in user)")
    resolve.add_argument("--receipt-no", type=int, help="the terminal's receipt number, if known")
    resolve.add_argument("--last4", help="the card's last four digits, if known")

    incidents = add("incidents", "the fault record: what happened, what was done, result")
    incidents.add_argument("--since", metavar="WHEN", help="YYYY-MM-DD, or 24h / 7d ago")
    fmt = incidents.add_mutually_exclusive_group()
    fmt.add_argument("--csv", action="store_true", help="CSV for the hotel's records")
    incidents_actions = incidents.add_subparsers(
        dest="action", metavar="ACTION", parser_class=parser_class
    )
    inc_add = incidents_actions.add_parser(
        "add", help="write a staff note into the fault record", parents=[common]
    )
    inc_add.add_argument("--device", help="device name, if any")
    inc_add.add_argument("--fault", required=True, help="what went wrong")
    inc_add.add_argument("--action", dest="taken", required=True, help="what was done")
    inc_add.add_argument("--result", required=True, help="how it ended")
    inc_add.add_argument("--note", help="anything else")
    inc_add.add_argument("--txn", metavar="TXN", help="the transaction it concerns, if any")
    inc_add.add_argument("--by", help="who (default: the logged-in user)")

    jobs = add("jobs", "receipts waiting for a printer (the print queue)")
    jobs_actions = jobs.add_subparsers(dest="action", metavar="ACTION", parser_class=parser_class)
    jobs_actions.add_parser("list", help="list the queue (default)", parents=[common])
    run = jobs_actions.add_parser("run", help="print what is waiting now", parents=[common])
    run.add_argument("--wait", type=float, help="seconds to wait for a printer")
    cancel = jobs_actions.add_parser("cancel", help="drop a job from the queue", parents=[common])
    cancel.add_argument("job", type=int, metavar="JOB")

    journal = commands.add_parser("journal", help="export, back up or check the journal")
    j_actions = journal.add_subparsers(
        dest="action", required=True, metavar="ACTION", parser_class=parser_class
    )
    export = j_actions.add_parser("export", help="every transaction as CSV", parents=[file_only])
    export.add_argument("--csv", action="store_true", required=True, help="CSV (the only format)")
    export.add_argument("--output", metavar="FILE", help="write here instead of stdout")
    backup = j_actions.add_parser(
        "backup", help="an online, consistent copy of the journal", parents=[file_only]
    )
    backup.add_argument("file", metavar="FILE")
    j_actions.add_parser("check", help="SQLite's integrity check", parents=[file_only])


# -- running ---------------------------------------------------------------------------


@contextlib.contextmanager
def _context(args: argparse.Namespace) -> Iterator[Context]:
    from ..config import load_config, with_overrides

    config = with_overrides(
        load_config(args.config),
        state_dir=args.state_dir,
        terminals=args.terminal,
        printers=args.printer,
    )
    ctx = Context(args, config)
    try:
        yield ctx
    finally:
        ctx.close()


def run(args: argparse.Namespace) -> int:
    """Run one of :data:`COMMANDS`; every failure becomes a message and an exit code."""
    from ..config import ConfigError
    from ..desk import DeskError
    from ..desk.remote import translated
    from ..journal import JournalError
    from ..money import AmountError
    from .cashier import OutcomeNotRecorded, RefundRefused
    from .via_daemon import DaemonError

    handler = _HANDLERS[args.command]
    try:
        with _context(args) as ctx:
            return handler(ctx)
    except OutcomeNotRecorded as exc:
        return fail(args, str(exc), IN_DOUBT if exc.outcome.ok else NOT_CHARGED)
    except MoneyStopped as exc:
        return fail(args, str(exc), exc.code)
    except RefundRefused as exc:
        return fail(args, str(exc), NOT_SENT, {"refund_guard": exc.decision.as_dict()})
    except DeskError as exc:
        return _desk_failed(args, exc)
    except DaemonError as exc:  # the paths still talking to the daemon's client directly
        return _desk_failed(args, translated(exc))
    except JournalError as exc:
        return fail(args, _before_any_terminal(args, str(exc)), FAILED)
    except (ConfigError, AmountError, CommandError, ValueError) as exc:
        return fail(args, str(exc), FAILED)
    except BrokenPipeError:
        raise  # the reader went away: posdriver.cli.main's business
    except OSError as exc:  # the state directory (locks, the journal's files): full, read-only
        return fail(args, _before_any_terminal(args, state_failure(exc)), FAILED)


def _before_any_terminal(args: argparse.Namespace, text: str) -> str:
    """A journal or state directory failure outside :func:`money_guard` came before a
    money command reached any terminal: say so, the question at the counter."""
    if args.command in ("sale", "refund"):
        return f"{text}; nothing was sent to the terminal"
    return text


def _desk_failed(args: argparse.Namespace, exc: DeskError) -> int:
    """What the desk could not do, as a message and the exit code of its kind."""
    from ..desk import NotFound

    text = _before_any_terminal(args, str(exc)) if isinstance(exc, NotFound) else str(exc)
    code = next(_EXIT_CODES[k] for k in type(exc).__mro__ if k in _EXIT_CODES)
    return fail(args, text, code, exc.extra)


# -- money -----------------------------------------------------------------------------
def _recover_first(ctx: Context, cashier: Cashier) -> RecoveryReport | None:
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


def _sale(ctx: Context) -> int:
    from ..money import Money

    amount = Money.parse(ctx.args.amount, currency_of(ctx))
    daemon = ctx.daemon()
    if daemon is not None:
        body = {"kind": "sale", "amount": amount.decimal(), "currency": amount.currency}
        if ctx.args.on:
            body["terminal"] = ctx.args.on
        return money_via(ctx, daemon, body)
    cashier = ctx.cashier()
    if not ctx.config.terminals:
        raise CommandError("no payment terminal is configured; give --terminal URL or a config")
    if ctx.args.on is not None:
        ctx.config.terminal(ctx.args.on)  # a wrong name is an error before anything runs
    with money_guard(ctx):
        recovered = _recover_first(ctx, cashier)
        result = cashier.sale(amount, on=ctx.args.on, failover=not ctx.args.no_failover)
    return _money_result(ctx, result, recovered)


def _money_result(
    ctx: Context, result: MoneyResult, recovered: RecoveryReport | None = None
) -> int:

    op = result.operation
    code = {
        State.APPROVED: APPROVED,
        State.DECLINED: NOT_CHARGED,
        State.IN_DOUBT: IN_DOUBT,
    }.get(op.state, NOT_CHARGED)
    if op.state is State.ABORTED and result.outcome is None:
        code = NOT_SENT
    body = result.as_dict()
    if recovered is not None:
        body["recovery"] = recovered.as_dict()
    lines = [headline(op)]
    for attempt in result.attempts:
        lines.append(f"  not done on {attempt.terminal}: {attempt.error}")
    if op.reason and op.state is not State.APPROVED:
        lines.append(f"  reason: {op.reason}")
    if op.state is State.IN_DOUBT:
        lines.append(
            "  THE CARD MAY HAVE BEEN CHARGED. Do not charge again; run "
            "'posdriver recover', then 'posdriver pending'."
        )
    lines += printing_lines(result.printing, op.state is State.APPROVED, ctx)
    emit(ctx, body, "\n".join(lines))
    return code


def _refund(ctx: Context) -> int:
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

    recovered = _recover_first(ctx, cashier)
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


# -- receipts --------------------------------------------------------------------------
def _reprint(ctx: Context) -> int:
    from ..journal import UnknownTransaction

    daemon = ctx.daemon()
    if daemon is not None:
        return reprint_via(ctx, daemon)
    journal = ctx.journal
    try:
        op: Operation | None = journal.find(ctx.args.txn)
    except UnknownTransaction as exc:
        if "more than one" in str(exc) or not ctx.config.terminals:
            raise
        op = None
        missing = str(exc)
    if op is not None and op.state is not State.APPROVED:
        raise CommandError(
            f"id:{op.id} is {op.state.value.replace('_', ' ')}: it has no receipt to reprint"
            + (" (resolve it first: posdriver pending)" if op.state in AWAITING_DECISION else "")
        )
    if op is not None:
        stored = journal.receipt(op.id, ctx.args.copy)
        if stored is None:
            missing = f"transaction {op.id} has no stored {ctx.args.copy} receipt"
        else:
            return _journaled_reprint(ctx, op)
    return _reprint_from_terminal(ctx, op, missing)


def _journaled_reprint(ctx: Context, op: Operation) -> int:
    printer = _printer_name(ctx, op.terminal)
    stored = ctx.journal.receipt(op.id, ctx.args.copy)
    waiting = [
        j
        for j in ctx.journal.jobs_of(op.id)
        if stored is not None
        and j.receipt_id == stored.id
        and j.purpose == "original"
        and j.state in ("queued", "printing")
    ]
    if waiting:
        # the guest never had the first print: give them that, not a copy
        report = ctx.spooler().run(
            job_ids=[j.id for j in waiting], wait=ctx.config.print.ready_timeout
        )
        lines = [f"the receipt of id:{op.id} had not printed yet; printing the original"]
        lines += printing_lines(report, True, ctx)
        body = {
            "operation": op.as_dict(),
            "copy": ctx.args.copy,
            "reprint_no": None,
            "source": "journal",
            "printed": bool(report.printed),
            "printing": report.as_dict(),
        }
        emit(ctx, body, "\n".join(lines))
        return DONE if report.printed else ATTENTION
    job = ctx.journal.reprint(op.id, ctx.args.copy, printer, actor_of(ctx))
    report = ctx.spooler().run(job_ids=[job.id], wait=ctx.config.print.ready_timeout)
    return _reprint_report(ctx, op, job.reprint_no or 1, report, source="journal")


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


def _printer_name(ctx: Context, terminal: str | None) -> str | None:
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
    _recover_first(ctx, cashier)  # the terminal's last transaction may settle one in doubt
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
        return _journaled_reprint(ctx, op)
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
    printer_cfg = ctx.config.printer(_printer_name(ctx, terminal) or "")
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


# -- attention -------------------------------------------------------------------------
def _recover(ctx: Context) -> int:
    desk = ctx.desk()  # through the daemon, it asks its terminals: it owns them
    report = desk.recover()
    lines = []
    for op, why in report.resolved:
        lines.append(f"{headline(op)}\n  {why}")
    for op, why in report.needs_review:
        lines.append(f"{headline(op)}\n  NEEDS REVIEW: {why}")
    for op, why in report.still_in_doubt:
        lines.append(f"{headline(op)}\n  STILL IN DOUBT: {why}")
    for op in report.aborted:
        lines.append(headline(op))
    for op, pid in report.running:
        lines.append(f"{headline(op)}\n  still running in process {pid}; left alone")
    lines += printing_lines(report.printing, False, ctx)
    nothing = "nothing to recover" + (" (asked through the daemon)" if desk.through_daemon else "")
    emit(ctx, report.as_dict(), "\n".join(lines) or nothing)
    return DONE if report.clean else ATTENTION


def _resolve(ctx: Context) -> int:
    from ..desk.models import Decision
    from .cashier import check_resolvable

    a = ctx.args
    desk = ctx.desk()
    op = desk.find(a.txn)
    check_resolvable(op)  # first: a settled operation is the reason, not a missing note
    if not a.note.strip():
        raise CommandError("--note must say why (what was checked, with whom)")
    if a.last4 is not None and not is_last4(a.last4):
        raise CommandError(f"--last4 takes exactly four digits, got {a.last4!r}")
    who = a.by or actor_of(ctx)
    new = State.APPROVED if a.approved else State.DECLINED
    decided = desk.resolve(op.id, Decision(new, a.note, who, a.receipt_no, a.last4))
    jobs = [j.id for j in decided.print_jobs]
    report = desk.print_now(op.id, jobs, ctx.config.print.ready_timeout) if jobs else None
    lines = [headline(decided.operation), f"  decided by {who}: {a.note}"]
    lines += printing_lines(report, False, ctx)
    body = decided.operation.as_dict() | {"printing": None if report is None else report.as_dict()}
    emit(ctx, body, "\n".join(lines))
    return DONE


def _journal(ctx: Context) -> int:
    a = ctx.args
    if a.action == "export":
        if a.output:
            path = Path(a.output)
            try:
                # 0600 whatever the umask, as backups are: guests' business
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with open(fd, "w", newline="", encoding="utf-8") as out:
                    count = ctx.journal.export_csv(out)
            except FileExistsError:
                raise CommandError(f"{path}: already exists; choose a new file") from None
            except OSError as exc:
                raise CommandError(f"{path}: {exc.strerror}") from None
            print(f"{count} transactions written to {path}", file=sys.stderr)
        else:
            ctx.journal.export_csv(sys.stdout)
        return DONE
    if a.action == "backup":
        target = ctx.journal.backup(a.file)
        emit(ctx, {"backup": str(target)}, f"journal backed up to {target}")
        return DONE
    problems = ctx.journal.check()
    emit(
        ctx,
        {"ok": not problems, "problems": problems},
        "journal is sound" if not problems else "\n".join(problems),
    )
    return DONE if not problems else FAILED


_IN_FLIGHT = frozenset({State.PENDING, State.SENT, State.IN_DOUBT})

# the desk's errors as exit codes: each is "could not do it" (for a money command: nothing
# was sent), the message says which
_EXIT_CODES: dict[type[Exception], int] = {
    errors.NotFound: FAILED,
    errors.Conflict: FAILED,
    errors.BadInput: FAILED,
    errors.NotAllowed: FAILED,
    errors.NotOffered: FAILED,
    errors.Unreachable: FAILED,
    errors.Failed: FAILED,
    errors.DeskError: FAILED,
}

_HANDLERS = {
    "sale": _sale,
    "refund": _refund,
    "txn": lambda ctx: (records.txn_list if ctx.args.action == "list" else records.txn_show)(ctx),
    "reprint": _reprint,
    "pending": records.pending,
    "recover": _recover,
    "resolve": _resolve,
    "incidents": records.incidents,
    "jobs": records.jobs,
    "journal": _journal,
}
