"""Bad URLs are refused before anything is touched, with the grammar repeated."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import tty

import pytest

from posdriver.links import (
    SCHEMES,
    Link,
    LinkOpenError,
    LinkURLError,
    link_for_url,
    open_link,
)


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("/dev/ttyUSB0", "SCHEME://"),
        ("ftp://x", "unknown scheme"),
        ("serial://ttyUSB0/x", "no host part"),
        ("serial:///dev/ttyUSB0?baud=9600", "unknown option 'baud'"),
        ("serial:///dev/ttyUSB0?baudrate=fast", "bad value for 'baudrate'"),
        ("serial:///dev/ttyUSB0?parity=X", "bad value for 'parity'"),
        ("serial:///dev/ttyUSB0?bytesize=9", "bad value for 'bytesize'"),
        ("serial:///dev/ttyUSB0?baudrate=9600&baudrate=19200", "given twice"),
        ("serial:///dev/ttyUSB0?timeout=-1", "bad value for 'timeout'"),
        ("serial://", "no device path"),
        ("tcp://printer", "HOST:PORT"),
        ("tcp://printer:99999", "out of range"),
        ("tcp://printer:abc", "not a number"),
        ("tcp://printer:9100/x", "no path"),
        ("tcp://printer:9100?tiemout=1", "unknown option 'tiemout'"),
        ("tcp://127.0.0.1]20007", "Invalid IPv6 URL"),
        ("tcp://[::1:20007", "Invalid IPv6 URL"),
    ],
)
def test_bad_url_names_the_problem_and_repeats_grammar(url: str, fragment: str) -> None:
    with pytest.raises(LinkURLError) as info:
        link_for_url(url)
    message = str(info.value)
    assert fragment in message
    assert "expected" in message
    assert isinstance(info.value, ValueError)


def test_serial_options_parsed() -> None:
    link = link_for_url(
        "serial:///dev/ttyS0?baudrate=115200&bytesize=7&parity=E&stopbits=2&rtscts=1"
    )
    assert link.options["baudrate"] == 115200
    assert link.options["parity"] == "E"
    assert link.options["rtscts"] is True
    # 1 start + 7 data + 1 parity + 2 stop bits
    assert link.char_time == pytest.approx(11 / 115200)


def test_missing_serial_device_is_open_error(tmp_path) -> None:
    with pytest.raises(LinkOpenError, match="no such device"):
        open_link(f"serial://{tmp_path}/ttyNOPE")


def test_serial_port_is_locked_exclusively() -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    url = f"serial://{os.ttyname(slave)}?rtscts=1"
    try:
        with open_link(url), pytest.raises(LinkOpenError, match="in use"):
            open_link(url)
    finally:
        os.close(master)
        os.close(slave)


def test_tcp_refused_is_open_error() -> None:
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(LinkOpenError, match="cannot connect"):
        open_link(f"tcp://127.0.0.1:{port}?connect_timeout=1")


def test_loop_url_round_trip() -> None:
    with open_link("loop://?baudrate=9600") as link:
        link.write(b"abc")
        assert link.read_exactly(3, timeout=1) == b"abc"


def test_device_that_is_not_a_tty_is_open_error() -> None:
    """pyserial raises termios.error (not an OSError) for a node that is not a tty."""
    with pytest.raises(LinkOpenError, match="not a serial port"):
        open_link("serial:///dev/null")


def test_port_vanishing_during_open_is_open_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """pyserial's open ends with an unwrapped tcflush; a port that vanishes just then
    raises termios.error (which is not an OSError) with EIO."""
    import errno
    import termios

    def vanished(fd: int, queue: int) -> None:
        raise termios.error(errno.EIO, "Input/output error")

    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        monkeypatch.setattr(termios, "tcflush", vanished)
        with pytest.raises(LinkOpenError, match="went away while it was being set up"):
            open_link(f"serial://{os.ttyname(slave)}")
    finally:
        os.close(master)
        os.close(slave)


# -- the scheme table -----------------------------------------------------------------------
@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_scheme_names_a_link_class_that_parses_its_own_urls(scheme: str) -> None:
    from posdriver.links import _SCHEME_CLASSES

    module, _, name = _SCHEME_CLASSES[scheme].partition(":")
    link_class = getattr(importlib.import_module(module), name)
    assert issubclass(link_class, Link)
    assert link_class.from_url.__func__ is not Link.from_url.__func__


def test_a_scheme_module_is_imported_only_for_a_url_of_its_scheme() -> None:
    probe = (
        "import sys\n"
        "from posdriver.links import link_for_url\n"
        "link_for_url('tcp://127.0.0.1:9100')\n"
        "print(sorted(m for m in sys.modules if m.startswith('posdriver.links.')))\n"
        "print('usb' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    loaded, usb_loaded = done.stdout.splitlines()
    assert "posdriver.links.tcp" in loaded
    assert "posdriver.links.usb" not in loaded and "posdriver.links.serialport" not in loaded
    assert usb_loaded == "False"  # no pyusb for a printer on TCP
