"""The terminal's side of ZVT's transport layer (PA00P016): serial framing or raw TCP.

Over a serial line (the pty) every APDU travels in a frame, ``DLE STX <APDU> DLE ETX
CRC``. The terminal acknowledges each good frame with ACK (06) as soon as it is
complete, before the model looks at it, and answers NAK (15) to a bad CRC, a broken DLE
sequence, an APDU whose length disagrees with its frame, noise between frames, and a
frame whose bytes stop arriving for longer than T1. Its own frames wait T2 for the ECR's
ACK and are repeated after a NAK or T2, at most ``repeats`` times; then the transmission
has failed. Over TCP the APDUs are raw and back to back (:class:`~.zvt.apdu.ApduAssembler`
reassembles them) and there is no ACK level at all.

The transport-level faults live here:

* ``withhold_ack``: frames are neither acknowledged nor processed (TCP: commands are
  dropped, so the ECR's T3 expires);
* ``nak_storm``: every frame is answered NAK and dropped (TCP: as ``withhold_ack``);
* ``bad_crc``: the first transmission of each frame the terminal sends has a corrupted
  CRC; the repeat is good (serial only).

The wire runs under the model's lock: :meth:`receive` on the transport's thread (through
``accept``), :meth:`transmit` and :meth:`service` on the model's worker, whose waits
release the lock.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .zvt.apdu import Apdu, ApduAssembler, CodecError, encode_apdu
from .zvt.serial import (
    ACK_BYTE,
    NAK_BYTE,
    BadFrame,
    Control,
    Frame,
    FrameScanner,
    Noise,
    encode_frame,
)

ACK = bytes([ACK_BYTE])
NAK = bytes([NAK_BYTE])


class WireHost(Protocol):
    """What the wire needs from the terminal model."""

    counters: Counter[str]
    active_faults: set[str]

    @property
    def muted(self) -> bool: ...

    def mute(self) -> None: ...

    def send(self, data: bytes) -> None: ...

    def deliver(self, apdu: Apdu) -> None: ...

    def wait_until(self, predicate: Callable[[], bool], deadline: float) -> bool: ...


@dataclass(frozen=True)
class WireTimers:
    """Transport timers in seconds; the specification's values are the defaults."""

    t1: float = 0.2  # longest gap between two bytes of a frame
    t2: float = 5.0  # how long a sender waits for ACK/NAK
    repeats: int = 2  # repeats after a NAK or T2 (three transmissions in all)


def corrupt_crc(frame: bytes) -> bytes:
    """The same frame with its last CRC byte flipped (still a well-formed frame)."""
    return frame[:-1] + bytes([frame[-1] ^ 0x5A])


class SerialWire:
    """DLE STX framing, ACK/NAK, T1, T2 and repeats, as a terminal does them."""

    framing = "serial"

    def __init__(self, host: WireHost, timers: WireTimers) -> None:
        self.host = host
        self.timers = timers
        self.reader = FrameScanner()
        self._last_byte = 0.0
        self._awaiting = False
        self._reply: int | None = None
        self._mute_on_ack = False

    # -- ECR -> terminal ------------------------------------------------------------------
    def receive(self, data: bytes) -> None:
        now = time.monotonic()
        self._expire_t1(now)
        self._last_byte = now
        counters = self.host.counters
        for event in self.reader.feed(data):
            if self.host.muted:  # hanging up: whatever else came is neither ACKed nor NAKed
                counters["events_after_hangup"] += 1
                continue
            if isinstance(event, Frame):
                self._frame(event)
            elif isinstance(event, BadFrame):
                counters["bad_frames"] += 1
                self._send_control(NAK)
            elif isinstance(event, Control):
                if self._awaiting and self._reply is None:
                    self._reply = event.byte
                    if event.is_ack and self._mute_on_ack:
                        self.host.mute()  # at once: a frame right behind it stays unACKed
                else:
                    counters["stray_acks" if event.is_ack else "stray_naks"] += 1
            elif isinstance(event, Noise):
                counters["noise_bytes"] += len(event.data)
                self._send_control(NAK)

    def _frame(self, frame: Frame) -> None:
        counters = self.host.counters
        faults = self.host.active_faults
        counters["frames_received"] += 1
        if "withhold_ack" in faults:
            counters["frames_withheld"] += 1
            return
        if "nak_storm" in faults:
            counters["frames_refused"] += 1
            self._send_control(NAK)
            return
        try:
            apdu = frame.apdu()
        except CodecError:
            counters["bad_frames"] += 1
            self._send_control(NAK)
            return
        self._send_control(ACK)
        self.host.deliver(apdu)

    def _send_control(self, byte: bytes) -> None:
        self.host.counters["acks_sent" if byte == ACK else "naks_sent"] += 1
        self.host.send(byte)

    # -- timers ---------------------------------------------------------------------------
    def _expire_t1(self, now: float) -> None:
        if self.reader.in_frame and now - self._last_byte > self.timers.t1:
            self.reader.reset()
            self.host.counters["t1_expired"] += 1
            self._send_control(NAK)

    def service(self) -> float | None:
        """Run T1; returns when it must run next (``None``: no frame in progress)."""
        self._expire_t1(time.monotonic())
        if self.reader.in_frame:
            return self._last_byte + self.timers.t1 + 0.001
        return None

    # -- terminal -> ECR ------------------------------------------------------------------
    def transmit(self, apdu: Apdu, mute_on_ack: bool = False) -> bool:
        """Send one frame and wait for its ACK, repeating as the spec says.

        Returns False when every transmission went unacknowledged. Raises whatever the
        host's ``wait_until`` raises when the link goes away meanwhile. ``mute_on_ack``:
        the terminal is about to hang up; it stops listening the moment the ACK arrives.
        """
        counters = self.host.counters
        frame = encode_frame(apdu)
        for attempt in range(1 + self.timers.repeats):
            wire = frame
            if attempt == 0 and "bad_crc" in self.host.active_faults:
                wire = corrupt_crc(frame)
                counters["crc_corrupted"] += 1
            self._awaiting, self._reply, self._mute_on_ack = True, None, mute_on_ack
            try:
                self.host.send(wire)
                counters["frames_sent" if attempt == 0 else "repeats_sent"] += 1
                deadline = time.monotonic() + self.timers.t2
                self.host.wait_until(lambda: self._reply is not None, deadline)
            finally:
                self._awaiting = self._mute_on_ack = False
            if self._reply == ACK_BYTE:
                return True
            counters["naks_received" if self._reply == NAK_BYTE else "t2_expired"] += 1
        counters["transmissions_failed"] += 1
        return False

    def reset(self) -> None:
        """A new connection: forget half-read frames and pending acknowledgements."""
        self.reader.reset()
        self._awaiting, self._reply = False, None

    @property
    def in_frame(self) -> bool:
        return self.reader.in_frame


class TcpWire:
    """Raw APDUs over a TCP connection: no framing, no ACK level."""

    framing = "tcp"

    def __init__(self, host: WireHost, timers: WireTimers) -> None:
        self.host = host
        self.timers = timers
        self.stream = ApduAssembler()

    def receive(self, data: bytes) -> None:
        counters = self.host.counters
        faults = self.host.active_faults
        for apdu in self.stream.feed(data):
            counters["apdus_received"] += 1
            if "withhold_ack" in faults or "nak_storm" in faults:
                counters["apdus_withheld"] += 1
                continue
            self.host.deliver(apdu)

    def service(self) -> float | None:
        return None

    def transmit(self, apdu: Apdu, mute_on_ack: bool = False) -> bool:
        self.host.send(encode_apdu(apdu))
        self.host.counters["apdus_sent"] += 1
        if mute_on_ack:  # no ACK level: stop listening before the ECR can answer
            self.host.mute()
        return True

    def reset(self) -> None:
        self.stream.reset()

    @property
    def in_frame(self) -> bool:
        return self.stream.pending > 0


Wire = SerialWire | TcpWire


def make_wire(framing: str, host: WireHost, timers: WireTimers) -> Wire:
    if framing == "serial":
        return SerialWire(host, timers)
    if framing == "tcp":
        return TcpWire(host, timers)
    raise ValueError(f"unknown ZVT framing {framing!r}; expected 'serial' or 'tcp'")
