"""Serial framing: DLE stuffing, raw CRC bytes, and a reader that survives any split."""

from __future__ import annotations

import random

import pytest

from posdriver.terminal.zvt.apdu import Apdu
from posdriver.terminal.zvt.crc import crc_bytes
from posdriver.terminal.zvt.errors import ZvtCodecError
from posdriver.terminal.zvt.frame import (
    MAX_FRAME_DATA,
    BadFrame,
    Control,
    Event,
    Frame,
    FrameReader,
    Noise,
    decode_frame,
    encode_frame,
)
from tests.support.zvt_vectors import (
    CRC_DLE_FRAME,
    CRC_LOOKALIKES,
    PAYMENT_FRAME,
    STUFFED_LENGTH_PREFIX,
)


def hx(text: str) -> bytes:
    return bytes.fromhex(text)


# 06 01, amount 10.00 EUR: the 0x10 of the amount is stuffed to 10 10 on the wire.
PAYMENT_WIRE = PAYMENT_FRAME.wire
PAYMENT = Apdu(PAYMENT_FRAME.cls, PAYMENT_FRAME.instr, PAYMENT_FRAME.data)
# A frame whose CRC low byte is 0x10: sent raw, not stuffed.
CRC_DLE_WIRE = CRC_DLE_FRAME.wire
CRC_DLE = Apdu(CRC_DLE_FRAME.cls, CRC_DLE_FRAME.instr, CRC_DLE_FRAME.data)
# APDUs whose two CRC bytes (as sent) would look like DLE sequences if a reader unstuffed
# them: CRC_LOOKALIKES.
ACK_APDU = Apdu(0x80, 0x00)


def frames(events: list[Event]) -> list[bytes]:
    return [e.raw for e in events if isinstance(e, Frame)]


def feed_all(chunks: list[bytes], reader: FrameReader | None = None) -> list[Event]:
    reader = reader or FrameReader()
    events: list[Event] = []
    for chunk in chunks:
        events += reader.feed(chunk)
    return events


def merge_noise(events: list[Event]) -> list[Event]:
    """Adjacent Noise events joined: where a split falls may cut noise in two."""
    merged: list[Event] = []
    for event in events:
        if isinstance(event, Noise) and merged and isinstance(merged[-1], Noise):
            merged[-1] = Noise(merged[-1].data + event.data)
        else:
            merged.append(event)
    return merged


# -- encoding ---------------------------------------------------------------------------
def test_payment_vector_stuffs_the_dle_inside_the_apdu() -> None:
    assert encode_frame(PAYMENT) == PAYMENT_WIRE
    assert encode_frame(PAYMENT.encode()) == PAYMENT_WIRE  # raw bytes give the same frame


def test_crc_bytes_are_sent_raw_even_when_one_is_dle() -> None:
    assert encode_frame(CRC_DLE) == CRC_DLE_WIRE
    assert CRC_DLE_WIRE.endswith(b"\x10\x03\x18\x10")  # not 18 10 10


@pytest.mark.parametrize(("raw", "crc"), CRC_LOOKALIKES)
def test_crc_lookalikes_encode_raw_and_decode(raw: bytes, crc: bytes) -> None:
    wire = encode_frame(raw)
    assert wire == b"\x10\x02" + raw + b"\x10\x03" + crc
    assert decode_frame(wire).encode() == raw


def test_stuffing_is_not_counted_in_length_or_crc() -> None:
    apdu = Apdu(0x06, 0xD1, b"\x10" * 5)
    wire = encode_frame(apdu)
    assert wire[4] == 5  # the APDU length counts the five data bytes once
    assert wire.count(b"\x10\x10") == 5
    assert wire[-2:] == crc_bytes(apdu.encode() + b"\x03")


def test_a_length_byte_of_0x10_is_stuffed_too() -> None:
    apdu = Apdu(0x06, 0xD1, bytes(16))
    wire = encode_frame(apdu)
    assert wire[:6] == STUFFED_LENGTH_PREFIX
    assert decode_frame(wire) == apdu


# -- decoding ---------------------------------------------------------------------------
def test_decode_reference_vectors() -> None:
    assert decode_frame(PAYMENT_WIRE) == PAYMENT
    assert decode_frame(CRC_DLE_WIRE) == CRC_DLE


def test_reader_yields_frame_with_unstuffed_bytes() -> None:
    events = FrameReader().feed(PAYMENT_WIRE)
    assert events == [Frame(PAYMENT.encode())]
    assert isinstance(events[0], Frame) and events[0].apdu() == PAYMENT


def test_frame_apdu_with_wrong_length_field_is_a_codec_error() -> None:
    raw = hx("06 01 05 04 00")  # announces 5, carries 2; the CRC itself is fine
    (event,) = FrameReader().feed(encode_frame(raw))
    assert event == Frame(raw)
    assert isinstance(event, Frame)
    with pytest.raises(ZvtCodecError, match="announces 5 data bytes but carries 2"):
        event.apdu()


def stream() -> tuple[bytes, list[Event]]:
    """Two frames with ACK/NAK around them, DLE both inside an APDU and a CRC."""
    wire = b"\x06" + PAYMENT_WIRE + b"\x15" + CRC_DLE_WIRE + b"\x06" + encode_frame(ACK_APDU)
    expected: list[Event] = [
        Control(0x06),
        Frame(PAYMENT.encode()),
        Control(0x15),
        Frame(CRC_DLE.encode()),
        Control(0x06),
        Frame(ACK_APDU.encode()),
    ]
    return wire, expected


def test_acks_and_naks_between_frames() -> None:
    wire, expected = stream()
    events = FrameReader().feed(wire)
    assert events == expected
    acks = [e for e in events if isinstance(e, Control)]
    assert [a.is_ack for a in acks] == [True, False, True]


def test_one_byte_at_a_time() -> None:
    wire, expected = stream()
    reader = FrameReader()
    events: list[Event] = []
    for index, byte in enumerate(wire):
        got = reader.feed(bytes([byte]))
        events += got
        # A frame is reported on its last CRC byte, not before.
        for event in got:
            if isinstance(event, Frame):
                assert not reader.in_frame, index
    assert events == expected


def test_split_at_every_boundary() -> None:
    wire, expected = stream()
    for cut in range(len(wire) + 1):
        assert feed_all([wire[:cut], wire[cut:]]) == expected, cut


def test_random_chunks() -> None:
    wire, expected = stream()
    rng = random.Random(3)
    for _ in range(200):
        chunks, rest = [], wire
        while rest:
            size = rng.randint(0, 7)
            chunks.append(rest[:size])
            rest = rest[size:]
        assert feed_all(chunks) == expected


def test_noise_before_a_frame_is_reported_then_the_frame() -> None:
    events = FrameReader().feed(b"\x00\xffgarbage" + PAYMENT_WIRE)
    assert events == [Noise(b"\x00\xffgarbage"), Frame(PAYMENT.encode())]


def test_noise_with_dles_before_a_frame() -> None:
    # A lone DLE, a DLE with junk, and DLE DLE STX: the last DLE STX starts the frame.
    events = FrameReader().feed(hx("10 41 10 10") + PAYMENT_WIRE)
    assert merge_noise(events) == [Noise(hx("10 41 10 10")), Frame(PAYMENT.encode())]


def test_trailing_noise_is_reported_when_the_chunk_ends() -> None:
    reader = FrameReader()
    assert reader.feed(b"xyz") == [Noise(b"xyz")]
    assert not reader.in_frame


def test_stray_dle_does_not_swallow_the_next_ack() -> None:
    # A peer that stuffs a 0x10 CRC byte sends one DLE too many after the frame; the
    # acknowledgement that comes later must still be seen.
    reader = FrameReader()
    assert reader.feed(CRC_DLE_WIRE + b"\x10") == [Frame(CRC_DLE.encode())]
    assert reader.feed(b"\x06") == [Noise(b"\x10"), Control(0x06)]
    assert reader.feed(b"\x10\x15") == [Noise(b"\x10"), Control(0x15)]
    assert reader.feed(PAYMENT_WIRE) == [Frame(PAYMENT.encode())]


def test_restart_mid_frame_drops_the_partial_and_reads_the_new_one() -> None:
    partial = PAYMENT_WIRE[:9]
    events = FrameReader().feed(partial + CRC_DLE_WIRE)
    assert len(events) == 2
    assert isinstance(events[0], BadFrame) and "restarted" in events[0].reason
    assert events[1] == Frame(CRC_DLE.encode())


def test_dle_followed_by_an_invalid_byte_is_a_bad_frame_then_the_reader_recovers() -> None:
    reader = FrameReader()
    events = reader.feed(hx("10 02 06 01 10 41"))
    assert len(events) == 1
    assert isinstance(events[0], BadFrame) and "DLE followed by 41" in events[0].reason
    assert not reader.in_frame
    assert reader.feed(PAYMENT_WIRE) == [Frame(PAYMENT.encode())]


def test_bad_crc() -> None:
    broken = PAYMENT_WIRE[:-1] + bytes([PAYMENT_WIRE[-1] ^ 0x01])
    reader = FrameReader()
    events = reader.feed(broken)
    assert len(events) == 1
    assert isinstance(events[0], BadFrame)
    assert "76 09 does not match 76 08" in events[0].reason
    assert reader.feed(PAYMENT_WIRE) == [Frame(PAYMENT.encode())]
    with pytest.raises(ZvtCodecError, match="does not match"):
        decode_frame(broken)


def test_a_flipped_data_byte_fails_the_crc() -> None:
    wire = bytearray(PAYMENT_WIRE)
    wire[6] ^= 0x01
    events = FrameReader().feed(bytes(wire))
    assert len(events) == 1 and isinstance(events[0], BadFrame)


def test_oversize_frame() -> None:
    reader = FrameReader(max_data=8)
    events = reader.feed(encode_frame(Apdu(0x06, 0xD1, b"\x41" * 6)))  # 9 raw bytes
    assert isinstance(events[0], BadFrame) and "longer than 8 bytes" in events[0].reason
    assert not any(isinstance(e, Frame) for e in events)
    # A frame that fits exactly is fine, and the reader goes on after the oversize one.
    fits = Apdu(0x06, 0xD1, b"\x41" * 5)
    assert reader.feed(encode_frame(fits)) == [Frame(fits.encode())]


def test_default_limit_takes_the_largest_apdu() -> None:
    assert MAX_FRAME_DATA == 0xFFFF + 5
    apdu = Apdu(0x06, 0xD3, (bytes(range(256)) * 256)[:0xFFFF])
    assert FrameReader().feed(encode_frame(apdu)) == [Frame(apdu.encode())]


def test_reset_drops_a_partial_frame_after_t1() -> None:
    reader = FrameReader()
    assert not reader.in_frame
    assert reader.feed(PAYMENT_WIRE[:7]) == []
    assert reader.in_frame
    reader.reset()  # T1 expired: the caller NAKs and forgets the partial frame
    assert not reader.in_frame
    assert reader.feed(CRC_DLE_WIRE) == [Frame(CRC_DLE.encode())]


@pytest.mark.parametrize("cut", [1, 2, len(PAYMENT_WIRE) - 4, len(PAYMENT_WIRE) - 3, -1])
def test_in_frame_until_the_last_crc_byte(cut: int) -> None:
    reader = FrameReader()
    reader.feed(PAYMENT_WIRE[:cut])
    assert reader.in_frame  # DLE, DLE STX, inside data, after DLE, after DLE ETX, one CRC byte


def test_decode_frame_wants_exactly_one_frame() -> None:
    with pytest.raises(ZvtCodecError, match="found 2"):
        decode_frame(PAYMENT_WIRE + PAYMENT_WIRE)
    with pytest.raises(ZvtCodecError, match="found 0"):
        decode_frame(PAYMENT_WIRE[:-1])
    with pytest.raises(ZvtCodecError, match="found 1 among 2"):
        decode_frame(b"\x06" + PAYMENT_WIRE)
