"""ZVT transports on top of a posdriver link: APDUs in, APDUs out.

Two channels with one small API (``send``, ``receive``, ``flush_input``, ``stats``):

* :class:`SerialChannel` (RS-232, PA00P016 §2.1, §3). Every APDU travels in a frame
  ``DLE STX ... DLE ETX CRC``; the receiver acknowledges each frame with one byte at
  once, before acting on it: ACK ``06`` for a good frame, NAK ``15`` for a bad CRC, a
  broken DLE sequence, an APDU length that disagrees with the frame, or a frame whose
  bytes stopped for longer than T1. The sender waits T2 for that byte and repeats on
  NAK or silence, at most ``repeats`` times (the spec's 2, so three transmissions);
  after that the transmission has failed and :class:`TransmissionError` says so.
* :class:`TcpChannel` (PA00P016 §2.2): raw APDUs, no framing, no acknowledgement bytes;
  the receiver reassembles APDUs from segments split anywhere.

Garbage on the line is a counted fault, never an exception: noise bytes, bad frames,
stray ACK/NAK bytes, frames whose APDU length does not add up. Link failures
(:class:`~posdriver.links.LinkError`) pass through unchanged; the exchange decides what
they mean for the money.

The wire trace (logger ``posdriver.terminal.zvt.wire``, DEBUG) names APDUs by class,
instruction and length and transport events by kind. It never logs data bytes, so card
numbers and track data cannot reach a log from here.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass

from ...links import Link, LinkError, LinkIOError
from .apdu import Apdu, ApduStream, encode_apdu
from .errors import ZvtCodecError
from .frame import ACK_BYTE, NAK_BYTE, BadFrame, Control, Frame, FrameReader, Noise, encode_frame

wire = logging.getLogger("posdriver.terminal.zvt.wire")

T1_DEFAULT = 0.2  # seconds between two bytes of one frame
T2_DEFAULT = 5.0  # seconds from a frame to its ACK / NAK
REPEATS_DEFAULT = 2  # repeats after the first transmission
READ_CHUNK = 4096


class TransmissionError(LinkIOError):
    """A frame was not acknowledged after every allowed repeat (PA00P016 §3.5)."""


@dataclass
class ChannelStats:
    """Transport counters (they become metrics): what went wrong on the wire, and how often."""

    apdus_sent: int = 0
    apdus_received: int = 0
    naks_sent: int = 0
    naks_received: int = 0
    repeats: int = 0
    t1_expiries: int = 0
    t2_expiries: int = 0
    transmission_failures: int = 0
    bad_frames: int = 0
    bad_apdus: int = 0
    noise_bytes: int = 0
    stray_acks: int = 0
    stale_bytes: int = 0
    link_failures: int = 0  # the link failed (closed, to be opened afresh)
    reopens: int = 0  # the link opened again after a failure

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def describe(apdu: Apdu) -> str:
    """An APDU for the wire trace: codes and length, never the data."""
    return f"{apdu.cls:02X} {apdu.instr:02X} len={len(apdu.data)}"


class Channel:
    """What both transports offer the exchange."""

    #: True when a successful :meth:`send` proves the terminal received the APDU
    #: (serial: its ACK came back); False when it only proves it left (TCP).
    confirms_delivery = False

    def __init__(
        self,
        link: Link,
        clock: Callable[[], float] = time.monotonic,
        stats: ChannelStats | None = None,
    ) -> None:
        self.link = link
        self.clock = clock
        self.stats = stats if stats is not None else ChannelStats()
        self._pending: deque[Apdu] = deque()

    def send(self, apdu: Apdu) -> None:
        raise NotImplementedError

    def receive(self, timeout: float) -> Apdu | None:
        """The next APDU from the terminal, or None if none arrived within ``timeout``."""
        raise NotImplementedError

    def peer_closed(self) -> bool:
        """True if the terminal is known to have gone (TCP: it closed the connection)."""
        return False

    def unread_by_peer(self, failure: BaseException) -> bool:
        """True when a link failure proves the terminal never read what we sent last."""
        return False

    def flush_input(self) -> int:
        """Drop whatever the terminal sent that nobody read (stale answers of an earlier,
        interrupted exchange); returns the number of bytes and APDUs dropped."""
        dropped = len(self._pending)
        self._pending.clear()
        dropped += self.link.flush_input()
        self._reset()
        if dropped:
            self.stats.stale_bytes += dropped
            wire.debug("flushed %d stale bytes before the command", dropped)
        return dropped

    def _reset(self) -> None:
        """Forget partial input (subclasses)."""


class SerialChannel(Channel):
    """Framed APDUs with ACK/NAK, T1, T2 and repeats."""

    confirms_delivery = True

    def __init__(
        self,
        link: Link,
        t1: float = T1_DEFAULT,
        t2: float = T2_DEFAULT,
        repeats: int = REPEATS_DEFAULT,
        clock: Callable[[], float] = time.monotonic,
        stats: ChannelStats | None = None,
    ) -> None:
        super().__init__(link, clock, stats)
        if t1 <= 0 or t2 <= 0 or repeats < 0:
            raise ValueError("T1 and T2 must be positive and repeats not negative")
        self.t1 = t1
        self.t2 = t2
        self.repeats = repeats
        self._reader = FrameReader()
        self._last_byte_at = 0.0
        self._controls: deque[int] = deque()
        # A link failure while acknowledging a good frame: the frame is still delivered
        # (we know what the terminal said), and the failure surfaces at the next I/O.
        self._broken: LinkError | None = None

    # -- sending -------------------------------------------------------------------------
    def send(self, apdu: Apdu) -> None:
        """Send one APDU and wait for its ACK; repeat on NAK or T2; raise
        :class:`TransmissionError` when every transmission failed."""
        frame = encode_frame(apdu)
        self._raise_broken()
        self._controls.clear()  # an ACK from before this frame acknowledges nothing of ours
        failures: list[str] = []
        for attempt in range(self.repeats + 1):
            if attempt:
                self.stats.repeats += 1
                wire.debug("-> repeat %d of %s", attempt, describe(apdu))
            else:
                wire.debug("-> %s", describe(apdu))
            self.link.write(frame)
            answer = self._await_control(self.clock() + self.t2)
            if answer == ACK_BYTE:
                wire.debug("<- ACK")
                self.stats.apdus_sent += 1
                return
            if answer == NAK_BYTE:
                self.stats.naks_received += 1
                wire.debug("<- NAK")
                failures.append("NAK")
            else:
                self.stats.t2_expiries += 1
                wire.debug("no ACK within T2 (%.3g s)", self.t2)
                failures.append(f"no answer within {self.t2:g} s")
        self.stats.transmission_failures += 1
        raise TransmissionError(
            f"the terminal did not acknowledge {describe(apdu)} in "
            f"{self.repeats + 1} transmissions ({', '.join(failures)})",
            self.link.url,
        )

    def _await_control(self, deadline: float) -> int | None:
        """The terminal's ACK or NAK byte by ``deadline``; frames that arrive meanwhile
        are acknowledged and kept for :meth:`receive`."""
        while True:
            if self._controls:
                return self._controls.popleft()
            if not self._pump(deadline):
                return self._controls.popleft() if self._controls else None

    # -- receiving -----------------------------------------------------------------------
    def receive(self, timeout: float) -> Apdu | None:
        deadline = self.clock() + max(0.0, timeout)
        while True:
            if self._pending:
                return self._pending.popleft()
            if self._controls:  # an ACK / NAK nobody is waiting for
                self._controls.clear()
                self.stats.stray_acks += 1
                wire.debug("<- stray ACK/NAK byte ignored")
            if not self._pump(deadline):
                return self._pending.popleft() if self._pending else None

    def _pump(self, deadline: float) -> bool:
        """Read once (waiting until ``deadline``, or T1 inside a frame) and handle what
        came; False when the deadline passed with nothing useful to do."""
        self._raise_broken()
        now = self.clock()
        if self._reader.in_frame:
            t1_deadline = self._last_byte_at + self.t1
            if now >= t1_deadline:
                self._t1_expired()
                return True
            wait = t1_deadline - now
        else:
            if now >= deadline:
                return False
            wait = deadline - now
        data = self.link.read(READ_CHUNK, wait)
        if data:
            self._last_byte_at = self.clock()
            self._handle(data)
        return True

    def _t1_expired(self) -> None:
        self._reader.reset()
        self.stats.t1_expiries += 1
        self.stats.bad_frames += 1
        wire.debug("frame stopped for more than T1 (%.3g s): -> NAK", self.t1)
        self._nak()

    def _handle(self, data: bytes) -> None:
        for event in self._reader.feed(data):
            if isinstance(event, Frame):
                # Acknowledged at once, before the APDU is acted on (the spec: "before
                # processing"); only a length field that disagrees with the frame is NAKed.
                try:
                    apdu = event.apdu()
                except ZvtCodecError as exc:
                    self.stats.bad_apdus += 1
                    wire.debug("<- frame with an inconsistent APDU (%s): -> NAK", exc)
                    self._nak()
                    continue
                self._write_control(ACK_BYTE)
                self.stats.apdus_received += 1
                wire.debug("<- %s (-> ACK)", describe(apdu))
                self._pending.append(apdu)
            elif isinstance(event, BadFrame):
                self.stats.bad_frames += 1
                wire.debug("<- bad frame (%s): -> NAK", _safe_reason(event.reason))
                self._nak()
            elif isinstance(event, Control):
                self._controls.append(event.byte)
            elif isinstance(event, Noise):
                self.stats.noise_bytes += len(event.data)
                wire.debug("<- %d noise bytes ignored", len(event.data))

    def _nak(self) -> None:
        self.stats.naks_sent += 1
        self._write_control(NAK_BYTE)

    def _write_control(self, byte: int) -> None:
        if self._broken is not None:
            return
        try:
            self.link.write(bytes([byte]))
        except LinkError as exc:
            self._broken = exc

    def _raise_broken(self) -> None:
        if self._broken is not None:
            broken, self._broken = self._broken, None
            raise broken

    def _reset(self) -> None:
        self._reader.reset()
        self._controls.clear()
        self._raise_broken()


def _safe_reason(reason: str) -> str:
    """Frame errors name at most CRC and DLE bytes, never data; keep it that way."""
    return reason if len(reason) < 80 else reason[:80]


class TcpChannel(Channel):
    """Raw APDUs over a TCP connection, reassembled from arbitrary segments."""

    confirms_delivery = False

    def __init__(
        self,
        link: Link,
        clock: Callable[[], float] = time.monotonic,
        stats: ChannelStats | None = None,
    ) -> None:
        super().__init__(link, clock, stats)
        self._stream = ApduStream()

    def send(self, apdu: Apdu) -> None:
        wire.debug("-> %s", describe(apdu))
        self.link.write(encode_apdu(apdu))
        self.stats.apdus_sent += 1

    def receive(self, timeout: float) -> Apdu | None:
        deadline = self.clock() + max(0.0, timeout)
        while not self._pending:
            left = deadline - self.clock()
            if left <= 0:
                return None
            self._take(self.link.read(READ_CHUNK, left))
        return self._pending.popleft()

    def peer_closed(self) -> bool:
        """Look, without waiting, whether the terminal has closed the connection; bytes
        found meanwhile are kept for :meth:`receive`."""
        try:
            self._take(self.link.read(READ_CHUNK, 0))
        except LinkIOError:
            return True
        return False

    def unread_by_peer(self, failure: BaseException) -> bool:
        """A reset (not an orderly close) means the terminal's socket was closed with our
        bytes unread in it, or before they arrived: it never saw them."""
        return isinstance(failure.__cause__, ConnectionResetError)

    def _take(self, data: bytes) -> None:
        if not data:
            return
        for apdu in self._stream.feed(data):
            self.stats.apdus_received += 1
            wire.debug("<- %s", describe(apdu))
            self._pending.append(apdu)

    def _reset(self) -> None:
        self._stream.reset()


def channel_for(
    link: Link,
    *,
    t1: float = T1_DEFAULT,
    t2: float = T2_DEFAULT,
    repeats: int = REPEATS_DEFAULT,
    transport: str | None = None,
    stats: ChannelStats | None = None,
) -> Channel:
    """The channel a link needs: framed for serial lines, raw for TCP.

    ``transport`` ("serial" / "tcp") overrides the choice made from the link's scheme.
    """
    kind = transport or {"serial": "serial", "loop": "serial", "tcp": "tcp"}.get(link.scheme)
    if kind == "serial":
        return SerialChannel(link, t1, t2, repeats, stats=stats)
    if kind == "tcp":
        return TcpChannel(link, stats=stats)
    raise ValueError(
        f"ZVT runs over serial:// or tcp:// links, not {link.scheme}:// "
        "(a USB terminal shows up as a serial port such as serial:///dev/ttyACM0)"
    )
