"""ZVT application protocol data units: ``CLASS INSTR LEN data``.

The length is one byte (0..254); ``FF`` announces an extended length of two bytes,
**little-endian** (``FF lo hi``), up to 65535. Answers use the same layout with
``80 00`` (positive) or ``84 xx`` (negative, xx = result code).

Over TCP, APDUs travel raw, back to back, with no framing: :class:`ApduStream`
reassembles them from segments split anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ZvtCodecError

MAX_DATA = 0xFFFF


@dataclass(frozen=True)
class Apdu:
    """One APDU: class byte, instruction byte, data."""

    cls: int
    instr: int
    data: bytes = b""

    @property
    def code(self) -> tuple[int, int]:
        return (self.cls, self.instr)

    @property
    def is_ack(self) -> bool:
        """A positive answer (``80 00``; ``84 00`` also means positive)."""
        return (self.cls, self.instr) in ((0x80, 0x00), (0x84, 0x00))

    @property
    def is_nack(self) -> bool:
        """A negative answer ``84 xx`` with xx != 00; ``instr`` is the result code."""
        return self.cls == 0x84 and self.instr != 0x00

    def encode(self) -> bytes:
        return encode_apdu(self)

    def __str__(self) -> str:
        return f"{self.cls:02X} {self.instr:02X} [{len(self.data)}]"


ACK = Apdu(0x80, 0x00)


def nack(code: int) -> Apdu:
    """A negative answer ``84 <code> 00``."""
    return Apdu(0x84, code)


def encode_length(size: int) -> bytes:
    if size < 0 or size > MAX_DATA:
        raise ZvtCodecError(f"APDU data of {size} bytes exceeds the 65535-byte maximum")
    if size < 0xFF:
        return bytes([size])
    return b"\xff" + size.to_bytes(2, "little")


def encode_apdu(apdu: Apdu) -> bytes:
    for name, value in (("class", apdu.cls), ("instruction", apdu.instr)):
        if not 0 <= value <= 0xFF:
            raise ZvtCodecError(f"APDU {name} byte {value} is out of range")
    return bytes([apdu.cls, apdu.instr]) + encode_length(len(apdu.data)) + bytes(apdu.data)


def header_size(buffer: bytes | bytearray) -> tuple[int, int] | None:
    """(header length, data length) once enough bytes are there, else ``None``."""
    if len(buffer) < 3:
        return None
    if buffer[2] != 0xFF:
        return 3, buffer[2]
    if len(buffer) < 5:
        return None
    return 5, int.from_bytes(buffer[3:5], "little")


def decode_apdu(raw: bytes) -> Apdu:
    """Exactly one APDU; surplus or missing bytes are a :class:`ZvtCodecError`."""
    sizes = header_size(raw)
    if sizes is None:
        raise ZvtCodecError(f"APDU of {len(raw)} bytes is shorter than its header")
    head, size = sizes
    if len(raw) != head + size:
        raise ZvtCodecError(
            f"APDU {raw[0]:02X} {raw[1]:02X} announces {size} data bytes "
            f"but carries {len(raw) - head}"
        )
    return Apdu(raw[0], raw[1], bytes(raw[head:]))


class ApduStream:
    """Reassembles APDUs from a TCP byte stream split at arbitrary points."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Apdu]:
        """Add received bytes; return every APDU now complete, in order."""
        self._buffer += data
        done: list[Apdu] = []
        while True:
            sizes = header_size(self._buffer)
            if sizes is None:
                break
            head, size = sizes
            if len(self._buffer) < head + size:
                break
            raw = bytes(self._buffer[: head + size])
            del self._buffer[: head + size]
            done.append(Apdu(raw[0], raw[1], raw[head:]))
        return done

    @property
    def pending(self) -> int:
        """Bytes of an APDU not yet complete."""
        return len(self._buffer)

    def reset(self) -> None:
        self._buffer.clear()
