"""``posdriver serve`` as a process of its own, for the end-to-end tests: started on
port 0 for both listeners, read until it has said where it listens, and stopped with
SIGTERM (killed if it will not stop) whatever the test did."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest


@contextlib.contextmanager
def serve_process(
    config: Path,
    state: Path,
    *,
    emulate: bool,
    log: IO[str] | None = None,
    metrics: str = "127.0.0.1:0",
) -> Iterator[tuple[subprocess.Popen[str], dict[str, dict[str, Any]]]]:
    """Yields the process and its start lines by name: ``"api"`` and ``"metrics"`` (their
    ``url``), and with ``emulate`` ``"printer"`` and ``"terminal"`` (``url``, ``control``).
    The log (stderr) goes to ``log`` or nowhere."""
    command = [sys.executable, "-m", "posdriver", "serve", "--config", str(config)]
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
