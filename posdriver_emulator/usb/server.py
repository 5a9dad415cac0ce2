"""The device side of the emulated USB bus: one printer-class device behind a TCP port.

:class:`UsbDeviceServer` plays the USB device and the host's kernel at once, so that a
driver using pyusb through :class:`~posdriver_emulator.usb.backend.EmulatorBackend` meets what it
would meet on Linux with libusb:

* Descriptors of a real receipt printer: one configuration, interface 0 of class 7
  (printer), subclass 1, protocol 2 (bidirectional), bulk OUT 0x01 and bulk IN 0x82 with
  64-byte packets; string descriptors for manufacturer, product and serial number;
  printer-class GET_DEVICE_ID and GET_PORT_STATUS.
* The kernel's ``usblp`` driver is bound to interface 0 whenever the device appears:
  claiming it then fails with ``EBUSY`` until the host detaches the kernel driver. One
  handle at a time may claim an interface; closing a handle releases its claims but does
  not rebind ``usblp`` (only ``attach_kernel_driver`` or a re-plug does).
* Bulk OUT goes to ``device.accept()``; a device that takes nothing (busy, buffer full)
  NAKs, the transfer waits for room until its timeout and then fails with a timeout that
  says how many bytes did go. Bulk IN is served from a small endpoint FIFO that the device
  fills as it produces output; an IN transfer waits for data until its timeout. A request
  that is not a multiple of the packet size overflows when a full packet arrives, as on
  real hardware.
* The wire state is the device's: ``disconnect`` or ``power_off`` removes the device
  from the bus (open handles get ``ENODEV``, enumeration no longer lists it); when it
  comes back it enumerates at a new address with ``usblp`` bound again. Even a fault
  switched off and on between two polls counts as a re-plug.

The protocol is described in :mod:`posdriver_emulator.usb.backend`. Each connection has its own
thread; an exception in a request is answered as ``EIO`` and logged, and never stops
the server.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import logging
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..device import EmulatedDevice
from ..pacing import Pacer
from ..transports.base import POLL, Transport
from .backend import MessageStream, ProtocolError

log = logging.getLogger(__name__)

PACKET = 64
EP_OUT = 0x01
EP_IN = 0x82
INTERFACE = 0
CONFIGURATION = 1
IN_FIFO = 1024  # bytes the device's IN endpoint buffers before it stops taking output
ROOM_POLL = 0.005  # how often a NAKed OUT transfer looks for room in the device
BUS = 1
FIRST_ADDRESS = 5

# printer-class requests (USB Printer Class 1.1, section 4.2)
GET_DEVICE_ID, GET_PORT_STATUS, SOFT_RESET = 0, 1, 2


class UsbFailure(Exception):
    """A request failed the way libusb reports it: an errno name and a byte count."""

    def __init__(self, name: str, message: str = "", transferred: int = 0) -> None:
        super().__init__(message or name)
        self.name = name
        self.message = message
        self.transferred = transferred

    def reply(self) -> dict[str, Any]:
        return {"error": self.name, "message": self.message, "transferred": self.transferred}


@dataclass
class _Handle:
    id: int
    generation: int
    claimed: set[int] = field(default_factory=set)


def string_descriptor(text: str) -> bytes:
    encoded = text.encode("utf-16-le")[:252]
    return bytes((2 + len(encoded), 0x03)) + encoded


def device_descriptor(vid: int, pid: int, has_serial: bool) -> bytes:
    """USB 2.0 full speed, class defined per interface, strings 1-3, one configuration."""
    fields = (18, 0x01, 0x0200, 0, 0, 0, 64, vid, pid, 0x0100, 1, 2, 3 if has_serial else 0, 1)
    return struct.pack("<BBHBBBBHHHBBBB", *fields)


def configuration_descriptor() -> bytes:
    """Self-powered; interface 0 = printer class, bidirectional; bulk OUT and bulk IN."""
    interface = struct.pack("<9B", 9, 0x04, INTERFACE, 0, 2, 7, 1, 2, 0)
    bulk_out = struct.pack("<BBBBHB", 7, 0x05, EP_OUT, 0x02, PACKET, 0)
    bulk_in = struct.pack("<BBBBHB", 7, 0x05, EP_IN, 0x02, PACKET, 0)
    body = interface + bulk_out + bulk_in
    return struct.pack("<BBHBBBBB", 9, 0x02, 9 + len(body), 1, CONFIGURATION, 0, 0xC0, 1) + body


class UsbDeviceServer(Transport):
    """An :class:`EmulatedDevice` as a USB printer on an emulated bus at ``host:port``."""

    def __init__(
        self,
        device: EmulatedDevice,
        vid: int = 0x04B8,
        pid: int = 0x0202,
        serial: str | None = "EMU0000001",
        manufacturer: str = "EPSON",
        product: str = "TM-T88V",
        host: str = "127.0.0.1",
        port: int = 0,
        pacer: Pacer | None = None,
    ) -> None:
        super().__init__(device, baudrate=None)
        if pacer is not None:  # one schedule per direction, both at the pacer's rate
            self.rx_pacer = pacer
            self.tx_pacer = copy.copy(pacer)
        self.vid, self.pid = vid, pid
        self.serial, self.manufacturer, self.product = serial, manufacturer, product
        self.host, self.port = host, port
        self.accessible = True  # False: opening fails with EACCES, like a missing udev rule
        self.stats: Counter[str] = Counter()
        self._cond = threading.Condition()
        self._listener: socket.socket | None = None
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._handle_ids = itertools.count(1)
        self._handles: dict[int, _Handle] = {}
        self._present = False
        self._generation = 0
        self._address = FIRST_ADDRESS - 1
        self._attach_generation = device.attach_generation
        self._configuration = 0
        self._kernel_bound: set[int] = set()
        self._claims: dict[int, int] = {}
        self._fifo = bytearray()
        self._wire_events = 0
        self._wire_events_seen = 0
        self._events_lock = threading.Lock()
        self._bus_changed = threading.Event()
        self._listening_to_device = False
        self._device_descriptor = device_descriptor(vid, pid, has_serial=bool(serial))
        self._config_descriptor = configuration_descriptor()
        self._strings = {1: manufacturer, 2: product, 3: serial or ""}
        self._ops: dict[str, Callable[[_Handle, dict[str, Any], bytes], dict[str, Any]]] = {
            "get_configuration": self._op_get_configuration,
            "set_configuration": self._op_set_configuration,
            "set_altsetting": self._op_set_altsetting,
            "claim": self._op_claim,
            "release": self._op_release,
            "kernel_driver_active": self._op_kernel_driver_active,
            "detach": self._op_detach,
            "attach": self._op_attach,
            "clear_halt": self._op_clear_halt,
            "reset": self._op_reset,
            "bulk_out": self._op_bulk_out,
        }

    # -- what tests and people look at ----------------------------------------------------
    @property
    def url(self) -> str:
        return f"usb://{self.vid:04x}:{self.pid:04x}?emulator={self.host}:{self.port}"

    @property
    def present(self) -> bool:
        """Whether the device is on the bus (enumerates) right now."""
        with self._cond:
            self._sync()
            return self._present

    @property
    def address(self) -> int | None:
        """The device's current bus address; ``None`` while it is off the bus."""
        with self._cond:
            self._sync()
            return self._address if self._present else None

    def kernel_driver_bound(self, interface: int = INTERFACE) -> bool:
        with self._cond:
            self._sync()
            return interface in self._kernel_bound

    def claimed_interfaces(self) -> dict[int, int]:
        """Interface number -> id of the handle that claimed it."""
        with self._cond:
            self._sync()
            return dict(self._claims)

    @property
    def open_handles(self) -> int:
        with self._cond:
            return len(self._handles)

    def state(self) -> dict[str, Any]:
        with self._cond:
            self._sync()
            return {
                "url": self.url,
                "present": self._present,
                "bus": BUS,
                "address": self._address if self._present else None,
                "configuration": self._configuration,
                "kernel_driver": sorted(self._kernel_bound),
                "claimed": dict(self._claims),
                "handles": len(self._handles),
                "in_fifo": len(self._fifo),
                "stats": dict(self.stats),
            }

    # -- lifecycle (Transport) ------------------------------------------------------------
    def _setup(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(16)
        sock.settimeout(POLL)
        self.port = sock.getsockname()[1]
        self._listener = sock
        if not self._listening_to_device:
            self.device.on_fault_change(self._on_fault)
            self._listening_to_device = True
        with self._cond:
            self._sync()

    def _teardown(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.close()
        with self._cond:
            connections = list(self._connections.items())
        for conn, _ in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for _, thread in connections:
            thread.join(timeout=5)
        with self._cond:
            self._unplug()
            self._handles.clear()

    def _loops(self) -> list[tuple[str, Callable[[], None]]]:
        return [
            ("usb-accept", self._accept_loop),
            ("usb-bus", self._bus_loop),
            ("usb-in", self._in_loop),
        ]

    def _on_fault(self, name: str, active: bool) -> None:
        # Called by whoever switched the fault, maybe under the device's lock: only count.
        if name in ("disconnect", "power_off"):  # busy and garbage leave the bus alone
            with self._events_lock:
                self._wire_events += 1
            self._bus_changed.set()

    # -- the bus: presence, plug and unplug (all under self._cond) -------------------------
    def _sync(self) -> None:
        device = self.device
        with device.lock:  # lock order: server, then device (as everywhere here)
            attached, generation = device.attachment()
            wanted = attached and device.powered and not self._stop.is_set()
        with self._events_lock:
            events = self._wire_events
        if self._present and (
            not wanted or events != self._wire_events_seen or generation != self._attach_generation
        ):
            self._unplug()
        self._wire_events_seen = events
        if wanted and not self._present:
            self._plug(generation)

    def _plug(self, generation: int) -> None:
        self._present = True
        self._generation += 1
        self._address = self._address % 127 + 1
        self._attach_generation = generation
        self._configuration = CONFIGURATION  # the kernel configures it on arrival...
        self._kernel_bound = {INTERFACE}  # ...and usblp binds to the printer interface
        self._claims.clear()
        self._fifo.clear()
        self.stats["plugged"] += 1
        self._cond.notify_all()

    def _unplug(self) -> None:
        if self._present:
            self.stats["unplugged"] += 1
        self._present = False
        self._kernel_bound.clear()
        self._claims.clear()
        self._fifo.clear()
        self.device.discard_output()  # lock order as in _in_loop: server, then device
        for handle in self._handles.values():
            handle.claimed.clear()
        self._cond.notify_all()

    def _alive(self, handle: _Handle, transferred: int = 0) -> None:
        """Raise ``ENODEV`` unless the device ``handle`` was opened on is still there."""
        self._sync()
        if not self._present or handle.generation != self._generation:
            raise UsbFailure("ENODEV", "device left the bus", transferred)

    # -- threads --------------------------------------------------------------------------
    def _bus_loop(self) -> None:
        while not self._stop.is_set():
            self._bus_changed.wait(POLL)
            self._bus_changed.clear()
            with self._cond:
                self._sync()

    def _in_loop(self) -> None:
        """Move the device's output into the IN endpoint FIFO while it is on the bus."""
        device = self.device
        backlog = False  # bytes that arrive on an idle line start crossing it now
        while not self._stop.is_set():
            with self._cond:
                self._sync()
                room = IN_FIFO - len(self._fifo) if self._present else 0
                if room <= 0:
                    self._cond.wait(POLL)
                    continue
                generation = self._generation
                data = device.take_output(min(room, self.tx_pacer.chunk_size()), 0)
                if data and not self.tx_pacer.paced:
                    self._fifo += data
                    self._cond.notify_all()
                    continue
            if data:  # paced: the bytes appear once their wire time has passed
                self.tx_pacer.transmit(len(data), queued=backlog)
                backlog = True
                with self._cond:
                    if self._present and self._generation == generation:
                        self._fifo += data
                        self._cond.notify_all()
                continue
            backlog = False
            with device.lock:  # no lost wake-up: send() notifies under this lock
                if not device.pending_output():
                    device.wait_for_wire_change(POLL)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            listener = self._listener
            if listener is None:
                return
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                raise
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            thread = threading.Thread(
                target=self._serve, args=(conn,), name="usb-handle", daemon=True
            )
            with self._cond:
                self._connections[conn] = thread
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        stream = MessageStream(conn)
        handle: _Handle | None = None
        try:
            request, _ = stream.receive(None, self._stop.is_set)
            op = request.get("op")
            if op == "enumerate":
                stream.send({"ok": True, "devices": self._enumerate()})
                return
            if op != "open":
                stream.send(UsbFailure("EINVAL", "first request: enumerate or open").reply())
                return
            try:
                handle = self._open(request)
            except UsbFailure as failure:
                stream.send(failure.reply())
                return
            stream.send({"ok": True, "handle": handle.id})
            while True:
                request, payload = stream.receive(None, self._stop.is_set)
                if request.get("op") == "close":
                    self._close(handle)
                    handle = None
                    stream.send({"ok": True})
                    return
                reply, data = self._dispatch(handle, request, payload)
                stream.send(reply, data)
        except (OSError, ProtocolError):
            pass  # the host went away (or stop() shut the connection): the handle closes
        except Exception:
            log.exception("USB emulator connection failed")
        finally:
            if handle is not None:
                self._close(handle)
            with contextlib.suppress(OSError):
                conn.close()
            with self._cond:
                self._connections.pop(conn, None)

    # -- requests -------------------------------------------------------------------------
    def _enumerate(self) -> list[dict[str, Any]]:
        with self._cond:
            self._sync()
            self.stats["enumerations"] += 1
            if not self._present:
                return []
            return [
                {
                    "bus": BUS,
                    "address": self._address,
                    "port_numbers": [1],
                    "speed": 2,  # full speed
                    "device": self._device_descriptor.hex(),
                    "configurations": [self._config_descriptor.hex()],
                }
            ]

    def _open(self, request: dict[str, Any]) -> _Handle:
        with self._cond:
            self._sync()
            if not self._present or request.get("address") != self._address:
                raise UsbFailure("ENODEV", "no device at that address")
            if not self.accessible:
                raise UsbFailure("EACCES", "the device node is not accessible to this user")
            handle = _Handle(next(self._handle_ids), self._generation)
            self._handles[handle.id] = handle
            self.stats["opened"] += 1
            return handle

    def _close(self, handle: _Handle) -> None:
        with self._cond:
            for number in handle.claimed:
                if self._claims.get(number) == handle.id:
                    del self._claims[number]
            handle.claimed.clear()
            self._handles.pop(handle.id, None)

    def _dispatch(
        self, handle: _Handle, request: dict[str, Any], payload: bytes
    ) -> tuple[dict[str, Any], bytes]:
        op = request.get("op")
        try:
            if op == "bulk_in":
                data = self._bulk_in(handle, request)
                return {"ok": True, "transferred": len(data)}, data
            if op == "control":
                return self._control(handle, request, payload)
            operation = self._ops.get(str(op))
            if operation is None:
                raise UsbFailure("ENOSYS", f"unknown operation {op!r}")
            return {"ok": True, **operation(handle, request, payload)}, b""
        except UsbFailure as failure:
            return failure.reply(), b""
        except (KeyError, TypeError, ValueError) as exc:
            return UsbFailure("EINVAL", f"bad {op!r} request: {exc!r}").reply(), b""
        except Exception as exc:
            log.exception("USB emulator request %r failed", op)
            return UsbFailure("EIO", f"emulator error: {exc!r}").reply(), b""

    def _interface(self, number: int) -> None:
        if self._configuration != CONFIGURATION or number != INTERFACE:
            raise UsbFailure("ENOENT", f"no interface {number} in the active configuration")

    def _claim(self, handle: _Handle, number: int) -> None:
        self._interface(number)
        if number in handle.claimed:
            return
        if number in self._kernel_bound:
            raise UsbFailure("EBUSY", f"interface {number} is bound to the usblp kernel driver")
        if number in self._claims:
            raise UsbFailure("EBUSY", f"interface {number} is claimed by another handle")
        self._claims[number] = handle.id
        handle.claimed.add(number)

    def _op_get_configuration(self, handle: _Handle, r: dict[str, Any], _: bytes) -> dict[str, Any]:
        with self._cond:
            self._alive(handle)
            return {"value": self._configuration}

    def _op_set_configuration(self, handle: _Handle, r: dict[str, Any], _: bytes) -> dict[str, Any]:
        value = int(r["value"])
        with self._cond:
            self._alive(handle)
            if value not in (0, CONFIGURATION):
                raise UsbFailure("ENOENT", f"no configuration {value}")
            if self._claims or self._kernel_bound:
                raise UsbFailure("EBUSY", "an interface is claimed (by usblp or a handle)")
            if value != self._configuration:
                self._configuration = value
                # a new configuration brings new interfaces, and usblp probes them
                self._kernel_bound = {INTERFACE} if value else set()
            self.stats["set_configuration"] += 1
        return {}

    def _op_set_altsetting(self, handle: _Handle, r: dict[str, Any], _: bytes) -> dict[str, Any]:
        number, alt = int(r["interface"]), int(r["alt"])
        with self._cond:
            self._alive(handle)
            if number not in handle.claimed:
                raise UsbFailure("ENOENT", f"interface {number} is not claimed")
            if alt != 0:
                raise UsbFailure("ENOENT", f"interface {number} has no alternate setting {alt}")
        return {}

    def _op_claim(self, handle: _Handle, r: dict[str, Any], _: bytes) -> dict[str, Any]:
        with self._cond:
            self._alive(handle)
            self._claim(handle, int(r["interface"]))
        return {}

    def _op_release(self, handle: _Handle, r: dict[str, Any], _: bytes) -> dict[str, Any]:
        number = int(r["interface"])
        with self._cond:
            self._alive(handle)
            if number not in handle.claimed:
                raise UsbFailure("ENOENT", f"interface {number} is not claimed by this handle")
            handle.claimed.discard(number)
            self._claims.pop(number, None)
        return {}

    def _op_kernel_driver_active(
        self, handle: _Handle, r: dict[str, Any], _: bytes
    ) -> dict[str, Any]:
        with self._cond:
            self._alive(handle)
            return {"active": int(r["interface"]) in self._kernel_bound}

    def _op_detach(self, handle: _Handle, r: dict[str, Any], _: bytes) -> dict[str, Any]:
        number = int(r["interface"])
        with self._cond:
            self._alive(handle)
            if number not in self._kernel_bound:
                raise UsbFailure("ENOENT", f"no kernel driver is bound to interface {number}")
            self._kernel_bound.discard(number)
            self.stats["kernel_driver_detached"] += 1
        return {}

    def _op_attach(self, handle: _Handle, r: dict[str, Any], _: bytes) -> dict[str, Any]:
        number = int(r["interface"])
        with self._cond:
            self._alive(handle)
            self._interface(number)
            if number in self._kernel_bound or number in self._claims:
                raise UsbFailure("EBUSY", f"interface {number} already has a driver")
            self._kernel_bound.add(number)
            self.stats["kernel_driver_attached"] += 1
        return {}

    def _op_clear_halt(self, handle: _Handle, r: dict[str, Any], _: bytes) -> dict[str, Any]:
        endpoint = int(r["endpoint"])
        with self._cond:
            self._alive(handle)
            if endpoint not in (EP_OUT, EP_IN) or self._configuration != CONFIGURATION:
                raise UsbFailure("ENOENT", f"no endpoint {endpoint:#04x}")
        return {}

    def _op_reset(self, handle: _Handle, r: dict[str, Any], _: bytes) -> dict[str, Any]:
        with self._cond:
            self._alive(handle)
            self._fifo.clear()
            self.stats["reset"] += 1
        return {}

    def _endpoint(self, handle: _Handle, endpoint: int, expected: int) -> None:
        """Check the endpoint exists; an unclaimed interface is claimed as usbfs does."""
        if endpoint != expected or self._configuration != CONFIGURATION:
            raise UsbFailure("ENOENT", f"no endpoint {endpoint:#04x}")
        self._claim(handle, INTERFACE)

    @staticmethod
    def _deadline(request: dict[str, Any]) -> float | None:
        timeout_ms = int(request["timeout"])
        return None if timeout_ms <= 0 else time.monotonic() + timeout_ms / 1000

    def _op_bulk_out(self, handle: _Handle, r: dict[str, Any], payload: bytes) -> dict[str, Any]:
        with self._cond:
            self._alive(handle)
            self._endpoint(handle, int(r["endpoint"]), EP_OUT)
        deadline = self._deadline(r)
        sent = 0
        while sent < len(payload):
            with self._cond:
                self._alive(handle, sent)
            piece = payload[sent : sent + self.rx_pacer.chunk_size()]
            taken = self.device.accept(piece, overflow=False)
            if taken:
                self.rx_pacer.transmit(taken)
                sent += taken
                continue
            # NAK: the device has no room; the host controller retries until the timeout
            left = POLL if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise UsbFailure("ETIMEDOUT", "the device did not take the data", sent)
            self.device.wait_for_wire_change(min(left, ROOM_POLL))
        self.stats["bulk_out_bytes"] += sent
        return {"transferred": sent}

    def _bulk_in(self, handle: _Handle, r: dict[str, Any]) -> bytes:
        length = int(r["length"])
        deadline = self._deadline(r)
        with self._cond:
            self._alive(handle)
            self._endpoint(handle, int(r["endpoint"]), EP_IN)
            if length <= 0:
                return b""
            while True:
                self._alive(handle)
                if self._fifo:
                    return self._packets(length)
                left = POLL if deadline is None else deadline - time.monotonic()
                if left <= 0:
                    raise UsbFailure("ETIMEDOUT", "no data from the device", 0)
                self._cond.wait(min(left, POLL))

    def _packets(self, length: int) -> bytes:
        """Move whole packets from the FIFO into a transfer of ``length`` bytes."""
        out = bytearray()
        while self._fifo and len(out) < length:
            size = min(PACKET, len(self._fifo))
            if len(out) + size > length:
                del self._fifo[:size]  # the packet does not fit the host's buffer: babble
                self._cond.notify_all()
                raise UsbFailure("EOVERFLOW", f"{size}-byte packet for a {length}-byte read")
            out += self._fifo[:size]
            del self._fifo[:size]
            if size < PACKET:
                break  # a short packet ends the transfer
        self.stats["bulk_in_bytes"] += len(out)
        self._cond.notify_all()
        return bytes(out)

    def _control(
        self, handle: _Handle, r: dict[str, Any], payload: bytes
    ) -> tuple[dict[str, Any], bytes]:
        kind, request = int(r["request_type"]), int(r["request"])
        value, index, length = int(r["value"]), int(r["index"]), int(r["length"])
        with self._cond:
            self._alive(handle)
            answer = self._standard_or_class(handle, kind, request, value, index, payload)
        if kind & 0x80:
            data = answer[:length]
            return {"ok": True, "transferred": len(data)}, data
        return {"ok": True, "transferred": len(payload)}, b""

    def _standard_or_class(
        self, handle: _Handle, kind: int, request: int, value: int, index: int, payload: bytes
    ) -> bytes:
        stall = UsbFailure("EPIPE", f"request {kind:#04x}/{request:#04x} stalled")
        if kind == 0x80 and request == 0x06:  # GET_DESCRIPTOR
            dtype, dindex = value >> 8, value & 0xFF
            if dtype == 0x01:
                return self._device_descriptor
            if dtype == 0x02 and dindex == 0:
                return self._config_descriptor
            if dtype == 0x03 and dindex == 0:
                return bytes((4, 0x03, 0x09, 0x04))  # LANGID 0x0409, English (US)
            if dtype == 0x03 and self._strings.get(dindex):
                return string_descriptor(self._strings[dindex])
            raise stall
        if kind in (0x80, 0x81, 0x82) and request == 0x00:  # GET_STATUS
            return b"\x01\x00" if kind == 0x80 else b"\x00\x00"  # self-powered; no halt
        if kind == 0x80 and request == 0x08:  # GET_CONFIGURATION
            return bytes((self._configuration,))
        if kind == 0x02 and request == 0x01:  # CLEAR_FEATURE(ENDPOINT_HALT)
            return b""
        if kind & 0x60 == 0x20 and kind & 0x1F == 0x01:  # printer class, to the interface
            # GET_DEVICE_ID puts the interface in wIndex's high byte, the others in the low
            number = index >> 8 if request == GET_DEVICE_ID else index & 0xFF
            if number != INTERFACE or self._configuration != CONFIGURATION:
                raise stall
            if kind == 0xA1 and request == GET_DEVICE_ID:
                ident = (
                    f"MFG:{self.manufacturer};CMD:ESC/POS;MDL:{self.product};"
                    f"CLS:PRINTER;DES:{self.manufacturer} {self.product};"
                ).encode("ascii", "replace")
                return struct.pack(">H", len(ident) + 2) + ident
            if kind == 0xA1 and request == GET_PORT_STATUS:
                paper_empty = "paper_out" in self.device.active_faults
                selected = self.device.powered
                return bytes((0x08 | (0x10 if selected else 0) | (0x20 if paper_empty else 0),))
            if kind == 0x21 and request == SOFT_RESET:
                self._fifo.clear()
                return b""
        raise stall
