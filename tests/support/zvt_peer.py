"""A scripted terminal for driver tests, on the terminal side of a real OS interface.

:class:`SerialPeer` holds the master side of a real pseudo-terminal pair (the driver
opens the slave through its ``serial://`` link); :class:`TcpPeer` listens on a real
socket on 127.0.0.1. Both speak ZVT by hand: a test writes the terminal's part as a
small function (receive this, send that, NAK here, drop the link there) and runs it in
a thread with :func:`scripted`, while the driver runs in the test's own thread. Every
wait has a deadline; a script that fails re-raises in the test.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import time
import tty
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import pytest

from posdriver.terminal.zvt.apdu import Apdu, ApduStream, encode_apdu
from posdriver.terminal.zvt.bmp import encode_bmps
from posdriver.terminal.zvt.frame import (
    ACK_BYTE,
    NAK_BYTE,
    Control,
    Event,
    Frame,
    FrameReader,
    encode_frame,
)
from posdriver.terminal.zvt.messages import build_text_block
from posdriver.terminal.zvt.tlv import Tlv

WAIT = 3.0  # the longest a script waits for the driver (the driver's timeouts are shorter)


class Peer:
    """What a script uses, on either transport."""

    kind = ""
    url = ""

    def recv(self, timeout: float = WAIT) -> Apdu:
        raise NotImplementedError

    def send(self, apdu: Apdu, timeout: float = WAIT) -> None:
        raise NotImplementedError

    def write(self, raw: bytes) -> None:
        raise NotImplementedError

    def drop(self) -> None:
        """The link goes away (cable pulled, socket closed)."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def silent_for(self, seconds: float) -> bool:
        """True if the driver sent nothing for ``seconds``."""
        raise NotImplementedError

    def ack(self) -> None:
        """Answer ``80 00 00``."""
        self.send(Apdu(0x80, 0x00))


class SerialPeer(Peer):
    """The terminal on the master side of a pty pair."""

    kind = "serial"

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.url = f"serial://{self.path}?baudrate=9600&stopbits=2"
        self._reader = FrameReader()
        self._events: deque[Event] = deque()
        self.raw_in = bytearray()  # every byte the driver sent, for byte-exact checks
        self._closed = False

    def _read(self, timeout: float) -> bytes:
        if self._closed:
            return b""
        ready, _, _ = select.select([self.master], [], [], max(0.0, timeout))
        if not ready:
            return b""
        try:
            data = os.read(self.master, 4096)
        except OSError:
            return b""
        self.raw_in += data
        return data

    def event(self, timeout: float = WAIT) -> Event:
        deadline = time.monotonic() + timeout
        while not self._events:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"peer: nothing from the driver within {timeout} s")
            self._events.extend(self._reader.feed(self._read(left)))
        return self._events.popleft()

    def frame(self, timeout: float = WAIT, answer: int | None = ACK_BYTE) -> Frame:
        """The next frame from the driver, answered with ``answer`` (None: no answer)."""
        deadline = time.monotonic() + timeout
        while True:
            event = self.event(max(0.0, deadline - time.monotonic()))
            if isinstance(event, Frame):
                if answer is not None:
                    self.write(bytes([answer]))
                return event

    def recv(self, timeout: float = WAIT) -> Apdu:
        return self.frame(timeout).apdu()

    def control(self, timeout: float = WAIT) -> int:
        """The driver's next ACK / NAK byte."""
        event = self.event(timeout)
        if not isinstance(event, Control):
            raise AssertionError(f"peer: expected ACK/NAK from the driver, got {event!r}")
        return event.byte

    def send(self, apdu: Apdu, timeout: float = WAIT) -> None:
        """Send a frame and insist on the driver's ACK."""
        self.write(encode_frame(apdu))
        got = self.control(timeout)
        if got != ACK_BYTE:
            raise AssertionError(f"peer: driver answered {got:02X} instead of ACK")

    def send_corrupt(self, apdu: Apdu) -> int:
        """Send a frame with a wrong CRC; returns the driver's answer byte."""
        wire = bytearray(encode_frame(apdu))
        wire[-1] ^= 0x5A
        self.write(bytes(wire))
        return self.control()

    def write(self, raw: bytes) -> None:
        os.write(self.master, raw)

    def silent_for(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self._events or self._read(left):
                return False
        return True

    def drop(self) -> None:
        if not self._closed:
            self._closed = True
            os.close(self.master)

    def close(self) -> None:
        self.drop()
        with contextlib.suppress(OSError):
            os.close(self.slave)


class TcpPeer(Peer):
    """The terminal behind a listening socket on 127.0.0.1."""

    kind = "tcp"

    def __init__(self) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.port = self.listener.getsockname()[1]
        self.url = f"tcp://127.0.0.1:{self.port}"
        self.conn: socket.socket | None = None
        self.connections = 0
        self._stream = ApduStream()
        self._pending: deque[Apdu] = deque()
        self.raw_in = bytearray()

    def accept(self, timeout: float = WAIT) -> socket.socket:
        if self.conn is None:
            self.listener.settimeout(timeout)
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                raise AssertionError("peer: the driver never connected") from None
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.conn = conn
            self.connections += 1
        return self.conn

    def _read(self, timeout: float) -> bytes:
        conn = self.accept()
        ready, _, _ = select.select([conn], [], [], max(0.0, timeout))
        if not ready:
            return b""
        try:
            data = conn.recv(4096)
        except OSError:
            return b""
        self.raw_in += data
        return data

    def recv(self, timeout: float = WAIT) -> Apdu:
        deadline = time.monotonic() + timeout
        while not self._pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"peer: no APDU from the driver within {timeout} s")
            data = self._read(left)
            if not data and self.conn is not None and _eof(self.conn):
                self.drop()  # the driver closed its connection; it may open a new one
                continue
            self._pending.extend(self._stream.feed(data))
        return self._pending.popleft()

    def send(self, apdu: Apdu, timeout: float = WAIT, split: int | None = None) -> None:
        """Send an APDU, in pieces of ``split`` bytes (each its own segment) if given."""
        raw = encode_apdu(apdu)
        if split is None:
            self.write(raw)
            return
        for start in range(0, len(raw), split):
            self.write(raw[start : start + split])
            time.sleep(0.002)  # separate segments on the wire (TCP_NODELAY is set)

    def write(self, raw: bytes) -> None:
        self.accept().sendall(raw)

    def silent_for(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self._pending or self._read(left):
                return False
        return True

    def drop(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()
        self._stream.reset()

    def close(self) -> None:
        self.drop()
        self.listener.close()


def _eof(conn: socket.socket) -> bool:
    try:
        return conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, OSError):
        return False


P = TypeVar("P", bound=Peer)


@contextlib.contextmanager
def scripted(peer: P, script: Callable[[P], Any], timeout: float = 10.0) -> Iterator[None]:
    """Run ``script(peer)`` in a thread while the body drives the ECR side; the script's
    failure fails the test, and the script must have finished when the body ends."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            script(peer)
        except BaseException as exc:  # re-raised in the test thread
            errors.append(exc)

    thread = threading.Thread(target=run, name="zvt-peer", daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join(timeout)
    if thread.is_alive():
        pytest.fail("the peer script did not finish")
    if errors:
        raise errors[0]


def answered(p: Peer, apdu: Apdu) -> None:
    """Send ``apdu`` and insist that the driver answers it with 80 00 00."""
    p.send(apdu)
    got = p.recv()
    assert got == Apdu(0x80, 0x00), f"driver answered {apdu} with {got}"


def accept(p: Peer) -> Apdu:
    """Take the driver's next command and accept it (80 00 00)."""
    command = p.recv()
    p.ack()
    return command


def make_peer(kind: str) -> Peer:
    return SerialPeer() if kind == "serial" else TcpPeer()


# -- what a terminal says ---------------------------------------------------------------
VISA_MASKED = "476173EEEEEE0119"
VISA_FULL = "4761730000000119"


def status_info(
    *,
    result: int = 0x00,
    amount: int = 1250,
    trace: int = 1,
    receipt_no: int = 1,
    pan: str = VISA_MASKED,
    card_name: str | None = "Visa",
    extra: Mapping[int, Any] | None = None,
) -> Apdu:
    """A ``04 0F`` as an approving terminal sends it."""
    fields: dict[int, Any] = {
        0x27: result,
        0x04: amount,
        0x0B: trace,
        0x0C: "143015",
        0x0D: "0315",
        0x0E: "2812",
        0x17: 1,
        0x19: 0x70,
        0x22: pan,
        0x29: "52500038",
        0x2A: "123456789012345",
        0x3B: "AB1234",
        0x49: 978,
        0x87: receipt_no,
        0x88: 7,
        0x8A: 0x0A,
    }
    if card_name is not None:
        fields[0x8B] = card_name
    fields.update(extra or {})
    return Apdu(0x04, 0x0F, encode_bmps(fields))


def completion(data: bytes = b"") -> Apdu:
    return Apdu(0x06, 0x0F, data)


def abort_msg(code: int, fields: Mapping[int, Any] | None = None) -> Apdu:
    return Apdu(0x06, 0x1E, bytes([code]) + encode_bmps(fields or {}))


def intermediate(status: int, minutes: int | None = None) -> Apdu:
    data = bytes([status]) + (bytes([minutes]) if minutes is not None else b"")
    return Apdu(0x04, 0xFF, data)


def receipt_block(lines: list[str], kind: int | None = 2) -> Apdu:
    return build_text_block(lines, kind)


def vendor_error(text: str, code: int = 1) -> dict[int, Any]:
    """TLV 1F16 / 1F17 in a BMP 06 (a vendor's error code and text)."""
    return {0x06: [Tlv(0x1F16, bytes([code])), Tlv(0x1F17, text.encode("cp437"))]}


ACK_APDU = Apdu(0x80, 0x00)
ACK_BYTE_VALUE = ACK_BYTE
NAK_BYTE_VALUE = NAK_BYTE
