"""What the front desk waits for: a sale through the daemon, and a command's start-up.

1. Sale through the daemon: ``posdriver serve --emulate`` (an emulated printer and ZVT
   terminal on pseudo-terminals, paced at their line speed), ``POST /v1/operations``
   then ``GET /v1/operations/{id}?wait=``; the time from the POST to the final answer,
   and the POST's own answer time (the 202, once the intent is journaled).
2. Command start-up: fresh processes of ``posdriver --version`` and ``posdriver txn show
   last`` on a journal with a few operations (no daemon: the journal is opened).

Run from the repository root: ``python benchmarks/desk.py [--sales N] [--runs N]``.
``--against DIR`` (another checkout of posdriver, e.g. a ``git worktree`` of an older
commit) times the start-ups of both, taking turns, so that a before/after comparison
comes from one run on a noisy machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import _common

SALE = {"kind": "sale", "amount": "12.50"}


def call(url: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


def serve(procs: _common.Processes, root: Path) -> tuple[Any, dict[str, Any]]:
    args = ["-m", "posdriver", "serve", "--emulate", "--state-dir", str(root / "state")]
    args += ["--api", "127.0.0.1:0", "--metrics", "127.0.0.1:0", "--log-level", "warning"]
    log = root / "serve.log"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(_common.REPO), "TMPDIR": str(root)}
    with open(log, "w", encoding="utf-8") as sink:
        child = procs.spawn(args, env, sink)
    said: dict[str, Any] = {}
    while "metrics" not in said:
        line = _common.first_line(child, "posdriver serve", log)
        said[str(line.get("listening") or line.get("device"))] = line
    return child, said


def sales_through_the_daemon(root: Path, count: int) -> None:
    procs = _common.Processes()
    try:
        _, said = serve(procs, root)
        api = said["api"]["url"]
        accepted: list[float] = []
        whole: list[float] = []
        for n in range(count + 3):
            started = time.perf_counter()
            op = call(f"{api}/v1/operations", SALE)["operation"]
            posted = time.perf_counter()
            answer = call(f"{api}/v1/operations/{op['id']}?wait=60")
            done = time.perf_counter()
            if answer["operation"]["state"] != "approved":
                raise SystemExit(f"sale {op['id']} ended {answer['operation']['state']}")
            if n >= 3:  # the first few warm the daemon's caches
                accepted.append(posted - started)
                whole.append(done - started)
        print(f"1. sale through the daemon, {count} sales one after another (--emulate)")
        print(f"   202 (intent journaled)   {_common.describe_ms(accepted)}")
        print(f"   to the final answer      {_common.describe_ms(whole)}")
    finally:
        procs.stop_all()


def startup(root: Path, runs: int, against: Path | None = None) -> None:
    trees = {"this checkout": _common.REPO} | ({str(against): against} if against else {})
    # a daemon address nothing answers at: the command reads the journal itself, and
    # never a daemon a developer has running on the default port
    config = root / "cli.toml"
    config.write_text('[service]\napi = "127.0.0.1:1"\n')
    print(f"2. command start-up, median of {runs} fresh processes")
    states = {
        tree: _seeded_journal(root / f"cli-state-{n}", path)
        for n, (tree, path) in enumerate(trees.items())
    }
    for name in ("posdriver --version", "posdriver txn show last"):
        samples: dict[str, list[float]] = {tree: [] for tree in trees}
        for _ in range(runs + 1):
            for tree, path in trees.items():  # taking turns: both see the same noise
                args = name.split()[1:] + (
                    ["--state-dir", str(states[tree])] if "txn" in name else []
                )
                env = {
                    "PATH": "/usr/bin:/bin",
                    "PYTHONPATH": str(path),
                    "POSDRIVER_CONFIG": str(config),
                }
                samples[tree].append(_time_command(name, args, env, path))
        for tree, taken in samples.items():
            where = f"  ({tree})" if against else ""
            taken = taken[1:]  # the first compiles the bytecode
            print(f"   {name:<26} median {statistics.median(taken) * 1000:7.1f} ms{where}")


def _seeded_journal(state: Path, tree: Path) -> Path:
    """A journal of a few approved sales, written by the checkout that will read it (its
    schema may be older than this one's)."""
    seed = (
        "from posdriver.journal import open_journal, Kind, State\n"
        "from posdriver.money import Money\n"
        f"j = open_journal({str(state)!r})\n"
        "for n in range(5):\n"
        "    op = j.begin(Kind.SALE, Money(100 + n, 'EUR'), terminal='desk')\n"
        "    j.transition(op.id, State.SENT)\n"
        "    j.transition(op.id, State.APPROVED, receipt_no=n + 1, trace=n + 1)\n"
    )
    env = {"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", seed], check=True, env=env, cwd=tree)
    return state


def _time_command(name: str, args: list[str], env: dict[str, str], tree: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "posdriver", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tree,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{name} ({tree}): exit {done.returncode}: {done.stderr.strip()}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=30, help="sales to time (default 30)")
    parser.add_argument("--runs", type=int, default=15, help="start-ups per command (15)")
    parser.add_argument("--only", choices=("sale", "startup"), help="run one part only")
    parser.add_argument(
        "--against", type=Path, metavar="DIR", help="another checkout to time start-ups against"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="posdriver-desk-bench-") as where:
        root = Path(where)
        if args.only in (None, "sale"):
            sales_through_the_daemon(root, args.sales)
        if args.only in (None, "startup"):
            startup(root, args.runs, args.against and args.against.resolve())


if __name__ == "__main__":
    main()
