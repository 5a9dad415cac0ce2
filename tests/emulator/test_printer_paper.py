"""The paper roll: near end, running out mid-receipt, a new roll, and the feed it takes."""

from __future__ import annotations

import pytest

from posdriver_emulator.printer import PrinterConfig, PrinterEmulator

LINE_MM = 25.4 / 6  # the default line spacing, 1/6 inch


def job(lines: int, prefix: str = "line") -> bytes:
    body = b"".join(f"{prefix} {i:02d}\n".encode() for i in range(lines))
    return b"\x1b@" + body + b"\x1dV\x00"


def test_each_line_feeds_its_spacing() -> None:
    dev = PrinterEmulator(PrinterConfig(roll_mm=1000.0))
    dev.accept(b"one\ntwo\n")
    assert dev.paper.remaining_mm == pytest.approx(1000.0 - 2 * LINE_MM)
    dev.accept(b"\x1b3\x3c" + b"three\n")  # ESC 3 60: 60/180 inch
    assert dev.paper.remaining_mm == pytest.approx(1000.0 - 2 * LINE_MM - 25.4 / 3)
    dev.accept(b"\x1b2\x1d!\x11big\n")  # double height takes two default lines
    assert dev.paper.remaining_mm == pytest.approx(1000.0 - 4 * LINE_MM - 25.4 / 3)
    before = dev.paper.remaining_mm
    dev.accept(b"\x1bJ\x5a")  # ESC J 90: half an inch
    assert dev.paper.remaining_mm == pytest.approx(before - 12.7)
    before = dev.paper.remaining_mm
    dev.accept(b"\x1dVB\x00")  # function B: feed to the cutter, then cut
    assert dev.paper.remaining_mm == pytest.approx(before - 14.0, abs=0.2)
    assert len(dev.receipts) == 1


def test_near_end_sensor_trips_while_printing() -> None:
    dev = PrinterEmulator(PrinterConfig(roll_mm=100.0, near_end_mm=80.0))
    dev.accept(job(4))
    assert dev.status_byte(4) == 0x12
    dev.accept(job(2))  # 6 lines = 25.4 mm used: 74.6 mm left, under 80
    assert dev.status_byte(4) == 0x1E
    assert dev.state()["paper"] == {"state": "near_end", "remaining_mm": 74.6, "roll_mm": 100.0}
    assert dev.state()["online"] is True  # near end still prints
    dev.accept(b"\x1c\x1e" + job(1))  # (an unknown FS command on the way)
    assert len(dev.receipts) == 3


def test_near_end_can_stop_printing_when_selected() -> None:
    dev = PrinterEmulator()
    dev.accept(b"\x1bc4\x03")  # ESC c 4: stop at the near-end sensor too
    dev.set_fault("paper_near_end", True)
    assert dev.status_byte(1) == 0x1A and dev.status_byte(2) == 0x32
    dev.accept(b"waits\n")
    assert dev.current_text() == ""
    dev.set_fault("paper_near_end", False)
    assert "waits" in dev.current_text()


def test_paper_runs_out_mid_receipt_and_a_new_roll_finishes_it() -> None:
    dev = PrinterEmulator(PrinterConfig(roll_mm=60.0, near_end_mm=10.0))
    dev.accept(b"\x1d\x61\x08")
    assert dev.take_output(16, 0) == bytes.fromhex("10000000")
    data = job(20)
    assert dev.accept(data) == len(data)
    # 60 mm is 14 lines and a bit: the 15th line runs the roll out
    assert dev.paper.remaining_mm == 0.0
    assert "paper_out" in dev.active_faults  # the printer raised it itself
    assert [dev.status_byte(n) for n in (1, 2, 4)] == [0x1A, 0x32, 0x7E]
    assert dev.take_output(64, 0) == bytes.fromhex("1000030018000f00")
    printed = dev.current_text().splitlines()
    assert [line.rstrip() for line in printed] == [f"line {i:02d}" for i in range(15)]
    assert dev.receipts == []
    assert dev.state()["buffer_used"] == len(data) - 15 * len(b"line 00\n") - 2
    dev.accept(b"\x1d\x72\x01")  # GS r: the job-done question is not answered
    assert dev.take_output(16, 0) == b""
    dev.set_fault("paper_out", False)  # a new roll
    assert dev.wait_for_receipts(1, timeout=1)
    receipt = dev.receipts[0]
    assert receipt.interrupted
    assert [line.rstrip() for line in receipt.text.splitlines()] == [
        f"line {i:02d}" for i in range(20)
    ]
    assert dev.take_output(16, 0) == bytes.fromhex("10000000") + b"\x00"
    assert dev.paper.remaining_mm == pytest.approx(60.0 - 5 * LINE_MM)
    dev.accept(job(1))
    assert not dev.receipts[1].interrupted


def test_paper_out_fault_before_a_job_prints_nothing_until_reload() -> None:
    dev = PrinterEmulator()
    dev.set_fault("paper_out", True)
    dev.accept(job(3))
    assert dev.current_text() == "" and dev.receipts == []
    dev.set_fault("paper_out", False)
    assert len(dev.receipts) == 1 and not dev.receipts[0].interrupted


def test_paper_out_fault_during_a_receipt_marks_it() -> None:
    dev = PrinterEmulator()
    dev.accept(b"first half\n")
    dev.set_fault("paper_out", True)
    dev.accept(b"second half\n\x1dV\x00")
    dev.set_fault("paper_out", False)
    receipt = dev.receipts[0]
    assert receipt.interrupted
    assert receipt.text.split() == ["first", "half", "second", "half"]


def test_power_loss_mid_receipt_marks_it_and_loses_the_print_buffer() -> None:
    dev = PrinterEmulator()
    dev.accept(b"printed\nin the line buffer")
    dev.set_fault("power_off", True)
    dev.set_fault("power_off", False)
    dev.accept(b"after\n\x1dV\x00")
    receipt = dev.receipts[0]
    assert receipt.interrupted
    assert receipt.text.split() == ["printed", "after"]


def test_a_cut_without_paper_movement_makes_no_receipt() -> None:
    dev = PrinterEmulator()
    dev.accept(b"\x1dV\x00\x1b@\x1dV\x01\x1bi")
    assert dev.receipts == []
    dev.accept(b"\n\x1bm")
    assert len(dev.receipts) == 1


def test_buffer_partial_accept_and_overflow_count() -> None:
    dev = PrinterEmulator(PrinterConfig(receive_buffer=1000))
    dev.set_fault("offline", True)
    assert dev.accept(b"x" * 600) == 600
    assert dev.accept(b"y" * 600) == 400  # the transport keeps 200
    assert dev.accept(b"z") == 0
    assert dev.state()["buffer_used"] == 1000
    assert dev.accept(b"w" * 300, overflow=True) == 300  # serial: taken and lost
    assert dev.overflow_bytes == 300
    dev.set_fault("offline", False)
    assert dev.state()["buffer_used"] == 0
    dev.accept(b"\n")  # print the last, partly filled line
    text = dev.current_text().replace("\n", "")
    assert text.count("x") == 600 and text.count("y") == 400 and "w" not in text


def test_paper_runs_out_on_a_double_byte_character_that_wraps() -> None:
    chars = "欢迎光临房间合计大酒店" * 3  # 33 characters of 24 dots: 21 fit on a line
    dev = PrinterEmulator(PrinterConfig(roll_mm=4.0, near_end_mm=1.0))
    dev.accept(b"\x1c&" + chars.encode("gb18030") + b"\x1c.\n\x1dV\x00")
    assert dev.paper.out and dev.receipts == []
    assert dev.current_text().rstrip() == chars[:21]
    dev.set_fault("paper_out", False)  # a 4 mm roll: out again at the next line feed
    assert dev.paper.out and dev.receipts == []
    dev.set_fault("paper_out", False)
    assert dev.wait_for_receipts(1, timeout=1)
    assert dev.receipts[0].text.replace("\n", "").replace(" ", "") == chars
    assert dev.receipts[0].interrupted


def test_only_the_newest_receipts_are_kept_and_every_one_is_counted() -> None:
    dev = PrinterEmulator(PrinterConfig(receipts_kept=3))
    for number in range(10):
        dev.accept(job(2, prefix=f"receipt {number}"))
    kept = dev.receipts
    assert [r.index for r in kept] == [7, 8, 9]  # numbered by every receipt cut
    assert kept[0].text.startswith("receipt 7 00")
    assert dev.wait_for_receipts(10, timeout=0)
    assert dev.state()["receipts"] == 10 and dev.state()["receipts_kept"] == 3


def test_receipts_kept_is_at_least_one() -> None:
    with pytest.raises(ValueError, match="receipts_kept must be at least 1, got 0"):
        PrinterConfig(receipts_kept=0)
