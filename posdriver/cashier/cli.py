"""The front desk's commands over the journal: ``sale``, ``refund``, ``txn``, ``reprint``,
``pending``, ``recover``, ``resolve``, ``incidents``, ``jobs`` and ``journal``.

Devices and the state directory come from the TOML config (``--config``) or flags
(``--state-dir``, ``--terminal URL`` repeatable with the first preferred, ``--printer
URL``). Recovery (:mod:`.recovery`) runs before any command that talks to a terminal.

While ``posdriver serve`` runs (it answers at the config's ``[service] api``, or where
``--api``/``POSDRIVER_API`` say), it owns the devices and the journal, and every command
but ``journal`` asks it instead, printing the same text, ``--json`` and exit code as when
it does the work itself; a daemon's error ends the command (exit 3) rather than the
command opening what the daemon holds. ``--terminal``/``--printer`` name devices to talk
to directly, and so never use the daemon. ``--state-dir`` (or a ``--config`` file setting
``state_dir``) names the journal: a daemon is asked only when it serves that one
(``Context.daemon``), and every answer through a daemon names it on stderr.

Each command is written once, over a :class:`posdriver.desk.Desk`: the daemon's
(:class:`~posdriver.desk.RemoteDesk`) or this process's over the journal and the devices
(:class:`~posdriver.desk.LocalDesk` with :mod:`.cli_devices`). The commands are in
:mod:`.cli_money` (``sale``, ``refund``), :mod:`.cli_receipts` (``reprint``) and
:mod:`.cli_records` (``txn``, ``pending``, ``incidents``, ``jobs``); ``recover``,
``resolve`` and ``journal`` are here; what all share (exit codes, context, output) is in
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
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..card import is_last4
from ..desk import errors
from ..journal.states import State
from . import cli_money as money
from . import cli_receipts as receipts
from . import cli_records as records
from .cli_common import (
    APPROVED,
    ATTENTION,
    DONE,
    FAILED,
    IN_DOUBT,
    NOT_CHARGED,
    NOT_SENT,
    CommandError,
    Context,
    MoneyStopped,
    actor_of,
    emit,
    fail,
    headline,
    printing_lines,
    state_failure,
)

if TYPE_CHECKING:
    from ..desk import DeskError


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


# --since and --until read as posdriver.desk.times reads them (so does the API)
_WHEN_HELP = "{} a day (2026-11-23), a time (2026-11-23T14:00) or a span ago (30m, 24h, 7d, 2w)"


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


def _device(parser: argparse.ArgumentParser, dest: str, text: str, old: str) -> None:
    """``--device NAME``, as every command names a configured device; ``old``, the
    spelling this command had before, still works and is no longer shown."""
    parser.add_argument("--device", dest=dest, metavar="NAME", help=text)
    parser.add_argument(old, dest=dest, metavar="NAME", help=argparse.SUPPRESS)


def add_parsers(commands: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    common = _common()
    file_only = _common(desk=False)

    def add(name: str, text: str, **kwargs: Any) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=text, description=text, parents=[common], **kwargs)

    money = {
        "epilog": exit_epilog(others=False),
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }
    sale = add("sale", "charge AMOUNT to a card: journaled, receipt stored and printed", **money)
    sale.add_argument("amount", metavar="AMOUNT", help="decimal amount, e.g. 12.50")
    sale.add_argument("--currency", help="ISO 4217 code (default: the config's currency)")
    _device(sale, "on", "preferred terminal (default: the first)", "--on")
    sale.add_argument("--no-failover", action="store_true", help="do not try a standby terminal")

    refund = add("refund", "pay back (part of) a sale, after the refund guard's checks", **money)
    refund.add_argument("txn", metavar="TXN", help="the sale: journal id, receipt:N or last")
    refund.add_argument("--amount", help="amount to refund (default: all that is left)")
    refund.add_argument(
        "--split", action="store_true", help="carry out the split plan when over the limit"
    )
    refund.add_argument("--yes", action="store_true", help="do not ask before a split refund")
    _device(refund, "on", "terminal to use (default: the sale's)", "--on")
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
    listing.add_argument("--since", metavar="WHEN", help=_WHEN_HELP.format("from"))
    listing.add_argument("--until", metavar="WHEN", help=_WHEN_HELP.format("up to"))
    listing.add_argument("--amount", help="exactly this amount")
    listing.add_argument("--currency", help="currency of --amount")
    listing.add_argument("--last4", metavar="NNNN", help="card's last four digits")
    listing.add_argument("--state", action="append", default=[], help="state (repeatable)")
    listing.add_argument("--kind", action="append", default=[], help="sale, refund, ...")
    _device(listing, "terminal_name", "only this terminal", "--terminal-name")
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
    incidents.add_argument("--since", metavar="WHEN", help=_WHEN_HELP.format("from"))
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


# The commands that need of the configuration only where the journal is (their own, or the
# running daemon's): the config is read journal_only for them, so a mistake in a device's
# table does not keep staff from a guest's payment (and pydantic is not imported). Each
# (command, action) here is run with such a config in tests/cashier/test_journal_only.py.
JOURNAL_ONLY = frozenset(
    {
        ("txn", "list"),
        ("txn", "show"),
        ("pending", None),
        ("incidents", None),
        ("incidents", "add"),
        ("jobs", None),
        ("jobs", "list"),
        ("journal", "export"),
        ("journal", "backup"),
        ("journal", "check"),
    }
)


def journal_only(args: argparse.Namespace) -> bool:
    return (args.command, getattr(args, "action", None)) in JOURNAL_ONLY


@contextlib.contextmanager
def _context(args: argparse.Namespace) -> Iterator[Context]:
    from ..config import load_config, with_overrides

    config = with_overrides(
        load_config(args.config, journal_only=journal_only(args)),
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
    handler = _HANDLERS[args.command]
    try:
        with _context(args) as ctx:
            return handler(ctx)
    except Exception as exc:
        code = _failed(args, exc)
        if code is None:
            raise
        return code


def _failed(args: argparse.Namespace, exc: Exception) -> int | None:
    """The message and exit code of a failure (None: not one of ours to report). The
    exception classes are imported here, when something failed, so that a command that
    only reads does not import the money paths' modules at start-up."""
    from ..config import ConfigError
    from ..desk import DeskError
    from ..desk.client import DaemonError
    from ..desk.remote import translated
    from ..journal import JournalError
    from ..money import AmountError
    from .refunds import RefundRefused
    from .writeahead import OutcomeNotRecorded

    if isinstance(exc, OutcomeNotRecorded):
        return fail(args, str(exc), IN_DOUBT if exc.outcome.ok else NOT_CHARGED)
    if isinstance(exc, MoneyStopped):
        return fail(args, str(exc), exc.code)
    if isinstance(exc, RefundRefused):
        return fail(args, str(exc), NOT_SENT, {"refund_guard": exc.decision.as_dict()})
    if isinstance(exc, DeskError):
        return _desk_failed(args, exc)
    if isinstance(exc, DaemonError):  # the paths still talking to the daemon's client directly
        return _desk_failed(args, translated(exc))
    if isinstance(exc, JournalError):
        return fail(args, _before_any_terminal(args, str(exc)), FAILED)
    if isinstance(exc, ConfigError | AmountError | CommandError | ValueError):
        return fail(args, str(exc), FAILED)
    if isinstance(exc, BrokenPipeError):
        return None  # the reader went away: posdriver.cli.main's business
    if isinstance(exc, OSError):  # the state directory (locks, journal files): full, read-only
        return fail(args, _before_any_terminal(args, state_failure(exc)), FAILED)
    return None


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


# What each exit code means, for the money commands and for every other desk command:
# the one table the --help epilogs are written from, and docs/cli.md's "Exit codes" lists
# (tests/cashier/test_cli.py holds the two to each other).
EXIT_TABLE: tuple[tuple[int, str, str], ...] = (
    (APPROVED, "approved (a split refund: every part approved)", "done"),
    (
        NOT_CHARGED,
        "declined or aborted: nothing charged (a split refund: a part did not go through; "
        "the rest is kept)",
        "done, but something needs a person (see each command)",
    ),
    (
        IN_DOUBT,
        "in doubt: the card may have been charged. Do not repeat it; posdriver recover, then "
        "posdriver pending. Also: the terminal approved and the journal could not record it",
        "",
    ),
    (
        NOT_SENT,
        "not sent: bad input, stopped by the refund guard, no terminal reached, split not "
        "confirmed, no terminal configured, journal unusable",
        "could not do it: bad input, unknown or ambiguous TXN, file exists, journal unusable",
    ),
)


def exit_epilog(*, money: bool = True, others: bool = True) -> str:
    """The exit codes as ``--help`` ends with them, from :data:`EXIT_TABLE`."""
    lines = ["exit codes:"]
    for code, money_text, other_text in EXIT_TABLE:
        if money:
            head = f"  {code}  " + ("sale, refund: " if others else "")
            lines += textwrap.wrap(money_text, 88, initial_indent=head, subsequent_indent=" " * 5)
        if others and other_text:
            head = f"  {code}  " if not money else "     "
            text = ("other commands: " if money else "") + other_text
            lines += textwrap.wrap(text, 88, initial_indent=head, subsequent_indent=" " * 5)
    return "\n".join(lines)


# the desk's errors as exit codes: each is "could not do it" (a money operation refused
# before it started: not sent), the message says which
_EXIT_CODES: dict[type[Exception], int] = {
    errors.Refused: NOT_SENT,
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
    "sale": money.sale,
    "refund": money.refund,
    "txn": lambda ctx: (records.txn_list if ctx.args.action == "list" else records.txn_show)(ctx),
    "reprint": receipts.reprint,
    "pending": records.pending,
    "recover": _recover,
    "resolve": _resolve,
    "incidents": records.incidents,
    "jobs": records.jobs,
    "journal": _journal,
}
