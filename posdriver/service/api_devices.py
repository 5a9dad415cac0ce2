"""The devices as the daemon's desk reaches them: through its workers, which own them.
A cashier on the workers' terminals, recovery under the daemon's own lock (one try per
terminal: a request is waiting), and printing by each printer's worker; nothing is
printed inline, since the workers print what is queued (the CLI's counterpart is
``posdriver.cashier.cli_devices``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..cashier.cashier import Cashier
    from ..cashier.recovery import RecoveryReport
    from ..cashier.spooler import SpoolReport
    from .daemon import Daemon


class DaemonDevices:
    """:class:`posdriver.desk.devices.Devices` for the running daemon."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def cashier(self, actor: str) -> Cashier:
        cashier: Cashier = self.daemon.cashier(actor=actor or "api")
        return cashier

    def can_pay(self, terminal: str | None) -> None:
        if terminal is not None:
            self.daemon.config.terminal(terminal)  # a wrong name is a 400 listing the real ones

    def recover_first(self, cashier: Cashier) -> RecoveryReport | None:
        return None  # the daemon reconciles by itself, under its own lock

    def prepare(self, terminal: str | None) -> RecoveryReport | None:
        self.can_pay(terminal)
        return None

    def recover(self) -> RecoveryReport | None:
        report: RecoveryReport | None = self.daemon._recover(attempts=1)
        return report

    def print_now(self, job_ids: Sequence[int]) -> SpoolReport | None:
        return None  # queued: the printer workers print it

    def print_these(self, job_ids: Sequence[int], wait: float) -> SpoolReport | None:
        return None  # queued: the printer workers print it

    def printer_for(self, terminal: str | None) -> str:
        """Its terminal's printer (``printer`` in the config), else the first."""
        from ..config import ConfigError
        from ..desk import Conflict

        config = self.daemon.config
        if not config.printers:
            raise Conflict("no receipt printer is configured")
        if terminal is not None:
            try:
                found = config.printer_for(terminal)
            except ConfigError:  # a terminal since removed from the config
                found = None
            if found is not None:
                return found.name
        return config.printers[0].name

    def run_print_jobs(self, printer: str | None, wait: float) -> SpoolReport:
        report: SpoolReport = self.daemon.spool_now(printer=printer)
        return report
