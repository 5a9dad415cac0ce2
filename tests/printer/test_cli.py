"""``posdriver printer status|test`` exit codes, in-process and across real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import pytest

from posdriver.cli import main
from posdriver_emulator.controller import Controller

FAULT_EXIT = {
    None: 0,
    "paper_near_end": 1,
    "paper_out": 2,
    "cover_open": 2,
    "offline": 2,
    "cutter_error": 2,
    "unrecoverable_error": 2,
    "power_off": 3,
    "busy": 3,
    "garbage": 3,
    "disconnect": 3,
}


@pytest.mark.parametrize("fault", list(FAULT_EXIT))
def test_status_exit_code_per_fault(pty_emu: Controller, fault: str | None, capsys) -> None:
    if fault:
        pty_emu.set_fault(fault)
    code = main(["printer", "status", pty_emu.url, "--json", "--tolerance", "0.25"])
    out = json.loads(capsys.readouterr().out)
    assert code == FAULT_EXIT[fault], out
    assert out["severity"] == ["ok", "warning", "critical", "unknown"][code]


def test_bad_url_is_unknown_and_names_the_option(capsys) -> None:
    assert main(["printer", "status", "serial:///dev/ttyS0?baud=9600"]) == 3
    out = capsys.readouterr().out
    assert "unknown option 'baud'" in out and "expected serial:///dev/DEVICE" in out


def test_printer_test_prints_and_reports(emu: Controller, capsys) -> None:
    assert main(["printer", "test", emu.url, "--tolerance", "0.25"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("PRINTER OK - printed")
    assert emu.device.wait_for_receipts(1, timeout=5)


def test_printer_test_fails_clearly_on_paper_out(pty_emu: Controller, capsys) -> None:
    pty_emu.set_fault("paper_out")
    assert main(["printer", "test", pty_emu.url, "--json", "--tolerance", "0.25"]) == 2
    out = json.loads(capsys.readouterr().out)
    assert out["printed"] is False and out["sent"] == 0 and "paper out" in out["error"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.getcwd() + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_emulator_and_cli_as_separate_processes() -> None:
    """posdriver-emulator prints its JSON line; the CLI in another process reads status."""
    emulator = subprocess.Popen(
        [sys.executable, "-m", "posdriver_emulator", "printer", "--link", "pty"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        assert emulator.stdout is not None
        line = json.loads(emulator.stdout.readline())
        assert line["device"] == "printer"
        assert line["url"].startswith("serial:///")
        assert line["control"].startswith("http://127.0.0.1:")

        def status() -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "posdriver",
                    "printer",
                    "status",
                    line["url"],
                    "--tolerance",
                    "0.25",
                ],
                capture_output=True,
                text=True,
                timeout=30,
                env=_env(),
            )

        ok = status()
        assert ok.returncode == 0, ok.stdout + ok.stderr
        request = urllib.request.Request(
            line["control"] + "/faults",
            data=json.dumps({"fault": "paper_out", "active": True}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as reply:
            assert "paper_out" in json.loads(reply.read())["active"]
        out = status()
        assert out.returncode == 2, out.stdout
        assert "paper out" in out.stdout
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
    assert emulator.returncode == 0
