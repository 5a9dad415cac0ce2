"""Property tests: no byte sequence breaks the printer, and chunking never changes the result."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posdriver.printer.status import is_asb_header, is_realtime_reply
from posdriver_emulator.printer import PRINTER_FAULTS, PrinterConfig, PrinterEmulator

# -- arbitrary bytes ------------------------------------------------------------------------
fault_events = st.lists(
    st.tuples(st.integers(0, 4000), st.sampled_from(PRINTER_FAULTS), st.booleans()),
    max_size=6,
)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    data=st.binary(max_size=4000),
    sizes=st.lists(st.integers(1, 300), min_size=1, max_size=40),
    overflow=st.booleans(),
    events=fault_events,
)
def test_arbitrary_bytes_never_break_the_printer(
    data: bytes, sizes: list[int], overflow: bool, events: list[tuple[int, str, bool]]
) -> None:
    dev = PrinterEmulator(PrinterConfig(roll_mm=400.0, near_end_mm=100.0, receive_buffer=512))
    events = sorted(events)
    pos = step = 0
    stalled = 0
    while pos < len(data) and stalled < 3:
        while events and events[0][0] <= pos:
            _, name, active = events.pop(0)
            dev.set_fault(name, active)
        n = sizes[step % len(sizes)]
        step += 1
        taken = dev.accept(data[pos : pos + n], overflow=overflow)
        assert 0 <= taken <= n
        stalled = stalled + 1 if taken == 0 else 0
        pos += taken
        state = dev.state()
        assert 0 <= state["buffer_used"] <= 512  # type: ignore[operator]
    for fault in PRINTER_FAULTS:
        dev.set_fault(fault, False)
    dev.accept(b"\x1b@\x1dV\x00")
    for receipt in dev.receipts:
        assert isinstance(receipt.text, str)
        assert all(ch >= " " for ch in receipt.text.replace("\n", ""))
    assert isinstance(dev.current_text(), str)
    for n in (1, 2, 3, 4):
        byte = dev.status_byte(n)
        assert byte is not None and is_realtime_reply(byte)


@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=600))
def test_arbitrary_bytes_one_at_a_time_equal_all_at_once(data: bytes) -> None:
    whole = PrinterEmulator()
    whole.accept(data + b"\n\x1dV\x00", overflow=True)
    split = PrinterEmulator()
    for b in data + b"\n\x1dV\x00":
        split.accept(bytes([b]), overflow=True)
    assert [r.text for r in split.receipts] == [r.text for r in whole.receipts]
    assert split.take_output(1 << 16, 0) == whole.take_output(1 << 16, 0)


# -- valid command streams --------------------------------------------------------------------
PRINTABLE = string.ascii_letters + string.digits + " .,:-/#$@éàüÆ€£"


def _one(prefix: bytes, values: st.SearchStrategy[int]) -> st.SearchStrategy[bytes]:
    return values.map(lambda n: prefix + bytes([n]))


def _raster() -> st.SearchStrategy[bytes]:
    def build(size: tuple[int, int, int]) -> st.SearchStrategy[bytes]:
        x, y, m = size
        return st.binary(min_size=x * y, max_size=x * y).map(
            lambda d: b"\x1dv0" + bytes([m, x, 0, y, 0]) + d
        )

    return st.tuples(st.integers(1, 6), st.integers(1, 40), st.integers(0, 3)).flatmap(build)


def _graphics() -> st.SearchStrategy[bytes]:
    def build(size: tuple[int, int]) -> st.SearchStrategy[bytes]:
        w, h = size
        count = ((w + 7) // 8) * h
        head = b"0p0\x01\x011" + w.to_bytes(2, "little") + h.to_bytes(2, "little")
        return st.binary(min_size=count, max_size=count).map(
            lambda d: (
                b"\x1d(L" + (len(d) + 10).to_bytes(2, "little") + head + d + b"\x1d(L\x02\x0002"
            )
        )

    return st.tuples(st.integers(1, 60), st.integers(1, 30)).flatmap(build)


def _qr(text: str) -> bytes:
    data = text.encode()
    return (
        b"\x1d(k\x03\x001C\x03"
        + b"\x1d(k"
        + (len(data) + 3).to_bytes(2, "little")
        + b"1P0"
        + data
        + b"\x1d(k\x03\x001Q0"
    )


def _ean13(digits: str) -> bytes:
    return b"\x1dH\x02\x1dk\x02" + digits.encode() + b"\x00"


commands = st.one_of(
    st.text(PRINTABLE, max_size=50).map(lambda s: s.encode("cp437", "replace")),
    st.just(b"\n"),
    st.just(b"\t"),
    _one(b"\x1b!", st.integers(0, 255)),
    _one(b"\x1d!", st.integers(0, 0x33)),
    _one(b"\x1ba", st.integers(0, 2)),
    _one(b"\x1bE", st.integers(0, 1)),
    _one(b"\x1b-", st.integers(0, 2)),
    _one(b"\x1b3", st.integers(0, 80)),
    _one(b"\x1bd", st.integers(0, 4)),
    _one(b"\x1bJ", st.integers(0, 80)),
    _one(b"\x1bt", st.sampled_from([0, 1, 2, 16, 17, 18, 19, 99])),
    _one(b"\x1bR", st.integers(0, 16)),
    _one(b"\x1b$", st.integers(0, 255)).map(lambda b: b + b"\x00"),
    st.text("欢迎光临房间合计大酒店¥ 0123", max_size=12).map(
        lambda s: b"\x1c&" + s.encode("gb18030") + b"\x1c."
    ),
    _one(b"\x1c!", st.sampled_from([0, 4, 8, 12])),
    _raster(),
    _graphics(),
    st.text(PRINTABLE, min_size=1, max_size=40).map(_qr),
    st.text(string.digits, min_size=12, max_size=12).map(_ean13),
    st.sampled_from([b"\x1bp\x00\x32\x32", b"\x1bp\x01", b"\x10\x14\x01\x00\x01"]),
    st.sampled_from([b"\x1dV\x00", b"\x1dVB\x00", b"\x1bi"]),
    st.sampled_from([b"\x10\x04\x01", b"\x10\x04\x04", b"\x1dr\x01", b"\x1dI\x43"]),
    st.just(b"\x1b@"),
)
streams = st.lists(commands, max_size=30).map(b"".join)


def offer(dev: PrinterEmulator, data: bytes, sizes: list[int]) -> None:
    """Offer ``data`` in chunks of ``sizes`` (cycled) until the printer takes no more."""
    pos = step = 0
    while pos < len(data):
        n = sizes[step % len(sizes)]
        step += 1
        taken = dev.accept(data[pos : pos + n])
        if taken == 0:
            break  # out of paper and the buffer is full: the transport would stall here
        pos += taken


def _outcome(dev: PrinterEmulator) -> tuple[object, ...]:
    return (
        [(r.text, r.interrupted) for r in dev.receipts],
        dev.current_text(),
        dev.take_output(1 << 16, 0),
        round(dev.paper.remaining_mm, 6),
        dev.drawer_kicks,
        dev.state()["unknown_commands"],
    )


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=streams, sizes=st.lists(st.integers(1, 64), min_size=1, max_size=20))
def test_valid_streams_print_the_same_however_they_are_chunked(
    stream: bytes, sizes: list[int]
) -> None:
    whole = PrinterEmulator(PrinterConfig(roll_mm=300.0, near_end_mm=60.0))
    offer(whole, stream, [len(stream) or 1])
    chunked = PrinterEmulator(PrinterConfig(roll_mm=300.0, near_end_mm=60.0))
    offer(chunked, stream, sizes)
    assert whole.state()["unknown_commands"] == 0
    assert _outcome(chunked) == _outcome(whole)
    replies = _outcome(whole)[2]
    assert isinstance(replies, bytes)
    for receipt in whole.receipts:
        assert "\x00" not in receipt.text


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=streams)
def test_any_valid_receipt_renders_a_png(stream: bytes) -> None:
    dev = PrinterEmulator()
    dev.accept(stream + b"\nend\n\x1dV\x00")
    receipt = dev.receipts[-1]
    png = receipt.png()
    assert png.startswith(b"\x89PNG")
    assert receipt.text.rstrip().endswith("end")


def test_asb_blocks_and_status_replies_keep_their_fixed_bits() -> None:
    dev = PrinterEmulator()
    dev.accept(b"\x1da\xff")
    for fault in ("cover_open", "paper_near_end", "offline", "cutter_error"):
        dev.set_fault(fault, True)
    out = dev.take_output(1024, 0)
    assert len(out) % 4 == 0 and len(out) >= 20
    for i in range(0, len(out), 4):
        assert is_asb_header(out[i])
        assert all(b & 0x90 == 0 for b in out[i + 1 : i + 4])
