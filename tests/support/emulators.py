"""``posdriver-emulator`` as a process of its own, and a client of its control API.

:func:`run_emulator` starts one whose output the test reads. :class:`Emulators` runs
``posdriver-emulator all`` for tests whose devices must outlive the process under test,
as real ones outlive a crashed till: the crash harness (one emulator process for a whole
run of kills) and the daemon killed in the middle of a sale. The terminal's
``GET /ledger`` is then the ground truth of what was charged.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_emulator(*args: str) -> subprocess.Popen[str]:
    """``posdriver-emulator ARGS`` from this checkout, as a child whose output a test reads."""
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    return subprocess.Popen(
        [sys.executable, "-m", "posdriver_emulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@dataclass(frozen=True)
class Devices:
    """Where the emulated devices are: each one's link URL and its control API."""

    terminal: str
    terminal_control: str
    printer: str
    printer_control: str


class Emulators:
    """``posdriver-emulator all`` in its own process (both devices on TCP, or on ptys), for
    as long as the test needs it.

    Like :func:`run_emulator` but with stderr going to a file: nobody reads a
    pipe while hundreds of points run, and a full pipe would freeze the emulator.
    """

    def __init__(self, workdir: Path, link: str = "tcp") -> None:
        self.log_path = workdir / "emulator.log"
        self.link = link
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> Devices:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "posdriver_emulator",
                    "all",
                    "--terminal-link",
                    self.link,
                    "--printer-link",
                    self.link,
                    # every receipt of the run: the final audit finds each on the paper
                    "--keep-receipts",
                    "1000000",
                ],
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
                cwd=REPO_ROOT,
            )
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        lines: dict[str, dict[str, str]] = {}
        pending = b""
        deadline = time.monotonic() + timeout
        while len(lines) < 2:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self.stop()
                raise RuntimeError(f"the emulator did not start; see {self.log_path}")
            chunk = os.read(fd, 4096)
            if not chunk:
                self.stop()
                raise RuntimeError(f"the emulator exited; see {self.log_path}")
            pending += chunk
            while b"\n" in pending:
                text, pending = pending.split(b"\n", 1)
                line = json.loads(text)
                lines[line["device"]] = line
        return Devices(
            terminal=lines["terminal"]["url"],
            terminal_control=lines["terminal"]["control"],
            printer=lines["printer"]["url"],
            printer_control=lines["printer"]["control"],
        )

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def control(url: str, body: dict[str, Any] | None = None) -> Any:
    """GET (or POST ``body`` to) the emulator's control API."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"} if data else {}
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.loads(reply.read())
