"""One contract, every scheme: what a driver may rely on from any link.

Each scheme runs the same tests against an echo device exposed on a real OS interface:
a pseudo-terminal for ``serial://``, a socket for ``tcp://``, and an emulated USB bus
behind pyusb's backend interface for ``usb://``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from posdriver.links import (
    LinkIOError,
    LinkOpenError,
    LinkTimeout,
    link_for_url,
    open_link,
)
from posdriver_emulator.controller import Controller
from posdriver_emulator.device import EchoDevice
from tests.support.timing import wait_until

SCHEMES = ["pty", "tcp", "usb"]


@pytest.fixture(params=SCHEMES)
def echo(request: pytest.FixtureRequest, tmp_path) -> Iterator[Controller]:
    controller = Controller(
        EchoDevice(buffer_size=64 * 1024), request.param, control=False, link_dir=tmp_path
    )
    with controller:
        yield controller


def test_configure_does_no_io(echo: Controller) -> None:
    link = link_for_url(echo.url)
    assert not link.is_open
    assert echo.device.counters["bytes_from_host"] == 0


def test_round_trip(echo: Controller) -> None:
    with open_link(echo.url) as link:
        link.write(b"\x10\x04\x01hello", timeout=2)
        assert link.read_exactly(8, timeout=2) == b"\x10\x04\x01hello"


def test_large_write_arrives_whole_and_in_order(echo: Controller) -> None:
    payload = bytes(range(256)) * 64
    with open_link(echo.url) as link:
        link.write(payload, timeout=5)
        assert link.read_exactly(len(payload), timeout=5) == payload


def test_read_on_silence_returns_empty_by_deadline(echo: Controller) -> None:
    with open_link(echo.url) as link:
        started = time.monotonic()
        assert link.read(16, timeout=0.2) == b""
        elapsed = time.monotonic() - started
        assert 0.15 <= elapsed < 1.5


def test_read_exactly_times_out_with_progress(echo: Controller) -> None:
    with open_link(echo.url) as link:
        link.write(b"ab", timeout=2)
        with pytest.raises(LinkTimeout) as info:
            link.read_exactly(4, timeout=0.3)
        assert info.value.done == 2
        assert isinstance(info.value, TimeoutError)


def test_flush_input_discards_stale_bytes(echo: Controller) -> None:
    with open_link(echo.url) as link:
        link.write(b"stale", timeout=2)
        wait_until(lambda: echo.device.counters["bytes_to_host"] >= 5, what="echo sent")
        time.sleep(0.05)  # let the bytes cross the OS buffers; flush is what's under test
        link.flush_input()
        assert link.read(16, timeout=0.1) == b""


def test_busy_device_makes_writes_time_out_with_progress(echo: Controller) -> None:
    echo.set_fault("busy", True)
    with open_link(echo.url) as link:
        with pytest.raises(LinkTimeout) as info:
            link.write(b"x" * (4 << 20), timeout=0.5)
        assert 0 <= info.value.done < 4 << 20


def test_disconnect_is_an_io_error_and_reopen_recovers(echo: Controller) -> None:
    link = open_link(echo.url)
    try:
        link.write(b"ok", timeout=2)
        assert link.read_exactly(2, timeout=2) == b"ok"
        echo.set_fault("disconnect", True)
        with pytest.raises(LinkIOError):
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                link.write(b"x", timeout=0.2)
                link.read(1, timeout=0.05)
        link.close()
        echo.set_fault("disconnect", False)

        def reopened() -> bool:
            try:
                link.open()
            except LinkOpenError:
                return False
            return True

        wait_until(reopened, what="device to come back")
        link.write(b"back", timeout=2)
        assert link.read_exactly(4, timeout=2) == b"back"
    finally:
        link.close()


def test_open_missing_device_is_open_error(echo: Controller) -> None:
    echo.set_fault("disconnect", True)
    wait_until(lambda: _fails_to_open(echo.url), what="endpoint to disappear")


def _fails_to_open(url: str) -> bool:
    try:
        open_link(url).close()
    except LinkOpenError:
        return True
    return False


def test_close_twice_and_io_after_close(echo: Controller) -> None:
    link = open_link(echo.url)
    link.close()
    link.close()
    with pytest.raises(LinkIOError):
        link.write(b"x")
