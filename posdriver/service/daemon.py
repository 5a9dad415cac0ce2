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
import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import Config, PrinterConfig, TerminalConfig, load_config
from ..journal import Journal, JournalCorrupt, State, open_journal
from ..journal.watch import MIB, JournalCheck, JournalWatch
from .snapshot import CheckResult, ServiceSnapshot
from .spooling import SpoolLoop
from .workers import PRINT, DeviceWorker, PrinterWorker, TerminalWorker

log = logging.getLogger(__name__)

RECONCILE_SECONDS = 30.0  # how often operations still in doubt are asked about again

DRAIN_SECONDS = 190.0  # SIGTERM: at most this long for payments in flight to finish

# The start-up check of the journal gives up after this long, well inside systemd's 90 s
# to READY=1: a journal of 100 000 operations (169 MB) took 3.1 s from a cold page cache
# and 0.5 s warm (benchmarks/journal.py), so only journals of several years' sales reach it.
JOURNAL_CHECK_SECONDS = 20.0


class Daemon:
    """The service: its devices, journal, API and metrics."""

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

    # -- start ---------------------------------------------------------------------------
    def start(self) -> Daemon:
        if self.emulate and not (self.config.terminals or self.config.printers):
            self._start_emulators()
        state_dir = Path(self.config.state_dir)
        self.journal = open_journal(state_dir)
        self._check_journal(self.journal)
        self.journal.on_print_queued(self.spool.wake)
        self._lock_devices(state_dir)
        self.spooler = self._spooler()
        for cfg in self.config.printers:
            self.workers[cfg.name] = PrinterWorker(
                cfg,
                self.config.service,
                on_check=self._check_changed,
                lifecycle=self._lifecycle,
                on_ready=self.spool.wake,
            )
        for tcfg in self.config.terminals:
            self.workers[tcfg.name] = TerminalWorker(
                tcfg,
                self.config.service,
                self.factory,
                on_check=self._check_changed,
                lifecycle=self._lifecycle,
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

    @staticmethod
    def _check_journal(journal: Journal) -> None:
        """Refuse a damaged journal before any device is touched. Opening reads only the
        first page, so a daemon that did not look would answer healthy over a damaged one
        and fail every sale with a 500; SQLite's quick check reads every page."""
        started = time.monotonic()
        problems, finished = journal.quick_check(JOURNAL_CHECK_SECONDS)
        if problems:
            more = f" and {len(problems) - 1} more" if len(problems) > 1 else ""
            raise JournalCorrupt(
                f"{journal.path}: the journal is damaged ({problems[0]}{more}); posdriver "
                "serve will not run on it: 'posdriver journal check' lists the damage; stop "
                "every posdriver process, keep the damaged file for IT and restore the "
                "journal from a backup (docs/journal.md, Backup, export, check)"
            )
        if not finished:
            log.warning(
                "journal %s: the start-up check was stopped after %g s, unfinished; run "
                "'posdriver journal check' at a quiet moment",
                journal.path,
                JOURNAL_CHECK_SECONDS,
            )
            return
        log.info("journal %s checked in %.2f s", journal.path, time.monotonic() - started)

    def _start_emulators(self) -> None:
        """No devices configured and ``--emulate``: an emulated printer and terminal on
        real pseudo-terminals, used exactly as real ones would be. They come from the
        installed emulator's entry point (:func:`posdriver.plugins.emulators`); without
        one, :class:`~posdriver.plugins.PluginMissing` says so before anything starts."""
        import tempfile

        from ..plugins import PluginMissing, emulators

        try:
            emulated = emulators()
        except PluginMissing as exc:
            raise PluginMissing(f"--emulate: {exc}") from exc
        link_dir = tempfile.mkdtemp(prefix="posdriver-emulated-")
        self._emulated_dir = link_dir
        printer = emulated.printer(link="pty", link_dir=link_dir)
        terminal = emulated.terminal(link="pty", link_dir=link_dir)
        self.emulators = [printer, terminal]
        for controller in self.emulators:
            self.out(json.dumps(controller.describe()))
        printers = (PrinterConfig(name="receipt", url=printer.url),)
        terminals = (
            TerminalConfig(
                name="desk", url=terminal.url, currency=self.config.currency, printer="receipt"
            ),
        )
        self.config = dataclasses.replace(self.config, printers=printers, terminals=terminals)

    def _lock_devices(self, state_dir: Path) -> None:
        from ..cashier.terminals import device_lock

        for name in [
            *(p.name for p in self.config.printers),
            *(t.name for t in self.config.terminals),
        ]:
            stack = contextlib.ExitStack()
            stack.enter_context(device_lock(state_dir, name, wait=2.0))
            self._locks.append(stack)

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

    def _start_api(self) -> None:
        from .api import start_api

        try:
            self.api_server, port = start_api(self, self.config.service.api)
        except OSError as exc:
            raise OSError(
                exc.errno,
                f"cannot listen on {self.config.service.api} for the API: {exc.strerror} "
                "(another posdriver serve? use --api HOST:PORT)",
            ) from exc
        address = dataclasses.replace(self.config.service.api, port=port)
        self.bound["api"] = f"http://{address}"
        self.out(json.dumps({"listening": "api", "url": self.bound["api"]}))

    def _start_metrics(self) -> None:
        from .metrics import MetricsPage, start_metrics_server

        page = MetricsPage(self.snapshot)
        addr = self.config.service.metrics
        try:
            self.metrics_server, self._metrics_thread, port = start_metrics_server(
                page,
                addr.host,
                addr.port,
                connection_timeout=self.config.service.connection_timeout,
                limit=self.config.service.max_connections,
            )
        except OSError as exc:
            raise OSError(
                exc.errno,
                f"cannot listen on {addr} for metrics: {exc.strerror} (use --metrics HOST:PORT)",
            ) from exc
        address = dataclasses.replace(addr, port=port)
        if not addr.loopback:
            log.warning(
                "metrics are served on %s, beyond this machine, without a token: they carry "
                "no card data but describe the desk (devices, faults, payments in doubt); "
                "let the firewall admit only the Prometheus server",
                address,
            )
        self.bound["metrics"] = f"http://{address}/metrics"
        self.out(json.dumps({"listening": "metrics", "url": self.bound["metrics"]}))

    def _background(self, fn: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=fn, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

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

    def _refresh_loop(self) -> None:
        while not self._stopping.wait(1.0):
            self._refresh()

    def _refresh(self) -> None:
        journal = self.journal
        if journal is None:
            return
        self._look_at_journal(journal)
        try:
            counts = journal.counts()
            size = journal.size_bytes()
        except Exception:
            log.exception("could not read the journal's counts")
            return
        with self._lock:
            snap = self._snapshot
            snap.in_doubt = counts.get("in_doubt", 0)
            snap.needs_review = counts.get("needs_review", 0)
            snap.print_jobs = {
                "queued": counts.get("print_queued", 0),
                "printing": counts.get("print_printing", 0),
                "failed": counts.get("print_failed", 0),
            }
            snap.journal_size_bytes = size
            if journal.last_commit is not None:
                snap.journal_last_commit = journal.last_commit.timestamp()

    def look_at_journal(self) -> None:
        """The journal check now, without a probe write (``/v1/health`` asks, so that a
        write that failed a moment ago shows at once, not at the next turn)."""
        if self.journal is not None:
            self._look_at_journal(self.journal, probe=False)

    def _look_at_journal(self, journal: Journal, *, probe: bool | None = None) -> None:
        """The journal check, published before the counts are read (a broken journal
        may not give them); a change of status is news, as a device check's is."""
        watch = self._journal_watch
        if watch is None or watch.journal is not journal:
            watch = self._journal_watch = JournalWatch(journal)
        service = self.config.service  # as now: a reload may have changed the limits
        watch.free_warning = service.free_space_warning_mib * MIB
        watch.free_critical = service.free_space_critical_mib * MIB
        check = watch.look_safely(probe=probe)
        with self._lock:
            old = self._snapshot.journal
            self._snapshot.journal = check
        if (old.status if old else "ok") != check.status:
            self._journal_changed(journal, old, check)

    def _journal_changed(
        self, journal: Journal, old: JournalCheck | None, new: JournalCheck
    ) -> None:
        """A structured log line, and the fault record when the journal takes the
        incident (not while it is the journal that fails): a recovery says since when
        it was out and why."""
        level = {"ok": logging.INFO, "warning": logging.WARNING}.get(new.status, logging.ERROR)
        line: dict[str, Any] = {"event": "check", "device": "journal", "check": "journal"}
        line |= {"from": old.status if old else None, "to": new.status, "text": new.text}
        log.log(level, json.dumps(line, ensure_ascii=False))
        if new.status != "ok":
            fault, result = f"journal check: {new.text}", new.status
        else:
            began = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(old.since)) if old else "?"
            fault = f"journal check was {old.status if old else 'unknown'} from {began}"
            fault += f": {old.text}" if old else ""
            result = f"back to ok: {new.text}"
        with contextlib.suppress(Exception):  # the journal may be what cannot take it
            journal.add_incident(
                category="device_fault" if new.status != "ok" else "recovered",
                device="journal",
                fault=fault,
                action="detected by the daemon's journal check",
                result=result,
                actor="daemon",
            )

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
                return spooler.run(printer=worker.device, wait=0)
            finally:
                worker.count_retries("print", retries[worker.device] - before)

        return run

    def _check_changed(self, device: str, old: CheckResult | None, new: CheckResult) -> None:
        """A check changed status: a structured log line, and an incident when it is a
        change a person would want in the fault record (not the first result)."""
        log.info(
            json.dumps(
                {
                    "event": "check",
                    "device": device,
                    "check": new.check,
                    "from": None if old is None else old.status,
                    "to": new.status,
                    "text": new.text,
                },
                ensure_ascii=False,
            )
        )
        if self.journal is None or (old is None and new.status == "ok"):
            return
        worse = new.status != "ok"
        with contextlib.suppress(Exception):
            self.journal.add_incident(
                category="device_fault" if worse else "recovered",
                device=device,
                fault=f"{new.check} check: {new.text}"
                if worse
                else f"{new.check} check was {old.status if old else 'unknown'}",
                action="detected by the daemon's health checks",
                result=new.status if worse else f"back to ok: {new.text}",
                actor="daemon",
            )

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

    def reload(self) -> None:
        """SIGHUP: read the configuration again and apply what can change while running.

        Applied: receipt, refund and print settings (the spooler is made again), the
        [service] schedule (intervals, freshness, retries, reconnect backoff), and each
        device's own schedule, refund limit, standby and receipt printer. Not applied, and
        logged as needing a restart: listen addresses and token, and devices added,
        removed, or with another link (URL, protocol, the protocol's settings), because the
        workers hold those links open. A file that does not load changes nothing."""
        if self.config_path is None and self.config.source is None:
            log.info("reload: no config file to read")
            return
        self.notifier.reloading()
        try:
            fresh = load_config(self.config_path or self.config.source)
        except Exception as exc:
            log.error("reload refused, the running configuration stays: %s", exc)
            self.notifier.ready(self._status_line())
            return
        running = self.config
        restart: list[str] = []
        service = fresh.service
        for key in ("api", "metrics", "token", "connection_timeout", "max_connections"):
            if getattr(service, key) != getattr(running.service, key):
                restart.append(f"service.{key}")
                service = dataclasses.replace(service, **{key: getattr(running.service, key)})
        printers, terminals = running.printers, running.terminals
        emulated = bool(self.emulators) and not (fresh.printers or fresh.terminals)
        if not emulated:
            if _links(fresh) == _links(running):
                printers, terminals = fresh.printers, fresh.terminals
            else:
                restart.append("devices (added, removed or with another link)")
        self.config = dataclasses.replace(
            running,
            receipt=fresh.receipt,
            refund=fresh.refund,
            print=fresh.print,
            service=service,
            printers=printers,
            terminals=terminals,
        )
        devices: list[PrinterConfig | TerminalConfig] = [*printers, *terminals]
        for cfg in devices:
            self.workers[cfg.name].reconfigure(cfg, service)
        if self.journal is not None:
            self.spooler = self._spooler()
        if restart:
            log.warning(
                "reload: these changes need a restart (systemctl restart posdriver): %s",
                ", ".join(restart),
            )
        log.info("configuration reloaded")
        self.notifier.ready(self._status_line())

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
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

        stop = threading.Event()
        reload = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGHUP, lambda *_: reload.set())
        watchdog = Watchdog(self.notifier, self.alive)
        try:
            while not stop.wait(1.0):
                watchdog.tick()
                if reload.is_set():
                    reload.clear()
                    self.reload()
        finally:
            self.stop()


def _links(config: Config) -> set[tuple[Any, ...]]:
    """What the workers hold open: each device's name, kind and everything its link is
    opened with. Anything else of a device can change on a reload."""
    printers = {("printer", p.name, p.url) for p in config.printers}
    terminals = {
        ("terminal", t.name, t.url, t.protocol, t.settings.link_settings())
        for t in config.terminals
    }
    return printers | terminals


class _KeepOpen:
    """The link the spooler is given in the daemon: closing it (after a print failure)
    hands the device back to its worker, which reconnects."""

    def __init__(self, worker: DeviceWorker) -> None:
        self.worker = worker

    def close(self) -> None:
        # The spooler closes its session after every run, good or bad. The worker keeps
        # the link: if it did fail, the worker's next status read finds out and reconnects.
        return None
