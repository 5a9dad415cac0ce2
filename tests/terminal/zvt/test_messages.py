"""Commands and terminal messages: every command round-trips, spec and field captures
decode byte for byte, and the code tables speak words."""

from __future__ import annotations

from typing import Any

import pytest

from posdriver.terminal.zvt import codes
from posdriver.terminal.zvt.apdu import Apdu, decode_apdu
from posdriver.terminal.zvt.bmp import MaskedPan
from posdriver.terminal.zvt.errors import ZvtCodecError
from posdriver.terminal.zvt.messages import (
    BY_CODE,
    COMMANDS,
    AbortMessage,
    CommandSpec,
    Intermediate,
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


def hx(text: str) -> bytes:
    return bytes.fromhex(text)


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


@pytest.mark.parametrize(
    ("name", "args", "wire"),
    [
        ("log_off", {}, "06 02 00"),
        ("abort", {}, "06 B0 00"),
        ("diagnosis", {}, "06 70 00"),
        ("end_of_day", {"password": "123456"}, "06 50 03 12 34 56"),
        ("initialisation", {"password": "123456"}, "06 93 03 12 34 56"),
        ("status_enquiry", {}, "05 01 00"),
        ("status_enquiry", {"password": "123456"}, "05 01 03 12 34 56"),
        ("repeat_receipt", {"password": "123456", "bmps": {3: 1}}, "06 20 05 12 34 56 03 01"),
        ("partial_reversal", {"bmps": {0x87: None}}, "06 23 03 87 FF FF"),
        ("reversal", {"password": "000000", "bmps": {0x87: 42}}, "06 30 06 00 00 00 87 00 42"),
        (
            "authorisation",
            {"bmps": {0x04: 1000, 0x49: 978, 0x06: ()}},
            "06 01 0C 04 00 00 00 00 10 00 49 09 78 06 00",
        ),
        (
            "refund",
            {"password": "123456", "bmps": {0x04: 2500, 0x49: 978}},
            "06 31 0D 12 34 56 04 00 00 00 00 25 00 49 09 78",
        ),
        (
            "book_total",
            {"bmps": {0x87: 7, 0x04: 5000}},
            "06 24 0A 87 00 07 04 00 00 00 00 50 00",
        ),
    ],
)
def test_commands_byte_exact(name: str, args: dict[str, Any], wire: str) -> None:
    assert build(name, **args).encode() == hx(wire)
    command = parse_command(apdu(wire))
    assert command.name == name
    assert command.password == args.get("password")
    assert command.fields == args.get("bmps", {})


# -- Registration -----------------------------------------------------------------------
CARD_COMPLETE = "06 00 10 12 34 56 BE 09 78 03 01 06 06 26 04 0A 02 06 D3"
SPEC_MSG_SEQ_ID = "06 00 14 00 00 00 9E 09 78 06 0C 26 04 0A 02 06 D3 1F 73 03 00 00 00"


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
    [978, 840, 756, 348, 392, 356, 643, 604, 608, 600],
)
@pytest.mark.parametrize("bmps", [{}, {0x03: 0x01}, {0x06: (PERMIT_D3,)}], ids=["-", "03", "06"])
def test_registration_currency_is_positional(currency: int, bmps: dict[int, Any]) -> None:
    built = build("registration", password="123456", config=0xBE, currency=currency, bmps=bmps)
    command = parse_command(built)
    assert command.currency == currency
    assert command.fields == bmps


def test_registration_without_currency() -> None:
    command = parse_command(apdu("06 00 04 12 34 56 BA"))
    assert (command.config, command.currency, command.fields) == (0xBA, None, {})
    # An ECR that leaves the currency out but sends a TLV container is still understood.
    command = parse_command(apdu("06 00 0C 12 34 56 BE 06 06 26 04 0A 02 06 D3"))
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


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        ("06 00 02 12 34", "registration: password missing"),
        ("06 00 03 12 34 56", "registration: config byte missing"),
        ("06 31 02 12 34", "refund: password missing"),
        ("06 50 03 12 3A 56", "not a digit"),
        ("06 01 02 99 00", "unknown BMP 99"),
        ("06 00 07 12 34 56 BE 09 78 12", "unknown BMP 09"),
    ],
)
def test_parse_command_errors(wire: str, message: str) -> None:
    with pytest.raises(ZvtCodecError, match=message):
        parse_command(apdu(wire))


def test_status_enquiry_password_is_optional() -> None:
    assert parse_command(apdu("05 01 00")).password is None
    command = parse_command(apdu("05 01 05 12 34 56 03 02"))
    assert (command.password, command.fields) == ("123456", {0x03: 0x02})


# -- intermediate status (04 FF) --------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("0A", Intermediate(0x0A)),
        ("0A 05", Intermediate(0x0A, 5)),
        ("04 06", Intermediate(0x04, 6)),  # 6 minutes, not a TLV container
        ("04 15", Intermediate(0x04, 15)),
        ("0A 06 00", Intermediate(0x0A)),  # empty TLV container, no timeout
        ("0A 06 03 1F 16 00", Intermediate(0x0A)),
        ("0A 03 06 00", Intermediate(0x0A, 3)),
        ("0A 06 06 00", Intermediate(0x0A, 6)),  # 6 minutes, then an empty container
    ],
)
def test_parse_intermediate(data: str, expected: Intermediate) -> None:
    assert parse_intermediate(hx(data)) == expected


@pytest.mark.parametrize("minutes", [None, 0, 1, 6, 10, 99])
def test_intermediate_round_trip(minutes: int | None) -> None:
    built = build_intermediate(0x0E, minutes)
    assert built.code == (0x04, 0xFF)
    assert parse_intermediate(built.data) == Intermediate(0x0E, minutes)


def test_intermediate_errors() -> None:
    assert build_intermediate(0x0A, 3).encode() == hx("04 FF 02 0A 03")
    with pytest.raises(ZvtCodecError, match="without its status byte"):
        parse_intermediate(b"")
    with pytest.raises(ZvtCodecError, match="not a digit"):
        parse_intermediate(hx("0A 1F"))


# -- abort (06 1E) ----------------------------------------------------------------------
def test_abort_messages() -> None:
    assert build_abort(0x6C).encode() == hx("06 1E 01 6C")
    assert parse_abort(hx("6C")) == AbortMessage(0x6C)
    assert parse_abort(b"") == AbortMessage(0x6C)  # no reason given: the generic abort
    # Open pre-auth enquiry answered with "none": B8 87 FF FF
    none_open = build_abort(0xB8, {0x87: None})
    assert none_open.encode() == hx("06 1E 04 B8 87 FF FF")
    assert parse_abort(none_open.data) == AbortMessage(0xB8, {0x87: None})
    assert parse_abort(hx("B8 87 00 17")) == AbortMessage(0xB8, {0x87: 17})
    vendor = (Tlv(0x1F16, b"\x02"), Tlv(0x1F17, b"refund limit 500.00 EUR"))
    message = parse_abort(build_abort(0xC3, {0x06: vendor}).data)
    assert message.result_code == 0xC3 and message.fields == {0x06: vendor}
    with pytest.raises(ZvtCodecError):
        parse_abort(hx("6C 87 00"))


# -- status enquiry completion (06 0F) --------------------------------------------------
def test_status_completion_with_software_version() -> None:
    built = build_status_completion(0x00, "GT800 v1.2")
    assert built.encode() == hx("06 0F 0E F0 F1 F0") + b"GT800 v1.2" + b"\x00"
    assert parse_status_completion(built.data) == TerminalStatus(0x00, "GT800 v1.2")


def test_status_completion_without_software_version() -> None:
    assert build_status_completion(0x51, None).encode() == hx("06 0F 01 51")
    assert parse_status_completion(hx("51")) == TerminalStatus(0x51)


@pytest.mark.parametrize("software", [None, "", "v2"])
def test_status_completion_every_status_round_trips(software: str | None) -> None:
    # F0 (reconciliation required) and F6 look like the start of an LLLVAR prefix.
    for status in range(256):
        built = build_status_completion(status, software)
        assert parse_status_completion(built.data) == TerminalStatus(status, software), status


def test_status_completion_details() -> None:
    assert parse_status_completion(hx("F0 F0 F4 76 31 00 00 DC")) == TerminalStatus(0xDC, "v1")
    parsed = parse_status_completion(hx("00 06 05 1F 16 02 00 01"))
    assert parsed == TerminalStatus(0x00, None, {0x06: (Tlv(0x1F16, hx("00 01")),)})
    with pytest.raises(ZvtCodecError, match="runs past the end"):
        parse_status_completion(hx("F0 F0 F5 41"))
    with pytest.raises(ZvtCodecError, match="without the terminal status byte"):
        parse_status_completion(hx("F0 F0 F1 41"))
    with pytest.raises(ZvtCodecError, match="without the terminal status byte"):
        parse_status_completion(b"")


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
    assert build_print_line("Betrag EUR 10,00").encode() == b"\x06\xd1\x11\x00Betrag EUR 10,00"
    assert parse_print_line(b"\x40Gr\x81n\x00\x00").text == "Grün"  # CP437, NUL-terminated
    assert parse_print_line(b"\x80").text == ""
    with pytest.raises(ZvtCodecError, match="without its attribute byte"):
        parse_print_line(b"")


def test_text_block_with_receipt_type() -> None:
    built = build_text_block(["KUNDENBELEG", "Visa", "Betrag EUR 10,00"], receipt_type=2)
    assert built.code == (0x06, 0xD3)
    assert built.data.startswith(hx("06 2B 1F 07 01 02 25 25 07 0B") + b"KUNDENBELEG")
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
    data = hx("06 0F 25 0D 07 03 41 00 00 09 01 40 07 03 42 43 00")
    assert parse_text_block(data) == TextBlock(("A", "BC"))
    assert parse_text_block(b"") == TextBlock(())
    assert parse_text_block(hx("06 00")) == TextBlock(())


def test_permitted_commands() -> None:
    assert PERMIT_D3.encode() == hx("26 04 0A 02 06 D3")
    both = permitted_commands([(0x06, 0xD3), (0x06, 0xD1), (0x04, 0xFF)])
    assert both.encode() == hx("26 0C 0A 02 06 D3 0A 02 06 D1 0A 02 04 FF")


def test_status_information_fields_decode() -> None:
    # A 04 0F as the emulator sends it for an approved Visa payment (masked PAN).
    data = (
        hx("27 00 04 00 00 00 00 10 00 0B 00 00 01 0C 14 30 05 0D 06 15 0E 27 12 17 00 01")
        + hx("19 60 22 F0 F8 47 61 73 EE EE EE 01 19 29 52 50 00 38")
        + b"\x2aVU123456789\x00\x00\x00\x00"
        + b"\x3b12345678"
        + hx("49 09 78 87 00 01 88 00 00 01 8A 0A 8B F0 F4")
        + b"Visa"
    )
    fields = parse_command(Apdu(0x06, 0x01, data)).fields  # the same BMP decoder
    assert fields[0x04] == 1000 and fields[0x0B] == 1 and fields[0x87] == 1
    assert fields[0x22] == MaskedPan("0119")
    assert fields[0x29] == "52500038" and fields[0x2A] == "VU123456789"
    assert fields[0x3B] == "12345678" and fields[0x8B] == "Visa" and fields[0x8A] == 10
    assert "4761" not in repr(fields)


# -- code tables ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "words"),
    [
        (0x00, "no error"),
        (0x6C, "abort via timeout or abort key"),
        (0x6F, "wrong currency"),
        (0xA3, "no connection"),
        (0xB4, "already reversed"),
        (0xC3, "maximum amount exceeded"),
        (0x9C, "please wait"),
        (0xFF, "system error (see vendor error in TLV 1F16/1F17)"),
    ],
)
def test_result_text_known(code: int, words: str) -> None:
    assert codes.result_text(code) == words


def test_result_text_host_codes() -> None:
    for code in range(0x01, 0x64):
        assert codes.result_text(code) == (
            f"declined by the card issuer (authorisation code {code:02X})"
        )
    assert codes.result_text(0x05) == "declined by the card issuer (authorisation code 05)"
    assert codes.result_text(0x64) == "card not readable"  # the first of the PT's own codes


@pytest.mark.parametrize("code", [0x69, 0x80, 0x8F, 0xAE, 0xF9])
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
