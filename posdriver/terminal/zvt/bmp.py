"""The BMP table: ZVT's data fields, one readable row each (PA00P015 §3.1.1, §13).

A data block is a sequence of ``<BMP id><value>``; the id alone says how long the value
is (fixed size, ``Fx Fy`` LLVAR, ``Fx Fy Fz`` LLLVAR, or BER for the TLV container), so
an unknown id cannot be skipped and is refused.

Card data is decided here, in the decoder, and nowhere else:

* BMP 22 (PAN) decodes to :class:`MaskedPan`, which holds the last four digits at most.
  Only the final bytes of the field are ever turned into digits.
* Track data (23, 24, 2D) and the card verification value (3A) decode to
  :class:`Redacted`, which keeps only the field's length.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ...card import is_last4
from .bcd import decode_bcd, decode_bcd_digits, decode_var_length, encode_bcd, encode_var_length
from .errors import ZvtCodecError
from .tlv import Tlv, decode_tlv, encode_container, read_length

TEXT_ENCODING = "cp437"  # the ZVT 8-bit character set


@dataclass(frozen=True)
class MaskedPan:
    """A card number reduced to what may be kept: its last four digits, if known."""

    last4: str | None

    def __str__(self) -> str:
        return f"****{self.last4}" if self.last4 else "****"


@dataclass(frozen=True)
class Redacted:
    """A field that must never be kept (track data, CVV); only its size survives."""

    size: int

    def __str__(self) -> str:
        return f"<redacted {self.size} bytes>"


@dataclass(frozen=True)
class Bmp:
    """One field: its id, name and how its value is laid out."""

    id: int
    name: str
    layout: str  # bin | bcd | digits | ascii | llvar | lllvar | tlv
    size: int = 0  # fixed size in bytes (bin, bcd, digits, ascii)
    content: str = "bin"  # for llvar/lllvar: bin | ascii | pan | secret
    secret: bool = False  # fixed-size fields that must be redacted


# fmt: off
TABLE: dict[int, Bmp] = {b.id: b for b in (
    Bmp(0x01, "timeout", "bin", 1),
    Bmp(0x02, "max_status_infos", "bin", 1),
    Bmp(0x03, "service_byte", "bin", 1),
    Bmp(0x04, "amount", "bcd", 6),
    Bmp(0x05, "pump_no", "bin", 1),
    Bmp(0x06, "tlv", "tlv"),
    Bmp(0x0B, "trace", "bcd", 3),
    Bmp(0x0C, "time", "digits", 3),
    Bmp(0x0D, "date", "digits", 2),
    Bmp(0x0E, "expiry", "digits", 2, secret=True),
    Bmp(0x17, "card_sequence_no", "bcd", 2),
    Bmp(0x19, "payment_type", "bin", 1),
    Bmp(0x22, "pan", "llvar", content="pan"),
    Bmp(0x23, "track2", "llvar", content="secret"),
    Bmp(0x24, "track3", "lllvar", content="secret"),
    Bmp(0x27, "result_code", "bin", 1),
    Bmp(0x29, "terminal_id", "digits", 4),
    Bmp(0x2A, "vu_number", "ascii", 15),
    Bmp(0x2D, "track1", "llvar", content="secret"),
    Bmp(0x2E, "sync_chip_data", "lllvar"),
    Bmp(0x37, "original_trace", "bcd", 3),
    Bmp(0x3A, "cvv", "bin", 2, secret=True),
    Bmp(0x3B, "approval_code", "ascii", 8),
    Bmp(0x3C, "additional_text", "lllvar", content="ascii"),
    Bmp(0x3D, "password", "digits", 3),
    Bmp(0x49, "currency", "bcd", 2),
    Bmp(0x60, "individual_totals", "lllvar"),
    Bmp(0x87, "receipt_no", "bcd", 2),
    Bmp(0x88, "turnover_no", "bcd", 3),
    Bmp(0x8A, "card_type", "bin", 1),
    Bmp(0x8B, "card_name", "llvar", content="ascii"),
    Bmp(0x8C, "network_card_type", "bin", 1),
    Bmp(0x92, "ec_cash_data", "lllvar"),
    Bmp(0x9A, "geldkarte_data", "lllvar"),
    Bmp(0xA0, "result_code_as", "bin", 1),
    Bmp(0xA7, "chip_data", "llvar"),
    Bmp(0xAA, "date_full", "digits", 3),
    Bmp(0xAF, "ef_info", "lllvar"),
    Bmp(0xBA, "aid_parameter", "bin", 5),
    Bmp(0xD0, "algorithm_key", "bin", 1),
    Bmp(0xD1, "card_offset", "llvar"),
    Bmp(0xD2, "direct_debit", "bin", 1),
    Bmp(0xE0, "pin_min_length", "bin", 1),
    *(Bmp(i, f"text_line_{i - 0xE0}", "llvar", content="ascii") for i in range(0xE1, 0xE9)),
    Bmp(0xF0, "display_duration", "bin", 1),
    *(Bmp(i, f"display_line_{i - 0xF0}", "llvar", content="ascii") for i in range(0xF1, 0xF9)),
)}
# fmt: on
BY_NAME: dict[str, Bmp] = {b.name: b for b in TABLE.values()}
NO_RECEIPT = 0xFFFF  # BMP 87 = FF FF: "no receipt number"


def mask_pan(digits: str) -> MaskedPan:
    """A masked PAN from a digit string that may contain ``E`` (masked) / ``F`` (pad)."""
    tail = digits.upper().rstrip("F")[-4:]
    return MaskedPan(tail if is_last4(tail) else None)


def _decode_pan(value: bytes) -> MaskedPan:
    # Only the last three bytes (six nibbles: four digits plus padding) are looked at,
    # so the leading digits of the number are never assembled anywhere.
    return mask_pan(value[-3:].hex())


def encode_pan(digits: str) -> bytes:
    """BMP 22's value from digits with ``E`` for masked ones (the emulator sends it)."""
    text = digits.upper()
    if any(ch not in "0123456789E" for ch in text):
        raise ZvtCodecError("a PAN holds only digits and E for masked digits")
    if len(text) % 2:
        text += "F"
    return bytes.fromhex(text)


def _text(value: bytes) -> str:
    return value.split(b"\x00", 1)[0].decode(TEXT_ENCODING)


def _decode_fixed(bmp: Bmp, value: bytes) -> Any:
    if bmp.secret:
        return Redacted(len(value))
    if bmp.layout == "bin":
        return value[0] if bmp.size == 1 else value
    if bmp.layout == "bcd":
        if bmp.id == 0x87 and value == b"\xff\xff":
            return None
        return decode_bcd(value)
    if bmp.layout == "digits":
        return decode_bcd_digits(value)
    return _text(value)  # ascii


def _decode_var(bmp: Bmp, value: bytes) -> Any:
    if bmp.content == "pan":
        return _decode_pan(value)
    if bmp.content == "secret":
        return Redacted(len(value))
    if bmp.content == "ascii":
        return _text(value)
    return value


def decode_bmps(data: bytes) -> dict[int, Any]:
    """Every BMP in a data block, by id, in wire order."""
    fields: dict[int, Any] = {}
    offset = 0
    while offset < len(data):
        ident = data[offset]
        bmp = TABLE.get(ident)
        if bmp is None:
            raise ZvtCodecError(f"unknown BMP {ident:02X} at offset {offset}")
        offset += 1
        if bmp.layout == "tlv":
            size, offset = read_length(data, offset)
        elif bmp.layout in ("llvar", "lllvar"):
            digits = 2 if bmp.layout == "llvar" else 3
            size = decode_var_length(data, offset, digits)
            offset += digits
        else:
            size = bmp.size
        if offset + size > len(data):
            raise ZvtCodecError(
                f"BMP {ident:02X} ({bmp.name}) needs {size} bytes, only {len(data) - offset} remain"
            )
        value = bytes(data[offset : offset + size])
        offset += size
        if bmp.layout == "tlv":
            fields[ident] = decode_tlv(value)
        elif bmp.layout in ("llvar", "lllvar"):
            fields[ident] = _decode_var(bmp, value)
        else:
            fields[ident] = _decode_fixed(bmp, value)
    return fields


def encode_bmp(ident: int, value: Any) -> bytes:
    """One ``<id><value>``; the value's Python type follows the table (int, str, bytes,
    a TLV list for 06)."""
    bmp = TABLE.get(ident)
    if bmp is None:
        raise ZvtCodecError(f"unknown BMP {ident:02X}")
    head = bytes([ident])
    if bmp.layout == "tlv":
        items: Iterable[Tlv] = value
        return head + encode_container(items)
    if bmp.layout in ("llvar", "lllvar"):
        if bmp.content == "pan":
            raw = encode_pan(value)
        elif isinstance(value, str):
            raw = value.encode(TEXT_ENCODING)
        else:
            raw = bytes(value)
        digits = 2 if bmp.layout == "llvar" else 3
        return head + encode_var_length(len(raw), digits) + raw
    if bmp.layout == "bin":
        raw = bytes([value]) if isinstance(value, int) else bytes(value)
    elif bmp.layout == "bcd":
        raw = b"\xff\xff" if bmp.id == 0x87 and value is None else encode_bcd(value, bmp.size)
    elif bmp.layout == "digits":
        raw = encode_bcd(str(value), bmp.size)
    else:  # ascii, fixed size, zero padded
        raw = value.encode(TEXT_ENCODING)[: bmp.size].ljust(bmp.size, b"\x00")
    if len(raw) != bmp.size:
        raise ZvtCodecError(f"BMP {ident:02X} ({bmp.name}) takes {bmp.size} bytes, got {len(raw)}")
    return head + raw


def encode_bmps(fields: Mapping[int, Any] | Iterable[tuple[int, Any]]) -> bytes:
    """A data block from ``{id: value}`` (or pairs), in the given order."""
    pairs = fields.items() if isinstance(fields, Mapping) else fields
    return b"".join(encode_bmp(ident, value) for ident, value in pairs)
