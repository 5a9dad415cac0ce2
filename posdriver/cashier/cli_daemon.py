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

from ..journal.states import State
from .cli_common import (
    ATTENTION,
    AWAITING_DECISION,
    DONE,
    CommandError,
    Context,
    actor_of,
    emit,
    printing_lines,
)

if TYPE_CHECKING:
    from .spooler import SpoolReport
    from .via_daemon import Daemon

_FROM_TERMINAL = (
    "; a receipt the journal does not hold is repeated by the terminal only when "
    "posdriver serve is not running (it holds the terminal)"
)


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
