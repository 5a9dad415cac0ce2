"""CRC-16/KERMIT, the checksum of ZVT serial frames, against published check values."""

from __future__ import annotations

import pytest

from posdriver.terminal.zvt.crc import crc16_kermit, crc_bytes


def test_kermit_check_value() -> None:
    # The catalogue check value of CRC-16/KERMIT; true XMODEM would give 0x31C3.
    assert crc16_kermit(b"123456789") == 0x2189
    assert crc16_kermit(b"123456789") != 0x31C3


def test_crc_goes_on_the_wire_low_byte_first() -> None:
    assert crc_bytes(b"123456789") == b"\x89\x21"


def test_empty_input_is_zero() -> None:
    assert crc16_kermit(b"") == 0
    assert crc_bytes(b"") == b"\x00\x00"


@pytest.mark.parametrize(
    ("apdu_hex", "crc_hex"),
    [
        # 06 01 amount 10.00 EUR (from the reference capture); covers APDU + ETX
        ("06 01 0C 04 00 00 00 00 10 00 49 09 78 06 00", "76 08"),
        # a computed vector whose CRC low byte is 0x10
        ("06 01 07 04 00 00 00 00 00 59", "18 10"),
    ],
)
def test_reference_frame_checksums(apdu_hex: str, crc_hex: str) -> None:
    assert crc_bytes(bytes.fromhex(apdu_hex) + b"\x03") == bytes.fromhex(crc_hex)


def test_every_bit_counts() -> None:
    data = bytes(range(32))
    base = crc16_kermit(data)
    for index in range(len(data)):
        for bit in range(8):
            flipped = bytearray(data)
            flipped[index] ^= 1 << bit
            assert crc16_kermit(bytes(flipped)) != base
