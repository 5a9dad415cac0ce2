"""Helpers shared by the benchmark scripts (run from the repository root)."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

REPO = Path(__file__).resolve().parent.parent


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def describe_ms(values: list[float]) -> str:
    return (
        f"median {statistics.median(values) * 1000:7.3f} ms   "
        f"p99 {percentile(values, 0.99) * 1000:7.3f} ms   (n={len(values)})"
    )


def status_field(pid: int, name: str) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    raise KeyError(name)


class Processes:
    """Child processes to stop at exit, newest first, by their own pids only."""

    def __init__(self) -> None:
        self.children: list[subprocess.Popen[str]] = []

    def spawn(self, args: list[str], env: dict[str, str], stderr: Any) -> subprocess.Popen[str]:
        child = subprocess.Popen(
            [sys.executable, *args],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        self.children.append(child)
        return child

    def stop(self, child: subprocess.Popen[str], timeout: float = 10.0) -> None:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if child.stdout is not None:
            child.stdout.close()

    def stop_all(self) -> None:
        for child in reversed(self.children):
            self.stop(child)
        self.children.clear()


def first_line(child: subprocess.Popen[str], what: str, log: Path) -> dict[str, Any]:
    assert child.stdout is not None
    line = child.stdout.readline()
    if not line:
        raise SystemExit(
            f"{what} exited {child.wait()} before saying where it listens:\n"
            + log.read_text(encoding="utf-8", errors="replace")[-2000:]
        )
    return dict(json.loads(line))
