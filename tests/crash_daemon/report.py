"""The daemon run's counts, as printed at the end of it (the CLI harness's RunResult)."""

from __future__ import annotations

from collections import Counter

from tests.crash.report import RunResult
from tests.crash_daemon.plan import INSTANTS


def summary(result: RunResult) -> list[str]:
    c = result.counts

    def get(name: str) -> int:
        return c.get(name, 0)

    families: Counter[str] = Counter()
    instants: Counter[str] = Counter()
    for event, n in result.kills_by_event.items():
        families[event.split("(", 1)[0]] += n
        for name, (starts, cut) in INSTANTS.items():
            if cut:
                starts = tuple(s.replace("-send", "-cut") for s in starts)
            if event.startswith(starts):
                instants[name] += n
    moments = {(what, event) for what, event, _ in result.distinct}
    kills = get("daemon killed")
    return [
        f"daemon crash harness: seed {result.seed}: {get('points')} points in "
        f"{result.seconds:.1f} s",
        f"  points run             {get('points')} (sales {get('points sale')}, refunds "
        f"{get('points refund')}, reversals {get('points reversal')}, reprints "
        f"{get('points reprint')})",
        f"  distinct points        {result.distinct_points} (operation, moment, K); "
        f"{len(moments)} distinct (operation, moment)",
        f"  kills                  {kills}: in the request {get('daemon killed in its request')}"
        f", in a restart {get('daemon killed in its restart')}, from outside "
        f"{get('daemon killed from outside')}; measuring runs {get('measuring runs')}",
        "  kills at the instants  " + ", ".join(f"{k} {instants[k]}" for k in INSTANTS),
        "  kills by moment        "
        + ", ".join(f"{name} {n}" for name, n in families.most_common()),
        f"  sent again after a crash {get('requests sent again after a crash')}: answered with "
        f"the first operation {get('retries answered with the first operation')}, started "
        f"then (first never journaled) "
        f"{get('retries that started it (the first never journaled)')}, reprints "
        f"{get('reprints sent again (a copy more, as documented)')}",
        f"  sales                  approved {get('sale approved')}, declined "
        f"{get('sale declined')}, aborted {get('sale aborted')}",
        f"  refunds                approved {get('refund approved')}, declined "
        f"{get('refund declined')}, aborted {get('refund aborted')}",
        f"  reversals              approved {get('reversal approved')}, aborted "
        f"{get('reversal aborted')}, refused {get('reversal refused 409')}",
        f"  resolved from in doubt approved {get('recovery in_doubt->approved')}, declined "
        f"{get('recovery in_doubt->declined')}; aborted by recovery (no terminal chosen) "
        f"{get('recovery pending->aborted')}; waits on one in doubt "
        f"{get('waits on an operation in doubt')}",
        f"  left                   in doubt {get('state in_doubt')}, needs review "
        f"{get('state needs_review')}, pending {get('state pending')}, sent "
        f"{get('state sent')}",
        f"  keys                   {get('keys sent')} sent, each one operation, none charged twice",
        f"  paper                  {get('approved txns on paper')} approved txns on paper "
        f"({get('receipts cut')} receipts cut; continuations {get('continuations on paper')}, "
        f"duplicates {get('duplicates on paper')}); print jobs cut off and redone "
        f"{get('continuation prints')}; reprints printed {get('reprints printed')}",
        f"  daemon                 {get('daemon starts')} starts ({get('restarts')} after a "
        f"kill), slowest restart to listening {get('slowest restart ms')} ms; paper rolls "
        f"changed {get('paper rolls changed')}",
        f"  emulator               links lost {get('emulator links_lost')}, sessions ended "
        f"early {get('emulator sessions_ended_early')}, auto-reversals "
        f"{get('emulator auto_reversals')}",
    ]
