"""What every desk command shares: the exit codes, the error that stops a command, the
command's context (its config, and the journal or the daemon it works with) and how
results are written (text, or ``--json``).

Apart from :mod:`.cli` so that every command module (:mod:`.cli_money`,
:mod:`.cli_receipts`, :mod:`.cli_records`) uses the same words and codes without
importing the others.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..errors import PosdriverError
from ..journal.states import State

if TYPE_CHECKING:
    from ..config import Config
    from ..desk import Desk
    from ..desk.client import Daemon
    from ..journal import Journal, Operation
    from .cashier import Cashier
    from .spooler import Spooler, SpoolReport

APPROVED, NOT_CHARGED, IN_DOUBT, NOT_SENT = 0, 1, 2, 3
DONE, ATTENTION, FAILED = 0, 1, 3
AWAITING_DECISION = frozenset({State.IN_DOUBT, State.NEEDS_REVIEW})  # what only a person settles


class CommandError(PosdriverError):
    """Input or state that stops a command; the message says what and what to do."""


class MoneyStopped(PosdriverError):
    """A money command stopped part-way by its journal or state directory (a full disk);
    ``code`` is its exit code, from what the journal says the terminal was asked."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def state_failure(exc: OSError) -> str:
    """An OSError from the journal or the state directory as one line: the file, what the
    system said, and what to do about it."""
    where = exc.filename if exc.filename is not None else "the state directory"
    text = f"{where}: {exc.strerror or exc}"
    hint = _HINTS.get(exc.errno or 0)
    return f"{text}; {hint}" if hint else text


_HINTS = {
    errno.ENOSPC: "the disk is full: free disk space before going on",
    errno.EDQUOT: "the disk quota is used up: free space before going on",
    errno.EROFS: "the file system is mounted read-only",
    errno.EACCES: "check the owner and permissions of the state directory",
    errno.EPERM: "check the owner and permissions of the state directory",
}


@contextlib.contextmanager
def money_guard(ctx: Context) -> Iterator[None]:
    """Around the part of ``sale``/``refund`` that may reach a terminal: a JournalError or
    an OSError from the journal or the state directory (``OutcomeNotRecorded`` is not
    one) becomes :class:`MoneyStopped`, saying what the journal shows this command got to
    on the terminal, never guessing "nothing was sent"."""
    from ..journal import JournalError
    from ..journal.journal import Filters

    newest = ctx.journal.search(Filters(limit=1))
    since = newest[0].id if newest else 0
    try:
        yield
    except (JournalError, OSError) as exc:
        if isinstance(exc, BrokenPipeError):
            raise
        text = state_failure(exc) if isinstance(exc, OSError) else str(exc)
        raise _stopped(ctx, since, text) from exc


def _stopped(ctx: Context, since: int, text: str) -> MoneyStopped:
    from ..journal import JournalError
    from ..journal.journal import Filters

    try:
        ops = [op for op in ctx.journal.search(Filters(limit=100)) if op.id > since]
    except JournalError:
        return MoneyStopped(
            f"{text}; the journal cannot be read to tell whether a terminal was reached: THE "
            "CARD MAY HAVE BEEN CHARGED: do not charge again; once the journal works, run "
            "'posdriver recover', then 'posdriver pending'",
            IN_DOUBT,
        )
    reached = [
        op
        for op in ops
        if op.state in (State.SENT, State.IN_DOUBT, State.NEEDS_REVIEW)
        or (op.state is State.PENDING and op.terminal is not None)
    ]
    if reached:
        return MoneyStopped(
            f"{text}; {', '.join(headline(op) for op in reached)}: it may have reached the "
            "terminal. THE CARD MAY HAVE BEEN CHARGED: do not charge again; once the journal "
            "works, run 'posdriver recover', then 'posdriver pending'",
            IN_DOUBT,
        )
    approved = [op for op in ops if op.state is State.APPROVED]
    if not approved:
        declined = any(op.state is State.DECLINED for op in ops)
        what = "nothing was charged" if declined else "nothing was sent to the terminal"
        return MoneyStopped(f"{text}; {what}", NOT_SENT)
    done = "; ".join(headline(op) for op in reversed(approved))
    if any(op.plan_id is not None for op in approved):
        return MoneyStopped(
            f"{text}; the next part was not sent to the terminal (done before it stopped: "
            f"{done}); 'posdriver pending' lists what is left",
            NOT_CHARGED,
        )
    return MoneyStopped(
        f"{text}; only what came after the payment failed: {done} is approved and in the "
        "journal (its receipt waits in the print queue: 'posdriver jobs')",
        APPROVED,
    )


class Context:
    """One command's configuration, and the journal or the daemon it works with. The
    journal is opened only when a command reads it itself: with a daemon running, the
    commands ask the daemon and leave the journal (and the devices) to it."""

    def __init__(self, args: argparse.Namespace, config: Config) -> None:
        self.args = args
        self.config = config
        self._journal: Journal | None = None
        self._daemon: Daemon | None = None
        self._desk: Desk | None = None
        self._looked = False

    @property
    def journal(self) -> Journal:
        if self._journal is None:
            from ..journal import open_journal

            self._journal = open_journal(self.config.state_dir)
        return self._journal

    def daemon(self) -> Daemon | None:
        """The running daemon at ``--api``, ``POSDRIVER_API`` or ``[service] api`` (None
        without one, or when devices are named with --terminal/--printer: those are talked
        to directly). One given by ``--api`` or ``POSDRIVER_API`` must answer."""
        if not self._looked:
            from ..config import API_ENV
            from ..desk.client import find

            explicit = bool(self.args.terminal or self.args.printer)
            given = getattr(self.args, "api", None)
            if given is not None and explicit:
                raise CommandError(
                    "--api asks the running daemon, --terminal/--printer name devices to "
                    "talk to directly: give one or the other"
                )
            api = given or os.environ.get(API_ENV) or None
            daemon = find(self.config, explicit, api)
            if daemon is not None and self.pinned is not None:
                daemon = self._serving_it(daemon, named=api is not None)
            self._daemon = daemon
            self._looked = True
        return self._daemon

    @property
    def pinned(self) -> str | None:
        """The option that names this command's journal (``--state-dir``, else a
        ``--config`` whose file sets ``state_dir``), if one does: then a daemon is asked
        only when it serves that journal. A daemon found through ``[service] api``,
        ``POSDRIVER_API`` or ``--api`` alone is asked whatever journal it serves (and
        each answer says which): a desk's own config file, naming only the daemon's
        address, names no journal."""
        if self.args.state_dir is not None:
            return "--state-dir"
        if self.args.config is not None and _sets_state_dir(self.args.config):
            return "--config"
        return None

    def _serving_it(self, daemon: Daemon, *, named: bool) -> Daemon | None:
        """``daemon`` when it serves the journal this command names; otherwise None (the
        journal is read here), or, for a daemon named with ``--api``/``POSDRIVER_API``,
        an error: the two options name two journals and the command cannot tell which
        is meant."""
        meant = os.path.realpath(self.config.state_dir)
        if daemon.state_dir == meant:
            return daemon
        serves = daemon.state_dir or "a state directory it does not name (an older posdriver?)"
        if named:
            raise CommandError(
                f"{self.pinned} names the journal in {meant}, but the daemon at {daemon.url} "
                f"serves the one in {serves}: give {self.pinned} or --api/POSDRIVER_API, "
                "not both"
            )
        print(
            f"the daemon at {daemon.url} serves the journal in {serves}; reading the "
            f"journal in {meant} ({self.pinned}) directly",
            file=sys.stderr,
        )
        return None

    def desk(self) -> Desk:
        """The desk this command works with: the running daemon's, else the journal's."""
        if self._desk is None:
            from ..desk import LocalDesk, RemoteDesk
            from .cli_devices import CommandDevices

            daemon = self.daemon()
            if daemon is not None:
                say_through(daemon)
                self._desk = RemoteDesk(
                    daemon,
                    print_wait=self.config.print.ready_timeout,
                    progress=None if self.args.json else progress_line,
                )
            else:
                self._desk = LocalDesk(
                    self.journal, self.config.state_dir, devices=CommandDevices(self)
                )
        return self._desk

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()

    @property
    def device_config(self) -> Config:
        """The configuration as a command that reaches devices reads it: never one read
        ``journal_only``, which lists no device ("no printer is configured" would be
        false). A command in ``cli.JOURNAL_ONLY`` that gets here is a mistake in posdriver."""
        if not self.config.complete:
            raise RuntimeError(
                f"posdriver {self.args.command} read only the journal's settings of the "
                "configuration but reached for its devices"
            )
        return self.config

    def spooler(self) -> Spooler:
        from ..locks import device_lock
        from .spooler import Spooler

        config = self.device_config
        state_dir = config.state_dir
        return Spooler(
            self.journal,
            config.printers,
            policy=config.print,
            receipt=config.receipt,
            lock=lambda name: device_lock(state_dir, name),
        )

    def cashier(self) -> Cashier:
        from .cashier import Cashier

        config = self.device_config
        progress = None if self.args.json else progress_line
        return Cashier(
            self.journal,
            config,
            spooler=self.spooler(),
            progress=progress,
            print_wait=config.print.ready_timeout,
        )


def _sets_state_dir(path: str) -> bool:
    """Whether the config file itself says where the journal is (the loader has read
    it already, so it is there and sound)."""
    import tomllib

    try:
        with open(path, "rb") as file:
            return "state_dir" in tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError):
        return False


def say_through(daemon: Daemon) -> None:
    """One line on stderr (also with ``--json``, whose document stays as it is read from
    the journal) before any answer that comes through a daemon: which daemon, and the
    journal it serves."""
    where = daemon.state_dir or "a state directory it does not name"
    print(f"through the daemon at {daemon.url} (journal in {where})", file=sys.stderr)


def progress_line(text: str) -> None:
    print(f"  terminal: {text}", file=sys.stderr, flush=True)


def fail(
    args: argparse.Namespace, message: str, code: int, extra: dict[str, Any] | None = None
) -> int:
    print(f"posdriver {args.command}: {message}", file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps({"error": message} | (extra or {}), ensure_ascii=False, indent=2))
    return code


def emit(ctx: Context, body: Any, text: str) -> None:
    if ctx.args.json:
        print(json.dumps(body, ensure_ascii=False, indent=2))
    else:
        print(text)


def headline(op: Operation, *, via: bool = False) -> str:
    amount = op.amount.format() if op.amount else ""
    parts = [op.state.value.upper().replace("_", " "), op.kind.value, amount]
    if op.card:
        parts.append(op.card)
    if op.receipt_no is not None:
        parts.append(f"receipt {op.receipt_no}")
    where = [f"id:{op.id}"] + ([f"terminal {op.terminal}"] if op.terminal else [])
    if via:
        where.append("through the daemon")
    parts.append(f"({', '.join(where)})")
    return "  ".join(p for p in parts if p)


def printing_lines(report: SpoolReport | None, expected: bool, ctx: Context) -> list[str]:
    if report is None:
        if expected and not ctx.config.printers:
            return ["  receipt stored (no printer configured; 'posdriver reprint' prints it)"]
        return []
    lines = []
    for item in report.outcomes:
        which = f"receipt of id:{item.job.operation_id}"
        if item.printed:
            lines.append(f"  {which} printed on {item.job.printer or 'the printer'}")
        else:
            lines.append(
                f"  {which} NOT printed yet: {item.reason}; it is kept in the print queue "
                "and prints when the printer is ready ('posdriver jobs run')"
            )
    return lines


def confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        raise CommandError("a split refund needs confirmation: add --yes (stdin is not a terminal)")
    answer = input(f"{question} [y/N] ").strip().lower()
    return answer in ("y", "yes")


def currency_of(ctx: Context) -> str:
    """The currency a command names (``--currency``), else the config's."""
    return (getattr(ctx.args, "currency", None) or ctx.config.currency).upper()


def actor_of(ctx: Context) -> str:
    from .cashier import current_actor

    return current_actor()
