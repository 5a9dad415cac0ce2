"""Running the points: one driver run per point, killed at its K (or measured to the end),
then as many restarts as its leftovers need (some of them killed too: recovery is
crash-safe or it is nothing), then the audit. The first broken invariant stops the run
with a :class:`CrashFailure` that names the seed, the point and the one before it.

The front desk's part is played between runs: the emulated terminal is given the card
the point wants, and the printer a new roll when its near-end sensor says so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from posdriver.journal import Journal, State, open_journal
from posdriver.journal.journal import JOURNAL_FILE
from tests.crash.audit import Audit, audit
from tests.crash.fork import ChildResult, fork_child
from tests.crash.plan import Plan, Planner, refundable
from tests.crash.report import STILL_BUSY
from tests.crash.runs import build_config, config_for, driver_run, register_run, restart_run
from tests.support.emulators import Devices, control

RECOVERY_KILL_SHARE = 0.4  # of restarts with work to do that are killed too
MAX_RESTARTS = 3  # restarts after one point before its leftovers count as broken


def situation(journal_path: Path) -> str | None:
    """What a restart will find to do, or None when there is nothing."""
    journal = Journal(journal_path)
    try:
        unresolved = journal.unresolved()
        jobs = journal.open_jobs()
    finally:
        journal.close()
    if unresolved:
        op = unresolved[0]
        what = f"recover a {op.kind.value} left {op.state.value}"
        if op.state is State.PENDING and op.terminal is None:
            what += " before any terminal"
        return what
    if jobs:
        return f"print a job left {jobs[0].state}"
    return None


def change_roll(devices: Devices) -> bool:
    """Change the roll when the near-end sensor says so, as the front desk would (a
    long run prints more than one emulated roll). Only between runs: nothing prints
    then, so no receipt is cut short by the change. True when it was changed."""
    state = control(devices.printer_control + "/state")
    if state["paper"]["state"] == "ok":
        return False
    for active in (True, False):  # paper out, then a new roll loaded
        control(devices.printer_control + "/faults", {"fault": "paper_out", "active": active})
    return True


class CrashFailure(AssertionError):
    """An invariant broke (or a child failed); the message names the seed and the point."""


class Harness:
    """Runs the points against one emulator process and one journal."""

    def __init__(
        self,
        seed: int,
        workdir: Path,
        devices: Devices,
        out: Callable[[str], None] = print,
        verbose: bool = False,
    ) -> None:
        self.seed = seed
        self.workdir = workdir
        self.devices = devices
        self.out = out
        self.verbose = verbose
        self.log_path = workdir / "children.log"
        config_file = workdir / "posdriver.toml"
        config_file.write_text("# the crash harness: defaults, devices from flags\n")
        self.config = build_config(config_file, workdir / "state", devices)
        open_journal(self.config.state_dir).close()  # created (and migrated) once, here
        self.journal_path = Path(self.config.state_dir) / JOURNAL_FILE
        self.planner = Planner(seed)
        self.counts: Counter[str] = Counter()
        self.distinct: set[tuple[str, str, int]] = set()
        self.kills_by_event: Counter[str] = Counter()
        self.history: list[str] = []
        self.verified: set[int] = set()  # approved txns whose receipts were found printed
        self.card = "visa"

    def register(self) -> None:
        """Log the till on to the terminal once, before the points: otherwise the first
        measured sale carries the registration's events and K is drawn over too many."""
        result = fork_child(lambda: register_run(self.config), None, self.devices, self.log_path)
        failure = result.failure()
        if failure:
            raise CrashFailure(f"crash harness: registering with the terminal failed:\n{failure}")

    # -- between points ----------------------------------------------------------------
    def _situation(self) -> str | None:
        return situation(self.journal_path)

    def _paper(self) -> None:
        if change_roll(self.devices):
            self.counts["paper rolls changed"] += 1

    def _set_card(self, card: str) -> None:
        if card != self.card:
            control(self.devices.terminal_control + "/card", {"card": card})
            self.card = card

    # -- running a point ----------------------------------------------------------------
    def run_point(self, index: int) -> None:
        plan = self.planner.plan(index, lambda: refundable(self.journal_path))
        self._paper()
        self.counts["points"] += 1
        self.counts[f"points {plan.kind}"] += 1
        self._set_card(plan.card)
        try:
            result = fork_child(
                lambda: driver_run(self.config, plan), plan.kill_at, self.devices, self.log_path
            )
        finally:
            self._set_card("visa")
        self.history.append(plan.describe())
        self._check_child(result, plan, "the driver run")
        if result.killed is not None:
            self._killed(plan.variant, result.killed)
            self.counts["driver killed"] += 1
            phase = control(self.devices.terminal_control + "/state").get("phase")
            if phase != "idle":
                self.counts[STILL_BUSY] += 1
        else:
            assert result.done is not None
            self._finished(plan, result.done)
        situation = self._situation()
        if situation is not None:
            self._restart(plan, situation)
        ledger = control(self.devices.terminal_control + "/ledger")
        found = audit(self.journal_path, ledger, verified=self.verified)
        if found.problems:
            self._fail(plan, found.problems)
        if self.verbose:
            self.out(f"  {self.history[-1]}")

    def _finished(self, plan: Plan, done: dict[str, Any]) -> None:
        state = done.get("state")
        self.history[-1] += f" -> ran to the end: {state}"
        if plan.kill_at is not None:
            self.counts["ran past K (no kill)"] += 1
            return
        self.counts["measuring runs"] += 1
        if state == plan.expected and plan.variant not in self.planner.spans:
            self.planner.spans[plan.variant] = done["events"]
            if self.verbose:
                self.out(f"  measured '{plan.variant}': {done['events']} events")
                self.out("    " + ", ".join(done["trace"]))

    def _killed(self, what: str, killed: dict[str, Any]) -> None:
        event = killed["event"]
        self.distinct.add((what, event, killed["k"]))
        self.kills_by_event[event] += 1
        self.history[-1] += f" -> killed at {killed['k']}: {event}"

    def _restart(self, plan: Plan, situation: str) -> None:
        kill_at = None
        if plan.recovery_roll < RECOVERY_KILL_SHARE:
            kill_at = self.planner.draw(situation, plan.recovery_k_roll)
        config = config_for(self.config, plan.merchant_copy)
        if kill_at is not None:
            result = fork_child(lambda: restart_run(config), kill_at, self.devices, self.log_path)
            self.history.append(f"  restart ({situation}), kill at event {kill_at}")
            self._check_child(result, plan, "the restart that was to be killed")
            if result.killed is not None:
                self._killed(situation, result.killed)
                self.counts["recovery killed"] += 1
            else:
                self.history[-1] += " -> ran to the end"
                self.counts["ran past K (no kill)"] += 1
        for attempt in range(1, MAX_RESTARTS + 1):
            result = fork_child(lambda: restart_run(config), None, self.devices, self.log_path)
            self._check_child(result, plan, "the restart")
            done = result.done or {}
            self.counts["restarts"] += 1
            self.counts["repeat-receipt retries"] += done.get("retries", 0)
            self.counts["slowest recovery ms"] = max(
                self.counts["slowest recovery ms"], int(done.get("recovery_seconds", 0) * 1000)
            )
            if kill_at is None and attempt == 1:
                self.planner.spans.setdefault(situation, done["events"])
            if not (done.get("still_in_doubt") or done.get("waiting")):
                return
            self.counts["restarts that had to run again"] += 1
            self._paper()
            self.out(
                f"  {plan.describe()}: restart {attempt} left work: "
                f"in doubt {done.get('still_in_doubt')}, waiting {done.get('waiting')}"
            )

    def _check_child(self, result: ChildResult, plan: Plan, what: str) -> None:
        failure = result.failure()
        if failure:
            self._fail(plan, [f"{what} failed:\n{failure}"])

    def _fail(self, plan: Plan, problems: list[str]) -> NoReturn:
        starts = [i for i, line in enumerate(self.history) if not line.startswith("  ")]
        here = starts[-1] if starts else len(self.history)
        at = self.history[here:] or [plan.describe()]
        before = self.history[starts[-2]] if len(starts) > 1 else "(none)"
        message = "\n".join(
            [
                f"crash harness: invariant broken with seed {self.seed} "
                f"(rerun: python -m tests.crash.harness --seed {self.seed} "
                f"--points {plan.index + 1})",
                f"  at     {at[0]}",
                *(f"       {line}" for line in at[1:]),
                f"  before {before}",
                *(f"  - {p}" for p in problems),
                f"  journal {self.journal_path}; logs {self.log_path}, "
                f"{self.workdir / 'emulator.log'}",
            ]
        )
        self.out(message)
        raise CrashFailure(message)

    # -- the end ----------------------------------------------------------------------------
    def final_audit(self) -> Audit:
        ledger = control(self.devices.terminal_control + "/ledger")
        paper = [r["text"] for r in control(self.devices.printer_control + "/receipts")]
        found = audit(self.journal_path, ledger, paper)
        if found.problems:
            last = self.history[-1] if self.history else "(no point)"
            message = "\n".join(
                [
                    f"crash harness: final audit failed with seed {self.seed} after {last}",
                    *(f"  - {p}" for p in found.problems),
                ]
            )
            self.out(message)
            raise CrashFailure(message)
        return found
