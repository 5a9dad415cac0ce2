"""The health-check registry: the workers and the direct ``posdriver check`` run every
check registered for a device's kind that the device supports, so a new check is one
declaration and one table line; a terminal whose protocol cannot dial its acquirer has
no connectivity check anywhere, not even in its schedule. Real emulated devices."""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from posdriver.cashier.terminals import make_terminal
from posdriver.config import PrinterConfig, ServiceConfig, TerminalConfig
from posdriver.health import registry
from posdriver.health.check import HealthCheck, Interval, Probe, Reading, make_result
from posdriver.printer.driver import Printer
from posdriver.service.cli import _run_checks_here
from posdriver.service.workers import PrinterWorker, TerminalWorker
from posdriver.terminal import registry as protocols
from posdriver.terminal.protocol import Capability
from posdriver_emulator.controller import Controller
from tests.support import model_terminal as model
from tests.support.timing import wait_until


def drawer(printer: Printer, probe: Probe) -> Reading:
    """A check a newcomer might add: is the cash drawer's switch readable."""
    started = time.monotonic()
    status = printer.query_status()
    state = "ok" if status.drawer_pin_high is not None else "unknown"
    text = "drawer switch read" if state == "ok" else "drawer switch unknown"
    return Reading([make_result(probe.device, "drawer", state, text, started, probe.clock, 1)])


DRAWER = HealthCheck(name="drawer", kind="printer", gives=("drawer",), run=drawer)


@pytest.fixture
def with_drawer_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "REGISTRY", (*registry.REGISTRY, DRAWER))


@pytest.fixture
def printer(tmp_path: Path) -> Iterator[Controller]:
    with Controller.printer(link="pty", link_dir=tmp_path, seed=7) as controller:
        yield controller


def test_the_table_gives_each_kind_its_checks() -> None:
    printer_checks = registry.checks_for("printer")
    assert [c.name for c in printer_checks] == ["status"]
    assert registry.expected_checks("printer", printer_checks) == (
        "link",
        "paper",
        "cover",
        "errors",
    )
    dialling = registry.checks_for("terminal", frozenset({Capability.DIAGNOSIS}))
    assert [(c.name, c.interval) for c in dialling] == [
        ("status", Interval.POLL),
        ("connectivity", Interval.CONNECTIVITY),
    ]
    assert registry.expected_checks("terminal", dialling) == (
        "link",
        "connectivity",
        "terminal_state",
    )
    assert [c.name for c in registry.checks_for("terminal")] == ["status"]


def test_a_registered_check_runs_in_the_worker_and_in_posdriver_check(
    with_drawer_check: None, printer: Controller, tmp_path: Path
) -> None:
    worker = PrinterWorker(PrinterConfig(name="receipt", url=printer.url), ServiceConfig())
    assert worker.view().expected_checks[-1] == "drawer"
    worker.start()
    try:
        wait_until(lambda: "drawer" in worker.view().checks, 10, "the drawer check")
        assert worker.view().checks["drawer"].text == "drawer switch read"
        assert worker.view().checks["paper"].status == "ok"
    finally:
        worker.stop(timeout=10)

    config = tmp_path / "posdriver.toml"
    config.write_text(
        f'state_dir = "{tmp_path / "state"}"\n'
        f'[devices.receipt]\nkind = "printer"\nurl = "{printer.url}"\n'
    )
    report = _run_checks_here(argparse.Namespace(config=str(config), device=None))
    [device] = report["devices"]
    assert list(device["checks"]) == ["link", "paper", "cover", "errors", "drawer"]
    assert device["checks"]["drawer"]["status"] == "ok"


@pytest.fixture
def models() -> Iterator[None]:
    model.install()
    yield
    model.uninstall()


def test_a_terminal_that_cannot_dial_has_no_connectivity_to_wait_for(models: None) -> None:
    """Its schedule holds only what it can run: once the first diagnosis would have been
    due, the worker still waits for its next status poll instead of turning at once."""
    assert not protocols.get("model-minimal").has(Capability.DIAGNOSIS)
    device = model.new_device(repeat_receipt=False)
    cfg = TerminalConfig(name="desk", url=device.url, protocol="model-minimal")
    worker = TerminalWorker(cfg, ServiceConfig(terminal_poll_interval=60), make_terminal)
    worker.FIRST_DIAGNOSIS = 0.0
    worker.start()
    try:
        wait_until(lambda: worker.view().lifecycle == "ready", 10, "the terminal to be ready")
        assert set(worker.schedule.intervals) == {"status"}
        assert worker.idle_wait() > 0
        assert set(worker.view().checks) == {"link", "terminal_state"}
    finally:
        worker.stop(timeout=10)
