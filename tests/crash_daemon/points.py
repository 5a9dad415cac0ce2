"""Running the daemon's points: the front desk's request sent (and sent again with the
same key after every crash), the operation followed to its end and its receipt to the
paper, the daemon started again whenever it died (some restarts killed too), then the
CLI harness's audit of the journal against the terminal's ledger, and the keys'.

The first broken invariant stops the run with a :class:`CrashFailure` naming the seed
and the point, as the CLI harness does.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from posdriver.journal.journal import JOURNAL_FILE
from tests.crash.audit import audit
from tests.crash.points import CrashFailure, change_roll, situation
from tests.crash_daemon import audit as desk_audit
from tests.crash_daemon.daemon import DaemonProcess
from tests.crash_daemon.desk import Lost, call
from tests.crash_daemon.plan import Plan, Planner
from tests.support.emulators import Devices, control

RESTART_KILL_SHARE = 0.3  # of restarts with work to do that are killed too
MAX_RESTARTS = 8  # daemon starts within one point before it counts as broken
SETTLE_SECONDS = 90.0  # an operation and its receipts end within this (the reconciler's 30 s)
NEEDS_PERSON = ("in_doubt", "needs_review")


class DaemonHarness:
    """Runs the points against one emulator process, one daemon at a time, one journal."""

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
        self.daemon = DaemonProcess(workdir, devices)
        self.journal_path = self.daemon.state / JOURNAL_FILE
        self.planner = Planner(seed)
        self.counts: Counter[str] = Counter()
        self.distinct: set[tuple[str, str, int]] = set()
        self.kills_by_event: Counter[str] = Counter()
        self.history: list[str] = []
        self.verified: set[int] = set()
        self.answered: dict[str, set[int]] = {}
        self.offset = 0
        self.outside = threading.Event()  # the timer fired: the next death was ours
        self.slowest_restart = 0.0
        # the point being run
        self._restarts = 0
        self._restart_measure: tuple[str, int] | None = None
        self._lost_following = False

    # -- the run ---------------------------------------------------------------------------
    def begin(self) -> None:
        self.daemon.start_unarmed()
        if not self.daemon.api:
            raise CrashFailure(f"the daemon did not start; see {self.daemon.log_path}")

    def end(self) -> None:
        self.daemon.stop()

    def run_point(self, index: int) -> None:
        plan = self.planner.plan(index, self.journal_path)
        if change_roll(self.devices):
            self.counts["paper rolls changed"] += 1
        self.counts["points"] += 1
        self.counts[f"points {plan.kind}"] += 1
        self.history.append(plan.describe())
        self._restarts = 0
        self._restart_measure = None
        self._lost_following = False
        kill_at = None
        if plan.how == "hook":
            kill_at = self.planner.aimed(plan) or self.planner.draw(plan.variant, plan.roll)
        delay = self.planner.delay(plan.variant, plan.roll) if plan.how == "outside" else None
        measuring = plan.how != "none" and kill_at is None and delay is None
        self.daemon.set_plan(index, kill_at, plan.split)
        self.history[-1] += (
            f", kill at moment {kill_at}" + (f" ({plan.aim})" if plan.aim else "")
            if kill_at
            else f", killed from outside after {delay:.3f} s"
            if delay is not None
            else " (measuring run)"
            if measuring
            else ", no kill"
        )
        self.offset = self.daemon.events(self.offset)[1]
        if not self.daemon.alive():  # its last restart was killed after its point
            self._restart(plan)
        start_offset = self.offset
        if plan.card != "visa":
            control(self.devices.terminal_control + "/card", {"card": plan.card})
        timer = threading.Timer(delay, self._kill_from_outside) if delay is not None else None
        started = time.monotonic()
        kills_before = self.counts["daemon killed"]
        try:
            if timer is not None:
                timer.start()
            self._serve(plan)
        finally:
            if timer is not None:
                timer.cancel()
            if plan.card != "visa":
                control(self.devices.terminal_control + "/card", {"card": "visa"})
        self.daemon.set_plan(index, None, None, done=True)  # counting stops here
        if measuring and self.counts["daemon killed"] == kills_before:
            self._measure(plan, start_offset, time.monotonic() - started)
        if self._restart_measure is not None:
            what, offset = self._restart_measure
            lines = [e for e in self.daemon.events(offset)[0] if e.get("at") == "start"]
            if lines:
                self.planner.spans.setdefault(what, max(e["n"] for e in lines))
        self._audit(plan)
        if self.verbose:
            first = max(i for i, line in enumerate(self.history) if not line.startswith("  "))
            for line in self.history[first:]:
                self.out(f"  {line}")

    def _measure(self, plan: Plan, offset: int, seconds: float) -> None:
        lines = [e for e in self.daemon.events(offset)[0] if e.get("at") == plan.index]
        if lines and plan.variant not in self.planner.spans:
            self.planner.spans[plan.variant] = max(e["n"] for e in lines)
            self.planner.seconds[plan.variant] = seconds
            self.planner.traces[plan.variant] = [e["event"] for e in lines]
            self.counts["measuring runs"] += 1
            if self.verbose:
                self.out(f"  measured '{plan.variant}': {len(lines)} moments, {seconds:.2f} s")
                self.out("    " + ", ".join(e["event"] for e in lines))

    # -- the front desk ------------------------------------------------------------------
    def _serve(self, plan: Plan) -> None:
        if plan.kind == "reprint":
            assert plan.txn is not None
            status, body = self._send(plan, f"/v1/operations/{plan.txn}/reprint", plan.body())
            if status != 202:
                self._fail(plan, [f"the reprint was answered {status}: {body}"])
            job_id = int(body["job"]["id"])
            self._await(plan, lambda: self._job_done(plan, job_id), "the reprint printed")
            return
        status, body = self._send(plan, "/v1/operations", plan.body(), key=plan.key)
        if status not in (200, 202):
            if status == 409 and "idempotency key" in str(body.get("error")):
                self._fail(plan, [f"the retry was refused: {body}"])
            self.counts[f"{plan.kind} refused {status}"] += 1
            self.history[-1] += f" -> refused {status}: {body.get('error')}"
            return
        op_id = int(body["operation"]["id"])
        self.answered.setdefault(plan.key, set()).add(op_id)
        self._await(plan, lambda: self._settled(plan, op_id), "the operation and its receipts")

    def _resend(self, plan: Plan) -> None:
        """The desk lost its follow-up to a crash and sends the request again with its
        key, as it would had it lost the first answer: the same operation comes back."""
        self._lost_following = False
        status, body = self._send(plan, "/v1/operations", plan.body(), key=plan.key)
        self.counts["requests sent again after a crash"] += 1
        self._count_retry(plan, status, body)
        if status in (200, 202):
            self.answered.setdefault(plan.key, set()).add(int(body["operation"]["id"]))
        else:
            self._fail(plan, [f"the request sent again was answered {status}: {body}"])

    def _send(
        self, plan: Plan, path: str, body: dict[str, Any], key: str | None = None
    ) -> tuple[int, Any]:
        """POST, and after every crash the same POST again with the same key."""
        attempt = 0
        while True:
            try:
                status, answer = call(self.daemon.api + path, body, key)
            except Lost:
                self._crashed(plan)
                attempt += 1
                continue
            if attempt:
                self.counts["requests sent again after a crash"] += 1
                self._count_retry(plan, status, answer)
            if status == 200 and key is not None and not answer.get("repeated"):
                self._fail(plan, [f"200 without repeated: {answer}"])
            return status, answer

    def _count_retry(self, plan: Plan, status: int, answer: Any) -> None:
        if plan.kind == "reprint":
            self.counts["reprints sent again (a copy more, as documented)"] += 1
        elif status == 200 and answer.get("repeated"):
            self.counts["retries answered with the first operation"] += 1
        elif status == 202:
            self.counts["retries that started it (the first never journaled)"] += 1

    def _get(self, plan: Plan, path: str) -> Any:
        while True:
            try:
                status, answer = call(self.daemon.api + path)
            except Lost:
                self._crashed(plan)
                self._lost_following = True
                continue
            if status != 200:
                self._fail(plan, [f"GET {path} answered {status}: {answer}"])
            return answer

    def _settled(self, plan: Plan, op_id: int) -> bool:
        answer = self._get(plan, f"/v1/operations/{op_id}?wait=20")
        if self._lost_following and plan.resend:
            self._resend(plan)
            return False
        op = answer["operation"]
        if not answer["final"]:
            if op["state"] in NEEDS_PERSON:
                self.counts["waits on an operation in doubt"] += 1
            return False
        jobs = answer["print_jobs"]
        if all(j["state"] in ("done", "cancelled") for j in jobs):
            self.history[-1] += f" -> id:{op_id} {op['state']}"
            self.counts[f"answered {plan.kind} {op['state']}"] += 1
            return True
        time.sleep(0.05)  # the receipt prints a moment after the money part settles
        return False

    def _job_done(self, plan: Plan, job_id: int) -> bool:
        if self._get(plan, f"/v1/print-jobs/{job_id}")["state"] in ("done", "cancelled"):
            self.history[-1] += f" -> job {job_id} printed"
            self.counts["reprints printed"] += 1
            return True
        time.sleep(0.05)
        return False

    def _await(self, plan: Plan, done: Callable[[], bool], what: str) -> None:
        end = time.monotonic() + SETTLE_SECONDS
        while not done():
            if time.monotonic() > end:
                self._fail(plan, [f"{what}: not settled within {SETTLE_SECONDS:g} s"])

    # -- crashes -----------------------------------------------------------------------------
    def _kill_from_outside(self) -> None:
        self.outside.set()
        self.daemon.kill()

    def _crashed(self, plan: Plan) -> None:
        """The answer was lost: the daemon must be dead (killed); learn where, restart."""
        code = self.daemon.exited(timeout=15)
        if code is None:
            self._fail(plan, ["an answer was lost but the daemon is still running"])
        lines, self.offset = self.daemon.events(self.offset)
        killed = [e["killed"] for e in lines if "killed" in e]
        if killed:
            event, k = killed[-1]["event"], killed[-1]["k"]
            where = "restart" if self._restarts else "request"
            self.distinct.add((plan.variant if where == "request" else "restart", event, k))
            self.kills_by_event[event] += 1
            self.counts[f"daemon killed in its {where}"] += 1
            self.history[-1] += f" -> killed at {k}: {event}"
        elif self.outside.is_set():
            self.counts["daemon killed from outside"] += 1
            self.history[-1] += " -> killed from outside"
        else:
            self._fail(plan, [f"the daemon exited by itself ({code}); see {self.daemon.log_path}"])
        self.outside.clear()
        if code != -9:
            self._fail(plan, [f"the daemon was killed but exited {code}"])
        self.counts["daemon killed"] += 1
        self._restart(plan)

    def _restart(self, plan: Plan) -> None:
        self._restarts += 1
        if self._restarts > MAX_RESTARTS:
            self._fail(plan, [f"{MAX_RESTARTS} daemon starts in one point"])
        what = situation(self.journal_path) or "start with nothing to do"
        kill_at = None
        if self._restarts == 1 and plan.restart_roll < RESTART_KILL_SHARE:
            kill_at = self.planner.draw(what, plan.restart_k_roll)
        offset = self.daemon.events(self.offset)[1]
        started = time.monotonic()
        self.daemon.start(kill_at, plan.split)  # a kill may fall before it listens:
        self.counts["restarts"] += 1  # the desk's next call finds it gone (_crashed)
        self.slowest_restart = max(self.slowest_restart, time.monotonic() - started)
        self.history.append(f"  restart ({what})" + (f", kill at {kill_at}" if kill_at else ""))
        if kill_at is None and what not in self.planner.spans:
            self._restart_measure = (what, offset)

    # -- the audit -----------------------------------------------------------------------------
    def _audit(self, plan: Plan) -> None:
        ledger = control(self.devices.terminal_control + "/ledger")
        found = audit(self.journal_path, ledger, verified=self.verified)
        problems = found.problems
        desk_audit.keys(self.journal_path, self.answered, Counter(), problems)
        if problems:
            self._fail(plan, problems)

    def final_audit(self) -> Counter[str]:
        ledger = control(self.devices.terminal_control + "/ledger")
        paper = [r["text"] for r in control(self.devices.printer_control + "/receipts")]
        found = audit(self.journal_path, ledger, paper)
        desk_audit.keys(self.journal_path, self.answered, found.counts, found.problems)
        desk_audit.paper_once(self.journal_path, paper, found.counts, found.problems)
        if found.problems:
            last = self.history[-1] if self.history else "(no point)"
            message = "\n".join(
                [
                    f"daemon crash harness: final audit failed with seed {self.seed} after {last}",
                    *(f"  - {p}" for p in found.problems),
                ]
            )
            self.out(message)
            raise CrashFailure(message)
        return found.counts

    def _fail(self, plan: Plan, problems: list[str]) -> NoReturn:
        starts = [i for i, line in enumerate(self.history) if not line.startswith("  ")]
        here = starts[-1] if starts else len(self.history)
        at = self.history[here:] or [plan.describe()]
        before = self.history[starts[-2]] if len(starts) > 1 else "(none)"
        message = "\n".join(
            [
                f"daemon crash harness: invariant broken with seed {self.seed} "
                f"(rerun: python -m tests.crash_daemon.harness --seed {self.seed} "
                f"--points {plan.index + 1})",
                f"  at     {at[0]}",
                *(f"       {line}" for line in at[1:]),
                f"  before {before}",
                *(f"  - {p}" for p in problems),
                f"  journal {self.journal_path}; logs {self.daemon.log_path}, "
                f"{self.workdir / 'emulator.log'}",
            ]
        )
        self.out(message)
        raise CrashFailure(message)
