"""The printer's worker: an ESC/POS printer, watched by Automatic Status Back when it
answers to it, else polled; its registered checks (:func:`posdriver.health.registry.
checks_for`) run at every poll, and a status the printer pushes feeds the status check
without a read.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from ..config import PrinterConfig, ServiceConfig
from ..health.printer import printer_reading
from ..health.registry import checks_for, expected_checks
from .worker_base import DeviceWorker

log = logging.getLogger("posdriver.service.workers")  # the name the logs have always had

ASB_WAIT = 0.2  # seconds an idle ASB printer's worker listens before it looks at its queue


class PrinterWorker(DeviceWorker):
    """An ESC/POS printer: Automatic Status Back when it answers to it, else polling."""

    kind = "printer"

    def __init__(self, cfg: PrinterConfig, service: ServiceConfig, **kwargs: Any) -> None:
        super().__init__(cfg.name, cfg.url, service, **kwargs)
        self.cfg = cfg
        self.link: Any = None
        self.asb = False
        self._next_poll = 0.0
        self.health_checks = checks_for(self.kind)
        self.snapshot.expected_checks = expected_checks(self.kind, self.health_checks)
        # the spooler's reprints of a receipt (the daemon counts them as "print")
        self.expect_retries("print", *(check.retries_as for check in self.health_checks))
        self.snapshot.freshness = service.freshness_of(self.poll_interval)

    @property
    def poll_interval(self) -> float:
        return self.service.printer_poll(self.cfg)

    def reconfigure(self, cfg: PrinterConfig, service: ServiceConfig) -> None:
        super().reconfigure(cfg, service)
        self.cfg = cfg
        self._set_freshness()

    def open(self) -> Any:
        from ..links import link_for_url
        from ..printer.driver import Printer

        link = link_for_url(self.cfg.url).open()
        try:
            printer = Printer(link)
            status = printer.query_status()
            if status.online is None and status.paper.value == "unknown":
                raise ConnectionError(f"{self.cfg.url}: the printer does not answer")
        except BaseException:
            link.close()
            raise
        self.link = link
        return printer

    def close(self, driver: Any) -> None:
        if self.link is not None:
            self.link.close()
            self.link = None

    def after_connect(self) -> None:
        printer = self.driver
        with contextlib.suppress(Exception):
            identity = printer.identify()
            info = {
                k: str(v)
                for k, v in (
                    ("model", identity.model),
                    ("firmware", identity.firmware),
                    ("serial", identity.serial),
                )
                if v
            }
            with self.lock:
                self.snapshot.info = info
        try:
            pushed = printer.enable_asb()
        except Exception:
            pushed = None
        self.asb = pushed is not None
        self._set_freshness()
        log.info("printer %s: %s", self.device, "ASB on" if self.asb else "polling status")
        self._poll()

    def look(self, connectivity: bool) -> None:
        self._poll()

    def _set_freshness(self) -> None:
        # with ASB the full status is read every 5 polls: it must stay fresh that long
        polls = 5 if self.asb else 1
        with self.lock:
            self.snapshot.freshness = self.service.freshness_of(polls * self.poll_interval)

    def idle_wait(self) -> float:
        if self.asb:
            return 0.0  # idle() waits on the line for pushes
        return max(0.0, min(0.5, self._next_poll - time.monotonic()))

    def idle(self) -> None:
        if self.asb:
            # wait on the line for pushes; 0.2 s bounds how long a queued print waits
            # and keeps an idle printer to five wake-ups a second
            pushes = self.driver.poll(ASB_WAIT)
            if pushes:
                self.apply(printer_reading(pushes[-1], self.device))
            if time.monotonic() >= self._next_poll:
                self._poll()  # ASB says what changed; a slow poll proves the line is alive
            return
        if time.monotonic() >= self._next_poll:
            self._poll()

    def look_first(self) -> bool:
        if not self.pending() or time.monotonic() < self._next_poll:
            return False  # nothing waits (idle() polls), or not due yet
        self._poll()
        return True

    def look_soon(self) -> None:
        """The next turn reads the status before anything else: a print run just found
        the printer unable to print, and the checks should say why now, not at the
        next poll."""
        self._next_poll = 0.0

    def _poll(self) -> None:
        """Every registered printer check, each from its own read (today one status
        read gives all four checks)."""
        interval = self.poll_interval * (5 if self.asb else 1)
        self._next_poll = time.monotonic() + interval
        for check in self.health_checks:
            self.run_check(check)
