"""Crash harness: SIGKILL the driver at many points of sales, refunds and prints, restart,
and hold the journal to the terminal's ledger.

The promise under test: whatever instant the process dies at, after a restart every
charge the terminal made is in the journal as APPROVED (directly, or resolved from
IN_DOUBT by recovery), no charge was made twice, no receipt of an approved operation is
lost, and nothing is left PENDING or SENT.

How, and why this way:

* The emulated terminal and printer run in ONE separate process for the whole run
  (``python -m emulator all``, both on TCP), so they outlive every kill exactly as real
  devices outlive a crashed till, and the terminal's ``GET /ledger`` is the ground truth.
* The harness process stays single-threaded and ``os.fork()``s one child per driver run:
  children are cheap (nothing is imported again) and each one is a real process with
  its own SQLite connection, its own sockets and its own ``flock`` on the terminal, all of
  which the kernel tears down when it is killed.
* In the child only, the moments that matter are counted by wrapping classes (never by
  changing product code): every journal COMMIT (before and after it), every link write
  (before and after) and every link read that returned bytes, and the printer's job
  sending. At the K-th of them the child SIGKILLs itself. A *point* is (operation, event,
  K), e.g. ``("sale", "commit-before(to-sent)", 7)``.
* After a kill the parent forks a restart child that does what the next CLI command or a
  daemon start does: ``recover(cashier)`` and ``spooler.run()``. Some restarts are killed
  too (recovery is crash-safe or it is nothing), then restarted again.
* After every point the journal is audited against the ledger; at the end the printer's
  paper is checked too. The first broken invariant stops the run and names the seed and
  the point (and the one before it).

Each point's random choices come from ``random.Random(f"{seed}:{index}")``, so a point is
the same in every run with that seed no matter what happened before it. What stays
timing-dependent is only which bytes a read returns at once on loopback, so an event
number names the same instant in almost every replay, not in every one.

Run more points than the test does::

    python -m tests.crash.harness --seed 7 --points 1000
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from posdriver.cashier.cashier import Cashier, RefundRefused
from posdriver.cashier.recovery import recover
from posdriver.cashier.spooler import Spooler
from posdriver.config import Config, PrinterConfig, load_config, with_overrides
from posdriver.journal import Journal, Kind, Operation, PrintJob, State, open_journal
from posdriver.journal.journal import JOURNAL_FILE, Filters
from posdriver.journal.states import UNRESOLVED
from posdriver.links import Link, link_for_url
from posdriver.money import Money
from posdriver.printer.driver import Printer
from tests.conftest import REPLY_TOLERANCE

REPO_ROOT = Path(__file__).resolve().parents[2]
SEED_ENV = "POSDRIVER_CRASH_SEED"
POINTS_ENV = "POSDRIVER_CRASH_POINTS"
LINK_ENV = "POSDRIVER_CRASH_LINK"  # tcp (default) or pty
LOG_ENV = "POSDRIVER_CRASH_LOG"  # "debug": the children log at DEBUG (children.log)
CURRENCY = "EUR"

REFUND_SHARE = 0.4  # of points, when a sale with money left to refund exists
DECLINED_SHARE = 0.08  # of points run with a card the issuer declines
MERCHANT_COPY_SHARE = 0.25  # of points configured to print a merchant copy as well
RECOVERY_KILL_SHARE = 0.4  # of restarts with work to do that are killed too
SPAN_MARGIN = 1.15  # K is drawn up to this much past a measured run's last event
MAX_REFUND_MINOR = 300  # keeps a long run under the terminal's daily refund cap
CHILD_DEADLINE = 90.0  # a driver run that takes longer is hung: a failure, not a kill
MAX_RESTARTS = 3  # restarts after one point before its leftovers count as broken

STANDS = {"payment": "charged", "refund": "refunded"}
LEDGER_KIND = {Kind.SALE: "payment", Kind.REFUND: "refund"}
STILL_BUSY = "terminal still in the killed run's command"
IN_FLIGHT = frozenset({State.PENDING, State.SENT, State.IN_DOUBT})

# names for the first APDU of a terminal write or read (ZVT over TCP has no framing)
_APDU_NAMES = {
    "0600": "registration",
    "0601": "authorisation",
    "0631": "refund",
    "0620": "repeat-receipt",
    "8000": "ack",
    "84": "nack",
    "040f": "status-info",
    "04ff": "intermediate",
    "06d1": "print-line",
    "06d3": "text-block",
    "060f": "completion",
    "061e": "abort",
}


class CrashFailure(AssertionError):
    """An invariant broke (or a child failed); the message names the seed and the point."""


# -- the emulators ------------------------------------------------------------------------


@dataclass(frozen=True)
class Devices:
    terminal: str
    terminal_control: str
    printer: str
    printer_control: str


class Emulators:
    """``posdriver-emulator all`` on TCP in its own process, for the whole run.

    Like ``tests.conftest.run_emulator`` but with stderr going to a file: nobody reads a
    pipe while hundreds of points run, and a full pipe would freeze the emulator.
    """

    def __init__(self, workdir: Path, link: str = "tcp") -> None:
        self.log_path = workdir / "emulator.log"
        self.link = link
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> Devices:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "emulator",
                    "all",
                    "--terminal-link",
                    self.link,
                    "--printer-link",
                    self.link,
                    # every receipt of the run: the final audit finds each on the paper
                    "--keep-receipts",
                    "1000000",
                ],
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
                cwd=REPO_ROOT,
            )
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        lines: dict[str, dict[str, str]] = {}
        pending = b""
        deadline = time.monotonic() + timeout
        while len(lines) < 2:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self.stop()
                raise RuntimeError(f"the emulator did not start; see {self.log_path}")
            chunk = os.read(fd, 4096)
            if not chunk:
                self.stop()
                raise RuntimeError(f"the emulator exited; see {self.log_path}")
            pending += chunk
            while b"\n" in pending:
                text, pending = pending.split(b"\n", 1)
                line = json.loads(text)
                lines[line["device"]] = line
        return Devices(
            terminal=lines["terminal"]["url"],
            terminal_control=lines["terminal"]["control"],
            printer=lines["printer"]["url"],
            printer_control=lines["printer"]["control"],
        )

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def control(url: str, body: dict[str, Any] | None = None) -> Any:
    """GET (or POST ``body`` to) the emulator's control API."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"} if data else {}
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.loads(reply.read())


# -- the kill switch (installed in children only) -----------------------------------------


def _send(fd: int, message: dict[str, Any]) -> None:
    data = (json.dumps(message) + "\n").encode()
    while data:
        data = data[os.write(fd, data) :]


class KillSwitch:
    """Counts events; at the ``kill_at``-th one, tells the parent which it was and dies."""

    def __init__(self, kill_at: int | None, report_fd: int) -> None:
        self.kill_at = kill_at
        self.fd = report_fd
        self.count = 0
        self.trace: list[str] = []

    def hit(self, event: str) -> None:
        self.count += 1
        self.trace.append(event)
        if self.count == self.kill_at:
            _send(self.fd, {"killed": {"event": event, "k": self.count}})
            os.kill(os.getpid(), signal.SIGKILL)


def _statement_label(sql: str, params: Any) -> str | None:
    """What a write transaction is about, from its first write statement."""
    s = " ".join(sql.split())
    if s.startswith("SELECT"):
        return None
    table_verbs = (
        ("INSERT INTO operations", "begin"),
        ("UPDATE operations SET terminal", "attempt"),
        ("INSERT INTO receipts", "receipt"),
        ("INSERT INTO print_jobs", "job-queued"),
        ("UPDATE print_jobs SET continuation", "job-started"),
        ("UPDATE print_jobs SET state = 'done'", "job-done"),
        ("INSERT INTO incidents", "incident"),
        ("INSERT INTO events", "event"),
    )
    for prefix, label in table_verbs:
        if s.startswith(prefix):
            return label
    if s.startswith("UPDATE operations SET state"):
        return f"to-{params[0]}"
    if s.startswith("UPDATE print_jobs SET state = ?"):
        return f"job-{params[0]}"
    return s.split(" ", 1)[0].lower()


class _WatchedConnection:
    """The journal's sqlite3 connection, with a kill point before and after each COMMIT."""

    def __init__(self, conn: Any, switch: KillSwitch) -> None:
        self._conn = conn
        self._switch = switch
        self._label: str | None = None

    def execute(self, sql: str, params: Any = ()) -> Any:
        text = sql.strip()
        if text.startswith("BEGIN"):
            self._label = None
        elif text == "COMMIT":
            label = self._label or "empty"
            self._switch.hit(f"commit-before({label})")
            cursor = self._conn.execute(sql)
            self._switch.hit(f"commit-after({label})")
            return cursor
        elif self._label is None:
            self._label = _statement_label(text, params)
        return self._conn.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def _apdu_name(data: bytes, framed: bool) -> str:
    raw = bytes(data)
    if framed:  # ZVT's serial framing: a lone ACK/NAK byte, or DLE STX before the APDU
        if raw[:1] in (b"\x06", b"\x15"):
            return "transport-ack" if raw[:1] == b"\x06" else "transport-nak"
        if raw[:2] == b"\x10\x02":
            raw = raw[2:]
    head = raw[:2].hex()
    return _APDU_NAMES.get(head) or _APDU_NAMES.get(head[:2]) or head or "frame-part"


def _printer_bytes(data: bytes) -> str:
    head = bytes(data[:2])
    if head == b"\x10\x04":
        return "status-query"
    if head == b"\x10\x14":
        return "clear-buffers"
    if head == b"\x1d\x72":
        return "checkpoint"
    return "receipt-data"


def install_hooks(switch: KillSwitch, devices: Devices) -> None:
    """Count the moments that matter in this (child) process. Patches classes, so only
    ever call it after fork."""

    def device(link: Link) -> str:
        if link.url == devices.terminal:
            return "terminal"
        return "printer" if link.url == devices.printer else "link"

    def describe(link: Link, name: str, data: bytes) -> str:
        if name == "terminal":
            return _apdu_name(data, framed=link.scheme != "tcp")
        return _printer_bytes(data)

    original_connect = Journal._connect
    original_write = Link.write
    original_read = Link.read
    original_read_exactly = Link.read_exactly
    original_print_job = Printer.print_job

    def connect(self: Journal) -> Any:
        return _WatchedConnection(original_connect(self), switch)

    def write(self: Link, data: bytes, timeout: float | None = None) -> None:
        name = device(self)
        what = describe(self, name, data)
        switch.hit(f"{name}-send({what})")
        original_write(self, data, timeout)
        switch.hit(f"{name}-sent({what})")

    def read(self: Link, size: int, timeout: float | None = None) -> bytes:
        data = original_read(self, size, timeout)
        if data:
            name = device(self)
            switch.hit(f"{name}-recv({describe(self, name, data)})")
        return data

    def read_exactly(self: Link, size: int, timeout: float | None = None) -> bytes:
        data = original_read_exactly(self, size, timeout)
        name = device(self)
        switch.hit(f"{name}-recv({describe(self, name, data)})")
        return data

    def print_job(self: Printer, job: Any, *, confirm: bool = True) -> Any:
        switch.hit("print-job")
        return original_print_job(self, job, confirm=confirm)

    Journal._connect = connect  # type: ignore[method-assign]
    Link.write = write  # type: ignore[method-assign]
    Link.read = read  # type: ignore[method-assign]
    Link.read_exactly = read_exactly  # type: ignore[method-assign]
    Printer.print_job = print_job  # type: ignore[method-assign]


# -- what a child does --------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """One point's work: a sale, or a refund of part of an approved sale, and where to
    kill it. The restart after it may be killed too, at a K drawn once what it will
    have to recover is known (``recovery_roll`` decides whether, ``recovery_k_roll``
    where)."""

    index: int
    kind: str  # sale | refund
    amount: int  # minor units
    card: str  # the emulator's card for this point
    merchant_copy: bool  # a second receipt (and print job) per approved operation
    kill_at: int | None  # None: a measuring run, to the end
    sale_id: int | None = None
    recovery_roll: float = 1.0
    recovery_k_roll: float = 0.0

    @property
    def variant(self) -> str:
        """The path through the code this point takes, as far as it is known in advance."""
        name = self.kind
        if self.card != "visa":
            name += f", {self.card} card"
        if self.merchant_copy:
            name += ", merchant copy"
        return name

    @property
    def expected(self) -> str:
        return "approved" if self.card == "visa" else "declined"

    def describe(self) -> str:
        what = f"{self.kind} {Money(self.amount, CURRENCY).format()}"
        if self.sale_id is not None:
            what += f" of txn {self.sale_id}"
        if self.card != "visa":
            what += f" with the {self.card} card"
        if self.merchant_copy:
            what += " (merchant copy too)"
        kill = (
            "no kill (measuring run)" if self.kill_at is None else f"kill at event {self.kill_at}"
        )
        return f"point {self.index}: {what}, {kill}"


def tolerant_printer(cfg: PrinterConfig) -> tuple[Printer, Link]:
    """The spooler's default opener with the suite's reply tolerance."""
    link = link_for_url(cfg.url).open()
    return Printer(link, reply_tolerance=REPLY_TOLERANCE), link


def build_config(config_file: Path, state_dir: Path, devices: Devices) -> Config:
    """Like the CLI's ``--config F --state-dir D --terminal URL --printer URL``, with a
    print policy that gives up on a printer in seconds, not the production half minute."""
    config = with_overrides(
        load_config(config_file),
        state_dir=state_dir,
        terminals=[devices.terminal],
        printers=[devices.printer],
    )
    policy = dataclasses.replace(
        config.print, ready_timeout=2.0, wait_initial=0.05, wait_max=0.5, jitter=0.05
    )
    return dataclasses.replace(config, print=policy)


def _cashier(config: Config) -> Cashier:
    """A Cashier as ``posdriver.cashier.cli_common.Context`` builds one."""
    journal = open_journal(config.state_dir)
    spooler = Spooler(
        journal,
        config.printers,
        policy=config.print,
        receipt=config.receipt,
        open_printer=tolerant_printer,
    )
    return Cashier(
        journal,
        config,
        spooler=spooler,
        actor="crash-harness",
        print_wait=config.print.ready_timeout,
    )


def _recovery_summary(report: Any) -> dict[str, Any]:
    return {
        "resolved": [[op.id, op.state.value] for op, _ in report.resolved],
        "needs_review": [[op.id, why] for op, why in report.needs_review],
        "still_in_doubt": [[op.id, why] for op, why in report.still_in_doubt],
        "aborted": [op.id for op in report.aborted],
    }


def config_for(config: Config, merchant_copy: bool) -> Config:
    """The point's configuration; its restarts use the same one, as a desk's would."""
    if not merchant_copy:
        return config
    return dataclasses.replace(
        config, receipt=dataclasses.replace(config.receipt, merchant_copy=True)
    )


def driver_run(config: Config, plan: Plan) -> dict[str, Any]:
    """One CLI money command: recover first if needed, the operation, then printing."""
    cashier = _cashier(config_for(config, plan.merchant_copy))
    journal = cashier.journal
    try:
        body: dict[str, Any] = {}
        if journal.unresolved(IN_FLIGHT):
            body["recovered"] = _recovery_summary(recover(cashier))
        amount = Money(plan.amount, CURRENCY)
        try:
            if plan.kind == "sale":
                result = cashier.sale(amount)
            else:
                assert plan.sale_id is not None
                result = cashier.refund(journal.get(plan.sale_id), amount)
        except RefundRefused as exc:
            body["state"] = "refused"
            body["why"] = str(exc)
        else:
            body["state"] = result.state.value
            body["op"] = result.operation.id
        assert cashier.spooler is not None
        spool = cashier.spooler.run()
        body["waiting"] = len(spool.waiting)
        return body
    finally:
        journal.close()


def register_run(config: Config) -> dict[str, Any]:
    """Registration (06 00), as ``posdriver terminal register`` would do it."""
    from posdriver.cashier.terminals import opened

    with opened(config.terminals[0], Path(config.state_dir)) as terminal:
        registered = terminal.register()
    return {"terminal_id": registered.terminal_id}


def restart_run(config: Config) -> dict[str, Any]:
    """What the next command or a daemon start does: recovery, then the print queue."""
    cashier = _cashier(config)
    retries: list[float] = []

    def sleep(seconds: float) -> None:
        retries.append(seconds)
        time.sleep(seconds)

    try:
        started = time.monotonic()
        report = recover(cashier, sleep=sleep)
        recovered = time.monotonic() - started
        assert cashier.spooler is not None
        spool = cashier.spooler.run()
        return _recovery_summary(report) | {
            "retries": len(retries),
            "retry_wait": sum(retries),
            "recovery_seconds": recovered,
            "printed": len(spool.printed),
            "waiting": [[o.job.id, o.reason] for o in spool.waiting],
        }
    finally:
        cashier.journal.close()


@dataclass
class ChildResult:
    killed: dict[str, Any] | None = None  # {"event", "k"}
    done: dict[str, Any] | None = None
    error: str | None = None
    status: int = 0
    seconds: float = 0.0

    def failure(self) -> str | None:
        if self.error:
            return self.error
        if self.killed is None and self.done is None:
            code = os.waitstatus_to_exitcode(self.status)
            return f"the child ended without a report (exit {code})"
        if self.killed is not None and not (
            os.WIFSIGNALED(self.status) and os.WTERMSIG(self.status) == signal.SIGKILL
        ):
            return "the child reported its kill but was not killed"
        return None


def fork_child(
    work: Callable[[], dict[str, Any]],
    kill_at: int | None,
    devices: Devices,
    log_path: Path,
    deadline: float = CHILD_DEADLINE,
) -> ChildResult:
    """Run ``work`` in a forked child with the kill switch set to ``kill_at``."""
    sys.stdout.flush()
    sys.stderr.flush()
    read_fd, write_fd = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child: never returns, never runs the parent's cleanup
        os.close(read_fd)
        _child_main(work, kill_at, devices, log_path, write_fd)
    os.close(write_fd)
    chunks: list[bytes] = []
    hung = False
    end = started + deadline
    try:
        while True:
            left = end - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                hung = True
                break
            if select.select([read_fd], [], [], left)[0]:
                chunk = os.read(read_fd, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    result = ChildResult(status=status, seconds=time.monotonic() - started)
    for line in b"".join(chunks).splitlines():
        message = json.loads(line)
        result.killed = message.get("killed", result.killed)
        result.done = message.get("done", result.done)
        result.error = message.get("error", result.error)
    if hung:
        result.error = f"the child hung for {deadline:g} s (killed); see {log_path}"
    return result


def _child_main(
    work: Callable[[], dict[str, Any]],
    kill_at: int | None,
    devices: Devices,
    log_path: Path,
    report_fd: int,
) -> NoReturn:
    code = 0
    try:
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)
        _child_logging(kill_at)
        switch = KillSwitch(kill_at, report_fd)
        install_hooks(switch, devices)
        body = work()
        body["events"] = switch.count
        body["trace"] = switch.trace
        _send(report_fd, {"done": body})
    except BaseException:
        code = 3
        try:
            _send(report_fd, {"error": traceback.format_exc()})
        except BaseException:
            pass
    finally:
        os._exit(code)


def _child_logging(kill_at: int | None) -> None:
    import logging

    root = logging.getLogger()
    for handler in list(root.handlers):  # pytest's capture handlers live in the parent
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s [{os.getpid()} kill@{kill_at}] %(name)s: %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if os.environ.get(LOG_ENV) == "debug" else logging.INFO)


# -- the audit ----------------------------------------------------------------------------


@dataclass
class Audit:
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


def _key(
    kind: str, receipt_no: int | None, trace: int | None
) -> tuple[str, int | None, int | None]:
    return kind, receipt_no, trace


def audit(
    journal_path: Path,
    ledger: list[dict[str, Any]],
    paper: list[str] | None = None,
    verified: set[int] | None = None,
) -> Audit:
    """The journal against the terminal's ledger, and against the printer's paper when
    ``paper`` is given (the final audit, which also counts recovery's decisions).

    ``verified``: approved txns whose receipts were already found stored and printed (a
    done job stays done); their receipts are not read again, and new ones are added, so
    the audit after each point does not grow with the journal.
    """
    out = Audit()
    counts, problems = out.counts, out.problems
    journal = Journal(journal_path)
    try:
        ops = list(reversed(journal.search(Filters(limit=None))))
        for op in ops:
            counts[f"{op.kind.value} {op.state.value}"] += 1
            counts[f"state {op.state.value}"] += 1
            if op.state in (State.PENDING, State.SENT):
                problems.append(f"txn {op.id} ({op.kind.value}) is left {op.state.value}")
            elif op.state in (State.IN_DOUBT, State.NEEDS_REVIEW):
                problems.append(
                    f"txn {op.id} ({op.kind.value}) is {op.state.value} after the restart: "
                    f"{op.reason}"
                )
            if paper is not None:
                for event in journal.events(op.id):
                    if event.actor == "recovery" and event.event == "state":
                        counts[f"recovery {event.from_state}->{event.to_state}"] += 1
        _against_ledger(ops, ledger, counts, problems)
        _refund_totals(ops, problems)
        _receipts(journal, ops, counts, problems, verified)
        if paper is not None:
            _paper(journal, ops, paper, counts, problems)
    finally:
        journal.close()
    for entry in ledger:
        counts[f"ledger {entry['kind']} {entry['state']}"] += 1
    return out


def _against_ledger(
    ops: list[Operation], ledger: list[dict[str, Any]], counts: Counter[str], problems: list[str]
) -> None:
    money_ops = [op for op in ops if op.kind in LEDGER_KIND]
    claims: dict[tuple[str, int | None, int | None], list[Operation]] = {}
    for op in money_ops:
        if op.receipt_no is not None or op.trace is not None:
            key = _key(LEDGER_KIND[op.kind], op.receipt_no, op.trace)
            claims.setdefault(key, []).append(op)
    for key, claimants in claims.items():
        if len(claimants) > 1:
            ids = ", ".join(f"{o.id} ({o.state.value})" for o in claimants)
            problems.append(f"txns {ids} all claim terminal transaction {key}")
    entries: dict[tuple[str, int | None, int | None], dict[str, Any]] = {}
    for entry in ledger:
        if entry["kind"] in STANDS:
            entries[_key(entry["kind"], entry["receipt_no"], entry["trace"])] = entry
    for key, entry in entries.items():
        stands = entry["state"] == STANDS[entry["kind"]] and entry["result_code"] == 0
        claimants = claims.get(key, [])
        approved = [o for o in claimants if o.state is State.APPROVED]
        if not claimants:
            counts["ledger entries no txn claims"] += 1
        if not stands:
            if approved:
                problems.append(
                    f"txn {approved[0].id} is APPROVED but the terminal's transaction {key} "
                    f"is {entry['state']}"
                )
            continue
        if len(approved) != 1:
            others = ", ".join(f"{o.id} {o.state.value}" for o in claimants) or "no txn"
            problems.append(
                f"the terminal's {entry['kind']} {key} of {entry['amount']} stands, but the "
                f"journal has {len(approved)} APPROVED txns for it ({others})"
            )
            continue
        op = approved[0]
        if op.amount is None or op.amount.minor != entry["amount"]:
            problems.append(
                f"txn {op.id} is APPROVED for {op.amount} but the terminal's {key} moved "
                f"{entry['amount']} minor units"
            )
    for op in money_ops:
        if op.state is not State.APPROVED:
            continue
        key = _key(LEDGER_KIND[op.kind], op.receipt_no, op.trace)
        if key not in entries:
            problems.append(
                f"txn {op.id} ({op.kind.value}) is APPROVED, but the terminal has no "
                f"transaction {key}"
            )


def _refund_totals(ops: list[Operation], problems: list[str]) -> None:
    sales = {op.id: op for op in ops if op.kind is Kind.SALE}
    refunded: Counter[int] = Counter()
    for op in ops:
        if op.kind is Kind.REFUND and op.state is State.APPROVED and op.amount:
            refunded[op.parent_id or 0] += op.amount.minor
    for sale_id, total in refunded.items():
        sale = sales.get(sale_id)
        if sale is None or sale.amount is None or total > sale.amount.minor:
            problems.append(f"txn {sale_id}: {total} minor units refunded, more than was sold")


def _receipts(
    journal: Journal,
    ops: list[Operation],
    counts: Counter[str],
    problems: list[str],
    verified: set[int] | None,
) -> None:
    jobs: dict[int, list[PrintJob]] = {}
    for job in journal.jobs(limit=1 << 62):
        jobs.setdefault(job.operation_id, []).append(job)
        if job.state != "done":
            problems.append(
                f"txn {job.operation_id}: print job {job.id} ({job.purpose}) is {job.state} "
                f"({job.last_error or '-'})"
            )
    for op in ops:
        if op.state is not State.APPROVED:
            continue
        originals = [j for j in jobs.get(op.id, []) if j.purpose == "original"]
        counts["receipts printed"] += sum(j.state == "done" for j in originals)
        counts["continuation prints"] += sum(j.continuation for j in originals)
        if verified is not None and op.id in verified:
            continue
        if journal.receipt(op.id, "customer") is None:
            problems.append(f"txn {op.id} is APPROVED but has no stored customer receipt")
        elif not originals:
            problems.append(f"txn {op.id} is APPROVED but its receipt was never queued")
        elif verified is not None and all(j.state == "done" for j in originals):
            verified.add(op.id)


def _paper(
    journal: Journal,
    ops: list[Operation],
    paper: list[str],
    counts: Counter[str],
    problems: list[str],
) -> None:
    """Each approved txn's stored customer receipt is on paper: some cut receipt holds
    every one of its lines (a continuation or copy adds banner lines around them; a torn
    first print comes out in front of its continuation on the same cut)."""
    sheets = [{line.strip() for line in text.splitlines()} for text in paper]
    counts["receipts cut"] = len(paper)
    for op in ops:
        if op.state is not State.APPROVED:
            continue
        stored = journal.receipt(op.id, "customer")
        if stored is None:
            continue  # reported by _receipts
        wanted = {line.strip() for line in stored.lines} - {""}
        if any(wanted <= sheet for sheet in sheets):
            counts["approved txns on paper"] += 1
        else:
            problems.append(f"txn {op.id} is APPROVED but its receipt is on no cut receipt")


# -- the run ------------------------------------------------------------------------------


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
        # events of one measured run to the end, by variant or restart situation
        self.spans: dict[str, int] = {}
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

    # -- choosing a point ---------------------------------------------------------------
    def plan(self, index: int) -> Plan:
        """The point's choices come from its own generator, so they do not depend on
        what earlier points did (only the refund's sale does, through the journal)."""
        rng = random.Random(f"{self.seed}:{index}")
        kind_roll, card_roll, copy_roll, k_roll = (rng.random() for _ in range(4))
        pick_roll, part_roll, recovery_roll, recovery_k_roll = (rng.random() for _ in range(4))
        amount = rng.randint(100, 9_999)
        card = "declined" if card_roll < DECLINED_SHARE else "visa"
        kind, sale_id = "sale", None
        if kind_roll < REFUND_SHARE:
            refundable = self._refundable()
            if refundable:
                sale_id, left = refundable[int(pick_roll * len(refundable))]
                kind = "refund"
                amount = 1 + int(part_roll * min(left, MAX_REFUND_MINOR))
        plan = Plan(
            index,
            kind,
            amount,
            card,
            copy_roll < MERCHANT_COPY_SHARE,
            None,
            sale_id,
            recovery_roll,
            recovery_k_roll,
        )
        return dataclasses.replace(plan, kill_at=self._draw(plan.variant, k_roll))

    def _draw(self, what: str, roll: float) -> int | None:
        span = self.spans.get(what)
        if not span:
            return None
        return 1 + int(roll * math.ceil(span * SPAN_MARGIN))

    def _refundable(self) -> list[tuple[int, int]]:
        """Approved sales with money left to refund: (txn id, minor units left)."""
        journal = Journal(self.journal_path)
        try:
            ops = journal.search(Filters(limit=None))
        finally:
            journal.close()
        taken: Counter[int] = Counter()
        for op in ops:
            counts = op.state is State.APPROVED or op.state in UNRESOLVED  # as the guard
            if op.kind is Kind.REFUND and op.amount and op.parent_id is not None and counts:
                taken[op.parent_id] += op.amount.minor
        found = []
        for op in sorted(ops, key=lambda o: o.id):
            if op.kind is Kind.SALE and op.state is State.APPROVED and op.amount:
                left = op.amount.minor - taken[op.id]
                if left > 0:
                    found.append((op.id, left))
        return found

    def _situation(self) -> str | None:
        """What a restart will find to do, or None when there is nothing."""
        journal = Journal(self.journal_path)
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

    def _paper(self) -> None:
        """Change the roll when the near-end sensor says so, as the front desk would (a
        long run prints more than one emulated roll). Only between runs: nothing prints
        then, so no receipt is cut short by the change."""
        state = control(self.devices.printer_control + "/state")
        if state["paper"]["state"] == "ok":
            return
        for active in (True, False):  # paper out, then a new roll loaded
            control(
                self.devices.printer_control + "/faults", {"fault": "paper_out", "active": active}
            )
        self.counts["paper rolls changed"] += 1

    def _set_card(self, card: str) -> None:
        if card != self.card:
            control(self.devices.terminal_control + "/card", {"card": card})
            self.card = card

    # -- running a point ----------------------------------------------------------------
    def run_point(self, index: int) -> None:
        plan = self.plan(index)
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
        if state == plan.expected and plan.variant not in self.spans:
            self.spans[plan.variant] = done["events"]
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
            kill_at = self._draw(situation, plan.recovery_k_roll)
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
                self.spans.setdefault(situation, done["events"])
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


def run(
    seed: int,
    points: int,
    workdir: Path,
    *,
    out: Callable[[str], None] = print,
    verbose: bool = False,
    link: str = "tcp",
) -> RunResult:
    """Run ``points`` crash points with ``seed`` in ``workdir``; raise CrashFailure on the
    first broken invariant. Prints the seed first and the counts last."""
    out(f"crash harness: seed {seed}, {points} points, devices on {link}, work dir {workdir}")
    started = time.monotonic()
    emulators = Emulators(workdir, link)
    devices = emulators.start()
    try:
        _warm_up()
        harness = Harness(seed, workdir, devices, out=out, verbose=verbose)
        harness.register()
        for index in range(points):
            harness.run_point(index)
        final = harness.final_audit()
        terminal = control(devices.terminal_control + "/state").get("counters", {})
    finally:
        emulators.stop()
    counts = harness.counts + final.counts
    for name in ("links_lost", "sessions_ended_early", "auto_reversals", "stale_apdus_dropped"):
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
    result.lines = summary(result)
    for line in result.lines:
        out(line)
    return result


def _warm_up() -> None:
    """Import and cache, in the parent, what the driver loads lazily (python-escpos and
    its capability profiles), so each forked child starts warm."""
    from posdriver.cashier.receipts import to_printable
    from posdriver.printer.receipt import encode_segments
    from posdriver.terminal.zvt import terminal  # noqa: F401

    encode_segments(to_printable(["warm-up"], columns=42, cut=True), "TM-T88V")


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


DEFAULT_SEED = 20261123  # CI replays the same points; "random" explores new ones


def seed_from_env() -> int:
    """``POSDRIVER_CRASH_SEED``: a number, or ``random`` for a fresh seed (printed, so the
    run can be replayed); unset, the fixed default, so the suite's result does not depend
    on luck."""
    text = os.environ.get(SEED_ENV, "").strip().lower()
    if text == "random":
        return random.SystemRandom().randrange(1, 1_000_000)
    return int(text) if text else DEFAULT_SEED


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.crash.harness",
        description="SIGKILL posdriver at random points of sales, refunds and prints "
        "against the emulators, restart, and check the journal against the terminal.",
    )
    parser.add_argument("--seed", type=int, help=f"the seed (default: ${SEED_ENV} or random)")
    parser.add_argument("--points", type=int, default=200, help="how many points (200)")
    parser.add_argument("--workdir", type=Path, help="keep the journal and logs here")
    parser.add_argument(
        "--link",
        choices=("tcp", "pty"),
        default=os.environ.get(LINK_ENV) or "tcp",
        help="how the emulated devices are reached: tcp (default) or pty (serial framing)",
    )
    parser.add_argument("--verbose", action="store_true", help="one line per point")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else seed_from_env()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="posdriver-crash-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        run(seed, args.points, workdir, verbose=args.verbose, link=args.link)
    except CrashFailure:
        print(f"kept {workdir} for inspection", file=sys.stderr)
        return 1
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
