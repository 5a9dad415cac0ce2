"""The printer checks: one status read (DLE EOT 1-4, or an Automatic Status Back push)
gives ``link``, ``paper``, ``cover`` and ``errors`` (:data:`STATUS`), and the snapshot's
paper, cover and error fields from the same read (:func:`printer_facts`).

A link that died under the read gives a critical ``link`` check ("link failed") and
unknown for the rest, as silence does ("no answer"); either way the worker should reopen
the link. Noise on the line (bytes that are no answer) is said so in the ``link`` text,
since a wrong baud rate looks like silence otherwise.
"""

from __future__ import annotations

import time

from ..links import LinkError
from ..printer.driver import Printer
from ..printer.status import PaperState, PrinterStatus, Severity
from ..service.snapshot import CheckResult
from .check import Clock, HealthCheck, Probe, Reading, make_result


def printer_checks(printer: Printer, device: str, *, clock: Clock = time.time) -> list[CheckResult]:
    """The four printer checks (link, paper, cover, errors) from ONE status read.

    A link that died under the read gives a critical ``link`` check ("link failed") and
    unknown for the rest, as silence does ("no answer"); either way the worker should
    reopen the link.
    """
    started = time.monotonic()
    before = _noise(printer)
    try:
        status = printer.query_status()
    except LinkError as exc:
        return printer_status_checks(
            PrinterStatus(), device, started=started, clock=clock, failure=f"link failed: {exc}"
        )
    noise = _noise(printer) - before
    return printer_status_checks(status, device, started=started, clock=clock, noise=noise)


def _noise(printer: Printer) -> int:
    """Bytes the driver could not take for an answer (noise, stale or malformed)."""
    counters = printer.counters
    return counters["noise_bytes"] + counters["stale_bytes"]


def printer_status_checks(
    status: PrinterStatus,
    device: str,
    *,
    started: float | None = None,
    clock: Clock = time.time,
    failure: str | None = None,
    noise: int = 0,
) -> list[CheckResult]:
    """The four printer checks from a status already read (``started``: monotonic time
    the read began, for the duration; ``noise``: bytes that came back but were no
    answer). Pure: no I/O."""
    started = time.monotonic() if started is None else started

    def result(check: str, verdict: tuple[str, str]) -> CheckResult:
        return make_result(device, check, verdict[0], verdict[1], started, clock, 1)

    return [
        result("link", _printer_link(status, failure, noise)),
        result("paper", _paper(status)),
        result("cover", _cover(status)),
        result("errors", _errors(status)),
    ]


def _replies(status: PrinterStatus) -> tuple[int, list[int]]:
    """(how many of the four status queries were answered, which were not)."""
    if status.source == "asb":  # a pushed block answers everything or nothing
        return (4, []) if status.online is not None else (0, [1, 2, 3, 4])
    missing = [n for n in (1, 2, 3, 4) if status.raw.get(f"dle_eot_{n}") is None]
    return 4 - len(missing), missing


def _printer_link(status: PrinterStatus, failure: str | None, noise: int) -> tuple[str, str]:
    if failure:
        return "critical", failure
    answered, missing = _replies(status)
    if answered == 4:
        return "ok", "the printer answered"
    if answered == 0 and noise:
        return (
            "critical",
            f"no readable answer from the printer ({noise} bytes of noise: check the baud "
            "rate and the cable)",
        )
    if answered == 0:
        return "critical", "no answer from the printer (power, cable or port)"
    which = ", ".join(str(n) for n in missing)
    extra = f"; {noise} bytes of noise" if noise else ""
    return (
        "unknown",
        f"partial answer from the printer ({answered} of 4 status replies, none to "
        f"DLE EOT {which}{extra}): status unknown",
    )


def _paper(status: PrinterStatus) -> tuple[str, str]:
    if status.paper is PaperState.OK:
        return "ok", "paper ok"
    if status.paper is PaperState.NEAR_END:
        return "warning", "paper near end: replace the roll soon"
    if status.paper is PaperState.OUT:
        return "critical", "paper out: load a new roll"
    return "unknown", "paper state unknown: the printer did not say"


def _cover(status: PrinterStatus) -> tuple[str, str]:
    if status.cover_open is False:
        return "ok", "cover closed"
    if status.cover_open is True:
        return "critical", "cover open: close the printer cover"
    return "unknown", "cover state unknown: the printer did not say"


_ERROR_TEXT = {
    "unrecoverable_error": "unrecoverable error: switch the printer off and on",
    "autocutter_error": "autocutter error: clear the paper jam at the cutter",
    "mechanical_error": "mechanical error: check the print head and paper path",
}


def _errors(status: PrinterStatus) -> tuple[str, str]:
    """Critical for the errors that stop printing until someone acts, and for being
    offline with no cause the paper and cover checks already report."""
    critical = [_ERROR_TEXT[name] for name in _ERROR_TEXT if getattr(status, name) is True]
    explained = (
        status.cover_open is True
        or status.paper is PaperState.OUT
        or status.stopped_by_paper_end is True
        or bool(status.errors)
    )
    if status.online is False and not explained:
        why = " (waiting for online recovery)" if status.waiting_for_recovery else ""
        critical.append(f"offline{why}: the printer will not print")
    if critical:
        return "critical", "; ".join(critical)
    fields = (status.online, *(getattr(status, name) for name in _ERROR_TEXT))
    if any(value is None for value in (*fields, status.auto_recoverable_error)):
        return "unknown", "error state unknown: the printer did not say"
    if status.auto_recoverable_error:
        return "warning", "auto-recoverable error (head too hot or cover opened while printing)"
    if status.online is False:
        cause = (
            "cover open"
            if status.cover_open
            else "paper out"
            if status.paper is PaperState.OUT
            else "paper end stop"
        )
        return "ok", f"no errors (offline because of {cause})"
    return "ok", "no errors"


def printer_facts(status: PrinterStatus) -> dict[str, object]:
    """The snapshot's printer fields from one status: ``paper`` (a PAPER_STATES name),
    ``cover`` (a COVER_STATES name) and ``errors`` (PRINTER_ERRORS name -> bool, or None
    when unknown)."""
    cover = "unknown" if status.cover_open is None else "open" if status.cover_open else "closed"
    errors: dict[str, bool | None] = {
        "offline": None if status.online is None else not status.online,
        "mechanical": status.mechanical_error,
        "autocutter": status.autocutter_error,
        "unrecoverable": status.unrecoverable_error,
        "auto_recoverable": status.auto_recoverable_error,
    }
    return {"paper": status.paper.value, "cover": cover, "errors": errors}


def printer_reading(
    status: PrinterStatus,
    device: str,
    *,
    started: float | None = None,
    clock: Clock = time.time,
    noise: int = 0,
) -> Reading:
    """The status check's reading from a status already read or pushed: its four
    checks, the snapshot's facts, whether the printer can print (the spooler's rule: a
    status neither critical nor unknown) and whether it stopped answering altogether."""
    silent = status.online is None and status.paper is PaperState.UNKNOWN
    return Reading(
        results=printer_status_checks(status, device, started=started, clock=clock, noise=noise),
        facts=printer_facts(status),
        ready=status.severity in (Severity.OK, Severity.WARNING),
        stopped="the printer stopped answering" if silent else None,
    )


def read_status(printer: Printer, probe: Probe) -> Reading:
    """One status read on the open driver. A link that fails under it is ``failed``
    (with the "link failed" checks for a one-off check)."""
    started = time.monotonic()
    before = _noise(printer)
    try:
        status = printer.query_status()
    except LinkError as exc:
        failure = f"link failed: {exc}"
        return Reading(
            results=printer_status_checks(
                PrinterStatus(), probe.device, started=started, clock=probe.clock, failure=failure
            ),
            failed=exc,
        )
    noise = _noise(printer) - before
    return printer_reading(status, probe.device, started=started, clock=probe.clock, noise=noise)


STATUS = HealthCheck(
    name="status", kind="printer", gives=("link", "paper", "cover", "errors"), run=read_status
)
