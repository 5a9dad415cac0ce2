"""The serial transport frame as the terminal sees it (PA00P016 §2.1, §3).

On the wire one APDU is ``DLE STX <APDU> DLE ETX <CRC lo> <CRC hi>`` (DLE 10, STX 02,
ETX 03). A 10 inside the APDU is sent twice; the doubling counts neither in the APDU's
length nor in the CRC. The CRC is CRC-16/KERMIT (reflected 0x8408, start 0, no final
XOR: the specification's "CRC-XModem x16+x15+x10+x3") over the plain APDU and the ETX,
low byte first, and is itself never doubled. Between frames the line carries the one-byte
acknowledgements ACK (06) and NAK (15).

:class:`FrameScanner` reads the ECR's bytes as they come and reports, in order, what it
found: a :class:`Frame` whose CRC matched, a :class:`BadFrame`, an acknowledgement
(:class:`Control`) or :class:`Noise`. It never raises on what the line carries; the
terminal answers a bad frame or noise with NAK. The T1 timer is the caller's, who has the
clock: ``in_frame`` says whether T1 runs, ``reset()`` drops the frame when it expires.
"""

from __future__ import annotations

from dataclasses import dataclass

from crc import Calculator, Crc16

from .apdu import Apdu, decode_apdu, encode_apdu

DLE, STX, ETX = 0x10, 0x02, 0x03
ACK_BYTE, NAK_BYTE = 0x06, 0x15
LONGEST_APDU = 5 + 0xFFFF  # extended header and 65535 data bytes

_KERMIT = Calculator(Crc16.KERMIT.value)


def crc16(data: bytes) -> int:
    """CRC-16/KERMIT of ``data`` (its check value over ``123456789`` is 0x2189)."""
    return int(_KERMIT.checksum(data))


def checksum(apdu_bytes: bytes) -> bytes:
    """The two CRC bytes that follow ``DLE ETX``, as sent: low byte first."""
    value = crc16(apdu_bytes + bytes([ETX]))
    return bytes([value & 0xFF, value >> 8])


def encode_frame(apdu: Apdu | bytes) -> bytes:
    """One frame around ``apdu`` (an :class:`Apdu` or its bytes)."""
    plain = encode_apdu(apdu) if isinstance(apdu, Apdu) else bytes(apdu)
    doubled = plain.replace(bytes([DLE]), bytes([DLE, DLE]))
    return bytes([DLE, STX]) + doubled + bytes([DLE, ETX]) + checksum(plain)


@dataclass(frozen=True)
class Frame:
    """A frame whose CRC matched; ``raw`` is the APDU with the doubled DLEs undone."""

    raw: bytes

    def apdu(self) -> Apdu:
        """The APDU; :class:`CodecError` when its LEN disagrees with the frame."""
        return decode_apdu(self.raw)


@dataclass(frozen=True)
class BadFrame:
    """A frame that started but cannot be used; ``reason`` says why."""

    reason: str


@dataclass(frozen=True)
class Control:
    """ACK or NAK between frames."""

    byte: int

    @property
    def is_ack(self) -> bool:
        return self.byte == ACK_BYTE


@dataclass(frozen=True)
class Noise:
    """Bytes between frames that neither start a frame nor acknowledge one."""

    data: bytes


Event = Frame | BadFrame | Control | Noise

# where the scanner is: between frames, after a DLE there (a frame may be starting),
# in the APDU, after a DLE in the APDU, in the CRC
_BETWEEN, _OPENING, _BODY, _ESCAPE, _CHECK = "between", "opening", "body", "escape", "check"


class FrameScanner:
    """Incremental: :meth:`feed` any piece of the line, get the events it completed."""

    def __init__(self, longest: int = LONGEST_APDU) -> None:
        self.longest = longest
        self._where = _BETWEEN
        self._body = bytearray()
        self._crc = bytearray()
        self._noise = bytearray()
        self._events: list[Event] = []

    @property
    def in_frame(self) -> bool:
        """From the first DLE of a possible frame to its last CRC byte (T1 runs)."""
        return self._where != _BETWEEN

    def reset(self) -> None:
        """Forget the frame under way (T1 expired)."""
        self._where = _BETWEEN
        self._body.clear()
        self._crc.clear()

    def feed(self, chunk: bytes) -> list[Event]:
        self._events = []
        for byte in chunk:
            self._take(byte)
        if self._where == _BETWEEN:
            self._report_noise()
        events, self._events = self._events, []
        return events

    # -- one byte -------------------------------------------------------------------------
    def _take(self, byte: int) -> None:
        where = self._where
        if where == _BETWEEN:
            self._between(byte)
        elif where == _OPENING:
            if byte == STX:
                self._report_noise()
                self._body.clear()
                self._where = _BODY
            else:
                # the DLE did not open a frame: it is noise, and this byte is read afresh
                self._noise.append(DLE)
                self._where = _BETWEEN
                self._between(byte)
        elif where == _BODY:
            if byte == DLE:
                self._where = _ESCAPE
            else:
                self._store(byte)
        elif where == _ESCAPE:
            self._escaped(byte)
        else:
            self._crc.append(byte)
            if len(self._crc) == 2:
                self._check()

    def _between(self, byte: int) -> None:
        if byte == DLE:
            self._where = _OPENING
        elif byte in (ACK_BYTE, NAK_BYTE):
            self._report_noise()
            self._events.append(Control(byte))
        else:
            self._noise.append(byte)

    def _escaped(self, byte: int) -> None:
        if byte == DLE:  # a doubled DLE is one data byte
            self._where = _BODY
            self._store(DLE)
        elif byte == ETX:
            self._crc.clear()
            self._where = _CHECK
        elif byte == STX:  # the ECR started over: what came so far is lost
            self._events.append(BadFrame("a new DLE STX came before this frame's DLE ETX"))
            self._body.clear()
            self._where = _BODY
        else:
            self._events.append(BadFrame(f"DLE {byte:02X} inside a frame is no DLE sequence"))
            self.reset()

    def _store(self, byte: int) -> None:
        if len(self._body) >= self.longest:
            self._events.append(BadFrame(f"a frame of more than {self.longest} APDU bytes"))
            self.reset()
            return
        self._body.append(byte)

    def _check(self) -> None:
        plain, got = bytes(self._body), bytes(self._crc)
        self.reset()
        wanted = checksum(plain)
        if got == wanted:
            self._events.append(Frame(plain))
        else:
            self._events.append(BadFrame(f"CRC {got.hex(' ')}, expected {wanted.hex(' ')}"))

    def _report_noise(self) -> None:
        if self._noise:
            self._events.append(Noise(bytes(self._noise)))
            self._noise.clear()
