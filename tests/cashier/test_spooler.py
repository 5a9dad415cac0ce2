"""The print queue against the emulated printer on a pty and a real journal: receipts
survive paper out, an open cover, a pulled cable and a crash, and print by themselves
once the printer can take them; a receipt cut off part-way is printed again whole under
a continuation banner."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from posdriver.cashier.spooler import (
    INCIDENT_ACTION,
    INCIDENT_RESULT,
    Spooler,
    describe_status,
)
from posdriver.config import PrinterConfig, PrintPolicy, ReceiptConfig
from posdriver.journal import Journal, PrintJob, State, open_journal
from posdriver.links import Link, open_link
from posdriver.money import Money
from posdriver.printer.driver import Printer
from posdriver.printer.status import PaperState, PrinterStatus
from posdriver_emulator.controller import Controller
from posdriver_emulator.printer import PrinterConfig as EmulatedPrinterConfig
from posdriver_emulator.printer import PrinterEmulator
from tests.support.timing import REPLY_TOLERANCE, wait_until

AT = datetime(2026, 11, 23, 14, 5, 30, tzinfo=timezone(timedelta(hours=1)))
POLICY = PrintPolicy(attempts=4, wait_initial=0.05, wait_max=0.2, jitter=0.02, ready_timeout=2.0)
RECEIPT = ReceiptConfig(language="en", columns=42)
CONTINUATION = "REPRINTED IN FULL"


def receipt_lines(tag: str, count: int = 6) -> list[str]:
    lines = ["GRAND HOTEL", "-" * 42, f"SALE {tag}"]
    lines += [f"{tag} line {i:03d}" for i in range(count)]
    lines += ["Amount" + " " * 27 + "EUR 12.50", "CUSTOMER COPY"]
    return lines


def queue_receipt(
    journal: Journal, lines: list[str], printer: str | None = "desk"
) -> tuple[int, PrintJob]:
    """An approved sale with its customer receipt stored and queued: (operation id, job)."""
    op = journal.begin("sale", Money(1250, "EUR"))
    journal.transition(op.id, State.SENT)
    journal.transition(op.id, State.APPROVED, receipt_no=op.id)
    stored = journal.add_receipt(op.id, "customer", lines, "built")
    return op.id, journal.enqueue_print(stored.id, printer)


def tolerant_printer(cfg: PrinterConfig) -> tuple[Printer, Link]:
    """The default opener with the test suite's reply tolerance (a loaded CI runner)."""
    link = open_link(cfg.url)
    return Printer(link, reply_tolerance=REPLY_TOLERANCE), link


def make_spooler(
    journal: Journal,
    *printers: PrinterConfig,
    policy: PrintPolicy = POLICY,
    receipt: ReceiptConfig = RECEIPT,
    tolerant: bool = True,
    **kwargs: object,
) -> Spooler:
    return Spooler(
        journal,
        printers,
        policy=policy,
        receipt=receipt,
        open_printer=tolerant_printer if tolerant else None,
        clock=lambda: AT,
        **kwargs,  # type: ignore[arg-type]
    )


def printer_of(emu: Controller) -> PrinterEmulator:
    assert isinstance(emu.device, PrinterEmulator)
    return emu.device


def printed_after(text: str, lines: list[str]) -> bool:
    """Every one of ``lines`` appears in ``text``, in order."""
    position = 0
    for line in lines:
        found = text.find(line, position)
        if found < 0:
            return False
        position = found + len(line)
    return True


def first_text_line(text: str) -> str:
    return next(line for line in text.splitlines() if line.strip()).strip()


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with open_journal(tmp_path / "state") as opened:
        yield opened


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[Controller]:
    with Controller.printer(link="pty", link_dir=tmp_path, seed=7) as controller:
        yield controller


@pytest.fixture
def desk(emu: Controller) -> PrinterConfig:
    return PrinterConfig(name="desk", url=emu.url)


# -- the happy path ------------------------------------------------------------------------


def test_prints_queued_jobs_oldest_first(journal: Journal, emu: Controller, desk) -> None:
    first, second = receipt_lines("first"), receipt_lines("second")
    _, job1 = queue_receipt(journal, first)
    _, job2 = queue_receipt(journal, second)
    spooler = make_spooler(journal, desk, tolerant=False)  # the default way to open it
    assert [j.id for j in spooler.pending()] == [job1.id, job2.id]

    report = spooler.run(wait=5)

    assert [o.job.id for o in report.printed] == [job1.id, job2.id] and not report.waiting
    assert all(o.job.state == "done" and o.reason is None for o in report.outcomes)
    assert printer_of(emu).wait_for_receipts(2, timeout=5)
    receipts = printer_of(emu).receipts
    assert printed_after(receipts[0].text, first) and printed_after(receipts[1].text, second)
    assert not any(CONTINUATION in r.text or "DUPLICATE" in r.text for r in receipts)
    assert spooler.pending() == []
    assert spooler.stats.printed == 2 and spooler.stats.retries == 0
    assert journal.incidents() == []
    body = report.as_dict()
    assert body["printed"] == 2 and body["waiting"] == 0
    assert body["jobs"][0]["id"] == job1.id and body["jobs"][0]["printed"] is True
    assert [e.event for e in journal.events(job1.operation_id)][-1] == "printed"


# -- the printer cannot print ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("paper_out", "paper out"),
        ("cover_open", "cover open"),
        ("offline", "printer offline"),
        ("power_off", "printer not answering"),
    ],
)
def test_a_printer_that_cannot_print_keeps_the_jobs_until_it_can(
    journal: Journal, emu: Controller, desk, fault: str, reason: str
) -> None:
    lines = receipt_lines("guest")
    _, job1 = queue_receipt(journal, lines)
    _, job2 = queue_receipt(journal, receipt_lines("other"))
    emu.set_fault(fault)
    spooler = make_spooler(journal, desk)

    report = spooler.run(wait=0.3)

    assert not report.printed
    assert [(o.job.id, o.reason) for o in report.waiting] == [(job1.id, reason), (job2.id, reason)]
    for outcome in report.waiting:
        # never started: nothing went to the printer, so it is no continuation
        assert outcome.job.state == "queued" and outcome.job.last_error == reason
        assert not outcome.job.continuation and outcome.job.attempts == 0
    assert [j.id for j in spooler.pending()] == [job1.id, job2.id]
    (incident,) = journal.incidents()  # one per printer per run, not one per job
    assert (incident.category, incident.device, incident.fault) == ("device_fault", "desk", reason)
    assert (incident.action, incident.result) == (INCIDENT_ACTION, INCIDENT_RESULT)
    assert printer_of(emu).receipts == [] and printer_of(emu).counters["bytes_from_host"] > 0

    emu.set_fault(fault, False)  # a new roll, the cover shut, the printer back on
    again = spooler.run(wait=5)

    assert [o.job.id for o in again.printed] == [job1.id, job2.id]
    assert printer_of(emu).wait_for_receipts(2, timeout=5)
    assert printed_after(printer_of(emu).receipts[0].text, lines)
    assert CONTINUATION not in printer_of(emu).receipts[0].text
    assert spooler.pending() == [] and len(journal.incidents()) == 1


def test_paper_running_out_mid_receipt_is_reprinted_whole_as_a_continuation(
    tmp_path: Path, journal: Journal
) -> None:
    """The roll ends part-way through a long receipt: the job waits, interrupted; with a
    new roll it comes out again in full under the continuation banner, and the tail of
    the torn first print does not come out in front of it."""
    config = EmulatedPrinterConfig(roll_mm=120.0, near_end_mm=10.0)  # about 28 lines
    lines = receipt_lines("long", count=60)
    with Controller.printer(link="pty", link_dir=tmp_path, config=config, seed=7) as emu:
        desk = PrinterConfig(name="desk", url=emu.url)
        queue_receipt(journal, lines)
        spooler = make_spooler(journal, desk)

        report = spooler.run(wait=0.5)

        (outcome,) = report.waiting
        assert outcome.reason == "paper out"
        assert outcome.job.state == "queued" and outcome.job.continuation
        assert spooler.stats.interrupted == 1
        torn = printer_of(emu).current_text()  # what reached the paper before it ran out
        assert "GRAND HOTEL" in torn and lines[-1] not in torn
        assert printer_of(emu).receipts == []

        printer_of(emu).paper.roll_mm = 50_000.0  # the replacement is a full roll
        emu.set_fault("paper_out", False)
        again = spooler.run(wait=5)

        (printed,) = again.printed
        assert printed.job.state == "done" and printed.job.continuation
        assert printer_of(emu).wait_for_receipts(1, timeout=10)
        text = printer_of(emu).receipts[0].text
        assert text.startswith(torn)
        reprint = text[len(torn) :]
        assert first_text_line(reprint).startswith(f"*** {CONTINUATION}")
        assert "Printed again at 2026-11-23 14:05" in reprint
        assert printed_after(reprint, lines)  # whole, from the top


def test_a_job_left_printing_by_a_crash_comes_back_as_a_continuation(
    journal: Journal, emu: Controller, desk
) -> None:
    lines = receipt_lines("crash")
    _, job = queue_receipt(journal, lines)
    journal.job_started(job.id)  # ... and the process died mid-receipt
    assert [j.id for j in make_spooler(journal, desk).pending()] == [job.id]

    report = make_spooler(journal, desk).run(wait=5)  # a fresh start

    (outcome,) = report.printed
    assert outcome.job.continuation and outcome.job.attempts == 2
    assert printer_of(emu).wait_for_receipts(1, timeout=5)
    text = printer_of(emu).receipts[0].text
    assert first_text_line(text).startswith(f"*** {CONTINUATION}")
    assert printed_after(text, lines)


def test_a_crashed_job_stays_a_continuation_while_the_printer_is_down(
    journal: Journal, emu: Controller, desk
) -> None:
    _, job = queue_receipt(journal, receipt_lines("crash"))
    journal.job_started(job.id)
    emu.set_fault("cover_open")

    (outcome,) = make_spooler(journal, desk).run(wait=0.2).waiting

    assert outcome.reason == "cover open"
    assert outcome.job.state == "queued" and outcome.job.continuation


def test_a_reprint_carries_the_duplicate_banner_and_its_number(
    journal: Journal, emu: Controller, desk
) -> None:
    lines = receipt_lines("copy")
    op_id, _ = queue_receipt(journal, lines)
    spooler = make_spooler(journal, desk)
    spooler.run(wait=5)
    first = journal.reprint(op_id, "customer", "desk", "alice")
    second = journal.reprint(op_id, "customer", "desk", "alice")

    report = spooler.run(wait=5)

    assert [o.job.id for o in report.printed] == [first.id, second.id]
    assert printer_of(emu).wait_for_receipts(3, timeout=5)
    original, copy1, copy2 = (r.text for r in printer_of(emu).receipts)
    assert "DUPLICATE" not in original
    for text, number in ((copy1, 1), (copy2, 2)):
        assert first_text_line(text).startswith("*** DUPLICATE")
        assert f"Reprint {number} at 2026-11-23 14:05" in text
        assert printed_after(text, lines)
        assert CONTINUATION not in text


def test_a_reprint_cut_off_by_a_crash_gets_both_marks(
    journal: Journal, emu: Controller, desk
) -> None:
    op_id, job = queue_receipt(journal, receipt_lines("both"))
    journal.cancel_job(job.id)
    copy = journal.reprint(op_id, "customer", None, "alice")  # no printer: the first one
    journal.job_started(copy.id)

    (outcome,) = make_spooler(journal, desk).run(wait=5).printed

    assert outcome.job.id == copy.id
    assert printer_of(emu).wait_for_receipts(1, timeout=5)
    text = printer_of(emu).receipts[0].text
    assert first_text_line(text).startswith(f"*** {CONTINUATION}")
    assert text.index(CONTINUATION) < text.index("DUPLICATE") < text.index("Reprint 1 at")


# -- retries and the caller's wait ---------------------------------------------------------------


def test_every_retry_is_counted_and_backs_off(journal: Journal, emu: Controller, desk) -> None:
    queue_receipt(journal, receipt_lines("retry"))
    emu.set_fault("paper_out")
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(seconds)

    policy = PrintPolicy(attempts=3, wait_initial=0.05, wait_max=0.08, jitter=0.01)
    spooler = make_spooler(journal, desk, policy=policy, sleep=sleep)

    spooler.run(wait=10)

    stats = spooler.stats
    assert (stats.attempts, stats.retries, stats.printed) == (3, 2, 0)
    assert stats.failures == {"paper_out": 3}
    assert len(sleeps) == 2
    assert 0.05 <= sleeps[0] <= 0.06 and 0.08 - 1e-9 <= sleeps[1] <= 0.08 + 1e-9  # capped
    assert stats.as_dict()["failures"] == {"paper_out": 3}


def test_wait_bounds_a_run_on_a_printer_that_never_comes_back(
    journal: Journal, emu: Controller, desk
) -> None:
    _, job = queue_receipt(journal, receipt_lines("never"))
    emu.set_fault("paper_out")
    policy = PrintPolicy(attempts=10_000, wait_initial=0.05, wait_max=0.3, jitter=0.05)
    spooler = make_spooler(journal, desk, policy=policy)

    started = time.monotonic()
    report = spooler.run(wait=1.0)
    took = time.monotonic() - started

    assert 1.0 <= took < 2.5
    assert spooler.stats.retries >= 3
    assert [o.job.id for o in report.waiting] == [job.id]
    assert journal.job(job.id).state == "queued"


def test_wait_zero_is_one_attempt(journal: Journal, emu: Controller, desk) -> None:
    queue_receipt(journal, receipt_lines("once"))
    emu.set_fault("cover_open")
    spooler = make_spooler(journal, desk)

    (outcome,) = spooler.run(wait=0).waiting

    assert outcome.reason == "cover open"
    assert spooler.stats.attempts == 1 and spooler.stats.retries == 0


# -- links that cannot be opened or go away -----------------------------------------------------


def test_a_printer_url_that_cannot_be_opened_keeps_the_job(journal: Journal, tmp_path) -> None:
    url = f"serial://{tmp_path}/no-such-printer"
    _, job = queue_receipt(journal, receipt_lines("nowhere"))
    spooler = make_spooler(journal, PrinterConfig(name="desk", url=url), tolerant=False)

    (outcome,) = spooler.run(wait=0.3).waiting

    assert outcome.reason is not None and url in outcome.reason
    assert outcome.reason.startswith("printer not connected")
    assert outcome.job.state == "queued" and outcome.job.last_error == outcome.reason
    assert [j.id for j in spooler.pending()] == [job.id]
    assert spooler.stats.failures["not_connected"] == spooler.stats.attempts > 1
    (incident,) = journal.incidents()
    assert incident.device == "desk" and url in incident.fault


def test_a_bad_printer_url_is_not_retried(journal: Journal) -> None:
    _, job = queue_receipt(journal, receipt_lines("bad"))
    spooler = make_spooler(journal, PrinterConfig(name="desk", url="ftp://printer"), tolerant=False)

    (outcome,) = spooler.run(wait=5).waiting

    assert outcome.reason is not None and "ftp://printer" in outcome.reason
    assert spooler.stats.attempts == 1 and spooler.stats.failures == {"bad_url": 1}
    assert journal.job(job.id).state == "queued"


def test_an_unplugged_printer_prints_once_plugged_back(
    journal: Journal, emu: Controller, desk
) -> None:
    lines = receipt_lines("cable")
    _, job = queue_receipt(journal, lines)
    emu.set_fault("disconnect")
    wait_until(lambda: not Path(desk.url.removeprefix("serial://")).exists(), what="unplug")
    spooler = make_spooler(journal, desk)

    (outcome,) = spooler.run(wait=0.3).waiting
    assert outcome.reason is not None and outcome.reason.startswith("printer not connected")

    emu.set_fault("disconnect", False)
    (printed,) = spooler.run(wait=5).printed  # retries until the port is back

    assert printed.job.id == job.id and not printed.job.continuation
    assert printer_of(emu).wait_for_receipts(1, timeout=5)
    assert printed_after(printer_of(emu).receipts[0].text, lines)


def test_a_cable_pulled_mid_receipt_means_a_continuation(tmp_path: Path, journal) -> None:
    """The link dies while the receipt is going out (a paced line keeps it on the wire
    long enough): bytes may be on paper, so the job comes back as a continuation."""
    lines = receipt_lines("pulled", count=60)
    with Controller.printer(link="pty", link_dir=tmp_path, baudrate=19200, seed=7) as emu:
        desk = PrinterConfig(name="desk", url=emu.url)
        queue_receipt(journal, lines)
        spooler = make_spooler(journal, desk)

        def pull() -> None:
            wait_until(lambda: printer_of(emu).counters["bytes_from_host"] > 400, timeout=10)
            emu.set_fault("disconnect")

        puller = threading.Thread(target=pull, daemon=True)
        puller.start()
        report = spooler.run(wait=0.5)
        puller.join(10)

        (outcome,) = report.waiting
        assert outcome.job.continuation and outcome.job.state == "queued"
        assert spooler.stats.interrupted == 1
        assert outcome.reason is not None and outcome.reason.startswith(
            ("printer not connected", "connection to the printer lost")
        )

        emu.set_fault("disconnect", False)
        (printed,) = spooler.run(wait=5).printed

        assert printed.job.continuation
        assert printer_of(emu).wait_for_receipts(1, timeout=10)
        text = printer_of(emu).receipts[-1].text
        reprint = text[text.index(f"*** {CONTINUATION}") :]
        assert printed_after(reprint, lines)


# -- routing -------------------------------------------------------------------------------------


def test_jobs_go_to_their_printer_and_a_down_printer_holds_up_no_other(
    journal: Journal, emu: Controller, desk, tmp_path: Path
) -> None:
    lobby = PrinterConfig(name="lobby", url=f"serial://{tmp_path}/lobby-printer")
    _, to_desk = queue_receipt(journal, receipt_lines("desk"), printer=None)  # the first
    _, to_lobby = queue_receipt(journal, receipt_lines("lobby"), printer="lobby")
    _, to_nowhere = queue_receipt(journal, receipt_lines("gone"), printer="bar")
    spooler = make_spooler(journal, desk, lobby)

    report = spooler.run(wait=0.3)

    assert [o.job.id for o in report.printed] == [to_desk.id]
    reasons = {o.job.id: o.reason for o in report.waiting}
    assert reasons[to_nowhere.id] == "no printer named 'bar' is configured"
    assert (reasons[to_lobby.id] or "").startswith("printer not connected")
    assert [i.device for i in journal.incidents()] == ["lobby"]
    assert [o.job.id for o in report.outcomes] == [to_desk.id, to_lobby.id, to_nowhere.id]

    only_lobby = spooler.run(printer="lobby", wait=0)
    assert [o.job.id for o in only_lobby.outcomes] == [to_lobby.id]
    chosen = spooler.run(job_ids=[to_nowhere.id], wait=0)
    assert [o.job.id for o in chosen.outcomes] == [to_nowhere.id]
    with pytest.raises(ValueError, match="no printer named 'nope'"):
        spooler.run(printer="nope")


def test_a_receipt_that_cannot_be_rendered_does_not_block_the_queue(
    journal: Journal, emu: Controller, desk
) -> None:
    op_id, original = queue_receipt(journal, receipt_lines("one"))
    copy = journal.reprint(op_id, "customer", "desk", "alice")
    _, later = queue_receipt(journal, receipt_lines("two"))
    # a language no banner speaks: only the copy needs a banner, so only it fails
    spooler = make_spooler(journal, desk, receipt=ReceiptConfig(language="xx"))

    report = spooler.run(wait=5)

    assert [o.job.id for o in report.printed] == [original.id, later.id]
    (waiting,) = report.waiting
    assert waiting.job.id == copy.id and waiting.job.state == "queued"
    assert waiting.reason is not None and waiting.reason.startswith("this receipt cannot")
    assert spooler.stats.failures == {"bad_receipt": 1} and spooler.stats.retries == 0
    assert journal.incidents() == []  # nothing is wrong with the printer


# -- words for the front desk -----------------------------------------------------------------


def test_status_words() -> None:
    assert describe_status(None) == ("not_answering", "printer not answering")
    assert describe_status(PrinterStatus(online=False, paper=PaperState.OUT)) == (
        "paper_out",
        "paper out",
    )
    both = PrinterStatus(online=False, cover_open=True, paper=PaperState.OUT)
    assert describe_status(both) == ("cover_open", "cover open, paper out")
    cutter = PrinterStatus(online=False, cover_open=False, autocutter_error=True)
    assert describe_status(cutter) == ("printer_error", "printer error (autocutter error)")
