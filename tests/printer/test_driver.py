"""The driver against the emulated printer on every link: status, ASB, GS I, printing."""

from __future__ import annotations

import threading
import time

import pytest

from posdriver.links import open_link
from posdriver.printer.driver import Printer
from posdriver.printer.errors import PrinterNotReady, PrinterNotResponding, PrintIncomplete
from posdriver.printer.receipt import Receipt, encode, encode_segments, sample_receipt
from posdriver.printer.status import PaperState, Severity
from posdriver_emulator.controller import Controller
from posdriver_emulator.printer import PrinterConfig
from tests.support.timing import REPLY_TOLERANCE, wait_until


def test_healthy_status_is_fully_known(emu: Controller) -> None:
    with open_link(emu.url) as link:
        status = Printer(link, reply_tolerance=REPLY_TOLERANCE).query_status()
    assert status.severity is Severity.OK, status.summary()
    assert status.online is True
    assert status.paper is PaperState.OK
    assert all(v is not None for v in status.raw.values())


@pytest.mark.parametrize(
    ("fault", "severity", "check"),
    [
        ("paper_near_end", Severity.WARNING, lambda s: s.paper is PaperState.NEAR_END),
        ("paper_out", Severity.CRITICAL, lambda s: s.paper is PaperState.OUT),
        ("cover_open", Severity.CRITICAL, lambda s: s.cover_open is True),
        ("offline", Severity.CRITICAL, lambda s: s.online is False),
        ("cutter_error", Severity.CRITICAL, lambda s: s.autocutter_error is True),
        ("unrecoverable_error", Severity.CRITICAL, lambda s: s.unrecoverable_error is True),
        ("power_off", Severity.UNKNOWN, lambda s: s.online is None),
        ("busy", Severity.UNKNOWN, lambda s: s.online is None),
        ("garbage", Severity.UNKNOWN, lambda s: True),
    ],
)
def test_each_fault_is_detected(pty_emu: Controller, fault: str, severity: Severity, check) -> None:
    pty_emu.set_fault(fault)
    with open_link(pty_emu.url) as link:
        status = Printer(link, reply_tolerance=REPLY_TOLERANCE).query_status()
    assert status.severity is severity, status.summary()
    assert check(status)


def test_garbage_never_reads_as_healthy(pty_emu: Controller) -> None:
    """Noise that looks like replies (0x12...) must not make a faulty printer look fine."""
    pty_emu.set_fault("paper_out")
    pty_emu.set_fault("garbage")
    with open_link(pty_emu.url) as link:
        printer = Printer(link)  # the property holds at any tolerance
        for _ in range(5):
            status = printer.query_status()
            assert status.paper in (PaperState.OUT, PaperState.UNKNOWN)
            assert status.online in (False, None)
            assert status.severity in (Severity.CRITICAL, Severity.UNKNOWN)
        assert printer.counters["noise_bytes"] + printer.counters["stale_bytes"] > 0


def test_late_replies_are_unknown_not_wrong(tmp_path) -> None:
    """On a slow line with no tolerance, replies arrive late: never misattributed."""
    with Controller.printer(link="pty", link_dir=tmp_path, baudrate=1200) as emu:
        emu.set_fault("paper_out")
        with open_link(emu.url) as link:
            printer = Printer(link, reply_tolerance=0.0)
            for _ in range(4):
                status = printer.query_status()
                assert status.paper in (PaperState.OUT, PaperState.UNKNOWN)
                assert status.online in (False, None)
                assert status.cover_open in (False, None)


def test_print_sample_receipt_everywhere(emu: Controller) -> None:
    data = encode(sample_receipt())
    with open_link(emu.url) as link:
        result = Printer(link, reply_tolerance=REPLY_TOLERANCE).print_job(data)
    assert result.confirmed and result.sent == result.total == len(data)
    assert emu.device.wait_for_receipts(1, timeout=5)
    text = emu.device.receipts[0].text
    for expected in (
        "GRAND HOTEL",
        "大酒店",
        "Café",
        "合计",
        "EUR 273.30",
        "4006381333931",
        "posdriver:receipt/8808/0001",
        "谢谢光临",
    ):
        assert expected in text, f"{expected!r} missing from:\n{text}"


def test_printing_with_paper_out_sends_nothing(pty_emu: Controller) -> None:
    pty_emu.set_fault("paper_out")
    with open_link(pty_emu.url) as link:
        printer = Printer(link, reply_tolerance=REPLY_TOLERANCE)
        with pytest.raises(PrinterNotReady, match="paper out; nothing was sent"):
            printer.print_job(encode(sample_receipt()))
    # only status queries reached the printer: DLE EOT 1 to decide, then 1-4 to explain
    # (3 bytes each); not one byte of the receipt
    assert pty_emu.device.counters["bytes_from_host"] == 3 + 12
    assert pty_emu.device.receipts == []


def test_printing_to_a_powered_off_printer_fails_fast(pty_emu: Controller) -> None:
    pty_emu.set_fault("power_off")
    with open_link(pty_emu.url) as link, pytest.raises(PrinterNotResponding):
        Printer(link, reply_tolerance=REPLY_TOLERANCE).print_job(b"hello\n")


def test_a_printer_switched_off_after_a_burst_of_receipts_is_noticed_at_once(
    pty_emu: Controller,
) -> None:
    """A pseudo-terminal (like a USB or network printer) takes bytes faster than the
    link's nominal 9600 baud. Each confirmed receipt proves its bytes crossed: the
    driver's estimate of the wire's backlog must not run ahead of that, or the next
    status read waits out the phantom backlog (it waited 8.7 s after twelve receipts)
    before it can say the printer is silent."""
    with open_link(pty_emu.url) as link:
        printer = Printer(link, reply_tolerance=REPLY_TOLERANCE)
        for _ in range(12):
            assert printer.print_job([b"a line of a receipt\n" * 40]).confirmed
        pty_emu.set_fault("power_off")
        started = time.monotonic()
        status = printer.query_status()
        took = time.monotonic() - started
    assert status.severity is Severity.UNKNOWN and status.online is None
    assert took < 2.0, f"{took:.1f} s to find a silent printer silent"


def test_a_printer_that_falls_silent_mid_job_is_given_up_on_after_a_few_polls() -> None:
    """A printer that answered the ready check, took the job and then fell silent (the
    power went, the cable came out) answers none of the status polls sent while its
    confirmation is awaited. DLE EOT is answered on receipt even while printing, so a
    few unanswered polls end the job as incomplete, instead of the whole 10 s confirm
    timeout during which the printer's health checks wait behind the job."""
    import os

    from posdriver.printer.driver import SILENT_POLLS

    master, slave = os.openpty()
    os.set_blocking(master, False)
    stop = threading.Event()

    def answers_once() -> None:
        """0x12 (online, all clear) to the first DLE EOT, then never a word."""
        seen, answered = b"", False
        while not stop.is_set():
            try:
                seen += os.read(master, 4096)
            except BlockingIOError:
                stop.wait(0.01)
                continue
            except OSError:
                return
            if not answered and b"\x10\x04" in seen:
                os.write(master, b"\x12")
                answered = True

    peer = threading.Thread(target=answers_once, daemon=True)
    peer.start()
    try:
        with open_link(f"serial://{os.ttyname(slave)}") as link:
            printer = Printer(link, reply_tolerance=REPLY_TOLERANCE)
            started = time.monotonic()
            with pytest.raises(PrintIncomplete) as info:
                printer.print_job(b"a receipt that never comes out\n")
            took = time.monotonic() - started
    finally:
        stop.set()
        peer.join(5)
        os.close(master)
        os.close(slave)
    assert f"{SILENT_POLLS} status polls unanswered" in str(info.value)
    assert took < printer.confirm_timeout / 2, f"{took:.1f} s"


@pytest.mark.parametrize("segmented", [True, False])
def test_paper_running_out_mid_receipt_is_reported(tmp_path, segmented: bool) -> None:
    """The roll ends halfway: reported within a poll, with how much was printed."""
    config = PrinterConfig(roll_mm=40.0, near_end_mm=10.0)
    with Controller.printer(link="pty", link_dir=tmp_path, config=config) as emu:
        segments = encode_segments(sample_receipt())
        data = b"".join(segments)
        with open_link(emu.url) as link:
            printer = Printer(link, reply_tolerance=REPLY_TOLERANCE, window=256)
            started = time.monotonic()
            with pytest.raises(PrintIncomplete) as info:
                printer.print_job(segments if segmented else data)
            assert time.monotonic() - started < 3  # a poll, not the 10 s confirm timeout
        err = info.value
        assert err.total == len(data)
        assert "went offline" in str(err) and "paper out" in str(err)
        assert err.status is not None and err.status.paper is PaperState.OUT
        assert err.printed < err.total
        emu.device.paper.roll_mm = 50_000.0  # the replacement is a full roll
        emu.set_fault("paper_out", False)
        if segmented:
            # the driver stopped at the first unconfirmed checkpoint: the rest never left,
            # so the printer prints what it holds and there is no cut receipt
            assert err.printed > 0 and err.sent < err.total
            assert emu.device.wait_idle(timeout=5)
            assert emu.device.receipts == []
        else:
            # everything was sent: the printer finishes the buffered receipt by itself
            assert emu.device.wait_for_receipts(1, timeout=5)
            assert emu.device.receipts[0].interrupted


def test_asb_stops_a_long_job_when_paper_runs_out(tmp_path) -> None:
    config = PrinterConfig(roll_mm=150.0, near_end_mm=20.0)
    with Controller.printer(link="tcp", config=config) as emu:
        long_job = Receipt()
        for i in range(400):
            long_job.line(f"line {i:04d} " + "x" * 30)
        segments = encode_segments(long_job)
        total = sum(map(len, segments))
        with open_link(emu.url) as link:
            printer = Printer(link, reply_tolerance=REPLY_TOLERANCE, chunk_size=256)
            assert printer.enable_asb() is not None
            with pytest.raises(PrintIncomplete) as info:
                printer.print_job(segments)
        # windows keep the driver close behind the paper: it stopped well before the end
        assert 0 < info.value.printed <= info.value.sent < total // 2
        assert "paper out" in str(info.value)


def test_clear_buffers_drops_what_the_printer_holds(pty_emu: Controller) -> None:
    """DLE DC4 8 while the cover is open: what the printer held never reaches the paper,
    and its "buffers cleared" reply is not taken for the next status answer."""
    pty_emu.set_fault("cover_open")
    with open_link(pty_emu.url) as link:
        printer = Printer(link, reply_tolerance=REPLY_TOLERANCE)
        link.write(b"torn tail\n", timeout=1.0)  # a cut-off job's rest, held by the printer
        printer.clear_buffers(settle=REPLY_TOLERANCE)
        sent = len(b"torn tail\n") + len(b"\x10\x14\x08\x01\x03\x14\x01\x06\x02\x08")
        wait_until(lambda: pty_emu.device.counters["bytes_from_host"] == sent)
        pty_emu.set_fault("cover_open", False)
        assert printer.query_status().severity is Severity.OK
        result = printer.print_job(b"next receipt\n")
    assert result.confirmed
    text = pty_emu.device.current_text()
    assert "next receipt" in text and "torn tail" not in text


def test_segments_get_checkpoints_and_print_whole(pty_emu: Controller) -> None:
    segments = encode_segments(sample_receipt())
    with open_link(pty_emu.url) as link:
        result = Printer(link, reply_tolerance=REPLY_TOLERANCE, window=200).print_job(segments)
    assert result.confirmed and result.printed == result.sent == sum(map(len, segments))
    assert pty_emu.device.wait_for_receipts(1, timeout=5)
    assert "EUR 273.30" in pty_emu.device.receipts[0].text


def test_busy_printer_stalls_the_job_with_progress(tmp_path) -> None:
    with Controller.printer(link="tcp") as emu:
        go_busy = threading.Event()

        def watch() -> None:
            # right after the status query (4 x 3 bytes), as the job starts
            wait_until(lambda: emu.device.counters["bytes_from_host"] > 12, timeout=10)
            emu.set_fault("busy")
            go_busy.set()

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        data = b"x" * 40 + b"\n"
        with open_link(emu.url) as link:
            printer = Printer(link, reply_tolerance=REPLY_TOLERANCE, write_grace=0.5)
            with pytest.raises(PrintIncomplete) as info:
                printer.print_job(data * 200_000)
        watcher.join(5)
        assert go_busy.is_set()
        assert 0 < info.value.sent < len(data) * 200_000
        assert "stopped taking data" in str(info.value)


def test_asb_pushes_changes(emu: Controller) -> None:
    with open_link(emu.url) as link:
        printer = Printer(link, reply_tolerance=REPLY_TOLERANCE)
        first = printer.enable_asb()
        assert first is not None and first.severity is Severity.OK
        emu.set_fault("cover_open")
        pushes = printer.poll(timeout=2)
        assert pushes and pushes[-1].cover_open is True and pushes[-1].online is False
        # a query in between pushes is still answered right
        emu.set_fault("cover_open", False)
        status = printer.query_status()
        assert status.cover_open is False
        printer.poll(timeout=0.2)
        assert printer.last_status.cover_open is False


def test_identify(emu: Controller) -> None:
    config = emu.device.config
    with open_link(emu.url) as link:
        identity = Printer(link, reply_tolerance=REPLY_TOLERANCE).identify()
    assert identity.maker == config.maker
    assert identity.model == config.model
    assert identity.serial == config.serial_number
    assert identity.firmware
    assert identity.model_id is not None and identity.has_autocutter is True


def test_identify_offline_answers_nothing_buffered(pty_emu: Controller) -> None:
    pty_emu.set_fault("cover_open")
    with open_link(pty_emu.url) as link:
        identity = Printer(link, reply_tolerance=REPLY_TOLERANCE).identify()
    assert identity.model is None and identity.model_id is None


def test_drawer_pulse_is_real_time(pty_emu: Controller) -> None:
    pty_emu.set_fault("offline")
    with open_link(pty_emu.url) as link:
        Printer(link, reply_tolerance=REPLY_TOLERANCE).pulse_drawer()
    wait_until(lambda: pty_emu.device.state()["drawer_kicks"] == 1, what="drawer kick")
