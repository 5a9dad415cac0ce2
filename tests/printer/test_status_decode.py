"""Byte-exact decoding of every status bit, and unknown for everything malformed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from posdriver.printer.status import (
    PaperState,
    PrinterStatus,
    Severity,
    decode_asb,
    decode_realtime,
    decode_transmit_paper,
)

HEALTHY = {1: 0x12, 2: 0x12, 3: 0x12, 4: 0x12}


def with_reply(n: int, byte: int | None) -> dict[int, int | None]:
    return {**HEALTHY, n: byte}


def test_all_clear_is_ok() -> None:
    status = decode_realtime(HEALTHY)
    assert status.online is True
    assert status.cover_open is False
    assert status.paper is PaperState.OK
    assert status.errors == []
    assert status.drawer_pin_high is False
    assert status.severity is Severity.OK
    assert status.summary() == "ready"


@pytest.mark.parametrize(
    ("n", "byte", "field", "value"),
    [
        (1, 0x16, "drawer_pin_high", True),
        (1, 0x1A, "online", False),
        (1, 0x32, "waiting_for_recovery", True),
        (1, 0x52, "feed_button", True),
        (2, 0x16, "cover_open", True),
        (2, 0x1A, "feeding_by_button", True),
        (2, 0x32, "stopped_by_paper_end", True),
        (2, 0x52, "error", True),
        (3, 0x16, "mechanical_error", True),
        (3, 0x1A, "autocutter_error", True),
        (3, 0x32, "unrecoverable_error", True),
        (3, 0x52, "auto_recoverable_error", True),
        (4, 0x1E, "paper", PaperState.NEAR_END),
        (4, 0x72, "paper", PaperState.OUT),
        (4, 0x7E, "paper", PaperState.OUT),
    ],
)
def test_each_bit(n: int, byte: int, field: str, value: object) -> None:
    status = decode_realtime(with_reply(n, byte))
    assert getattr(status, field) == value
    # and nothing else moved away from healthy
    healthy = decode_realtime(HEALTHY)
    for other in (
        "online",
        "cover_open",
        "paper",
        "mechanical_error",
        "autocutter_error",
        "unrecoverable_error",
        "auto_recoverable_error",
        "drawer_pin_high",
        "feed_button",
        "feeding_by_button",
        "stopped_by_paper_end",
        "error",
        "waiting_for_recovery",
    ):
        if other != field:
            assert getattr(status, other) == getattr(healthy, other), other


def test_paper_out_as_epson_sends_it() -> None:
    status = decode_realtime({1: 0x1A, 2: 0x32, 3: 0x12, 4: 0x7E})
    assert status.online is False
    assert status.stopped_by_paper_end is True
    assert status.paper is PaperState.OUT
    assert status.severity is Severity.CRITICAL
    assert "paper out" in status.summary()


def test_near_end_is_a_warning() -> None:
    status = decode_realtime(with_reply(4, 0x1E))
    assert status.severity is Severity.WARNING


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_silence_is_unknown_never_ok(n: int) -> None:
    status = decode_realtime(with_reply(n, None))
    assert status.severity is Severity.UNKNOWN
    assert "unknown" in status.summary()


@pytest.mark.parametrize("byte", [0x00, 0x10, 0x13, 0x11, 0x92, 0xFF, 0x02, 0x80 | 0x12])
@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_malformed_byte_is_unknown(n: int, byte: int) -> None:
    """A byte without the fixed bits 0xx1xx10 is not a DLE EOT reply."""
    status = decode_realtime(with_reply(n, byte))
    assert status.severity is Severity.UNKNOWN


@pytest.mark.parametrize("byte", [0x16, 0x1A, 0x52, 0x5A])
def test_half_set_paper_pair_is_unknown(byte: int) -> None:
    assert decode_realtime(with_reply(4, byte)).paper is PaperState.UNKNOWN


def test_critical_beats_unknown() -> None:
    """A known fault is reported even when other fields could not be read."""
    status = decode_realtime({1: None, 2: None, 3: None, 4: 0x7E})
    assert status.severity is Severity.CRITICAL


def test_nothing_known() -> None:
    status = decode_realtime({})
    assert status == PrinterStatus(raw=status.raw, read_at=status.read_at)
    assert status.summary() == "no answer from the printer (status unknown)"


# -- Automatic Status Back ----------------------------------------------------------------
def test_asb_all_clear() -> None:
    status = decode_asb(bytes([0x10, 0x00, 0x00, 0x00]))
    assert status.severity is Severity.OK
    assert status.source == "asb"


@pytest.mark.parametrize(
    ("block", "field", "value"),
    [
        ((0x14, 0, 0, 0), "drawer_pin_high", True),
        ((0x18, 0, 0, 0), "online", False),
        ((0x30, 0, 0, 0), "cover_open", True),
        ((0x50, 0, 0, 0), "feeding_by_button", True),
        ((0x10, 0x01, 0, 0), "waiting_for_recovery", True),
        ((0x10, 0x04, 0, 0), "mechanical_error", True),
        ((0x10, 0x08, 0, 0), "autocutter_error", True),
        ((0x10, 0x20, 0, 0), "unrecoverable_error", True),
        ((0x10, 0x40, 0, 0), "auto_recoverable_error", True),
        ((0x10, 0, 0x03, 0), "paper", PaperState.NEAR_END),
        ((0x10, 0, 0x0C, 0), "paper", PaperState.OUT),
        ((0x10, 0, 0x0F, 0), "paper", PaperState.OUT),
    ],
)
def test_asb_each_bit(block: tuple[int, ...], field: str, value: object) -> None:
    assert getattr(decode_asb(bytes(block)), field) == value


@pytest.mark.parametrize(
    "block",
    [
        b"",
        b"\x10\x00\x00",
        b"\x12\x00\x00\x00",
        b"\x10\x10\x00\x00",
        b"\x10\x00\x80\x00",
        b"\x10\x00\x00\x00\x00",
    ],
)
def test_asb_malformed_is_unknown(block: bytes) -> None:
    assert decode_asb(block).severity is Severity.UNKNOWN


def test_transmit_status_paper() -> None:
    assert decode_transmit_paper(0x00) is PaperState.OK
    assert decode_transmit_paper(0x03) is PaperState.NEAR_END
    assert decode_transmit_paper(0x0C) is PaperState.OUT
    assert decode_transmit_paper(0x0F) is PaperState.OUT
    assert decode_transmit_paper(0x12) is PaperState.UNKNOWN
    assert decode_transmit_paper(None) is PaperState.UNKNOWN


def test_merge_keeps_known_fields() -> None:
    queried = decode_realtime(HEALTHY)
    pushed = decode_asb(bytes([0x10, 0x00, 0x03, 0x00]))
    merged = queried.merged(pushed)
    assert merged.paper is PaperState.NEAR_END
    assert merged.online is True
    assert merged.severity is Severity.WARNING


def test_drawer_polarity_is_configurable() -> None:
    status = decode_realtime(with_reply(1, 0x16))
    assert status.drawer_open() is True
    assert status.drawer_open(open_when_pin_high=False) is False


# -- never crash ---------------------------------------------------------------------------
@given(st.dictionaries(st.integers(-5, 10), st.one_of(st.none(), st.integers(-300, 300))))
def test_realtime_decoder_never_raises(replies: dict[int, int | None]) -> None:
    status = decode_realtime(replies)
    assert status.severity in Severity
    status.summary()
    status.as_dict()


@given(st.binary(max_size=8))
def test_asb_decoder_never_raises(block: bytes) -> None:
    status = decode_asb(block)
    assert status.severity in Severity
    if len(block) != 4:
        assert status.severity is Severity.UNKNOWN


@given(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255), st.integers(0, 255))
def test_every_well_formed_reply_decodes_known(b1: int, b2: int, b3: int, b4: int) -> None:
    replies = {
        1: (b1 & 0x6C) | 0x12,
        2: (b2 & 0x6C) | 0x12,
        3: (b3 & 0x6C) | 0x12,
        4: 0x12 | (0x0C if b4 & 1 else 0) | (0x60 if b4 & 2 else 0),
    }
    status = decode_realtime(replies)
    assert status.online is not None
    assert status.paper is not PaperState.UNKNOWN
