"""BMP 06, the TLV container, as the terminal reads and writes it (PA00P015 §9).

Tags and lengths are BER. A tag's first byte with its five low bits all set (``1F``)
continues into further bytes, each with its top bit set except the last (``1F 73``); bit
0x20 of the first byte makes the tag *constructed*: its value is a TLV list again (``25``
print texts, ``26`` permitted commands, ``E4`` device information). A length is one byte
below 0x80, or ``81 nn``, or ``82 hh ll``: big-endian, unlike an APDU's extended length.

A tag is kept as the number its bytes spell (``0x1F73``), the way the specification
writes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .apdu import CodecError

NESTING_LIMIT = 8  # an ECR's container nested deeper than this is refused, not recursed
LONGEST_TAG = 4


@dataclass(frozen=True)
class Tlv:
    """One element; a constructed one has ``children`` and no value of its own."""

    tag: int
    value: bytes = b""
    children: tuple[Tlv, ...] = ()

    @property
    def constructed(self) -> bool:
        return constructed(self.tag)

    def to_bytes(self) -> bytes:
        content = b"".join(c.to_bytes() for c in self.children) if self.constructed else self.value
        return tag_to_bytes(self.tag) + ber_length(len(content)) + content


def tag_to_bytes(tag: int) -> bytes:
    return tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")


def constructed(tag: int) -> bool:
    return tag_to_bytes(tag)[0] & 0x20 != 0


def ber_length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    if size < 0x100:
        return bytes([0x81, size])
    if size < 0x10000:
        return bytes([0x82, size >> 8, size & 0xFF])
    raise CodecError(f"a TLV value of {size} bytes is longer than 82 FF FF can say")


def encode_items(items: Iterable[Tlv]) -> bytes:
    """A TLV list, as inside BMP 06 or a constructed element."""
    return b"".join(item.to_bytes() for item in items)


def container(items: Iterable[Tlv]) -> bytes:
    """What follows the BMP id 06: the BER length of the list, then the list."""
    content = encode_items(items)
    return ber_length(len(content)) + content


def read_ber_length(data: bytes, at: int) -> tuple[int, int]:
    """``(length, where its value starts)`` for the BER length at ``at``."""
    if at >= len(data):
        raise CodecError(f"a TLV length is missing at offset {at}")
    first = data[at]
    if first < 0x80:
        return first, at + 1
    if first not in (0x81, 0x82):
        raise CodecError(f"TLV length form {first:02X} at offset {at} is not 81 or 82")
    count = first - 0x80
    end = at + 1 + count
    if end > len(data):
        raise CodecError(f"the TLV length at offset {at} stops short")
    return int.from_bytes(data[at + 1 : end], "big"), end


def read_tag(data: bytes, at: int) -> tuple[int, int]:
    """``(tag, offset after it)``."""
    if at >= len(data):
        raise CodecError(f"a TLV tag is missing at offset {at}")
    end = at + 1
    if data[at] & 0x1F == 0x1F:
        while True:
            if end >= len(data):
                raise CodecError(f"the TLV tag at offset {at} stops short")
            end += 1
            if end - at > LONGEST_TAG:
                raise CodecError(f"the TLV tag at offset {at} runs past {LONGEST_TAG} bytes")
            if not data[end - 1] & 0x80:
                break
    return int.from_bytes(data[at:end], "big"), end


def decode_items(data: bytes, level: int = 0) -> tuple[Tlv, ...]:
    """The elements of a TLV list, constructed ones opened up."""
    if level > NESTING_LIMIT:
        raise CodecError(f"TLV nested more than {NESTING_LIMIT} levels deep")
    items: list[Tlv] = []
    at = 0
    while at < len(data):
        tag, at = read_tag(data, at)
        size, at = read_ber_length(data, at)
        if at + size > len(data):
            raise CodecError(f"TLV tag {tag:X} says {size} bytes, {len(data) - at} are left")
        value = bytes(data[at : at + size])
        at += size
        if constructed(tag):
            items.append(Tlv(tag, children=decode_items(value, level + 1)))
        else:
            items.append(Tlv(tag, value))
    return tuple(items)


def every(items: Iterable[Tlv]) -> Iterator[Tlv]:
    """Each element and, after it, its descendants."""
    for item in items:
        yield item
        yield from every(item.children)


def find(items: Iterable[Tlv], tag: int) -> Tlv | None:
    """The first element with ``tag``, at any depth."""
    for item in every(items):
        if item.tag == tag:
            return item
    return None
