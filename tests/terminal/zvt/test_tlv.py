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


def hx(text: str) -> bytes:
    return bytes.fromhex(text)


def test_one_byte_tag() -> None:
    assert decode_tlv(hx("12 01 28")) == (Tlv(0x12, b"\x28"),)
    assert Tlv(0x12, b"\x28").encode() == hx("12 01 28")


@pytest.mark.parametrize(("tag", "wire"), [(0x1F73, "1F 73"), (0x1F2B, "1F 2B"), (0x1F16, "1F 16")])
def test_two_byte_tags(tag: int, wire: str) -> None:
    raw = hx(wire) + hx("03 00 00 01")
    assert decode_tlv(raw) == (Tlv(tag, hx("00 00 01")),)
    assert Tlv(tag, hx("00 00 01")).encode() == raw
    assert tag_bytes(tag) == hx(wire)


def test_longer_tags_continue_while_the_high_bit_is_set() -> None:
    assert read_tag(hx("1F 81 01"), 0) == (0x1F8101, 3)
    assert read_tag(hx("5F 81 82 03"), 0) == (0x5F818203, 4)
    with pytest.raises(ZvtCodecError, match="longer than 4 bytes"):
        read_tag(hx("1F 81 82 83 04"), 0)
    with pytest.raises(ZvtCodecError, match="cut short"):
        read_tag(hx("1F 81"), 0)
    with pytest.raises(ZvtCodecError, match="tag missing"):
        read_tag(b"", 0)


def test_constructed_tags() -> None:
    assert is_constructed(0x25) and is_constructed(0x26) and is_constructed(0xE4)
    assert not is_constructed(0x07) and not is_constructed(0x1F73) and not is_constructed(0x0A)
    # 25 (print texts) with 07 lines and a 09 attribute
    raw = hx("25 0B 07 03 41 42 43 09 01 00 07 01 44")
    (texts,) = decode_tlv(raw)
    assert texts.constructed and texts.value == b""
    assert texts.children == (Tlv(0x07, b"ABC"), Tlv(0x09, b"\x00"), Tlv(0x07, b"D"))
    assert texts.encode() == raw
    # 26 (permitted commands) with 0A entries
    raw = hx("26 08 0A 02 06 D3 0A 02 06 D1")
    (permitted,) = decode_tlv(raw)
    assert [c.value for c in permitted.children] == [hx("06 D3"), hx("06 D1")]
    assert permitted.encode() == raw
    # E4 (device info) with two-byte tags inside
    raw = hx("E4 0B 1F 40 03 45 43 52 1F 41 02 31 30")
    (info,) = decode_tlv(raw)
    assert info.find(0x1F41) == Tlv(0x1F41, b"10")
    assert info.find(0x1F42) is None
    assert info.encode() == raw


def test_find_and_walk_go_depth_first() -> None:
    items = decode_tlv(hx("1F 16 01 05 E4 07 25 05 07 03 61 62 63 07 01 7A"))
    assert [t.tag for t in walk(items)] == [0x1F16, 0xE4, 0x25, 0x07, 0x07]
    assert find(items, 0x07) == Tlv(0x07, b"abc")
    assert find(items, 0x1F17) is None


@pytest.mark.parametrize(
    ("size", "wire"),
    [
        (0, "00"),
        (0x7F, "7F"),
        (0x80, "81 80"),
        (0xFF, "81 FF"),
        (0x100, "82 01 00"),
        (0x1234, "82 12 34"),  # big-endian, unlike the APDU's FF lo hi
        (0xFFFF, "82 FF FF"),
    ],
)
def test_lengths(size: int, wire: str) -> None:
    assert encode_tlv_length(size) == hx(wire)
    raw = hx(wire) + b"rest"
    assert read_length(raw, 0) == (size, len(hx(wire)))
    element = Tlv(0x1F2B, bytes(size))
    assert decode_tlv(element.encode()) == (element,)


def test_long_values_through_bmp_06() -> None:
    items = (Tlv(0x25, children=tuple(Tlv(0x07, b"x" * 40) for _ in range(10))),)
    raw = encode_bmp(0x06, items)
    # ten 42-byte lines make a 420-byte 25 (82 01 A4), 424 bytes in the container (82 01 A8)
    assert raw[:8] == hx("06 82 01 A8 25 82 01 A4")
    assert decode_bmps(raw) == {0x06: items}


def test_unsupported_length_forms() -> None:
    with pytest.raises(ZvtCodecError, match="80 at offset 0 is not supported"):
        read_length(hx("80 00"), 0)  # indefinite length
    with pytest.raises(ZvtCodecError, match="83 at offset 0 is not supported"):
        read_length(hx("83 00 00 01"), 0)
    with pytest.raises(ZvtCodecError, match="is too long"):
        encode_tlv_length(0x10000)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("1F 73 03 00 00", "announces 3 bytes, only 2 remain"),
        ("1F 73", "length missing"),
        ("1F", "cut short"),
        ("07 81", "cut short"),
        ("07 82 01", "cut short"),
        ("25 04 07 05 41 42", "announces 5 bytes, only 2 remain"),  # inside a constructed tag
    ],
)
def test_cut_short(raw: str, message: str) -> None:
    with pytest.raises(ZvtCodecError, match=message):
        decode_tlv(hx(raw))


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
    assert decode_tlv(hx("1F 1F 00 25 00")) == (Tlv(0x1F1F), Tlv(0x25))
