"""The daemon's costs: how soon a fault shows in /metrics, what it uses when idle, and
how long a scrape takes with many devices.

1. Fault to /metrics: an emulated printer (in this process, on a real pty) runs out of
   paper; ``/metrics`` of an in-process :class:`Daemon` is scraped over HTTP every 5 ms
   until ``posdriver_printer_paper_state{state="out"}`` is 1. Twice: with Automatic
   Status Back (target 100 ms), and polling every ``service.poll_interval`` = 1 s with
   the emulator configured as a printer without ASB (``asb_supported=False``: it ignores
   ``GS a``, so the worker falls back to polling as with a real printer of that kind;
   target one poll interval + 50 ms). Before each polled fault a random part of a poll
   interval passes, so it lands anywhere in the worker's cycle and the spread is real.
2. Idle cost: ``posdriver serve`` as its own process with four devices (three emulated
   printers and a terminal, each a ``posdriver-emulator`` process of its own, so their CPU
   is not counted), ``poll_interval`` = 1 s. After a warm-up, its CPU time (utime + stime
   from /proc/PID/stat) over the window and its resident memory (VmRSS, read every
   second) against the targets: 0.5 % of one core, 50 MB. When a target is missed (or
   with ``--profile``) the same daemon runs in this process under cProfile, timed by
   each thread's CPU clock, to show which threads and functions the CPU goes to.
3. Scrape latency with 100 devices: snapshots of 80 printers and 20 terminals (real
   DeviceSnapshot objects, their checks made by the real health functions), served by
   the real metrics server and scraped 200 times over HTTP (target 10 ms), both in the
   plain text format and as a Prometheus server asks (OpenMetrics, gzip; the page answers
   in the text format, uncompressed, either way). These are
   snapshots, not 100 running emulators: a scrape reads only snapshots, never a device,
   so what it costs depends on how many there are, not on who keeps them current.

``--quick``: 10 faults per mode and a 10 s idle window (default 30 and 30 s). One run on
a shared machine: the figures are indicative.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import _common  # noqa: F401  (puts the repository on sys.path)
from _common import Processes, describe_ms, first_line, percentile, status_field

from posdriver.config import load_config, with_overrides
from posdriver.printer.status import PaperState, PrinterStatus
from posdriver.service import health
from posdriver.service.daemon import Daemon
from posdriver.service.metrics import (
    MetricsPage,
    start_metrics_server,
    stop_metrics_server,
)
from posdriver.service.snapshot import CheckResult, DeviceSnapshot, ServiceSnapshot
from posdriver_emulator.controller import Controller
from posdriver_emulator.printer import PrinterConfig as EmulatedPrinterConfig

REPO = Path(__file__).resolve().parent.parent
POLL_INTERVAL = 1.0
SCRAPE_PERIOD = 0.005
ASB_TARGET = 0.100
POLL_SLACK = 0.050
FAULT_TIMEOUT = 5.0  # one fault not seen within this is a failure, not a figure
WARMUP = 6.0  # past the terminal's first diagnosis (5 s after it connects)
CPU_TARGET = 0.5  # percent of one core
RSS_TARGET = 50e6  # bytes (MB = 10^6 bytes)
PROFILE_SECONDS = 10.0
DEVICES = 100
PRINTERS = 80
SCRAPES = 200
SCRAPE_TARGET = 0.010
PAPER_OUT = 'posdriver_printer_paper_state{device="receipt",state="out"}'
PAPER_OK = 'posdriver_printer_paper_state{device="receipt",state="ok"}'
CLK_TCK = os.sysconf("SC_CLK_TCK")


def progress(text: str) -> None:
    sys.stdout.flush()  # keep the figures and the progress lines in order on a terminal
    print(f"[daemon bench] {text}", file=sys.stderr, flush=True)


def verdict(met: bool) -> str:
    return "within target" if met else "MISSES target"


# -- scraping ------------------------------------------------------------------------------
# What a Prometheus server sends: it prefers OpenMetrics and takes gzip.
PROMETHEUS_HEADERS = {
    "Accept": "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
    "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "Accept-Encoding": "gzip",
}


def scrape(url: str, headers: dict[str, str] | None = None) -> str:
    """One scrape on a new connection (the metrics server answers HTTP/1.0). The text
    exposition unless ``headers`` ask otherwise; a gzip body is returned undecoded."""
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=5) as answer:
        return str(answer.read().decode("latin-1"))


def sample(text: str, series: str) -> float | None:
    """The value of one exact series (name and labels as the exposition writes them)."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def await_metric(
    url: str, series: str, value: float, timeout: float, since: float | None = None
) -> float | None:
    """Scrape every :data:`SCRAPE_PERIOD` until ``series`` is ``value``; the seconds from
    ``since`` (default: now) to the end of the scrape that showed it, or None past
    ``timeout``."""
    t0 = time.perf_counter() if since is None else since
    next_at = time.perf_counter()
    while True:
        if sample(scrape(url), series) == value:
            return time.perf_counter() - t0
        now = time.perf_counter()
        if now - t0 > timeout:
            return None
        next_at += SCRAPE_PERIOD
        time.sleep(max(0.0, next_at - now))


def write_config(path: Path, printers: dict[str, str], terminals: dict[str, str]) -> Path:
    """A TOML config as a hotel would write it, read back through the real loader."""
    lines = ["[service]", f"poll_interval = {POLL_INTERVAL}"]
    for name, url in printers.items():
        lines += ["", f"[devices.{name}]", 'kind = "printer"', f"url = {json.dumps(url)}"]
    first = next(iter(printers), None)
    for name, url in terminals.items():
        lines += ["", f"[devices.{name}]", 'kind = "terminal"', f"url = {json.dumps(url)}"]
        if first:
            lines.append(f'printer = "{first}"')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- 1. fault to /metrics ------------------------------------------------------------------
def fault_latency(root: Path, asb: bool, runs: int, rng: random.Random) -> list[float]:
    """``runs`` paper-out faults, each timed from ``set_fault`` to the scrape showing it."""
    mode = "asb" if asb else "poll"
    link_dir = root / f"pty-{mode}"
    link_dir.mkdir()
    emulated = EmulatedPrinterConfig(asb_supported=asb)
    with Controller.printer(link="pty", link_dir=link_dir, config=emulated, control=False) as emu:
        config = load_config(write_config(root / f"{mode}.toml", {"receipt": emu.url}, {}))
        config = with_overrides(config, state_dir=root / f"state-{mode}")
        daemon = Daemon(config, api="127.0.0.1:0", metrics="127.0.0.1:0", out=lambda _l: None)
        try:
            daemon.start()
            worker: Any = daemon.workers["receipt"]
            if worker.asb != asb:
                raise SystemExit(f"the printer worker has ASB {worker.asb}, expected {asb}")
            url = daemon.bound["metrics"]
            if await_metric(url, PAPER_OK, 1.0, 10.0) is None:
                raise SystemExit("the daemon never reported the emulated printer's paper ok")
            times: list[float] = []
            for index in range(runs):
                # polling: the fault lands anywhere in the worker's cycle, not just after
                # the poll that saw the last one clear
                time.sleep(rng.uniform(0.0, 0.1 if asb else POLL_INTERVAL))
                t0 = time.perf_counter()
                emu.set_fault("paper_out", True)
                seen = await_metric(url, PAPER_OUT, 1.0, FAULT_TIMEOUT, since=t0)
                if seen is None:
                    raise SystemExit(f"{mode}: fault {index + 1} not in /metrics after 5 s")
                times.append(seen)
                emu.set_fault("paper_out", False)
                if await_metric(url, PAPER_OK, 1.0, FAULT_TIMEOUT) is None:
                    raise SystemExit(f"{mode}: paper never back to ok after fault {index + 1}")
            return times
        finally:
            daemon.stop()


def part_fault(root: Path, runs: int) -> None:
    rng = random.Random(5)
    print(f"1. paper_out fault to /metrics ({runs} faults each, scraped every 5 ms over HTTP)")
    progress(f"{runs} faults with ASB")
    asb = fault_latency(root, True, runs, rng)
    progress(f"{runs} faults with polling every {POLL_INTERVAL:g} s")
    polled = fault_latency(root, False, runs, rng)
    poll_target = POLL_INTERVAL + POLL_SLACK
    for label, times, target in (
        ("ASB", asb, ASB_TARGET),
        (f"polling ({POLL_INTERVAL:g} s)", polled, poll_target),
    ):
        p99, worst = percentile(times, 0.99), max(times)
        print(f"   {label:15} {describe_ms(times)}   max {worst * 1000:7.1f} ms")
        print(
            f"   {'':15} target {target * 1000:.0f} ms: p99 {verdict(p99 <= target)}"
            f"{'' if worst <= target else f' (max {worst * 1000:.0f} ms over it)'}"
        )
    print(
        "   (polling: the emulated printer is configured without ASB (asb_supported=False),\n"
        "   so this is the daemon's own fallback for printers that ignore GS a)"
    )


# -- 2. idle cost --------------------------------------------------------------------------
def cpu_ticks(pid: int | str) -> int:
    """utime + stime of a process (or, as ``PID/task/TID``, one thread), in clock ticks."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)


def start_emulators(
    procs: Processes, root: Path, env: dict[str, str]
) -> tuple[dict[str, str], dict[str, str], list[int]]:
    """Three printers and a terminal, each in a ``posdriver-emulator`` process."""
    log = root / "emulators.log"
    printers: dict[str, str] = {}
    terminals: dict[str, str] = {}
    children: list[tuple[str, subprocess.Popen[str]]] = []
    with open(log, "a", encoding="utf-8") as sink:
        for index in range(1, 4):
            children.append(
                (f"printer{index}", procs.spawn(["-m", "posdriver_emulator", "printer"], env, sink))
            )
        children.append(("desk", procs.spawn(["-m", "posdriver_emulator", "terminal"], env, sink)))
    for name, child in children:
        url = str(first_line(child, f"posdriver-emulator ({name})", log)["url"])
        (terminals if name == "desk" else printers)[name] = url
    return printers, terminals, [child.pid for _, child in children]


def all_up(url: str, names: list[str]) -> bool:
    text = scrape(url)
    return all(
        any(
            line.startswith(f'posdriver_device_up{{device="{name}",') and line.endswith(" 1.0")
            for line in text.splitlines()
        )
        for name in names
    )


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


def measure_idle(pid: int, others: list[int], window: float) -> dict[str, Any]:
    """CPU over ``window`` seconds; VmRSS and the thread count read every second."""
    start_wall = time.monotonic()
    start_cpu = cpu_ticks(pid)
    start_others = {p: cpu_ticks(p) for p in others}
    rss: list[int] = []
    threads: list[int] = []
    end = start_wall + window
    while True:
        rss.append(status_field(pid, "VmRSS") * 1024)
        threads.append(status_field(pid, "Threads"))
        left = end - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(1.0, left))
    wall = time.monotonic() - start_wall
    cpu = (cpu_ticks(pid) - start_cpu) / CLK_TCK
    others_cpu = {p: (cpu_ticks(p) - t) / CLK_TCK for p, t in start_others.items()}
    return {"wall": wall, "cpu": cpu, "rss": rss, "threads": threads, "others": others_cpu}


def part_idle(root: Path, window: float, force_profile: bool) -> None:
    procs = Processes()
    env = dict(os.environ, TMPDIR=str(root))  # the emulators' pty directories land in root
    for name in ("POSDRIVER_CONFIG", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        env.pop(name, None)
    try:
        progress("starting 3 emulated printers and 1 terminal, each its own process")
        printers, terminals, emulator_pids = start_emulators(procs, root, env)
        config = write_config(root / "idle.toml", printers, terminals)
        log = root / "serve.log"
        with open(log, "a", encoding="utf-8") as sink:
            serve = procs.spawn(
                [
                    "-m", "posdriver", "serve", "--config", str(config),
                    "--state-dir", str(root / "state-idle"), "--api", "127.0.0.1:0",
                    "--metrics", "127.0.0.1:0", "--log-level", "warning",
                ],
                env,
                sink,
            )  # fmt: skip
        listening: dict[str, str] = {}
        while "metrics" not in listening:
            said = first_line(serve, "posdriver serve", log)
            listening[str(said.get("listening"))] = str(said.get("url"))
        names = [*printers, *terminals]
        wait_for(lambda: all_up(listening["metrics"], names), 20.0, "all four devices up")
        progress(f"all 4 devices up; warming up {WARMUP:g} s, then {window:g} s idle")
        time.sleep(WARMUP)  # a measurement window, not a wait for a condition
        idle = measure_idle(serve.pid, emulator_pids, window)
        alive = serve.poll() is None
        procs.stop(serve)
        if not alive:
            raise SystemExit("posdriver serve exited during the idle window")

        share = idle["cpu"] / idle["wall"] * 100
        rss_last, rss_peak = idle["rss"][-1], max(idle["rss"])
        print(
            f"2. idle daemon, 4 devices (3 printers with ASB, 1 terminal), poll_interval "
            f"{POLL_INTERVAL:g} s:\n   {idle['wall']:.0f} s after a {WARMUP:g} s warm-up"
        )
        print(
            f"   CPU {share:.2f} % of one core ({idle['cpu']:.2f} s in {idle['wall']:.1f} s)"
            f"   target {CPU_TARGET} %: {verdict(share <= CPU_TARGET)}"
        )
        print(
            f"   RSS {rss_last / 1e6:.1f} MB (peak {rss_peak / 1e6:.1f} MB, MB = 10^6 bytes)"
            f"   target {RSS_TARGET / 1e6:.0f} MB: {verdict(rss_peak <= RSS_TARGET)}"
        )
        emulator_cpu = sum(idle["others"].values()) / idle["wall"] * 100
        print(
            f"   threads {max(idle['threads'])}; the 4 emulator processes (not counted) used "
            f"{emulator_cpu:.2f} % of one core together"
        )
        if force_profile or share > CPU_TARGET or rss_peak > RSS_TARGET:
            progress(f"profiling the same daemon in this process for {PROFILE_SECONDS:g} s")
            profile_daemon(root, config, names)
    finally:
        procs.stop_all()


# -- 2b. where the idle CPU goes -----------------------------------------------------------
@contextlib.contextmanager
def profiled_threads() -> Iterator[list[cProfile.Profile]]:
    """A cProfile per thread started inside the block, timed by that thread's CPU clock
    (so waiting costs nothing): cProfile on its own sees only the thread enabling it."""
    profiles: list[cProfile.Profile] = []

    def hook(*_: object) -> None:
        # the first event in a new thread: replace this hook by a profiler of its own
        profile = cProfile.Profile(timer=time.thread_time)
        profiles.append(profile)
        profile.enable()

    threading.setprofile(hook)
    try:
        yield profiles
    finally:
        threading.setprofile(None)  # type: ignore[arg-type]


def thread_cpu() -> dict[str, int]:
    """CPU ticks of each of this process's Python threads, by thread name."""
    ticks: dict[str, int] = {}
    for thread in threading.enumerate():
        with contextlib.suppress(OSError, TypeError):
            ticks[thread.name] = cpu_ticks(f"self/task/{thread.native_id}")
    return ticks


def short(path: str) -> str:
    for prefix in (str(REPO) + os.sep, *(p + os.sep for p in sys.path if "site-packages" in p)):
        if path.startswith(prefix):
            return path[len(prefix) :]
    return path.rsplit(os.sep, 2)[-1] if os.sep in path else path


Row = tuple[int, float, float]  # calls, own CPU seconds, cumulative CPU seconds


def profile_rows(profiles: list[cProfile.Profile]) -> dict[str, Row]:
    """What the profilers hold so far, summed over threads, by function. Read while the
    threads run (the GIL keeps each table whole; no garbage collection meanwhile, so no
    finalizer can hand the GIL to a thread that is writing one)."""
    rows: dict[str, Row] = {}
    gc.disable()
    try:
        for profile in list(profiles):
            for entry in profile.getstats():
                code = entry.code
                if isinstance(code, str):
                    where = code
                else:
                    where = f"{short(code.co_filename)}:{code.co_firstlineno}({code.co_name})"
                calls, own, cumulative = rows.get(where, (0, 0.0, 0.0))
                rows[where] = (
                    calls + entry.callcount,
                    own + entry.inlinetime,
                    cumulative + entry.totaltime,
                )
    finally:
        gc.enable()
    return rows


def profile_daemon(root: Path, config_file: Path, names: list[str]) -> None:
    """The idle daemon again, in this process and under cProfile, after the same warm-up:
    CPU by thread over the window, and the functions it went to."""
    config = with_overrides(load_config(config_file), state_dir=root / "state-profile")
    with profiled_threads() as profiles:
        daemon = Daemon(config, api="127.0.0.1:0", metrics="127.0.0.1:0", out=lambda _l: None)
        try:
            daemon.start()
            url = daemon.bound["metrics"]
            wait_for(lambda: all_up(url, names), 20.0, "all four devices up (profiled)")
            time.sleep(WARMUP)
            before, rows_before, t0 = thread_cpu(), profile_rows(profiles), time.monotonic()
            time.sleep(PROFILE_SECONDS)
            after, rows_after = thread_cpu(), profile_rows(profiles)
            wall = time.monotonic() - t0
            threads = len(threading.enumerate())
        finally:
            daemon.stop()
    used = sorted(((after[n] - before[n]) / CLK_TCK, n) for n in after if n in before)[::-1]
    print(
        f"   profile: the same daemon in this process ({threads} threads), {wall:.0f} s after "
        "the warm-up,\n   cProfile on (so inflated: the shares are what matter); CPU by thread:"
    )
    for seconds, name in used[:6]:
        print(f"     {name[:28]:28} {seconds / wall * 100:5.2f} % of one core")
    rows: dict[str, Row] = {}
    for where, (calls, own, cumulative) in rows_after.items():
        c0, o0, t0_ = rows_before.get(where, (0, 0.0, 0.0))
        if calls > c0:
            rows[where] = (calls - c0, own - o0, cumulative - t0_)
    total = sum(own for _, own, _ in rows.values()) or 1.0
    turns = sum(c for where, (c, _, _) in rows.items() if where.endswith("(_turn)"))
    print(
        f"   worker loop turns (DeviceWorker._turn): {turns / wall:.0f} per second in all\n"
        f"   functions by own CPU time ({total * 1000:.0f} ms in all):"
    )
    for where, (calls, own, cumulative) in sorted(
        rows.items(), key=lambda item: item[1][1], reverse=True
    )[:12]:
        print(
            f"     {own * 1000:7.1f} ms {own / total * 100:5.1f} %  "
            f"cum {cumulative * 1000:7.1f} ms {calls / wall:7.1f} calls/s  {where}"
        )


# -- 3. /metrics with 100 devices ----------------------------------------------------------
def device_snapshots(now: float) -> list[DeviceSnapshot]:
    """80 printers and 20 terminals as their workers leave them: connected, status read
    within the last poll, every check run. A few printers are near the end of the roll."""
    devices: list[DeviceSnapshot] = []
    for index in range(PRINTERS):
        name = f"printer{index + 1:03d}"
        paper = PaperState.NEAR_END if index % 10 == 3 else PaperState.OK
        status = PrinterStatus(
            online=True,
            cover_open=False,
            paper=paper,
            error=False,
            mechanical_error=False,
            autocutter_error=False,
            unrecoverable_error=False,
            auto_recoverable_error=False,
            source="asb",
            read_at=now,
        )
        checks = health.printer_status_checks(status, name, clock=lambda: now)
        facts = health.printer_facts(status)
        snap = DeviceSnapshot(
            name=name,
            kind="printer",
            url=f"serial:///dev/serial/by-id/usb-printer-{index:03d}?baudrate=38400",
            lifecycle="degraded" if paper is PaperState.NEAR_END else "ready",
            last_contact=now - 0.2,
            status_at=now - 0.2,
            paper=str(facts["paper"]),
            cover=str(facts["cover"]),
            errors=dict(facts["errors"]),  # type: ignore[call-overload]
            info={"model": "TM-T88V", "firmware": "30.10 ESC/POS", "serial": f"X5MF{index:06d}"},
            checks={c.check: c for c in checks},
        )
        devices.append(snap)
    for index in range(DEVICES - PRINTERS):
        name = f"desk{index + 1:03d}"
        results = [
            CheckResult(name, "link", "ok", "the terminal answered", 0.12, now - 3),
            CheckResult(name, "connectivity", "ok", "acquirer reachable: ok", 2.4, now - 60),
            CheckResult(name, "terminal_state", "ok", "ready", 0.12, now - 3),
        ]
        devices.append(
            DeviceSnapshot(
                name=name,
                kind="terminal",
                url=f"tcp://10.0.{index // 200}.{index % 200 + 20}:20007",
                lifecycle="ready",
                last_contact=now - 3,
                status_at=now - 3,
                freshness=65.0,
                acquirer="reachable",
                circuit="closed",
                terminal_state="ready",
                info={"model": "ZVT", "serial": f"5250{index:04d}"},
                checks={r.check: r for r in results},
            )
        )
    return devices


def render_phases(
    page: MetricsPage, snapshot: Callable[[], ServiceSnapshot]
) -> dict[str, list[float]]:
    """Where a scrape's time goes in this process: the snapshot copy, and the whole page
    (snapshot copy, the posdriver text and prometheus_client's process metrics)."""
    phases: dict[str, list[float]] = {
        "snapshot copy (as Daemon.snapshot)": [],
        "render (snapshot + text + process metrics)": [],
    }
    steps: list[Callable[[], object]] = [snapshot, page.render]
    for _ in range(50):
        for times, step in zip(phases.values(), steps, strict=True):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
    return phases


def part_metrics() -> None:
    devices = device_snapshots(time.time())
    lock = threading.Lock()
    counters = {
        ("sale", "approved"): 41_322,
        ("sale", "declined"): 1_201,
        ("refund", "approved"): 88,
    }

    def snapshot() -> ServiceSnapshot:
        # as Daemon.snapshot: a copy under the lock, each device as its worker's view()
        with lock:
            views = [d.current() for d in devices]
            return ServiceSnapshot(
                devices=views,
                operations=dict(counters),
                print_jobs={"queued": 1},
                journal_size_bytes=182_000_000,
                journal_last_commit=time.time() - 40,
                version="bench",
            )

    page = MetricsPage(snapshot)
    server, thread, port = start_metrics_server(page, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        body = scrape(url)
        for _ in range(10):
            scrape(url)
        timed: dict[str, list[float]] = {"text format": [], "as Prometheus asks": []}
        for _ in range(SCRAPES):  # the two kinds take turns, so load swings fall on both
            for times, headers in zip(timed.values(), (None, PROMETHEUS_HEADERS), strict=True):
                t0 = time.perf_counter()
                scrape(url, headers)
                times.append(time.perf_counter() - t0)
        phases = render_phases(page, snapshot)
    finally:
        stop_metrics_server(server, thread)
    series = sum(1 for line in body.splitlines() if line and not line.startswith("#"))
    print(
        f"3. /metrics with {DEVICES} devices ({PRINTERS} printers, {DEVICES - PRINTERS} "
        f"terminals): {series} series, {len(body.encode()) / 1024:.0f} KiB of text; "
        f"{SCRAPES} scrapes each over HTTP, a new connection each"
    )
    for kind, times in timed.items():
        p99 = percentile(times, 0.99)
        print(
            f"   {kind:18} {describe_ms(times)}   target {SCRAPE_TARGET * 1000:.0f} ms: "
            f"p99 {verdict(p99 <= SCRAPE_TARGET)}"
        )
    print(
        "   ('as Prometheus asks': Accept OpenMetrics first, Accept-Encoding gzip, as a "
        "Prometheus server sends)"
    )
    print("   in this process, median of 50 each:")
    for name, times_ in phases.items():
        print(f"     {name:46} {statistics.median(times_) * 1000:7.2f} ms")
    print(
        "   (the devices are DeviceSnapshot objects, copied per scrape as the daemon does,\n"
        "   not 100 running emulators: a scrape never reads a device)"
    )


# -- main ---------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 faults per mode, 10 s idle")
    parser.add_argument("--faults", type=int, help="faults per mode (default 30, quick 10)")
    parser.add_argument(
        "--only",
        choices=("fault", "idle", "metrics"),
        help="run one part only (1. fault, 2. idle, 3. metrics)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="profile the idle daemon even if within target"
    )
    opts = parser.parse_args()
    runs = opts.faults or (10 if opts.quick else 30)
    window = 10.0 if opts.quick else 30.0

    root = Path(tempfile.mkdtemp(prefix="posdriver-daemon-bench-"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the cleanup below runs
    started = time.monotonic()
    try:
        print("Daemon benchmark (one run on a noisy machine: figures are indicative)")
        print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
        if opts.only in (None, "fault"):
            part_fault(root, runs)
        if opts.only in (None, "idle"):
            part_idle(root, window, opts.profile)
        if opts.only in (None, "metrics"):
            progress(f"{DEVICES} device snapshots behind the metrics server")
            part_metrics()
        progress(f"done in {time.monotonic() - started:.0f} s")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
