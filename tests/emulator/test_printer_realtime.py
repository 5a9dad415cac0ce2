"""Real-time commands on receipt, buffered replies in order, ASB pushes, recovery."""

from __future__ import annotations

import threading

import pytest

from posdriver_emulator.printer import PrinterConfig, PrinterEmulator

STATUS_1 = b"\x10\x04\x01"


def out(dev: PrinterEmulator) -> bytes:
    return dev.take_output(4096, 0)


@pytest.mark.parametrize(
    "pieces",
    [
        [b"\x10", b"\x04", b"\x01"],
        [b"abc\x10", b"\x04\x01def"],
        [b"\x10\x04", b"\x01"],
        [b"\x10\x10", b"\x04", b"\x01"],  # a DLE that breaks a sequence may start one
    ],
)
def test_status_request_split_across_chunks(pieces: list[bytes]) -> None:
    dev = PrinterEmulator()
    replies = b""
    for piece in pieces:
        dev.accept(piece)
        replies += out(dev)
    assert replies == b"\x12"


def test_drawer_pulse_split_across_chunks_and_while_offline() -> None:
    dev = PrinterEmulator()
    dev.set_fault("offline", True)
    dev.accept(b"\x10\x14\x01")
    dev.accept(b"\x00")
    assert dev.drawer_kicks == 0
    dev.accept(b"\x05")
    assert dev.drawer_kicks == 1
    dev.accept(b"\x10\x14\x01\x00\x09")  # t out of range: not a pulse
    assert dev.drawer_kicks == 1
    dev.set_fault("offline", False)
    assert dev.drawer_kicks == 1  # not executed a second time from the buffer
    assert dev.state()["unknown_commands"] == 0


def test_realtime_answered_while_offline_buffered_replies_wait() -> None:
    dev = PrinterEmulator()
    dev.set_fault("cover_open", True)
    dev.accept(b"\x1d\x72\x01" + b"\x1d\x49\x43" + STATUS_1 + b"\x1d\x72\x02")
    assert out(dev) == b"\x1a"  # only the real-time one, at once
    dev.set_fault("cover_open", False)
    # now, in buffer order: GS r 1, GS I 67, (DLE EOT skipped), GS r 2
    assert out(dev) == b"\x00" + b"\x5fTM-T88V\x00" + b"\x00"


def test_realtime_answered_with_a_full_buffer_on_serial() -> None:
    dev = PrinterEmulator()
    dev.set_fault("paper_out", True)
    assert dev.accept(b"A" * 5000, overflow=True) == 5000
    assert dev.state()["buffer_used"] == 4096
    assert dev.overflow_bytes == 5000 - 4096
    assert dev.accept(STATUS_1, overflow=True) == 3
    assert out(dev) == b"\x1a"
    assert dev.overflow_bytes == 5000 - 4096 + 3  # executed, then lost with the rest


def test_full_buffer_with_flow_control_takes_nothing_more() -> None:
    dev = PrinterEmulator()
    dev.set_fault("paper_out", True)
    assert dev.accept(b"B" * 5000) == 4096
    assert dev.accept(b"B" * 10) == 0
    assert dev.accept(STATUS_1) == 0  # the transport holds it: no answer yet
    assert out(dev) == b""
    assert dev.overflow_bytes == 0
    dev.set_fault("paper_out", False)
    assert dev.state()["buffer_used"] == 0
    assert dev.accept(STATUS_1) == 3
    assert out(dev) == b"\x12"


def test_status_bytes_inside_image_data_are_answered_too() -> None:
    """The documented hazard: 10 04 01 inside GS v 0 data is a status request."""
    dev = PrinterEmulator()
    rows = bytes([0xFF, 0x10, 0x04, 0x01])  # 32 dots wide, one row contains DLE EOT 1
    data = b"\x1dv0\x00\x04\x00\x02\x00" + rows + bytes(4) + b"\x1dV\x00"
    dev.accept(data)
    assert out(dev) == b"\x12"
    image = dev.receipts[0].lines[0]
    assert image.kind == "image" and image.bitmap is not None
    assert image.bitmap.data == rows + bytes(4)  # and the image keeps its bytes


def test_realtime_split_between_image_data_chunks() -> None:
    dev = PrinterEmulator()
    dev.accept(b"\x1dv0\x00\x01\x00\x03\x00\x10")
    dev.accept(b"\x04")
    dev.accept(b"\x04\x1dV\x00")
    assert out(dev) == b"\x12"
    assert "[image 8x3]" in dev.receipts[0].text


def test_asb_pushes_on_every_enabled_change() -> None:
    dev = PrinterEmulator(PrinterConfig(roll_mm=100.0, near_end_mm=97.0))
    dev.accept(b"\x1d\x61\x0f")
    assert out(dev) == bytes.fromhex("10000000")
    dev.set_fault("cover_open", True)
    assert out(dev) == bytes.fromhex("38000000")
    dev.set_fault("offline", True)  # while offline, from outside
    assert out(dev) == bytes.fromhex("38010000")
    dev.set_fault("offline", False)
    dev.set_fault("cover_open", False)
    assert out(dev) == bytes.fromhex("3800000010000000")
    dev.accept(b"one line\n")  # the roll passes the near-end sensor while printing
    assert out(dev) == bytes.fromhex("10000300")
    dev.accept(b"\x1b\x40")  # ESC @ leaves ASB on (Epson)
    dev.set_fault("cutter_error", True)
    assert out(dev) == bytes.fromhex("18080300")
    dev.set_fault("cutter_error", False)
    assert out(dev) == bytes.fromhex("10000300")
    dev.accept(b"\x1d\x61\x00")
    dev.set_fault("cover_open", True)
    assert out(dev) == b""


def test_asb_only_watches_enabled_items() -> None:
    dev = PrinterEmulator()
    dev.accept(b"\x1d\x61\x08")  # roll paper sensor only
    assert out(dev) == bytes.fromhex("10000000")
    dev.set_fault("cover_open", True)
    assert out(dev) == b""
    dev.set_fault("paper_near_end", True)
    assert out(dev) == bytes.fromhex("38000300")  # the block carries everything


def test_asb_is_off_after_power_cycle_and_silent_while_powered_off() -> None:
    dev = PrinterEmulator()
    dev.accept(b"\x1d\x61\x0f")
    assert out(dev) == bytes.fromhex("10000000")
    dev.set_fault("power_off", True)
    dev.set_fault("cover_open", True)
    assert out(dev) == b""
    assert dev.accept(STATUS_1) == 3  # bytes to a dead printer are lost
    assert out(dev) == b""
    dev.set_fault("power_off", False)
    dev.set_fault("cover_open", False)
    assert out(dev) == b""
    assert dev.state()["asb_mask"] == 0


def test_cutter_error_recovery_needs_cause_gone_then_dle_enq() -> None:
    dev = PrinterEmulator(PrinterConfig(recover_needs_enq=True))
    dev.set_fault("cutter_error", True)
    dev.accept(b"after the jam\n\x1dV\x00")
    dev.accept(b"\x10\x05\x01")  # cause still there: nothing happens
    assert dev.status_byte(3) == 0x1A
    dev.set_fault("cutter_error", False)  # jam removed, error still latched
    assert dev.status_byte(3) == 0x1A and dev.receipts == []
    dev.accept(b"\x10\x05\x01")
    assert dev.status_byte(3) == 0x12
    assert dev.wait_for_receipts(1, timeout=1)
    assert "after the jam" in dev.receipts[0].text


def test_clearing_cutter_error_recovers_by_default() -> None:
    dev = PrinterEmulator()
    dev.set_fault("cutter_error", True)
    dev.accept(b"queued\n\x1dV\x00")
    dev.set_fault("cutter_error", False)
    assert dev.status_byte(3) == 0x12
    assert "queued" in dev.receipts[0].text


def test_dle_enq_2_recovers_and_clears_the_buffers() -> None:
    dev = PrinterEmulator(PrinterConfig(recover_needs_enq=True))
    dev.accept(b"half a line ")
    dev.set_fault("cutter_error", True)
    dev.set_fault("cutter_error", False)
    dev.accept(b"never printed\n")
    dev.accept(b"\x10\x05\x02fresh\n\x1dV\x00")
    assert dev.status_byte(3) == 0x12
    assert dev.receipts[0].text.rstrip() == "fresh"


def test_dle_enq_without_an_error_does_nothing() -> None:
    dev = PrinterEmulator()
    dev.set_fault("offline", True)
    dev.accept(b"kept\n\x10\x05\x02")
    dev.set_fault("offline", False)
    assert "kept" in dev.current_text()


def test_dle_dc4_clear_buffers_answers_and_drops_data() -> None:
    dev = PrinterEmulator()
    dev.set_fault("cover_open", True)
    dev.accept(b"dropped\n")
    dev.accept(b"\x10\x14\x08\x01\x03\x14\x01\x06\x02\x08")
    assert out(dev) == b"\x37\x25\x00"
    assert dev.state()["buffer_used"] == 0
    dev.set_fault("cover_open", False)
    assert dev.current_text() == ""


def test_power_off_sequence_then_power_cycle() -> None:
    dev = PrinterEmulator()
    dev.accept(b"\x10\x14\x02\x01\x08")
    assert out(dev) == b"\x3b\x30\x00"
    assert dev.accept(b"ignored\n") == 0  # BUSY until the power is switched off
    assert dev.accept(b"lost", overflow=True) == 4
    assert dev.status_byte(1) == 0x1A
    dev.set_fault("power_off", True)
    dev.set_fault("power_off", False)
    assert dev.status_byte(1) == 0x12
    assert dev.accept(b"back\n") == 5
    assert "back" in dev.current_text()


def test_unrecoverable_error_clears_only_by_power_cycle() -> None:
    dev = PrinterEmulator()
    dev.set_fault("unrecoverable_error", True)
    dev.accept(b"lost at power cycle\n\x1b\x45\x01")
    dev.accept(b"\x10\x05\x01")  # not recoverable by DLE ENQ
    assert dev.status_byte(3) == 0x32
    dev.set_fault("unrecoverable_error", False)  # = power cycle
    assert dev.status_byte(3) == 0x12
    assert dev.state()["buffer_used"] == 0 and dev.current_text() == ""
    dev.set_fault("unrecoverable_error", True)
    dev.set_fault("power_off", True)
    dev.set_fault("power_off", False)  # a power cycle clears it as well
    assert dev.status_byte(3) == 0x12
    assert "unrecoverable_error" not in dev.active_faults


def test_waiting_for_receipts_and_idle_with_deadlines() -> None:
    dev = PrinterEmulator()
    assert dev.wait_for_receipts(1, timeout=0.05) is False
    dev.set_fault("offline", True)
    dev.accept(b"later\n\x1dV\x00")
    assert dev.wait_idle(timeout=0.05) is False

    def later() -> None:
        dev.set_fault("offline", False)

    timer = threading.Timer(0.05, later)
    timer.start()
    try:
        assert dev.wait_for_receipts(1, timeout=5) is True
        assert dev.wait_idle(timeout=5) is True
    finally:
        timer.cancel()
    assert dev.receipts[0].text.rstrip() == "later"


def test_bytes_a_full_printer_leaves_with_the_transport_are_counted_once() -> None:
    """A full receive buffer takes only part of what is offered; the transport (a TCP
    window, a USB NAK) offers the rest again. Each byte counts once in bytes_from_host,
    when the printer takes it (12,603 bytes sent over TCP were counted 24,859 times)."""
    from posdriver_emulator.printer import PrinterConfig, PrinterEmulator

    printer = PrinterEmulator(PrinterConfig(receive_buffer=64), seed=1)
    printer.set_fault("busy", True)  # not reading: nothing is taken
    data = b"\x1b@" + b"x" * 200
    assert printer.accept(data) == 0
    printer.set_fault("busy", False)
    offered = data
    for _ in range(10):  # offered again and again, as the transport does
        offered = offered[printer.accept(offered) :]
    taken = len(data) - len(offered)
    assert taken > 0
    assert printer.counters["bytes_from_host"] == taken
