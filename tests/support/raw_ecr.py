"""A tiny raw ZVT ECR for the terminal emulator's tests, built on the shared codec only.

It is deliberately not the product's driver: it sends exactly what a test says, shows
every byte that comes back (ACK/NAK, bad frames, noise), and answers the terminal only
as told, so a test can withhold an acknowledgement or answer "not yet".
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from posdriver.links import open_link
from posdriver.terminal.zvt.apdu import ACK, Apdu, ApduStream, encode_apdu
from posdriver.terminal.zvt.bmp import decode_bmps
from posdriver.terminal.zvt.frame import (
    ACK_BYTE,
    NAK_BYTE,
    BadFrame,
    Control,
    Frame,
    FrameReader,
    Noise,
    encode_frame,
)
from posdriver.terminal.zvt.messages import BY_CODE, build, permitted_commands
from posdriver.terminal.zvt.tlv import Tlv

PASSWORD = "123456"
EUR = 978
TEXT_BLOCKS = [permitted_commands([(0x06, 0xD3), (0x06, 0xD1), (0x04, 0xFF)])]
END = ((0x06, 0x0F), (0x06, 0x1E))


class Port(Protocol):
    def write(self, data: bytes, timeout: float | None = None) -> None: ...

    def read(self, size: int, timeout: float | None = None) -> bytes: ...


class DevicePort:
    """A port straight onto a device (no OS interface): for fast property tests."""

    def __init__(self, device: Any) -> None:
        self.device = device

    def write(self, data: bytes, timeout: float | None = None) -> None:
        self.device.accept(data, overflow=True)

    def read(self, size: int, timeout: float | None = None) -> bytes:
        return bytes(self.device.take_output(size, timeout or 0.0))


@dataclass
class Seen:
    """Everything the ECR received, in order, besides the APDUs it returned."""

    controls: deque[int] = field(default_factory=deque)
    bad_frames: list[str] = field(default_factory=list)
    noise: bytearray = field(default_factory=bytearray)


class RawEcr:
    """Serial (frames, ACK/NAK) or TCP (raw APDUs) ECR over any port."""

    def __init__(self, port: Port, framing: str, *, auto_ack: bool = True, t2: float = 1.0):
        self.port = port
        self.framing = framing
        self.auto_ack = auto_ack  # ACK every good frame, NAK every bad one
        self.t2 = t2
        self.reader = FrameReader()
        self.stream = ApduStream()
        self.apdus: deque[Apdu] = deque()
        self.seen = Seen()

    # -- receiving --------------------------------------------------------------------
    def pump(self, timeout: float) -> None:
        data = self.port.read(4096, timeout)
        if not data:
            return
        if self.framing == "tcp":
            self.apdus.extend(self.stream.feed(data))
            return
        for event in self.reader.feed(data):
            if isinstance(event, Frame):
                if self.auto_ack:
                    self.port.write(bytes([ACK_BYTE]))
                self.apdus.append(event.apdu())
            elif isinstance(event, Control):
                self.seen.controls.append(event.byte)
            elif isinstance(event, BadFrame):
                self.seen.bad_frames.append(event.reason)
                if self.auto_ack:
                    self.port.write(bytes([NAK_BYTE]))
            elif isinstance(event, Noise):
                self.seen.noise += event.data

    def receive(self, timeout: float = 3.0) -> Apdu:
        deadline = time.monotonic() + timeout
        while not self.apdus:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no APDU within {timeout} s")
            self.pump(min(left, 0.05))
        return self.apdus.popleft()

    def control(self, timeout: float) -> int | None:
        """The next ACK/NAK byte from the terminal, or None."""
        deadline = time.monotonic() + timeout
        while not self.seen.controls:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.pump(min(left, 0.05))
        return self.seen.controls.popleft()

    def quiet(self, seconds: float) -> bytes:
        """Read for ``seconds`` and return every byte that came (should be none)."""
        got = bytearray()
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            got += self.port.read(4096, min(left, 0.05))
        return bytes(got)

    # -- sending -----------------------------------------------------------------------
    def write_apdu(self, apdu: Apdu | bytes) -> None:
        raw = encode_apdu(apdu) if isinstance(apdu, Apdu) else apdu
        self.port.write(encode_frame(raw) if self.framing == "serial" else raw)

    def send(self, apdu: Apdu | bytes, repeats: int = 2) -> bool:
        """Send and (serial) wait for the transport ACK, repeating on NAK or T2."""
        if self.framing == "tcp":
            self.write_apdu(apdu)
            return True
        self.seen.controls.clear()
        for _ in range(1 + repeats):
            self.write_apdu(apdu)
            if self.control(self.t2) == ACK_BYTE:
                return True
        return False

    def answer(self, apdu: Apdu = ACK) -> None:
        assert self.send(apdu), "the terminal did not acknowledge our answer"

    # -- whole exchanges -----------------------------------------------------------------
    def command(self, apdu: Apdu, timeout: float = 3.0) -> Apdu:
        """Send a command; return the terminal's first answer (80 00 / 84 xx)."""
        assert self.send(apdu), f"the terminal did not acknowledge {apdu}"
        return self.receive(timeout)

    def run(self, apdu: Apdu, timeout: float = 3.0) -> list[Apdu]:
        """A command and everything until master rights come back, answering 80 00 00.

        The list starts with the terminal's answer to the command; it ends there when
        that is negative, else with 06 0F or 06 1E.
        """
        first = self.command(apdu, timeout)
        messages = [first]
        spec = BY_CODE.get(apdu.code)
        if not first.is_ack or (spec is not None and not spec.requires_completion):
            return messages
        while True:
            message = self.receive(timeout)
            messages.append(message)
            if message.cls in (0x04, 0x06):
                self.answer()
            if message.code in END:
                return messages

    def register(self, config: int = 0xBE, tlv: list[Tlv] | None = None, **kw: Any) -> list[Apdu]:
        bmps: dict[int, Any] = {0x03: 0x00}
        if tlv is not None:
            bmps[0x06] = tlv
        return self.run(
            build(
                "registration",
                password=kw.get("password", PASSWORD),
                config=config,
                currency=kw.get("currency", EUR),
                bmps=bmps,
            )
        )

    def status_enquiry(self, bmps: dict[int, Any] | None = None) -> list[Apdu]:
        return self.run(build("status_enquiry", password=PASSWORD, bmps=bmps))


def open_ecr(url: str, framing: str, **kw: Any) -> tuple[Any, RawEcr]:
    link = open_link(url)
    return link, RawEcr(link, framing, **kw)


def fields(apdu: Apdu) -> dict[int, Any]:
    return decode_bmps(apdu.data)


def codes(messages: list[Apdu]) -> list[tuple[int, int]]:
    return [m.code for m in messages]


def sale(amount: int, extra: dict[int, Any] | None = None) -> Apdu:
    return build("authorisation", bmps={0x04: amount, 0x49: EUR, **(extra or {})})


def is_nak(byte: int | None) -> bool:
    return byte == NAK_BYTE


# Short timers: nothing in these tests waits for the specification's 5 s or 30 s.
FAST = {
    "t1": 0.05,
    "t2": 0.5,
    "answer_timeout": 1.0,
    "status_ack_timeout": 0.5,
    "resend_delay": 0.1,
    "slow_host_delay": 0.6,
    "slow_host_interval": 0.1,
    "relink_delay": 0.1,
}


@contextlib.contextmanager
def running(link: str, tmp_path: Any = None, **settings: Any) -> Iterator[tuple[Any, RawEcr]]:
    """A terminal emulator on ``link`` (pty or tcp) and a raw ECR connected to it."""
    from posdriver_emulator.controller import Controller

    with Controller.terminal(link, link_dir=tmp_path, **{**FAST, **settings}) as emu:
        link_obj, ecr = open_ecr(emu.url, "serial" if link == "pty" else "tcp")
        try:
            yield emu, ecr
        finally:
            link_obj.close()
