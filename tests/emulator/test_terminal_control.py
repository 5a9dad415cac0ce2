"""The terminal's control API, scenarios, Controller.terminal and the command line."""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import posdriver_emulator
from posdriver.terminal.zvt.messages import COMPLETION
from posdriver_emulator.controller import Controller, LinkSpecError
from posdriver_emulator.scenario import Scenario, ScenarioError
from posdriver_emulator.terminal import DEFAULT_CARDS, TERMINAL_FAULTS
from tests.support.emulators import run_emulator
from tests.support.raw_ecr import FAST, RawEcr, codes, open_ecr, running, sale
from tests.support.timing import wait_until


def call(url: str, body: object | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture
def term(tmp_path: Any) -> Iterator[tuple[Any, RawEcr]]:
    with running("tcp", tmp_path) as (emu, ecr):
        ecr.register(config=0x06)
        assert emu.device.wait_idle(2)
        yield emu, ecr


# -- control API -----------------------------------------------------------------------
def test_state(term: tuple[Any, RawEcr]) -> None:
    emu, _ = term
    status, state = call(f"{emu.control_url}/state")
    assert status == 200
    assert state["device"] == "terminal" and state["url"] == emu.url
    assert state["framing"] == "tcp" and state["registered"] and state["phase"] == "idle"
    assert state["card"]["pan"] == "476173EEEEEE0119" and state["faults"] == []
    assert state["limits"]["max_refund"] == 50_000
    status, faults = call(f"{emu.control_url}/faults")
    assert faults["supported"] == list(TERMINAL_FAULTS)


def test_ledger_over_http(term: tuple[Any, RawEcr]) -> None:
    emu, ecr = term
    status, ledger = call(f"{emu.control_url}/ledger")
    assert (status, ledger) == (200, [])
    ecr.run(sale(999))
    status, ledger = call(f"{emu.control_url}/ledger")
    assert ledger == emu.device.ledger() and ledger[0]["amount"] == 999
    assert ledger[0]["state"] == "charged" and "_status" not in ledger[0]


def test_choose_and_define_cards(term: tuple[Any, RawEcr]) -> None:
    emu, ecr = term
    status, body = call(f"{emu.control_url}/card", {"card": "declined"})
    assert status == 200 and body["card"] == "declined"
    assert codes(ecr.run(sale(100)))[-1] == (0x06, 0x1E)
    status, body = call(f"{emu.control_url}/card", {"card": "nope"})
    assert status == 400 and "unknown card 'nope'" in body["error"] and "visa" in body["error"]
    amex = {"card": "amex", "pan": "378282246310005", "brand": "Amex", "card_type": 8}
    status, body = call(f"{emu.control_url}/card", amex)
    assert status == 200 and body["cards"]["amex"]["pan"] == "378282EEEEE0005"
    assert codes(ecr.run(sale(100)))[-1] == COMPLETION
    assert emu.device.ledger()[-1]["card"] == "378282EEEEE0005"
    for bad, message in (
        ({"card": "x", "pan": "12"}, "PAN is 12 to 19 digits"),
        ({"card": "x", "result": "05"}, "must be int"),
        ({"card": "x", "colour": "red"}, "unknown card field(s) colour"),
        ({"name": "visa"}, 'expected {"card"'),
    ):
        status, body = call(f"{emu.control_url}/card", bad)
        assert status == 400 and message in body["error"], body
    status, body = call(f"{emu.control_url}/card")
    assert status == 200 and body["card"] == "amex"


def test_faults_over_http(term: tuple[Any, RawEcr]) -> None:
    emu, ecr = term
    url = f"{emu.control_url}/faults"
    status, body = call(url, {"fault": "slow_host", "active": True, "seconds": 0.3})
    assert status == 200 and body["active"] == ["slow_host"]
    assert emu.device.state()["slow_host_seconds"] == 0.3
    status, body = call(url, {"fault": "busy", "active": True, "seconds": 2})
    assert status == 400 and "takes no value" in body["error"]
    status, body = call(url, {"fault": "slow_host", "active": True, "seconds": "long"})
    assert status == 400 and "'seconds' must be a number" in body["error"]
    status, body = call(url, {"fault": "paper_out", "active": True})
    assert status == 400 and "drop_after_status" in body["error"]
    status, body = call(url, {"fault": "busy", "active": True})
    assert status == 200 and body["active"] == ["busy", "slow_host"]
    assert ecr.run(sale(100))[0].code == (0x84, 0xA0)


# -- scenarios ---------------------------------------------------------------------------
def test_scenario_steps_choose_cards_and_time_the_host() -> None:
    text = "card declined\nslow_host on 0.25\nTIMER 0.05\ncard mastercard\n"
    scenario = Scenario.parse(
        text, TERMINAL_FAULTS, cards=DEFAULT_CARDS, option_faults=["slow_host"]
    )
    with Controller.terminal("tcp", scenario=scenario, **FAST) as emu:
        device: Any = emu.device
        wait_until(lambda: device.card_name == "mastercard", what="the scenario's last card")
        assert "slow_host" in device.active_faults and device.slow_host_delay == 0.25


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("card amex\n", "s.seq:1: unknown card 'amex'; known cards: declined"),
        ("busy on 3\n", "s.seq:1: busy takes no value"),
        ("slow_host off 3\n", "s.seq:1: slow_host off takes no value"),
        ("slow_host on forever\n", "s.seq:1: slow_host needs seconds"),
    ],
)
def test_scenario_errors(text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        Scenario.parse(
            text, TERMINAL_FAULTS, "s.seq", cards=DEFAULT_CARDS, option_faults=["slow_host"]
        )
    assert message in str(info.value)


def test_card_steps_need_a_device_with_cards() -> None:
    with pytest.raises(ScenarioError, match="this device has no cards"):
        Scenario.parse("card visa\n", ["busy"], "p.seq")


def test_shipped_terminal_scenarios_run(tmp_path: Any) -> None:
    folder = Path(posdriver_emulator.__file__).parent / "scenarios"
    files = sorted(folder.glob("terminal-*.seq"))
    assert len(files) >= 3
    for path in files:
        with Controller.terminal("tcp", scenario=path, **FAST) as emu:
            assert emu.scenario is not None and emu.scenario.steps


# -- Controller.terminal --------------------------------------------------------------------
def test_controller_urls_and_refusals(tmp_path: Any) -> None:
    with Controller.terminal("pty", link_dir=tmp_path) as emu:
        assert emu.url.startswith("serial://") and emu.url.endswith("?baudrate=9600&stopbits=2")
        link, ecr = open_ecr(emu.url, "serial")  # pyserial takes 8N2 on a pty
        with link:
            assert codes(ecr.status_enquiry())[-1] == COMPLETION
    with pytest.raises(LinkSpecError, match="pty or tcp"):
        Controller.terminal("usb")
    with pytest.raises(TypeError, match="unknown terminal setting"):
        Controller.terminal("tcp", t9=1)
    with pytest.raises(ValueError, match="six digits"):
        Controller.terminal("tcp", password="12345")


# -- the command line -----------------------------------------------------------------------
@pytest.mark.parametrize("link", ["pty", "tcp"])
def test_cli_terminal_json_line_and_sigterm(link: str) -> None:
    proc = run_emulator("terminal", "--link", link, "--password", "000000")
    try:
        assert proc.stdout is not None
        line = json.loads(proc.stdout.readline())
        assert set(line) == {"device", "url", "control"} and line["device"] == "terminal"
        framing = "serial" if link == "pty" else "tcp"
        link_obj, ecr = open_ecr(line["url"], framing)
        with link_obj:
            assert codes(ecr.register(password="000000"))[-1] == COMPLETION
        status, state = call(line["control"] + "/state")
        assert status == 200 and state["registered"] and state["framing"] == framing
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    assert proc.returncode == 0


def test_cli_all_runs_a_printer_and_a_terminal() -> None:
    proc = run_emulator("all", "--terminal-link", "tcp")
    try:
        assert proc.stdout is not None
        lines = [json.loads(proc.stdout.readline()) for _ in range(2)]
        assert [line["device"] for line in lines] == ["printer", "terminal"]
        assert lines[1]["url"].startswith("tcp://127.0.0.1:")
        for line in lines:
            assert call(line["control"] + "/state")[0] == 200
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
    assert proc.returncode == 0


def test_cli_terminal_refuses_bad_input(tmp_path: Any) -> None:
    bad = tmp_path / "bad.seq"
    bad.write_text("card platinum\n")
    proc = run_emulator("terminal", "--scenario", str(bad))
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "bad.seq:1: unknown card 'platinum'" in err
    proc = run_emulator("terminal", "--link", "usb")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "pty or tcp" in err
