"""The daemon's print loop is woken, not timed: a receipt queued while it is idle, and a
receipt waiting for a printer that recovers, print at once. The loop's backstop timer is
set to an hour here, so a receipt that prints within the test's deadline was woken for.
An in-process daemon on the emulated printer (a real pty) and a real journal."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from posdriver.cashier.spool_report import JobOutcome, SpoolReport
from posdriver.cashier.spooler import INCIDENT_ACTION
from posdriver.config import load_config, with_overrides
from posdriver.journal import Journal, PrintJob, State
from posdriver.money import Money
from posdriver.service.daemon import Daemon
from posdriver.service.snapshot import DeviceSnapshot
from posdriver.service.spooling import SpoolLoop
from posdriver_emulator.controller import Controller
from posdriver_emulator.printer import PrinterEmulator
from tests.support.timing import wait_until

NEVER = 3600.0  # the backstop: far beyond every deadline below


@pytest.fixture
def printer(tmp_path: Path) -> Iterator[Controller]:
    (tmp_path / "p").mkdir()
    with Controller.printer(link="pty", link_dir=tmp_path / "p", seed=7) as controller:
        yield controller


def start_daemon(tmp_path: Path, printer: Controller) -> Daemon:
    path = tmp_path / "posdriver.toml"
    path.write_text(f'[devices.receipt]\nkind = "printer"\nurl = "{printer.url}"\n')
    config = with_overrides(load_config(path), state_dir=tmp_path / "state")
    daemon = Daemon(config, api="127.0.0.1:0", metrics="127.0.0.1:0", out=lambda _l: None)
    daemon.spool.backstop = NEVER
    return daemon.start()


def queue_receipt(journal: Journal, tag: str) -> PrintJob:
    """An approved sale's customer receipt, stored and queued as the cashier does."""
    op = journal.begin("sale", Money(1250, "EUR"))
    journal.transition(op.id, State.SENT)
    journal.transition(op.id, State.APPROVED, receipt_no=op.id)
    stored = journal.add_receipt(op.id, "customer", ["GRAND HOTEL", f"SALE {tag}"], "built")
    return journal.enqueue_print(stored.id, "receipt")


def device(controller: Controller) -> PrinterEmulator:
    assert isinstance(controller.device, PrinterEmulator)
    return controller.device


def test_a_receipt_queued_while_the_loop_is_idle_prints_at_once(
    tmp_path: Path, printer: Controller
) -> None:
    daemon = start_daemon(tmp_path, printer)
    try:
        assert daemon.workers["receipt"].view().lifecycle == "ready"
        assert daemon.journal is not None
        job = queue_receipt(daemon.journal, "idle")

        assert device(printer).wait_for_receipts(1, timeout=10)
        assert "SALE idle" in device(printer).receipts[0].text
        wait_until(lambda: daemon.journal.job(job.id).state == "done", 5, "the job done")
    finally:
        daemon.stop()


def test_a_printer_that_recovers_wakes_the_waiting_receipt(
    tmp_path: Path, printer: Controller
) -> None:
    printer.set_fault("cover_open")
    daemon = start_daemon(tmp_path, printer)
    try:
        journal = daemon.journal
        assert journal is not None
        job = queue_receipt(journal, "recovered")
        wait_until(
            lambda: journal.job(job.id).last_error == "cover open",
            10,
            "the receipt tried and left waiting",
        )
        assert device(printer).receipts == []

        printer.set_fault("cover_open", False)

        assert device(printer).wait_for_receipts(1, timeout=10)
        assert "SALE recovered" in device(printer).receipts[0].text
        wait_until(lambda: journal.job(job.id).state == "done", 5, "the job done")
    finally:
        daemon.stop()


def test_a_printer_that_cannot_print_is_tried_again_on_its_own_timer(
    tmp_path: Path, printer: Controller
) -> None:
    """Nothing wakes the loop while the paper is out, yet the receipt is tried again
    every ``blocked_retry`` seconds (one fault record per try), so the reason the desk
    sees stays current: the loop's timer waits for that retry, not for the backstop."""
    printer.set_fault("paper_out")
    daemon = start_daemon(tmp_path, printer)
    daemon.spool.blocked_retry = 0.5
    try:
        journal = daemon.journal
        assert journal is not None
        queue_receipt(journal, "paper out")

        def tries() -> int:
            assert journal is not None
            return sum(1 for i in journal.incidents() if i.action == INCIDENT_ACTION)

        wait_until(lambda: tries() >= 3, 20, "three tries while the paper is out")
        assert device(printer).receipts == []
    finally:
        daemon.stop()


class HeldPrinter:
    """A printer worker as the loop sees it, whose runs end when the test says."""

    def __init__(self) -> None:
        self.device = "receipt"
        self.driver = object()
        self.runs: list[Future[Any]] = []

    def view(self) -> DeviceSnapshot:
        return DeviceSnapshot(name=self.device, kind="printer", url="loop://")

    def submit(self, priority: int, fn: Any, name: str = "") -> Future[Any]:
        self.runs.append(Future())
        return self.runs[-1]


def test_a_wake_up_during_a_run_is_acted_on_when_the_run_ends() -> None:
    """A job queued while its printer's run is going may be too late for that run: the
    loop starts no second run beside it, but runs again as soon as it ends, not at the
    backstop."""
    printer = HeldPrinter()
    stopping = threading.Event()
    loop = SpoolLoop(
        jobs=lambda: ["receipt"],
        workers={"receipt": printer},  # type: ignore[dict-item]
        task=lambda _worker: lambda _driver: None,
        stopping=stopping,
        backstop=NEVER,
    )
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        loop.wake()
        wait_until(lambda: len(printer.runs) == 1, 5, "the first run")
        loop.wake()  # a job queued meanwhile
        wait_until(lambda: "receipt" in loop._again, 5, "the wake-up kept for later")
        assert len(printer.runs) == 1  # no second run beside the first

        printer.runs[0].set_result(None)

        wait_until(lambda: len(printer.runs) == 2, 5, "a run once the first ended")
    finally:
        stopping.set()
        loop.wake()
        thread.join(5)


class LookingPrinter(HeldPrinter):
    """A held printer whose worker's last status read is at ``status_at``."""

    def __init__(self) -> None:
        super().__init__()
        self.status_at = time.time()

    def view(self) -> DeviceSnapshot:
        return DeviceSnapshot(
            name=self.device, kind="printer", url="loop://", status_at=self.status_at
        )


def test_a_run_that_printed_nothing_is_not_run_again_for_each_new_job() -> None:
    """A run reads the printer's status itself, ahead of the worker's own poll: when it
    could print nothing (the paper ran out under it, the printer stopped answering),
    receipts queued meanwhile do not run the queue again, writing the fault record once
    per receipt; the next run waits for the worker to have looked again (or for the
    slow retry)."""
    printer = LookingPrinter()
    stopping = threading.Event()
    loop = SpoolLoop(
        jobs=lambda: ["receipt"],
        workers={"receipt": printer},  # type: ignore[dict-item]
        task=lambda _worker: lambda _driver: None,
        stopping=stopping,
        backstop=NEVER,
    )
    loop.blocked_retry = NEVER
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        loop.wake()
        wait_until(lambda: len(printer.runs) == 1, 5, "the first run")
        waiting = JobOutcome(None, False, "paper out")  # type: ignore[arg-type]
        printer.runs[0].set_result(SpoolReport((waiting,)))
        for _ in range(3):  # three receipts queued while the checks still say paper ok
            loop.wake()
            wait_until(lambda: loop._retry_at is not None, 5, "the turn that held back")
            loop._retry_at = None
        assert len(printer.runs) == 1

        printer.status_at = time.time() + 1  # the worker read the status again: all ok
        loop.wake()

        wait_until(lambda: len(printer.runs) == 2, 5, "a run once the worker looked again")
    finally:
        stopping.set()
        loop.wake()
        thread.join(5)


def test_a_run_that_printed_queues_the_next_one_itself() -> None:
    """The daemon prints a backlog one receipt per run. A run that printed queues the
    next one on its worker itself, before the worker turns idle: no wake-up, no turn of
    the loop (whose thread is not even running here), so receipts print back to back
    instead of one per idle wait. A run that printed nothing queues none."""
    printer = HeldPrinter()
    stopping = threading.Event()
    loop = SpoolLoop(
        jobs=lambda: ["receipt"],
        workers={"receipt": printer},  # type: ignore[dict-item]
        task=lambda _worker: lambda _driver: None,
        stopping=stopping,
        backstop=NEVER,
    )
    loop.turn()  # the first run, as a wake-up would start it
    assert len(printer.runs) == 1
    printed = JobOutcome(None, True, None)  # type: ignore[arg-type]
    printer.runs[0].set_result(SpoolReport((printed,)))
    assert len(printer.runs) == 2, "the next run was left for a wake-up"
    printer.runs[1].set_result(SpoolReport(()))  # the backlog is done: nothing printed
    assert len(printer.runs) == 2
