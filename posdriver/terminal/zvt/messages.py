"""ZVT messages: every command and answer this product uses, as data (PA00P015 §2, §3).

Commands are declared in :data:`COMMANDS` (name, class/instruction, positional fields
before the BMPs). :func:`build` makes an :class:`Apdu` from a name and fields;
:func:`parse_command` reads one back (the emulator's side). Messages from the terminal
have a few positional fields of their own and are read by the ``parse_*`` functions.

Positional fields, in the order they precede the BMPs:

* ``password``: 3 BCD bytes (``123456`` -> ``12 34 56``);
* ``config``: the Registration config byte; ``currency``: the Registration's 2-byte BCD
  currency, positional there (no ``49``), BMP 49 everywhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .apdu import Apdu
from .bcd import decode_bcd, decode_bcd_digits, decode_var_length, encode_bcd
from .bmp import TEXT_ENCODING, decode_bmps, encode_bmps
from .errors import ZvtCodecError
from .tlv import Tlv, find

# Registration config byte (§2.1)
CFG_ECR_PRINTS_PAYMENT = 0x02
CFG_ECR_PRINTS_ADMIN = 0x04
CFG_INTERMEDIATE_STATUS = 0x08
CFG_ECR_CONTROLS_PAYMENT = 0x10
CFG_ECR_CONTROLS_ADMIN = 0x20
CFG_PRINT_LINES = 0x80  # receipts as 06 D1 / 06 D3; clear: build them from 04 0F
DEFAULT_CONFIG = 0xBE  # ECR prints everything, via text blocks, wants 04 FF

# Repeat Receipt service byte: bit 0 = send the last transaction's status information
REPEAT_SEND_STATUS = 0x01
REPEAT_DONT_PRINT = 0x02


@dataclass(frozen=True)
class CommandSpec:
    name: str
    cls: int
    instr: int
    prefix: tuple[str, ...] = ()
    optional_prefix: bool = False  # Status Enquiry: the password may be absent
    requires_completion: bool = True  # False: the command ends with 80 00 alone
    money: bool = False  # moves money: journaled, never resent blindly

    @property
    def code(self) -> tuple[int, int]:
        return (self.cls, self.instr)


# fmt: off
COMMANDS: dict[str, CommandSpec] = {c.name: c for c in (
    CommandSpec("registration", 0x06, 0x00, ("password", "config", "currency")),
    CommandSpec("authorisation", 0x06, 0x01, money=True),
    CommandSpec("log_off", 0x06, 0x02, requires_completion=False),
    CommandSpec("repeat_receipt", 0x06, 0x20, ("password",)),
    CommandSpec("pre_authorisation", 0x06, 0x22, money=True),
    CommandSpec("partial_reversal", 0x06, 0x23, money=True),
    CommandSpec("book_total", 0x06, 0x24, money=True),
    CommandSpec("pre_auth_reversal", 0x06, 0x25, money=True),
    CommandSpec("reversal", 0x06, 0x30, ("password",), money=True),
    CommandSpec("refund", 0x06, 0x31, ("password",), money=True),
    CommandSpec("end_of_day", 0x06, 0x50, ("password",)),
    CommandSpec("diagnosis", 0x06, 0x70),
    CommandSpec("initialisation", 0x06, 0x93, ("password",)),
    CommandSpec("abort", 0x06, 0xB0, requires_completion=False),
    CommandSpec("status_enquiry", 0x05, 0x01, ("password",), optional_prefix=True),
)}
# fmt: on
BY_CODE: dict[tuple[int, int], CommandSpec] = {c.code: c for c in COMMANDS.values()}

STATUS_INFORMATION = (0x04, 0x0F)
INTERMEDIATE_STATUS = (0x04, 0xFF)
COMPLETION = (0x06, 0x0F)
ABORT = (0x06, 0x1E)
PRINT_LINE = (0x06, 0xD1)
PRINT_TEXT_BLOCK = (0x06, 0xD3)

# TLV tags this product reads or writes
TAG_PERMITTED_COMMANDS = 0x26
TAG_COMMAND = 0x0A
TAG_PRINT_TEXTS = 0x25
TAG_TEXT_LINE = 0x07
TAG_ATTRIBUTE = 0x09
TAG_RECEIPT_TYPE = 0x1F07
TAG_VENDOR_ERROR = 0x1F16
TAG_VENDOR_ERROR_TEXT = 0x1F17
TAG_CARD_TYPE = 0x41
TAG_DEVICE_INFO = 0xE4
RECEIPT_TYPES = {1: "merchant", 2: "customer", 3: "administration"}


def encode_password(password: str) -> bytes:
    if len(password) != 6 or not password.isdigit():
        raise ZvtCodecError("the terminal password is six digits, such as 123456")
    return encode_bcd(password, 3)


def build(
    name: str,
    *,
    password: str | None = None,
    config: int | None = None,
    currency: int | None = None,
    bmps: Mapping[int, Any] | None = None,
) -> Apdu:
    """The APDU of command ``name`` with its positional fields and BMPs."""
    spec = COMMANDS.get(name)
    if spec is None:
        raise ZvtCodecError(f"unknown command {name!r}; known: {', '.join(COMMANDS)}")
    head = b""
    if "password" in spec.prefix and (password is not None or not spec.optional_prefix):
        if password is None:
            raise ZvtCodecError(f"{name} needs the terminal password")
        head += encode_password(password)
    if "config" in spec.prefix:
        if config is None or not 0 <= config <= 0xFF:
            raise ZvtCodecError("registration needs a config byte (0..255)")
        head += bytes([config])
    if "currency" in spec.prefix and currency is not None:
        head += encode_bcd(currency, 2)
    elif "currency" in spec.prefix and bmps:
        # <pwd><config>[<CC>[03<svc>][06<TLV>]]: the BMPs follow the currency, and without
        # it a terminal would read "03 xx" / "06 xx" as a currency code.
        raise ZvtCodecError(f"{name}: the service byte and TLV follow the currency; give it")
    return Apdu(spec.cls, spec.instr, head + encode_bmps(bmps or {}))


@dataclass(frozen=True)
class Command:
    """A command as the terminal reads it."""

    spec: CommandSpec
    password: str | None = None
    config: int | None = None
    currency: int | None = None
    fields: dict[int, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    def tlv(self) -> tuple[Tlv, ...]:
        value = self.fields.get(0x06, ())
        return tuple(value)


def parse_command(apdu: Apdu) -> Command:
    """Read a command from the ECR; unknown codes raise :class:`UnknownCommand`."""
    spec = BY_CODE.get(apdu.code)
    if spec is None:
        raise UnknownCommand(apdu.code)
    data = apdu.data
    offset = 0
    password = config = currency = None
    if "password" in spec.prefix and (len(data) >= 3 or not spec.optional_prefix):
        if len(data) < 3:
            raise ZvtCodecError(f"{spec.name}: password missing")
        password = decode_bcd_digits(data[:3])
        offset = 3
    if "config" in spec.prefix:
        if len(data) < offset + 1:
            raise ZvtCodecError(f"{spec.name}: config byte missing")
        config = data[offset]
        offset += 1
    if "currency" in spec.prefix and len(data) >= offset + 2:
        # Whatever follows the config byte starts with the currency (HUF is "03 48", RUB
        # "06 43"); an ECR that leaves it out and sends 03 / 06 straight away is read that
        # way only when the currency reading does not decode.
        try:
            fields = decode_bmps(data[offset + 2 :])
            currency = decode_bcd(data[offset : offset + 2])
            return Command(spec, password, config, currency, fields)
        except ZvtCodecError:
            pass
    return Command(spec, password, config, currency, decode_bmps(data[offset:]))


class UnknownCommand(ZvtCodecError):
    """A class/instruction this terminal does not implement (answered ``84 83 00``)."""

    def __init__(self, code: tuple[int, int]) -> None:
        self.code = code
        super().__init__(f"command {code[0]:02X} {code[1]:02X} is not supported")


# -- messages from the terminal ---------------------------------------------------------
@dataclass(frozen=True)
class Intermediate:
    """``04 FF``: what the terminal shows, and optionally a new T4 in minutes."""

    status: int
    timeout_minutes: int | None = None


def parse_intermediate(data: bytes) -> Intermediate:
    if not data:
        raise ZvtCodecError("intermediate status without its status byte")
    minutes = None
    # A second byte is the new T4 unless it opens a TLV container that decodes ("0A 06"
    # is "insert card, 6 minutes").
    if len(data) >= 2 and not (data[1] == 0x06 and _decodes_as_bmps(data[1:])):
        minutes = decode_bcd(data[1:2])
    return Intermediate(data[0], minutes)


def _decodes_as_bmps(data: bytes) -> bool:
    try:
        decode_bmps(data)
    except ZvtCodecError:
        return False
    return True


def build_intermediate(status: int, timeout_minutes: int | None = None) -> Apdu:
    data = bytes([status])
    if timeout_minutes is not None:
        data += encode_bcd(timeout_minutes, 1)
    return Apdu(*INTERMEDIATE_STATUS, data)


@dataclass(frozen=True)
class AbortMessage:
    """``06 1E``: the command ended without success; ``fields`` after the result byte."""

    result_code: int
    fields: dict[int, Any] = field(default_factory=dict)


def parse_abort(data: bytes) -> AbortMessage:
    if not data:
        return AbortMessage(0x6C)  # an abort without a reason: the spec's generic abort
    return AbortMessage(data[0], decode_bmps(data[1:]))


def build_abort(result_code: int, bmps: Mapping[int, Any] | None = None) -> Apdu:
    return Apdu(*ABORT, bytes([result_code]) + encode_bmps(bmps or {}))


@dataclass(frozen=True)
class TerminalStatus:
    """The Completion of a Status Enquiry: software version and terminal status byte."""

    status: int
    software: str | None = None
    fields: dict[int, Any] = field(default_factory=dict)


def parse_status_completion(data: bytes) -> TerminalStatus:
    """``06 0F [<SW version LLLVAR>] <terminal status> [06 TLV]`` (after 05 01)."""
    offset = 0
    software = None
    # An LLLVAR prefix is three Fx bytes (x a digit); a lone F0 / F6 is a terminal status.
    if len(data) >= 3 and all(0xF0 <= byte <= 0xF9 for byte in data[:3]):
        size = decode_var_length(data, 0, 3)
        if 3 + size > len(data):
            raise ZvtCodecError("software version runs past the end of the completion")
        software = data[3 : 3 + size].split(b"\x00", 1)[0].decode(TEXT_ENCODING)
        offset = 3 + size
    if offset >= len(data):
        raise ZvtCodecError("status enquiry completion without the terminal status byte")
    return TerminalStatus(data[offset], software, decode_bmps(data[offset + 1 :]))


def build_status_completion(status: int, software: str | None) -> Apdu:
    data = b""
    if software is not None:
        raw = software.encode(TEXT_ENCODING)
        data += bytes(0xF0 | int(d) for d in f"{len(raw):03d}") + raw
    return Apdu(*COMPLETION, data + bytes([status]))


@dataclass(frozen=True)
class PrintLine:
    """``06 D1``: one receipt line and its attribute byte (§3.5)."""

    attribute: int
    text: str

    # Attribute bits (high nibble ``7654``): bit 7 = last line of the receipt (FF = line
    # feeds instead); below it bit 6 centred, bit 5 double width, bit 4 double height;
    # the low nibble of a plain line is its indent. Only lines with bit 7 clear carry
    # formatting: FF is not a centred double-size line.
    @property
    def last_line(self) -> bool:
        return self.attribute & 0x80 != 0 and self.attribute != 0xFF

    @property
    def centred(self) -> bool:
        return self.attribute & 0xC0 == 0x40

    @property
    def double_width(self) -> bool:
        return self.attribute & 0xA0 == 0x20

    @property
    def double_height(self) -> bool:
        return self.attribute & 0x90 == 0x10


def parse_print_line(data: bytes) -> PrintLine:
    if not data:
        raise ZvtCodecError("print line without its attribute byte")
    return PrintLine(data[0], data[1:].split(b"\x00", 1)[0].decode(TEXT_ENCODING))


def build_print_line(text: str, attribute: int = 0) -> Apdu:
    return Apdu(*PRINT_LINE, bytes([attribute]) + text.encode(TEXT_ENCODING, "replace"))


@dataclass(frozen=True)
class TextBlock:
    """``06 D3``: a whole receipt as TLV 25 (lines 07), with its receipt type."""

    lines: tuple[str, ...]
    receipt_type: str | None = None


def parse_text_block(data: bytes) -> TextBlock:
    fields = decode_bmps(data)
    items = tuple(fields.get(0x06, ()))
    texts = find(items, TAG_PRINT_TEXTS)
    lines: tuple[str, ...] = ()
    if texts is not None:
        lines = tuple(
            c.value.split(b"\x00", 1)[0].decode(TEXT_ENCODING)
            for c in texts.children
            if c.tag == TAG_TEXT_LINE
        )
    kind = find(items, TAG_RECEIPT_TYPE)
    receipt_type = None
    if kind is not None and kind.value:
        receipt_type = RECEIPT_TYPES.get(kind.value[0], f"type {kind.value[0]}")
    return TextBlock(lines, receipt_type)


def build_text_block(lines: list[str] | tuple[str, ...], receipt_type: int | None = None) -> Apdu:
    children = tuple(Tlv(TAG_TEXT_LINE, ln.encode(TEXT_ENCODING, "replace")) for ln in lines)
    items: list[Tlv] = [Tlv(TAG_PRINT_TEXTS, children=children)]
    if receipt_type is not None:
        items.insert(0, Tlv(TAG_RECEIPT_TYPE, bytes([receipt_type])))
    return Apdu(*PRINT_TEXT_BLOCK, encode_bmps({0x06: items}))


def permitted_commands(codes: list[tuple[int, int]]) -> Tlv:
    """TLV 26: the commands the ECR lets the terminal send (Registration)."""
    return Tlv(TAG_PERMITTED_COMMANDS, children=tuple(Tlv(TAG_COMMAND, bytes(c)) for c in codes))
