"""usb:// links and the emulated USB bus: pyusb's own code against an emulated printer.

Everything here goes through real sockets on 127.0.0.1 and pyusb's ``usb.core``; only
the backend under pyusb is the emulator's instead of libusb.
"""

from __future__ import annotations

import errno
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import usb.core
import usb.util

from posdriver.links import (
    LinkIOError,
    LinkOpenError,
    LinkTimeout,
    LinkURLError,
    link_for_url,
    open_link,
)
from posdriver_emulator.device import EchoDevice
from posdriver_emulator.pacing import Pacer
from posdriver_emulator.usb import EmulatorBackend, UsbDeviceServer
from tests.support.timing import wait_until

MakeServer = Callable[..., UsbDeviceServer]


@pytest.fixture
def make_server() -> Iterator[MakeServer]:
    servers: list[UsbDeviceServer] = []

    def make(buffer_size: int = 64 * 1024, **kwargs: Any) -> UsbDeviceServer:
        server = UsbDeviceServer(EchoDevice(buffer_size=buffer_size), **kwargs).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def server(make_server: MakeServer) -> UsbDeviceServer:
    return make_server()


def _address(server: UsbDeviceServer) -> int:
    address = server.address
    assert address is not None, "the device is not on the bus"
    return address


def _find(server: UsbDeviceServer) -> Any:
    dev = usb.core.find(
        idVendor=0x04B8, idProduct=0x0202, backend=EmulatorBackend("127.0.0.1", server.port)
    )
    assert dev is not None
    return dev


# -- URLs ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("usb://zz:0202", "expected VID:PID in hex"),
        ("usb://04b8", "expected VID:PID in hex"),
        ("usb://104b8:0202", "expected VID:PID in hex"),
        ("usb://", "expected VID:PID in hex"),
        ("usb://04b8:0202/x", "no path"),
        ("usb://04b8:0202?out=0x82", "bad value for 'out'"),
        ("usb://04b8:0202?out=zz", "bad value for 'out'"),
        ("usb://04b8:0202?in=0x01", "bad value for 'in'"),
        ("usb://04b8:0202?in=0x90", "bad value for 'in'"),
        ("usb://04b8:0202?interface=300", "bad value for 'interface'"),
        ("usb://04b8:0202?endpoint=1", "unknown option 'endpoint'"),
        ("usb://04b8:0202?emulator=localhost", "bad value for 'emulator'"),
        ("usb://04b8:0202?timeout=0", "bad value for 'timeout'"),
        ("usb://04b8:0202?serial=", "bad value for 'serial'"),
    ],
)
def test_bad_usb_url_names_the_problem_and_repeats_grammar(url: str, fragment: str) -> None:
    with pytest.raises(LinkURLError) as info:
        link_for_url(url)
    message = str(info.value)
    assert fragment in message
    assert "expected usb://VID:PID" in message


def test_usb_url_options_parsed() -> None:
    link = link_for_url(
        "usb://04B8:0e15?interface=1&out=0x02&in=0x81&serial=X1&timeout=0.5&emulator=h:9"
    )
    assert (link.vid, link.pid) == (0x04B8, 0x0E15)  # type: ignore[attr-defined]
    assert link.options["interface"] == 1
    assert (link.options["out"], link.options["in"]) == (0x02, 0x81)
    assert link.options["serial"] == "X1"
    assert link.options["emulator"] == ("h", 9)
    assert link.default_timeout == 0.5
    assert link.char_time == 0


def test_configure_does_no_io(server: UsbDeviceServer) -> None:
    link = link_for_url(server.url)
    assert not link.is_open
    assert server.stats["enumerations"] == 0


# -- open, I/O -------------------------------------------------------------------------------
def test_round_trip_with_auto_detected_endpoints(server: UsbDeviceServer) -> None:
    with open_link(server.url) as link:
        assert (link.out_endpoint, link.in_endpoint) == (0x01, 0x82)  # type: ignore[attr-defined]
        assert link.address == (1, server.address)  # type: ignore[attr-defined]
        link.write(b"\x10\x04\x01hello", timeout=2)
        assert link.read_exactly(8, timeout=2) == b"\x10\x04\x01hello"


def test_large_write_is_chunked_and_arrives_in_order(server: UsbDeviceServer) -> None:
    payload = bytes(range(256)) * 100
    with open_link(server.url) as link:
        link.write(payload, timeout=5)
        assert link.read_exactly(len(payload), timeout=5) == payload


def test_explicit_endpoints(server: UsbDeviceServer) -> None:
    with open_link(server.url + "&out=0x01&in=0x82") as link:
        link.write(b"ab", timeout=2)
        assert link.read_exactly(2, timeout=2) == b"ab"
    with pytest.raises(LinkOpenError, match="no endpoint 0x83"):
        open_link(server.url + "&in=0x83")
    assert server.kernel_driver_bound(0), "a failed open gives the interface back to usblp"
    assert server.claimed_interfaces() == {}


def test_missing_interface_is_open_error(server: UsbDeviceServer) -> None:
    with pytest.raises(LinkOpenError, match="no interface 1"):
        open_link(server.url + "&interface=1")


def test_kernel_driver_detached_on_open_and_reattached_on_close(server: UsbDeviceServer) -> None:
    assert server.kernel_driver_bound(0)
    link = open_link(server.url)
    assert not server.kernel_driver_bound(0)
    assert list(server.claimed_interfaces()) == [0]
    link.close()
    assert server.kernel_driver_bound(0)
    assert server.claimed_interfaces() == {}
    assert server.open_handles == 0


def test_second_link_to_a_claimed_device_is_busy(server: UsbDeviceServer) -> None:
    with open_link(server.url) as first:
        with pytest.raises(LinkOpenError, match="busy") as info:
            open_link(server.url)
        assert "usblp" in str(info.value)
        first.write(b"still mine", timeout=2)
        assert first.read_exactly(10, timeout=2) == b"still mine"
    with open_link(server.url) as second:
        second.write(b"now mine", timeout=2)
        assert second.read_exactly(8, timeout=2) == b"now mine"


def test_read_timeout_returns_empty(server: UsbDeviceServer) -> None:
    with open_link(server.url) as link:
        started = time.monotonic()
        assert link.read(16, timeout=0.2) == b""
        assert 0.15 <= time.monotonic() - started < 1.5


def test_read_keeps_the_surplus_of_whole_packets(server: UsbDeviceServer) -> None:
    payload = bytes(range(100))
    with open_link(server.url) as link:
        link.write(payload, timeout=2)
        wait_until(lambda: server.state()["in_fifo"] == 100, what="echo in the IN FIFO")
        assert link.read(10, timeout=2) == payload[:10]  # one 64-byte packet was read
        assert server.state()["in_fifo"] == 36
        assert link.read_exactly(90, timeout=2) == payload[10:]


def test_flush_input_discards_pending_bytes(server: UsbDeviceServer) -> None:
    with open_link(server.url) as link:
        link.write(b"stale", timeout=2)
        wait_until(lambda: server.state()["in_fifo"] == 5, what="echo in the IN FIFO")
        assert link.flush_input() == 5
        assert link.read(16, timeout=0.1) == b""


def test_pacer_slows_both_directions(make_server: MakeServer) -> None:
    server = make_server(pacer=Pacer(9600))  # 960 bytes/s each way
    payload = bytes(range(96))
    with open_link(server.url) as link:
        started = time.monotonic()
        link.write(payload, timeout=5)
        assert time.monotonic() - started >= 0.09
        assert link.read_exactly(96, timeout=5) == payload  # the echo, paced alongside
        started = time.monotonic()
        server.device.send(payload)
        assert link.read_exactly(96, timeout=5) == payload
        assert time.monotonic() - started >= 0.09


# -- faults ----------------------------------------------------------------------------------
def test_busy_device_write_times_out_having_sent_nothing(server: UsbDeviceServer) -> None:
    server.device.set_fault("busy", True)
    with open_link(server.url) as link:
        started = time.monotonic()
        with pytest.raises(LinkTimeout) as info:
            link.write(b"x" * 1000, timeout=0.3)
        assert info.value.done == 0
        assert 0.25 <= time.monotonic() - started < 2


def test_full_device_write_reports_exactly_what_went(make_server: MakeServer) -> None:
    server = make_server(buffer_size=100)
    payload = bytes(range(256)) * 16
    with open_link(server.url) as link:
        with pytest.raises(LinkTimeout) as info:
            link.write(payload, timeout=0.3)
        done = info.value.done
        assert 0 < done < len(payload)
        # the echo gives back exactly the bytes the link says it sent
        assert link.read_exactly(done, timeout=2) == payload[:done]
        assert link.read(16, timeout=0.1) == b""


def test_disconnect_is_io_error_and_replug_is_found_afresh(server: UsbDeviceServer) -> None:
    link = open_link(server.url)
    try:
        old = _address(server)
        link.write(b"ok", timeout=2)
        assert link.read_exactly(2, timeout=2) == b"ok"
        server.device.set_fault("disconnect", True)
        with pytest.raises(LinkIOError, match="device gone"):
            link.write(b"x", timeout=0.5)
        with pytest.raises(LinkIOError, match="device gone"):
            link.read(1, timeout=0.5)
        with pytest.raises(LinkOpenError, match="no USB device 04b8:0202 found"):
            open_link(server.url)
        link.close()
        server.device.set_fault("disconnect", False)
        assert server.address == old + 1
        assert server.kernel_driver_bound(0), "usblp binds again on re-plug"
        link.open()
        assert link.address == (1, old + 1)  # type: ignore[attr-defined]
        assert not server.kernel_driver_bound(0)
        link.write(b"back", timeout=2)
        assert link.read_exactly(4, timeout=2) == b"back"
    finally:
        link.close()
    assert server.kernel_driver_bound(0)


def test_power_off_removes_the_device_from_the_bus(server: UsbDeviceServer) -> None:
    old = _address(server)
    server.device.set_fault("power_off", True)
    with pytest.raises(LinkOpenError, match="no USB device 04b8:0202 found"):
        open_link(server.url)
    server.device.set_fault("power_off", False)
    with open_link(server.url) as link:
        assert link.address == (1, old + 1)  # type: ignore[attr-defined]
        link.write(b"on", timeout=2)
        assert link.read_exactly(2, timeout=2) == b"on"


def test_quick_power_cycle_still_kills_the_old_handle(server: UsbDeviceServer) -> None:
    with open_link(server.url) as link:
        server.device.set_fault("power_off", True)
        server.device.set_fault("power_off", False)
        with pytest.raises(LinkIOError, match="device gone"):
            link.write(b"x", timeout=0.5)


def test_not_found_names_the_ids_and_the_likely_causes(server: UsbDeviceServer) -> None:
    url = f"usb://04b8:0e15?emulator=127.0.0.1:{server.port}"
    with pytest.raises(LinkOpenError) as info:
        open_link(url)
    assert "no USB device 04b8:0e15 found: unplugged, powered off, or no permission" in str(
        info.value
    )


def test_unreachable_emulator_is_open_error() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(LinkOpenError, match="unreachable"):
        open_link(f"usb://04b8:0202?emulator=127.0.0.1:{port}")


def test_permission_denied_names_the_udev_rule(server: UsbDeviceServer) -> None:
    server.accessible = False
    with pytest.raises(LinkOpenError) as info:
        open_link(server.url)
    message = str(info.value)
    assert "permission denied" in message
    assert 'ATTRS{idVendor}=="04b8"' in message
    assert 'GROUP="lp"' in message


def test_serial_picks_the_device(server: UsbDeviceServer) -> None:
    with open_link(server.url + "&serial=EMU0000001") as link:
        link.write(b"s", timeout=2)
        assert link.read_exactly(1, timeout=2) == b"s"
    with pytest.raises(LinkOpenError, match="with serial 'NOPE'") as info:
        open_link(server.url + "&serial=NOPE")
    assert "'EMU0000001'" in str(info.value)
    assert server.open_handles == 0


def test_unconfigured_device_is_configured_on_open(server: UsbDeviceServer) -> None:
    dev = _find(server)
    dev.detach_kernel_driver(0)
    dev.set_configuration(0)
    usb.util.dispose_resources(dev)
    assert server.state()["configuration"] == 0
    with open_link(server.url) as link:
        assert server.state()["configuration"] == 1
        link.write(b"cfg", timeout=2)
        assert link.read_exactly(3, timeout=2) == b"cfg"


def test_stopped_emulator_drops_open_links(make_server: MakeServer) -> None:
    server = make_server()
    link = open_link(server.url)
    try:
        server.stop()
        with pytest.raises(LinkIOError, match="device gone"):
            link.write(b"x", timeout=0.5)
    finally:
        link.close()
    assert not [t for t in threading.enumerate() if t.name.startswith(("echo-usb", "usb-"))]


# -- pyusb straight on the emulated bus ------------------------------------------------------
def test_pyusb_sees_a_printer_class_device(server: UsbDeviceServer) -> None:
    dev = _find(server)
    try:
        assert (dev.bus, dev.address, dev.speed) == (1, server.address, usb.util.SPEED_FULL)
        assert (dev.manufacturer, dev.product, dev.serial_number) == (
            "EPSON",
            "TM-T88V",
            "EMU0000001",
        )
        intf = dev[0][(0, 0)]
        assert (intf.bInterfaceClass, intf.bInterfaceSubClass, intf.bInterfaceProtocol) == (7, 1, 2)
        endpoints = [(e.bEndpointAddress, e.bmAttributes, e.wMaxPacketSize) for e in intf]
        assert endpoints == [(0x01, 2, 64), (0x82, 2, 64)]
        assert dev.get_active_configuration().bConfigurationValue == 1
    finally:
        usb.util.dispose_resources(dev)


def test_pyusb_errors_carry_libusb_errnos(server: UsbDeviceServer) -> None:
    dev = _find(server)
    try:
        with pytest.raises(usb.core.USBError) as busy:
            usb.util.claim_interface(dev, 0)  # usblp still holds it
        assert busy.value.errno == errno.EBUSY
        assert dev.is_kernel_driver_active(0)
        dev.detach_kernel_driver(0)
        with pytest.raises(usb.core.USBError) as none_bound:
            dev.detach_kernel_driver(0)
        assert none_bound.value.errno == errno.ENOENT
        with pytest.raises(usb.core.USBTimeoutError) as timeout:
            dev.read(0x82, 64, timeout=50)
        assert (timeout.value.errno, timeout.value.backend_error_code) == (errno.ETIMEDOUT, -7)
        assert dev.write(0x01, bytes(100), timeout=1000) == 100
        wait_until(lambda: server.state()["in_fifo"] == 100, what="echo in the IN FIFO")
        with pytest.raises(usb.core.USBError) as overflow:
            dev.read(0x82, 10, timeout=1000)  # not a whole packet: the device babbles
        assert overflow.value.errno == errno.EOVERFLOW
        server.device.set_fault("disconnect", True)
        with pytest.raises(usb.core.USBError) as gone:
            dev.write(0x01, b"x", timeout=1000)
        assert gone.value.errno == errno.ENODEV
    finally:
        usb.util.dispose_resources(dev)


def test_printer_class_requests(server: UsbDeviceServer) -> None:
    dev = _find(server)
    try:
        dev.detach_kernel_driver(0)
        ident = bytes(dev.ctrl_transfer(0xA1, 0, 0, 0, 1024))
        assert int.from_bytes(ident[:2], "big") == len(ident)
        assert b"MFG:EPSON;" in ident and b"CLS:PRINTER;" in ident
        assert bytes(dev.ctrl_transfer(0xA1, 1, 0, 0, 1)) == b"\x18"
        with pytest.raises(usb.core.USBError) as stall:
            dev.ctrl_transfer(0xC0, 0x42, 0, 0, 8)  # a vendor request it does not know
        assert stall.value.errno == errno.EPIPE
    finally:
        usb.util.dispose_resources(dev)


def _exchange(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(raw)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_wire_protocol_is_readable_and_robust(server: UsbDeviceServer) -> None:
    listing = json.loads(_exchange(server.port, b'{"op":"enumerate"}\n'))
    assert listing["devices"][0]["address"] == server.address
    assert listing["devices"][0]["device"].startswith("1201")  # bLength 18, DEVICE
    assert _exchange(server.port, b"not json\n") == b""  # dropped, server unharmed
    refused = json.loads(_exchange(server.port, b'{"op":"open","address":99}\n'))
    assert refused["error"] == "ENODEV"
    bad = b'{"op":"open","address":%d}\n{"op":"claim","interface":"zero"}\n' % _address(server)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(bad)
        wait_until(lambda: sock.recv(65536, socket.MSG_PEEK).count(b"\n") >= 2, what="replies")
        replies = [json.loads(line) for line in sock.recv(65536).splitlines()]
    assert replies[0]["ok"] is True
    assert replies[1]["error"] == "EINVAL"
    with open_link(server.url) as link:  # and it still serves
        link.write(b"fine", timeout=2)
        assert link.read_exactly(4, timeout=2) == b"fine"
