"""Health checks against the real emulators (printer on a pty, terminal over TCP), and the
circuit breaker and check schedule with a fake clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from posdriver.links import link_for_url, open_link
from posdriver.money import Money
from posdriver.printer.driver import Printer
from posdriver.printer.status import PrinterStatus, decode_realtime
from posdriver.service.health import (
    CheckSchedule,
    CircuitBreaker,
    acquirer_state,
    connectivity_check,
    printer_checks,
    printer_facts,
    printer_status_checks,
    terminal_checks,
    transition,
)
from posdriver.service.snapshot import (
    CHECK_STATUSES,
    CIRCUIT_STATES,
    COVER_STATES,
    PAPER_STATES,
    PRINTER_CHECKS,
    PRINTER_ERRORS,
    TERMINAL_CHECKS,
    CheckResult,
)
from posdriver.terminal import Aborted, Approved, Declined
from posdriver.terminal.zvt.terminal import ZvtTerminal, ZvtTimeouts
from posdriver_emulator.controller import Controller
from tests.support.timing import REPLY_TOLERANCE


class FakeClock:
    """Unix time that moves only when a test says so."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def by_check(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.check: r for r in results}


# -- printer against the emulator --------------------------------------------------------
@pytest.fixture
def printer_emu(tmp_path: Path) -> Iterator[Controller]:
    with Controller.printer(link="pty", link_dir=tmp_path, seed=7) as controller:
        yield controller


OK = ("ok", "")
PRINTER_CASES: list[tuple[str | None, dict[str, tuple[str, str]]]] = [
    (None, {"link": OK, "paper": OK, "cover": OK, "errors": ("ok", "no errors")}),
    ("paper_near_end", {"link": OK, "paper": ("warning", "near end"), "cover": OK, "errors": OK}),
    (
        "paper_out",
        {
            "link": OK,
            "paper": ("critical", "paper out"),
            "cover": OK,
            "errors": ("ok", "offline because of paper out"),
        },
    ),
    (
        "cover_open",
        {
            "link": OK,
            "paper": OK,
            "cover": ("critical", "cover open"),
            "errors": ("ok", "offline because of cover open"),
        },
    ),
    (
        "offline",
        {
            "link": OK,
            "paper": OK,
            "cover": OK,
            "errors": ("critical", "offline (waiting for online recovery)"),
        },
    ),
    ("cutter_error", {"link": OK, "paper": OK, "cover": OK, "errors": ("critical", "autocutter")}),
    (
        "unrecoverable_error",
        {"link": OK, "paper": OK, "cover": OK, "errors": ("critical", "unrecoverable error")},
    ),
    (
        "power_off",
        {
            "link": ("critical", "no answer"),
            "paper": ("unknown", "unknown"),
            "cover": ("unknown", "unknown"),
            "errors": ("unknown", "unknown"),
        },
    ),
]


@pytest.mark.parametrize(
    ("fault", "expected"), PRINTER_CASES, ids=[fault or "healthy" for fault, _ in PRINTER_CASES]
)
def test_each_printer_fault_gives_its_checks(
    printer_emu: Controller, fault: str | None, expected: dict[str, tuple[str, str]]
) -> None:
    if fault:
        printer_emu.set_fault(fault)
    clock = FakeClock()
    with open_link(printer_emu.url) as link:
        results = printer_checks(
            Printer(link, reply_tolerance=REPLY_TOLERANCE), "desk-printer", clock=clock
        )
    assert [r.check for r in results] == list(PRINTER_CHECKS)
    for result in results:
        status, words = expected[result.check]
        assert (result.status, result.device) == (status, "desk-printer"), result.text
        assert words in result.text
        assert result.at == clock.now and 0 <= result.duration < 2 and result.attempts == 1


def test_printer_facts_use_the_snapshot_names(printer_emu: Controller) -> None:
    printer_emu.set_fault("cutter_error")
    printer_emu.set_fault("paper_near_end")
    with open_link(printer_emu.url) as link:
        facts = printer_facts(Printer(link, reply_tolerance=REPLY_TOLERANCE).query_status())
    assert facts["paper"] == "near_end" and facts["cover"] == "closed"
    assert facts["errors"] == {
        "offline": True,
        "mechanical": False,
        "autocutter": True,
        "unrecoverable": False,
        "auto_recoverable": False,
    }
    unknown = printer_facts(PrinterStatus())
    assert unknown == {
        "paper": "unknown",
        "cover": "unknown",
        "errors": dict.fromkeys(PRINTER_ERRORS),
    }
    assert unknown["paper"] in PAPER_STATES and unknown["cover"] in COVER_STATES


def test_noise_is_no_answer_and_says_so(printer_emu: Controller) -> None:
    printer_emu.set_fault("garbage")
    with open_link(printer_emu.url) as link:
        checks = by_check(printer_checks(Printer(link), "p"))
    assert checks["link"].status == "critical" and "noise" in checks["link"].text
    assert all(checks[c].status in ("unknown", "critical") for c in ("paper", "cover", "errors"))


def test_a_link_that_dies_is_critical_not_an_exception(tmp_path: Path) -> None:
    emu = Controller.printer(link="pty", link_dir=tmp_path).start()
    try:
        link = open_link(emu.url)
    finally:
        emu.stop()  # the device node goes away under the open link
    try:
        checks = by_check(printer_checks(Printer(link), "p"))
    finally:
        link.close()
    assert checks["link"].status == "critical"
    assert {checks[c].status for c in ("paper", "cover", "errors")} == {"unknown"}


def test_partial_answers_are_unknown_never_ok() -> None:
    partial = by_check(printer_status_checks(decode_realtime({1: 0x12, 2: 0x12}), "p"))
    assert partial["link"].status == "unknown" and "DLE EOT 3, 4" in partial["link"].text
    assert partial["paper"].status == "unknown" and partial["errors"].status == "unknown"
    assert partial["cover"].status == "ok"  # DLE EOT 2 did answer that one
    silent = printer_status_checks(decode_realtime({}), "p")
    assert not any(r.ok for r in silent)


def test_auto_recoverable_error_is_a_warning() -> None:
    # offline (0x08) because of an error (0x40), the auto-recoverable kind (0x40)
    status = decode_realtime({1: 0x1A, 2: 0x52, 3: 0x52, 4: 0x12})
    errors = by_check(printer_status_checks(status, "p"))["errors"]
    assert errors.status == "warning" and "auto-recoverable" in errors.text


# -- terminal against the emulator -------------------------------------------------------
EMULATOR: dict[str, Any] = {"relink_delay": 0.1}
DRIVER = ZvtTimeouts(t1=0.2, t2=0.3, t3=0.3, t4=0.6)


@pytest.fixture
def term_emu() -> Iterator[Controller]:
    with Controller.terminal(link="tcp", seed=3, **EMULATOR) as controller:
        yield controller


@pytest.fixture
def zvt(term_emu: Controller) -> Iterator[ZvtTerminal]:
    terminal = ZvtTerminal(link_for_url(term_emu.url), timeouts=DRIVER)
    yield terminal
    terminal.close()


def test_ready_terminal_is_ok(zvt: ZvtTerminal) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("desk1", clock=clock)
    results, enquiry = terminal_checks(zvt, "desk1", clock=clock)
    link, state = results
    assert [r.check for r in results] == ["link", "terminal_state"]
    assert (link.status, link.attempts, state.status, state.text) == ("ok", 1, "ok", "ready")
    assert enquiry.state is not None and enquiry.state.ready
    connectivity = connectivity_check(zvt, "desk1", breaker, clock=clock)
    assert connectivity.status == "ok" and connectivity.attempts == 1
    assert {link.check, state.check, connectivity.check} == set(TERMINAL_CHECKS)
    assert acquirer_state(connectivity) == "reachable" and breaker.state == "closed"


def test_powered_off_terminal_link_critical_after_bounded_retries(
    term_emu: Controller, zvt: ZvtTerminal
) -> None:
    term_emu.set_fault("power_off")
    breaker = CircuitBreaker("desk1")
    started = time.monotonic()
    (link, state), enquiry = terminal_checks(zvt, "desk1", attempts=2)
    assert link.status == "critical" and link.attempts == 2
    assert "no answer from the terminal (asked 2 times)" in link.text
    assert link.duration >= 2 * DRIVER.t3 and time.monotonic() - started < 3
    assert state.status == "unknown" and state.attempts == 2 and enquiry.state is None
    connectivity = connectivity_check(zvt, "desk1", breaker, attempts=2)
    assert connectivity.status == "unknown" and connectivity.attempts == 2
    assert "could not be asked" in connectivity.text
    # a terminal that cannot be asked says nothing about the acquirer
    assert breaker.state == "closed" and acquirer_state(connectivity) == "unknown"


def test_a_retry_that_gets_through_is_ok(term_emu: Controller, zvt: ZvtTerminal) -> None:
    term_emu.set_fault("power_off")
    naps: list[float] = []

    def power_on_and_sleep(seconds: float) -> None:  # the retry wait: switch it back on
        naps.append(seconds)
        term_emu.set_fault("power_off", False)
        time.sleep(seconds)

    (link, state), _ = terminal_checks(zvt, "desk1", attempts=3, sleep=power_on_and_sleep)
    assert (link.status, link.attempts, state.status) == ("ok", 2, "ok")
    assert len(naps) == 1 and 0 < naps[0] <= 0.5  # small and jittered


def test_acquirer_unreachable_opens_the_breaker(term_emu: Controller, zvt: ZvtTerminal) -> None:
    term_emu.set_fault("host_unreachable")
    clock = FakeClock()
    breaker = CircuitBreaker("desk1", failures=2, reset_after=60, clock=clock)
    first = connectivity_check(zvt, "desk1", breaker, clock=clock)
    assert first.status == "critical" and first.attempts == 1  # an answer: not retried
    assert "acquirer unreachable: no connection (result code 0xa3)" in first.text
    assert breaker.state == "closed" and breaker.allow()[0]
    clock.advance(30)
    second = connectivity_check(zvt, "desk1", breaker, clock=clock)
    assert second.status == "critical" and "circuit open" in second.text
    assert breaker.state == "open" and acquirer_state(second) == "unreachable"
    allowed, reason = breaker.allow()
    since = time.strftime("%H:%M", time.localtime(clock.now - 30))
    assert not allowed
    assert f"terminal desk1 cannot reach its acquirer since {since} (2 failed checks)" in reason
    assert "use the standby or wait" in reason
    # the terminal itself is fine
    (link, state), _ = terminal_checks(zvt, "desk1", clock=clock)
    assert (link.status, state.status) == ("ok", "ok")
    # back again: after reset_after one check may try, and its success closes it
    term_emu.set_fault("host_unreachable", False)
    clock.advance(60)
    assert breaker.state == "half_open"
    assert connectivity_check(zvt, "desk1", breaker, clock=clock).status == "ok"
    assert breaker.state == "closed" and breaker.allow()[0]


@pytest.mark.parametrize(
    ("fault", "status", "words"),
    [
        ("init_required", "critical", "initialisation required: run initialisation"),
        ("card_left", "warning", "remove the card"),
    ],
)
def test_terminal_state_follows_the_terminal(
    term_emu: Controller, zvt: ZvtTerminal, fault: str, status: str, words: str
) -> None:
    term_emu.set_fault(fault)
    (link, state), enquiry = terminal_checks(zvt, "desk1")
    assert link.status == "ok" and link.attempts == 1
    assert state.status == status and words in state.text
    assert enquiry.state is not None and not enquiry.state.ready


def test_a_busy_terminal_answered_and_is_a_warning(term_emu: Controller, zvt: ZvtTerminal) -> None:
    term_emu.set_fault("busy")
    (link, state), enquiry = terminal_checks(zvt, "desk1", attempts=2)
    assert link.status == "ok" and link.attempts == 2 and enquiry.busy
    assert state.status == "warning" and "busy" in state.text


# -- circuit breaker (fake clock) ----------------------------------------------------------
def test_breaker_opens_after_consecutive_failures_only() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("desk1", failures=3, reset_after=60, clock=clock)
    for _ in range(2):
        breaker.record(False)
    breaker.record(True)  # a success breaks the streak
    breaker.record(False)
    breaker.record(False)
    assert breaker.state == "closed"
    breaker.record(False)
    assert breaker.state == "open" and breaker.state in CIRCUIT_STATES
    assert breaker.since == clock.now


def test_breaker_half_open_lets_one_try() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("desk1", clock=clock)
    breaker.record(False)
    breaker.record_outcome(Aborted("acquirer unreachable", 0xA3, host_unreachable=True))
    allowed, reason = breaker.allow()
    assert not allowed and "1 failed check and 1 failed payment" in reason
    assert "next try in 60 s" in reason
    clock.advance(59.9)
    assert breaker.state == "open"
    clock.advance(0.1)
    assert breaker.state == "half_open"
    assert breaker.allow()[0]  # the one trial
    allowed, reason = breaker.allow()
    assert not allowed and "trial is already under way" in reason
    breaker.record_outcome(Declined(None, 0x05, "declined"))  # proves nothing, ends the trial
    assert breaker.state == "half_open" and breaker.allow()[0]
    breaker.record(False, source="payment")  # the trial failed: open again, for a full period
    assert breaker.state == "open"
    clock.advance(60)
    assert breaker.allow()[0]
    breaker.record_outcome(Approved(Money(100, "EUR")))
    assert breaker.state == "closed" and breaker.since is None


def test_breaker_trial_that_never_reports_expires() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("desk1", failures=1, reset_after=10, clock=clock)
    breaker.record(False)
    clock.advance(10)
    assert breaker.allow()[0] and not breaker.allow()[0]
    clock.advance(10)
    assert breaker.allow()[0]


def test_breaker_is_thread_safe() -> None:
    breaker = CircuitBreaker("desk1", failures=800)
    barrier = threading.Barrier(8)

    def fail() -> None:
        barrier.wait()
        for _ in range(100):
            breaker.record(False)
            breaker.allow()

    threads = [threading.Thread(target=fail) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert breaker.state == "open"  # exactly 800 failures counted, none lost


def test_breaker_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="failures"):
        CircuitBreaker("d", failures=0)
    with pytest.raises(ValueError, match="reset_after"):
        CircuitBreaker("d", reset_after=0)


# -- schedule and transitions ----------------------------------------------------------------
def test_schedule_intervals() -> None:
    schedule = CheckSchedule.for_terminal(poll=10, connectivity=300, retry=60)
    assert schedule.due("status", 0) and schedule.due("connectivity", 0)
    schedule.ran("status", 0)
    schedule.ran("connectivity", 0)
    assert not schedule.due("status", 9.9) and schedule.due("status", 10)
    assert not schedule.due("connectivity", 299) and schedule.due("connectivity", 300)
    assert schedule.next_due(5) == 5
    schedule.ran("connectivity", 300, ok=False)  # failing: asked again within a minute
    assert schedule.due("connectivity", 360) and not schedule.due("connectivity", 359)
    schedule.expedite("connectivity")
    assert schedule.due("connectivity", 301) and schedule.next_due(301) == 0
    with pytest.raises(KeyError, match="paper"):
        schedule.due("paper", 0)


def test_a_retry_interval_longer_than_the_interval_is_not_used() -> None:
    schedule = CheckSchedule.for_terminal(poll=10, connectivity=30, retry=60)
    schedule.ran("connectivity", 0, ok=False)
    assert schedule.due("connectivity", 30)


def test_bad_schedules() -> None:
    with pytest.raises(ValueError, match="positive"):
        CheckSchedule({"link": 0})
    with pytest.raises(ValueError, match="positive"):
        CheckSchedule.for_terminal(poll=10, connectivity=300, retry=0)


def result(status: str, text: str = "") -> CheckResult:
    return CheckResult("d", "link", status, text, 0.01, 0.0)


def test_transition_is_a_change_of_status() -> None:
    assert not transition(None, result("ok"))  # a healthy start is no incident
    assert transition(None, result("unknown"))  # checked and could not tell: a failure
    assert transition(None, result("critical"))
    assert transition(result("ok"), result("warning"))
    assert not transition(result("critical", "a"), result("critical", "b"))
    for old in CHECK_STATUSES:
        for new in CHECK_STATUSES:
            assert transition(result(old), result(new)) == (old != new)


def test_a_reloaded_schedule_keeps_its_plan_but_never_waits_longer_than_an_interval() -> None:
    old = CheckSchedule.for_terminal(poll=30, connectivity=300, retry=60)
    old.ran("status", 0)
    old.ran("connectivity", 0)
    new = CheckSchedule.for_terminal(poll=60, connectivity=20, retry=20)
    new.adopt(old, now=5)
    assert not new.due("status", 29) and new.due("status", 30)  # planned: kept
    assert not new.due("connectivity", 24) and new.due("connectivity", 25)  # shortened
