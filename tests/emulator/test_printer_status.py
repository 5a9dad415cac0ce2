"""Status bytes of the emulated printer, byte for byte, and what the driver reads in them."""

from __future__ import annotations

import pytest

from posdriver.printer.status import (
    PaperState,
    Severity,
    decode_asb,
    decode_realtime,
    decode_transmit_paper,
    is_asb_header,
    is_buffered_reply,
    is_realtime_reply,
)
from posdriver_emulator.printer import PrinterConfig, PrinterEmulator

DLE_EOT = b"\x10\x04"


def realtime(dev: PrinterEmulator) -> list[int]:
    """DLE EOT 1-4, each answered at once, in order."""
    replies = []
    for n in (1, 2, 3, 4):
        assert dev.accept(DLE_EOT + bytes([n]), overflow=True) == 3
        out = dev.take_output(16, 0)
        assert len(out) == 1, f"DLE EOT {n} answered {out.hex(' ')}"
        replies.append(out[0])
    return replies


def asb(dev: PrinterEmulator, mask: int = 0x4F) -> bytes:
    """Enable ASB: the first block comes back at once (when online: buffer order)."""
    dev.accept(b"\x1d\x61" + bytes([mask]), overflow=True)
    return dev.take_output(16, 0)


def gs_r(dev: PrinterEmulator, n: int) -> bytes:
    dev.accept(b"\x1d\x72" + bytes([n]), overflow=True)
    return dev.take_output(16, 0)


# fault(s) -> DLE EOT 1..4, then the ASB block (enabled before the fault, pushed on change)
EXPECTED = {
    (): ([0x12, 0x12, 0x12, 0x12], "10000000"),
    ("paper_near_end",): ([0x12, 0x12, 0x12, 0x1E], "10000300"),
    ("paper_out",): ([0x1A, 0x32, 0x12, 0x7E], "18000f00"),
    ("cover_open",): ([0x1A, 0x16, 0x12, 0x12], "38000000"),
    ("offline",): ([0x3A, 0x12, 0x12, 0x12], "18010000"),
    ("cutter_error",): ([0x1A, 0x52, 0x1A, 0x12], "18080000"),
    ("unrecoverable_error",): ([0x1A, 0x52, 0x32, 0x12], "18200000"),
    ("paper_out", "cover_open"): ([0x1A, 0x36, 0x12, 0x7E], "38000f00"),
    ("paper_near_end", "cover_open"): ([0x1A, 0x16, 0x12, 0x1E], "38000300"),
    ("paper_near_end", "offline"): ([0x3A, 0x12, 0x12, 0x1E], "18010300"),
    ("cutter_error", "paper_out"): ([0x1A, 0x72, 0x1A, 0x7E], "18080f00"),
    ("cover_open", "offline", "unrecoverable_error"): ([0x3A, 0x56, 0x32, 0x12], "38210000"),
}


@pytest.mark.parametrize("faults", list(EXPECTED), ids=lambda f: "+".join(f) or "healthy")
def test_status_bytes_for_faults_and_combinations(faults: tuple[str, ...]) -> None:
    dev = PrinterEmulator()
    assert asb(dev) == bytes.fromhex("10000000")
    for fault in faults:
        dev.set_fault(fault, True)
    pushed = dev.take_output(64, 0)
    replies = realtime(dev)
    want_eot, want_asb = EXPECTED[faults]
    assert replies == want_eot, [hex(b) for b in replies]
    if faults:
        # the last block pushed carries the whole current status
        assert pushed[-4:] == bytes.fromhex(want_asb), pushed.hex(" ")
        assert len(pushed) % 4 == 0
    for byte in replies:
        assert is_realtime_reply(byte)


@pytest.mark.parametrize("faults", list(EXPECTED), ids=lambda f: "+".join(f) or "healthy")
def test_driver_decodes_them_right(faults: tuple[str, ...]) -> None:
    dev = PrinterEmulator()
    for fault in faults:
        dev.set_fault(fault, True)
    status = decode_realtime(dict(zip((1, 2, 3, 4), realtime(dev), strict=True)))
    block = bytes.fromhex(EXPECTED[faults][1])
    pushed = decode_asb(block)
    assert is_asb_header(block[0]) and all(is_buffered_reply(b) for b in block[1:])
    for s in (status, pushed):
        assert s.online is ((not faults) or faults == ("paper_near_end",))
        assert s.cover_open is ("cover_open" in faults)
        assert s.autocutter_error is ("cutter_error" in faults)
        assert s.unrecoverable_error is ("unrecoverable_error" in faults)
        assert s.mechanical_error is False
        assert s.waiting_for_recovery is ("offline" in faults)
        if "paper_out" in faults:
            assert s.paper is PaperState.OUT
        elif "paper_near_end" in faults:
            assert s.paper is PaperState.NEAR_END
        else:
            assert s.paper is PaperState.OK
    assert status.stopped_by_paper_end is ("paper_out" in faults)
    assert status.error is any(f.endswith("error") for f in faults)
    if not faults:
        assert status.severity is Severity.OK
    elif faults == ("paper_near_end",):
        assert status.severity is Severity.WARNING
    else:
        assert status.severity is Severity.CRITICAL


def test_cover_opened_during_printing_is_an_auto_recoverable_error() -> None:
    dev = PrinterEmulator()
    dev.set_fault("offline", True)
    dev.accept(b"waiting to be printed\n", overflow=True)  # buffered: printing is pending
    dev.set_fault("cover_open", True)
    assert realtime(dev) == [0x3A, 0x56, 0x52, 0x12]
    status = decode_realtime(dict(zip((1, 2, 3, 4), realtime(dev), strict=True)))
    assert status.auto_recoverable_error is True and status.error is True
    dev.set_fault("cover_open", False)  # closing the cover recovers it
    assert realtime(dev) == [0x3A, 0x12, 0x12, 0x12]
    dev.set_fault("offline", False)
    assert realtime(dev) == [0x12, 0x12, 0x12, 0x12]
    assert "waiting to be printed" in dev.current_text()


def test_drawer_pin_polarity_shows_in_every_status() -> None:
    dev = PrinterEmulator(PrinterConfig(drawer_pin_high=True))
    assert realtime(dev) == [0x16, 0x12, 0x12, 0x12]
    assert asb(dev) == bytes.fromhex("14000000")
    assert gs_r(dev, 2) == b"\x01"
    assert gs_r(dev, 50) == b"\x01"
    dev.set_drawer_pin(False)  # drawer closed: ASB drawer item pushes the change
    assert dev.take_output(16, 0) == bytes.fromhex("10000000")
    assert realtime(dev)[0] == 0x12
    assert gs_r(dev, 2) == b"\x00"


def test_transmit_status_paper_bytes() -> None:
    dev = PrinterEmulator()
    assert gs_r(dev, 1) == b"\x00"
    assert gs_r(dev, 49) == b"\x00"
    dev.set_fault("paper_near_end", True)
    reply = gs_r(dev, 1)
    assert reply == b"\x03"
    assert decode_transmit_paper(reply[0]) is PaperState.NEAR_END
    assert gs_r(dev, 4) == b""  # no ink status on a thermal printer: no answer
    dev.set_fault("paper_out", True)
    assert gs_r(dev, 1) == b""  # offline: buffered, not answered
    dev.set_fault("paper_out", False)
    assert dev.take_output(16, 0) == b"\x03"  # answered in buffer order once back online


def test_printer_without_near_end_sensor() -> None:
    dev = PrinterEmulator(PrinterConfig(has_near_end_sensor=False))
    dev.set_fault("paper_near_end", True)
    assert realtime(dev) == [0x12, 0x12, 0x12, 0x12]
    dev.set_fault("paper_out", True)
    assert realtime(dev) == [0x1A, 0x32, 0x12, 0x72]
    assert decode_realtime({4: 0x72}).paper is PaperState.OUT


def test_printer_id_bytes_and_texts() -> None:
    config = PrinterConfig()
    dev = PrinterEmulator(config)
    for n, want in ((1, 0x20), (49, 0x20), (2, 0x03), (50, 0x03), (3, 0x41), (51, 0x41)):
        dev.accept(b"\x1d\x49" + bytes([n]), overflow=True)
        reply = dev.take_output(16, 0)
        assert reply == bytes([want]) and is_buffered_reply(reply[0]), (n, reply)
    texts = {
        65: config.firmware,
        66: "EPSON",
        67: "TM-T88V",
        68: config.serial_number,
        69: "CHINA GB18030",
    }
    for n, text in texts.items():
        dev.accept(b"\x1d\x49" + bytes([n]), overflow=True)
        assert dev.take_output(64, 0) == b"\x5f" + text.encode() + b"\x00"
    for n in (0x6F, 0x70, 0, 4, 70):
        dev.accept(b"\x1d\x49" + bytes([n]), overflow=True)
        assert dev.take_output(64, 0) == b"", n


def test_state_reports_the_condition() -> None:
    dev = PrinterEmulator(PrinterConfig(roll_mm=100.0, near_end_mm=10.0))
    state = dev.state()
    assert state["online"] is True and state["cover_open"] is False
    assert state["paper"] == {"state": "ok", "remaining_mm": 100.0, "roll_mm": 100.0}
    assert state["errors"] == [] and state["model"] == "TM-T88V"
    assert state["buffer_size"] == 4096 and state["buffer_used"] == 0
    dev.set_fault("cutter_error", True)
    dev.set_fault("cover_open", True)
    state = dev.state()
    assert state["online"] is False and state["cover_open"] is True
    assert state["errors"] == ["autocutter_error"]
    assert state["faults"] == ["cover_open", "cutter_error"]
