"""The fault matrix as CI runs it: one pair for each fault of the printer and of the
terminal (fourteen pairs, every fault tried once), a few operations under each. The long
form crosses every pair over 10,000 operations::

    python -m tests.reliability.fault_matrix --operations 10000 --seed 7
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.reliability.fault_matrix import run, summary
from tests.reliability.faults import PRINTER_FAULTS, TERMINAL_FAULTS

SEED = int(os.environ.get("POSDRIVER_MATRIX_SEED", "11"))


# Fourteen pairs, each held for its dwell and waited out to its clearing: about 90 s on
# an idle 2-core machine, more beside other work. Every call in it has its own deadline
# (a hang fails there, named); the suite-wide 120 s would only cut a slow machine short.
@pytest.mark.timeout(400)
def test_each_fault_under_operations_shows_clears_and_loses_nothing(tmp_path: Path) -> None:
    result = run(40, SEED, tmp_path, every=False, share=3, max_dwell=5.0)
    report = "\n".join(summary(result))
    assert not result.problems, report
    tried = {p.printer for p in result.pairs} | {p.terminal for p in result.pairs}
    assert tried >= {f.name for f in PRINTER_FAULTS + TERMINAL_FAULTS}, report
    assert result.outcomes["sale approved"] >= len(result.pairs), report  # one after each
