"""The emulated terminal's own ZVT codec on the shared byte vectors.

The same vectors (tests/support/zvt_vectors.py) are read by posdriver's codec tests in
tests/terminal/zvt; here the terminal's codec decodes what an ECR sends and builds what a
terminal answers, byte for byte. A vector on which the two codecs disagree fails one of
the two files.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from posdriver_emulator.terminal.zvt import codes
from posdriver_emulator.terminal.zvt.apdu import (
    ACK,
    Apdu,
    ApduAssembler,
    CodecError,
    decode_apdu,
    encode_apdu,
    length_field,
    nack,
)
from posdriver_emulator.terminal.zvt.fields import (
    BMPS,
    decode_fields,
    encode_field,
    encode_fields,
    length_prefix,
    read_length_prefix,
    to_bcd,
)
from posdriver_emulator.terminal.zvt.messages import (
    COMMANDS,
    UnknownCommand,
    abort_message,
    intermediate_status,
    parse_command,
    permitted_commands,
    print_line,
    status_completion,
    text_block,
)
from posdriver_emulator.terminal.zvt.serial import (
    BadFrame,
    Control,
    Frame,
    FrameScanner,
    checksum,
    crc16,
    encode_frame,
)
from posdriver_emulator.terminal.zvt.tlv import (
    Tlv,
    ber_length,
    decode_items,
    encode_items,
    find,
    read_ber_length,
    read_tag,
)
from tests.support import zvt_vectors as v
from tests.support.zvt_vectors import (
    ApduVector,
    CommandVector,
    FieldVector,
    FrameVector,
    T,
    TlvVector,
)


def tlv(item: T) -> Tlv:
    """The terminal codec's element for a vector's neutral one."""
    return Tlv(item.tag, item.value, tuple(tlv(c) for c in item.children))


def fields_of(meaning: dict[int, Any]) -> dict[int, Any]:
    """A vector's fields as the terminal's codec holds them."""
    return {k: tuple(tlv(t) for t in val) if k == 0x06 else val for k, val in meaning.items()}


# -- CRC and frames ---------------------------------------------------------------------------
def test_crc_is_kermit() -> None:
    assert crc16(v.CRC_CHECK_INPUT) == v.CRC_CHECK_VALUE
    assert crc16(v.CRC_CHECK_INPUT) != v.CRC_XMODEM_CHECK_VALUE


@pytest.mark.parametrize("frame", v.FRAMES, ids=lambda f: f.name)
def test_frames_encode_and_decode(frame: FrameVector) -> None:
    apdu = Apdu(frame.cls, frame.instr, frame.data)
    assert checksum(frame.apdu) == frame.crc
    assert encode_frame(apdu) == frame.wire
    assert encode_frame(frame.apdu) == frame.wire
    assert FrameScanner().feed(frame.wire) == [Frame(frame.apdu)]
    assert Frame(frame.apdu).apdu() == apdu


@pytest.mark.parametrize(("raw", "crc"), v.CRC_LOOKALIKES, ids=lambda x: x.hex(" "))
def test_crc_bytes_go_raw_even_when_they_look_like_dle(raw: bytes, crc: bytes) -> None:
    wire = encode_frame(raw)
    assert wire == b"\x10\x02" + raw + b"\x10\x03" + crc
    assert FrameScanner().feed(wire) == [Frame(raw)]


def test_a_length_byte_of_dle_is_doubled() -> None:
    apdu = Apdu(0x06, 0xD1, bytes(16))
    wire = encode_frame(apdu)
    assert wire.startswith(v.STUFFED_LENGTH_PREFIX)
    assert FrameScanner().feed(wire) == [Frame(apdu.to_bytes())]


def test_frames_and_acknowledgements_split_anywhere() -> None:
    wire = b"\x06" + v.PAYMENT_FRAME.wire + b"\x15" + v.CRC_DLE_FRAME.wire
    expected = [
        Control(0x06),
        Frame(v.PAYMENT_FRAME.apdu),
        Control(0x15),
        Frame(v.CRC_DLE_FRAME.apdu),
    ]
    for cut in range(len(wire) + 1):
        scanner = FrameScanner()
        assert scanner.feed(wire[:cut]) + scanner.feed(wire[cut:]) == expected, cut
    rng = random.Random(5)
    for _ in range(100):
        scanner, rest, got = FrameScanner(), wire, []
        while rest:
            size = rng.randint(0, 6)
            got += scanner.feed(rest[:size])
            rest = rest[size:]
        assert got == expected


def test_a_broken_crc_is_a_bad_frame_then_the_scanner_goes_on() -> None:
    wire = v.PAYMENT_FRAME.wire
    scanner = FrameScanner()
    (event,) = scanner.feed(wire[:-1] + bytes([wire[-1] ^ 1]))
    assert isinstance(event, BadFrame) and "expected 76 08" in event.reason
    assert scanner.feed(wire) == [Frame(v.PAYMENT_FRAME.apdu)]


# -- APDUs ------------------------------------------------------------------------------------
@pytest.mark.parametrize("vector", v.APDUS, ids=lambda a: a.name)
def test_apdus(vector: ApduVector) -> None:
    apdu = Apdu(vector.cls, vector.instr, vector.data)
    assert decode_apdu(vector.wire) == apdu
    assert ApduAssembler().feed(vector.wire) == [apdu]
    if vector.encoded:
        assert encode_apdu(apdu) == vector.wire


def test_answers() -> None:
    assert ACK.to_bytes() == v.ACK_APDU.wire and ACK.is_ack
    assert nack(0x83).to_bytes() == v.UNSUPPORTED_APDU.wire and not nack(0x83).is_ack
    assert Apdu(0x84, 0x00).is_ack  # 84 00 is positive too


@pytest.mark.parametrize(("size", "field"), v.LENGTH_FIELDS)
def test_length_fields(size: int, field: bytes) -> None:
    assert length_field(size) == field
    assert decode_apdu(b"\x06\xd3" + field + bytes(size)).data == bytes(size)


@pytest.mark.parametrize(
    "raw", [*v.SHORT_HEADERS, *(raw for raw, _, _ in v.LENGTH_MISMATCHES)], ids=lambda r: r.hex()
)
def test_apdus_whose_length_disagrees_are_refused(raw: bytes) -> None:
    with pytest.raises(CodecError):
        decode_apdu(raw)


def test_tcp_stream_split_anywhere() -> None:
    sequence = [Apdu(a.cls, a.instr, a.data) for a in v.APDUS]
    wire = b"".join(a.wire for a in v.APDUS)
    for cut in range(len(wire) + 1):
        assembler = ApduAssembler()
        assert assembler.feed(wire[:cut]) + assembler.feed(wire[cut:]) == sequence, cut
        assert assembler.pending == 0


# -- TLV --------------------------------------------------------------------------------------
@pytest.mark.parametrize("vector", v.TLVS, ids=lambda t: t.name)
def test_tlv(vector: TlvVector) -> None:
    items = tuple(tlv(t) for t in vector.items)
    assert decode_items(vector.wire) == items
    assert encode_items(items) == vector.wire


def test_tlv_tags_and_lengths() -> None:
    for raw, tag, size in v.LONG_TAGS:
        assert read_tag(raw, 0) == (tag, size)
    with pytest.raises(CodecError):
        read_tag(v.TAG_TOO_LONG, 0)
    for size, wire in v.TLV_LENGTHS:
        assert ber_length(size) == wire
        assert read_ber_length(wire + b"x", 0) == (size, len(wire))
    for refused in (v.INDEFINITE_LENGTH, v.THREE_BYTE_LENGTH):
        with pytest.raises(CodecError):
            read_ber_length(refused, 0)
    assert find(decode_items(v.NESTED.wire), 0x07) == Tlv(0x07, b"abc")


@pytest.mark.parametrize(("raw", "why"), v.TLV_CUT_SHORT, ids=lambda x: str(x))
def test_tlv_cut_short(raw: bytes, why: str) -> None:
    with pytest.raises(CodecError):
        decode_items(raw)


def test_long_container() -> None:
    items = (Tlv(0x25, children=tuple(Tlv(0x07, b"x" * 40) for _ in range(10))),)
    raw = encode_field(0x06, items)
    assert raw.startswith(v.LONG_CONTAINER_START)
    assert decode_fields(raw) == {0x06: items}


# -- BMPs -------------------------------------------------------------------------------------
@pytest.mark.parametrize("vector", v.FIELDS, ids=lambda f: f.wire.hex(" "))
def test_fields(vector: FieldVector) -> None:
    assert encode_field(vector.ident, vector.value) == vector.wire
    assert decode_fields(vector.wire) == {vector.ident: vector.value}


def test_text_and_variable_fields() -> None:
    for raw, ident, text in v.TEXT_FIELDS:
        assert decode_fields(raw) == {ident: text}
    for raw, ident, value in v.VAR_FIELDS:
        assert decode_fields(raw) == {ident: value}
    assert length_prefix(3, 2) == v.LLVAR_3
    assert length_prefix(10, 3) == v.LLLVAR_10
    assert read_length_prefix(v.LLLVAR_999, 0, 3) == 999


@pytest.mark.parametrize(
    "raw",
    [
        *(b"\xa7" + prefix + b"\x01\x02\x03" for prefix in v.BAD_VAR_PREFIXES),
        v.VAR_PREFIX_CUT_SHORT,
        *v.BAD_BCD_FIELDS,
        v.UNKNOWN_BMP_BLOCK,
        v.AMOUNT_CUT_SHORT,
    ],
    ids=lambda r: r.hex(" "),
)
def test_fields_that_cannot_be_read(raw: bytes) -> None:
    with pytest.raises(CodecError):
        decode_fields(raw)


def test_card_data_fields_are_read_to_their_size() -> None:
    for raw, ident, size in v.CARD_DATA_FIELDS:
        (value,) = decode_fields(raw).values()
        assert len(value) == (2 * size if BMPS[ident].form == "digits" else size), raw.hex(" ")
    raw, last4 = v.PAN_WITH_JUNK_LEAD
    assert decode_fields(raw)[0x22].endswith(last4)


def test_status_information_vector() -> None:
    assert encode_fields(v.STATUS_INFORMATION_APPROVED) == v.STATUS_INFORMATION_APPROVED_DATA
    assert decode_fields(v.STATUS_INFORMATION_APPROVED_DATA) == dict(v.STATUS_INFORMATION_APPROVED)


# -- commands ---------------------------------------------------------------------------------
@pytest.mark.parametrize("vector", [*v.COMMAND_VECTORS, *v.REGISTRATIONS], ids=lambda c: c.name)
def test_commands(vector: CommandVector) -> None:
    command = parse_command(decode_apdu(vector.wire))
    assert (command.name, command.password, command.config, command.currency) == (
        vector.command,
        vector.password,
        vector.config,
        vector.currency,
    )
    assert command.fields == fields_of(vector.fields)
    assert command.spec is COMMANDS[vector.command]


@pytest.mark.parametrize("currency", v.REGISTRATION_CURRENCIES)
@pytest.mark.parametrize(
    "fields", [{}, {0x03: 0x01}, {0x06: (tlv(v.PERMIT_D3),)}], ids=["-", "03", "06"]
)
def test_registration_currency_is_positional(currency: int, fields: dict[int, Any]) -> None:
    data = to_bcd("123456", 3) + b"\xbe" + to_bcd(currency, 2) + encode_fields(fields)
    command = parse_command(Apdu(0x06, 0x00, data))
    assert (command.currency, command.fields) == (currency, fields)


@pytest.mark.parametrize(("raw", "why"), v.BAD_COMMANDS, ids=lambda x: str(x))
def test_commands_that_cannot_be_read(raw: bytes, why: str) -> None:
    with pytest.raises(CodecError):
        parse_command(decode_apdu(raw))


def test_unknown_command() -> None:
    with pytest.raises(UnknownCommand) as caught:
        parse_command(decode_apdu(v.UNKNOWN_COMMAND))
    assert caught.value.code == (0x06, 0x99)


# -- what the terminal sends ----------------------------------------------------------------
def test_intermediate_status() -> None:
    assert intermediate_status(0x0A, 3).to_bytes() == v.INTERMEDIATE_INSERT_CARD_3_MINUTES
    for data, status, minutes in v.INTERMEDIATES:
        if len(data) <= 2:  # the forms without a TLV container, which this terminal sends
            assert intermediate_status(status, minutes).data == data


@pytest.mark.parametrize(("wire", "result", "fields"), v.ABORTS, ids=lambda x: str(x))
def test_abort(wire: bytes, result: int, fields: dict[int, Any]) -> None:
    assert abort_message(result, fields).to_bytes() == wire


@pytest.mark.parametrize(("wire", "status", "software"), v.STATUS_COMPLETIONS, ids=str)
def test_status_completion(wire: bytes, status: int, software: str | None) -> None:
    assert status_completion(status, software).to_bytes() == wire


def test_print_lines_and_text_block() -> None:
    for wire, attribute, text in v.PRINT_LINES:
        if b"\x00" not in wire[4:]:  # the ones sent without NUL padding
            assert print_line(text, attribute).to_bytes() == wire
    block = text_block(v.TEXT_BLOCK_LINES, v.TEXT_BLOCK_RECEIPT_TYPE)
    assert block.code == (0x06, 0xD3)
    assert block.data.startswith(v.TEXT_BLOCK_START)
    (container,) = decode_fields(block.data).values()
    lines = tuple(c.value.decode("cp437") for c in container[1].children)
    assert lines == v.TEXT_BLOCK_LINES


def test_permitted_commands() -> None:
    for codes_, wire in (v.PERMITTED_D3, v.PERMITTED_THREE):
        assert permitted_commands(decode_items(wire)) == set(codes_)
    assert permitted_commands(()) is None


@pytest.mark.parametrize(("code", "words"), v.RESULT_TEXTS)
def test_result_texts(code: int, words: str) -> None:
    assert codes.result_text(code) == words


def test_result_texts_of_issuer_and_unknown_codes() -> None:
    assert codes.result_text(0x05) == "declined by the card issuer (authorisation code 05)"
    for code in v.UNKNOWN_RESULT_CODES:
        assert codes.result_text(code) == f"result code {code:02X}"


def test_receipts_name_result_codes_as_the_driver_does() -> None:
    # A declined sale's receipt (from the terminal) and the driver's own account of it
    # (from its code table) use the same words for every code.
    from posdriver.terminal.zvt.codes import result_text

    assert [codes.result_text(c) for c in range(256)] == [result_text(c) for c in range(256)]
