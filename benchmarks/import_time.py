"""Import time of posdriver's entry points, in fresh interpreters (median of runs)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import _common

RUNS = 15
MODULES = ["posdriver", "posdriver.cli", "posdriver.printer.driver", "escpos.printer"]


def time_import(module: str) -> float:
    code = f"import time; t=time.perf_counter(); import {module}; print(time.perf_counter()-t)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": _common.sys.path[0]},
    )
    return float(out.stdout.strip())


def main() -> None:
    time_import("posdriver")  # warm the bytecode cache
    print(f"import time, median of {RUNS} fresh interpreters")
    baseline = subprocess.run([sys.executable, "-c", "pass"], check=True)
    del baseline
    for module in MODULES:
        samples = [time_import(module) for _ in range(RUNS)]
        print(f"  {module:<26} {statistics.median(samples) * 1000:7.2f} ms")
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "posdriver", "--version"],
        check=True,
        capture_output=True,
        env={"PYTHONPATH": _common.sys.path[0]},
    )
    print(f"  posdriver --version (whole process) {1000 * (time.perf_counter() - t0):7.2f} ms")


if __name__ == "__main__":
    main()
