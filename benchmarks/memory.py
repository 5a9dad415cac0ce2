"""Memory under steady load: does the daemon (or an emulator) grow with every sale?

A daemon is started and N sales are driven through its HTTP API, one after another, as
the front-desk software makes them (``POST /v1/operations`` {"kind": "sale", "amount":
"12.50"}, then ``GET /v1/operations/{id}?wait=30``). Its receipts print on the emulated
printer as they would on a real one. Twice:

1. ``posdriver serve --emulate``: the emulated printer and terminal run inside the
   daemon's process, so what grows there is the daemon's and the emulators' together.
2. ``posdriver serve --config FILE`` with the printer and the terminal each a
   ``posdriver-emulator ... --link pty`` process of its own, named in the TOML file by
   the pty URLs they print, so each side's figures are its own.

For every process: resident memory (VmRSS), open file descriptors (/proc/PID/fd) and
threads (/proc/PID/status), at the start, every ``--every`` sales and at the end (once
the print queue is empty), and the growth per 1000 sales after a warm-up of
``--warmup`` sales (the first sales load code and fill caches once; that is not growth).
The printers are given a roll long enough for the whole run (the daemon's own emulated
one cannot be, so in 1 a new roll goes in whenever the near-end sensor trips, between
receipts, through the emulator's control API, as a person would change it).

3. The same load on a daemon and both emulators in this process, under tracemalloc: the
   allocation sites that grew most between the end of a warm-up of ``--trace-warmup``
   sales (150: past the 100 receipts the emulated printer keeps, so a window filling
   up is not taken for growth) and the end, after a garbage collection each time, each
   charged to the innermost posdriver or emulator frame of its traceback; the growth by
   side; and SQLite's own memory, which tracemalloc does not see.

``--quick``: 300 sales (default 1000), tracing 200. One run on a shared machine: the
figures are indicative, the growth per 1000 sales is what matters.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import tracemalloc
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _common  # noqa: F401  (puts the repository on sys.path)
from _common import REPO, Processes, first_line, status_field

SALE = {"kind": "sale", "amount": "12.50"}
WAIT = 30  # seconds a GET of the operation waits for its end
ROLL_MM = 10_000_000.0  # 10 km: no external printer runs out during a run
DRAIN_SECONDS = 120.0  # the print queue empties within this after the last sale
TRACE_FRAMES = 12
TOP_SITES = 15


def progress(text: str) -> None:
    sys.stdout.flush()  # keep the figures and the progress lines in order on a terminal
    print(f"[memory bench] {text}", file=sys.stderr, flush=True)


# -- HTTP ----------------------------------------------------------------------------------
def call(url: str, body: dict[str, Any] | None = None, timeout: float = WAIT + 10) -> Any:
    """One JSON request (a POST when there is a body); the decoded answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"{request.method} {url}: {exc.code} {exc.read()[:300]!r}") from None


def sale(api: str) -> str:
    """One sale, to its end; its final state (``approved`` unless something is wrong)."""
    started = call(f"{api}/v1/operations", SALE)
    op_id = started["operation"]["id"]
    answer = call(f"{api}/v1/operations/{op_id}?wait={WAIT}")
    if not answer.get("final"):
        raise SystemExit(f"sale {op_id} did not end within {WAIT} s: {answer['operation']}")
    return str(answer["operation"]["state"])


def drain(api: str) -> None:
    """Wait until every receipt is printed (the last sales' jobs are still queued)."""
    deadline = time.monotonic() + DRAIN_SECONDS
    while call(f"{api}/v1/print-jobs"):
        if time.monotonic() > deadline:
            raise SystemExit(f"print jobs still waiting {DRAIN_SECONDS:g} s after the last sale")
        time.sleep(0.2)


class RollChanger:
    """The daemon's own emulated printer has a 50 m roll, a few hundred receipts: change it
    when the near-end sensor trips, between sales and once every receipt is printed (so
    never in the middle of one)."""

    def __init__(self, api: str, control: str | None) -> None:
        self.api = api
        self.control = control
        self.changes = 0

    def between_sales(self) -> None:
        if self.control is None:
            return
        paper = call(f"{self.control}/state")["paper"]
        if paper["state"] == "ok":
            return
        drain(self.api)
        for active in (True, False):  # clearing paper_out is "a new roll was loaded"
            call(f"{self.control}/faults", {"fault": "paper_out", "active": active})
        self.changes += 1


# -- /proc ---------------------------------------------------------------------------------
@dataclass
class Figures:
    rss: int  # bytes
    fds: int
    threads: int


def figures(pid: int) -> Figures:
    return Figures(
        rss=status_field(pid, "VmRSS") * 1024,
        fds=len(os.listdir(f"/proc/{pid}/fd")),
        threads=status_field(pid, "Threads"),
    )


@dataclass
class Run:
    """What one mode measured: per process, (sales done, figures) in order."""

    mode: str
    pids: dict[str, int]
    samples: dict[str, list[tuple[int, Figures]]] = field(default_factory=dict)
    states: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    roll_changes: int = 0

    def sample(self, done: int) -> None:
        for name, pid in self.pids.items():
            self.samples.setdefault(name, []).append((done, figures(pid)))


@dataclass
class Load:
    sales: int
    every: int  # sample every this many sales
    warmup: int  # sales before growth is counted
    rate: float | None  # sales a second at most (None: one after another, at once)


def drive(api: str, run: Run, load: Load, rolls: RollChanger) -> None:
    """``load.sales`` sales, sampling each process at the start, after the warm-up, every
    ``load.every`` sales and at the end (after the print queue drained)."""
    run.sample(0)
    t0 = time.monotonic()
    sales, every, warmup = load.sales, load.every, load.warmup
    for done in range(1, sales + 1):
        if load.rate:  # a pace, as a busy desk's (the audit's was about 3 a second)
            time.sleep(max(0.0, t0 + (done - 1) / load.rate - time.monotonic()))
        state = sale(api)
        run.states[state] = run.states.get(state, 0) + 1
        rolls.between_sales()
        if done == warmup or done % every == 0:
            run.sample(done)
            progress(f"{run.mode[:2]} {done}/{sales} sales")
    run.seconds = time.monotonic() - t0
    drain(api)
    run.sample(sales)
    run.roll_changes = rolls.changes


def report(run: Run, warmup: int) -> None:
    states = ", ".join(f"{n} {s}" for s, n in sorted(run.states.items()))
    sales = sum(run.states.values())
    print(
        f"{run.mode}: {sales} sales in {run.seconds:.0f} s ({states})"
        + (f", {run.roll_changes} new rolls" if run.roll_changes else "")
    )
    for name, samples in run.samples.items():
        print(f"   {name} (pid {run.pids[name]})")
        print(f"     {'sales':>6} {'RSS MB':>8} {'fds':>5} {'threads':>7}")
        for done, fig in samples:
            print(f"     {done:6d} {fig.rss / 1e6:8.1f} {fig.fds:5d} {fig.threads:7d}")
        end_done, end = samples[-1]
        whole = (end.rss - samples[0][1].rss) / 1e6
        print(
            f"     per 1000 sales after the {warmup}-sale warm-up: "
            f"{growth(samples, warmup)}  (start to end: {whole:+.1f} MB)"
        )
        print(f"     per 1000 sales over the second half: {growth(samples, end_done // 2)}")


def growth(samples: list[tuple[int, Figures]], since: int) -> str:
    """RSS, fds and threads gained per 1000 sales from the first sample at or after
    ``since`` sales to the last one."""
    done, base = next((d, fig) for d, fig in samples if d >= since)
    end_done, end = samples[-1]
    span = max(1, end_done - done)
    return (
        f"RSS {(end.rss - base.rss) / span * 1000 / 1e6:+.2f} MB, fds "
        f"{(end.fds - base.fds) / span * 1000:+.1f}, threads "
        f"{(end.threads - base.threads) / span * 1000:+.1f}"
    )


# -- 1. and 2.: posdriver serve as its own process -------------------------------------------
def child_env(root: Path) -> dict[str, str]:
    env = dict(os.environ, TMPDIR=str(root))  # the emulators' pty directories land in root
    for name in ("POSDRIVER_CONFIG", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        env.pop(name, None)
    return env


def serve(procs: Processes, root: Path, mode: str, extra: list[str]) -> tuple[Any, dict[str, Any]]:
    """``posdriver serve`` with ``extra`` arguments; it and what its first lines said
    (the listening URLs by name, the emulated devices' lines by device kind)."""
    log = root / f"serve-{mode}.log"
    args = ["-m", "posdriver", "serve", "--state-dir", str(root / f"state-{mode}")]
    args += ["--api", "127.0.0.1:0", "--metrics", "127.0.0.1:0", "--log-level", "warning"]
    with open(log, "a", encoding="utf-8") as sink:
        child = procs.spawn([*args, *extra], child_env(root), sink)
    said: dict[str, Any] = {}
    while "metrics" not in said:
        line = first_line(child, "posdriver serve", log)
        said[str(line.get("listening") or line.get("device"))] = line
    return child, said


def run_emulated(root: Path, load: Load) -> Run:
    procs = Processes()
    try:
        progress("posdriver serve --emulate")
        child, said = serve(procs, root, "emulate", ["--emulate"])
        run = Run("1. posdriver serve --emulate (emulators inside)", {"serve": child.pid})
        api = said["api"]["url"]
        drive(api, run, load, RollChanger(api, said["printer"]["control"]))
        return run
    finally:
        procs.stop_all()


def spawn_emulator(
    procs: Processes, root: Path, kind: str, extra: list[str] | None = None
) -> tuple[Any, str]:
    """``posdriver-emulator KIND --link pty`` as a process of its own (its log in
    ``root``); it and the URL it printed."""
    log = root / "emulators.log"
    with open(log, "a", encoding="utf-8") as sink:
        child = procs.spawn(
            ["-m", "posdriver_emulator", kind, "--link", "pty", *(extra or [])],
            child_env(root),
            sink,
        )
    return child, str(first_line(child, f"posdriver-emulator {kind}", log)["url"])


def device_config(printer_url: str, terminal_urls: dict[str, str]) -> str:
    """The TOML devices of a printer ``receipt`` and the terminals named, each printing
    on it."""
    lines = ["[devices.receipt]", 'kind = "printer"', f"url = {json.dumps(printer_url)}", ""]
    for name, url in terminal_urls.items():
        lines += [f"[devices.{name}]", 'kind = "terminal"', f"url = {json.dumps(url)}"]
        lines += ['printer = "receipt"', ""]
    return "\n".join(lines)


def run_external(root: Path, load: Load) -> Run:
    procs = Processes()
    try:
        progress("posdriver-emulator printer and terminal, then posdriver serve --config")
        printer, printer_url = spawn_emulator(procs, root, "printer", ["--roll-mm", f"{ROLL_MM:g}"])
        terminal, terminal_url = spawn_emulator(procs, root, "terminal")
        config = root / "external.toml"
        config.write_text(device_config(printer_url, {"desk": terminal_url}), encoding="utf-8")
        child, said = serve(procs, root, "external", ["--config", str(config)])
        pids = {
            "serve": child.pid,
            "printer emulator": printer.pid,
            "terminal emulator": terminal.pid,
        }
        run = Run("2. posdriver serve --config, emulators as their own processes", pids)
        api = said["api"]["url"]
        drive(api, run, load, RollChanger(api, None))
        return run
    finally:
        procs.stop_all()


# -- 3. where it grows: tracemalloc in this process ------------------------------------------
def side_of(filename: str) -> str | None:
    """``posdriver`` or ``emulator`` for a file of this repository's packages, else None."""
    try:
        relative = Path(filename).resolve().relative_to(REPO)
    except ValueError:
        return None
    top = relative.parts[0] if relative.parts else ""
    return top if top in ("posdriver", "posdriver_emulator") else None


def owner(trace: tracemalloc.Traceback) -> str:
    """The innermost frame of ours (where the code that asked for the memory is), as
    ``path:line``; the innermost frame of all when none is ours."""
    for frame in reversed(trace):  # a Traceback runs from the oldest frame to the newest
        if side_of(frame.filename):
            return f"{Path(frame.filename).resolve().relative_to(REPO)}:{frame.lineno}"
    frame = trace[-1]
    return f"{frame.filename}:{frame.lineno}"


def snapshot() -> tuple[tracemalloc.Snapshot, int]:
    """The traced Python allocations, and what SQLite holds (page cache, statements),
    which tracemalloc does not see."""
    gc.collect()
    traced = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )
    return traced, sqlite_memory()


def sqlite_memory() -> int:
    """sqlite3_memory_used() of the SQLite library the journal runs on, in bytes."""
    import _sqlite3

    used = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_used
    used.restype = ctypes.c_int64
    return int(used())


def growth_by_site(
    before: tracemalloc.Snapshot, after: tracemalloc.Snapshot
) -> dict[str, list[int]]:
    """Bytes and blocks gained between the snapshots, by owning site."""
    sites: dict[str, list[int]] = {}
    for stat in after.compare_to(before, "traceback"):
        if stat.size_diff == 0 and stat.count_diff == 0:
            continue
        row = sites.setdefault(owner(stat.traceback), [0, 0])
        row[0] += stat.size_diff
        row[1] += stat.count_diff
    return sites


def traced_daemon(root: Path, sales: int, warmup: int) -> None:
    from posdriver.config import load_config, with_overrides
    from posdriver.service.daemon import Daemon

    config_file = root / "trace.toml"
    config_file.write_text("", encoding="utf-8")
    config = with_overrides(load_config(config_file), state_dir=root / "state-trace")
    tracemalloc.start(TRACE_FRAMES)
    daemon = Daemon(
        config, emulate=True, api="127.0.0.1:0", metrics="127.0.0.1:0", out=lambda _l: None
    )
    try:
        daemon.start()
        api = daemon.bound["api"]
        control = daemon.emulators[0].control_url
        rolls = RollChanger(api, control)
        run_sales(api, warmup, rolls)
        drain(api)
        before, sqlite_before = snapshot()
        run_sales(api, sales, rolls)
        drain(api)
        after, sqlite_after = snapshot()
    finally:
        daemon.stop()
        tracemalloc.stop()
    report_sites(growth_by_site(before, after), sales, warmup)
    print(
        f"   SQLite's own memory (not traced): {sqlite_before / 1e6:.1f} MB after the warm-up, "
        f"{sqlite_after / 1e6:.1f} MB at the end (its page cache is bounded by cache_size)"
    )


def run_sales(api: str, count: int, rolls: RollChanger) -> None:
    for done in range(1, count + 1):
        state = sale(api)
        if state != "approved":
            raise SystemExit(f"a traced sale ended {state}")
        rolls.between_sales()
        if done % 50 == 0:
            progress(f"traced: {done}/{count} sales")


def report_sites(sites: dict[str, list[int]], sales: int, warmup: int) -> None:
    by_side: dict[str, int] = {}
    for site, (size, _count) in sites.items():
        side = side_of(str(REPO / site.rsplit(":", 1)[0])) or "elsewhere"
        by_side[side] = by_side.get(side, 0) + size
    total = sum(by_side.values())
    print(
        f"3. tracemalloc, daemon and both emulators in this process: {sales} sales after a "
        f"{warmup}-sale warm-up, net {total / 1e3:+.0f} kB "
        f"({total / sales / 1e3 * 1000:+.0f} kB per 1000)"
    )
    for side, size in sorted(by_side.items(), key=lambda item: -item[1]):
        print(f"   {side:10} {size / 1e3:+9.0f} kB  {size / sales:+8.0f} B per sale")
    print(f"   top {TOP_SITES} sites by growth (each at the innermost posdriver/emulator frame):")
    ranked = sorted(sites.items(), key=lambda item: -item[1][0])[:TOP_SITES]
    for site, (size, count) in ranked:
        print(f"   {size / 1e3:+9.0f} kB {count:+8d} blocks  {size / sales:+7.0f} B/sale  {site}")


# -- main ---------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 sales, 200 traced")
    parser.add_argument("--sales", type=int, help="sales per mode (default 1000, quick 300)")
    parser.add_argument("--every", type=int, help="sample every this many sales (default sales/10)")
    parser.add_argument("--warmup", type=int, default=50, help="sales before growth is counted")
    parser.add_argument(
        "--only", choices=("emulate", "external", "trace"), help="run one part only (1, 2 or 3)"
    )
    parser.add_argument("--trace-sales", type=int, help="traced sales (default 400, quick 200)")
    parser.add_argument(
        "--trace-warmup", type=int, default=150, help="sales before the first snapshot"
    )
    parser.add_argument(
        "--rate", type=float, help="at most this many sales a second (default: no pause)"
    )
    opts = parser.parse_args()
    sales = opts.sales or (300 if opts.quick else 1000)
    every = opts.every or max(1, sales // 10)
    load = Load(sales, every, min(opts.warmup, sales), opts.rate)
    traced = opts.trace_sales or (200 if opts.quick else 400)

    root = Path(tempfile.mkdtemp(prefix="posdriver-memory-bench-"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the cleanup below runs
    started = time.monotonic()
    try:
        print("Memory benchmark (one run on a noisy machine: figures are indicative)")
        print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; MB = 10^6 bytes")
        parts: list[tuple[str, Callable[[], None]]] = [
            ("emulate", lambda: report(run_emulated(root, load), load.warmup)),
            ("external", lambda: report(run_external(root, load), load.warmup)),
            ("trace", lambda: traced_daemon(root, traced, opts.trace_warmup)),
        ]
        for name, part in parts:
            if opts.only in (None, name):
                part()
        progress(f"done in {time.monotonic() - started:.0f} s")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
