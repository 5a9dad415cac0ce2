"""What a run found, and its summary as printed at the end of it."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STILL_BUSY = "terminal still in the killed run's command"


@dataclass
class RunResult:
    seed: int
    points: int
    seconds: float
    workdir: Path
    counts: Counter[str]
    distinct: set[tuple[str, str, int]]
    kills_by_event: Counter[str]
    lines: list[str]

    @property
    def distinct_points(self) -> int:
        return len(self.distinct)


# the emulated terminal's counters a run's counts carry (its control API's /state)
EMULATOR_COUNTERS = ("links_lost", "sessions_ended_early", "auto_reversals", "stale_apdus_dropped")


def finish(
    seed: int,
    points: int,
    started: float,
    workdir: Path,
    counts: Counter[str],
    harness: Any,
    terminal: dict[str, Any],
    summarize: Callable[[RunResult], list[str]],
    out: Callable[[str], None],
) -> RunResult:
    """A run's result, with the emulated terminal's counters, its summary printed last:
    the end of both crash harnesses' runs (the CLI's and the daemon's). ``harness`` has
    the ``distinct`` points and ``kills_by_event`` of the run; ``started`` is monotonic."""
    for name in EMULATOR_COUNTERS:
        counts[f"emulator {name}"] = int(terminal.get(name, 0))
    result = RunResult(
        seed=seed,
        points=points,
        seconds=time.monotonic() - started,
        workdir=workdir,
        counts=counts,
        distinct=harness.distinct,
        kills_by_event=harness.kills_by_event,
        lines=[],
    )
    result.lines = summarize(result)
    for line in result.lines:
        out(line)
    return result


def summary(result: RunResult) -> list[str]:
    """The counts, as printed at the end of a run."""
    c = result.counts

    def get(name: str) -> int:
        return c.get(name, 0)

    def listing(prefix: str) -> str:
        found = [(k[len(prefix) :], n) for k, n in sorted(c.items()) if k.startswith(prefix)]
        return ", ".join(f"{name} {n}" for name, n in found if n) or "none"

    families: Counter[str] = Counter()
    for event, n in result.kills_by_event.items():
        families[event.split("(", 1)[0]] += n
    moments = {(what, event) for what, event, _ in result.distinct}
    return [
        f"crash harness: seed {result.seed}: {get('points')} points in {result.seconds:.1f} s",
        f"  points run             {get('points')} (sales {get('points sale')}, refunds "
        f"{get('points refund')})",
        f"  distinct points        {result.distinct_points} (operation, event, K); "
        f"{len(moments)} distinct (operation, event)",
        f"  kills                  {get('driver killed') + get('recovery killed')}: driver "
        f"{get('driver killed')}, restart {get('recovery killed')}; ran past K "
        f"{get('ran past K (no kill)')}; measuring runs {get('measuring runs')}",
        "  kills by event         "
        + ", ".join(f"{name} {n}" for name, n in families.most_common()),
        f"  sales approved         {get('sale approved')} (declined {get('sale declined')}, "
        f"aborted {get('sale aborted')})",
        f"  refunds approved       {get('refund approved')} (declined "
        f"{get('refund declined')}, aborted {get('refund aborted')})",
        f"  resolved from in doubt approved {get('recovery in_doubt->approved')}, declined "
        f"{get('recovery in_doubt->declined')}; aborted by recovery (no terminal chosen) "
        f"{get('recovery pending->aborted')}",
        f"  in doubt               {get('state in_doubt')}; needs review "
        f"{get('state needs_review')}",
        f"  receipts printed       {get('receipts printed')} print jobs done (continuation "
        f"prints {get('continuation prints')}); approved txns found on paper "
        f"{get('approved txns on paper')} ({get('receipts cut')} receipts cut)",
        f"  terminal ledger        {listing('ledger ')}; entries no txn claims "
        f"{get('ledger entries no txn claims')}",
        f"  restarts               {get('restarts')} (had to run again "
        f"{get('restarts that had to run again')}); paper rolls changed "
        f"{get('paper rolls changed')}; repeat-receipt retries "
        f"{get('repeat-receipt retries')}; slowest recovery {get('slowest recovery ms')} ms",
        f"  emulator               terminal still in the killed run's command at restart "
        f"{get(STILL_BUSY)}; links lost "
        f"{get('emulator links_lost')}, sessions ended early "
        f"{get('emulator sessions_ended_early')}, auto-reversals "
        f"{get('emulator auto_reversals')}",
    ]
