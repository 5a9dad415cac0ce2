"""ZVT serial framing (PA00P016 §2.1, §3): ``DLE STX <APDU> DLE ETX CRC-lo CRC-hi``.

Every 0x10 inside the APDU is doubled on the wire (the extra DLE is neither counted in
the APDU length nor covered by the CRC). The CRC (CRC-16/KERMIT over APDU + ETX) is sent
raw, low byte first, as the terminals and ECR implementations in the field do. Between
frames the line carries single-byte acknowledgements: ACK ``06`` and NAK ``15``.

:class:`FrameReader` is incremental: feed it whatever the line delivered and it returns
events in order (:class:`Frame`, :class:`BadFrame`, :data:`ACK_BYTE` / :data:`NAK_BYTE`
as :class:`Control`, and :class:`Noise`). It never raises on wire bytes: a broken frame
is an event the caller answers with NAK and counts. Inter-byte timing (T1) is the
caller's, since only it has a clock: ``in_frame`` and ``reset()`` are for that.
"""

from __future__ import annotations

from dataclasses import dataclass

from .apdu import Apdu, decode_apdu, encode_apdu
from .crc import crc_bytes
from .errors import ZvtCodecError

DLE, STX, ETX = 0x10, 0x02, 0x03
ACK_BYTE, NAK_BYTE = 0x06, 0x15
MAX_FRAME_DATA = 0xFFFF + 5  # the largest APDU, header included


def encode_frame(apdu: Apdu | bytes) -> bytes:
    """The framed, stuffed, checksummed bytes for one APDU."""
    raw = encode_apdu(apdu) if isinstance(apdu, Apdu) else bytes(apdu)
    stuffed = raw.replace(b"\x10", b"\x10\x10")
    return b"\x10\x02" + stuffed + b"\x10\x03" + crc_bytes(raw + b"\x03")


@dataclass(frozen=True)
class Frame:
    """A frame whose CRC checked; ``raw`` is the unstuffed APDU bytes."""

    raw: bytes

    def apdu(self) -> Apdu:
        """The APDU inside; :class:`ZvtCodecError` if its length field disagrees."""
        return decode_apdu(self.raw)


@dataclass(frozen=True)
class BadFrame:
    """A frame that cannot be used (bad CRC, broken DLE sequence, oversize)."""

    reason: str


@dataclass(frozen=True)
class Control:
    """A single-byte acknowledgement between frames: ACK (06) or NAK (15)."""

    byte: int

    @property
    def is_ack(self) -> bool:
        return self.byte == ACK_BYTE


@dataclass(frozen=True)
class Noise:
    """Bytes between frames that are neither a frame start nor an acknowledgement."""

    data: bytes


Event = Frame | BadFrame | Control | Noise

_IDLE, _START, _DATA, _DLE, _CRC = range(5)


class FrameReader:
    """Splits a serial byte stream into frames and acknowledgements."""

    def __init__(self, max_data: int = MAX_FRAME_DATA) -> None:
        self.max_data = max_data
        self._state = _IDLE
        self._data = bytearray()
        self._crc = bytearray()
        self._noise = bytearray()

    @property
    def in_frame(self) -> bool:
        """True between a frame's DLE STX and its last CRC byte (T1 applies)."""
        return self._state != _IDLE

    def reset(self) -> None:
        """Drop a partial frame (after T1 expired)."""
        self._state = _IDLE
        self._data.clear()
        self._crc.clear()

    def feed(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        for byte in data:
            self._step(byte, events)
        if self._noise and self._state == _IDLE:
            events.append(Noise(bytes(self._noise)))
            self._noise.clear()
        return events

    def _flush_noise(self, events: list[Event]) -> None:
        if self._noise:
            events.append(Noise(bytes(self._noise)))
            self._noise.clear()

    def _step(self, byte: int, events: list[Event]) -> None:
        state = self._state
        if state == _IDLE:
            if byte == DLE:
                self._state = _START
            elif byte in (ACK_BYTE, NAK_BYTE):
                self._flush_noise(events)
                events.append(Control(byte))
            else:
                self._noise.append(byte)
        elif state == _START:
            if byte == STX:
                self._flush_noise(events)
                self._state = _DATA
                self._data.clear()
            elif byte == DLE:
                self._noise.append(DLE)  # stay in _START: the second DLE may start a frame
            elif byte in (ACK_BYTE, NAK_BYTE):
                # A stray DLE (a peer that stuffed a 0x10 CRC byte) must not swallow the
                # acknowledgement that follows it.
                self._noise.append(DLE)
                self._flush_noise(events)
                events.append(Control(byte))
                self._state = _IDLE
            else:
                self._noise += bytes([DLE, byte])
                self._state = _IDLE
        elif state == _DATA:
            if byte == DLE:
                self._state = _DLE
            else:
                self._append(byte, events)
        elif state == _DLE:
            if byte == DLE:
                self._state = _DATA
                self._append(DLE, events)
            elif byte == ETX:
                self._state = _CRC
                self._crc.clear()
            elif byte == STX:  # a new frame started before this one ended
                events.append(BadFrame("frame restarted (DLE STX) before DLE ETX"))
                self._data.clear()
                self._state = _DATA
            else:
                events.append(BadFrame(f"DLE followed by {byte:02X} inside a frame"))
                self.reset()
        elif state == _CRC:
            self._crc.append(byte)
            if len(self._crc) == 2:
                raw, got = bytes(self._data), bytes(self._crc)
                expected = crc_bytes(raw + b"\x03")
                self.reset()
                if got != expected:
                    events.append(
                        BadFrame(f"CRC {got.hex(' ')} does not match {expected.hex(' ')}")
                    )
                else:
                    events.append(Frame(raw))

    def _append(self, byte: int, events: list[Event]) -> None:
        if len(self._data) >= self.max_data:
            events.append(BadFrame(f"frame longer than {self.max_data} bytes"))
            self.reset()
            return
        self._data.append(byte)


def decode_frame(wire: bytes) -> Apdu:
    """Exactly one frame (for tests and tools); raises :class:`ZvtCodecError`."""
    events = FrameReader().feed(wire)
    frames = [e for e in events if isinstance(e, Frame)]
    bad = [e for e in events if isinstance(e, BadFrame)]
    if bad:
        raise ZvtCodecError(bad[0].reason)
    if len(frames) != 1 or len(events) != 1:
        raise ZvtCodecError(f"expected one frame, found {len(frames)} among {len(events)} events")
    return frames[0].apdu()
