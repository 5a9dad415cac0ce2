"""The crash promise, tested the hard way: the driver is SIGKILLed at a couple of hundred
random points of sales, refunds and receipt printing against the emulated terminal and
printer (real processes, real sockets, a real journal file), restarted each time, and
the journal is held to the terminal's ledger after every point (see harness.py and the
modules it names).

The seed is ``POSDRIVER_CRASH_SEED`` (a number, or ``random``) or a fixed default; the
counts are printed at the end, and the seed is named in every failure, so a failing run replays with
``python -m tests.crash.harness --seed S --points N``. ``POSDRIVER_CRASH_POINTS`` sets
how many points (default 200, about 45 s), ``POSDRIVER_CRASH_LINK=pty`` puts the
devices on pseudo-terminals (serial framing) instead of TCP.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.crash import harness


@pytest.mark.timeout(900)
def test_sigkill_anywhere_loses_no_charge_and_no_receipt_and_charges_nothing_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = harness.seed_from_env()
    points = int(os.environ.get(harness.POINTS_ENV) or 200)
    link = os.environ.get(harness.LINK_ENV) or "tcp"
    # run() audits after every point and raises CrashFailure (naming the seed and the
    # point) on the first broken invariant; what follows is about the run itself.
    result = harness.run(seed, points, tmp_path, link=link)
    with capsys.disabled():
        print("\n" + "\n".join(harness.summary(result)))
    counts = result.counts
    where = f"seed {seed}"
    assert counts["state in_doubt"] == 0 and counts["state needs_review"] == 0, where
    assert counts["approved txns on paper"] == counts["state approved"], where
    if points < 100:
        return  # too few points to insist on what a run must have met
    kills = counts["driver killed"] + counts["recovery killed"]
    assert kills >= points * 0.6, f"{where}: only {kills} kills in {points} points"
    assert result.distinct_points >= min(points * 0.4, 120), f"{where}: few distinct points"
    assert counts["recovery killed"] > 0, f"{where}: no restart was killed"
    # the run must have met the cases that matter, not only kills before the first byte
    assert counts["recovery in_doubt->approved"] > 0, f"{where}: no charge resolved approved"
    assert counts["recovery in_doubt->declined"] > 0, f"{where}: nothing resolved declined"
    assert counts["continuation prints"] > 0, f"{where}: no print was cut off and redone"
    assert counts["sale approved"] > 0 and counts["refund approved"] > 0, where
