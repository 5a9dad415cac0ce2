"""The journal's cost: commit latency, lookup time as it grows, and its size on disk.

1. Every commit is fsynced (WAL, ``synchronous=FULL``), so a sale's journal writes are
   bounded by the disk's flush time, not by SQLite; a raw write + fdatasync in the same
   directory is printed next to them for scale. The figure only means something on a
   real disk: on tmpfs fsync is free, so the filesystem under the state directory is
   printed and a tmpfs directory is avoided when another is available.
2. ``txn show`` and ``reprint`` must not slow down as the years of sales pile up (target:
   a million transactions within 1.1x of a thousand). They are timed as staff run them,
   a whole ``python -m posdriver`` process each, the reprint really printing on an
   emulated printer. The journals are filled by bulk inserts into the real schema
   (created by ``open_journal``, so migrations are the real ones): minutes, where
   journaling a million sales one by one would take hours of fsyncs. On a busy machine
   the wall time swings by tens of percent from run to run, mostly in the interpreter's
   start-up and imports, which do not depend on the journal; so the commands are also
   timed inside this process with the imports done (best of several), and their journal
   reads one by one. When the target is missed, or the in-process time grows, each read
   is shown against both journals with the query plans of those that grew.
3. What a hotel's disk must hold: the journal's size per 100 000 transactions.
4. What the daemon's start-up check of the journal (SQLite ``quick_check``, see
   ``Daemon._check_journal``) costs on each journal, next to ``posdriver journal check``'s
   ``integrity_check``; the page cache is warm (the journal was just built), so a cold
   start after a reboot reads the file from disk on top of this.

``--quick`` builds 1k and 100k journals and times 50 commits; the default builds 1M
(about 1.7 GB in a temporary directory, deleted at exit). One run on a shared machine:
treat the figures as indicative, not as a distribution.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import _common  # noqa: F401  (puts the repository on sys.path)
from _common import describe_ms

from posdriver.journal import Kind, State, open_journal
from posdriver.journal.journal import JOURNAL_FILE
from posdriver.money import Money
from posdriver_emulator.controller import Controller

REPO = Path(__file__).resolve().parent.parent
COMMAND_RUNS = 15
IN_PROCESS_REPEATS = 25
TARGET_RATIO = 1.1
WARMUP = 5
BUILD_CHUNK = 50_000
BRANDS = ("girocard", "Visa", "Mastercard", "Maestro", "V PAY", "American Express")
HEADER = ("Hotel Zur Post", "Hauptstrasse 1, 12345 Musterstadt", "Tel. 01234 56789")
FOOTER = ("Vielen Dank fuer Ihren Besuch!", "Thank you for staying with us")
COLUMNS = 42
REASONS = {"declined": "declined by the card issuer", "aborted": "aborted at the terminal"}


def progress(text: str) -> None:
    sys.stdout.flush()  # keep the figures and the progress lines in order on a terminal
    print(f"[journal bench] {text}", file=sys.stderr, flush=True)


# -- where the journals live ---------------------------------------------------------------
def filesystem_of(path: Path) -> tuple[str, str]:
    """(mount point, filesystem type) holding ``path``, from /proc/mounts (last mount wins)."""
    real = os.path.realpath(path)
    best = ("", "unknown")
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) < 3:
                    continue
                mount = fields[1].replace("\\040", " ")
                inside = real == mount or real.startswith(mount.rstrip("/") + "/")
                if inside and len(mount) >= len(best[0]):
                    best = (mount, fields[2])
    except OSError:
        pass
    return best


def choose_root(requested: str | None) -> tuple[Path, str]:
    """A writable directory for the temporary state, preferring one that is not in RAM."""
    if requested:
        return Path(requested), filesystem_of(Path(requested))[1]
    candidates = [os.environ.get("TMPDIR"), "/var/tmp", str(REPO.parent), os.getcwd()]
    usable = [
        Path(c) for c in candidates if c and os.path.isdir(c) and os.access(c, os.W_OK | os.X_OK)
    ]
    if not usable:
        raise SystemExit("no writable directory for the benchmark's journals (try --dir)")
    for path in usable:
        fstype = filesystem_of(path)[1]
        if fstype not in ("tmpfs", "ramfs"):
            return path, fstype
    return usable[0], filesystem_of(usable[0])[1]


# -- realistic rows --------------------------------------------------------------------------
def _field(label: str, name: str) -> str:
    """``label`` left, the ``name`` value right-aligned to the paper width."""
    return f"{label}{{{name}:>{COLUMNS - len(label)}}}"


def _centred(text: str) -> str:
    return text.center(COLUMNS).rstrip()


# A customer receipt laid out like a composed one (hotel header, the terminal's facts,
# footer), as format strings: composing a million with the real code would take minutes.
RECEIPT_LAYOUT = (
    *(_centred(text) for text in HEADER),
    "-" * COLUMNS,
    _centred("SALE"),
    _field("Date", "at"),
    _field("Terminal", "terminal_id"),
    _field("Trace no.", "trace"),
    _field("Receipt no.", "receipt_no"),
    _field("Approval code", "approval"),
    _field("Card", "card"),
    "=" * COLUMNS,
    _field("Amount", "amount"),
    _centred("APPROVED"),
    "-" * COLUMNS,
    _centred("CUSTOMER COPY"),
    "{txn_line}",
    *(_centred(text) for text in FOOTER),
)
# The same as JSON text with the placeholders in it (the values are plain ASCII).
RECEIPT_JSON = json.dumps(list(RECEIPT_LAYOUT))


def receipt_values(
    op_id: int, at: str, trace: int, receipt_no: int, approval: str, card: str, minor: int
) -> dict[str, Any]:
    return {
        "at": f"{at[:10]} {at[11:19]}",
        "terminal_id": "52500038",
        "trace": trace,
        "receipt_no": receipt_no,
        "approval": approval,
        "card": card,
        "amount": f"{minor // 100}.{minor % 100:02d} EUR",
        "txn_line": _centred(f"posdriver txn {op_id}"),
    }


def receipt_lines(values: dict[str, Any]) -> list[str]:
    return [line.format(**values) for line in RECEIPT_LAYOUT]


def iso(value: datetime) -> str:
    """The journal's time format (UTC ISO with microseconds)."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


OPS_SQL = """INSERT INTO operations (id, kind, state, amount_minor, currency, terminal,
    created_at, updated_at, parent_id, trace, receipt_no, approval_code, terminal_id,
    card_brand, card_last4, result_code, reason, terminal_at)
    VALUES (?, ?, ?, ?, 'EUR', 'terminal1', ?, ?, ?, ?, ?, ?, '52500038', ?, ?, ?, ?, ?)"""
EVENTS_SQL = """INSERT INTO events (operation_id, at, event, from_state, to_state, actor, detail)
    VALUES (?, ?, ?, ?, ?, ?, ?)"""
RECEIPTS_SQL = """INSERT INTO receipts (id, operation_id, copy, source, lines, created_at)
    VALUES (?, ?, 'customer', 'terminal', ?, ?)"""
JOBS_SQL = """INSERT INTO print_jobs (receipt_id, printer, purpose, state, attempts,
    created_at, updated_at, finished_at) VALUES (?, 'printer1', 'original', 'done', 1, ?, ?, ?)"""


def build_journal(state: Path, count: int, must_approve: int) -> None:
    """``count`` transactions over the past year: sales (93% approved, 4% declined, 2%
    aborted) and 1% refunds of recent sales, each with three events; every approved one
    with its stored customer receipt and its finished print job. ``must_approve`` is
    forced to an approved sale (the one the commands look up).

    Build-only settings: ``synchronous=OFF`` and an in-memory rollback journal (each row
    written once, not to the WAL and again to the file); the file is left in WAL mode,
    as posdriver keeps it. No ANALYZE: posdriver never runs one, so the planner must
    find the indexes without statistics here too.
    """
    open_journal(state).close()  # the real schema, through the real migrations
    rng = random.Random(count)
    rand = rng.random
    conn = sqlite3.connect(state / JOURNAL_FILE, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA journal_mode = MEMORY")
    conn.execute("PRAGMA cache_size = -262144")
    start = datetime.now(UTC) - timedelta(days=365)
    step_us = 365 * 86_400 * 1_000_000 // max(count, 1)
    receipt_id = 0
    t0 = time.perf_counter()
    for first in range(1, count + 1, BUILD_CHUNK):
        ops: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        receipts: list[tuple[Any, ...]] = []
        jobs: list[tuple[Any, ...]] = []
        for op_id in range(first, min(count, first + BUILD_CHUNK - 1) + 1):
            created = start + timedelta(microseconds=(op_id - 1) * step_us)
            created_at = iso(created)
            sent_at = iso(created + timedelta(milliseconds=180))
            done_at = iso(created + timedelta(seconds=8 + 10 * rand()))
            roll = rand()
            kind, parent = "sale", None
            if op_id == must_approve or roll < 0.93:
                state_ = "approved"
            elif roll < 0.97:
                state_ = "declined"
            elif roll < 0.99 or op_id <= 500:
                state_ = "aborted"
            else:
                kind, parent, state_ = "refund", op_id - 1 - int(500 * rand()), "approved"
            minor = 150 + int(60_000 * rand())
            last4 = f"{int(10_000 * rand()):04d}"
            if state_ == "aborted":
                ops.append(
                    (op_id, kind, state_, minor, created_at, done_at, parent, None, None, None,
                     None, None, 108, REASONS[state_], None)
                )  # fmt: skip
            else:
                trace = op_id % 1_000_000
                receipt_no = (op_id - 1) % 9999 + 1
                brand = BRANDS[op_id % len(BRANDS)]
                approval = f"{int(16**6 * rand()):06X}" if state_ == "approved" else None
                ops.append(
                    (op_id, kind, state_, minor, created_at, done_at, parent, trace, receipt_no,
                     approval, brand, last4, 0 if approval else 5, REASONS.get(state_), done_at)
                )  # fmt: skip
                if approval:
                    receipt_id += 1
                    values = receipt_values(
                        op_id, done_at, trace, receipt_no, approval, f"{brand} **** {last4}", minor
                    )
                    receipts.append((receipt_id, op_id, RECEIPT_JSON.format(**values), done_at))
                    jobs.append((receipt_id, done_at, done_at, done_at))
            events.append((op_id, created_at, "created", None, "pending", "frontdesk", "terminal1"))
            events.append(
                (op_id, sent_at, "state", "pending", "sent", None, "accepted by terminal1")
            )
            events.append((op_id, done_at, "state", "sent", state_, "frontdesk", None))
        conn.execute("BEGIN")
        conn.executemany(OPS_SQL, ops)
        conn.executemany(EVENTS_SQL, events)
        conn.executemany(RECEIPTS_SQL, receipts)
        conn.executemany(JOBS_SQL, jobs)
        conn.execute("COMMIT")
        done = first + len(ops) - 1
        if count > BUILD_CHUNK:
            rate = done / (time.perf_counter() - t0)
            progress(f"  built {done:,} of {count:,} ({rate:,.0f} transactions/s)")
    if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
        raise SystemExit(f"{state}: could not put the built journal back into WAL mode")
    conn.close()


def journal_bytes(state: Path) -> int:
    total = 0
    for suffix in ("", "-wal"):
        with contextlib.suppress(OSError):
            total += (state / f"{JOURNAL_FILE}{suffix}").stat().st_size
    return total


def startup_check(states: dict[str, tuple[Path, int]]) -> None:
    from posdriver.service.daemon import JOURNAL_CHECK_SECONDS

    print(
        f"4. the daemon's start-up check (quick_check, given up after {JOURNAL_CHECK_SECONDS:g} "
        "s) and journal check (integrity_check): cold (the file's pages dropped from the page "
        "cache first, as after a reboot) and warm (best of 3)"
    )
    for label, (state, _) in states.items():
        checkpoint(state)
        with open_journal(state) as journal:
            drop_cached(state / JOURNAL_FILE)
            cold = _timed(lambda: journal.quick_check(JOURNAL_CHECK_SECONDS))
            quick = min(
                _timed(lambda: journal.quick_check(JOURNAL_CHECK_SECONDS)) for _ in range(3)
            )
            full = min(_timed(journal.check) for _ in range(3))
        size = journal_bytes(state) / 1e6
        print(
            f"   {label:5} ({size:,.0f} MB)  quick_check {cold:6.2f} s cold, {quick:6.2f} s warm; "
            f"integrity_check {full:6.2f} s warm"
        )


def drop_cached(path: Path) -> None:
    """Evict one file's pages from the page cache (only this file: the machine is shared)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _timed(call: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    call()
    return time.perf_counter() - t0


def checkpoint(state: Path) -> None:
    conn = sqlite3.connect(state / JOURNAL_FILE)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


# -- 1. commit latency -----------------------------------------------------------------------
def raw_fsync(directory: Path, rounds: int = 50) -> list[float]:
    """A 4 KB append plus fdatasync in the same directory: the floor under every commit."""
    path = directory / "fsync-probe"
    times: list[float] = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for _ in range(rounds):
            t0 = time.perf_counter()
            os.write(fd, b"x" * 4096)
            os.fdatasync(fd)
            times.append(time.perf_counter() - t0)
    finally:
        os.close(fd)
        path.unlink()
    return times


def commit_latency(root: Path, count: int) -> None:
    """What an approved sale commits, step by step, each step one fsynced transaction."""
    state = root / "commits"
    steps: dict[str, list[float]] = {
        "begin (PENDING)": [],
        "attempt": [],
        "-> SENT": [],
        "-> APPROVED + receipt + job": [],
    }
    totals: list[float] = []
    rng = random.Random(1)
    with open_journal(state) as journal:
        empty = journal_bytes(state)  # the schema's own pages, not the sales'
        for index in range(WARMUP + count):
            minor = rng.randint(150, 60_000)
            now = iso(datetime.now(UTC))
            last4 = f"{rng.randrange(10_000):04d}"
            op_id = index + 1  # a fresh journal numbers from 1
            values = receipt_values(
                op_id, now, op_id, op_id % 9999 + 1, "A1B2C3", f"Visa **** {last4}", minor
            )
            lines = receipt_lines(values)  # composed before the clock starts
            t0 = time.perf_counter()
            op = journal.begin(Kind.SALE, Money(minor, "EUR"), actor="frontdesk")
            t1 = time.perf_counter()
            assert op.id == op_id, (op.id, op_id)
            journal.attempt(op.id, "terminal1")
            t2 = time.perf_counter()
            journal.transition(op.id, State.SENT, detail="accepted by terminal1")
            t3 = time.perf_counter()
            with journal.atomic():
                journal.transition(
                    op.id,
                    State.APPROVED,
                    actor="frontdesk",
                    amount_minor=minor,
                    trace=op.id,
                    receipt_no=op.id % 9999 + 1,
                    approval_code="A1B2C3",
                    terminal_id="52500038",
                    card_brand="Visa",
                    card_last4=last4,
                    terminal_at=datetime.now(UTC),
                )
                stored = journal.add_receipt(op.id, "customer", lines, "terminal")
                journal.enqueue_print(stored.id, "printer1")
            t4 = time.perf_counter()
            if index < WARMUP:
                continue
            for name, (a, b) in zip(steps, ((t0, t1), (t1, t2), (t2, t3), (t3, t4)), strict=True):
                steps[name].append(b - a)
            totals.append(t4 - t0)
        ops = WARMUP + count
    checkpoint(state)
    fsync = raw_fsync(state)
    print(f"1. commit latency per operation, fsync included ({count} sales, {WARMUP} warm-up)")
    for name, times in steps.items():
        print(f"   {name:28} {describe_ms(times)}")
    print(f"   {'whole sale (4 commits)':28} {describe_ms(totals)}")
    print(f"   {'raw 4 KB write + fdatasync':28} {describe_ms(fsync)}")
    per_100k = (journal_bytes(state) - empty) / ops * 100_000 / 1e6
    print(
        f"   journal written this way: {per_100k:,.0f} MB per 100k sales "
        "(5 events, receipt and print job each)"
    )


# -- 2. whole commands --------------------------------------------------------------------
def command_env(root: Path) -> tuple[dict[str, str], Path]:
    """The environment and an empty config file: the commands run on defaults plus flags,
    whatever /etc/posdriver or POSDRIVER_CONFIG hold on this machine."""
    env = dict(os.environ)
    env.pop("POSDRIVER_CONFIG", None)
    config = root / "empty.toml"
    config.write_text("", encoding="utf-8")
    return env, config


Run = tuple[float, float]  # (wall seconds, the command's own CPU seconds)


def run_command(args: list[str], env: dict[str, str], expect: str = "") -> Run:
    """One ``python -m posdriver`` process, timed from spawn to exit. Its CPU time (user +
    system, from the kernel's accounting of the reaped child) barely moves when other
    work competes for the CPUs, which the wall time does a lot."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "posdriver", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    if proc.returncode != 0 or expect not in proc.stdout:
        raise SystemExit(
            f"posdriver {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
        )
    return elapsed, cpu


def time_commands(
    states: dict[str, tuple[Path, int]], printer: Controller, env: dict[str, str], config: Path
) -> dict[str, dict[str, list[Run]]]:
    """Each command's runs on each journal, :data:`COMMAND_RUNS` of them.
    The journals take turns run by run, so a change in the machine's load falls on both
    alike instead of on whichever was timed second."""
    times: dict[str, dict[str, list[Run]]] = {
        label: {"txn show": [], "reprint": []} for label in states
    }
    device: Any = printer.device
    for _ in range(COMMAND_RUNS):
        for label, (state, txn) in states.items():
            common = ["--state-dir", str(state), "--config", str(config)]
            shown = f"(id:{txn}, terminal terminal1)"  # the headline names the transaction
            times[label]["txn show"].append(
                run_command(["txn", "show", str(txn), *common], env, shown)
            )
            before = len(device.receipts)
            times[label]["reprint"].append(
                run_command(
                    ["reprint", str(txn), *common, "--printer", printer.url],
                    env,
                    f"of id:{txn} (customer copy, from the journal)",
                )
            )
            if not device.wait_for_receipts(before + 1, timeout=10):
                raise SystemExit("reprint exited 0 but the emulated printer cut no receipt")
    return times


def medians(runs: list[Run]) -> Run:
    return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)


def describe_runs(runs: list[Run]) -> str:
    wall = [w * 1000 for w, _ in runs]
    cpu = [c * 1000 for _, c in runs]
    return (
        f"wall median {statistics.median(wall):6.0f} ms (min {min(wall):4.0f})   "
        f"CPU median {statistics.median(cpu):4.0f} ms"
    )


# -- the journal's share, and what grows when the target is missed ------------------------
@contextlib.contextmanager
def traced(conn: sqlite3.Connection) -> Iterator[list[str]]:
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        yield statements
    finally:
        conn.set_trace_callback(None)


def in_process(state: Path, txn: int) -> Calls:
    """What ``txn show`` and ``reprint`` ask the journal, timed one call at a time, with
    the SQL each call ran. Best of :data:`IN_PROCESS_REPEATS`: a read takes tens of
    microseconds, so one descheduling on a busy machine would otherwise swamp it."""
    journal = open_journal(state)
    try:
        conn: sqlite3.Connection = journal._conn  # the benchmark looks inside on purpose
        calls: dict[str, Callable[[], object]] = {
            "find": lambda: journal.find(str(txn)),
            "events": lambda: journal.events(txn),
            "receipts": lambda: journal.receipts(txn),
            "children": lambda: journal.children(txn),
            "jobs_of": lambda: journal.jobs_of(txn),
            "plans_of": lambda: journal.plans_of(txn),
            "receipt": lambda: journal.receipt(txn, "customer"),
            "open_jobs": journal.open_jobs,
        }
        out: Calls = {}
        for name, call in calls.items():
            best = float("inf")
            for _ in range(IN_PROCESS_REPEATS):
                with traced(conn) as statements:
                    t0 = time.perf_counter()
                    call()
                    best = min(best, time.perf_counter() - t0)
            out[name] = (best, statements)
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            open_journal(state).close()
            best = min(best, time.perf_counter() - t0)
        out["open_journal"] = (best, [])
        return out
    finally:
        journal.close()


Calls = dict[str, tuple[float, list[str]]]
SHOW_CALLS = ("find", "events", "receipts", "children", "jobs_of", "plans_of")
REPRINT_CALLS = ("find", "receipt", "open_jobs")


def whole_in_process(
    states: dict[str, tuple[Path, int]], printer: Controller, config: Path, repeats: int = 20
) -> dict[str, dict[str, float]]:
    """Each command run through ``posdriver.cli.main`` inside this process, its imports
    already done: all it does that could depend on the journal, without the start-up
    that does not. Best of ``repeats``, the journals taking turns."""
    from posdriver.cli import main as posdriver_main

    best: dict[str, dict[str, float]] = {
        label: {"txn show": float("inf"), "reprint": float("inf")} for label in states
    }
    device: Any = printer.device
    for _ in range(repeats):
        for label, (state, txn) in states.items():
            common = ["--state-dir", str(state), "--config", str(config)]
            for command, argv in (
                ("txn show", ["txn", "show", str(txn), *common]),
                ("reprint", ["reprint", str(txn), *common, "--printer", printer.url]),
            ):
                before = len(device.receipts)
                sink = io.StringIO()
                with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                    t0 = time.perf_counter()
                    code = posdriver_main(argv)
                    elapsed = time.perf_counter() - t0
                if code != 0:
                    raise SystemExit(
                        f"posdriver {' '.join(argv)} returned {code}:\n{sink.getvalue()}"
                    )
                if command == "reprint" and not device.wait_for_receipts(before + 1, timeout=10):
                    raise SystemExit("reprint returned 0 but the emulated printer cut no receipt")
                best[label][command] = min(best[label][command], elapsed)
    return best


def journal_share(
    whole: dict[str, dict[str, float]], a: Calls, b: Calls, big_label: str
) -> list[str]:
    """Prints what of the commands depends on the journal; returns the commands whose
    in-process time grew past the target."""

    def total(calls: Calls, names: tuple[str, ...]) -> str:
        return f"{sum(calls[n][0] for n in names) * 1000:.2f} ms"

    small, big = whole["1k"], whole[big_label]
    print(
        f"   in-process, imports done (best of 20), 1k vs {big_label}: "
        + "; ".join(f"{c} {small[c] * 1000:.1f} vs {big[c] * 1000:.1f} ms" for c in small)
    )
    print(
        f"   of which journal reads (best of {IN_PROCESS_REPEATS}): "
        f"txn show {total(a, SHOW_CALLS)} vs {total(b, SHOW_CALLS)}; "
        f"reprint {total(a, REPRINT_CALLS)} vs {total(b, REPRINT_CALLS)}; "
        f"open_journal {total(a, ('open_journal',))} vs {total(b, ('open_journal',))}"
    )
    return [c for c in small if big[c] > TARGET_RATIO * small[c]]


def investigate(a: Calls, b: Calls, big: Path, big_label: str, grew: list[str]) -> None:
    """Each journal call against both journals; the query plans of those that grew."""
    print(f"   journal calls, 1k vs {big_label}, and the query plans of those that grow:")
    conn = sqlite3.connect(f"file:{big / JOURNAL_FILE}?mode=ro", uri=True)
    grown = 0
    try:
        for name, (t_small, _) in a.items():
            t_big, statements = b[name]
            flag = "  <-- grows" if t_big > 1.5 * t_small + 0.0001 else ""
            grown += bool(flag)
            print(f"     {name:13} {t_small * 1000:8.3f} ms  {t_big * 1000:8.3f} ms{flag}")
            if not flag:
                continue
            for sql in dict.fromkeys(statements):
                plan = conn.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
                print(f"       {' '.join(sql.split())[:150]}")
                for row in plan:
                    print(f"         plan: {row[-1]}")
    finally:
        conn.close()
    if not grown and not grew:
        print(
            "   nothing that depends on the journal grows: the wall-time miss is the start-up "
            "(interpreter and imports, the same on both journals) swinging with the load"
        )
    elif not grown:
        print(
            f"   {', '.join(grew)} grows in-process, but no journal read timed here does: "
            "profile posdriver.cli.main on both journals to find what does"
        )


# -- main ---------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1k and 100k journals, 50 commits")
    parser.add_argument("--dir", help="where to put the temporary journals (default: a disk)")
    opts = parser.parse_args()
    commits = 50 if opts.quick else 300
    big_count = 100_000 if opts.quick else 1_000_000
    big_label = "100k" if opts.quick else "1M"

    base, fstype = choose_root(opts.dir)
    root = Path(tempfile.mkdtemp(prefix="posdriver-journal-bench-", dir=base))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the cleanup below runs
    try:
        print("Journal benchmark (one run on a noisy machine: figures are indicative)")
        print(f"state directory {root} on {fstype} (mount {filesystem_of(root)[0]})")
        if fstype in ("tmpfs", "ramfs"):
            print("   WARNING: fsync on tmpfs costs nothing; the commit figures are meaningless")
        print(f"SQLite {sqlite3.sqlite_version}, Python {sys.version.split()[0]}")
        free = shutil.disk_usage(root).free
        if free < (3e9 if not opts.quick else 1e9):
            print(f"   WARNING: only {free / 1e9:.1f} GB free for the journals")

        progress(f"timing {commits} sales' commits")
        commit_latency(root, commits)

        env, config = command_env(root)
        sizes = (("1k", 1_000), (big_label, big_count))
        states: dict[str, tuple[Path, int]] = {}
        for label, count in sizes:
            state = root / f"journal-{label}"
            txn = count // 2
            progress(f"building the {label} journal")
            t0 = time.perf_counter()
            build_journal(state, count, txn)
            progress(f"  {label} journal built in {time.perf_counter() - t0:.1f} s")
            states[label] = (state, txn)

        baseline = [run_command(["--version"], env) for _ in range(COMMAND_RUNS)]
        print(
            f"2. whole command, {COMMAND_RUNS} runs each, the journals taking turns (warm page "
            "cache); ratio and target on the median wall time"
        )
        print(f"   {'--version':9} {describe_runs(baseline)}  (interpreter + CLI import only)")
        (root / "pty").mkdir()
        with Controller.printer(link="pty", link_dir=root / "pty", seed=1) as printer:
            progress("timing txn show and reprint, " + ", ".join(
                f"txn {txn} of the {label} journal" for label, (_, txn) in states.items()
            ))  # fmt: skip
            results = time_commands(states, printer, env, config)
            progress("timing them in-process")
            whole = whole_in_process(states, printer, config)
        missed = False
        for command in ("txn show", "reprint"):
            small, big = results["1k"][command], results[big_label][command]
            print(f"   {command:9} 1k    {describe_runs(small)}")
            print(f"   {'':9} {big_label:5} {describe_runs(big)}")
            (wall_small, cpu_small), (wall_big, cpu_big) = medians(small), medians(big)
            ratio, cpu_ratio = wall_big / wall_small, cpu_big / cpu_small
            verdict = "within" if ratio <= TARGET_RATIO else "MISSES"
            missed |= ratio > TARGET_RATIO
            print(
                f"   {'':9} {big_label}/1k {ratio:.3f} wall ({verdict} the {TARGET_RATIO}x "
                f"target), {cpu_ratio:.3f} CPU"
            )
        (small_state, small_txn), (big_state, big_txn) = states["1k"], states[big_label]
        calls_small, calls_big = in_process(small_state, small_txn), in_process(big_state, big_txn)
        grew = journal_share(whole, calls_small, calls_big, big_label)
        if missed or grew:
            investigate(calls_small, calls_big, big_state, big_label, grew)

        checkpoint(big_state)
        size = journal_bytes(big_state)
        print(
            f"3. journal size: {size / 1e6:,.0f} MB for {big_count:,} transactions (after a "
            f"checkpoint, WAL included) = {size / big_count * 100_000 / 1e6:,.0f} MB per 100k"
        )
        print(
            "   (bulk-built: 3 events per transaction, a ~20-line customer receipt and a print "
            "job per approved one)"
        )
        startup_check(states)
    finally:
        progress(f"removing {root}")
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
