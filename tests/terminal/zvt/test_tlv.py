"""BMP 06: BER tags (one and more bytes, constructed) and big-endian BER lengths."""

from __future__ import annotations

import pytest

from posdriver.terminal.zvt.bmp import decode_bmps, encode_bmp
from posdriver.terminal.zvt.errors import ZvtCodecError
from posdriver.terminal.zvt.tlv import (
    MAX_DEPTH,
    Tlv,
    decode_tlv,
    encode_container,
    encode_tlv,
    encode_tlv_length,
    find,
    is_constructed,
    read_length,
    read_tag,
    tag_bytes,
    walk,
)
from tests.support.zvt_vectors import (
    DEVICE_INFO,
    EMPTY_VALUES,
    INDEFINITE_LENGTH,
    LONG_CONTAINER_START,
    LONG_TAGS,
    LONG_TRACE,
    MSG_SEQ_ID,
    NESTED,
    ONE_BYTE_TAG,
    PERMITTED,
    PRINT_TEXTS,
    TAG_TOO_LONG,
    THREE_BYTE_LENGTH,
    TLV_CUT_SHORT,
    TLV_LENGTHS,
    VENDOR_ERROR,
    T,
    TlvVector,
)


def hx(text: str) -> bytes:
    return bytes.fromhex(text)


def tlv(item: T) -> Tlv:
    """posdriver's element for a vector's neutral one."""
    return Tlv(item.tag, item.value, tuple(tlv(c) for c in item.children))


def test_one_byte_tag() -> None:
    assert decode_tlv(ONE_BYTE_TAG.wire) == (Tlv(0x12, b"\x28"),)
    assert Tlv(0x12, b"\x28").encode() == ONE_BYTE_TAG.wire


@pytest.mark.parametrize("vector", [MSG_SEQ_ID, LONG_TRACE, VENDOR_ERROR], ids=lambda v: v.name)
def test_two_byte_tags(vector: TlvVector) -> None:
    raw = vector.wire
    (item,) = vector.items
    tag = item.tag
    assert decode_tlv(raw) == (Tlv(tag, hx("00 00 01")),)
    assert Tlv(tag, hx("00 00 01")).encode() == raw
    assert tag_bytes(tag) == raw[:2]


def test_longer_tags_continue_while_the_high_bit_is_set() -> None:
    for raw, tag, size in LONG_TAGS:
        assert read_tag(raw, 0) == (tag, size)
    with pytest.raises(ZvtCodecError, match="longer than 4 bytes"):
        read_tag(TAG_TOO_LONG, 0)
    with pytest.raises(ZvtCodecError, match="cut short"):
        read_tag(hx("1F 81"), 0)
    with pytest.raises(ZvtCodecError, match="tag missing"):
        read_tag(b"", 0)


def test_constructed_tags() -> None:
    assert is_constructed(0x25) and is_constructed(0x26) and is_constructed(0xE4)
    assert not is_constructed(0x07) and not is_constructed(0x1F73) and not is_constructed(0x0A)
    # 25 (print texts) with 07 lines and a 09 attribute
    raw = PRINT_TEXTS.wire
    (texts,) = decode_tlv(raw)
    assert texts.constructed and texts.value == b""
    assert texts.children == (Tlv(0x07, b"ABC"), Tlv(0x09, b"\x00"), Tlv(0x07, b"D"))
    assert (texts,) == tuple(tlv(t) for t in PRINT_TEXTS.items)
    assert texts.encode() == raw
    # 26 (permitted commands) with 0A entries
    raw = PERMITTED.wire
    (permitted,) = decode_tlv(raw)
    assert [c.value for c in permitted.children] == [hx("06 D3"), hx("06 D1")]
    assert (permitted,) == tuple(tlv(t) for t in PERMITTED.items)
    assert permitted.encode() == raw
    # E4 (device info) with two-byte tags inside
    raw = DEVICE_INFO.wire
    (info,) = decode_tlv(raw)
    assert (info,) == tuple(tlv(t) for t in DEVICE_INFO.items)
    assert info.find(0x1F41) == Tlv(0x1F41, b"10")
    assert info.find(0x1F42) is None
    assert info.encode() == raw


def test_find_and_walk_go_depth_first() -> None:
    items = decode_tlv(NESTED.wire)
    assert items == tuple(tlv(t) for t in NESTED.items)
    assert [t.tag for t in walk(items)] == [0x1F16, 0xE4, 0x25, 0x07, 0x07]
    assert find(items, 0x07) == Tlv(0x07, b"abc")
    assert find(items, 0x1F17) is None


@pytest.mark.parametrize(("size", "wire"), TLV_LENGTHS)
def test_lengths(size: int, wire: bytes) -> None:
    assert encode_tlv_length(size) == wire
    raw = wire + b"rest"
    assert read_length(raw, 0) == (size, len(wire))
    element = Tlv(0x1F2B, bytes(size))
    assert decode_tlv(element.encode()) == (element,)


def test_long_values_through_bmp_06() -> None:
    items = (Tlv(0x25, children=tuple(Tlv(0x07, b"x" * 40) for _ in range(10))),)
    raw = encode_bmp(0x06, items)
    # ten 42-byte lines make a 420-byte 25 (82 01 A4), 424 bytes in the container (82 01 A8)
    assert raw[:8] == LONG_CONTAINER_START
    assert decode_bmps(raw) == {0x06: items}


def test_unsupported_length_forms() -> None:
    with pytest.raises(ZvtCodecError, match="80 at offset 0 is not supported"):
        read_length(INDEFINITE_LENGTH, 0)  # indefinite length
    with pytest.raises(ZvtCodecError, match="83 at offset 0 is not supported"):
        read_length(THREE_BYTE_LENGTH, 0)
    with pytest.raises(ZvtCodecError, match="is too long"):
        encode_tlv_length(0x10000)


CUT_SHORT_MESSAGES = (
    "announces 3 bytes, only 2 remain",
    "length missing",
    "cut short",
    "cut short",
    "cut short",
    "announces 5 bytes, only 2 remain",  # inside a constructed tag
)


@pytest.mark.parametrize(
    ("raw", "message"),
    [(raw, message) for (raw, _), message in zip(TLV_CUT_SHORT, CUT_SHORT_MESSAGES, strict=True)],
)
def test_cut_short(raw: bytes, message: str) -> None:
    with pytest.raises(ZvtCodecError, match=message):
        decode_tlv(raw)


def nested(levels: int) -> bytes:
    raw = hx("07 01 41")
    for _ in range(levels):
        raw = bytes([0x25, len(raw)]) + raw
    return raw


def test_depth_limit() -> None:
    items = decode_tlv(nested(MAX_DEPTH))
    assert find(items, 0x07) == Tlv(0x07, b"A")
    with pytest.raises(ZvtCodecError, match=f"deeper than {MAX_DEPTH} levels"):
        decode_tlv(nested(MAX_DEPTH + 1))
    with pytest.raises(ZvtCodecError, match="deeper"):
        decode_bmps(bytes([0x06, len(nested(MAX_DEPTH + 1))]) + nested(MAX_DEPTH + 1))


def test_container_and_list() -> None:
    items = [Tlv(0x1F73, hx("00 00 00"))]
    assert encode_tlv(items) == hx("1F 73 03 00 00 00")
    assert encode_container(items) == hx("06 1F 73 03 00 00 00")
    assert encode_container([]) == hx("00")
    assert decode_tlv(b"") == ()


def test_empty_values() -> None:
    assert decode_tlv(EMPTY_VALUES.wire) == (Tlv(0x1F1F), Tlv(0x25))
