"""Each injected fault, end to end: ``posdriver serve --emulate`` as a real process with an
emulated printer and terminal on pseudo-terminals, the fault switched on through the
emulator's control API, and seen in all three places ops look (``posdriver check``,
/metrics, the incident record), then seen to clear when the fault clears.

Paper out and the link drop after charging are in test_daemon.py; here: cover open,
terminal off and acquirer down. The daemon's intervals are shortened through its config
so a fault shows within seconds; every wait is a condition with a deadline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.emulators import Emulators
from tests.support.served import Served, serve_process
from tests.support.timing import wait_until

# Short intervals: printer polled five times a second, terminal asked every second, its
# acquirer every 10 s (the config's minimum), one attempt per check so a dead device
# shows after one try, and statuses stale soon (the floor is two polls plus 5 s).
SERVICE = """\
[service]
poll_interval = 0.2
terminal_poll_interval = 1.0
connectivity_interval = 10.0
connectivity_retry_interval = 10.0
freshness = 1.0
check_attempts = 1
reconnect_max = 1.0
"""


@dataclass
class Daemon(Served):
    """A running ``posdriver serve --emulate`` and the ways to look at it, beyond those
    every end-to-end test has (:class:`Served`: the API, /metrics, the emulators' faults)."""

    client_config: Path  # [service] api pointing at this daemon, for `posdriver check`

    def settled(self, op_id: int, wait: float = 30) -> dict[str, Any]:
        """The operation once it is final (or needs a person), waiting up to ``wait``."""
        status, body = self.get(f"/v1/operations/{op_id}?wait={wait}", timeout=wait + 10)
        assert status == 200, body
        return dict(body["operation"])

    # -- /metrics ------------------------------------------------------------------------
    def check_status(self, device: str, check: str) -> str | None:
        """The status /metrics gives ``check`` of ``device`` (the state set's 1)."""
        head = f'posdriver_check_status{{device="{device}",check="{check}",status="'
        for line in self.scrape().splitlines():
            if line.startswith(head) and float(line.rsplit(" ", 1)[1]) == 1.0:
                return line[len(head) :].split('"', 1)[0]
        return None

    # -- posdriver check -----------------------------------------------------------------
    def check(self, device: str | None = None) -> tuple[int, dict[str, Any]]:
        """``posdriver check --config F --json`` as ops run it: (exit code, its JSON)."""
        args = [sys.executable, "-m", "posdriver", "check"]
        args += [] if device is None else [device]
        args += ["--config", str(self.client_config), "--json"]
        done = subprocess.run(
            args, capture_output=True, text=True, env=_env(), timeout=30, check=False
        )
        return done.returncode, json.loads(done.stdout)

    # -- incidents -----------------------------------------------------------------------
    def incidents(self) -> list[dict[str, Any]]:
        """The fault record, as the front desk's software reads it (the API)."""
        status, body = self.get("/v1/incidents")
        assert status == 200, body
        return list(body)

    def incident(self, device: str, category: str, fault_starts: str) -> dict[str, Any] | None:
        """The first incident of ``device`` in ``category`` whose fault starts so."""
        for incident in self.incidents():
            if (
                incident["device"] == device
                and incident["category"] == category
                and incident["fault"].startswith(fault_starts)
            ):
                return incident
        return None

    # -- the emulators -------------------------------------------------------------------
    def ledger(self) -> list[dict[str, Any]]:
        """What the emulated terminal charged (its control API)."""
        with urllib.request.urlopen(self.terminal_control + "/ledger", timeout=5) as answer:
            assert answer.status == 200
            return list(json.loads(answer.read()))


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.getcwd())


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    """The daemon with emulated devices and the short intervals above; its log goes to
    ``daemon.log`` in the test's tmp_path (for a failure's post-mortem)."""
    config = tmp_path / "posdriver.toml"
    config.write_text(SERVICE)
    with (
        (tmp_path / "daemon.log").open("w") as log,
        serve_process(config, tmp_path / "state", emulate=True, log=log) as (process, by),
    ):
        yield _started(process, by, tmp_path)


def _started(
    process: subprocess.Popen[str], by: dict[str, dict[str, Any]], tmp_path: Path
) -> Daemon:
    """The daemon as its start lines (printer, terminal, API, metrics) describe it, with
    a client config pointing `posdriver check` at it."""
    api = by["api"]["url"]
    client = tmp_path / "client.toml"
    client.write_text(f'[service]\napi = "{api.removeprefix("http://")}"\n')
    return Daemon(
        process,
        api,
        by["metrics"]["url"],
        by["printer"]["control"],
        by["terminal"]["control"],
        tmp_path / "state",
        client,
    )


def failing(report: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(device, check) -> status for every check of a ``posdriver check --json`` report
    that is not ok."""
    return {
        (device["name"], name): check["status"]
        for device in report["devices"]
        for name, check in device["checks"].items()
        if check["status"] != "ok"
    }


def test_cover_open_shows_in_check_metrics_and_incidents_and_clears(daemon: Daemon) -> None:
    """The printer pushes the open cover (Automatic Status Back): the cover check alone
    is critical, and closing it clears every view."""
    is_open = 'posdriver_printer_cover_state{device="receipt",state="open"}'
    closed = 'posdriver_printer_cover_state{device="receipt",state="closed"}'
    wait_until(lambda: daemon.sample(closed) == 1.0, 10, "the cover closed first")
    assert daemon.sample(is_open) == 0.0

    daemon.fault("printer", "cover_open")
    wait_until(lambda: daemon.sample(is_open) == 1.0, 5, "cover open in /metrics")
    assert daemon.sample(closed) == 0.0
    assert daemon.check_status("receipt", "cover") == "critical"
    assert daemon.sample('posdriver_check_success{device="receipt",check="cover"}') == 0.0
    # an open cover explains the printer being offline: no other check fails for it
    assert daemon.check_status("receipt", "errors") == "ok"
    code, report = daemon.check()
    assert (code, report["status"], report["source"]) == (2, "critical", "daemon"), report
    assert failing(report) == {("receipt", "cover"): "critical"}
    printer = next(d for d in report["devices"] if d["name"] == "receipt")
    assert printer["cover"] == "open"
    assert "cover open" in printer["checks"]["cover"]["text"]
    wait_until(
        lambda: daemon.incident("receipt", "device_fault", "cover check: cover open"),
        5,
        "a cover-open incident",
    )

    daemon.fault("printer", "cover_open", False)
    wait_until(lambda: daemon.sample(closed) == 1.0, 5, "cover closed again in /metrics")
    assert daemon.sample(is_open) == 0.0
    assert daemon.check_status("receipt", "cover") == "ok"
    code, report = daemon.check()
    assert (code, report["status"]) == (0, "ok"), report
    wait_until(
        lambda: daemon.incident("receipt", "recovered", "cover check was critical"),
        5,
        "a recovered incident for the cover",
    )


def test_acquirer_down_opens_the_breaker_fails_sales_fast_and_clears(daemon: Daemon) -> None:
    """The terminal answers but cannot reach its acquirer: connectivity critical, the
    breaker opens and payments are refused before they reach the terminal, nothing is
    charged; once the acquirer is back the breaker closes and a sale is approved."""
    unreachable = 'posdriver_terminal_acquirer_state{device="desk",state="unreachable"}'
    reachable = 'posdriver_terminal_acquirer_state{device="desk",state="reachable"}'
    circuit_open = 'posdriver_terminal_circuit_state{device="desk",state="open"}'
    circuit_closed = 'posdriver_terminal_circuit_state{device="desk",state="closed"}'
    wait_until(lambda: daemon.sample(circuit_closed) == 1.0, 10, "the breaker closed first")
    assert daemon.sample(unreachable) == 0.0

    daemon.fault("terminal", "host_unreachable")
    # the first sale reaches the terminal, which cannot reach its acquirer: nothing is
    # charged, and the daemon asks the terminal's diagnosis at once instead of waiting
    # for the next interval, which opens the breaker
    first = daemon.settled(daemon.sale("10.00"))
    assert first["state"] == "aborted" and first["result_code"] == 0xA3, first
    wait_until(lambda: daemon.sample(circuit_open) == 1.0, 10, "the breaker open in /metrics")
    assert daemon.sample(unreachable) == 1.0 and daemon.sample(circuit_closed) == 0.0
    assert daemon.check_status("desk", "connectivity") == "critical"

    # with the breaker open a sale is not sent at all: it fails at once, saying why
    started = time.monotonic()
    second_id = daemon.sale("11.00")
    second = daemon.settled(second_id)
    assert time.monotonic() - started < 3.0
    assert second["state"] == "aborted", second
    assert second["result_code"] is None  # the terminal never saw it
    assert "desk cannot reach its acquirer" in second["reason"], second
    assert daemon.ledger() == []  # nothing charged on the terminal

    code, report = daemon.check()
    assert (code, report["status"]) == (2, "critical"), report
    assert failing(report) == {("desk", "connectivity"): "critical"}
    terminal = next(d for d in report["devices"] if d["name"] == "desk")
    assert (terminal["acquirer"], terminal["circuit"]) == ("unreachable", "open")
    assert "acquirer unreachable" in terminal["checks"]["connectivity"]["text"]
    assert daemon.incident("desk", "device_fault", "connectivity check: acquirer unreachable")
    refused = daemon.incident("desk", "device_fault", "terminal not reached: terminal desk")
    assert refused is not None and refused["operation_id"] == second_id
    assert "acquirer" in refused["fault"]

    daemon.fault("terminal", "host_unreachable", False)
    # a failed diagnosis is repeated after connectivity_retry_interval (10 s here)
    wait_until(lambda: daemon.sample(circuit_closed) == 1.0, 20, "the breaker closed again")
    assert daemon.sample(reachable) == 1.0 and daemon.sample(circuit_open) == 0.0
    assert daemon.check_status("desk", "connectivity") == "ok"
    code, report = daemon.check()
    assert (code, report["status"]) == (0, "ok"), report
    assert daemon.incident("desk", "recovered", "connectivity check was critical")
    third = daemon.settled(daemon.sale("12.00"))
    assert third["state"] == "approved", third
    charged = [(e["amount"], e["state"]) for e in daemon.ledger()]
    assert charged == [(1200, "charged")]


def test_terminal_off_shows_in_check_metrics_and_incidents_and_clears(daemon: Daemon) -> None:
    """A terminal switched off is silent on its serial line: the device goes down, the
    link check says "no answer", and switching it on clears every view."""
    up = 'posdriver_device_up{device="desk",kind="terminal"}'
    errors = 'posdriver_link_errors_total{device="desk"}'
    reconnects = 'posdriver_reconnects_total{device="desk"}'
    wait_until(lambda: daemon.sample(up) == 1.0, 10, "the terminal up first")
    assert daemon.check_status("desk", "link") == "ok"
    counted = (daemon.sample(errors) or 0.0, daemon.sample(reconnects) or 0.0)

    daemon.fault("terminal", "power_off")
    # Silence: the status enquiry's frame goes out three times, T2 (5 s) apart, before
    # the link check can say "no answer". Meanwhile the last good status ages out (7 s
    # here), and the device is no longer up: what it said before is not trusted.
    wait_until(lambda: daemon.sample(up) == 0.0, 15, "the terminal down in /metrics")
    wait_until(
        lambda: daemon.check_status("desk", "link") in ("unknown", "critical"),
        5,
        "the link check failing in /metrics",
    )
    no_answer = "link check: no answer from the terminal"
    wait_until(
        lambda: daemon.incident("desk", "device_fault", no_answer),
        30,
        "a link incident for the terminal",
    )
    assert daemon.check_status("desk", "link") == "critical"
    assert daemon.sample(up) == 0.0
    code, report = daemon.check()
    # a stale device is unknown, and unknown outranks critical (docs/cli.md): exit 3;
    # the link check is critical, as the daemon saw it fail moments ago
    assert (code, report["status"]) == (3, "unknown"), report
    assert failing(report).get(("desk", "link")) == "critical", report
    assert all(device == "desk" for device, _ in failing(report)), report
    terminal = next(d for d in report["devices"] if d["name"] == "desk")
    assert terminal["up"] is False and terminal["stale"] is True
    assert "no answer from the terminal" in terminal["checks"]["link"]["text"]
    # the silence is a link error, as a silent printer's is
    assert (daemon.sample(errors) or 0.0) > counted[0]

    daemon.fault("terminal", "power_off", False)
    # a power-on: the frame being repeated is answered now (the terminal lost its
    # registration, which the driver renews by itself)
    wait_until(lambda: daemon.sample(up) == 1.0, 20, "the terminal up again in /metrics")
    terminal_checks = ("link", "terminal_state", "connectivity")
    wait_until(
        lambda: all(daemon.check_status("desk", c) == "ok" for c in terminal_checks),
        15,
        "the terminal's checks ok in /metrics",
    )
    code, report = daemon.check()
    assert (code, report["status"]) == (0, "ok"), report
    assert (daemon.sample(reconnects) or 0.0) > counted[1]  # the link opened afresh
    wait_until(
        lambda: daemon.incident("desk", "recovered", "link check was critical"),
        5,
        "a recovered incident for the terminal",
    )


def test_a_switched_off_printer_reads_stale_and_says_so_once(daemon: Daemon) -> None:
    """Once a device's last status is older than its freshness limit every check reads
    unknown, each text saying once how old it is."""
    up = 'posdriver_device_up{device="receipt",kind="printer"}'
    wait_until(lambda: daemon.sample(up) == 1.0, 10, "the printer up first")
    daemon.fault("printer", "power_off")

    def stale() -> bool:
        """The printer's status and its last check results are older than the limit."""
        status, devices = daemon.get("/v1/devices")
        printer = next(d for d in devices if d["name"] == "receipt")
        return (
            status == 200
            and printer["stale"]
            and any("stale (" in c["text"] for c in printer["checks"].values())
        )

    wait_until(stale, 15, "the printer's checks to go stale")
    code, report = daemon.check("receipt")
    daemon.fault("printer", "power_off", False)  # before asserting: a quick teardown
    assert code == 3 and report["status"] == "unknown", report
    texts = [c["text"] for c in report["devices"][0]["checks"].values()]
    assert all(text.count("stale (") <= 1 for text in texts), texts


def test_the_wall_clock_set_back_an_hour_hides_no_fault_and_stops_nothing(
    tmp_path: Path,
) -> None:
    """The PC's clock is set back an hour while the daemon runs (NTP after a drift, a
    person). The printer's last status is then dated "in the future": it must not pass
    for fresh for that hour. Switched off after the step, the printer reads unknown as
    soon as its status is older than the limit by the monotonic clock, comes back when
    switched on, and a sale goes through and is journaled after the step."""
    step = tmp_path / "clock-offset"
    step.write_text("0")
    config = tmp_path / "posdriver.toml"
    config.write_text(SERVICE)
    runner = ("-m", "tests.support.shifted_clock", str(step))
    with (
        (tmp_path / "daemon.log").open("w") as log,
        serve_process(config, tmp_path / "state", emulate=True, log=log, runner=runner) as (
            process,
            by,
        ),
    ):
        daemon = _started(process, by, tmp_path)
        up = 'posdriver_device_up{device="receipt",kind="printer"}'
        wait_until(lambda: daemon.sample(up) == 1.0, 10, "the printer up first")
        step.write_text("-3600")
        daemon.fault("printer", "power_off")

        def printer() -> dict[str, Any]:
            status, devices = daemon.get("/v1/devices")
            assert status == 200, devices
            return dict(next(d for d in devices if d["name"] == "receipt"))

        def paper_check() -> str:
            return str(printer()["checks"]["paper"]["status"])

        # the paper check's last result ("ok", an hour ahead by the clock now) is not
        # held for that hour (tests/service/test_metrics.py has the rule itself)
        wait_until(lambda: paper_check() == "unknown", 15, "the silent printer's paper check")
        code, report = daemon.check("receipt")
        assert code != 0 and ("receipt", "paper") in failing(report), report
        assert daemon.sample(up) == 0.0
        daemon.fault("printer", "power_off", False)
        wait_until(lambda: daemon.sample(up) == 1.0, 15, "the printer up again")
        wait_until(lambda: paper_check() == "ok", 15, "the paper check ok again")
        sale = daemon.settled(daemon.sale("4.20"))
        assert sale["state"] == "approved", sale
        assert [e["amount"] for e in daemon.ledger()][-1:] == [420]  # minor units
        assert process.poll() is None


def test_a_terminal_hanging_up_counts_in_link_errors_and_reconnects(daemon: Daemon) -> None:
    """The terminal's driver reopens its own link after a hang-up (the worker never
    sees the loss): the loss and the reopening still show in /metrics."""
    errors = 'posdriver_link_errors_total{device="desk"}'
    reconnects = 'posdriver_reconnects_total{device="desk"}'
    wait_until(lambda: daemon.check_status("desk", "link") == "ok", 10, "the terminal up first")
    assert (daemon.sample(errors), daemon.sample(reconnects)) == (0.0, 0.0)

    daemon.fault("terminal", "drop_before_accept")
    hung_up = daemon.settled(daemon.sale("10.00"))
    daemon.fault("terminal", "drop_before_accept", False)
    assert hung_up["state"] == "aborted", hung_up  # not reached: nothing charged
    # the next status enquiry opens the link again (the emulator's new pty, after 0.5 s)
    wait_until(lambda: (daemon.sample(reconnects) or 0) >= 1, 15, "a reconnect in /metrics")
    assert (daemon.sample(errors) or 0) >= 1
    assert daemon.settled(daemon.sale("11.00"))["state"] == "approved"


def test_a_payment_in_doubt_is_asked_about_before_the_next_payment(
    daemon: Daemon, tmp_path: Path
) -> None:
    """The terminal repeats only its last transaction: a sale sent while another is in
    doubt would hide that one's answer. Recovery asks first, so the doubt is settled
    from the terminal (the hang-up reversed it) and never left to a person."""
    wait_until(lambda: daemon.check_status("desk", "link") == "ok", 10, "the terminal up first")
    daemon.fault("terminal", "drop_after_status")
    first_id = daemon.sale("10.00")
    first = daemon.settled(first_id)
    assert (first["state"], first["doubt_stage"]) == ("in_doubt", "after_status"), first
    # every frame NAKed: the reconciler's two quick asks (1 s and 5 s on) get no answer
    daemon.fault("terminal", "drop_after_status", False)
    daemon.fault("terminal", "nak_storm")
    log = tmp_path / "daemon.log"
    unanswered = f"id:{first_id} is in_doubt"
    wait_until(lambda: log.read_text().count(unanswered) >= 2, 30, "two unanswered recoveries")
    daemon.fault("terminal", "nak_storm", False)

    second = daemon.settled(daemon.sale("11.00"))
    assert second["state"] == "approved", second
    first = daemon.settled(first_id, wait=0)
    assert first["state"] == "declined", first  # reversed by the terminal: nothing charged
    assert [(e["amount"], e["state"]) for e in daemon.ledger()] == [
        (1000, "auto_reversed"),
        (1100, "charged"),
    ]


def test_a_payment_sent_while_another_is_in_flight_waits_to_ask_about_it(
    tmp_path: Path,
) -> None:
    """A second sale that arrives while the first is still with the terminal (``sent``,
    its answer not given up yet) is not queued straight behind it: when the first ends
    in doubt, the second would reach the terminal before anyone asked, and the terminal
    would then repeat the second's result instead of the first's (a person's to
    decide). The second waits for the first to end, asks about it, and only then goes
    to the terminal: both settled by the terminal, none left to a person."""
    emulators = Emulators(tmp_path)
    devices = emulators.start()
    try:
        config = tmp_path / "posdriver.toml"
        config.write_text(
            SERVICE
            + f'[devices.desk]\nkind = "terminal"\nurl = "{devices.terminal}"\n'
            + 'printer = "receipt"\ntimeout_t4 = 3\n'
            + f'[devices.receipt]\nkind = "printer"\nurl = "{devices.printer}"\n'
        )
        with (
            (tmp_path / "daemon.log").open("w") as log,
            serve_process(config, tmp_path / "state", emulate=False, log=log) as (process, by),
        ):
            by["terminal"] = {"control": devices.terminal_control}
            by["printer"] = {"control": devices.printer_control}
            daemon = _started(process, by, tmp_path)
            wait_until(lambda: daemon.check_status("desk", "link") == "ok", 10, "the terminal")
            daemon.fault("terminal", "slow_host")  # the acquirer takes 3 s: time for another
            first_id = daemon.sale("10.00")
            daemon.await_state(first_id, "sent", 10, "the first sale with the terminal")
            daemon.fault("terminal", "power_off")  # mid-payment: its answer never comes
            daemon.fault("terminal", "power_off", False)
            daemon.fault("terminal", "slow_host", False)
            second_id = daemon.sale("11.00")
            second = daemon.settled(second_id, wait=30)
            wait_until(
                lambda: daemon.state_of(first_id) != "in_doubt", 30, "the first sale asked about"
            )
            first = daemon.settled(first_id, wait=0)
            ledger = daemon.ledger()
    finally:
        emulators.stop()
    assert second["state"] == "approved", json.dumps(second)
    assert first["state"] == "declined", json.dumps(first)
    assert [(e["amount"], e["state"]) for e in ledger] == [
        (1000, "auto_reversed"),
        (1100, "charged"),
    ]


def test_a_printer_switched_off_in_a_backlog_reads_down_at_once_and_ok_when_back(
    daemon: Daemon,
) -> None:
    """Receipts held back by an open cover print one after another once it closes. The
    printer switched off in the middle of that backlog must read down (its link check
    critical) within a few seconds, not "unknown" while the print run waits out its
    timeouts; switched on again, its checks read ok while the rest of the backlog
    prints, and every receipt is printed."""
    wait_until(lambda: daemon.check_status("receipt", "link") == "ok", 10, "the printer up")
    daemon.fault("printer", "cover_open")
    wait_until(lambda: daemon.check_status("receipt", "cover") == "critical", 10, "cover open")
    ids = [daemon.sale(f"{10 + n}.00") for n in range(30)]
    assert all(daemon.settled(op_id)["state"] == "approved" for op_id in ids)

    def printed() -> int:
        return sum(
            j["state"] == "done"
            for op_id in ids
            for j in daemon.get(f"/v1/operations/{op_id}")[1]["print_jobs"]
        )

    daemon.fault("printer", "cover_open", False)
    wait_until(lambda: printed() >= 5, 20, "the backlog to start printing")
    daemon.fault("printer", "power_off")
    wait_until(
        lambda: daemon.check_status("receipt", "link") == "critical",
        4,
        "the switched-off printer's link check critical",
    )
    daemon.fault("printer", "power_off", False)
    wait_until(lambda: daemon.check_status("receipt", "link") == "ok", 6, "the printer back")
    wait_until(lambda: printed() >= len(ids), 60, "every receipt printed")
