"""The worker's queue and liveness, with a stand-in driver (no device): priorities, a
long task does not make the worker look hung, a link failure reconnects."""

from __future__ import annotations

import threading
import time
from typing import Any

from posdriver.config import ServiceConfig
from posdriver.links import LinkError
from posdriver.service.workers import HEALTH, MONEY, PRINT, DeviceWorker
from tests.support.timing import wait_until


class FakeWorker(DeviceWorker):
    kind = "printer"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("fake", "loop://", ServiceConfig(reconnect_max=0.2), **kwargs)
        self.opened = 0

    def open(self) -> Any:
        self.opened += 1
        return object()

    def close(self, driver: Any) -> None:
        return None


def test_money_runs_before_printing_and_health() -> None:
    worker = FakeWorker()
    gate = threading.Event()
    order: list[str] = []
    worker.start()
    try:
        wait_until(lambda: worker.driver is not None, 5, "the worker to connect")
        worker.submit(MONEY, lambda _d: gate.wait(5), "hold")  # keeps the worker busy
        futures = [
            worker.submit(HEALTH, lambda _d: order.append("health")),
            worker.submit(PRINT, lambda _d: order.append("print")),
            worker.submit(MONEY, lambda _d: order.append("money")),
        ]
        gate.set()
        for future in futures:
            future.result(timeout=5)
        assert order == ["money", "print", "health"]
    finally:
        worker.stop(timeout=5)


def test_a_long_task_is_not_a_hung_worker_but_a_stuck_one_is() -> None:
    worker = FakeWorker()
    gate = threading.Event()
    worker.start()
    try:
        wait_until(lambda: worker.driver is not None, 5, "the worker to connect")
        worker.submit(MONEY, lambda _d: gate.wait(5), "a slow payment")
        wait_until(lambda: worker.task_started is not None, 5, "the task to start")
        time.sleep(0.05)  # the heartbeat is older than `within` below; the task is young
        assert worker.alive(within=0.01, task_limit=10)
        assert not worker.alive(within=0.01, task_limit=0.01)
    finally:
        gate.set()
        worker.stop(timeout=5)


def test_a_link_failure_in_a_task_reconnects_and_counts() -> None:
    worker = FakeWorker()
    worker.start()
    try:
        wait_until(lambda: worker.driver is not None, 5, "the worker to connect")

        def broken(_d: Any) -> None:
            raise LinkError("unplugged")

        future = worker.submit(PRINT, broken)
        wait_until(lambda: worker.opened >= 2, 5, "a reconnect")
        assert isinstance(future.exception(timeout=1), LinkError)
        assert worker.view().reconnects == 1 and worker.view().link_errors == 1
    finally:
        worker.stop(timeout=5)


def test_a_worker_notifies_its_lifecycle_changes() -> None:
    """Whoever waits for a worker's lifecycle (the daemon, for first contact) is woken by
    the change itself: a wait that timed out would say False."""
    changed = threading.Condition()
    worker = FakeWorker(lifecycle=changed)
    try:
        with changed:
            worker.start()
            while worker.view().lifecycle != "ready":
                assert changed.wait(timeout=30), "the worker changed state without a word"
    finally:
        worker.stop(timeout=5)


# -- workers on emulated devices (real ptys) --------------------------------------------------
import contextlib  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from posdriver.cashier.terminals import make_terminal  # noqa: E402
from posdriver.config import PrinterConfig, TerminalConfig  # noqa: E402
from posdriver.service.workers import PrinterWorker, TerminalWorker  # noqa: E402
from posdriver_emulator.controller import Controller  # noqa: E402


@pytest.fixture
def emulated_terminal(tmp_path: Path) -> Iterator[Controller]:
    with Controller.terminal(link="pty", link_dir=tmp_path, control=False) as controller:
        yield controller


@contextlib.contextmanager
def terminal_worker(
    controller: Controller, service: ServiceConfig, first_diagnosis: float = 0.2, **cfg: Any
) -> Iterator[TerminalWorker]:
    config = TerminalConfig(name="desk", url=controller.url, **cfg)
    worker = TerminalWorker(config, service, make_terminal)
    worker.FIRST_DIAGNOSIS = first_diagnosis  # tests do not wait the 5 s a desk would
    worker.start()
    try:
        yield worker
    finally:
        worker.stop(timeout=10)


def test_a_terminal_is_ready_only_after_its_first_look(emulated_terminal: Controller) -> None:
    seen: list[tuple[str, bool]] = []
    with terminal_worker(emulated_terminal, ServiceConfig(terminal_poll_interval=60)) as worker:
        real = worker.set_state

        def spy(lifecycle: str, detail: str = "") -> None:
            with worker.lock:
                seen.append((lifecycle, worker.snapshot.status_at is not None))
            real(lifecycle, detail)

        worker.set_state = spy  # type: ignore[method-assign]
        wait_until(lambda: worker.view().lifecycle == "ready", 10, "the terminal to be ready")
    # every "ready" came with a status already read (the first status enquiry ran first)
    assert ("ready", True) in seen and ("ready", False) not in seen
    assert worker.view().info["firmware"].startswith("posdriver-emulator ZVT")
    assert worker.view().lifecycle == "stopped"


def test_a_failing_connectivity_check_is_repeated_sooner_and_seen_to_recover(
    emulated_terminal: Controller,
) -> None:
    service = ServiceConfig(
        terminal_poll_interval=60, connectivity_interval=3600, connectivity_retry_interval=0.5
    )
    emulated_terminal.set_fault("host_unreachable")
    with terminal_worker(emulated_terminal, service, check_attempts=1) as worker:
        wait_until(
            lambda: worker.view().acquirer == "unreachable", 20, "the acquirer seen unreachable"
        )
        emulated_terminal.set_fault("host_unreachable", False)
        # with a one-hour interval only the retry interval can bring this back soon
        wait_until(lambda: worker.view().acquirer == "reachable", 20, "the acquirer seen again")
        assert worker.view().checks["connectivity"].status == "ok"


def idle_rounds_later(worker: TerminalWorker, enquiries: int = 3) -> None:
    """Wait until the worker has asked the terminal's status ``enquiries`` more times.

    An expedited diagnosis runs in the worker's first idle round that begins after the
    news, right after that round's status enquiry if one is due. The round already under
    way when the news came gives at most one enquiry, that first round at most one before
    its diagnosis: the third enquiry after the news comes after any such diagnosis is
    recorded. No sleep, and no time in which a slow diagnosis could hide."""
    seen = [worker.view().status_at]

    def another() -> bool:
        at = worker.view().status_at
        if at != seen[-1]:
            seen.append(at)
        return len(seen) > enquiries

    wait_until(another, 20, f"{enquiries} more status enquiries")


def test_a_payment_that_meets_a_dead_acquirer_expedites_the_check(
    emulated_terminal: Controller,
) -> None:
    # status enquiries every 0.2 s mark the worker's idle rounds; diagnoses every hour
    service = ServiceConfig(terminal_poll_interval=0.2, connectivity_interval=3600)
    with terminal_worker(emulated_terminal, service, check_attempts=1) as worker:
        wait_until(lambda: worker.view().acquirer == "reachable", 20, "the first diagnosis")
        diagnosis = worker.view().checks["connectivity"]
        emulated_terminal.set_fault("host_unreachable")
        worker.acquirer_news(reachable=True)  # agrees with the check: nothing to do
        idle_rounds_later(worker)  # a wrongly expedited check would have run (it must not)
        assert worker.view().acquirer == "reachable"
        assert worker.view().checks["connectivity"] == diagnosis  # no diagnosis since
        worker.acquirer_news(reachable=False)  # what a payment aborted by the host says
        wait_until(lambda: worker.view().acquirer == "unreachable", 20, "the expedited diagnosis")


def test_a_payment_that_agrees_with_a_failed_diagnosis_does_not_expedite_it(
    emulated_terminal: Controller,
) -> None:
    # a failed diagnosis is retried after an hour here: only news can bring it sooner
    service = ServiceConfig(
        terminal_poll_interval=0.2, connectivity_interval=3600, connectivity_retry_interval=3600
    )
    emulated_terminal.set_fault("host_unreachable")
    with terminal_worker(emulated_terminal, service, check_attempts=1) as worker:
        wait_until(lambda: worker.view().acquirer == "unreachable", 20, "the first diagnosis")
        diagnosis = worker.view().checks["connectivity"]
        emulated_terminal.set_fault("host_unreachable", False)
        worker.acquirer_news(reachable=False)  # agrees with the check: nothing to do
        idle_rounds_later(worker)
        assert worker.view().acquirer == "unreachable"
        assert worker.view().checks["connectivity"] == diagnosis
        worker.acquirer_news(reachable=True)  # what an approved payment says
        wait_until(lambda: worker.view().acquirer == "reachable", 20, "the expedited diagnosis")


def test_each_terminal_has_its_own_poll_interval(emulated_terminal: Controller) -> None:
    service = ServiceConfig(terminal_poll_interval=3600, connectivity_interval=3600)
    with terminal_worker(emulated_terminal, service, poll_interval=0.3) as worker:
        wait_until(lambda: worker.view().status_at is not None, 10, "a first status")
        first = worker.view().status_at
        # the [service] default (an hour) would never bring a second one
        wait_until(lambda: worker.view().status_at != first, 5, "a second status enquiry")
        # two polls and slack: with a 0.3 s poll the service's freshness (15 s) rules
        assert worker.view().freshness == service.freshness


def test_unanswered_status_enquiries_count_as_retries_and_stay_critical() -> None:
    # over TCP a terminal that is off refuses at once (over serial each try waits out the
    # protocol's three unacknowledged transmissions, 15 s)
    service = ServiceConfig(terminal_poll_interval=1, connectivity_interval=3600, freshness=3)
    with (
        Controller.terminal(link="tcp", control=False) as controller,
        terminal_worker(controller, service, check_attempts=2) as worker,
    ):
        wait_until(lambda: worker.view().lifecycle == "ready", 10, "the terminal to be ready")
        assert worker.view().retries.get("status", 0) == 0
        controller.set_fault("power_off")
        wait_until(
            lambda: worker.view().retries.get("status", 0) >= 1, 30, "a retried status enquiry"
        )
        # long past the last good status, "no answer" stays news: critical, not unknown
        good = worker.view().status_at
        assert good is not None
        wait_until(lambda: time.time() - good > 4, 10, "the last good status to be stale")
        view = worker.view()
        assert view.checks["link"].status == "critical" and view.lifecycle == "degraded"


def test_a_printer_at_a_path_that_is_no_serial_port_is_an_error(tmp_path: Path) -> None:
    not_a_port = tmp_path / "ttyUSB0"
    not_a_port.write_text("")
    worker = PrinterWorker(
        PrinterConfig(name="bar", url=f"serial://{not_a_port}"), ServiceConfig(reconnect_max=0.2)
    )
    worker.start()
    try:
        wait_until(lambda: worker.view().lifecycle == "error", 10, "the error lifecycle")
        assert "not a serial port" in worker.view().detail
        assert worker.view().link_errors >= 1
    finally:
        worker.stop(timeout=5)


def test_each_printer_has_its_own_poll_interval(tmp_path: Path) -> None:
    service = ServiceConfig(poll_interval=3600)
    from posdriver_emulator.printer import PrinterConfig as EmulatedPrinter

    polled = EmulatedPrinter(asb_supported=False)  # polled, as a printer without ASB
    with Controller.printer(
        link="pty", link_dir=tmp_path, control=False, config=polled
    ) as controller:
        worker = PrinterWorker(
            PrinterConfig(name="bar", url=controller.url, poll_interval=0.2), service
        )
        worker.start()
        try:
            wait_until(lambda: worker.view().status_at is not None, 10, "a first status")
            first = worker.view().status_at
            wait_until(lambda: worker.view().status_at != first, 5, "a second status read")
            assert worker.view().lifecycle == "ready"
        finally:
            worker.stop(timeout=5)
        assert worker.view().lifecycle == "stopped"


def test_a_reload_changes_a_running_terminals_schedule(emulated_terminal: Controller) -> None:
    from dataclasses import replace

    service = ServiceConfig(terminal_poll_interval=3600, connectivity_interval=3600)
    with terminal_worker(emulated_terminal, service) as worker:
        wait_until(lambda: worker.view().status_at is not None, 10, "a first status")
        first = worker.view().status_at
        worker.reconfigure(replace(worker.cfg, poll_interval=0.3), service)
        wait_until(lambda: worker.view().status_at != first, 5, "a status at the new interval")


def test_check_now_looks_at_once_and_can_dial_the_acquirer(emulated_terminal: Controller) -> None:
    service = ServiceConfig(terminal_poll_interval=3600, connectivity_interval=3600)
    with terminal_worker(emulated_terminal, service, first_diagnosis=3600) as worker:
        wait_until(lambda: worker.view().status_at is not None, 10, "a first status")
        first = worker.view().status_at
        worker.check_now().result(timeout=10)
        assert worker.view().status_at != first
        assert "connectivity" not in worker.view().checks  # not dialled unless asked
        emulated_terminal.set_fault("host_unreachable")
        worker.check_now(connectivity=True).result(timeout=30)
        assert worker.view().checks["connectivity"].status == "critical"


def test_every_operation_a_device_may_retry_is_counted_from_zero() -> None:
    """posdriver_retries_total has a fixed label set: each series is there from the
    first scrape at 0, not only after the first retry (a rate() would miss that one)."""
    from posdriver.config import PrinterConfig, TerminalConfig
    from posdriver.service.workers import PrinterWorker, TerminalWorker

    printer = PrinterWorker(PrinterConfig(name="receipt", url="loop://"), ServiceConfig())
    assert printer.view().retries == {"print": 0}
    terminal = TerminalWorker(
        TerminalConfig(name="desk", url="loop://"), ServiceConfig(), factory=lambda cfg: None
    )
    assert terminal.view().retries == {"status": 0, "diagnosis": 0}
    terminal.count_retries("status", 2)
    assert terminal.view().retries == {"status": 2, "diagnosis": 0}
