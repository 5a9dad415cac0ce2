"""BMP 06, the TLV container: BER-style tags and lengths (PA00P015 §9).

Tags follow ASN.1: a first byte whose low five bits are ``11111`` continues in the next
bytes while their high bit is set (``1F 73``); bit 0x20 of the first byte marks a
constructed tag whose value is itself a TLV list (``25``, ``26``, ``E4``). Lengths are
``00..7F``, ``81 nn`` or ``82 hi lo``: big-endian, unlike the APDU's extended length.

Tags are kept as the integer of their bytes (``0x1F73``), as the specification names them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from .errors import ZvtCodecError

MAX_DEPTH = 8  # nesting deeper than this is refused rather than recursed into


@dataclass(frozen=True)
class Tlv:
    """One TLV element; constructed tags carry ``children`` and no primitive value."""

    tag: int
    value: bytes = b""
    children: tuple[Tlv, ...] = field(default=())

    @property
    def constructed(self) -> bool:
        return is_constructed(self.tag)

    def find(self, tag: int) -> Tlv | None:
        """The first descendant (depth first) with ``tag``."""
        for child in self.children:
            if child.tag == tag:
                return child
            found = child.find(tag)
            if found is not None:
                return found
        return None

    def encode(self) -> bytes:
        body = b"".join(c.encode() for c in self.children) if self.constructed else self.value
        return tag_bytes(self.tag) + encode_tlv_length(len(body)) + body


def tag_bytes(tag: int) -> bytes:
    size = max(1, (tag.bit_length() + 7) // 8)
    return tag.to_bytes(size, "big")


def is_constructed(tag: int) -> bool:
    return bool(tag_bytes(tag)[0] & 0x20)


def encode_tlv_length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    if size <= 0xFF:
        return bytes([0x81, size])
    if size <= 0xFFFF:
        return b"\x82" + size.to_bytes(2, "big")
    raise ZvtCodecError(f"TLV value of {size} bytes is too long")


def encode_tlv(items: Iterable[Tlv]) -> bytes:
    """The content of a BMP 06 container (without the BMP byte and outer length)."""
    return b"".join(item.encode() for item in items)


def encode_container(items: Iterable[Tlv]) -> bytes:
    """``<BER length><TLV list>``: what follows the BMP id 06."""
    body = encode_tlv(items)
    return encode_tlv_length(len(body)) + body


def read_tag(data: bytes, offset: int) -> tuple[int, int]:
    if offset >= len(data):
        raise ZvtCodecError(f"TLV tag missing at offset {offset}")
    first = data[offset]
    end = offset + 1
    if first & 0x1F == 0x1F:
        while True:
            if end >= len(data):
                raise ZvtCodecError(f"TLV tag at offset {offset} is cut short")
            more = data[end] & 0x80
            end += 1
            if end - offset > 4:
                raise ZvtCodecError(f"TLV tag at offset {offset} is longer than 4 bytes")
            if not more:
                break
    return int.from_bytes(data[offset:end], "big"), end


def read_length(data: bytes, offset: int) -> tuple[int, int]:
    """(length, offset after the length field) of a BER length at ``offset``."""
    if offset >= len(data):
        raise ZvtCodecError(f"TLV length missing at offset {offset}")
    first = data[offset]
    if first < 0x80:
        return first, offset + 1
    count = first & 0x7F
    if count not in (1, 2):
        raise ZvtCodecError(f"TLV length byte {first:02X} at offset {offset} is not supported")
    if offset + 1 + count > len(data):
        raise ZvtCodecError(f"TLV length at offset {offset} is cut short")
    return int.from_bytes(data[offset + 1 : offset + 1 + count], "big"), offset + 1 + count


def decode_tlv(data: bytes, *, depth: int = 0) -> tuple[Tlv, ...]:
    """A TLV list (the content of a container or of a constructed tag)."""
    if depth > MAX_DEPTH:
        raise ZvtCodecError(f"TLV nested deeper than {MAX_DEPTH} levels")
    items: list[Tlv] = []
    offset = 0
    while offset < len(data):
        tag, offset = read_tag(data, offset)
        size, offset = read_length(data, offset)
        if offset + size > len(data):
            raise ZvtCodecError(
                f"TLV tag {tag:X} announces {size} bytes, only {len(data) - offset} remain"
            )
        value = bytes(data[offset : offset + size])
        offset += size
        if is_constructed(tag):
            items.append(Tlv(tag, b"", decode_tlv(value, depth=depth + 1)))
        else:
            items.append(Tlv(tag, value))
    return tuple(items)


def walk(items: Iterable[Tlv]) -> Iterator[Tlv]:
    """Every element, depth first."""
    for item in items:
        yield item
        yield from walk(item.children)


def find(items: Iterable[Tlv], tag: int) -> Tlv | None:
    return next((item for item in walk(items) if item.tag == tag), None)
