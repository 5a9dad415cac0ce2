"""APDUs as a terminal reads and writes them (PA00P016 §5.2, PA00P015 §9).

An APDU is ``CLASS INSTR LEN data``. ``LEN`` is one byte for 0..254 data bytes; the value
``FF`` says a two-byte length follows, least significant byte first (``FF 00 01`` is 256),
for up to 65535 bytes. Answers have the same shape: ``80 00`` accepts, ``84 xx`` refuses
with result code ``xx`` (``84 00`` is read as accepting too, as the specification allows).

Over TCP nothing frames an APDU: :class:`ApduAssembler` takes the byte stream in whatever
pieces it arrives and hands out whole APDUs.
"""

from __future__ import annotations

from dataclasses import dataclass

EXTENDED = 0xFF  # a LEN byte of FF announces the two-byte length
LARGEST = 0xFFFF


class CodecError(ValueError):
    """Bytes the terminal cannot read as ZVT; the message says which and where."""


@dataclass(frozen=True)
class Apdu:
    """One APDU; ``cls`` and ``instr`` are the two command (or answer) bytes."""

    cls: int
    instr: int
    data: bytes = b""

    @property
    def code(self) -> tuple[int, int]:
        return self.cls, self.instr

    @property
    def is_ack(self) -> bool:
        """The ECR's positive answer: ``80 00``, or ``84 00``."""
        return self.instr == 0x00 and self.cls in (0x80, 0x84)

    @property
    def is_answer(self) -> bool:
        """An answer (80 xx / 84 xx) rather than a command."""
        return self.cls in (0x80, 0x84)

    def to_bytes(self) -> bytes:
        return bytes([self.cls, self.instr]) + length_field(len(self.data)) + self.data

    def __str__(self) -> str:
        # codes and size only: a log line must never carry the data (a PAN may be in it)
        return f"{self.cls:02X} {self.instr:02X} [{len(self.data)}]"


ACK = Apdu(0x80, 0x00)


def nack(result: int) -> Apdu:
    """The terminal's refusal ``84 <result> 00``."""
    return Apdu(0x84, result)


def length_field(size: int) -> bytes:
    """``LEN`` for ``size`` data bytes: one byte below FF, else ``FF lo hi``."""
    if not 0 <= size <= LARGEST:
        raise CodecError(f"an APDU carries 0 to {LARGEST} data bytes, not {size}")
    if size < EXTENDED:
        return bytes([size])
    return bytes([EXTENDED, size & 0xFF, size >> 8])


def encode_apdu(apdu: Apdu) -> bytes:
    if not (0 <= apdu.cls <= 0xFF and 0 <= apdu.instr <= 0xFF):
        raise CodecError(f"class {apdu.cls} / instruction {apdu.instr} are not bytes")
    return apdu.to_bytes()


def measure(buffer: bytes | bytearray) -> tuple[int, int] | None:
    """``(header size, data size)`` of the APDU at the start of ``buffer``, or ``None``
    while too few bytes are there to tell."""
    if len(buffer) < 3:
        return None
    if buffer[2] != EXTENDED:
        return 3, buffer[2]
    if len(buffer) < 5:
        return None
    return 5, buffer[3] | buffer[4] << 8


def decode_apdu(raw: bytes) -> Apdu:
    """The one APDU that ``raw`` holds, refusing a length that disagrees with the bytes."""
    sizes = measure(raw)
    if sizes is None:
        raise CodecError(f"{len(raw)} bytes are too few for an APDU header")
    head, size = sizes
    if head + size != len(raw):
        raise CodecError(
            f"APDU {raw[0]:02X} {raw[1]:02X} says {size} data bytes, {len(raw) - head} came"
        )
    return Apdu(raw[0], raw[1], bytes(raw[head:]))


class ApduAssembler:
    """Whole APDUs out of a TCP stream cut anywhere (no framing, no ACK level)."""

    def __init__(self) -> None:
        self._held = bytearray()

    def feed(self, chunk: bytes) -> list[Apdu]:
        self._held += chunk
        whole: list[Apdu] = []
        while (sizes := measure(self._held)) is not None:
            head, size = sizes
            end = head + size
            if len(self._held) < end:
                break
            whole.append(Apdu(self._held[0], self._held[1], bytes(self._held[head:end])))
            del self._held[:end]
        return whole

    @property
    def pending(self) -> int:
        """Bytes held of an APDU that is not complete yet."""
        return len(self._held)

    def reset(self) -> None:
        """A new connection: what the old one left half-sent is forgotten."""
        self._held.clear()
