"""Scenario files: parsing errors name file and line; runs switch faults on time."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import posdriver_emulator
from posdriver_emulator.device import WIRE_FAULTS, EchoDevice
from posdriver_emulator.printer.model import PRINTER_FAULTS
from posdriver_emulator.scenario import Scenario, ScenarioError, ScenarioRunner
from posdriver_emulator.terminal import DEFAULT_CARDS, TERMINAL_FAULTS
from tests.support.timing import wait_until


def test_parse_full_grammar() -> None:
    scenario = Scenario.parse(
        "# comment\nTIMER 0.5\nbusy on\ngarbage: off  # trailing\ndisconnect = 1\nLOOP\n",
        WIRE_FAULTS,
    )
    assert scenario.loop
    assert [(s.wait, s.fault, s.active) for s in scenario.steps] == [
        (0.5, None, False),
        (0.0, "busy", True),
        (0.0, "garbage", False),
        (0.0, "disconnect", True),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("TIMER soon\n", "s.seq:1: TIMER needs seconds"),
        ("TIMER -1\n", "s.seq:1: TIMER needs seconds"),
        ("\n\npaper_ot on\n", "s.seq:3: unknown fault 'paper_ot'; known faults: busy"),
        ("busy maybe\n", "s.seq:1: cannot read 'busy maybe'"),
        ("TIMER 1\nLOOP\nbusy on\n", "s.seq:3: nothing may follow LOOP"),
        ("busy on\nLOOP\n", "needs at least one TIMER"),
    ],
)
def test_errors_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        Scenario.parse(text, WIRE_FAULTS, source="s.seq")
    assert message in str(info.value)


def test_missing_file(tmp_path) -> None:
    with pytest.raises(ScenarioError, match="cannot read scenario"):
        Scenario.load(tmp_path / "nope.seq", WIRE_FAULTS)


def test_shipped_scenarios_parse() -> None:

    folder = Path(posdriver_emulator.__file__).parent / "scenarios"
    files = sorted(folder.glob("*.seq"))
    assert files
    for path in files:
        if path.name.startswith("terminal-"):
            Scenario.load(path, TERMINAL_FAULTS, cards=DEFAULT_CARDS, option_faults=["slow_host"])
        else:
            Scenario.load(path, PRINTER_FAULTS)


def test_runner_switches_faults_in_order_and_on_time() -> None:
    device = EchoDevice()
    seen: list[tuple[str, bool, float]] = []
    started = time.monotonic()
    device.on_fault_change(lambda name, on: seen.append((name, on, time.monotonic() - started)))
    scenario = Scenario.parse("TIMER 0.2\nbusy on\nTIMER 0.2\nbusy off\n", WIRE_FAULTS)
    runner = ScenarioRunner(scenario, device).start()
    try:
        assert runner.done.wait(5)
    finally:
        runner.stop()
    assert [(n, on) for n, on, _ in seen] == [("busy", True), ("busy", False)]
    assert seen[0][2] >= 0.2 and seen[1][2] >= 0.4


def test_loop_repeats_until_stopped() -> None:
    device = EchoDevice()
    count = []
    device.on_fault_change(lambda name, on: count.append(on))
    scenario = Scenario.parse(
        "TIMER 0.01\ngarbage on\nTIMER 0.01\ngarbage off\nLOOP\n", WIRE_FAULTS
    )
    runner = ScenarioRunner(scenario, device).start()
    try:
        wait_until(lambda: len(count) >= 6, what="three loops")
    finally:
        runner.stop()
    assert runner.done.is_set()
