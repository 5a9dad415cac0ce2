"""Packed BCD, the way ZVT carries amounts, numbers, dates and passwords.

Two decimal digits per byte, most significant first: 10.00 EUR is ``00 00 00 00 10 00``
(six bytes, twelve digits, minor units). A nibble above 9 is not a digit; decoding
refuses it instead of guessing.
"""

from __future__ import annotations

from .errors import ZvtCodecError


def encode_bcd(value: int | str, size: int) -> bytes:
    """``value`` as ``size`` bytes of BCD, left-padded with zeros."""
    digits = str(value) if isinstance(value, str) else f"{value:d}"
    if not digits.isdigit() or not digits.isascii():
        raise ZvtCodecError(f"{value!r} is not a non-negative decimal number")
    if len(digits) > size * 2:
        raise ZvtCodecError(f"{value!r} does not fit in {size} BCD bytes")
    return bytes.fromhex(digits.rjust(size * 2, "0"))


def decode_bcd_digits(data: bytes) -> str:
    """The digits of a BCD field as text (leading zeros kept)."""
    text = data.hex()
    if not text.isdigit():
        raise ZvtCodecError(f"BCD field {data.hex(' ')} holds a nibble that is not a digit")
    return text


def decode_bcd(data: bytes) -> int:
    """A BCD field as an integer."""
    return int(decode_bcd_digits(data) or "0")


def encode_var_length(length: int, digits: int) -> bytes:
    """The ``Fx Fy`` (LLVAR) or ``Fx Fy Fz`` (LLLVAR) length prefix."""
    if length < 0 or length >= 10**digits:
        raise ZvtCodecError(f"length {length} does not fit a {'L' * digits}VAR prefix")
    return bytes(0xF0 | int(d) for d in str(length).rjust(digits, "0"))


def decode_var_length(data: bytes, offset: int, digits: int) -> int:
    """Read an LLVAR / LLLVAR length prefix at ``offset``."""
    if offset + digits > len(data):
        raise ZvtCodecError(f"{'L' * digits}VAR length at offset {offset} is cut short")
    value = 0
    for byte in data[offset : offset + digits]:
        if byte & 0xF0 != 0xF0 or byte & 0x0F > 9:
            raise ZvtCodecError(
                f"{'L' * digits}VAR length byte {byte:02X} at offset {offset} is not Fx"
            )
        value = value * 10 + (byte & 0x0F)
    return value
