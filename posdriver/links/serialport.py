"""RS-232 links through pyserial.

URL format::

    serial:///dev/ttyUSB0?baudrate=9600&bytesize=8&parity=N&stopbits=1&rtscts=0
    loop://?baudrate=9600          (pyserial's software loopback, for tests)

The port is locked exclusively (``flock``) so a second process cannot interleave bytes
with ours. Pseudo-terminals cannot carry modem lines; pyserial skips those ioctls there
and so do we, so an emulator's ``/dev/pts/N`` behaves like a real port.

Reads and writes go straight to the file descriptor with ``select`` deadlines instead
of pyserial's per-port timeouts: changing those re-runs ``tcsetattr`` on every call,
and pyserial's timed-out write does not say how many bytes left.
"""

from __future__ import annotations

import errno
import os
import select
import termios
import time
from typing import Any

import serial

from .base import DEFAULT_READ_TIMEOUT, DEFAULT_WRITE_TIMEOUT, Link
from .errors import LinkIOError, LinkOpenError, LinkURLError
from .url import Option, choice, grammar_of, int_in, parse_bool, parse_query, parse_seconds


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError(f"expected a positive integer, got {text!r}")
    return value


def _stopbits(text: str) -> float:
    value = float(text)
    if value not in (1, 1.5, 2):
        raise ValueError(f"expected 1, 1.5 or 2, got {text!r}")
    return value


OPTIONS = (
    Option("baudrate", _positive_int, 9600, "line rate in bit/s"),
    Option("bytesize", int_in((5, 6, 7, 8)), 8, "data bits"),
    Option("parity", choice("N", "E", "O", "M", "S"), "N", "N/E/O/M/S"),
    Option("stopbits", _stopbits, 1.0, "1, 1.5 or 2"),
    Option("rtscts", parse_bool, False, "hardware (RTS/CTS) flow control"),
    Option("dsrdtr", parse_bool, False, "hardware (DSR/DTR) flow control"),
    Option("xonxoff", parse_bool, False, "software (XON/XOFF) flow control"),
    Option("exclusive", parse_bool, True, "lock the port against other processes"),
    Option("timeout", parse_seconds, DEFAULT_READ_TIMEOUT, "default read deadline, s"),
    Option("write_timeout", parse_seconds, DEFAULT_WRITE_TIMEOUT, "default write deadline, s"),
)
GRAMMAR = grammar_of("serial:///dev/DEVICE", OPTIONS)


class SerialLink(Link):
    scheme = "serial"

    def __init__(self, url: str, device: str, options: dict[str, Any]) -> None:
        super().__init__(url, options)
        self.device = device
        self._port: serial.Serial | None = None
        self._fd: int | None = None

    @classmethod
    def from_url(cls, url: str, scheme: str, netloc: str, path: str, query: str) -> SerialLink:
        options = parse_query(url, query, OPTIONS, GRAMMAR)
        if scheme == "loop":
            return cls(url, "loop://", options)
        if netloc:
            raise LinkURLError(
                f"serial URLs have no host part (got {netloc!r}); write three slashes: {GRAMMAR}",
                url,
            )
        if not path or path == "/":
            raise LinkURLError(f"no device path; {GRAMMAR}", url)
        return cls(url, path, options)

    @property
    def char_time(self) -> float:
        o = self.options
        bits = 1 + o["bytesize"] + (0 if o["parity"] == "N" else 1) + o["stopbits"]
        return float(bits / o["baudrate"])

    def _open(self) -> None:
        o = self.options
        port = serial.Serial()
        port.baudrate = o["baudrate"]
        port.bytesize = o["bytesize"]
        port.parity = o["parity"]
        port.stopbits = o["stopbits"]
        port.rtscts = o["rtscts"]
        port.dsrdtr = o["dsrdtr"]
        port.xonxoff = o["xonxoff"]
        port.timeout = 0
        port.write_timeout = 0
        try:
            if self.device == "loop://":
                port = serial.serial_for_url("loop://", do_not_open=True)
                port.baudrate = o["baudrate"]
                port.timeout = 0
                port.open()
            else:
                port.port = self.device
                port.exclusive = o["exclusive"]
                port.open()
        except (serial.SerialException, OSError, ValueError, termios.error) as exc:
            # termios.error is not an OSError: a port that vanishes while pyserial is
            # configuring it (an adapter pulled during open) raises it from tcsetattr.
            raise LinkOpenError(_explain_open_error(self.device, exc), self.url) from exc
        self._port = port
        self._fd = port.fileno() if self.device != "loop://" else None

    def _close(self) -> None:
        port, self._port, self._fd = self._port, None, None
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError):
                pass  # the device may already be gone; closing must not raise

    def _write_some(self, data: memoryview, timeout: float) -> int:
        assert self._port is not None
        if self._fd is None:
            return int(self._port.write(bytes(data)) or 0)
        try:
            _, ready, _ = select.select([], [self._fd], [], timeout)
            if not ready:
                return 0
            return os.write(self._fd, data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            raise LinkIOError(f"write failed: {exc}", self.url) from exc

    def _read_some(self, size: int, timeout: float) -> bytes:
        assert self._port is not None
        if self._fd is None:
            deadline = time.monotonic() + timeout
            while True:
                data = bytes(self._port.read(size))
                if data or time.monotonic() >= deadline:
                    return data
                time.sleep(min(0.001, timeout))
        try:
            ready, _, _ = select.select([self._fd], [], [], timeout)
            if not ready:
                return b""
            data = os.read(self._fd, size)
        except BlockingIOError:
            return b""
        except OSError as exc:
            raise LinkIOError(f"read failed: {exc}", self.url) from exc
        if not data:
            raise LinkIOError("device reported end of file (unplugged?)", self.url)
        return data

    def _discard_input(self) -> int:
        assert self._port is not None
        try:
            waiting = int(self._port.in_waiting)
            self._port.reset_input_buffer()
        except (serial.SerialException, OSError) as exc:
            raise LinkIOError(f"cannot flush input: {exc}", self.url) from exc
        return waiting


def _explain_open_error(device: str, exc: BaseException) -> str:
    cause = getattr(exc, "errno", None)
    text = str(exc)
    if "Inappropriate ioctl" in text or (
        isinstance(exc, termios.error) and exc.args[:1] == (errno.ENOTTY,)
    ):
        return (
            f"cannot open {device}: it is not a serial port (a printer-class node such "
            "as /dev/usb/lp0 is reached with usb://VID:PID)"
        )
    if isinstance(exc, termios.error):
        return f"cannot open {device}: the port went away while it was being set up ({exc})"
    if cause == errno.ENOENT or "No such file" in text:
        return f"cannot open {device}: no such device (unplugged, or wrong path?)"
    if cause == errno.EACCES or "Permission denied" in text:
        return (
            f"cannot open {device}: permission denied "
            "(add the service user to the 'dialout' group or install the udev rule)"
        )
    if "lock" in text.lower() or cause in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EBUSY):
        return f"cannot open {device}: port is in use by another process ({text})"
    return f"cannot open {device}: {text}"
