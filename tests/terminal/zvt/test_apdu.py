"""APDUs: the one-byte and FF lo hi lengths, exact decoding, and TCP reassembly."""

from __future__ import annotations

import random

import pytest

from posdriver.terminal.zvt.apdu import (
    ACK,
    Apdu,
    ApduStream,
    decode_apdu,
    encode_apdu,
    encode_length,
    header_size,
    nack,
)
from posdriver.terminal.zvt.errors import ZvtCodecError
from tests.support.zvt_vectors import (
    ABORT_APDU,
    ACK_APDU,
    EXTENDED_1,
    EXTENDED_256,
    LENGTH_FIELDS,
    LENGTH_MISMATCHES,
    PAYMENT_APDU,
    SHORT_HEADERS,
    UNSUPPORTED_APDU,
)


def hx(text: str) -> bytes:
    return bytes.fromhex(text)


def test_short_length() -> None:
    assert Apdu(0x06, 0x01, PAYMENT_APDU.data).encode() == PAYMENT_APDU.wire
    assert Apdu(0x06, 0xB0).encode() == ABORT_APDU.wire


def test_extended_length_is_little_endian() -> None:
    # Published vectors: FF 01 00 is a length of 1, FF 00 01 a length of 256.
    assert decode_apdu(EXTENDED_1.wire) == Apdu(0x04, 0x0F, b"\x6c")
    data = EXTENDED_256.data
    raw = EXTENDED_256.wire
    assert decode_apdu(raw) == Apdu(0x04, 0x0F, data)
    assert Apdu(0x04, 0x0F, data).encode() == raw


@pytest.mark.parametrize(("size", "field"), LENGTH_FIELDS)
def test_length_boundaries(size: int, field: bytes) -> None:
    assert encode_length(size) == field
    raw = encode_apdu(Apdu(0x06, 0xD3, bytes(size)))
    assert raw[2:].startswith(field)
    assert decode_apdu(raw).data == bytes(size)


def test_too_long_data_is_refused() -> None:
    with pytest.raises(ZvtCodecError, match="exceeds the 65535-byte maximum"):
        encode_apdu(Apdu(0x06, 0xD3, bytes(0x10000)))
    with pytest.raises(ZvtCodecError):
        encode_length(-1)


@pytest.mark.parametrize(("cls", "instr"), [(0x100, 0), (0, -1), (-1, 0), (0, 0x100)])
def test_class_and_instruction_must_be_bytes(cls: int, instr: int) -> None:
    with pytest.raises(ZvtCodecError, match="out of range"):
        encode_apdu(Apdu(cls, instr))


def test_answers() -> None:
    assert ACK.encode() == ACK_APDU.wire
    assert ACK.is_ack and not ACK.is_nack
    assert Apdu(0x84, 0x00).is_ack  # 84 00 also means positive
    refused = nack(0x83)
    assert refused.encode() == UNSUPPORTED_APDU.wire
    assert refused.is_nack and not refused.is_ack
    assert refused.code == (0x84, 0x83)
    assert not Apdu(0x06, 0x0F).is_ack and not Apdu(0x06, 0x0F).is_nack


def test_str_shows_code_and_size_not_data() -> None:
    apdu = Apdu(0x04, 0x0F, hx("22 F1 F6 47 61 73 00 00 00 01 19"))
    assert str(apdu) == "04 0F [11]"


@pytest.mark.parametrize(
    ("raw", "message"),
    [(raw, "shorter than its header") for raw in SHORT_HEADERS]
    + [
        (raw, f"announces {said} data bytes but carries {came}")
        for raw, said, came in LENGTH_MISMATCHES
    ],
)
def test_decode_length_mismatch(raw: bytes, message: str) -> None:
    with pytest.raises(ZvtCodecError, match=message):
        decode_apdu(raw)


def test_header_size() -> None:
    assert header_size(b"\x06\x01") is None
    assert header_size(hx("06 01 07")) == (3, 7)
    assert header_size(hx("06 01 FF 00")) is None
    assert header_size(hx("06 01 FF 00 01")) == (5, 256)


# -- TCP reassembly ---------------------------------------------------------------------
SEQUENCE = [
    Apdu(0x80, 0x00),
    Apdu(0x04, 0xFF, hx("01 0A")),
    Apdu(0x04, 0x0F, bytes(range(256)) + bytes(44)),  # extended length
    Apdu(0x06, 0x0F),
    Apdu(0x06, 0xD3, bytes(255)),  # FF FF 00
]
WIRE = b"".join(a.encode() for a in SEQUENCE)


def test_stream_of_back_to_back_apdus() -> None:
    stream = ApduStream()
    assert stream.feed(WIRE) == SEQUENCE
    assert stream.pending == 0


def test_stream_byte_by_byte() -> None:
    stream = ApduStream()
    got: list[Apdu] = []
    for byte in WIRE:
        got += stream.feed(bytes([byte]))
    assert got == SEQUENCE


def test_stream_split_at_every_boundary() -> None:
    for cut in range(len(WIRE) + 1):
        stream = ApduStream()
        assert stream.feed(WIRE[:cut]) + stream.feed(WIRE[cut:]) == SEQUENCE, cut


def test_stream_random_splits() -> None:
    rng = random.Random(7)
    for _ in range(100):
        stream, rest, got = ApduStream(), WIRE, []
        while rest:
            size = rng.randint(0, 40)
            got += stream.feed(rest[:size])
            rest = rest[size:]
        assert got == SEQUENCE


def test_stream_pending_and_reset() -> None:
    stream = ApduStream()
    assert stream.feed(hx("04 FF FF 00")) == []
    assert stream.pending == 4  # the extended header is not complete yet
    stream.reset()  # the link dropped: a new connection starts clean
    assert stream.pending == 0
    assert stream.feed(hx("80 00 00")) == [ACK]
