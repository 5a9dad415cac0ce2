"""``posdriver check`` with no daemon answering: it opens each configured device itself,
checks it once and closes it (the emulators on real pseudo-terminals)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from posdriver_emulator.controller import Controller


def check(config: Path, *extra: str) -> tuple[int, dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-m", "posdriver", "check", *extra, "--config", str(config), "--json"],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=os.getcwd()),
        timeout=60,
        check=False,
    )
    return done.returncode, json.loads(done.stdout)


def test_without_a_daemon_the_devices_are_checked_directly(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "t").mkdir()
    with (
        Controller.printer(link="pty", link_dir=tmp_path / "p", control=False) as printer,
        Controller.terminal(link="pty", link_dir=tmp_path / "t", control=False) as terminal,
    ):
        config = tmp_path / "posdriver.toml"
        config.write_text(
            f'state_dir = "{tmp_path / "state"}"\n'
            '[service]\napi = "127.0.0.1:9"\n'  # nothing answers there: no daemon
            f'[devices.receipt]\nkind = "printer"\nurl = "{printer.url}"\n'
            f'[devices.desk]\nkind = "terminal"\nurl = "{terminal.url}"\n'
        )
        code, report = check(config)
        assert (code, report["status"], report["source"]) == (0, "ok", "direct"), report
        devices = {d["name"]: d for d in report["devices"]}  # type: ignore[attr-defined]
        assert set(devices) == {"receipt", "desk"}
        assert set(devices["desk"]["checks"]) == {"link", "terminal_state", "connectivity"}

        printer.set_fault("paper_out")
        code, report = check(config, "receipt")
        assert (code, report["status"]) == (2, "critical"), report
        [only] = report["devices"]  # type: ignore[misc]
        assert only["name"] == "receipt" and only["checks"]["paper"]["status"] == "critical"

    # the devices are gone: each is reported, never skipped
    code, report = check(config)
    assert code == 3 and report["status"] == "unknown", report
    devices = {d["name"]: d for d in report["devices"]}  # type: ignore[attr-defined]
    assert devices["receipt"]["lifecycle"] == "error"  # its port cannot be opened
    assert devices["desk"]["checks"]["link"]["status"] == "critical"  # nothing answers
