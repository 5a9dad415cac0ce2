"""The host side of the emulated USB bus: a pyusb backend that talks TCP to the emulator.

Pass an :class:`EmulatorBackend` to ``usb.core.find(backend=...)`` and everything above
it is pyusb's own code: ``Device``, descriptors, ``claim_interface``, endpoint lookup,
``read``/``write``, ``usb.util.get_string``. The backend plays the part libusb plays for
real hardware and raises what libusb would: ``USBTimeoutError`` (errno ``ETIMEDOUT``) for
a transfer that missed its timeout, ``USBError`` with ``ENODEV`` for a device that left
the bus, ``EBUSY`` for an interface someone else holds, ``EACCES``, ``EPIPE``,
``EOVERFLOW``... with libusb's error codes in ``backend_error_code``. Like pyusb 1.3's
libusb1 backend, a bulk transfer that timed out after moving some bytes returns the
count instead of raising.

Wire protocol (device side: :mod:`posdriver_emulator.usb.server`)
--------------------------------------------------------
Every message is one line of JSON (the header, UTF-8, ``\\n``-terminated) followed by
``header["len"]`` raw payload bytes (no payload when ``len`` is absent). Requests carry
``"op"``; replies carry ``"ok": true`` or ``"error": ERRNO_NAME`` with a ``"message"``;
transfer replies also carry ``"transferred"``. You can talk to it with socat::

    $ socat - TCP:127.0.0.1:PORT
    {"op":"enumerate"}
    {"ok":true,"devices":[{"bus":1,"address":5,"device":"1201000200...","configurations":[...]}]}

* ``enumerate``: a short-lived connection; the reply lists the devices on the bus with
  their raw descriptors (hex), which this module parses as libusb parses sysfs.
* ``open`` ``{"address": N}``: the connection becomes that device handle; every later
  request on it is an operation on the handle, answered in order. ``close`` (or a
  dropped connection) closes the handle and releases its interfaces.
* Handle operations: ``get_configuration``, ``set_configuration {value}``,
  ``set_altsetting {interface, alt}``, ``claim``/``release {interface}``,
  ``kernel_driver_active``/``detach``/``attach {interface}``, ``bulk_out {endpoint,
  timeout}`` + payload, ``bulk_in {endpoint, length, timeout}`` (reply payload),
  ``control {request_type, request, value, index, length, timeout}`` (+ payload for OUT,
  reply payload for IN), ``clear_halt {endpoint}``, ``reset``. Timeouts are pyusb's
  milliseconds; 0 means no limit, as in libusb.

Transfers on one handle are serialised (one request in flight per connection); a lost
connection, or a reply that does not come within the transfer's timeout plus a margin,
kills the handle and reads as ``ENODEV``.
"""

from __future__ import annotations

import array
import errno
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import usb.backend
import usb.core

MAX_HEADER = 64 * 1024
MAX_PAYLOAD = 16 * 1024 * 1024
POLL = 0.05
SEND_TIMEOUT = 10.0
CONNECT_TIMEOUT = 2.0
REPLY_TIMEOUT = 5.0  # for requests that carry no timeout of their own
REPLY_MARGIN = 5.0  # added to a transfer's timeout before the emulator counts as gone

# errno name -> (libusb error code, errno, libusb_strerror text)
LIBUSB_ERRORS: dict[str, tuple[int, int, str]] = {
    "EIO": (-1, errno.EIO, "Input/Output Error"),
    "EINVAL": (-2, errno.EINVAL, "Invalid parameter"),
    "EACCES": (-3, errno.EACCES, "Access denied (insufficient permissions)"),
    "ENODEV": (-4, errno.ENODEV, "No such device (it may have been disconnected)"),
    "ENOENT": (-5, errno.ENOENT, "Entity not found"),
    "EBUSY": (-6, errno.EBUSY, "Resource busy"),
    "ETIMEDOUT": (-7, errno.ETIMEDOUT, "Operation timed out"),
    "EOVERFLOW": (-8, errno.EOVERFLOW, "Overflow"),
    "EPIPE": (-9, errno.EPIPE, "Pipe error"),
    "ENOSYS": (-12, errno.ENOSYS, "Operation not supported or unimplemented on this platform"),
}


class ProtocolError(ValueError):
    """A peer sent something that is not a message of this protocol."""


class MessageStream:
    """JSON header lines with raw payloads over one socket (both sides use it)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buf = bytearray()

    def send(self, header: dict[str, Any], payload: bytes = b"") -> None:
        if payload:
            header = {**header, "len": len(payload)}
        line = json.dumps(header, separators=(",", ":")).encode() + b"\n"
        self.sock.settimeout(SEND_TIMEOUT)
        self.sock.sendall(line + payload)

    def receive(
        self, timeout: float | None, cancelled: Callable[[], bool] | None = None
    ) -> tuple[dict[str, Any], bytes]:
        """One message; ``TimeoutError`` after ``timeout`` s (None: wait on), and
        ``ConnectionError`` when the peer closed or ``cancelled()`` became true."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (end := self._buf.find(b"\n")) < 0:
            if len(self._buf) > MAX_HEADER:
                raise ProtocolError("header line too long")
            self._fill(deadline, cancelled)
        try:
            header = json.loads(bytes(self._buf[:end]))
        except ValueError as exc:
            raise ProtocolError(f"header is not JSON: {exc}") from None
        del self._buf[: end + 1]
        if not isinstance(header, dict):
            raise ProtocolError("header is not a JSON object")
        size = header.get("len", 0)
        if not isinstance(size, int) or not 0 <= size <= MAX_PAYLOAD:
            raise ProtocolError(f"bad payload length {size!r}")
        while len(self._buf) < size:
            self._fill(deadline, cancelled)
        payload = bytes(self._buf[:size])
        del self._buf[:size]
        return header, payload

    def _fill(self, deadline: float | None, cancelled: Callable[[], bool] | None) -> None:
        while True:
            if cancelled is not None and cancelled():
                raise ConnectionAbortedError("stopped")
            wait = POLL
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    raise TimeoutError("no reply in time")
            self.sock.settimeout(wait)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                raise ConnectionResetError("the peer closed the connection")
            self._buf += chunk
            return


def usb_error(name: str, message: str = "") -> Exception:
    """The exception libusb (through pyusb's libusb1 backend) raises for ``name``."""
    code, number, text = LIBUSB_ERRORS.get(name, (-99, 0, "Other error"))
    if message and message != text:
        text = f"{text}: {message}"
    if name == "ENOSYS":
        return NotImplementedError(text)
    if name == "ETIMEDOUT":
        return usb.core.USBTimeoutError(text, code, number)
    return usb.core.USBError(text, code, number or None)


# -- descriptors, parsed from raw bytes as libusb does -------------------------------------
def _unpack(data: bytes, names: tuple[str, ...], sizes: tuple[int, ...]) -> SimpleNamespace:
    fields: dict[str, Any] = {}
    at = 0
    for name, size in zip(names, sizes, strict=True):
        fields[name] = int.from_bytes(data[at : at + size], "little")
        at += size
    return SimpleNamespace(**fields)


_DEVICE_NAMES = (
    "bLength",
    "bDescriptorType",
    "bcdUSB",
    "bDeviceClass",
    "bDeviceSubClass",
    "bDeviceProtocol",
    "bMaxPacketSize0",
    "idVendor",
    "idProduct",
    "bcdDevice",
    "iManufacturer",
    "iProduct",
    "iSerialNumber",
    "bNumConfigurations",
)
_DEVICE_SIZES = (1, 1, 2, 1, 1, 1, 1, 2, 2, 2, 1, 1, 1, 1)
_CONFIG_NAMES = (
    "bLength",
    "bDescriptorType",
    "wTotalLength",
    "bNumInterfaces",
    "bConfigurationValue",
    "iConfiguration",
    "bmAttributes",
    "bMaxPower",
)
_CONFIG_SIZES = (1, 1, 2, 1, 1, 1, 1, 1)
_INTERFACE_NAMES = (
    "bLength",
    "bDescriptorType",
    "bInterfaceNumber",
    "bAlternateSetting",
    "bNumEndpoints",
    "bInterfaceClass",
    "bInterfaceSubClass",
    "bInterfaceProtocol",
    "iInterface",
)
_ENDPOINT_NAMES = (
    "bLength",
    "bDescriptorType",
    "bEndpointAddress",
    "bmAttributes",
    "wMaxPacketSize",
    "bInterval",
)


def parse_device_descriptor(data: bytes) -> SimpleNamespace:
    if len(data) < 18 or data[1] != 0x01:
        raise ProtocolError("bad device descriptor")
    return _unpack(data, _DEVICE_NAMES, _DEVICE_SIZES)


def parse_configuration(data: bytes) -> SimpleNamespace:
    """A configuration with ``.interfaces[i][alt]`` and each interface's ``.endpoints``."""
    if len(data) < 9 or data[1] != 0x02:
        raise ProtocolError("bad configuration descriptor")
    config = _unpack(data, _CONFIG_NAMES, _CONFIG_SIZES)
    config.extra_descriptors = []
    config.interfaces = []
    numbers: dict[int, list[SimpleNamespace]] = {}
    owner = config  # where class-specific descriptors that follow are attached
    current: SimpleNamespace | None = None  # the interface endpoints belong to
    at = data[0]
    while at + 2 <= len(data):
        length, kind = data[at], data[at + 1]
        if length < 2 or at + length > len(data):
            raise ProtocolError("truncated descriptor in configuration")
        chunk = data[at : at + length]
        if kind == 0x04 and length >= 9:
            intf = _unpack(chunk, _INTERFACE_NAMES, (1,) * 9)
            intf.extra_descriptors = []
            intf.endpoints = []
            if intf.bInterfaceNumber not in numbers:
                numbers[intf.bInterfaceNumber] = []
                config.interfaces.append(numbers[intf.bInterfaceNumber])
            numbers[intf.bInterfaceNumber].append(intf)
            owner = current = intf
        elif kind == 0x05 and length >= 7 and current is not None:
            ep = _unpack(chunk, _ENDPOINT_NAMES, (1, 1, 1, 1, 2, 1))
            ep.bRefresh = chunk[7] if length >= 9 else 0
            ep.bSynchAddress = chunk[8] if length >= 9 else 0
            ep.extra_descriptors = []
            current.endpoints.append(ep)
            owner = ep
        else:
            owner.extra_descriptors.extend(chunk)
        at += length
    return config


class EmulatedDeviceId:
    """What ``enumerate_devices`` yields: one device on the bus, descriptors cached."""

    def __init__(self, host: str, port: int, info: dict[str, Any]) -> None:
        self.host = host
        self.port = port
        self.bus = int(info["bus"])
        self.address = int(info["address"])
        desc = parse_device_descriptor(bytes.fromhex(info["device"]))
        desc.bus = self.bus
        desc.address = self.address
        ports = info.get("port_numbers") or []
        desc.port_numbers = tuple(ports) or None
        desc.port_number = ports[-1] if ports else None
        desc.speed = info.get("speed")
        self.descriptor = desc
        self.configurations = [
            parse_configuration(bytes.fromhex(c)) for c in info["configurations"]
        ]

    def __repr__(self) -> str:
        return f"<emulated USB device bus {self.bus} address {self.address}>"


class EmulatedHandle:
    """One open device handle: one TCP connection, one request at a time."""

    def __init__(self, dev: EmulatedDeviceId, sock: socket.socket) -> None:
        self.dev = dev
        self.stream = MessageStream(sock)
        self.lock = threading.Lock()
        self.dead = False

    def kill(self) -> None:
        self.dead = True
        try:
            self.stream.sock.close()
        except OSError:
            pass


class EmulatorBackend(usb.backend.IBackend):  # type: ignore[misc]
    """A pyusb backend whose bus is the emulator listening on ``host:port``."""

    def __init__(self, host: str, port: int, connect_timeout: float = CONNECT_TIMEOUT) -> None:
        super().__init__()
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout

    def __repr__(self) -> str:
        return f"<EmulatorBackend {self.host}:{self.port}>"

    # -- bus ------------------------------------------------------------------------------
    def enumerate_devices(self) -> Iterator[EmulatedDeviceId]:
        try:
            with socket.create_connection((self.host, self.port), self.connect_timeout) as sock:
                stream = MessageStream(sock)
                stream.send({"op": "enumerate"})
                reply, _ = stream.receive(REPLY_TIMEOUT)
            devices = [EmulatedDeviceId(self.host, self.port, info) for info in reply["devices"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise usb.core.USBError(
                f"emulated USB bus at {self.host}:{self.port} is unreachable: {exc}",
                -1,
                errno.EIO,
            ) from exc
        return iter(devices)

    def get_parent(self, dev: EmulatedDeviceId) -> None:
        return None

    def get_device_descriptor(self, dev: EmulatedDeviceId) -> SimpleNamespace:
        return dev.descriptor

    def get_configuration_descriptor(self, dev: EmulatedDeviceId, config: int) -> SimpleNamespace:
        if not 0 <= config < len(dev.configurations):
            raise usb_error("ENOENT", f"no configuration index {config}")
        return dev.configurations[config]

    def get_interface_descriptor(
        self, dev: EmulatedDeviceId, intf: int, alt: int, config: int
    ) -> SimpleNamespace:
        cfg = self.get_configuration_descriptor(dev, config)
        if not 0 <= intf < len(cfg.interfaces):
            raise IndexError(f"Invalid interface index {intf}")
        settings = cfg.interfaces[intf]
        if not 0 <= alt < len(settings):
            raise IndexError(f"Invalid alternate setting index {alt}")
        return settings[alt]  # type: ignore[no-any-return]

    def get_endpoint_descriptor(
        self, dev: EmulatedDeviceId, ep: int, intf: int, alt: int, config: int
    ) -> SimpleNamespace:
        endpoints = self.get_interface_descriptor(dev, intf, alt, config).endpoints
        if not 0 <= ep < len(endpoints):
            raise IndexError(f"Invalid endpoint index {ep}")
        return endpoints[ep]  # type: ignore[no-any-return]

    # -- handles --------------------------------------------------------------------------
    def open_device(self, dev: EmulatedDeviceId) -> EmulatedHandle:
        try:
            sock = socket.create_connection((dev.host, dev.port), self.connect_timeout)
        except OSError as exc:
            raise usb_error("ENODEV", f"emulator at {dev.host}:{dev.port}: {exc}") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        handle = EmulatedHandle(dev, sock)
        self._call(handle, {"op": "open", "bus": dev.bus, "address": dev.address})
        return handle

    def close_device(self, dev_handle: EmulatedHandle) -> None:
        if not dev_handle.dead:
            try:
                self._call(dev_handle, {"op": "close"})
            except (usb.core.USBError, NotImplementedError):
                pass
        dev_handle.kill()

    def set_configuration(self, dev_handle: EmulatedHandle, config_value: int) -> None:
        self._call(dev_handle, {"op": "set_configuration", "value": config_value})

    def get_configuration(self, dev_handle: EmulatedHandle) -> int:
        return int(self._call(dev_handle, {"op": "get_configuration"})[0]["value"])

    def set_interface_altsetting(self, dev_handle: EmulatedHandle, intf: int, alt: int) -> None:
        self._call(dev_handle, {"op": "set_altsetting", "interface": intf, "alt": alt})

    def claim_interface(self, dev_handle: EmulatedHandle, intf: int) -> None:
        self._call(dev_handle, {"op": "claim", "interface": intf})

    def release_interface(self, dev_handle: EmulatedHandle, intf: int) -> None:
        self._call(dev_handle, {"op": "release", "interface": intf})

    def is_kernel_driver_active(self, dev_handle: EmulatedHandle, intf: int) -> bool:
        reply, _ = self._call(dev_handle, {"op": "kernel_driver_active", "interface": intf})
        return bool(reply["active"])

    def detach_kernel_driver(self, dev_handle: EmulatedHandle, intf: int) -> None:
        self._call(dev_handle, {"op": "detach", "interface": intf})

    def attach_kernel_driver(self, dev_handle: EmulatedHandle, intf: int) -> None:
        self._call(dev_handle, {"op": "attach", "interface": intf})

    def clear_halt(self, dev_handle: EmulatedHandle, ep: int) -> None:
        self._call(dev_handle, {"op": "clear_halt", "endpoint": ep})

    def reset_device(self, dev_handle: EmulatedHandle) -> None:
        self._call(dev_handle, {"op": "reset"})

    # -- transfers ------------------------------------------------------------------------
    def bulk_write(
        self, dev_handle: EmulatedHandle, ep: int, intf: int, data: array.array[Any], timeout: int
    ) -> int:
        request = {"op": "bulk_out", "endpoint": ep, "interface": intf, "timeout": timeout}
        reply, _ = self._call(dev_handle, request, data.tobytes(), timeout, check=False)
        return self._transferred(reply)

    def bulk_read(
        self, dev_handle: EmulatedHandle, ep: int, intf: int, buff: array.array[Any], timeout: int
    ) -> int:
        view = memoryview(buff).cast("B")
        request = {
            "op": "bulk_in",
            "endpoint": ep,
            "interface": intf,
            "length": len(view),
            "timeout": timeout,
        }
        reply, data = self._call(dev_handle, request, b"", timeout, check=False)
        count = self._transferred(reply, len(data))
        view[:count] = data[:count]
        return count

    def ctrl_transfer(
        self,
        dev_handle: EmulatedHandle,
        bmRequestType: int,
        bRequest: int,
        wValue: int,
        wIndex: int,
        data: array.array[Any],
        timeout: int,
    ) -> int:
        view = memoryview(data).cast("B")
        request = {
            "op": "control",
            "request_type": bmRequestType,
            "request": bRequest,
            "value": wValue,
            "index": wIndex,
            "length": len(view),
            "timeout": timeout,
        }
        device_to_host = bool(bmRequestType & 0x80)
        payload = b"" if device_to_host else view.tobytes()
        reply, answer = self._call(dev_handle, request, payload, timeout)
        if not device_to_host:
            return int(reply.get("transferred", len(payload)))
        count = min(len(answer), len(view))
        view[:count] = answer[:count]
        return count

    # -- plumbing -------------------------------------------------------------------------
    def _call(
        self,
        handle: EmulatedHandle,
        request: dict[str, Any],
        payload: bytes = b"",
        timeout_ms: int | None = None,
        check: bool = True,
    ) -> tuple[dict[str, Any], bytes]:
        if timeout_ms is None:
            wait: float | None = REPLY_TIMEOUT
        elif timeout_ms <= 0:
            wait = None  # libusb: 0 is "no timeout"
        else:
            wait = timeout_ms / 1000 + REPLY_MARGIN
        with handle.lock:
            if handle.dead:
                raise usb_error("ENODEV")
            try:
                handle.stream.send(request, payload)
                reply, data = handle.stream.receive(wait)
            except (OSError, ProtocolError) as exc:
                handle.kill()
                raise usb_error("ENODEV", f"lost the emulator connection ({exc})") from exc
        if check and "error" in reply:
            raise usb_error(str(reply["error"]), str(reply.get("message", "")))
        return reply, data

    @staticmethod
    def _transferred(reply: dict[str, Any], limit: int | None = None) -> int:
        count = int(reply.get("transferred", 0))
        if limit is not None:
            count = min(count, limit)
        failure = reply.get("error")
        # As pyusb's libusb1 backend: a timeout after some bytes moved is not an error.
        if failure is None or (failure == "ETIMEDOUT" and count > 0):
            return count
        raise usb_error(str(failure), str(reply.get("message", "")))


def get_backend(host: str, port: int) -> EmulatorBackend:
    """The conventional pyusb backend-module entry point."""
    return EmulatorBackend(host, port)
