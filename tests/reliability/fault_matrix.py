"""The fault matrix: every printer fault crossed with every terminal fault, each pair
switched on in the middle of an operation while sales, refunds and reprints go through
the daemon's API, and held to what ops and the front desk are promised.

The emulated printer and terminal are ``posdriver-emulator`` processes of their own on
pseudo-terminals (the printer with a roll long enough for the run, so only the faults
put in make it run out), and ``posdriver serve --config`` drives them, with its
intervals at their shortest (``SERVICE``). One client thread runs operations one after
another all the time, as the front-desk software makes them; the matrix, in this
thread, takes the pairs in a seeded order. For each pair:

1. it waits for an operation to be in flight and switches both faults on;
2. each fault must show in /metrics within its time (faults.py says how each one
   shows), and ``posdriver check`` must call each device with an alarming fault not ok;
3. operations go on under the pair for their share of the run;
4. both faults are switched off: every check of both devices must be ok again, both
   devices up, and ``posdriver check`` exit 0, within ``CLEAR_WITHIN`` seconds;
5. the fault record of the pair's time is read: each check's incidents must be changes
   (never the same status written twice in a row, which is what writing on every poll
   looks like), at most ``INCIDENTS_PER_CHECK`` of them per check and pair, and the
   spooler's "cannot print" incidents no more than one per blocked retry interval.

Always: the daemon is running (its process never exits), and every API call answers
within its documented deadline (``DEADLINES``). At the end the journal is held to the
terminal's ledger by the crash harness's audit: every charge and refund that stands on
the terminal is exactly one APPROVED operation, nothing APPROVED that the terminal does
not have, nothing left in doubt, every receipt printed.

CI runs a pair for each fault (fourteen) with a few hundred operations
(test_fault_matrix.py). The long form takes every pair, round after round, until the
operations are done::

    python -m tests.reliability.fault_matrix --operations 10000 --seed 7
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.crash.audit import audit
from tests.reliability.faults import (
    PRINTER,
    PRINTER_FAULTS,
    TERMINAL,
    TERMINAL_FAULTS,
    Fault,
    Look,
    missing,
)
from tests.support.emulators import REPO_ROOT, control
from tests.support.served import serve_process

# Every interval at its shortest, one try per check so a silent device shows after one.
SERVICE = """\
[service]
poll_interval = 0.2
terminal_poll_interval = 1.0
connectivity_interval = 10.0
connectivity_retry_interval = 10.0
freshness = 1.0
check_attempts = 1
reconnect_max = 1.0
"""
ROLL_MM = 10_000_000  # 10 km of paper: no roll runs out by itself during a run
WAIT = 20  # the ?wait= of each GET of an operation
SETTLE_WITHIN = 120.0  # an operation is final (or in doubt) within this, faults or not
CLEAR_WITHIN = 40.0  # every check ok again after both faults are off
MAX_DWELL = 30.0  # a pair stays on at most this long, whatever its share of operations
SLOW_HOST_SECONDS = 1.0
INCIDENTS_PER_CHECK = 4  # per check and pair: on, a worse status, recovered, and one spare
SPOOL_RETRY = 30.0  # the spooler retries a blocked printer this seldom (spooling.py)
# Beyond each documented deadline, for a loaded 2-core machine.
TOLERANCE = 2.0
# Each call and its deadline from docs/api.md (and docs/cli.md for posdriver check):
DEADLINES = {
    # "answers as soon as it is in the journal": it never waits on a device
    "POST /v1/operations": 0.0,
    # ?wait=SECONDS: "until the operation is final ... or the time is up"
    "GET /v1/operations/{id}?wait=20": float(WAIT),
    # the reprint is queued, not printed: journal work only
    "POST /v1/operations/{id}/reprint": 0.0,
    # "nothing here waits on a device: the answer is a copy of what the workers keep"
    "GET /v1/devices": 0.0,
    # ?refresh=status: "answers once they are done or after 10 s"
    "GET /v1/health?refresh=status": 10.0,
    "GET /v1/incidents": 0.0,
    "GET /v1/pending": 0.0,
    "GET /metrics": 0.0,
    # posdriver check asks /v1/health?refresh=status
    "posdriver check": 10.0,
}


def progress(text: str) -> None:
    print(f"[fault matrix] {text}", file=sys.stderr, flush=True)


# -- the rig: emulators and the daemon ----------------------------------------------------
def start_emulator(
    workdir: Path, kind: str, args: list[str]
) -> tuple[subprocess.Popen[bytes], Any]:
    """``posdriver-emulator KIND --link pty ARGS`` (its log in ``workdir``); it and the
    JSON line it printed (url, control)."""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), TMPDIR=str(workdir))
    with open(workdir / f"{kind}.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "posdriver_emulator", kind, "--link", "pty", *args],
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            cwd=REPO_ROOT,
        )
    assert proc.stdout is not None
    if not select.select([proc.stdout], [], [], 20)[0]:
        proc.kill()
        raise RuntimeError(f"the {kind} emulator did not start; see {workdir / kind}.log")
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"the {kind} emulator exited; see {workdir / kind}.log")
    return proc, json.loads(line)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


@dataclass
class Rig:
    """The running daemon and its devices' control APIs."""

    daemon: subprocess.Popen[str]
    api: str
    metrics: str
    printer_control: str
    terminal_control: str
    client_config: Path
    journal: Path


@contextlib.contextmanager
def rig(workdir: Path) -> Iterator[Rig]:
    """Both emulators, then ``posdriver serve`` on them; all stopped afterwards."""
    printer, said_p = start_emulator(workdir, "printer", ["--roll-mm", str(ROLL_MM)])
    try:
        terminal, said_t = start_emulator(workdir, "terminal", [])
        try:
            config = workdir / "posdriver.toml"
            config.write_text(SERVICE + _devices(said_p["url"], said_t["url"]))
            state = workdir / "state"
            with (
                (workdir / "daemon.log").open("w") as log,
                serve_process(config, state, emulate=False, log=log) as (process, by),
            ):
                api = by["api"]["url"]
                client = workdir / "client.toml"
                client.write_text(f'[service]\napi = "{api.removeprefix("http://")}"\n')
                yield Rig(
                    process,
                    api,
                    by["metrics"]["url"],
                    said_p["control"],
                    said_t["control"],
                    client,
                    state / "journal.sqlite3",
                )
        finally:
            stop(terminal)
    finally:
        stop(printer)


def _devices(printer_url: str, terminal_url: str) -> str:
    return (
        f'\n[devices.{PRINTER}]\nkind = "printer"\nurl = {json.dumps(printer_url)}\n'
        f'\n[devices.{TERMINAL}]\nkind = "terminal"\nurl = {json.dumps(terminal_url)}\n'
        f'printer = "{PRINTER}"\n'
    )


# -- every call timed against its deadline -------------------------------------------------
@dataclass
class Calls:
    """Every API call's time, by the name its deadline has, and the calls that missed."""

    seconds: dict[str, list[float]] = field(default_factory=dict)
    late: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def timed(self, name: str, call: Callable[[], Any]) -> Any:
        started = time.monotonic()
        try:
            return call()
        finally:
            took = time.monotonic() - started
            with self.lock:
                self.seconds.setdefault(name, []).append(took)
                if took > DEADLINES[name] + TOLERANCE:
                    self.late.append(f"{name} took {took:.2f} s (deadline {DEADLINES[name]:g} s)")


class Api:
    """The daemon's API and /metrics, every call timed."""

    def __init__(self, rig: Rig, calls: Calls) -> None:
        self.rig = rig
        self.calls = calls

    def request(self, name: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.rig.api + path, data=data, headers={"Content-Type": "application/json"}
        )
        return self.calls.timed(name, lambda: _send(request, DEADLINES[name] + 30))  # type: ignore[no-any-return]

    def look(self, base: dict[str, float] | None = None) -> Look:
        text = self.calls.timed("GET /metrics", lambda: _read(self.rig.metrics))
        samples = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                samples[key] = float(value)
        return Look(samples, base if base is not None else samples)

    def check(self) -> tuple[int, dict[str, Any]]:
        """``posdriver check --json`` as ops run it."""
        args = [sys.executable, "-m", "posdriver", "check"]
        args += ["--config", str(self.rig.client_config), "--json"]
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
        done = self.calls.timed(
            "posdriver check",
            lambda: subprocess.run(
                args, capture_output=True, text=True, env=env, timeout=60, check=False
            ),
        )
        return done.returncode, json.loads(done.stdout)

    def incidents(self, since: datetime) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode({"since": since.isoformat(), "limit": 10000})
        status, body = self.request("GET /v1/incidents", f"/v1/incidents?{query}")
        assert status == 200, body
        return list(body)


def _send(request: urllib.request.Request, timeout: float) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _read(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return str(answer.read().decode())


# -- the front desk: operations one after another ---------------------------------------------
@dataclass
class Desk:
    """The client thread: sales, refunds of approved sales and reprints, in a seeded mix,
    until told to stop; what came of them."""

    api: Api
    rng: random.Random
    done: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    in_flight: threading.Event = field(default_factory=threading.Event)
    stopping: threading.Event = field(default_factory=threading.Event)
    turns: threading.Condition = field(default_factory=threading.Condition)
    budget: int = 0
    idle: threading.Event = field(default_factory=threading.Event)  # waiting for a turn
    refundable: dict[int, int] = field(default_factory=dict)  # sale id -> minor units left
    approved: list[int] = field(default_factory=list)

    def run(self) -> None:
        try:
            while self.next_turn():
                self.one()
                self.done += 1
        except Exception as exc:  # the matrix stops on it and reports it
            self.problems.append(f"the desk's client failed: {exc!r}")

    def allow(self, count: int) -> None:
        """Let ``count`` more operations go (the matrix paces the desk: a desk that ran
        flat out would only fill the print queue)."""
        with self.turns:
            self.budget += count
            self.turns.notify()

    def withdraw(self) -> None:
        with self.turns:
            self.budget = 0

    def next_turn(self) -> bool:
        with self.turns:
            while self.budget <= 0 and not self.stopping.is_set():
                self.idle.set()
                self.turns.wait(0.5)
            self.idle.clear()
            self.budget -= 1
            return not self.stopping.is_set()

    def sale(self) -> dict[str, Any] | None:
        """One sale, to its end; the operation (None when it was refused)."""
        return self.money({"kind": "sale", "amount": f"{self.rng.randint(100, 2000) / 100:.2f}"})

    def one(self) -> None:
        roll = self.rng.random()
        if roll < 0.2 and self.approved:
            self.reprint(self.rng.choice(self.approved))
        elif roll < 0.4 and self.refundable:
            self.refund()
        else:
            self.sale()

    def refund(self) -> None:
        sale_id = self.rng.choice(list(self.refundable))
        amount = min(self.refundable[sale_id], self.rng.randint(1, 20))
        self.money({"kind": "refund", "txn": sale_id, "amount": f"{amount / 100:.2f}"})

    def reprint(self, op_id: int) -> None:
        status, body = self.api.request(
            "POST /v1/operations/{id}/reprint", f"/v1/operations/{op_id}/reprint", {}
        )
        self.outcomes[f"reprint {status}"] += 1
        if status != 202:
            self.problems.append(f"reprint of {op_id}: {status} {body}")

    def money(self, body: dict[str, Any]) -> dict[str, Any] | None:
        body["idempotency_key"] = f"matrix-{self.rng.getrandbits(64):016x}"
        status, answer = self.api.request("POST /v1/operations", "/v1/operations", body)
        if status != 202:
            self.outcomes[f"{body['kind']} refused {status}"] += 1
            if status != 409:  # the refund guard may refuse a refund: that is an answer
                self.problems.append(f"POST {body}: {status} {answer}")
            return None
        op = answer["operation"]
        self.in_flight.set()
        try:
            op = self.settle(int(op["id"]))
        finally:
            self.in_flight.clear()
        self.outcomes[f"{op['kind']} {op['state']}"] += 1
        if op["state"] == "approved":
            self.approved.append(int(op["id"]))
            if op["kind"] == "sale":
                self.refundable[int(op["id"])] = round(float(op["amount"]) * 100)
            elif op["parent_id"] in self.refundable:
                left = self.refundable[op["parent_id"]] - round(float(op["amount"]) * 100)
                self.refundable[op["parent_id"]] = left
                if left <= 0:
                    del self.refundable[op["parent_id"]]
        return op

    def settle(self, op_id: int) -> dict[str, Any]:
        """GET ?wait= until the operation is final or needs a person, as docs/api.md's
        "Taking a payment safely" has it."""
        deadline = time.monotonic() + SETTLE_WITHIN
        while True:
            status, body = self.api.request(
                f"GET /v1/operations/{{id}}?wait={WAIT}", f"/v1/operations/{op_id}?wait={WAIT}"
            )
            assert status == 200, body
            op = dict(body["operation"])
            if body["final"] or op["state"] in ("in_doubt", "needs_review"):
                return op
            if time.monotonic() > deadline:
                self.problems.append(
                    f"operation {op_id} still {op['state']} after {SETTLE_WITHIN:g} s"
                )
                return op


# -- the matrix --------------------------------------------------------------------------------
@dataclass
class PairResult:
    printer: str
    terminal: str
    shown_after: dict[str, float] = field(default_factory=dict)
    cleared_after: float | None = None
    operations: int = 0
    incidents: Counter[str] = field(default_factory=Counter)


@dataclass
class Result:
    seed: int
    pairs: list[PairResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    operations: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    audit_counts: Counter[str] = field(default_factory=Counter)
    calls: Calls = field(default_factory=Calls)
    seconds: float = 0.0
    cut_short: str | None = None  # why the run ended before its operations were done


def pairs_for(seed: int, every: bool) -> list[tuple[Fault, Fault]]:
    """Every printer fault with every terminal fault (``every``), or the fewest pairs
    that try each fault once: each terminal fault with a printer fault in turn, so the
    printer's come round again. In a seeded order."""
    rng = random.Random(seed)
    if every:
        pairs = [(p, t) for p in PRINTER_FAULTS for t in TERMINAL_FAULTS]
    else:
        printers = list(PRINTER_FAULTS)
        rng.shuffle(printers)
        pairs = [(printers[i % len(printers)], t) for i, t in enumerate(TERMINAL_FAULTS)]
    rng.shuffle(pairs)
    return pairs


class Matrix:
    def __init__(
        self, rig: Rig, result: Result, desk: Desk, share: int, max_dwell: float = MAX_DWELL
    ) -> None:
        self.max_dwell = max_dwell
        self.rig = rig
        self.result = result
        self.api = desk.api
        self.desk = desk
        self.share = share  # operations under each pair

    def problem(self, text: str) -> None:
        self.result.problems.append(text)
        progress(f"PROBLEM: {text}")

    def alive(self) -> bool:
        if self.rig.daemon.poll() is not None:
            self.problem(f"the daemon exited ({self.rig.daemon.returncode})")
            return False
        return True

    def switch(self, fault: Fault, active: bool) -> None:
        url = self.rig.printer_control if fault.device == PRINTER else self.rig.terminal_control
        body: dict[str, Any] = {"fault": fault.name, "active": active}
        if fault.name == "slow_host":
            body["seconds"] = SLOW_HOST_SECONDS
        control(url + "/faults", body)

    def pair(self, printer: Fault, terminal: Fault) -> None:
        name = f"{printer.name} x {terminal.name}"
        out = PairResult(printer.name, terminal.name)
        self.result.pairs.append(out)
        self.drained(name)
        since = datetime.now(UTC)
        base = self.api.look().samples
        started_ops = self.desk.done
        self.desk.allow(self.share)
        self.desk.in_flight.wait(10)  # in the middle of an operation, when there is one
        on = time.monotonic()
        for fault in (printer, terminal):
            self.switch(fault, True)
        self.shown(name, (printer, terminal), base, on, out)
        # posdriver check runs while the operations go on (it may wait its 10 s for a
        # silent device): ops look while the desk works
        checked: list[tuple[int, dict[str, Any]]] = []
        looking = threading.Thread(target=lambda: checked.append(self.api.check()))
        looking.start()
        self.dwell(name, (printer, terminal), on + self.max_dwell, started_ops)
        looking.join()
        code, report = checked[0] if checked else (-1, {"devices": []})
        for fault in (printer, terminal):
            status = _device_status(report, fault.device)
            if fault.alarm and status == "ok":
                self.problem(f"{name}: posdriver check (exit {code}) says {fault.device} is ok")
        for fault in (printer, terminal):
            self.switch(fault, False)
        off = time.monotonic()
        self.desk.withdraw()
        out.cleared_after = self.cleared(name)
        self.after(name)
        out.operations = self.desk.done - started_ops
        if out.cleared_after is not None:
            code, report = self.api.check()
            if code != 0:
                self.problem(
                    f"{name}: posdriver check exit {code} after clearing: {_failing(report)}"
                )
        self.incidents(name, since, off - on, out)
        self.alive()

    def shown(
        self,
        name: str,
        faults: tuple[Fault, Fault],
        base: dict[str, float],
        on: float,
        out: PairResult,
    ) -> None:
        """Wait until each fault's sign holds, each within its own time."""
        waiting = {f.name + "@" + f.device: f for f in faults}
        while waiting:
            look = self.api.look(base)
            for key, fault in list(waiting.items()):
                if fault.sign(look):
                    out.shown_after[fault.name] = time.monotonic() - on
                    del waiting[key]
                elif time.monotonic() - on > fault.within:
                    self.problem(
                        f"{name}: {fault.device} {fault.name} not shown within "
                        f"{fault.within:g} s ({fault.shows})"
                    )
                    del waiting[key]
            if waiting:
                time.sleep(0.1)

    def dwell(self, name: str, faults: tuple[Fault, Fault], until: float, ops: int) -> None:
        """Operations go on under the pair for its share (or until ``until``); the
        checks of a device whose fault is absorbed stay ok meanwhile."""
        quiet = [f.device for f in faults if f.absorbed]
        while self.desk.done - ops < self.share and time.monotonic() < until:
            if not self.alive() or self.desk.problems:
                return
            look = self.api.look()
            for device in list(quiet):
                bad = _not_ok(look, device)
                if bad:
                    self.problem(f"{name}: {device}'s checks failed under an absorbed fault: {bad}")
                    quiet.remove(device)
            time.sleep(0.2)

    def drained(self, name: str, timeout: float = 120.0) -> None:
        """The receipts of the pair before are printed before this pair starts, so each
        pair starts from a printer that is idle (a long backlog holds the printer's
        worker, and its status ages meanwhile)."""
        deadline = time.monotonic() + timeout
        while True:
            status, pending = self.api.request("GET /v1/pending", "/v1/pending")
            if status == 200 and not pending["print_jobs_waiting"]:
                return
            if time.monotonic() > deadline:
                self.problem(f"before {name}: receipts still waiting after {timeout:g} s")
                return
            time.sleep(0.2)

    def after(self, name: str) -> None:
        """Once cleared, a sale is approved again (made here once the desk's operation
        under way has ended)."""
        if not self.desk.idle.wait(SETTLE_WITHIN):
            self.problem(f"{name}: the desk's last operation did not end")
            return
        op = self.desk.sale()
        self.desk.done += 1
        if op is None or op["state"] != "approved":
            self.problem(f"{name}: the sale after clearing was not approved: {op}")

    def cleared(self, name: str) -> float | None:
        """Seconds until every check of both devices is ok and both are up; None (and a
        problem) when that did not happen in time."""
        start = time.monotonic()
        while True:
            look = self.api.look()
            bad = _not_ok(look, PRINTER) + _not_ok(look, TERMINAL)
            if not look.up(PRINTER, "printer"):
                bad.append("printer down")
            if not look.up(TERMINAL, "terminal"):
                bad.append("terminal down")
            if not bad:
                return time.monotonic() - start
            if time.monotonic() - start > CLEAR_WITHIN:
                self.problem(
                    f"{name}: not cleared {CLEAR_WITHIN:g} s after both faults went off: {bad}"
                )
                return None
            time.sleep(0.1)

    def incidents(self, name: str, since: datetime, window: float, out: PairResult) -> None:
        """Each check's incidents in the pair's time are changes, few; the spooler's are
        at most one per blocked retry."""
        by_check: dict[tuple[str, str], list[dict[str, Any]]] = {}
        spooler = 0
        for incident in self.api.incidents(since):
            out.incidents[incident["category"]] += 1
            match = re.match(r"(\w+) check[ :]", incident["fault"] or "")
            if match and incident["category"] in ("device_fault", "recovered"):
                by_check.setdefault((incident["device"], match[1]), []).append(incident)
            elif incident["category"] == "device_fault" and incident["operation_id"] is None:
                spooler += 1
        for (device, check), seen in by_check.items():
            if len(seen) > INCIDENTS_PER_CHECK:
                self.problem(f"{name}: {len(seen)} incidents for {device}'s {check} check")
            for before, after in itertools.pairwise(seen):
                if (before["category"], before["result"]) == (after["category"], after["result"]):
                    self.problem(
                        f"{name}: {device}'s {check} check written twice without a change: "
                        f"{before['fault']!r} then {after['fault']!r}"
                    )
        allowed = 2 + int(window / SPOOL_RETRY)
        if spooler > allowed:
            self.problem(f"{name}: {spooler} 'cannot print' incidents in {window:.0f} s")


def _device_status(report: dict[str, Any], device: str) -> str:
    """The worst check status of ``device`` in a ``posdriver check --json`` report."""
    order = ["ok", "warning", "critical", "unknown"]
    for entry in report["devices"]:
        if entry["name"] == device:
            statuses = [c["status"] for c in entry["checks"].values()] or ["unknown"]
            if not entry.get("up", True):
                statuses.append("critical")
            return max(statuses, key=order.index)
    return "unknown"


def _failing(report: dict[str, Any]) -> dict[str, str]:
    return {
        f"{d['name']} {name}": c["status"]
        for d in report["devices"]
        for name, c in d["checks"].items()
        if c["status"] != "ok"
    }


def _not_ok(look: Look, device: str) -> list[str]:
    checks = (
        ("link", "paper", "cover", "errors")
        if device == PRINTER
        else ("link", "terminal_state", "connectivity")
    )
    return [
        f"{device} {c} {look.check(device, c)}" for c in checks if look.check(device, c) != "ok"
    ]


# -- a run ------------------------------------------------------------------------------------
def run(
    operations: int,
    seed: int,
    workdir: Path,
    *,
    every: bool = True,
    share: int | None = None,
    max_dwell: float = MAX_DWELL,
    minutes: float | None = None,
) -> Result:
    """Pairs (all of them, or one for each fault) in rounds until ``operations`` are done
    and each pair had its turn; the result, with every problem found."""
    result = Result(seed)
    pairs = pairs_for(seed, every)
    progress(f"seed {seed}, {operations} operations, {len(pairs)} pairs a round, in {workdir}")
    started = time.monotonic()
    with rig(workdir) as rigged:
        supported = {
            PRINTER: control(rigged.printer_control + "/faults")["supported"],
            TERMINAL: control(rigged.terminal_control + "/faults")["supported"],
        }
        result.problems += [f"no sign known for {name}" for name in missing(supported)]
        api = Api(rigged, result.calls)
        _wait_all_ok(api)
        desk = Desk(api, random.Random(f"{seed}:desk"))
        share = share or max(1, operations // len(pairs))
        matrix = Matrix(rigged, result, desk, share, max_dwell)
        client = threading.Thread(target=desk.run, name="desk", daemon=True)
        client.start()
        round_no = 0
        try:
            while desk.done < operations or round_no == 0:
                round_no += 1
                for index, (printer, terminal) in enumerate(pairs):
                    if round_no > 1 and desk.done >= operations:
                        break
                    if minutes is not None and time.monotonic() - started > minutes * 60:
                        result.cut_short = f"stopped after {minutes:g} minutes"
                        raise StopIteration
                    matrix.pair(printer, terminal)
                    progress(
                        f"round {round_no} pair {index + 1}/{len(pairs)} "
                        f"{printer.name} x {terminal.name}: {desk.done} operations"
                    )
                    if desk.problems or not matrix.alive():
                        raise StopIteration
        except StopIteration:
            pass
        finally:
            desk.stopping.set()
            client.join(SETTLE_WITHIN + 30)
        result.problems += desk.problems
        result.operations = desk.done
        result.outcomes = desk.outcomes
        matrix.alive()
        _finish(api, result)
        ledger = control(rigged.terminal_control + "/ledger")
    done = audit(rigged.journal, ledger)
    result.audit_counts = done.counts
    result.problems += done.problems
    result.problems += result.calls.late
    result.seconds = time.monotonic() - started
    return result


def _wait_all_ok(api: Api, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        look = api.look()
        if not (_not_ok(look, PRINTER) + _not_ok(look, TERMINAL)):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the devices were not ok at the start: {_not_ok(look, PRINTER)} "
                f"{_not_ok(look, TERMINAL)}"
            )
        time.sleep(0.2)


def _finish(api: Api, result: Result, timeout: float = 90.0) -> None:
    """Nothing in doubt, every receipt printed, before the audit (recovery runs by
    itself; asked once more here so a run does not wait its 30 s)."""
    deadline = time.monotonic() + timeout
    asked = False
    while True:
        status, pending = api.request("GET /v1/pending", "/v1/pending")
        waiting = pending["operations"] or pending["print_jobs_waiting"]
        if status == 200 and not waiting:
            return
        if not asked and pending["operations"]:
            urllib.request.urlopen(
                urllib.request.Request(api.rig.api + "/v1/recover", data=b"{}"), timeout=120
            ).read()
            asked = True
        if time.monotonic() > deadline:
            result.problems.append(f"still pending {timeout:g} s after the last pair: {pending}")
            return
        time.sleep(0.5)


def summary(result: Result) -> list[str]:
    lines = [
        f"fault matrix: seed {result.seed}, {len(result.pairs)} pairs, "
        f"{result.operations} operations in {result.seconds:.0f} s"
        + (f" ({result.cut_short})" if result.cut_short else ""),
        "operations: " + ", ".join(f"{k} {v}" for k, v in sorted(result.outcomes.items())),
    ]
    shown: dict[str, list[float]] = {}
    cleared = [p.cleared_after for p in result.pairs if p.cleared_after is not None]
    for pair in result.pairs:
        for name, seconds in pair.shown_after.items():
            shown.setdefault(name, []).append(seconds)
    lines.append(
        "shown after (s, max over its pairs): "
        + ", ".join(f"{name} {max(values):.1f}" for name, values in sorted(shown.items()))
    )
    if cleared:
        lines.append(
            f"cleared after: max {max(cleared):.1f} s, "
            f"median {sorted(cleared)[len(cleared) // 2]:.1f} s"
        )
    incidents: Counter[str] = Counter()
    for pair in result.pairs:
        incidents.update(pair.incidents)
    lines.append("incidents: " + ", ".join(f"{k} {v}" for k, v in sorted(incidents.items())))
    lines.append(
        "API calls (max s / deadline s): "
        + ", ".join(
            f"{name} {len(values)} calls {max(values):.2f}/{DEADLINES[name]:g}"
            for name, values in sorted(result.calls.seconds.items())
        )
    )
    keep = ("ledger", "sale approved", "refund approved", "receipts printed", "state")
    lines.append(
        "audit: "
        + ", ".join(
            f"{k} {v}" for k, v in sorted(result.audit_counts.items()) if k.startswith(keep)
        )
    )
    lines.append(f"problems: {len(result.problems)}")
    lines += [f"  {p}" for p in result.problems[:50]]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operations", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000)
    parser.add_argument(
        "--each-fault-once",
        action="store_true",
        help="one pair for each fault (as CI runs it), not every pair",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--minutes", type=float, help="take no new pair after this long (then audit and report)"
    )
    parser.add_argument(
        "--dwell",
        type=float,
        default=MAX_DWELL,
        help=f"longest a pair stays on, seconds (default {MAX_DWELL:g})",
    )
    opts = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="posdriver-fault-matrix-"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        result = run(
            opts.operations,
            opts.seed,
            workdir,
            every=not opts.each_fault_once,
            max_dwell=opts.dwell,
            minutes=opts.minutes,
        )
    finally:
        if not opts.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    for line in summary(result):
        print(line)
    return 1 if result.problems else 0


if __name__ == "__main__":
    sys.exit(main())
