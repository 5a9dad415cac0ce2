"""Property-based fuzzing of the codec: garbage is a ZvtCodecError (or an event), never a
crash or a hang, and everything the encoders make decodes back to itself."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posdriver.terminal.zvt.apdu import Apdu, ApduStream, decode_apdu
from posdriver.terminal.zvt.bmp import TABLE, Bmp, MaskedPan, Redacted, decode_bmps, encode_bmps
from posdriver.terminal.zvt.crc import crc_bytes
from posdriver.terminal.zvt.errors import ZvtCodecError
from posdriver.terminal.zvt.frame import (
    BadFrame,
    Control,
    Event,
    Frame,
    FrameReader,
    Noise,
    encode_frame,
)
from posdriver.terminal.zvt.messages import (
    BY_CODE,
    COMMANDS,
    Intermediate,
    TerminalStatus,
    TextBlock,
    build,
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
)
from posdriver.terminal.zvt.tlv import MAX_DEPTH, Tlv, decode_tlv, encode_tlv

# Bounded so the file runs in a few seconds under any profile; no deadline, so a slow
# machine cannot turn a pass into a flaky failure.
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROUND = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def biased_bytes(favourites: list[int], max_size: int = 200) -> st.SearchStrategy[bytes]:
    """Bytes in which the given values (DLE, BMP ids, length markers) are frequent."""
    byte = st.one_of(st.sampled_from(favourites), st.integers(0, 255))
    return st.lists(byte, max_size=max_size).map(bytes)


WIRE_BYTES = biased_bytes([0x10, 0x02, 0x03, 0x06, 0x15])
DLE_HEAVY = biased_bytes([0x10, 0x10, 0x02, 0x03], max_size=300)
BMP_BYTES = biased_bytes([*TABLE, 0xF0, 0xF1, 0xF2, 0xF9, 0xFF, 0x81, 0x82, 0x00])
TLV_BYTES = biased_bytes([0x1F, 0x73, 0x25, 0x26, 0xE4, 0x07, 0x0A, 0x81, 0x82, 0x80, 0x00])
CHUNKS = st.lists(WIRE_BYTES, max_size=8)
APDUS = st.builds(Apdu, st.integers(0, 255), st.integers(0, 255), DLE_HEAVY)
CP437_TEXT = st.characters(codec="cp437", exclude_characters="\x00")


# -- frames -----------------------------------------------------------------------------
@FUZZ
@given(CHUNKS)
def test_frame_reader_takes_any_bytes(chunks: list[bytes]) -> None:
    reader = FrameReader()
    events: list[Event] = []
    for chunk in chunks:
        events += reader.feed(chunk)  # must not raise
    assert all(isinstance(e, Frame | BadFrame | Control | Noise) for e in events)
    assert len(events) <= sum(len(c) for c in chunks)  # every event consumed a byte
    for event in events:
        if isinstance(event, Control):
            assert event.byte in (0x06, 0x15)
    # After T1 the caller resets; the next good frame always comes through.
    reader.reset()
    good = Apdu(0x80, 0x00)
    after = reader.feed(encode_frame(good))
    assert after[-1] == Frame(good.encode())
    assert not reader.in_frame


@FUZZ
@given(WIRE_BYTES, st.integers(1, 16))
def test_frame_reader_with_a_size_limit(data: bytes, limit: int) -> None:
    for event in FrameReader(max_data=limit).feed(data):
        if isinstance(event, Frame):
            assert len(event.raw) <= limit


@ROUND
@given(
    st.lists(st.tuples(st.sampled_from([b"", b"\x06", b"\x15"]), APDUS), max_size=4),
    st.lists(st.integers(0, 400), max_size=6),
)
def test_frames_round_trip_split_anywhere(items: list[tuple[bytes, Apdu]], cuts: list[int]) -> None:
    wire = b"".join(ack + encode_frame(apdu) for ack, apdu in items)
    expected: list[Event] = []
    for ack, apdu in items:
        expected += [Control(ack[0])] if ack else []
        expected.append(Frame(apdu.encode()))
    reader, events, start = FrameReader(), [], 0
    for cut in [*sorted(cuts), len(wire)]:
        events += reader.feed(wire[start:cut])
        start = max(start, cut)
    assert events == expected
    decoded = [e.apdu() for e in events if isinstance(e, Frame)]
    assert decoded == [apdu for _, apdu in items]


@ROUND
@given(biased_bytes([0x00, 0xFF, 0x02, 0x03]).map(lambda b: b.replace(b"\x10", b"")), APDUS)
def test_noise_before_a_frame_never_hides_it(noise: bytes, apdu: Apdu) -> None:
    events = FrameReader().feed(noise + encode_frame(apdu))
    assert events[-1] == Frame(apdu.encode())
    assert not any(isinstance(e, BadFrame) for e in events)


@ROUND
@given(APDUS, st.data())
def test_a_corrupted_byte_is_never_a_good_frame(apdu: Apdu, data: st.DataObject) -> None:
    raw = apdu.encode()
    index = data.draw(st.integers(0, len(raw) - 1))
    flip = data.draw(st.integers(1, 255))
    corrupted = bytearray(raw)
    corrupted[index] ^= flip
    stuffed = bytes(corrupted).replace(b"\x10", b"\x10\x10")
    wire = b"\x10\x02" + stuffed + b"\x10\x03" + crc_bytes(raw + b"\x03")
    events = FrameReader().feed(wire)
    assert len(events) == 1 and isinstance(events[0], BadFrame)


# -- APDUs ------------------------------------------------------------------------------
@FUZZ
@given(WIRE_BYTES)
def test_decode_apdu_takes_any_bytes(data: bytes) -> None:
    try:
        apdu = decode_apdu(data)
    except ZvtCodecError:
        return
    assert decode_apdu(apdu.encode()) == apdu


@FUZZ
@given(CHUNKS)
def test_apdu_stream_takes_any_bytes(chunks: list[bytes]) -> None:
    stream = ApduStream()
    for chunk in chunks:
        stream.feed(chunk)
    assert 0 <= stream.pending <= sum(len(c) for c in chunks)


@ROUND
@given(st.lists(APDUS, max_size=5), st.lists(st.integers(0, 1500), max_size=8))
def test_apdus_round_trip_split_anywhere(apdus: list[Apdu], cuts: list[int]) -> None:
    wire = b"".join(a.encode() for a in apdus)
    stream, got, start = ApduStream(), [], 0
    for cut in [*sorted(cuts), len(wire)]:
        got += stream.feed(wire[start:cut])
        start = max(start, cut)
    assert got == apdus
    assert stream.pending == 0
    assert [decode_apdu(a.encode()) for a in apdus] == apdus


@ROUND
@given(st.integers(0, 255), st.integers(0, 255), st.sampled_from([0, 1, 253, 254, 255, 256, 600]))
def test_apdu_length_boundaries(cls: int, instr: int, size: int) -> None:
    apdu = Apdu(cls, instr, bytes([0x10]) * size)
    raw = apdu.encode()
    assert len(raw) == size + (3 if size < 255 else 5)
    assert decode_apdu(raw) == apdu
    assert encode_frame(apdu).count(b"\x10\x10") >= size


# -- data blocks ------------------------------------------------------------------------
@FUZZ
@given(BMP_BYTES)
def test_decode_bmps_takes_any_bytes(data: bytes) -> None:
    try:
        decode_bmps(data)
    except ZvtCodecError:
        pass


@FUZZ
@given(TLV_BYTES)
def test_decode_tlv_takes_any_bytes(data: bytes) -> None:
    try:
        items = decode_tlv(data)
    except ZvtCodecError:
        return
    assert decode_tlv(encode_tlv(items)) == items


@FUZZ
@given(st.sampled_from([*BY_CODE, (0x06, 0x99), (0x80, 0x00)]), BMP_BYTES)
def test_parse_command_takes_any_bytes(code: tuple[int, int], data: bytes) -> None:
    try:
        parse_command(Apdu(*code, data))
    except ZvtCodecError:  # UnknownCommand is one too
        pass


@FUZZ
@given(BMP_BYTES)
def test_terminal_message_parsers_take_any_bytes(data: bytes) -> None:
    for parse in (
        parse_intermediate,
        parse_abort,
        parse_status_completion,
        parse_print_line,
        parse_text_block,
    ):
        try:
            parse(data)
        except ZvtCodecError:
            pass


# -- generated values round-trip --------------------------------------------------------
def multi_byte_tag(constructed: bool) -> st.SearchStrategy[int]:
    first = st.sampled_from([0x1F, 0x5F, 0x9F, 0xDF]).map(
        lambda b: b | (0x20 if constructed else 0)
    )
    middle = st.lists(st.integers(0x80, 0xFF), max_size=2)
    last = st.integers(0x00, 0x7F)
    return st.tuples(first, middle, last).map(
        lambda t: int.from_bytes(bytes([t[0], *t[1], t[2]]), "big")
    )


PRIMITIVE_TAGS = st.one_of(
    st.integers(0, 0xFF).filter(lambda t: t & 0x1F != 0x1F and not t & 0x20),
    st.sampled_from([0x1F73, 0x1F2B, 0x1F16, 0x1F17, 0x1F07]),
    multi_byte_tag(False),
)
CONSTRUCTED_TAGS = st.one_of(
    st.sampled_from([0x25, 0x26, 0xE4]),
    st.integers(0, 0xFF).filter(lambda t: t & 0x1F != 0x1F and t & 0x20),
    multi_byte_tag(True),
)
TLV_TREES = st.lists(
    st.recursive(
        st.builds(Tlv, PRIMITIVE_TAGS, st.binary(max_size=300)),
        lambda inner: st.builds(
            Tlv, CONSTRUCTED_TAGS, st.just(b""), st.lists(inner, max_size=3).map(tuple)
        ),
        max_leaves=12,
    ),
    max_size=3,
).map(tuple)


def depth(items: tuple[Tlv, ...]) -> int:
    return max((1 + depth(t.children) if t.constructed else 0 for t in items), default=0)


@ROUND
@given(TLV_TREES)
def test_tlv_trees_round_trip(items: tuple[Tlv, ...]) -> None:
    raw = encode_tlv(items)
    if depth(items) > MAX_DEPTH:
        try:
            decode_tlv(raw)
        except ZvtCodecError as error:
            assert "deeper" in str(error)
            return
        raise AssertionError("nesting past the limit was accepted")
    assert decode_tlv(raw) == items
    assert decode_bmps(encode_bmps({0x06: items})) == {0x06: items}


def pan_last4(pan: str) -> str | None:
    tail = pan[-4:]
    return tail if len(tail) == 4 and tail.isdigit() else None


def bmp_value(bmp: Bmp) -> st.SearchStrategy[tuple[Any, Any]]:
    """(value to encode, value decoding must give) for any field of the table."""
    if bmp.layout == "tlv":
        return TLV_TREES.filter(lambda t: depth(t) <= MAX_DEPTH).map(lambda t: (t, t))
    if bmp.layout in ("llvar", "lllvar"):
        limit = 99 if bmp.layout == "llvar" else 400
        if bmp.content == "pan":
            pans = st.text(alphabet="0123456789E", max_size=19)
            return pans.map(lambda p: (p, MaskedPan(pan_last4(p))))
        if bmp.content == "secret":
            return st.binary(max_size=limit).map(lambda v: (v, Redacted(len(v))))
        if bmp.content == "ascii":
            return st.text(CP437_TEXT, max_size=limit).map(lambda v: (v, v))
        return st.binary(max_size=limit).map(lambda v: (v, v))
    size = bmp.size
    value: st.SearchStrategy[Any]
    if bmp.layout == "bin":
        value = st.integers(0, 255) if size == 1 else st.binary(min_size=size, max_size=size)
    elif bmp.layout == "bcd":
        value = st.integers(0, 10 ** (size * 2) - 1)
        if bmp.id == 0x87:
            value = st.one_of(st.none(), value)
    elif bmp.layout == "digits":
        value = st.text(alphabet="0123456789", min_size=size * 2, max_size=size * 2)
    else:
        value = st.text(CP437_TEXT, max_size=size)
    return value.map(lambda v: (v, Redacted(size) if bmp.secret else v))


@st.composite
def bmp_fields(draw: st.DrawFn, max_size: int = 6) -> tuple[dict[int, Any], dict[int, Any]]:
    ids = draw(st.lists(st.sampled_from(list(TABLE)), unique=True, max_size=max_size))
    values, expected = {}, {}
    for ident in ids:
        values[ident], expected[ident] = draw(bmp_value(TABLE[ident]))
    return values, expected


@ROUND
@given(bmp_fields(max_size=12))
def test_generated_data_blocks_round_trip(fields: tuple[dict[int, Any], dict[int, Any]]) -> None:
    values, expected = fields
    decoded = decode_bmps(encode_bmps(values))
    assert decoded == expected
    assert list(decoded) == list(values)


@ROUND
@given(st.sampled_from(list(COMMANDS.values())), bmp_fields(), st.data())
def test_generated_commands_round_trip(
    spec: Any, fields: tuple[dict[int, Any], dict[int, Any]], data: st.DataObject
) -> None:
    values, expected = fields
    args: dict[str, Any] = {}
    digits = st.text(alphabet="0123456789", min_size=6, max_size=6)
    if "password" in spec.prefix:
        args["password"] = data.draw(
            st.one_of(st.none(), digits) if spec.optional_prefix else digits
        )
        if args["password"] is None:
            values, expected = {}, {}  # no password, nothing after it
    if "config" in spec.prefix:
        args["config"] = data.draw(st.integers(0, 255))
    if "currency" in spec.prefix:
        # BCD currencies starting 03 / 06 (HUF, RUB, ...) look like BMP ids: draw them often
        args["currency"] = data.draw(st.one_of(st.integers(0, 9999), st.sampled_from([348, 643])))
    command = parse_command(decode_apdu(build(spec.name, bmps=values, **args).encode()))
    assert command.spec is spec
    assert command.password == args.get("password")
    assert command.config == args.get("config")
    assert command.currency == args.get("currency")
    assert command.fields == expected


@ROUND
@given(st.text(alphabet="0123456789", min_size=12, max_size=19))
def test_full_pans_never_leave_the_decoder(pan: str) -> None:
    decoded = decode_bmps(encode_bmps({0x22: pan, 0x8A: 10}))
    assert decoded[0x22] == MaskedPan(pan[-4:])
    assert re.search(r"\d{5,}", repr(decoded) + str(decoded)) is None


@ROUND
@given(st.integers(0, 255), st.one_of(st.none(), st.just(6), st.integers(0, 99)))
def test_intermediate_round_trip(status: int, minutes: int | None) -> None:
    assert parse_intermediate(build_intermediate(status, minutes).data) == Intermediate(
        status, minutes
    )


@ROUND
@given(st.integers(0, 255), st.one_of(st.none(), st.text(CP437_TEXT, max_size=40)))
def test_status_completion_round_trip(status: int, software: str | None) -> None:
    parsed = parse_status_completion(build_status_completion(status, software).data)
    assert parsed == TerminalStatus(status, software)


@ROUND
@given(st.integers(0, 255), st.text(CP437_TEXT, max_size=60))
def test_print_line_round_trip(attribute: int, text: str) -> None:
    line = parse_print_line(build_print_line(text, attribute).data)
    assert (line.attribute, line.text) == (attribute, text)


@ROUND
@given(st.lists(st.text(CP437_TEXT, max_size=48), max_size=12), st.sampled_from([None, 1, 2, 3]))
def test_text_block_round_trip(lines: list[str], receipt_type: int | None) -> None:
    block = parse_text_block(build_text_block(lines, receipt_type).data)
    words = {None: None, 1: "merchant", 2: "customer", 3: "administration"}[receipt_type]
    assert block == TextBlock(tuple(lines), words)
