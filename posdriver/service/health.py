"""Health checks around open device drivers, the acquirer circuit breaker and the check
schedule.

Everything here runs on the thread of the worker that owns the device: a check does I/O
on a driver that is already open and never opens or closes a link itself (the worker
decides when to reconnect; a critical ``link`` check is its cue). A check's failure is a
value, never an exception: each function returns :class:`~.snapshot.CheckResult` values
whose status is ok / warning / critical / unknown, and unknown is never ok.

* Printers: one status read (DLE EOT 1-4) gives all four :data:`~.snapshot.PRINTER_CHECKS`
  (:func:`printer_checks`), and :func:`printer_facts` gives the snapshot's paper, cover
  and error fields from the same read.
* Terminals: a status enquiry gives ``link`` and ``terminal_state``
  (:func:`terminal_link_check`, :func:`terminal_state_check`, or both at once with
  :func:`terminal_checks`); a diagnosis gives ``connectivity`` (:func:`connectivity_check`)
  and feeds the :class:`CircuitBreaker`. Terminal checks retry a few times with small
  jittered waits (tenacity), only when the terminal was not reached or the link failed:
  a definite answer, good or bad, is never asked again. The driver's own timeouts bound
  each attempt; ``deadline`` optionally bounds them all.
* :class:`CheckSchedule` says which check is due; :func:`transition` says when a result
  is worth an incident and a log line.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    stop_never,
    wait_exponential_jitter,
)
from tenacity.wait import wait_base

from ..links import LinkError
from ..printer.driver import Printer
from ..printer.status import PaperState, PrinterStatus
from ..terminal.base import PaymentTerminal
from ..terminal.outcomes import (
    Aborted,
    Approved,
    Connectivity,
    Outcome,
    TerminalBusy,
    TerminalError,
    TerminalLost,
    TerminalNotReached,
    TerminalState,
)
from .snapshot import CHECK_STATUSES, CheckResult

Clock = Callable[[], float]
T = TypeVar("T")

# Worth asking again: the terminal never got the command, or its answer to a read-only
# enquiry was lost. A refusal is an answer and is not retried.
RETRYABLE: tuple[type[Exception], ...] = (TerminalNotReached, TerminalLost, LinkError)
DEFAULT_ATTEMPTS = 3


def _result(
    device: str, check: str, status: str, text: str, started: float, clock: Clock, attempts: int
) -> CheckResult:
    assert status in CHECK_STATUSES, status
    return CheckResult(
        device=device,
        check=check,
        status=status,
        text=text,
        duration=time.monotonic() - started,
        at=clock(),
        attempts=attempts,
    )


# -- printers ----------------------------------------------------------------------------
def unknown_result(device: str, check: str, text: str, *, clock: Clock = time.time) -> CheckResult:
    """A check that could not run at all: unknown, which fails like critical."""
    return CheckResult(
        device=device, check=check, status="unknown", text=text, duration=0.0, at=clock()
    )


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
        return _result(device, check, verdict[0], verdict[1], started, clock, 1)

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


# -- terminals ---------------------------------------------------------------------------
def _ask(
    call: Callable[[], T],
    *,
    attempts: int,
    deadline: float | None,
    wait: wait_base | None,
    sleep: Callable[[float], None],
) -> tuple[T | None, Exception | None, int]:
    """Run ``call`` with bounded, jittered retries on RETRYABLE errors only.

    Returns (value, None, attempts) or (None, the last error, attempts); a non-retryable
    TerminalError (a refusal) ends it at once and is returned too.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts!r}")
    tries = 0

    def counted() -> T:
        nonlocal tries
        tries += 1
        return call()

    retrying = Retrying(
        stop=stop_after_attempt(attempts)
        | (stop_never if deadline is None else stop_after_delay(deadline)),
        wait=wait or wait_exponential_jitter(multiplier=0.05, max=0.5, jitter=0.05),
        retry=retry_if_exception_type(RETRYABLE),
        sleep=sleep,
        reraise=True,
    )
    try:
        return retrying(counted), None, tries
    except (TerminalError, LinkError) as exc:
        return None, exc, tries


@dataclass(frozen=True)
class StatusEnquiry:
    """One status enquiry as checks see it: the ``link`` check, and what the terminal
    said: its :class:`TerminalState`, or (``state`` None) why it gave none: ``answer`` is
    the refusal or busy text when it answered, ``error`` the failure when it did not."""

    link: CheckResult
    state: TerminalState | None = None
    answer: str | None = None
    busy: bool = False
    error: str | None = None


def terminal_link_check(
    terminal: PaymentTerminal,
    device: str,
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    deadline: float | None = None,
    wait: wait_base | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Clock = time.time,
) -> StatusEnquiry:
    """Status enquiry: ``link`` is ok when the terminal answered at all (a refusal or
    "busy" is an answer), critical when it was not reached after ``attempts`` tries."""
    started = time.monotonic()
    state, error, tries = _ask(
        terminal.status, attempts=attempts, deadline=deadline, wait=wait, sleep=sleep
    )
    if state is not None:
        link = _result(device, "link", "ok", "the terminal answered", started, clock, tries)
        return StatusEnquiry(link, state=state)
    if isinstance(error, TerminalBusy):
        text = f"the terminal answered: busy ({error})"
        link = _result(device, "link", "ok", text, started, clock, tries)
        return StatusEnquiry(link, answer=str(error), busy=True)
    if isinstance(error, TerminalError) and not isinstance(error, RETRYABLE):
        text = f"the terminal answered but refused the status enquiry: {error}"
        link = _result(device, "link", "ok", text, started, clock, tries)
        return StatusEnquiry(link, answer=str(error))
    times = "once" if tries == 1 else f"{tries} times"
    text = f"no answer from the terminal (asked {times}): {error}"
    link = _result(device, "link", "critical", text, started, clock, tries)
    return StatusEnquiry(link, error=str(error))


def terminal_state_check(enquiry: StatusEnquiry, *, clock: Clock = time.time) -> CheckResult:
    """``terminal_state`` from the same enquiry: the terminal's own severity (ok ready,
    warning e.g. end-of-day due or a card left in, critical e.g. initialisation required)
    with its text and remedy; unknown when the terminal was not reached."""
    link = enquiry.link
    started = time.monotonic() - link.duration

    def result(status: str, text: str) -> CheckResult:
        return _result(link.device, "terminal_state", status, text, started, clock, link.attempts)

    state = enquiry.state
    if state is not None:
        text = f"{state.text}: {state.remedy}" if state.remedy else state.text
        if state.severity in ("ok", "warning", "critical"):
            status = state.severity
        else:  # a severity this code does not know is judged by readiness, never ok
            status = "warning" if state.ready else "critical"
        if status == "ok" and not state.ready:
            status = "critical"
        return result(status, text)
    if enquiry.busy:
        return result("warning", f"busy with another operation: {enquiry.answer}")
    if enquiry.answer is not None:
        return result("critical", f"the terminal would not report its state: {enquiry.answer}")
    return result("unknown", f"terminal state unknown: {enquiry.error}")


def terminal_checks(
    terminal: PaymentTerminal,
    device: str,
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    deadline: float | None = None,
    wait: wait_base | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Clock = time.time,
) -> tuple[list[CheckResult], StatusEnquiry]:
    """``[link, terminal_state]`` from one status enquiry, and the enquiry itself (whose
    ``state.text`` is the snapshot's ``terminal_state``)."""
    enquiry = terminal_link_check(
        terminal, device, attempts=attempts, deadline=deadline, wait=wait, sleep=sleep, clock=clock
    )
    return [enquiry.link, terminal_state_check(enquiry, clock=clock)], enquiry


def connectivity_check(
    terminal: PaymentTerminal,
    device: str,
    breaker: CircuitBreaker | None,
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    deadline: float | None = None,
    wait: wait_base | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Clock = time.time,
) -> CheckResult:
    """Diagnosis: ok when the terminal reached its acquirer, critical when it could not
    (recorded in ``breaker``), unknown when the terminal could not be asked or would not
    run it (recorded nowhere: it says nothing about the acquirer)."""
    started = time.monotonic()
    answer, error, tries = _ask(
        terminal.diagnosis, attempts=attempts, deadline=deadline, wait=wait, sleep=sleep
    )

    def result(status: str, text: str) -> CheckResult:
        return _result(device, "connectivity", status, text, started, clock, tries)

    if isinstance(answer, Connectivity):
        if breaker is not None:
            breaker.record(answer.host_reachable)
        if answer.host_reachable:
            return result("ok", f"acquirer reachable: {answer.meaning}")
        code = "" if answer.result_code is None else f" (result code {answer.result_code:#04x})"
        detail = f"; {answer.detail}" if answer.detail else ""
        text = f"acquirer unreachable: {answer.meaning}{code}{detail}"
        if breaker is not None and breaker.state != "closed":
            text += f"; circuit {breaker.state.replace('_', '-')}"
        return result("critical", text)
    if isinstance(error, TerminalError) and not isinstance(error, RETRYABLE):
        return result("unknown", f"acquirer state unknown: the terminal refused: {error}")
    return result("unknown", f"acquirer state unknown: the terminal could not be asked: {error}")


def acquirer_state(check: CheckResult | None) -> str:
    """The snapshot's ``acquirer`` (an ACQUIRER_STATES name) from a connectivity check."""
    if check is None:
        return "unknown"
    return {"ok": "reachable", "critical": "unreachable"}.get(check.status, "unknown")


# -- circuit breaker ---------------------------------------------------------------------
class CircuitBreaker:
    """Fails payments fast while a terminal cannot reach its acquirer.

    ``closed``: payments go ahead. ``failures`` consecutive failures (connectivity checks
    that say unreachable, payments aborted as "acquirer unreachable") open it: ``allow``
    says no, with a reason the desk can act on. After ``reset_after`` seconds without a
    new failure it is ``half_open``: one payment (or check) may try; a success closes it,
    a failure opens it again. A granted trial that records nothing within ``reset_after``
    lets the next caller try. Thread-safe; ``clock`` is injectable (unix seconds).
    """

    def __init__(
        self,
        device: str,
        *,
        failures: int = 2,
        reset_after: float = 60.0,
        clock: Clock = time.time,
    ) -> None:
        if failures < 1:
            raise ValueError(f"failures must be at least 1, got {failures!r}")
        if reset_after <= 0:
            raise ValueError(f"reset_after must be positive, got {reset_after!r}")
        self.device = device
        self.failures = failures
        self.reset_after = reset_after
        self.clock = clock
        self._lock = threading.Lock()
        self._open = False
        self._streak: list[str] = []  # sources of the consecutive failures
        self._since: float | None = None  # first failure of the streak
        self._opened_at = 0.0  # last failure while open
        self._trial_at: float | None = None

    def _state(self, now: float) -> str:
        if not self._open:
            return "closed"
        return "open" if now - self._opened_at < self.reset_after else "half_open"

    @property
    def state(self) -> str:
        """closed / open / half_open (a CIRCUIT_STATES name)."""
        with self._lock:
            return self._state(self.clock())

    @property
    def since(self) -> float | None:
        """Unix time of the first failure of the current streak."""
        with self._lock:
            return self._since

    def record(self, reachable: bool, *, source: str = "check") -> None:
        """One piece of evidence: ``source`` is "check" or "payment"."""
        with self._lock:
            now = self.clock()
            self._trial_at = None
            if reachable:
                self._open = False
                self._streak.clear()
                self._since = None
                return
            if not self._streak:
                self._since = now
            self._streak.append(source)
            if self._open or len(self._streak) >= self.failures:
                self._open = True
                self._opened_at = now

    def record_outcome(self, outcome: Outcome) -> None:
        """Evidence from a payment: aborted as acquirer unreachable is a failure, an
        approval a success; other outcomes prove nothing and only end a trial."""
        if isinstance(outcome, Aborted) and outcome.host_unreachable:
            self.record(False, source="payment")
        elif isinstance(outcome, Approved):
            self.record(True, source="payment")
        else:
            with self._lock:
                self._trial_at = None

    def allow(self) -> tuple[bool, str]:
        """(may a payment go to this terminal now, why)."""
        with self._lock:
            now = self.clock()
            state = self._state(now)
            if state == "closed":
                return True, f"terminal {self.device}: acquirer not known to be unreachable"
            if state == "half_open":
                if self._trial_at is None or now - self._trial_at >= self.reset_after:
                    self._trial_at = now
                    return True, (
                        f"terminal {self.device}: trial after {self._why()}; this one tests "
                        "whether the acquirer is back"
                    )
                return False, f"{self._reason()}; a trial is already under way"
            wait = max(0.0, self.reset_after - (now - self._opened_at))
            return False, f"{self._reason()} (next try in {wait:.0f} s)"

    def _streak_text(self) -> str:
        checks = self._streak.count("check")
        payments = len(self._streak) - checks
        parts = [
            f"{n} failed {word}{'' if n == 1 else 's'}"
            for n, word in ((checks, "check"), (payments, "payment"))
            if n
        ]
        since = time.strftime("%H:%M", time.localtime(self._since or 0))
        return f"since {since} ({' and '.join(parts)})"

    def _why(self) -> str:
        return f"no acquirer {self._streak_text()}"

    def _reason(self) -> str:
        return (
            f"terminal {self.device} cannot reach its acquirer {self._streak_text()}; "
            "payments would fail: use the standby or wait"
        )


# -- schedule ----------------------------------------------------------------------------
class CheckSchedule:
    """When each check of one device is due. Owned by that device's worker (no lock).

    Printer checks all come from one status read, so they share the poll interval; a
    terminal's ``terminal_state`` comes with its ``link`` enquiry. ``failing`` intervals
    apply after a check that was not ok.
    """

    def __init__(
        self, intervals: Mapping[str, float], *, failing: Mapping[str, float] | None = None
    ) -> None:
        for name, value in {**intervals, **(failing or {})}.items():
            if not value > 0:
                raise ValueError(f"interval of check {name!r} must be positive, got {value!r}")
        self.intervals = dict(intervals)
        self.failing = dict(failing or {})
        self._next: dict[str, float] = {}  # check -> monotonic-ish time it is due

    @classmethod
    def for_terminal(cls, *, poll: float, connectivity: float, retry: float) -> CheckSchedule:
        """A terminal's: ``status`` (one enquiry gives ``link`` and ``terminal_state``)
        every ``poll``; ``connectivity`` (a diagnosis) every ``connectivity``, and every
        ``retry`` while it fails, so a recovered acquirer is seen soon."""
        return cls(
            {"status": poll, "connectivity": connectivity},
            failing={"connectivity": min(connectivity, retry)},
        )

    def _interval(self, check: str) -> float:
        try:
            return self.intervals[check]
        except KeyError:
            known = ", ".join(sorted(self.intervals))
            raise KeyError(f"no check {check!r} in this schedule (known: {known})") from None

    def due(self, check: str, now: float) -> bool:
        """True when ``check`` never ran, or its interval has passed."""
        self._interval(check)
        due_at = self._next.get(check)
        return due_at is None or now >= due_at

    def ran(self, check: str, now: float, *, ok: bool = True) -> None:
        """``check`` ran at ``now``; a failed one (``ok`` False) comes back sooner."""
        interval = self._interval(check)
        if not ok:
            interval = self.failing.get(check, interval)
        self._next[check] = now + interval

    def expedite(self, check: str) -> None:
        """Make ``check`` due now (e.g. a payment just said "acquirer unreachable")."""
        self._interval(check)
        self._next.pop(check, None)

    def adopt(self, previous: CheckSchedule, now: float) -> None:
        """Take over what ``previous`` had planned (after a reload), but no check waits
        longer than one of this schedule's intervals from ``now``."""
        for check, due_at in previous._next.items():
            if check in self.intervals:
                self._next[check] = min(due_at, now + self.intervals[check])

    def next_due(self, now: float) -> float:
        """Seconds until the earliest check is due (0 when one is due now)."""
        waits = [max(0.0, self._next[c] - now) if c in self._next else 0.0 for c in self.intervals]
        return min(waits, default=0.0)


def transition(old: CheckResult | None, new: CheckResult) -> bool:
    """True when the check's status changed, which is when the daemon writes an incident
    and a log line. A first result is a change unless it is ok: a healthy start is no
    incident, a device that starts broken or unreadable is."""
    if old is None:
        return new.status != "ok"
    return old.status != new.status
