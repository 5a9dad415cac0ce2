"""``posdriver serve`` as a process of its own, and a client of the one that is running.

:func:`serve_process` starts it on port 0 for both listeners, reads it until it has said
where it listens, and stops it with SIGTERM (killed if it will not stop) whatever the test
did. :func:`serve` runs it with ``--emulate`` and yields a :class:`Served`, the API,
/metrics and the emulators' control APIs of that daemon; the ``served`` fixture (registered
for every test package in the root conftest) is one on :data:`SERVED_CONFIG`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest

from tests.support.timing import wait_until


@contextlib.contextmanager
def serve_process(
    config: Path,
    state: Path,
    *,
    emulate: bool,
    log: IO[str] | None = None,
    metrics: str = "127.0.0.1:0",
    runner: tuple[str, ...] = ("-m", "posdriver"),
) -> Iterator[tuple[subprocess.Popen[str], dict[str, dict[str, Any]]]]:
    """Yields the process and its start lines by name: ``"api"`` and ``"metrics"`` (their
    ``url``), and with ``emulate`` ``"printer"`` and ``"terminal"`` (``url``, ``control``).
    The log (stderr) goes to ``log`` or nowhere. ``runner``: what python runs to be
    ``posdriver`` (a wrapper such as tests/support/shifted_clock.py)."""
    command = [sys.executable, *runner, "serve", "--config", str(config)]
    if emulate:
        command.append("--emulate")
    command += ["--state-dir", str(state), "--api", "127.0.0.1:0", "--metrics", metrics]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=log if log is not None else subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, PYTHONPATH=os.getcwd()),
    )
    try:
        assert process.stdout is not None
        said: dict[str, dict[str, Any]] = {}
        while not {"api", "metrics"} <= said.keys():  # the listeners come last
            line = process.stdout.readline()
            if not line:
                pytest.fail(f"posdriver serve ended early (exit {process.wait()})")
            start = json.loads(line)
            said[start.get("device") or start["listening"]] = start
        yield process, said
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()


@dataclass
class Served:
    """A running ``posdriver serve --emulate``: its process, its listeners, the control APIs
    of its emulated printer and terminal, and its state directory."""

    process: subprocess.Popen[str]
    api: str
    metrics: str
    printer_control: str
    terminal_control: str
    state: Path

    def get(self, path: str, timeout: float = 10) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(self.api + path, timeout=timeout) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def post(
        self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        request = urllib.request.Request(
            self.api + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **(headers or {})},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def sale(self, amount: str) -> int:
        """Start a sale through the API; its journal id."""
        status, body = self.post("/v1/operations", {"kind": "sale", "amount": amount})
        assert status == 202, body
        return int(body["operation"]["id"])

    def state_of(self, op_id: int) -> str:
        return str(self.get(f"/v1/operations/{op_id}")[1]["operation"]["state"])

    def await_state(self, op_id: int, state: str, timeout: float, what: str) -> None:
        wait_until(lambda: self.state_of(op_id) == state, timeout, what)

    def scrape(self) -> str:
        with urllib.request.urlopen(self.metrics, timeout=5) as answer:
            return str(answer.read().decode())

    def sample(self, line_start: str) -> float | None:
        for line in self.scrape().splitlines():
            if line.startswith(line_start + " "):
                return float(line.rsplit(" ", 1)[1])
        return None

    def fault(self, device: str, name: str, active: bool = True) -> None:
        control = self.printer_control if device == "printer" else self.terminal_control
        request = urllib.request.Request(
            control + "/faults",
            data=json.dumps({"fault": name, "active": active}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.status == 200


SERVED_CONFIG = "[service]\npoll_interval = 0.2\nterminal_poll_interval = 1.0\n"


@contextlib.contextmanager
def serve(
    tmp_path: Path,
    config_text: str = SERVED_CONFIG,
    log: Any = None,
    metrics: str = "127.0.0.1:0",
    state: Path | None = None,
) -> Iterator[Served]:
    """``posdriver serve --emulate`` on the config given, its journal in ``state`` (by
    default under ``tmp_path``); its log (stderr) goes to ``log`` (a file) or nowhere."""
    config = tmp_path / "posdriver.toml"
    config.write_text(config_text)
    state = state or tmp_path / "state"
    with serve_process(config, state, emulate=True, log=log, metrics=metrics) as (process, by):
        yield Served(
            process,
            by["api"]["url"],
            by["metrics"]["url"],
            by["printer"]["control"],
            by["terminal"]["control"],
            state,
        )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """A daemon of the test's own, on :data:`SERVED_CONFIG`, stopped after it."""
    with serve(tmp_path) as running:
        yield running
