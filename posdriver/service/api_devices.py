"""The devices as the daemon's desk reaches them: through its workers, which own them.
A cashier on the workers' terminals, recovery under the daemon's own lock (one try per
terminal: a request is waiting), and printing by each printer's worker; nothing is
printed inline, since the workers print what is queued (the CLI's counterpart is
``posdriver.cashier.cli_devices``).

The money work a request starts runs on the API's own threads (:class:`DaemonStarts`):
the daemon joins them when it stops, and answers for work that ended before its
operation was journaled in its own words (503: the journal or state directory)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from .api_http import Work

if TYPE_CHECKING:
    from ..cashier.cashier import Cashier
    from ..cashier.recovery import RecoveryReport
    from ..cashier.spooler import SpoolReport
    from ..desk import LocalDesk
    from ..desk.local_plans import Run
    from ..journal import Operation, State
    from .api_http import ApiBase
    from .daemon import Daemon

ASKED_KEPT = 4096  # requests whose idempotency key is remembered with what they asked


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


class DaemonStarts:
    """:class:`posdriver.desk.devices.Starts` for the running daemon's API: its threads
    (registered for the drain at stop), its outcome counters, its memory of keys, its
    refund plan runs and the lock deciding on them."""

    def __init__(self, api: ApiBase) -> None:
        self.api = api
        self.default_currency: str = api.daemon.config.currency

    @property
    def stopping(self) -> bool:
        return bool(self.api.daemon.stopping)

    def asked(self, key: str) -> dict[str, Any] | None:
        return self.api.asked.get(key)

    def remember(self, key: str, asks: dict[str, Any]) -> None:
        api = self.api
        with api._threads:
            api.asked[key] = asks
            while len(api.asked) > ASKED_KEPT:
                api.asked.pop(next(iter(api.asked)))

    def deciding(self) -> AbstractContextManager[object]:
        return self.api._plans

    def begin(self, name: str, cashier: Cashier, work: Callable[[], None]) -> Work:
        return self.api._background(work, name, cashier)

    def first(self, run: Run, what: str) -> Operation:
        assert isinstance(run, Work), "a run this API began"
        return self.api._started(run, what)

    def runs_plan(self, plan_id: int, run: Run) -> None:
        """Only whether a run is alive is ever asked: finished ones are let go."""
        assert isinstance(run, Work), "a run this API began"
        api = self.api
        alive = {pid: t for pid, t in api.plan_runs.items() if t.is_alive()}
        api.plan_runs = alive | {plan_id: run}

    def count(self, kind: str, state: State) -> None:
        self.api.daemon.count_outcome(kind, state)


def money_desk(api: ApiBase) -> LocalDesk:
    """The daemon's desk, starting money work and refund plan runs on the API's
    threads."""
    desk = api.desk
    desk.starts = DaemonStarts(api)
    return desk
