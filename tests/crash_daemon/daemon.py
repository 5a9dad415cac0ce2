"""The daemon under fire: ``posdriver serve`` (through the kill-switch wrapper) as a
process of its own on one state directory, started again after every kill.

It is configured with the emulators' devices by URL (not ``--emulate``: the devices must
outlive it), with polls rare enough that a run's moments are the operation's own, and a
print policy that gives up on a printer in seconds. Its log goes to ``daemon.log``.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tests.crash_daemon.wrapper import DEVICES_ENV, EVENTS_ENV, PLAN_ENV, START_ENV
from tests.support.emulators import REPO_ROOT, Devices

START_DEADLINE = 30.0  # a daemon that has not said where it listens by then is broken

CONFIG = """\
# the daemon crash harness: the emulators' devices, polls out of the way
[service]
poll_interval = 60
terminal_poll_interval = 600
connectivity_interval = 86400
connectivity_retry_interval = 86400
reconnect_max = 0.5

[print]
ready_timeout = 2.0
wait_initial = 0.05
wait_max = 0.5
jitter = 0.05

[devices.desk]
kind = "terminal"
url = "{terminal}"
printer = "receipt"
timeout_t4 = 30

[devices.receipt]
kind = "printer"
url = "{printer}"
"""


class DaemonFailed(RuntimeError):
    """The daemon did not start, or exited on its own."""


class DaemonProcess:
    """Starts, kills and restarts the daemon; knows the API of the one running."""

    def __init__(self, workdir: Path, devices: Devices) -> None:
        self.workdir = workdir
        self.devices = devices
        self.config = workdir / "posdriver.toml"
        self.config.write_text(CONFIG.format(terminal=devices.terminal, printer=devices.printer))
        self.state = workdir / "state"
        self.plan_path = workdir / "plan.json"
        self.events_path = workdir / "events.jsonl"
        self.log_path = workdir / "daemon.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.api = ""
        self.starts = 0
        self.start_seconds: list[float] = []

    def start(self, kill_at: int | None = None, split: float | None = None) -> str:
        """A new daemon; with ``kill_at`` (or always, when ``arm`` is set) its moments
        are counted from its start. Returns the API's URL once it listens."""
        return self._start({"kill_at": kill_at, "split": split})

    def start_unarmed(self) -> str:
        return self._start(None)

    def _start(self, arm: dict[str, Any] | None) -> str:
        assert self.proc is None or self.proc.poll() is not None, "one daemon at a time"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        env[EVENTS_ENV] = str(self.events_path)
        env[PLAN_ENV] = str(self.plan_path)
        env[DEVICES_ENV] = json.dumps(asdict(self.devices))
        env.pop(START_ENV, None)
        if arm is not None:
            env[START_ENV] = json.dumps(arm)
        command = [sys.executable, "-m", "tests.crash_daemon.wrapper", "serve"]
        command += ["--config", str(self.config), "--state-dir", str(self.state)]
        command += ["--api", "127.0.0.1:0", "--metrics", "127.0.0.1:0"]
        started = time.monotonic()
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=log, env=env, cwd=REPO_ROOT
            )
        self.starts += 1
        self.api = self._listening(started)
        self.start_seconds.append(time.monotonic() - started)
        return self.api

    def _listening(self, started: float) -> str:
        """The API's URL from the daemon's start lines; None when it died first (a kill
        armed at its start can fall before it listens)."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        pending = b""
        while True:
            left = started + START_DEADLINE - time.monotonic()
            if left <= 0:
                self.kill()
                raise DaemonFailed(f"the daemon did not start in {START_DEADLINE:g} s")
            if not select.select([fd], [], [], left)[0]:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                return ""  # it ended: killed at its start, or failed (see exited())
            pending += chunk
            while b"\n" in pending:
                text, pending = pending.split(b"\n", 1)
                line = json.loads(text)
                if line.get("listening") == "api":
                    return str(line["url"])

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL from outside (a power cut, the OOM killer), and wait for it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def exited(self, timeout: float = 10.0) -> int | None:
        """The exit status once the process is gone (waiting up to ``timeout``), as
        ``Popen.returncode`` has it: -9 is SIGKILL."""
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        """SIGTERM at the end of the run; killed if it will not stop."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def set_plan(
        self, point: int, kill_at: int | None, split: float | None, done: bool = False
    ) -> None:
        """What the next request of ``point`` arms the running daemon with; ``done``:
        the point is over, its moments stop counting."""
        tmp = self.plan_path.with_suffix(".tmp")
        plan = {"point": point, "kill_at": kill_at, "split": split, "done": done}
        tmp.write_text(json.dumps(plan))
        tmp.replace(self.plan_path)

    def events(self, offset: int) -> tuple[list[dict[str, Any]], int]:
        """The moments written since ``offset``, and the new offset."""
        try:
            with open(self.events_path, "rb") as f:
                f.seek(offset)
                data = f.read()
        except FileNotFoundError:
            return [], offset
        end = data.rfind(b"\n") + 1
        lines = [json.loads(line) for line in data[:end].splitlines() if line]
        return lines, offset + end
