"""USB links through pyusb: receipt printers on bulk endpoints.

URL format::

    usb://04b8:0202?interface=0&out=0x01&in=0x82&serial=X123&timeout=1&write_timeout=5
    usb://04b8:0202?emulator=127.0.0.1:PORT     (the emulated USB bus, for tests)

VID:PID are hexadecimal. Without ``out`` / ``in`` the first bulk OUT / bulk IN endpoint
of the interface is used; ``serial`` picks one of several identical printers by their
iSerialNumber string. ``emulator`` swaps libusb for the pyusb backend an installed
emulator registers (entry point ``posdriver.usb_backends`` / ``emulated``, see
:mod:`posdriver.plugins`); everything else is the same code path.

Opening finds the device afresh by VID:PID (and serial) every time, so after a power
cycle or re-plug ``close()`` then ``open()`` reaches the new device; the old handle is
disposed of, never reused. A kernel driver (``usblp``) bound to the interface is
detached and reattached on close. Every transfer has an explicit timeout (pyusb's 0
would mean forever). Reads ask for whole packets, as bulk IN must, and keep the surplus
for the next read.
"""

from __future__ import annotations

import contextlib
import errno
import math
import re
from typing import Any

import usb.core
import usb.util

from .base import DEFAULT_READ_TIMEOUT, DEFAULT_WRITE_TIMEOUT, Link
from .errors import LinkIOError, LinkOpenError, LinkURLError
from .url import Option, grammar_of, parse_int_auto, parse_query, parse_seconds

PACKETS_PER_WRITE = 64  # one bulk OUT transfer: 4 KiB on a full-speed printer
FLUSH_TIMEOUT_MS = 10
FLUSH_MAX_READS = 256  # a device that never stops talking must not hang flush_input
_VID_PID = re.compile(r"(?:0x)?([0-9a-fA-F]{1,4}):(?:0x)?([0-9a-fA-F]{1,4})")
_GONE = (errno.ENODEV, errno.EPIPE, errno.EIO, errno.ESHUTDOWN)


def _interface_number(text: str) -> int:
    value = int(text, 0)
    if not 0 <= value <= 255:
        raise ValueError(f"expected an interface number 0..255, got {text!r}")
    return value


def _endpoint(direction_in: bool) -> Any:
    def parse(text: str) -> int:
        value = parse_int_auto(text)
        if not 0 < value & 0x7F <= 15 or value & ~0x8F:
            raise ValueError(f"expected an endpoint address such as 0x01 or 0x82, got {text!r}")
        if bool(value & 0x80) != direction_in:
            want = "IN (0x81..0x8f)" if direction_in else "OUT (0x01..0x0f)"
            raise ValueError(f"{text} is not an {want} endpoint address")
        return value

    return parse


def _serial(text: str) -> str:
    if not text:
        raise ValueError("expected a serial number string")
    return text


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"expected HOST:PORT of the USB emulator, got {text!r}")
    return host.strip("[]"), int(port_text)


OPTIONS = (
    Option("interface", _interface_number, 0, "bInterfaceNumber to claim"),
    Option("out", _endpoint(False), None, "bulk OUT endpoint, e.g. 0x01; None = first"),
    Option("in", _endpoint(True), None, "bulk IN endpoint, e.g. 0x82; None = first"),
    Option("serial", _serial, None, "iSerialNumber of the one printer to use"),
    Option("timeout", parse_seconds, DEFAULT_READ_TIMEOUT, "default read deadline, s"),
    Option("write_timeout", parse_seconds, DEFAULT_WRITE_TIMEOUT, "default write deadline, s"),
    Option("emulator", _host_port, None, "HOST:PORT of an emulated USB bus"),
)
GRAMMAR = grammar_of("usb://VID:PID (hex, e.g. 04b8:0202)", OPTIONS)


def _ms(seconds: float) -> int:
    """A pyusb timeout: whole milliseconds, never 0 (which means "wait forever")."""
    return max(1, math.ceil(seconds * 1000))


class UsbLink(Link):
    scheme = "usb"

    def __init__(self, url: str, vid: int, pid: int, options: dict[str, Any]) -> None:
        super().__init__(url, options)
        self.vid = vid
        self.pid = pid
        self._dev: Any = None
        self._detached: list[int] = []
        self._out: Any = None
        self._in: Any = None
        self._pending = bytearray()

    @classmethod
    def from_url(cls, url: str, scheme: str, netloc: str, path: str, query: str) -> UsbLink:
        options = parse_query(url, query, OPTIONS, GRAMMAR)
        if path not in ("", "/"):
            raise LinkURLError(f"a usb URL has no path (got {path!r}); {GRAMMAR}", url)
        match = _VID_PID.fullmatch(netloc)
        if not match:
            raise LinkURLError(f"expected VID:PID in hex, got {netloc!r}; {GRAMMAR}", url)
        return cls(url, int(match.group(1), 16), int(match.group(2), 16), options)

    @property
    def ident(self) -> str:
        return f"{self.vid:04x}:{self.pid:04x}"

    @property
    def address(self) -> tuple[int, int] | None:
        """(bus, address) of the open device, ``None`` while closed."""
        if self._dev is None:
            return None
        return int(self._dev.bus), int(self._dev.address)

    @property
    def out_endpoint(self) -> int | None:
        return None if self._out is None else int(self._out.bEndpointAddress)

    @property
    def in_endpoint(self) -> int | None:
        return None if self._in is None else int(self._in.bEndpointAddress)

    # -- open / close ---------------------------------------------------------------------
    def _open(self) -> None:
        dev = self._find()
        try:
            self._setup(dev)
        except BaseException:
            self._out = self._in = None
            self._release(dev)
            raise
        self._dev = dev

    def _backend(self) -> Any:
        if self.options["emulator"] is None:
            return None  # pyusb picks libusb
        from ..plugins import EMULATED, USB_BACKENDS, PluginMissing, load

        try:
            backend = load(USB_BACKENDS, EMULATED)
        except PluginMissing as exc:
            raise LinkOpenError(
                f"the USB emulator backend is not installed: {exc}", self.url
            ) from exc
        host, port = self.options["emulator"]
        return backend(host, port)

    def _find(self) -> Any:
        try:
            found = list(
                usb.core.find(
                    find_all=True, idVendor=self.vid, idProduct=self.pid, backend=self._backend()
                )
            )
        except usb.core.NoBackendError as exc:
            raise LinkOpenError(
                "pyusb found no USB backend: install libusb-1.0 (apt-get install libusb-1.0-0)",
                self.url,
            ) from exc
        except usb.core.USBError as exc:
            raise LinkOpenError(f"cannot list USB devices: {exc}", self.url) from exc
        if not found:
            raise LinkOpenError(
                f"no USB device {self.ident} found: unplugged, powered off, "
                "or no permission (udev rule)",
                self.url,
            )
        wanted = self.options["serial"]
        if wanted is None:
            for other in found[1:]:
                _dispose(other)
            return found[0]
        serials: list[str] = []
        chosen = None
        for dev in found:
            try:
                serial = dev.serial_number
            except (usb.core.USBError, ValueError) as exc:
                serial = None
                serials.append(f"unreadable ({self._explain(exc)})")
            finally:
                _dispose(dev)  # reading the serial opened it; the chosen one reopens
            if serial is not None:
                serials.append(repr(serial))
            if serial == wanted and chosen is None:
                chosen = dev
        if chosen is None:
            raise LinkOpenError(
                f"no USB device {self.ident} with serial {wanted!r} "
                f"(found {len(found)}: {', '.join(serials)})",
                self.url,
            )
        return chosen

    def _setup(self, dev: Any) -> None:
        number = self.options["interface"]
        try:
            config = self._configuration(dev)
            intf = usb.util.find_descriptor(config, bInterfaceNumber=number)
            if intf is None:
                have = sorted({i.bInterfaceNumber for i in config})
                raise LinkOpenError(
                    f"USB device {self.ident} has no interface {number} (it has {have})",
                    self.url,
                )
            self._detach_kernel_driver(dev, number)
            usb.util.claim_interface(dev, number)
        except usb.core.USBError as exc:
            raise LinkOpenError(self._explain(exc), self.url) from exc
        self._out = self._pick_endpoint(intf, self.options["out"], usb.util.ENDPOINT_OUT)
        self._in = self._pick_endpoint(intf, self.options["in"], usb.util.ENDPOINT_IN)
        if self._out is None:
            raise LinkOpenError(
                f"interface {number} of USB device {self.ident} has no bulk OUT endpoint",
                self.url,
            )

    @staticmethod
    def _configuration(dev: Any) -> Any:
        """The active configuration; set the first one only if none is set (setting it
        again would reset the device and rebind kernel drivers)."""
        try:
            return dev.get_active_configuration()
        except usb.core.USBError as exc:
            if exc.errno is not None:
                raise  # a real failure (gone, no permission), not "Configuration not set"
        dev.set_configuration()
        return dev.get_active_configuration()

    def _detach_kernel_driver(self, dev: Any, number: int) -> None:
        try:
            bound = dev.is_kernel_driver_active(number)
        except NotImplementedError:
            return  # no kernel drivers to detach on this platform
        if bound:
            dev.detach_kernel_driver(number)
            self._detached.append(number)

    def _pick_endpoint(self, intf: Any, address: int | None, direction: int) -> Any:
        if address is not None:
            ep = usb.util.find_descriptor(intf, bEndpointAddress=address)
            if ep is None:
                have = ", ".join(f"{e.bEndpointAddress:#04x}" for e in intf)
                raise LinkOpenError(
                    f"interface {intf.bInterfaceNumber} of USB device {self.ident} has no "
                    f"endpoint {address:#04x} (it has {have})",
                    self.url,
                )
            return ep
        return usb.util.find_descriptor(
            intf,
            custom_match=lambda e: (
                usb.util.endpoint_direction(e.bEndpointAddress) == direction
                and usb.util.endpoint_type(e.bmAttributes) == usb.util.ENDPOINT_TYPE_BULK
            ),
        )

    def _close(self) -> None:
        dev, self._dev = self._dev, None
        self._out = self._in = None
        self._pending.clear()
        if dev is not None:
            self._release(dev)

    def _release(self, dev: Any) -> None:
        """Give the interface back (and to the kernel driver); never raises."""
        with contextlib.suppress(usb.core.USBError, ValueError):
            usb.util.release_interface(dev, self.options["interface"])
        for number in self._detached:
            with contextlib.suppress(usb.core.USBError, NotImplementedError):
                dev.attach_kernel_driver(number)
        self._detached = []
        _dispose(dev)

    # -- I/O ------------------------------------------------------------------------------
    def _packet(self, ep: Any) -> int:
        return int(ep.wMaxPacketSize & 0x7FF) or 64

    def _write_some(self, data: memoryview, timeout: float) -> int:
        assert self._dev is not None
        chunk = bytes(data[: self._packet(self._out) * PACKETS_PER_WRITE])
        try:
            return int(self._dev.write(self._out.bEndpointAddress, chunk, timeout=_ms(timeout)))
        except usb.core.USBTimeoutError:
            return 0  # nothing moved; the base class reports the deadline and progress
        except usb.core.USBError as exc:
            raise LinkIOError(self._explain(exc, "write"), self.url) from exc

    def _read_some(self, size: int, timeout: float) -> bytes:
        assert self._dev is not None
        if self._pending:
            return self._take_pending(size)
        if self._in is None:
            raise LinkIOError(
                f"USB device {self.ident} has no bulk IN endpoint: it cannot answer", self.url
            )
        packet = self._packet(self._in)
        request = max(1, math.ceil(size / packet)) * packet
        try:
            got = self._dev.read(self._in.bEndpointAddress, request, timeout=_ms(timeout))
        except usb.core.USBTimeoutError:
            return b""  # silence is the caller's to judge
        except usb.core.USBError as exc:
            raise LinkIOError(self._explain(exc, "read"), self.url) from exc
        self._pending += bytes(got)
        return self._take_pending(size)

    def _take_pending(self, size: int) -> bytes:
        chunk = bytes(self._pending[:size])
        del self._pending[:size]
        return chunk

    def _discard_input(self) -> int:
        assert self._dev is not None
        dropped = len(self._pending)
        self._pending.clear()
        if self._in is None:
            return dropped
        request = self._packet(self._in) * PACKETS_PER_WRITE
        for _ in range(FLUSH_MAX_READS):
            try:
                got = self._dev.read(self._in.bEndpointAddress, request, timeout=FLUSH_TIMEOUT_MS)
            except usb.core.USBTimeoutError:
                break
            except usb.core.USBError as exc:
                raise LinkIOError(self._explain(exc, "flush"), self.url) from exc
            if not got:
                break
            dropped += len(got)
        return dropped

    # -- errors ---------------------------------------------------------------------------
    def _explain(self, exc: BaseException, doing: str = "open") -> str:
        code = getattr(exc, "errno", None)
        text = str(exc)
        if code == errno.EACCES or "Access denied" in text:
            return (
                f"permission denied on USB device {self.ident}: install a udev rule such as "
                f'SUBSYSTEM=="usb", ATTRS{{idVendor}}=="{self.vid:04x}", '
                f'ATTRS{{idProduct}}=="{self.pid:04x}", MODE="0660", GROUP="lp" '
                f"and add the service user to group lp ({text})"
            )
        if code == errno.EBUSY or "Resource busy" in text:
            return (
                f"USB device {self.ident} is busy: the usblp kernel driver, CUPS or another "
                f"program holds interface {self.options['interface']} ({text})"
            )
        if code in _GONE or "No such device" in text or "Pipe error" in text:
            return f"device gone (unplugged or powered off) during {doing}: {text}"
        return f"USB {doing} failed on {self.ident}: {text}"


def _dispose(dev: Any) -> None:
    with contextlib.suppress(usb.core.USBError):
        usb.util.dispose_resources(dev)
