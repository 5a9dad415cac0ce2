"""SIGHUP: the configuration read again, and what can change under a running daemon
applied; what cannot (listen addresses, the token, the devices' links) is logged as
needing a restart.

A mixin of :class:`~.daemon.Daemon`.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from ..config import Config, PrinterConfig, TerminalConfig, load_config

log = logging.getLogger("posdriver.service.daemon")  # the name the logs have always had


class Reloading:
    """``reload()``, on the daemon's own state."""

    config: Config
    config_path: str | None
    emulators: list[Any]
    workers: dict[str, Any]
    journal: Any
    spooler: Any
    notifier: Any

    def _spooler(self) -> Any:
        raise NotImplementedError  # the Daemon's: a spooler with the current settings

    def _status_line(self) -> str:
        raise NotImplementedError  # the Daemon's: how many devices are up

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


def _links(config: Config) -> set[tuple[Any, ...]]:
    """What the workers hold open: each device's name, kind and everything its link is
    opened with. Anything else of a device can change on a reload."""
    printers = {("printer", p.name, p.url) for p in config.printers}
    terminals = {
        ("terminal", t.name, t.url, t.protocol, t.settings.link_settings())
        for t in config.terminals
    }
    return printers | terminals
