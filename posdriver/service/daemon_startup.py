"""The daemon's start-up steps that stand on their own: the journal checked before any
device is touched, emulated devices for ``--emulate``, every device locked for this
process, and the API and metrics listeners (each names the address it could not take).

A mixin of :class:`~.daemon.Daemon`, which calls these in order from ``start()``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ..config import Config, PrinterConfig, TerminalConfig
from ..journal import Journal, JournalCorrupt

if TYPE_CHECKING:
    from .daemon import Daemon

log = logging.getLogger("posdriver.service.daemon")  # the name the logs have always had

# The start-up check of the journal gives up after this long, well inside systemd's 90 s
# to READY=1: a journal of 100 000 operations (169 MB) took 3.1 s from a cold page cache
# and 0.5 s warm (benchmarks/journal.py), so only journals of several years' sales reach it.
JOURNAL_CHECK_SECONDS = 20.0


class StartUp:
    """Start-up steps, on the daemon's own state."""

    config: Config
    out: Callable[[str], None]
    emulators: list[Any]
    bound: dict[str, str]
    api_server: Any
    metrics_server: Any
    _metrics_thread: Any
    _emulated_dir: str | None
    _locks: list[contextlib.ExitStack]
    _threads: list[threading.Thread]

    def snapshot(self) -> Any:
        raise NotImplementedError  # the Daemon's: what /metrics is rendered from

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
        from ..locks import device_lock

        for name in [
            *(p.name for p in self.config.printers),
            *(t.name for t in self.config.terminals),
        ]:
            stack = contextlib.ExitStack()
            stack.enter_context(device_lock(state_dir, name, wait=2.0))
            self._locks.append(stack)

    def _start_api(self) -> None:
        from .api import start_api

        try:
            self.api_server, port = start_api(cast("Daemon", self), self.config.service.api)
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
