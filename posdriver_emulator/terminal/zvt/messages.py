"""The commands a terminal takes from the ECR and the messages it answers with
(PA00P015 §2, §3).

Commands come in through :func:`parse_command`, which knows each command's fixed fields
before its BMPs (:data:`COMMANDS`):

* the password, three BCD bytes (``12 34 56``), for the commands that carry one; Status
  Enquiry's is optional;
* Registration's config byte, then its currency: two BCD bytes *without* the 49 in front,
  after which the service byte (03) and the TLV container (06) may follow.

Everything the terminal sends is built here: intermediate status (04 FF), status
information (04 0F), Completion (06 0F, and its Status Enquiry form), Abort (06 1E), print
lines (06 D1) and text blocks (06 D3).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .apdu import Apdu, CodecError
from .fields import (
    TEXT_ENCODING,
    bcd_digits,
    bcd_number,
    decode_fields,
    encode_fields,
    length_prefix,
    to_bcd,
)
from .tlv import Tlv, find

# the Registration config byte (§2.1): what the ECR asks of the terminal
CFG_ECR_PRINTS_PAYMENT = 0x02
CFG_ECR_PRINTS_ADMIN = 0x04
CFG_INTERMEDIATE_STATUS = 0x08
CFG_PRINT_LINES = 0x80  # receipts come as 06 D1 / 06 D3, not only as 04 0F fields

# the Repeat Receipt service byte
REPEAT_SEND_STATUS = 0x01  # send the last transaction's status information again
REPEAT_DONT_PRINT = 0x02

# messages from the terminal
STATUS_INFORMATION = (0x04, 0x0F)
INTERMEDIATE_STATUS = (0x04, 0xFF)
COMPLETION = (0x06, 0x0F)
ABORT = (0x06, 0x1E)
PRINT_LINE = (0x06, 0xD1)
PRINT_TEXT_BLOCK = (0x06, 0xD3)

# TLV tags the terminal reads or writes
TAG_PERMITTED_COMMANDS = 0x26
TAG_COMMAND = 0x0A
TAG_PRINT_TEXTS = 0x25
TAG_TEXT_LINE = 0x07
TAG_RECEIPT_TYPE = 0x1F07
TAG_VENDOR_ERROR = 0x1F16
TAG_VENDOR_ERROR_TEXT = 0x1F17


@dataclass(frozen=True)
class CommandSpec:
    """One command the terminal runs: its two bytes and what comes before its BMPs."""

    name: str
    code: tuple[int, int]
    password: str = "none"  # none | required | optional
    money: bool = False  # moves money (a payment, a refund, a reversal, a reservation step)


# fmt: off
COMMANDS: dict[str, CommandSpec] = {c.name: c for c in (
    CommandSpec("registration", (0x06, 0x00), "required"),
    CommandSpec("authorisation", (0x06, 0x01), money=True),
    CommandSpec("log_off", (0x06, 0x02)),
    CommandSpec("repeat_receipt", (0x06, 0x20), "required"),
    CommandSpec("pre_authorisation", (0x06, 0x22), money=True),
    CommandSpec("partial_reversal", (0x06, 0x23), money=True),
    CommandSpec("book_total", (0x06, 0x24), money=True),
    CommandSpec("pre_auth_reversal", (0x06, 0x25), money=True),
    CommandSpec("reversal", (0x06, 0x30), "required", money=True),
    CommandSpec("refund", (0x06, 0x31), "required", money=True),
    CommandSpec("end_of_day", (0x06, 0x50), "required"),
    CommandSpec("diagnosis", (0x06, 0x70)),
    CommandSpec("initialisation", (0x06, 0x93), "required"),
    CommandSpec("abort", (0x06, 0xB0)),
    CommandSpec("status_enquiry", (0x05, 0x01), "optional"),
)}
# fmt: on
BY_CODE: dict[tuple[int, int], CommandSpec] = {c.code: c for c in COMMANDS.values()}


class UnknownCommand(CodecError):
    """A command this terminal does not run (it answers ``84 83 00``)."""

    def __init__(self, code: tuple[int, int]) -> None:
        self.code = code
        super().__init__(f"command {code[0]:02X} {code[1]:02X} is not one this terminal runs")


@dataclass(frozen=True)
class Command:
    """A command as the terminal read it."""

    spec: CommandSpec
    password: str | None = None
    config: int | None = None
    currency: int | None = None
    fields: dict[int, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    def tlv(self) -> tuple[Tlv, ...]:
        return tuple(self.fields.get(0x06, ()))


def parse_command(apdu: Apdu) -> Command:
    """Read an ECR command; :class:`UnknownCommand` or :class:`CodecError` if it cannot be."""
    spec = BY_CODE.get(apdu.code)
    if spec is None:
        raise UnknownCommand(apdu.code)
    data = apdu.data
    password = None
    if spec.password == "required" or (spec.password == "optional" and len(data) >= 3):
        if len(data) < 3:
            raise CodecError(f"{spec.name} without its three password bytes")
        password, data = bcd_digits(data[:3]), data[3:]
    if spec.name == "registration":
        return _registration(spec, password, data)
    return Command(spec, password, fields=decode_fields(data))


def _registration(spec: CommandSpec, password: str | None, data: bytes) -> Command:
    """``<config>[<CC>[03 <service>][06 <TLV>]]`` after the password.

    The currency has no 49 in front, and a currency's first byte can look like a BMP id
    (HUF is ``03 48``, RUB ``06 43``). It is read as a currency first; only when the rest
    does not decode that way is the block taken as BMPs straight after the config byte,
    from an ECR that left the currency out.
    """
    if not data:
        raise CodecError("registration without its config byte")
    config, rest = data[0], data[1:]
    if len(rest) >= 2:
        try:
            currency = bcd_number(rest[:2])
            return Command(spec, password, config, currency, decode_fields(rest[2:]))
        except CodecError:
            pass
    return Command(spec, password, config, None, decode_fields(rest))


# -- what the terminal sends ------------------------------------------------------------------
def intermediate_status(status: int, minutes: int | None = None) -> Apdu:
    """``04 FF <status> [<T4 in minutes, BCD>]``."""
    data = bytes([status])
    if minutes is not None:
        data += to_bcd(minutes, 1)
    return Apdu(*INTERMEDIATE_STATUS, data)


def status_information(fields: Mapping[int, Any] | Iterable[tuple[int, Any]]) -> Apdu:
    return Apdu(*STATUS_INFORMATION, encode_fields(fields))


def completion(data: bytes = b"") -> Apdu:
    return Apdu(*COMPLETION, data)


def status_completion(status: int, software: str | None) -> Apdu:
    """Completion of a Status Enquiry: ``[<software version, LLLVAR>] <terminal status>``."""
    data = b""
    if software is not None:
        raw = software.encode(TEXT_ENCODING)
        data = length_prefix(len(raw), 3) + raw
    return completion(data + bytes([status]))


def abort_message(result: int, fields: Mapping[int, Any] | None = None) -> Apdu:
    """``06 1E <result> [BMPs]``: the command ended without success."""
    return Apdu(*ABORT, bytes([result]) + encode_fields(fields or {}))


def print_line(text: str, attribute: int = 0x00) -> Apdu:
    """``06 D1 <attribute> <text>``; attribute 80 marks the receipt's last line."""
    return Apdu(*PRINT_LINE, bytes([attribute]) + text.encode(TEXT_ENCODING, "replace"))


def text_block(lines: Iterable[str], receipt_type: int | None = None) -> Apdu:
    """``06 D3 06 <TLV>``: the receipt type (1F07) if given, then 25 with one 07 a line."""
    texts = Tlv(
        TAG_PRINT_TEXTS,
        children=tuple(Tlv(TAG_TEXT_LINE, ln.encode(TEXT_ENCODING, "replace")) for ln in lines),
    )
    items = [texts]
    if receipt_type is not None:
        items.insert(0, Tlv(TAG_RECEIPT_TYPE, bytes([receipt_type])))
    return Apdu(*PRINT_TEXT_BLOCK, encode_fields({0x06: items}))


def vendor_error(code: int, text: str) -> tuple[Tlv, Tlv]:
    """TLV 1F16 (a two-byte vendor code) and 1F17 (the same in words)."""
    return (
        Tlv(TAG_VENDOR_ERROR, code.to_bytes(2, "big")),
        Tlv(TAG_VENDOR_ERROR_TEXT, text.encode(TEXT_ENCODING, "replace")),
    )


def permitted_commands(items: Iterable[Tlv]) -> set[tuple[int, int]] | None:
    """The commands TLV 26 lets the terminal send (``None``: no list, so no limit)."""
    listed = find(items, TAG_PERMITTED_COMMANDS)
    if listed is None:
        return None
    return {
        (entry.value[0], entry.value[1])
        for entry in listed.children
        if entry.tag == TAG_COMMAND and len(entry.value) == 2
    }
