"""The terminal checks: a status enquiry gives ``link`` and ``terminal_state``
(:data:`STATUS`); a diagnosis gives ``connectivity`` and feeds the
:class:`~.breaker.CircuitBreaker` (:data:`CONNECTIVITY`, for protocols that can dial
their acquirer).

Terminal checks retry a few times with small jittered waits (tenacity), only when the
terminal was not reached or the link failed: a definite answer, good or bad, is never
asked again. The driver's own timeouts bound each attempt; ``deadline`` optionally
bounds them all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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
from ..service.snapshot import CheckResult
from ..terminal.base import PaymentTerminal
from ..terminal.outcomes import (
    Connectivity,
    TerminalBusy,
    TerminalError,
    TerminalLost,
    TerminalNotReached,
    TerminalState,
)
from ..terminal.protocol import Capability
from .breaker import CircuitBreaker
from .check import DEFAULT_ATTEMPTS, Clock, HealthCheck, Interval, Probe, Reading, make_result

T = TypeVar("T")

# Worth asking again: the terminal never got the command, or its answer to a read-only
# enquiry was lost. A refusal is an answer and is not retried.
RETRYABLE: tuple[type[Exception], ...] = (TerminalNotReached, TerminalLost, LinkError)


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
        link = make_result(device, "link", "ok", "the terminal answered", started, clock, tries)
        return StatusEnquiry(link, state=state)
    if isinstance(error, TerminalBusy):
        text = f"the terminal answered: busy ({error})"
        link = make_result(device, "link", "ok", text, started, clock, tries)
        return StatusEnquiry(link, answer=str(error), busy=True)
    if isinstance(error, TerminalError) and not isinstance(error, RETRYABLE):
        text = f"the terminal answered but refused the status enquiry: {error}"
        link = make_result(device, "link", "ok", text, started, clock, tries)
        return StatusEnquiry(link, answer=str(error))
    times = "once" if tries == 1 else f"{tries} times"
    text = f"no answer from the terminal (asked {times}): {error}"
    link = make_result(device, "link", "critical", text, started, clock, tries)
    return StatusEnquiry(link, error=str(error))


def terminal_state_check(enquiry: StatusEnquiry, *, clock: Clock = time.time) -> CheckResult:
    """``terminal_state`` from the same enquiry: the terminal's own severity (ok ready,
    warning e.g. end-of-day due or a card left in, critical e.g. initialisation required)
    with its text and remedy; unknown when the terminal was not reached."""
    link = enquiry.link
    started = time.monotonic() - link.duration

    def result(status: str, text: str) -> CheckResult:
        return make_result(
            link.device, "terminal_state", status, text, started, clock, link.attempts
        )

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
        return make_result(device, "connectivity", status, text, started, clock, tries)

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


def status_enquiry(terminal: PaymentTerminal, probe: Probe) -> Reading:
    """The status check: ``link`` and ``terminal_state`` from one enquiry, and the
    snapshot's ``terminal_state`` and firmware (the only self-description ZVT status
    gives) when the terminal told them."""
    results, enquiry = terminal_checks(
        terminal, probe.device, attempts=probe.attempts, clock=probe.clock
    )
    facts: dict[str, object] = {}
    if enquiry.state is not None:
        facts["terminal_state"] = enquiry.state.text
        if enquiry.state.software:
            facts["info"] = {"firmware": enquiry.state.software}
    return Reading(results=results, facts=facts)


def diagnosis(terminal: PaymentTerminal, probe: Probe) -> Reading:
    """The connectivity check, told to the probe's breaker, and the snapshot's
    ``acquirer``."""
    check = connectivity_check(
        terminal, probe.device, probe.breaker, attempts=probe.attempts, clock=probe.clock
    )
    return Reading(results=[check], facts={"acquirer": acquirer_state(check)})


STATUS = HealthCheck(
    name="status",
    kind="terminal",
    gives=("link", "terminal_state"),
    run=status_enquiry,
    retries_as="status",
)
CONNECTIVITY = HealthCheck(
    name="connectivity",
    kind="terminal",
    gives=("connectivity",),
    run=diagnosis,
    interval=Interval.CONNECTIVITY,
    needs=Capability.DIAGNOSIS,
    retries_as="diagnosis",
)
