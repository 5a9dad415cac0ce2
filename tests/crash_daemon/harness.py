"""Daemon crash harness: SIGKILL ``posdriver serve`` at many points of the front desk's
sales, refunds, reversals and reprints, start it again, have the desk send the same
request with the same idempotency key, and hold the journal to the terminal's ledger
and the printer's paper.

The promise under test is the CLI harness's (tests/crash/harness.py), kept by the
daemon and its API: whatever instant the daemon dies at, after its restart every charge
the terminal made is APPROVED exactly once in the journal, no idempotency key produced
two charges, every approved receipt is printed exactly once plus marked continuations
and copies, and nothing is left PENDING, SENT or IN_DOUBT once the daemon's own
recovery has asked the terminal.

How, and why this way (each part is a module of this package):

* The emulated terminal and printer run in ONE separate process for the whole run
  (``posdriver-emulator all`` on TCP; tests/support/emulators.py): their ledger and paper
  survive every kill, as real devices outlive a crashed till.
* The daemon is ``python -m posdriver serve`` on a state directory whose config names
  those devices (daemon.py), started through a wrapper (wrapper.py) that installs the CLI
  harness's counting hooks (tests/crash/hooks.py: journal commits before and after, link
  writes before and after, link reads, the printer's job) and SIGKILLs the process at
  the K-th moment after the point's request reached the desk. Half of the kills that
  fall on a link write let part of it out first: a ZVT APDU cut mid-frame, a receipt
  torn mid-line. The moments between the terminal's approval (``terminal-recv
  (status-info)``) and the daemon's acknowledgement (``terminal-send(ack)``) are among
  them. Some points are killed from outside after a random delay instead, some
  restarts are killed in their own recovery or printing.
* The front desk (desk.py, points.py) sends each request with an idempotency key; when
  the answer is lost it starts the daemon again and sends the same request with the
  same key, then follows the operation (``?wait=``) to its end and its receipt to the
  paper, starting the daemon again whenever it dies.
* After every point the journal is audited against the ledger (tests/crash/audit.py)
  and the keys against the answers (audit.py); at the end the paper too. The first
  broken invariant stops the run and names the seed and the point.

Each point's random choices come from ``random.Random(f"{seed}:{index}")``; K is drawn
over a measured run of the same variant. The daemon's threads make a moment's number
less exact than in the CLI harness (a printer's status answer may come before or after
a commit), so a seed replays the same requests and nearly the same instants.

Run more points than the test does::

    python -m tests.crash_daemon.harness --seed 7 --points 1000
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.crash.harness import DEFAULT_SEED, seed_from_env
from tests.crash.points import CrashFailure
from tests.crash.report import RunResult, finish
from tests.crash_daemon.points import DaemonHarness
from tests.crash_daemon.report import summary
from tests.support.emulators import Emulators, control


def run(
    seed: int,
    points: int,
    workdir: Path,
    *,
    out: Callable[[str], None] = print,
    verbose: bool = False,
    seconds: float | None = None,
) -> RunResult:
    """Run ``points`` points with ``seed`` in ``workdir`` (fewer when ``seconds`` runs out
    first); raise CrashFailure on the first broken invariant."""
    out(f"daemon crash harness: seed {seed}, {points} points, work dir {workdir}")
    started = time.monotonic()
    emulators = Emulators(workdir)
    devices = emulators.start()
    harness = DaemonHarness(seed, workdir, devices, out=out, verbose=verbose)
    try:
        harness.begin()
        for index in range(points):
            if seconds is not None and time.monotonic() - started > seconds:
                break
            harness.run_point(index)
        final = harness.final_audit()
        terminal = control(devices.terminal_control + "/state").get("counters", {})
    finally:
        harness.end()
        emulators.stop()
    counts = harness.counts + final
    counts["daemon starts"] = harness.daemon.starts
    counts["slowest restart ms"] = int(harness.slowest_restart * 1000)
    return finish(seed, points, started, workdir, counts, harness, terminal, summary, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.crash_daemon.harness",
        description="SIGKILL posdriver serve at random points of the front desk's requests "
        "against the emulators, restart it, retry with the same idempotency keys, and check "
        "the journal against the terminal and the paper.",
    )
    parser.add_argument("--seed", type=int, help="the seed (default: $POSDRIVER_CRASH_SEED)")
    parser.add_argument("--points", type=int, default=200, help="how many points (200)")
    parser.add_argument("--workdir", type=Path, help="keep the journal and logs here")
    parser.add_argument("--verbose", action="store_true", help="one line per point")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else seed_from_env()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="posdriver-dcrash-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        run(seed, args.points, workdir, verbose=args.verbose)
    except CrashFailure:
        print(f"kept {workdir} for inspection", file=sys.stderr)
        return 1
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


__all__ = ["DEFAULT_SEED", "main", "run"]

if __name__ == "__main__":
    sys.exit(main())
