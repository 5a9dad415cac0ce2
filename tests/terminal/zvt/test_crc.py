"""CRC-16/KERMIT, the checksum of ZVT serial frames, against published check values."""

from __future__ import annotations

import pytest

from posdriver.terminal.zvt.crc import crc16_kermit, crc_bytes
from tests.support.zvt_vectors import (
    CRC_CHECK_INPUT,
    CRC_CHECK_VALUE,
    CRC_XMODEM_CHECK_VALUE,
    FRAMES,
    FrameVector,
)


def test_kermit_check_value() -> None:
    # The catalogue check value of CRC-16/KERMIT; true XMODEM would give 0x31C3.
    assert crc16_kermit(CRC_CHECK_INPUT) == CRC_CHECK_VALUE
    assert crc16_kermit(CRC_CHECK_INPUT) != CRC_XMODEM_CHECK_VALUE


def test_crc_goes_on_the_wire_low_byte_first() -> None:
    assert crc_bytes(CRC_CHECK_INPUT) == b"\x89\x21"


def test_empty_input_is_zero() -> None:
    assert crc16_kermit(b"") == 0
    assert crc_bytes(b"") == b"\x00\x00"


# 06 01 amount 10.00 EUR (from the reference capture), and a computed vector whose CRC
# low byte is 0x10; the CRC covers APDU + ETX
@pytest.mark.parametrize("frame", FRAMES, ids=lambda f: f.name)
def test_reference_frame_checksums(frame: FrameVector) -> None:
    assert crc_bytes(frame.apdu + b"\x03") == frame.crc


def test_every_bit_counts() -> None:
    data = bytes(range(32))
    base = crc16_kermit(data)
    for index in range(len(data)):
        for bit in range(8):
            flipped = bytearray(data)
            flipped[index] ^= 1 << bit
            assert crc16_kermit(bytes(flipped)) != base
