"""Commands and terminal messages: every command round-trips, spec and field captures
decode byte for byte, and the code tables speak words."""

from __future__ import annotations

from typing import Any

import pytest

from posdriver.terminal.zvt import codes
from posdriver.terminal.zvt.apdu import Apdu, decode_apdu
from posdriver.terminal.zvt.bmp import MaskedPan, Redacted, encode_bmps
from posdriver.terminal.zvt.errors import ZvtCodecError
from posdriver.terminal.zvt.messages import (
    BY_CODE,
    COMMANDS,
    AbortMessage,
    CommandSpec,
    Intermediate,
    PrintLine,
    TerminalStatus,
    TextBlock,
    UnknownCommand,
    build,
    build_abort,
    build_intermediate,
    build_print_line,
    build_status_completion,
    build_text_block,
    parse_abort,
    parse_command,
    parse_intermediate,
    parse_print_line,
    parse_status_completion,
    parse_text_block,
    permitted_commands,
)
from posdriver.terminal.zvt.tlv import Tlv, find
from tests.support import zvt_vectors as v
from tests.support.zvt_vectors import CommandVector, T


def hx(text: str) -> bytes:
    return bytes.fromhex(text)


def tlv(item: T) -> Tlv:
    """posdriver's element for a vector's neutral one."""
    return Tlv(item.tag, item.value, tuple(tlv(c) for c in item.children))


def bmps(fields: dict[int, Any]) -> dict[int, Any]:
    """A vector's fields as posdriver's codec holds them (TLV as its Tlv elements)."""
    return {k: tuple(tlv(t) for t in val) if k == 0x06 else val for k, val in fields.items()}


def apdu(text: str) -> Apdu:
    return decode_apdu(hx(text))


PERMIT_D3 = permitted_commands([(0x06, 0xD3)])


def prefix_args(spec: CommandSpec) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if "password" in spec.prefix:
        args["password"] = "123456"
    if "config" in spec.prefix:
        args["config"] = 0xBE
    if "currency" in spec.prefix:
        args["currency"] = 978
    return args


def sample_bmps(spec: CommandSpec) -> dict[int, Any]:
    if spec.name == "registration":
        return {0x03: 0x01, 0x06: (PERMIT_D3, Tlv(0x1F73, hx("00 00 00")))}
    return {
        0x04: 1000,
        0x49: 978,
        0x87: 42,
        0x01: 30,
        0x06: (Tlv(0x1F1F, hx("00 41")),),
    }


@pytest.mark.parametrize("spec", list(COMMANDS.values()), ids=lambda s: s.name)
@pytest.mark.parametrize("with_bmps", [False, True], ids=["bare", "bmps"])
def test_every_command_round_trips(spec: CommandSpec, with_bmps: bool) -> None:
    args = prefix_args(spec)
    bmps = sample_bmps(spec) if with_bmps else {}
    built = build(spec.name, bmps=bmps, **args)
    assert built.code == spec.code
    wire = built.encode()
    command = parse_command(decode_apdu(wire))
    assert command.spec is spec and command.name == spec.name
    assert command.password == args.get("password")
    assert command.config == args.get("config")
    assert command.currency == args.get("currency")
    assert command.fields == bmps
    assert command.tlv() == tuple(bmps.get(0x06, ()))
    rebuilt = build(spec.name, bmps=command.fields, **args)
    assert rebuilt.encode() == wire


def test_command_table() -> None:
    assert BY_CODE[(0x06, 0x01)] is COMMANDS["authorisation"]
    assert len(BY_CODE) == len(COMMANDS)  # no two commands share a code
    assert not COMMANDS["log_off"].requires_completion
    assert not COMMANDS["abort"].requires_completion
    assert COMMANDS["registration"].requires_completion
    money = {name for name, spec in COMMANDS.items() if spec.money}
    assert money == {
        "authorisation",
        "pre_authorisation",
        "partial_reversal",
        "book_total",
        "pre_auth_reversal",
        "reversal",
        "refund",
    }


def build_args(vector: CommandVector) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if vector.password is not None:
        args["password"] = vector.password
    if vector.fields:
        args["bmps"] = bmps(vector.fields)
    return args


@pytest.mark.parametrize("vector", v.BUILT_COMMANDS, ids=lambda c: c.name)
def test_commands_byte_exact(vector: CommandVector) -> None:
    name, args, wire = vector.command, build_args(vector), vector.wire
    assert build(name, **args).encode() == wire
    command = parse_command(decode_apdu(wire))
    assert command.name == name
    assert command.password == args.get("password")
    assert command.fields == args.get("bmps", {})


# -- Registration -----------------------------------------------------------------------
CARD_COMPLETE = v.CARD_COMPLETE_REGISTRATION.wire.hex(" ")
SPEC_MSG_SEQ_ID = v.SPEC_MSG_SEQ_ID_REGISTRATION.wire.hex(" ")


def test_card_complete_registration() -> None:
    command = parse_command(apdu(CARD_COMPLETE))
    assert (command.name, command.password, command.config) == ("registration", "123456", 0xBE)
    assert command.currency == 978
    assert command.fields == {0x03: 0x01, 0x06: (PERMIT_D3,)}
    again = build("registration", password="123456", config=0xBE, currency=978, bmps=command.fields)
    assert again.encode() == hx(CARD_COMPLETE)


def test_msg_seq_id_registration() -> None:
    # 1F 73 is a sibling of 26 inside BMP 06's TLV list (the 0C length covers both).
    command = parse_command(apdu(SPEC_MSG_SEQ_ID))
    assert (command.password, command.config, command.currency) == ("000000", 0x9E, 978)
    assert command.tlv() == (PERMIT_D3, Tlv(0x1F73, hx("00 00 00")))
    assert find(command.tlv(), 0x1F73) == Tlv(0x1F73, hx("00 00 00"))
    assert find(command.tlv(), 0x0A) == Tlv(0x0A, hx("06 D3"))
    again = build("registration", password="000000", config=0x9E, currency=978, bmps=command.fields)
    assert again.encode() == hx(SPEC_MSG_SEQ_ID)


@pytest.mark.parametrize(
    "currency",
    # EUR, USD, CHF; and codes whose first BCD byte is 03 or 06, the ids of BMPs
    # (HUF, JPY, INR, RUB, PEN, PHP, PYG)
    v.REGISTRATION_CURRENCIES,
)
@pytest.mark.parametrize("bmps", [{}, {0x03: 0x01}, {0x06: (PERMIT_D3,)}], ids=["-", "03", "06"])
def test_registration_currency_is_positional(currency: int, bmps: dict[int, Any]) -> None:
    built = build("registration", password="123456", config=0xBE, currency=currency, bmps=bmps)
    command = parse_command(built)
    assert command.currency == currency
    assert command.fields == bmps


def test_registration_without_currency() -> None:
    command = parse_command(decode_apdu(v.REGISTRATION_NO_CURRENCY.wire))
    assert (command.config, command.currency, command.fields) == (0xBA, None, {})
    # An ECR that leaves the currency out but sends a TLV container is still understood.
    command = parse_command(decode_apdu(v.REGISTRATION_TLV_NO_CURRENCY.wire))
    assert (command.currency, command.fields) == (None, {0x06: (PERMIT_D3,)})
    # posdriver itself never builds that: the BMPs follow the currency.
    with pytest.raises(ZvtCodecError, match="follow the currency"):
        build("registration", password="123456", config=0xBE, bmps={0x03: 1})


# -- build / parse errors ---------------------------------------------------------------
def test_build_errors() -> None:
    with pytest.raises(ZvtCodecError, match="unknown command 'sale'; known: registration"):
        build("sale")
    with pytest.raises(ZvtCodecError, match="refund needs the terminal password"):
        build("refund")
    for bad in ("12345", "1234567", "12345a", "12 345"):
        with pytest.raises(ZvtCodecError, match="six digits"):
            build("end_of_day", password=bad)
    with pytest.raises(ZvtCodecError, match="config byte"):
        build("registration", password="123456")
    with pytest.raises(ZvtCodecError, match="config byte"):
        build("registration", password="123456", config=0x100)


def test_unknown_command() -> None:
    with pytest.raises(UnknownCommand) as caught:
        parse_command(Apdu(0x06, 0x99, b"\x01"))
    assert caught.value.code == (0x06, 0x99)
    assert isinstance(caught.value, ZvtCodecError)
    assert str(caught.value) == "command 06 99 is not supported"


PARSE_ERRORS = (
    "registration: password missing",
    "registration: config byte missing",
    "refund: password missing",
    "not a digit",
    "unknown BMP 99",
    "unknown BMP 09",
)


@pytest.mark.parametrize(
    ("wire", "message"),
    [(wire, message) for (wire, _), message in zip(v.BAD_COMMANDS, PARSE_ERRORS, strict=True)],
)
def test_parse_command_errors(wire: bytes, message: str) -> None:
    with pytest.raises(ZvtCodecError, match=message):
        parse_command(decode_apdu(wire))


def test_status_enquiry_password_is_optional() -> None:
    assert parse_command(decode_apdu(v.STATUS_ENQUIRY.wire)).password is None
    command = parse_command(decode_apdu(v.STATUS_ENQUIRY_SERVICE.wire))
    assert (command.password, command.fields) == ("123456", {0x03: 0x02})


# -- intermediate status (04 FF) --------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "expected"),
    # 04 06 is 6 minutes, not a TLV container; 0A 06 00 an empty TLV container, no
    # timeout; 0A 06 06 00 is 6 minutes, then an empty container
    [(data, Intermediate(status, minutes)) for data, status, minutes in v.INTERMEDIATES],
)
def test_parse_intermediate(data: bytes, expected: Intermediate) -> None:
    assert parse_intermediate(data) == expected


@pytest.mark.parametrize("minutes", [None, 0, 1, 6, 10, 99])
def test_intermediate_round_trip(minutes: int | None) -> None:
    built = build_intermediate(0x0E, minutes)
    assert built.code == (0x04, 0xFF)
    assert parse_intermediate(built.data) == Intermediate(0x0E, minutes)


def test_intermediate_errors() -> None:
    assert build_intermediate(0x0A, 3).encode() == v.INTERMEDIATE_INSERT_CARD_3_MINUTES
    with pytest.raises(ZvtCodecError, match="without its status byte"):
        parse_intermediate(b"")
    with pytest.raises(ZvtCodecError, match="not a digit"):
        parse_intermediate(v.INTERMEDIATE_BAD_MINUTES)


# -- abort (06 1E) ----------------------------------------------------------------------
def test_abort_messages() -> None:
    (timeout_wire, _, _), (none_wire, _, _), (open_wire, _, _) = v.ABORTS
    assert build_abort(0x6C).encode() == timeout_wire
    assert parse_abort(decode_apdu(timeout_wire).data) == AbortMessage(0x6C)
    assert parse_abort(b"") == AbortMessage(0x6C)  # no reason given: the generic abort
    # Open pre-auth enquiry answered with "none": B8 87 FF FF
    none_open = build_abort(0xB8, {0x87: None})
    assert none_open.encode() == none_wire
    assert parse_abort(none_open.data) == AbortMessage(0xB8, {0x87: None})
    assert parse_abort(decode_apdu(open_wire).data) == AbortMessage(0xB8, {0x87: 17})
    for wire, result, fields in v.ABORTS:
        assert parse_abort(decode_apdu(wire).data) == AbortMessage(result, fields)
    vendor = (Tlv(0x1F16, b"\x02"), Tlv(0x1F17, b"refund limit 500.00 EUR"))
    message = parse_abort(build_abort(0xC3, {0x06: vendor}).data)
    assert message.result_code == 0xC3 and message.fields == {0x06: vendor}
    with pytest.raises(ZvtCodecError):
        parse_abort(v.ABORT_CUT_SHORT_DATA)


# -- status enquiry completion (06 0F) --------------------------------------------------
def test_status_completion_with_software_version() -> None:
    wire, status, software = v.STATUS_COMPLETIONS[0]
    built = build_status_completion(status, software)
    assert built.encode() == wire
    assert parse_status_completion(built.data) == TerminalStatus(0x00, "GT800 v1.2")


def test_status_completion_without_software_version() -> None:
    wire, status, software = v.STATUS_COMPLETIONS[1]
    assert build_status_completion(status, software).encode() == wire
    assert parse_status_completion(decode_apdu(wire).data) == TerminalStatus(0x51)


@pytest.mark.parametrize("software", [None, "", "v2"])
def test_status_completion_every_status_round_trips(software: str | None) -> None:
    # F0 (reconciliation required) and F6 look like the start of an LLLVAR prefix.
    for status in range(256):
        built = build_status_completion(status, software)
        assert parse_status_completion(built.data) == TerminalStatus(status, software), status


def test_status_completion_details() -> None:
    (version_data, _, _, _), (tlv_data, _, _, _) = v.STATUS_COMPLETION_DATA
    assert parse_status_completion(version_data) == TerminalStatus(0xDC, "v1")
    parsed = parse_status_completion(tlv_data)
    assert parsed == TerminalStatus(0x00, None, {0x06: (Tlv(0x1F16, hx("00 01")),)})
    for data, status, software, items in v.STATUS_COMPLETION_DATA:
        fields = {0x06: tuple(tlv(t) for t in items)} if items else {}
        assert parse_status_completion(data) == TerminalStatus(status, software, fields)
    messages = ("runs past the end", *["without the terminal status byte"] * 2)
    for (data, _), message in zip(v.STATUS_COMPLETION_BAD, messages, strict=True):
        with pytest.raises(ZvtCodecError, match=message):
            parse_status_completion(data)


# -- receipts (06 D1, 06 D3) ------------------------------------------------------------
@pytest.mark.parametrize(
    ("attribute", "last", "centred", "wide", "high"),
    [
        (0x00, False, False, False, False),
        (0x05, False, False, False, False),  # indent 5
        (0x40, False, True, False, False),
        (0x20, False, False, True, False),
        (0x10, False, False, False, True),
        (0x70, False, True, True, True),
        (0x80, True, False, False, False),
        (0xC0, True, False, False, False),
        (0xFE, True, False, False, False),
        (0xFF, False, False, False, False),  # line feeds, no text formatting
    ],
)
def test_print_line_attributes(
    attribute: int, last: bool, centred: bool, wide: bool, high: bool
) -> None:
    line = parse_print_line(build_print_line("Total", attribute).data)
    assert (line.attribute, line.text) == (attribute, "Total")
    assert (line.last_line, line.centred, line.double_width, line.double_height) == (
        last,
        centred,
        wide,
        high,
    )


def test_print_line_text() -> None:
    (plain, _, text), (green, _, _), (last, _, _) = v.PRINT_LINES
    assert build_print_line(text).encode() == plain
    assert parse_print_line(decode_apdu(green).data).text == "Grün"  # CP437, NUL-terminated
    assert parse_print_line(decode_apdu(last).data).text == ""
    for wire, attribute, words in v.PRINT_LINES:
        assert parse_print_line(decode_apdu(wire).data) == PrintLine(attribute, words)
    with pytest.raises(ZvtCodecError, match="without its attribute byte"):
        parse_print_line(b"")


def test_text_block_with_receipt_type() -> None:
    built = build_text_block(list(v.TEXT_BLOCK_LINES), receipt_type=v.TEXT_BLOCK_RECEIPT_TYPE)
    assert built.code == (0x06, 0xD3)
    assert built.data.startswith(v.TEXT_BLOCK_START)
    block = parse_text_block(built.data)
    assert block == TextBlock(("KUNDENBELEG", "Visa", "Betrag EUR 10,00"), "customer")


@pytest.mark.parametrize(
    ("receipt_type", "words"),
    [(None, None), (1, "merchant"), (2, "customer"), (3, "administration"), (7, "type 7")],
)
def test_text_block_receipt_types(receipt_type: int | None, words: str | None) -> None:
    block = parse_text_block(build_text_block(["x"], receipt_type).data)
    assert block == TextBlock(("x",), words)


def test_text_block_reads_only_text_lines() -> None:
    data, lines = v.TEXT_BLOCK_WITH_ATTRIBUTE
    assert parse_text_block(data) == TextBlock(lines) == TextBlock(("A", "BC"))
    assert parse_text_block(b"") == TextBlock(())
    assert parse_text_block(hx("06 00")) == TextBlock(())


def test_permitted_commands() -> None:
    codes_d3, wire_d3 = v.PERMITTED_D3
    assert PERMIT_D3 == permitted_commands(codes_d3) == tlv(v.PERMIT_D3)
    assert PERMIT_D3.encode() == wire_d3
    codes_three, wire_three = v.PERMITTED_THREE
    both = permitted_commands(codes_three)
    assert both.encode() == wire_three


def test_status_information_fields_decode() -> None:
    # A 04 0F as the emulator sends it for an approved Visa payment (masked PAN).
    data = v.STATUS_INFORMATION_APPROVED_DATA
    fields = parse_command(Apdu(0x06, 0x01, data)).fields  # the same BMP decoder
    assert fields[0x04] == 1000 and fields[0x0B] == 1 and fields[0x87] == 1
    assert fields[0x22] == MaskedPan("0119")
    assert fields[0x29] == "52500038" and fields[0x2A] == "VU123456789"
    assert fields[0x3B] == "12345678" and fields[0x8B] == "Visa" and fields[0x8A] == 10
    assert "4761" not in repr(fields)


# -- code tables ------------------------------------------------------------------------
@pytest.mark.parametrize(("code", "words"), v.RESULT_TEXTS)
def test_result_text_known(code: int, words: str) -> None:
    assert codes.result_text(code) == words


def test_result_text_host_codes() -> None:
    for code in range(0x01, 0x64):
        assert codes.result_text(code) == (
            f"declined by the card issuer (authorisation code {code:02X})"
        )
    assert codes.result_text(0x05) == "declined by the card issuer (authorisation code 05)"
    assert codes.result_text(0x64) == "card not readable"  # the first of the PT's own codes


@pytest.mark.parametrize("code", v.UNKNOWN_RESULT_CODES)
def test_result_text_unknown(code: int) -> None:
    assert code not in codes.RESULT_CODES
    assert codes.result_text(code) == f"result code {code:02X}"


def test_terminal_status_and_intermediate_texts() -> None:
    assert codes.terminal_status_text(0x51) == "initialisation required"
    assert codes.terminal_status_text(0xF0) == "reconciliation required"
    assert codes.terminal_status_text(0x42) == "terminal status 42"
    assert set(codes.TERMINAL_STATUS_REMEDY) <= set(codes.TERMINAL_STATUS)
    assert codes.intermediate_text(0x0A) == "insert card"
    assert codes.intermediate_text(0x4A) == "insert card, remove card"
    assert codes.intermediate_text(0x20) == "intermediate status 20"
    assert codes.intermediate_text(0x5E) == "intermediate status 5E"


# -- the shared vectors mean what they say (the emulator's codec reads them too) ----------
@pytest.mark.parametrize("vector", [*v.COMMAND_VECTORS, *v.REGISTRATIONS], ids=lambda c: c.name)
def test_command_vectors_decode_to_their_meaning(vector: CommandVector) -> None:
    command = parse_command(decode_apdu(vector.wire))
    assert (command.name, command.password, command.config, command.currency) == (
        vector.command,
        vector.password,
        vector.config,
        vector.currency,
    )
    assert command.fields == bmps(vector.fields)


def test_status_information_vector_decodes_and_encodes() -> None:
    fields = parse_command(Apdu(0x06, 0x01, v.STATUS_INFORMATION_APPROVED_DATA)).fields
    expected = dict(v.STATUS_INFORMATION_APPROVED)
    expected[0x22] = MaskedPan(expected[0x22][-4:])
    expected[0x0E] = Redacted(2)  # the expiry date is card data: only its size is kept
    assert fields == expected
    assert encode_bmps(v.STATUS_INFORMATION_APPROVED) == v.STATUS_INFORMATION_APPROVED_DATA
