"""``posdriver serve``: the long-running service beside the front desk.

Start-up order, each step before the next: configuration checked; emulated devices
started when asked (``--emulate`` with no devices configured); the journal opened and
checked (a damaged one is refused); every device locked for this process (so no CLI
command talks over it); one worker per device; recovery of operations in doubt, through
the terminals' workers, before any new payment; ``READY=1`` once every device was tried;
then the API and the metrics endpoint.

Stopping (SIGTERM, SIGINT): ``STOPPING=1``, the API refuses new operations, workers
finish what they have (a payment is never cut in half), the journal is closed. SIGHUP
reloads the settings that can change under a running daemon (receipt, refund limits,
print policy); devices and addresses need a restart, and the log says so.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import Config, PrinterConfig, TerminalConfig
from ..journal import Journal, State, open_journal
from ..journal.watch import JournalWatch
from .changes import Changes
from .daemon_reload import Reloading
from .daemon_startup import JOURNAL_CHECK_SECONDS as JOURNAL_CHECK_SECONDS  # benchmarks
from .daemon_startup import StartUp
from .daemon_watch import Watching
from .snapshot import ServiceSnapshot
from .spooling import SpoolLoop
from .workers import PRINT, DeviceWorker, PrinterWorker, TerminalWorker

log = logging.getLogger(__name__)

RECONCILE_SECONDS = 30.0  # how often operations still in doubt are asked about again

DRAIN_SECONDS = 190.0  # SIGTERM: at most this long for payments in flight to finish
# A payment's terminal is handed back before its cashier journals how it ended (a
# commit or two): the next payment on that terminal waits this long for it at most.
ENDING_SECONDS = 10.0


class Daemon(StartUp, Watching, Reloading):
    """The service: its devices, journal, API and metrics. Its start-up steps, what it
    notices and records while running, and its reload are in :mod:`.daemon_startup`,
    :mod:`.daemon_watch` and :mod:`.daemon_reload`."""

    def __init__(
        self,
        config: Config,
        *,
        emulate: bool = False,
        api: str | None = None,
        metrics: str | None = None,
        out: Callable[[str], None] = print,
        terminal_factory: Callable[[TerminalConfig], Any] | None = None,
        config_path: str | None = None,
    ) -> None:
        from ..cashier.terminals import make_terminal
        from ..config import parse_address

        service = config.service
        if api is not None:
            service = dataclasses.replace(service, api=parse_address(api))
        if metrics is not None:
            service = dataclasses.replace(service, metrics=parse_address(metrics))
        if not service.api.loopback and not service.token:
            raise ValueError(
                f"the API on {service.api} would be reachable beyond this machine: set "
                "service.token in the config (at least 16 characters)"
            )
        self.config = dataclasses.replace(config, service=service)
        self.emulate = emulate
        self.out = out
        self.factory = terminal_factory or make_terminal
        self.config_path = config_path
        self.emulators: list[Any] = []
        self.workers: dict[str, DeviceWorker] = {}
        self.journal: Journal | None = None
        self.counters: dict[tuple[str, str], int] = {}
        self._snapshot = ServiceSnapshot(version=__version__)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._lifecycle = threading.Condition()  # every worker notifies it on a change
        self._in_doubt_seen = threading.Event()  # wakes the reconciler
        self._recovering = threading.Lock()  # one recovery at a time
        # one payment at a time per terminal, from the ask about the one before it to
        # the terminal handed back: a payment queued on the worker behind another would
        # reach the terminal before anyone asked about that one had it ended in doubt
        self._money_turns: dict[str, threading.Lock] = {}
        self._journal_watch: JournalWatch | None = None
        self._locks: list[contextlib.ExitStack] = []
        self.spooler: Any = None  # made in start(), again on a reload
        self.spool = SpoolLoop(
            jobs=self._printers_with_jobs,
            workers=self.workers,
            task=self._spool_on,
            stopping=self._stopping,
        )
        self.api_server: Any = None
        self.api: Any = None  # the Api, for the operations in flight
        self._metrics_thread: Any = None
        self._emulated_dir: str | None = None
        self.metrics_server: Any = None
        self.bound: dict[str, str] = {}
        self._threads: list[threading.Thread] = []
        from .systemd import Notifier

        self.notifier = Notifier.from_env()
        self.changes = Changes()  # the status page's feed: told of every change
        self._stop_asked = threading.Event()  # SIGTERM/SIGINT, from before start() on
        self._reload_asked = threading.Event()  # SIGHUP

    def take_signals(self) -> None:
        """SIGTERM, SIGINT and SIGHUP are noted from here on, before start(): the API
        says where it listens during start-up, and a stop asked for then (systemd
        stopping a unit that is still starting) must drain like any other, not kill the
        process mid-recovery with the default action."""
        signal.signal(signal.SIGTERM, lambda *_: self._stop_asked.set())
        signal.signal(signal.SIGINT, lambda *_: self._stop_asked.set())
        signal.signal(signal.SIGHUP, lambda *_: self._reload_asked.set())

    # -- start ---------------------------------------------------------------------------
    def start(self) -> Daemon:
        if self.emulate and not (self.config.terminals or self.config.printers):
            self._start_emulators()
        state_dir = Path(self.config.state_dir)
        self.journal = open_journal(state_dir)
        self._check_journal(self.journal)
        self._last_commit_from_records(self.journal)
        self.journal.on_print_queued(self.spool.wake)
        self._lock_devices(state_dir)
        self.spooler = self._spooler()
        self.journal.on_commit(lambda: self.changes.tell("journal"))
        devices_changed = lambda: self.changes.tell("devices")  # noqa: E731
        for cfg in self.config.printers:
            self.workers[cfg.name] = PrinterWorker(
                cfg,
                self.config.service,
                on_check=self._check_changed,
                lifecycle=self._lifecycle,
                on_ready=self.spool.wake,
                on_state=devices_changed,
            )
        for tcfg in self.config.terminals:
            self.workers[tcfg.name] = TerminalWorker(
                tcfg,
                self.config.service,
                self.factory,
                on_check=self._check_changed,
                lifecycle=self._lifecycle,
                on_state=devices_changed,
            )
        for worker in self.workers.values():
            worker.start()
        self._await_first_contact(timeout=10.0)
        self._recover()
        self._refresh()  # the journal's counts are there from the first request on
        self._start_api()
        self._start_metrics()
        self._background(self._refresh_loop, "journal-snapshot")
        self._background(self.spool.run, "spooler")
        self._background(self._reconcile_loop, "reconciler")
        self.notifier.ready(self._status_line())
        return self

    def _await_first_contact(self, timeout: float) -> None:
        """Until every worker has tried its device once (``READY=1`` waits for this),
        woken by the workers' lifecycle changes rather than looking on a timer."""

        def tried() -> bool:
            states = [w.view().lifecycle for w in self.workers.values()]
            return all(s not in ("starting", "connecting") for s in states)

        with self._lifecycle:
            if self._lifecycle.wait_for(tried, timeout):
                return
        log.warning("not every device answered within %g s; serving anyway", timeout)

    def _opener(
        self, cfg: TerminalConfig, on_start: Callable[[], None] | None = None
    ) -> contextlib.AbstractContextManager[Any]:
        worker = self.workers[cfg.name]
        assert isinstance(worker, TerminalWorker)

        @contextlib.contextmanager
        def through_worker() -> Iterator[Any]:
            from ..terminal.outcomes import TerminalNotReached

            if worker.driver is None:
                raise TerminalNotReached(
                    f"{cfg.name} is not connected ({worker.view().detail or 'reconnecting'})"
                )
            allowed, why = worker.breaker.allow()
            if not allowed:
                raise TerminalNotReached(why)
            from .worker_terminal import WorkerTerminal

            if on_start is None:  # recovery's own asks: they come between payments
                yield WorkerTerminal(worker, None)
                return
            with self._money_turns.setdefault(cfg.name, threading.Lock()):
                self._resolve_first(cfg.name)
                yield WorkerTerminal(worker, on_start)

        return through_worker()

    def cashier(self, *, actor: str = "api") -> Any:
        """A cashier whose terminals are the workers' (one per request: it is cheap)."""
        from ..cashier.cashier import Cashier

        assert self.journal is not None
        return Cashier(
            self.journal,
            self.config,
            terminal_factory=self.factory,
            spooler=None,  # printing is queued to the printer workers, not done inline
            actor=actor,
            opener=self._opener,
        )

    def _spooler(self) -> Any:
        """The spooler the printer workers run, printing on the workers' own links; made
        again on a reload (its print policy and receipt settings), its counters kept."""
        from ..cashier.spooler import Spooler, SpoolStats

        assert self.journal is not None
        previous = self.spooler
        return Spooler(
            self.journal,
            self.config.printers,
            policy=self.config.print,
            receipt=self.config.receipt,
            open_printer=self._printer_for_spooler,
            stats=previous.stats if previous is not None else SpoolStats(),
        )

    def _printer_for_spooler(self, cfg: PrinterConfig) -> tuple[Any, Any]:
        worker = self.workers[cfg.name]
        if worker.driver is None:
            raise ConnectionError(f"printer {cfg.name} is not connected")
        return worker.driver, _KeepOpen(worker)

    def _recover(self, attempts: int = 2) -> Any:
        from ..cashier.recovery import recover

        cashier = self.cashier(actor="recovery")
        with self._recovering:
            try:
                report = recover(cashier, attempts=attempts)
            except Exception:  # recovery must not keep the daemon from serving
                log.exception("recovery failed; operations stay in doubt")
                return None
        for op, why in report.resolved:
            log.info("recovered id:%s as %s: %s", op.id, op.state.value, why)
        for op, why in report.needs_review + report.still_in_doubt:
            log.warning("id:%s is %s: %s", op.id, op.state.value, why)
        return report

    def _resolve_first(self, terminal: str) -> None:
        """Operations in doubt on ``terminal`` are asked about before another payment
        goes to it: the terminal repeats only its last transaction, so a payment made
        first would hide the answer, and the one in doubt would go to a person although
        the terminal could have told. Whatever recovery cannot settle now stays in doubt
        for the reconciler; the payment goes ahead either way.

        Called in the terminal's money turn (one payment at a time, from here until its
        terminal is handed back): the payment before this one has left the terminal but
        its cashier may still be journaling how it ended, so that is waited for first
        (an operation still ``sent`` may be about to go in doubt)."""
        if self.journal is None:
            return
        journal = self.journal

        def in_flight() -> bool:
            return any(
                op.terminal == terminal
                for op in journal.unresolved(frozenset({State.PENDING, State.SENT}))
            )

        try:
            if not journal.wait_for(lambda: not in_flight(), ENDING_SECONDS):
                log.warning(
                    "a payment on %s is still unfinished in the journal after %.0f s; "
                    "the next payment goes ahead",
                    terminal,
                    ENDING_SECONDS,
                )
            doubtful = [
                op
                for op in journal.unresolved(frozenset({State.IN_DOUBT}))
                if op.terminal == terminal
            ]
        except Exception:  # the payment's own journal writes will say what is wrong
            return
        if doubtful:
            log.info(
                "asking %s about %s before the next payment",
                terminal,
                ", ".join(f"id:{op.id}" for op in doubtful),
            )
            self._recover(attempts=1)

    def _reconcile_loop(self) -> None:
        """Operations in doubt are resolved while the daemon runs, not only at start-up:
        at once after a payment ends in doubt (the terminal usually answers a moment
        later), then every ``RECONCILE_SECONDS`` while any stays in doubt."""
        soon: list[float] = []
        while not self._stopping.is_set():
            if self._in_doubt_seen.wait(soon.pop(0) if soon else RECONCILE_SECONDS):
                self._in_doubt_seen.clear()
                soon = [1.0, 5.0]  # give the terminal (and its link) a moment, then ask
                continue
            if self._stopping.is_set() or self.journal is None:
                return
            try:
                waiting = self.journal.unresolved()
            except Exception:  # a journal hiccup: try again next turn
                continue
            if any(op.state in (State.IN_DOUBT, State.PENDING, State.SENT) for op in waiting):
                self._recover(attempts=1)

    # -- what readers see ------------------------------------------------------------------
    def snapshot(self) -> ServiceSnapshot:
        with self._lock:
            base = dataclasses.replace(self._snapshot, operations=dict(self.counters))
        base.devices = [w.view() for w in self.workers.values()]
        return base

    def check_now(
        self, device: str | None = None, *, connectivity: bool = False, timeout: float = 30.0
    ) -> list[str]:
        """Run the health checks of every device (or ``device``) now, each on its worker
        and behind any payment; wait up to ``timeout`` seconds in all. Returns the devices
        whose checks did not finish in time (waiting behind a payment): their snapshot
        holds what was known before."""
        if device is not None and device not in self.workers:
            known = ", ".join(sorted(self.workers)) or "none"
            raise KeyError(f"no device named {device!r}; devices: {known}")
        futures = {}
        for name, worker in self.workers.items():
            if device in (None, name):
                with contextlib.suppress(Exception):  # stopping: nothing new is taken
                    futures[name] = worker.check_now(connectivity)
        deadline = time.monotonic() + timeout
        late = [name for name in self.workers if device in (None, name) and name not in futures]
        for name, future in futures.items():
            try:
                future.result(timeout=max(0.0, deadline - time.monotonic()))
            except TimeoutError:  # still waiting behind a payment
                late.append(name)
            except Exception:  # it ran and failed, or the device is not connected: the
                pass  # snapshot says so (a critical check, or the lifecycle)
        return sorted(late)

    def count_outcome(self, kind: str, state: State) -> None:
        outcome = {"approved": "approved", "declined": "declined", "in_doubt": "in_doubt"}.get(
            state.value, "aborted"
        )
        with self._lock:
            key = (kind, outcome)
            self.counters[key] = self.counters.get(key, 0) + 1
        if outcome == "in_doubt":
            self._in_doubt_seen.set()

    def spool_now(self, printer: str | None = None, timeout: float = 60.0) -> Any:
        """Print what waits now (``posdriver jobs run`` through the API): one spooler run
        on each printer with waiting jobs (or on ``printer``), each on its worker's
        thread; returns their reports merged into one SpoolReport."""
        from ..cashier.spooler import SpoolReport

        if printer is not None:
            self.config.printer(printer)  # a wrong name is a ConfigError naming the real ones
        futures = [
            self.workers[name].submit(PRINT, self._spool_on(self.workers[name]), "print")
            for name in self._printers_with_jobs()
            if printer is None or name == printer
        ]
        outcomes: list[Any] = []
        for future in futures:
            outcomes.extend(future.result(timeout=timeout).outcomes)
        return SpoolReport(tuple(outcomes))

    def _printers_with_jobs(self) -> list[str]:
        """Printers (run by a worker here) that have print jobs waiting; a job with no
        printer goes to the first one, as the spooler does."""
        assert self.journal is not None
        default = self.config.printers[0].name if self.config.printers else ""
        names = {job.printer or default for job in self.journal.open_jobs()}
        return sorted(name for name in names if name in self.workers)

    def _spool_on(self, worker: DeviceWorker) -> Callable[[Any], Any]:
        """One spooler run on ``worker``'s printer, as a task of that worker; its retries
        are counted on the device (posdriver_retries_total{operation="print"})."""

        def run(_driver: Any) -> Any:
            spooler = self.spooler  # the current one: a reload may have made a new one
            retries = spooler.stats.retries_by_printer
            before = retries[worker.device]
            try:
                # one receipt per run: between receipts the worker reads the printer's
                # status, so a printer that goes away mid-backlog shows at once, and
                # one that came back reads ok while the backlog prints
                report = spooler.run(printer=worker.device, wait=0, limit=1)
            finally:
                worker.count_retries("print", retries[worker.device] - before)
            if report.waiting and not report.printed and isinstance(worker, PrinterWorker):
                worker.look_soon()
            return report

        return run

    def _status_line(self) -> str:
        up = sum(1 for w in self.workers.values() if w.view().up)
        return f"{up}/{len(self.workers)} devices up"

    # -- lifecycle -------------------------------------------------------------------------
    def alive(self) -> bool:
        """What the watchdog pings for: every worker's loop turned recently."""
        return all(w.alive(within=30.0) for w in self.workers.values())

    @property
    def stopping(self) -> bool:
        """SIGTERM arrived: payments in flight are finishing; nothing new is taken."""
        return self._stopping.is_set()

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        self.changes.tell("daemon")  # the page says "stopping" while payments finish
        self._in_doubt_seen.set()
        self.spool.wake()
        self.notifier.stopping()
        # money operations in flight finish and are journaled before anything closes;
        # the whole drain fits in the unit's TimeoutStopSec (200 s), T4 (180 s) included.
        # The API stays up meanwhile: new work is refused with 503, and the front-desk
        # software can still ask how the payments in flight ended.
        deadline = time.monotonic() + DRAIN_SECONDS
        for thread in list(getattr(self.api, "running", [])):
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        for worker in self.workers.values():
            worker.stop(drain=True, timeout=max(0.1, deadline - time.monotonic()))
        if self.api_server is not None:
            self.api_server.shutdown()
            self.api_server.server_close()
        if self.metrics_server is not None:
            from .metrics import stop_metrics_server

            with contextlib.suppress(Exception):
                stop_metrics_server(self.metrics_server, self._metrics_thread)
        for stack in self._locks:
            stack.close()
        if self.journal is not None:
            self.journal.close()
        for controller in self.emulators:
            with contextlib.suppress(Exception):
                controller.stop()
        if self._emulated_dir is not None:
            import shutil

            shutil.rmtree(self._emulated_dir, ignore_errors=True)

    def serve_forever(self) -> None:
        """Run until SIGTERM/SIGINT; SIGHUP reloads; the watchdog pings from here."""
        from .systemd import Watchdog

        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            self.take_signals()
        watchdog = Watchdog(self.notifier, self.alive)
        try:
            while not self._stop_asked.is_set():
                watchdog.tick()
                if self._reload_asked.is_set():
                    self._reload_asked.clear()
                    self.reload()
                self._stop_asked.wait(1.0)
        finally:
            self.stop()


class _KeepOpen:
    """The link the spooler is given in the daemon: closing it (after a print failure)
    hands the device back to its worker, which reconnects."""

    def __init__(self, worker: DeviceWorker) -> None:
        self.worker = worker

    def close(self) -> None:
        # The spooler closes its session after every run, good or bad. The worker keeps
        # the link: if it did fail, the worker's next status read finds out and reconnects.
        return None
