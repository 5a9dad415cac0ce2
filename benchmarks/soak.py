"""Soak: a daemon taking sales and status polls for hours' worth of a desk's traffic, in
minutes. Does anything grow, and does the API stay quick?

``posdriver serve --config FILE`` with a printer and terminals, each a
``posdriver-emulator ... --link pty`` process of its own (as in ``memory.py``), polled as
often as the configuration allows (printer every 0.1 s, each terminal every 1 s, a
diagnosis every 10 s), the terminals' acquirer answering at once. Through the HTTP API,
at the same time:

* ``--sales`` sales (100 000), ``--sale-clients`` at a time, each as the front-desk
  software makes it: ``POST /v1/operations`` then ``GET /v1/operations/{id}?wait=30``
  until it is final; its receipt prints on the emulated printer;
* ``--polls`` status polls (1 000 000) by ``--pollers`` clients, as a monitoring check
  and the desk's status light make them: ``GET /v1/health`` and ``GET /v1/devices`` in
  turn, each an answer from the daemon's snapshot of its devices.

A terminal's batch holds 9999 transactions (the range of its receipt numbers) and the
daemon does not close it while it runs, so the sales are spread over enough terminals
(``--terminals``, by default one per 9000 sales) for none to fill.

The daemon's resident memory (VmRSS), open file descriptors and threads are read at the
start, after ``--warmup`` sales (the first sales load code and fill the bounded windows
once: SQLite's page cache, the API's memory of the newest 4096 idempotency keys; that is
not growth, so the default warm-up is 5000 sales, 500 with ``--quick``), every tenth of
the run and at the end, once the print queue is empty.
Targets: RSS growth from the warm-up to the end at most 5 %; fds and threads the same at
the end as at the start (both read with no request open: during the run each open API
connection has a thread and a socket of its own).
Then the API's latency over the whole run, p50 and p99, for each kind of call. The exit
status is 1 when a target is missed, a sale did not end approved or the daemon exited.

``--quick``: 2000 sales and 20 000 polls. One run on a shared machine: the latencies
are indicative; the growth is what matters.
"""

from __future__ import annotations

import argparse
import itertools
import math
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import _common  # noqa: F401  (puts the repository on sys.path)
from _common import Processes, percentile
from memory import (
    ROLL_MM,
    WAIT,
    Figures,
    call,
    device_config,
    drain,
    figures,
    serve,
    spawn_emulator,
)

BATCH_SALES = 9000  # sales per terminal at most: below the 9999 a batch holds
RSS_GROWTH_TARGET = 0.05
# As often as the configuration allows: each value is its key's minimum.
SERVICE = """\
[service]
poll_interval = 0.1
terminal_poll_interval = 1.0
connectivity_interval = 10.0
connectivity_retry_interval = 10.0
"""


def progress(text: str) -> None:
    sys.stdout.flush()
    print(f"[soak] {text}", file=sys.stderr, flush=True)


@dataclass
class Tally:
    """What the clients saw, shared by their threads: latencies by kind of call, sale
    outcomes, and the sales done (for sampling)."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    states: dict[str, int] = field(default_factory=dict)
    sales_done: int = 0
    polls_done: int = 0
    poll_statuses: dict[str, int] = field(default_factory=dict)  # answers other than 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def timed(self, kind: str, request: Callable[[], object]) -> object:
        started = time.perf_counter()
        answer = request()
        elapsed = time.perf_counter() - started
        with self.lock:
            self.latencies.setdefault(kind, []).append(elapsed)
        return answer

    def polled(self, status: object) -> None:
        with self.lock:
            self.polls_done += 1
            if status != 200:
                self.poll_statuses[str(status)] = self.poll_statuses.get(str(status), 0) + 1

    def sale_ended(self, state: str) -> int:
        with self.lock:
            self.states[state] = self.states.get(state, 0) + 1
            self.sales_done += 1
            return self.sales_done


@dataclass
class Plan:
    sales: int
    polls: int
    sale_clients: int
    pollers: int
    warmup: int
    every: int


def sale(api: str, terminal: str, tally: Tally) -> str:
    """One sale on ``terminal``, to its end; its final state."""
    body = {"kind": "sale", "amount": "12.50", "terminal": terminal}
    started = tally.timed("POST /v1/operations", lambda: call(f"{api}/v1/operations", body))
    op_id = started["operation"]["id"]  # type: ignore[index]
    while True:
        answer = tally.timed(
            "GET /v1/operations/{id}?wait=30",
            lambda: call(f"{api}/v1/operations/{op_id}?wait={WAIT}"),
        )
        operation = answer["operation"]  # type: ignore[index]
        if answer["final"] or operation["state"] in ("in_doubt", "needs_review"):  # type: ignore[index]
            return str(operation["state"])


class Soak:
    """The clients' threads and the sampling of the daemon, for one run."""

    def __init__(self, api: str, terminals: list[str], pid: int, plan: Plan) -> None:
        self.api = api
        self.terminals = itertools.cycle(terminals)
        self.pid = pid
        self.plan = plan
        self.tally = Tally()
        self.samples: list[tuple[str, int, Figures]] = []
        self.next_sale = itertools.count(1)
        self.next_poll = itertools.count(1)
        self.picking = threading.Lock()
        self.failed: list[str] = []

    def sample(self, when: str, done: int) -> None:
        self.samples.append((when, done, figures(self.pid)))

    def sales(self) -> None:
        try:
            while (number := next(self.next_sale)) <= self.plan.sales:
                with self.picking:
                    terminal = next(self.terminals)
                done = self.tally.sale_ended(sale(self.api, terminal, self.tally))
                if done == self.plan.warmup:
                    self.sample("after the warm-up", done)
                elif done % self.plan.every == 0:
                    self.sample("", done)
                    progress(f"{done}/{self.plan.sales} sales, {self.tally.polls_done} polls")
        except BaseException as exc:  # a client that died says why, and the run fails
            self.failed.append(f"sale {number}: {exc}")

    def polls(self) -> None:
        paths = ("/v1/health", "/v1/devices")
        try:
            while (number := next(self.next_poll)) <= self.plan.polls:
                url = self.api + paths[number % 2]
                status = self.tally.timed(f"GET {paths[number % 2]}", lambda u=url: poll(u))
                self.tally.polled(status)
        except BaseException as exc:
            self.failed.append(f"poll {number}: {exc}")

    def run(self) -> float:
        self.sample("start", 0)
        started = time.monotonic()
        threads = [threading.Thread(target=self.sales) for _ in range(self.plan.sale_clients)]
        threads += [threading.Thread(target=self.polls) for _ in range(self.plan.pollers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.monotonic() - started
        drain(self.api)
        self.sample("end, print queue empty", self.tally.sales_done)
        return seconds


def poll(url: str) -> int:
    """A status poll; its HTTP status. ``/v1/health`` answers 503 while something is
    down, which is an answer too (counted apart: the soak's devices should all be up)."""
    try:
        with urllib.request.urlopen(url, timeout=WAIT + 10) as answer:
            answer.read()
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        exc.read()
        return int(exc.code)


def report(soak: Soak, seconds: float, daemon_alive: bool) -> bool:
    """Print the figures; whether every target was met."""
    tally, plan = soak.tally, soak.plan
    states = ", ".join(f"{n} {s}" for s, n in sorted(tally.states.items()))
    polls = tally.polls_done
    other = ", ".join(f"{n} answered {s}" for s, n in sorted(tally.poll_statuses.items()))
    print(f"{tally.sales_done} sales ({states}) and {polls} status polls in {seconds:.0f} s")
    if other:
        print(f"   status polls not 200: {other}")
    print(f"   {tally.sales_done / seconds:.1f} sales/s, {polls / seconds:.0f} polls/s")
    print(f"   daemon (pid {soak.pid}):")
    print(f"     {'when':24} {'sales':>7} {'RSS MB':>8} {'fds':>5} {'threads':>7}")
    for when, done, fig in soak.samples:
        print(f"     {when:24} {done:7d} {fig.rss / 1e6:8.1f} {fig.fds:5d} {fig.threads:7d}")
    base = next((f for w, _, f in soak.samples if w == "after the warm-up"), soak.samples[0][2])
    start, end = soak.samples[0][2], soak.samples[-1][2]
    growth = (end.rss - base.rss) / base.rss
    print(
        f"   RSS growth after the warm-up: {growth * 100:+.1f} % (target <= "
        f"{RSS_GROWTH_TARGET * 100:.0f} %); from the start: "
        f"{(end.rss - start.rss) / start.rss * 100:+.1f} %"
    )
    print(
        f"   fds {start.fds} -> {end.fds}, threads {start.threads} -> {end.threads} "
        "(start -> end, both with no request open; target: the same)"
    )
    print("   API latency over the run:")
    for kind, values in sorted(tally.latencies.items()):
        print(
            f"     {kind:34} p50 {percentile(values, 0.5) * 1000:8.2f} ms   "
            f"p99 {percentile(values, 0.99) * 1000:8.2f} ms   (n={len(values)})"
        )
    problems = list(soak.failed)
    if not daemon_alive:
        problems.append("the daemon exited during the run")
    if tally.states.get("approved", 0) != plan.sales:
        problems.append(f"not every sale was approved: {states}")
    if growth > RSS_GROWTH_TARGET:
        problems.append(f"RSS grew {growth * 100:.1f} %")
    if (end.fds, end.threads) != (start.fds, start.threads):
        problems.append("the fd or thread count changed")
    for problem in problems:
        print(f"   MISSED: {problem}")
    return not problems


def start(procs: Processes, root: Path, terminals: int) -> tuple[str, list[str], int]:
    """The emulators and the daemon: its API URL, its terminals' names, its pid."""
    progress(f"a printer and {terminals} terminal(s) (posdriver-emulator), then posdriver serve")
    _printer, printer_url = spawn_emulator(procs, root, "printer", ["--roll-mm", f"{ROLL_MM:g}"])
    urls = {f"desk{n}": spawn_emulator(procs, root, "terminal")[1] for n in range(1, terminals + 1)}
    config = root / "soak.toml"
    config.write_text(SERVICE + "\n" + device_config(printer_url, urls), encoding="utf-8")
    child, said = serve(procs, root, "soak", ["--config", str(config)])
    api = str(said["api"]["url"])
    wait_ready(api, list(urls))
    return api, list(urls), child.pid


def wait_ready(api: str, terminals: list[str], timeout: float = 60.0) -> None:
    """Until every device is up and has its first check results (so the start sample is
    of a daemon at work, not one still opening its links)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        devices = call(f"{api}/v1/devices")
        if all(d["up"] and d["checks"] for d in devices) and len(devices) == len(terminals) + 1:
            return
        time.sleep(0.2)
    raise SystemExit(f"the devices were not all up within {timeout:g} s: {devices}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2000 sales, 20 000 polls")
    parser.add_argument("--sales", type=int, help="sales in all (default 100000)")
    parser.add_argument("--polls", type=int, help="status polls in all (default 1000000)")
    parser.add_argument("--sale-clients", type=int, default=2, help="sales at a time")
    parser.add_argument("--pollers", type=int, default=2, help="status pollers at a time")
    parser.add_argument("--terminals", type=int, help=f"default: one per {BATCH_SALES} sales")
    parser.add_argument(
        "--warmup", type=int, help="sales before growth is counted (default 5000, quick 500)"
    )
    opts = parser.parse_args()
    sales = opts.sales or (2000 if opts.quick else 100_000)
    polls = opts.polls if opts.polls is not None else (20_000 if opts.quick else 1_000_000)
    terminals = opts.terminals or max(1, math.ceil(sales / BATCH_SALES))
    if sales > terminals * BATCH_SALES:
        parser.error(f"--terminals {terminals}: at most {BATCH_SALES} sales each")
    plan = Plan(
        sales,
        polls,
        opts.sale_clients,
        opts.pollers,
        min(opts.warmup or (500 if opts.quick else 5000), sales),
        max(1, sales // 10),
    )

    root = Path(tempfile.mkdtemp(prefix="posdriver-soak-"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the cleanup below runs
    procs = Processes()
    ok = False
    try:
        print("Soak (one run on a noisy machine: latencies are indicative)")
        print(f"{sales} sales over {terminals} terminal(s), {polls} status polls; MB = 10^6 bytes")
        api, names, pid = start(procs, root, terminals)
        soak = Soak(api, names, pid, plan)
        seconds = soak.run()
        ok = report(soak, seconds, procs.children[-1].poll() is None)
    finally:
        procs.stop_all()
        shutil.rmtree(root, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
