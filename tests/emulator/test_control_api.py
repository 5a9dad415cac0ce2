"""The emulator's HTTP control API and its command line."""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from posdriver.links import open_link
from posdriver.printer.driver import Printer
from posdriver.printer.receipt import sample_receipt
from posdriver_emulator.controller import Controller, LinkSpecError, parse_link_spec
from posdriver_emulator.device import EchoDevice
from posdriver_emulator.printer import PrinterConfig
from tests.support.emulators import run_emulator
from tests.support.timing import REPLY_TOLERANCE


@pytest.fixture
def echo(tmp_path) -> Iterator[Controller]:
    with Controller(EchoDevice(), "tcp", link_dir=tmp_path) as controller:
        yield controller


def call(url: str, body: object | None = None, raw: bytes | None = None) -> tuple[int, object]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_state_and_faults(echo: Controller) -> None:
    status, state = call(f"{echo.control_url}/state")
    assert status == 200
    assert isinstance(state, dict)
    assert state["device"] == "echo" and state["url"] == echo.url and state["faults"] == []
    status, body = call(f"{echo.control_url}/faults", {"fault": "busy", "active": True})
    assert status == 200 and body == {"active": ["busy"]}
    assert not echo.device.reading
    status, body = call(f"{echo.control_url}/faults")
    assert isinstance(body, dict) and body["active"] == ["busy"]
    assert "disconnect" in body["supported"]


@pytest.mark.parametrize(
    ("raw", "status", "message"),
    [
        (b"{not json", 400, "not JSON"),
        (b"[1]", 400, '"fault"'),
        (b'{"fault": "paper_ot", "active": true}', 400, "unknown fault 'paper_ot'"),
        (b'{"fault": "busy", "active": "yes"}', 400, "'active' must be true or false"),
    ],
)
def test_bad_requests_are_4xx_with_a_reason(
    echo: Controller, raw: bytes, status: int, message: str
) -> None:
    code, body = call(f"{echo.control_url}/faults", raw=raw)
    assert code == status
    assert isinstance(body, dict) and message in body["error"]
    assert echo.device.active_faults == set()


def test_unknown_path_is_404(echo: Controller) -> None:
    code, body = call(f"{echo.control_url}/nope")
    assert code == 404 and isinstance(body, dict) and "no such resource" in body["error"]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("pty", ("pty", "127.0.0.1", 0)),
        ("usb", ("usb", "127.0.0.1", 0)),
        ("tcp", ("tcp", "127.0.0.1", 0)),
        ("tcp:9100", ("tcp", "127.0.0.1", 9100)),
        ("tcp:127.0.0.2:9100", ("tcp", "127.0.0.2", 9100)),
    ],
)
def test_link_specs(spec: str, expected: tuple[str, str, int]) -> None:
    assert parse_link_spec(spec) == expected


@pytest.mark.parametrize("spec", ["serial", "tcp:", "tcp:host", "tcp:1:2:3", "tcp:99999"])
def test_bad_link_specs(spec: str) -> None:
    with pytest.raises(LinkSpecError, match="bad link"):
        parse_link_spec(spec)


@pytest.mark.parametrize("link", ["pty", "tcp", "usb"])
def test_cli_prints_json_line_and_stops_on_sigterm(link: str) -> None:
    proc = run_emulator("printer", "--link", link)
    try:
        assert proc.stdout is not None
        line = json.loads(proc.stdout.readline())
        assert line["device"] == "printer"
        assert line["url"].split(":", 1)[0] == {"pty": "serial", "tcp": "tcp", "usb": "usb"}[link]
        status, state = call(line["control"] + "/state")
        assert status == 200 and isinstance(state, dict) and state["online"] is True
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    assert proc.returncode == 0


def test_cli_rejects_bad_scenario(tmp_path) -> None:
    bad = tmp_path / "bad.seq"
    bad.write_text("TIMER 1\npaper_ot on\n")
    proc = run_emulator("printer", "--scenario", str(bad))
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "bad.seq:2: unknown fault 'paper_ot'" in err


def test_receipts_text_and_png_over_http(tmp_path) -> None:

    with Controller.printer(link="pty", link_dir=tmp_path) as emu:
        code, body = call(f"{emu.control_url}/receipts")
        assert code == 200 and body == []
        with open_link(emu.url) as link:
            Printer(link, reply_tolerance=REPLY_TOLERANCE).print_receipt(sample_receipt())
        assert emu.device.wait_for_receipts(1, timeout=5)  # type: ignore[attr-defined]
        code, body = call(f"{emu.control_url}/receipts")
        assert code == 200 and isinstance(body, list) and len(body) == 1
        assert body[0]["index"] == 0 and "合计" in body[0]["text"] and not body[0]["interrupted"]
        with urllib.request.urlopen(f"{emu.control_url}/receipts/0.png", timeout=5) as reply:
            assert reply.headers["Content-Type"] == "image/png"
            png = reply.read()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
        code, body = call(f"{emu.control_url}/receipts/7.png")
        assert code == 404 and isinstance(body, dict) and "no receipt 7" in body["error"]
        code, state = call(f"{emu.control_url}/state")
        assert (
            isinstance(state, dict) and state["receipts"] == 1 and state["paper"]["state"] == "ok"
        )


def test_a_receipt_let_go_is_a_404_that_says_which_are_kept(tmp_path) -> None:
    config = PrinterConfig(receipts_kept=2)
    with Controller.printer(link="pty", link_dir=tmp_path, config=config) as emu:
        for number in range(5):
            emu.device.accept(f"\x1b@receipt {number}\n\x1dV\x00".encode())  # type: ignore[attr-defined]
        code, body = call(f"{emu.control_url}/receipts")
        assert code == 200 and [r["index"] for r in body] == [3, 4]  # type: ignore[union-attr]
        code, body = call(f"{emu.control_url}/receipts/1.png")
        assert code == 404 and isinstance(body, dict)
        assert body["error"] == (
            "receipt 1 is no longer kept: the printer keeps its newest 2, 3 to 4 (receipts_kept)"
        )
        code, body = call(f"{emu.control_url}/receipts/5.png")
        assert code == 404 and body == {"error": "no receipt 5; there are 5 (numbered from 0)"}
        code, state = call(f"{emu.control_url}/state")
        assert isinstance(state, dict) and (state["receipts"], state["receipts_kept"]) == (5, 2)


def test_cli_refuses_keeping_no_receipts() -> None:
    proc = run_emulator("printer", "--keep-receipts", "0")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "--keep-receipts: expected at least 1, got '0'" in err
