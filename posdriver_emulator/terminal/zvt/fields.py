"""The BMPs a terminal reads from commands and writes into its answers (PA00P015 §3.1.1).

A data block is a run of ``<id><value>`` with nothing between them, and only the id
tells how long its value is: a fixed size, an ``Fx Fy`` (LLVAR) or ``Fx Fy Fz``
(LLLVAR) length in front, or a BER length for BMP 06. An id the table does not know
cannot be stepped over, so it ends the reading with :class:`CodecError`; the terminal
answers such a command ``84 9A`` (protocol error).

Numbers are packed BCD, two digits a byte, most significant first (10.00 is the amount
``00 00 00 00 10 00``). Text is the ZVT 8-bit character set, code page 437, and a fixed
text field is padded with NUL bytes.

Values, by form: ``byte`` an int; ``bcd`` an int (BMP 87 ``FF FF``, "no receipt number",
is ``None``); ``digits`` a string of digits (times, dates, the terminal id); ``text`` a
string; ``bytes`` raw bytes; ``ll`` / ``lll`` raw bytes, or a string where the field is
text, and for BMP 22 the card number as digits with ``E`` for each masked one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .apdu import CodecError
from .tlv import Tlv, container, decode_items, read_ber_length

TEXT_ENCODING = "cp437"
NO_RECEIPT = b"\xff\xff"  # BMP 87 without a receipt number


@dataclass(frozen=True)
class Bmp:
    ident: int
    name: str
    form: str  # byte | bcd | digits | text | bytes | ll | lll | tlv
    size: int = 0  # of the fixed forms
    text: bool = False  # an ll / lll field that holds text
    pan: bool = False  # BMP 22: BCD digits, E masked, F padding


def _row(ident: int, name: str, form: str, size: int = 0, **flags: bool) -> tuple[int, Bmp]:
    return ident, Bmp(ident, name, form, size, **flags)


# fmt: off
BMPS: dict[int, Bmp] = dict((
    _row(0x01, "timeout", "byte", 1),
    _row(0x02, "max_status_infos", "byte", 1),
    _row(0x03, "service_byte", "byte", 1),
    _row(0x04, "amount", "bcd", 6),
    _row(0x05, "pump_no", "byte", 1),
    _row(0x06, "tlv", "tlv"),
    _row(0x0B, "trace", "bcd", 3),
    _row(0x0C, "time", "digits", 3),
    _row(0x0D, "date", "digits", 2),
    _row(0x0E, "expiry", "digits", 2),
    _row(0x17, "card_sequence_no", "bcd", 2),
    _row(0x19, "payment_type", "byte", 1),
    _row(0x22, "pan", "ll", pan=True),
    _row(0x23, "track_2", "ll"),
    _row(0x24, "track_3", "lll"),
    _row(0x27, "result_code", "byte", 1),
    _row(0x29, "terminal_id", "digits", 4),
    _row(0x2A, "vu_number", "text", 15),
    _row(0x2D, "track_1", "ll"),
    _row(0x2E, "sync_chip_data", "lll"),
    _row(0x37, "original_trace", "bcd", 3),
    _row(0x3A, "cvv", "bytes", 2),
    _row(0x3B, "approval_code", "text", 8),
    _row(0x3C, "additional_text", "lll", text=True),
    _row(0x3D, "password", "digits", 3),
    _row(0x49, "currency", "bcd", 2),
    _row(0x60, "individual_totals", "lll"),
    _row(0x87, "receipt_no", "bcd", 2),
    _row(0x88, "turnover_no", "bcd", 3),
    _row(0x8A, "card_type", "byte", 1),
    _row(0x8B, "card_name", "ll", text=True),
    _row(0x8C, "network_card_type", "byte", 1),
    _row(0x92, "ec_cash_data", "lll"),
    _row(0x9A, "geldkarte_data", "lll"),
    _row(0xA0, "result_code_as", "byte", 1),
    _row(0xA7, "chip_data", "ll"),
    _row(0xAA, "date_yymmdd", "digits", 3),
    _row(0xAF, "ef_info", "lll"),
    _row(0xBA, "aid_parameter", "bytes", 5),
    _row(0xD0, "algorithm_key", "byte", 1),
    _row(0xD1, "card_offset", "ll"),
    _row(0xD2, "direct_debit", "byte", 1),
    _row(0xE0, "pin_min_length", "byte", 1),
    *(_row(n, f"receipt_line_{n - 0xE0}", "ll", text=True) for n in range(0xE1, 0xE9)),
    _row(0xF0, "display_duration", "byte", 1),
    *(_row(n, f"display_line_{n - 0xF0}", "ll", text=True) for n in range(0xF1, 0xF9)),
))
# fmt: on
PREFIX_DIGITS = {"ll": 2, "lll": 3}


# -- BCD and the Fx length prefixes ---------------------------------------------------------
def to_bcd(value: int | str, size: int) -> bytes:
    """``value`` in ``size`` bytes of packed BCD, zeros in front."""
    digits = value if isinstance(value, str) else str(value)
    if not (digits.isascii() and digits.isdigit()):
        raise CodecError(f"{value!r} is not a number of decimal digits")
    if len(digits) > 2 * size:
        raise CodecError(f"{value!r} has more digits than {size} BCD bytes hold")
    return bytes.fromhex(digits.zfill(2 * size))


def bcd_digits(raw: bytes) -> str:
    digits = raw.hex()
    if not digits.isdigit():
        raise CodecError(f"BCD {raw.hex(' ')} has a nibble above 9")
    return digits


def bcd_number(raw: bytes) -> int:
    return int(bcd_digits(raw)) if raw else 0


def length_prefix(size: int, digits: int) -> bytes:
    """``F0 F3`` for 3 (LLVAR), ``F0 F1 F0`` for 10 (LLLVAR)."""
    if not 0 <= size < 10**digits:
        raise CodecError(f"{size} bytes do not fit a {digits}-digit Fx length")
    return bytes(0xF0 + int(d) for d in str(size).zfill(digits))


def read_length_prefix(data: bytes, at: int, digits: int) -> int:
    if at + digits > len(data):
        raise CodecError(f"the {digits}-digit Fx length at offset {at} stops short")
    size = 0
    for byte in data[at : at + digits]:
        if byte >> 4 != 0xF or byte & 0x0F > 9:
            raise CodecError(f"length byte {byte:02X} at offset {at} is not F0..F9")
        size = size * 10 + (byte & 0x0F)
    return size


def _text(raw: bytes) -> str:
    return raw.split(b"\x00", 1)[0].decode(TEXT_ENCODING)


# -- reading ---------------------------------------------------------------------------------
def decode_fields(data: bytes) -> dict[int, Any]:
    """Every BMP of a data block by id, in the order they came."""
    fields: dict[int, Any] = {}
    at = 0
    while at < len(data):
        bmp = BMPS.get(data[at])
        if bmp is None:
            raise CodecError(f"BMP {data[at]:02X} at offset {at} is not one this terminal knows")
        at += 1
        if bmp.form == "tlv":
            size, at = read_ber_length(data, at)
        elif bmp.form in PREFIX_DIGITS:
            digits = PREFIX_DIGITS[bmp.form]
            size = read_length_prefix(data, at, digits)
            at += digits
        else:
            size = bmp.size
        if at + size > len(data):
            raise CodecError(
                f"BMP {bmp.ident:02X} ({bmp.name}) wants {size} bytes, {len(data) - at} are left"
            )
        fields[bmp.ident] = _value(bmp, bytes(data[at : at + size]))
        at += size
    return fields


def _value(bmp: Bmp, raw: bytes) -> Any:
    form = bmp.form
    if form == "tlv":
        return decode_items(raw)
    if form == "byte":
        return raw[0]
    if form == "bcd":
        return None if bmp.ident == 0x87 and raw == NO_RECEIPT else bcd_number(raw)
    if form == "digits":
        return bcd_digits(raw)
    if form == "text" or bmp.text:
        return _text(raw)
    if bmp.pan:
        return raw.hex().upper().rstrip("F")
    return raw


# -- writing ---------------------------------------------------------------------------------
def encode_field(ident: int, value: Any) -> bytes:
    """``<id><value>`` for one BMP; the value's type follows its form (see above)."""
    bmp = BMPS.get(ident)
    if bmp is None:
        raise CodecError(f"BMP {ident:02X} is not one this terminal knows")
    if bmp.form == "tlv":
        return bytes([ident]) + container(value)
    if bmp.form in PREFIX_DIGITS:
        raw = _variable(bmp, value)
        return bytes([ident]) + length_prefix(len(raw), PREFIX_DIGITS[bmp.form]) + raw
    raw = _fixed(bmp, value)
    if len(raw) != bmp.size:
        raise CodecError(f"BMP {ident:02X} ({bmp.name}) is {bmp.size} bytes, not {len(raw)}")
    return bytes([ident]) + raw


def _variable(bmp: Bmp, value: Any) -> bytes:
    if bmp.pan:
        digits = str(value).upper()
        if digits.strip("0123456789E"):
            raise CodecError("a card number is digits, with E for each masked one")
        return bytes.fromhex(digits + "F" * (len(digits) % 2))
    if isinstance(value, str):
        return value.encode(TEXT_ENCODING)
    return bytes(value)


def _fixed(bmp: Bmp, value: Any) -> bytes:
    form = bmp.form
    if form == "byte":
        return bytes([value]) if isinstance(value, int) else bytes(value)
    if form == "bcd":
        return NO_RECEIPT if bmp.ident == 0x87 and value is None else to_bcd(value, bmp.size)
    if form == "digits":
        return to_bcd(str(value), bmp.size)
    if form == "text":
        return str(value).encode(TEXT_ENCODING)[: bmp.size].ljust(bmp.size, b"\x00")
    return bytes(value)


def encode_fields(fields: Mapping[int, Any] | Iterable[tuple[int, Any]]) -> bytes:
    """A data block, the BMPs in the order given (a mapping or ``(id, value)`` pairs)."""
    pairs = fields.items() if isinstance(fields, Mapping) else fields
    return b"".join(encode_field(ident, value) for ident, value in pairs)


def tlv_items(fields: Mapping[int, Any]) -> tuple[Tlv, ...]:
    """The TLV elements of BMP 06 in ``fields``; none when it is absent."""
    return tuple(fields.get(0x06, ()))
