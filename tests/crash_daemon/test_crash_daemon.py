"""The crash promise kept by the daemon: ``posdriver serve`` is SIGKILLed at some hundred
points of the front desk's sales, refunds, reversals and reprints (inside its commits,
mid-frame on the terminal link, between the terminal's approval and its acknowledgement,
mid-receipt, in its own recovery, from outside), started again each time, and the desk
sends the same request with the same idempotency key; the journal is held to the
terminal's ledger after every point and to the printer's paper at the end (see
harness.py and the modules it names).

The seed is ``POSDRIVER_CRASH_SEED`` (a number, or ``random``) or the CLI harness's
fixed default; ``POSDRIVER_DCRASH_POINTS`` sets how many points (default 80, about
100 s on the 2-core development machine). A failure names the seed and the point:
replay it with ``python -m tests.crash_daemon.harness --seed S --points N``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.crash.harness import seed_from_env
from tests.crash_daemon import harness

POINTS_ENV = "POSDRIVER_DCRASH_POINTS"
SECONDS = 150.0  # the points stop here on a slow machine: CI's share stays bounded


@pytest.mark.timeout(420)
def test_the_daemon_killed_anywhere_charges_once_prints_once_and_leaves_nothing_in_doubt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = seed_from_env()
    points = int(os.environ.get(POINTS_ENV) or 80)
    # run() audits after every point and raises CrashFailure (naming the seed and the
    # point) on the first broken invariant; what follows is about the run itself.
    result = harness.run(seed, points, tmp_path, out=lambda _line: None, seconds=SECONDS)
    with capsys.disabled():
        print("\n" + "\n".join(result.lines))
    counts = result.counts
    where = f"seed {seed}"
    assert counts["state in_doubt"] == 0 and counts["state needs_review"] == 0, where
    assert counts["state pending"] == 0 and counts["state sent"] == 0, where
    assert counts["approved txns on paper"] == counts["state approved"], where
    if counts["points"] < 60:
        return  # too few points to insist on what a run must have met
    ran = counts["points"]
    assert counts["daemon killed"] >= ran * 0.6, f"{where}: only {counts['daemon killed']} kills"
    assert counts["daemon killed in its restart"] > 0, f"{where}: no restart was killed"
    assert counts["daemon killed from outside"] > 0, f"{where}: no kill from outside"
    assert counts["retries answered with the first operation"] > 0, f"{where}: no retry"
    assert counts["recovery in_doubt->approved"] > 0, f"{where}: no charge resolved approved"
    assert counts["recovery in_doubt->declined"] > 0, f"{where}: nothing resolved declined"
    assert counts["continuation prints"] > 0, f"{where}: no print was cut off and redone"
    for kind in ("sale", "refund", "reversal"):
        assert counts[f"{kind} approved"] > 0, f"{where}: no {kind} approved"
    assert counts["reprints printed"] > 0, f"{where}: no reprint"
