"""What the spooler tells: a run's report (each job's outcome), its counters for the
metrics, and why a job could not print, in the front desk's words. Apart from
:mod:`.spooler` so that its readers (the CLI's ``jobs``, the desk, the daemon's metrics)
need not load the printing machinery with it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..config import PrinterConfig
from ..errors import PosdriverError
from ..journal.records import PrintJob
from ..links import LinkError, LinkOpenError, LinkURLError
from ..printer.errors import PrintIncomplete
from ..printer.status import PaperState, PrinterStatus, Severity

# -- what a run reports ----------------------------------------------------------------


@dataclass(frozen=True)
class JobOutcome:
    """What happened to one job in one run."""

    job: PrintJob  # the job as the journal now has it
    printed: bool
    reason: str | None  # why it is still waiting, in words for the front desk

    def as_dict(self) -> dict[str, Any]:
        return {**self.job.as_dict(), "printed": self.printed, "reason": self.reason}


@dataclass(frozen=True)
class SpoolReport:
    """The outcomes of one run, oldest job first."""

    outcomes: tuple[JobOutcome, ...]

    @property
    def printed(self) -> list[JobOutcome]:
        return [o for o in self.outcomes if o.printed]

    @property
    def waiting(self) -> list[JobOutcome]:
        return [o for o in self.outcomes if not o.printed]

    def as_dict(self) -> dict[str, Any]:
        return {
            "printed": len(self.printed),
            "waiting": len(self.waiting),
            "jobs": [o.as_dict() for o in self.outcomes],
        }


@dataclass
class SpoolStats:
    """Counters since the spooler was made; the daemon exports them as metrics.

    ``failures`` counts failed attempts by a short, stable reason code (``paper_out``,
    ``cover_open``, ``offline``, ``printer_error``, ``not_answering``, ``not_connected``,
    ``connection_lost``, ``bad_url``, ``incomplete``, ``bad_receipt``), fit for a label.
    """

    attempts: int = 0
    retries: int = 0
    printed: int = 0
    interrupted: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    retries_by_printer: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "attempts": self.attempts,
            "retries": self.retries,
            "printed": self.printed,
            "interrupted": self.interrupted,
            "failures": dict(self.failures),
            "retries_by_printer": dict(self.retries_by_printer),
        }


# -- why a job could not print -----------------------------------------------------------


class PrintTrouble(PosdriverError):
    """One attempt failed: ``code`` for metrics, ``reason`` for people.

    ``printer_wide``: the printer cannot take any job now (so the jobs behind this one
    are not tried); false for trouble with this one receipt. ``retryable``: waiting may
    help (a bad URL will not get better within a run).
    """

    def __init__(
        self,
        code: str,
        reason: str,
        *,
        interrupted: bool = False,
        retryable: bool = True,
        printer_wide: bool = True,
    ) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.interrupted = interrupted
        self.retryable = retryable
        self.printer_wide = printer_wide


def describe_status(status: PrinterStatus | None) -> tuple[str, str]:
    """(code, words) for a printer that said it cannot print, or said nothing."""
    if status is None:
        return "not_answering", "printer not answering"
    codes: list[str] = []
    words: list[str] = []
    if status.cover_open:
        codes.append("cover_open")
        words.append("cover open")
    if status.paper is PaperState.OUT:
        codes.append("paper_out")
        words.append("paper out")
    errors = status.errors
    if status.cover_open:
        # opening the cover while printing raises this; closing it clears it
        errors = [e for e in errors if e != "auto_recoverable_error"]
    if errors:
        codes.append("printer_error")
        words.append("printer error (" + ", ".join(e.replace("_", " ") for e in errors) + ")")
    if not words and status.online is False:
        return "offline", "printer offline"
    if not words:
        return "not_answering", "printer not answering"
    return codes[0], ", ".join(words)


def _link_detail(exc: LinkError) -> str:
    text = str(exc)
    prefix = f"{exc.url}: " if exc.url else ""
    return text[len(prefix) :] if prefix and text.startswith(prefix) else text


def link_trouble(exc: LinkError, cfg: PrinterConfig, *, interrupted: bool) -> PrintTrouble:
    detail = _link_detail(exc)
    if isinstance(exc, LinkURLError):
        return PrintTrouble(
            "bad_url", f"the printer's URL {cfg.url} is wrong: {detail}", retryable=False
        )
    if isinstance(exc, LinkOpenError):
        return PrintTrouble(
            "not_connected", f"printer not connected: cannot open {cfg.url} ({detail})"
        )
    return PrintTrouble(
        "connection_lost",
        f"connection to the printer lost ({cfg.url}: {detail})",
        interrupted=interrupted,
    )


def incomplete_trouble(exc: PrintIncomplete) -> PrintTrouble:
    interrupted = exc.sent > 0
    status = exc.status
    if status is not None and status.severity is Severity.CRITICAL:
        code, reason = describe_status(status)
    elif status is not None and status.severity is Severity.UNKNOWN:
        code, reason = "not_answering", "printer not answering"
    else:
        code, reason = "incomplete", "printing stopped part-way"
    return PrintTrouble(code, reason, interrupted=interrupted)
