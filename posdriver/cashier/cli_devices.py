"""The devices as a desk command reaches them by itself (no daemon running, or devices
named with ``--terminal``/``--printer``): a cashier with this process's spooler,
recovery with every try, and the spooler run here, all from the command's
:class:`~.cli_common.Context`. The daemon's counterpart is its workers
(``posdriver.service.api_http.DaemonDevices``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .cli_common import CommandError

if TYPE_CHECKING:
    from .cashier import Cashier
    from .cli_common import Context
    from .recovery import RecoveryReport
    from .spooler import SpoolReport


class CommandDevices:
    """:class:`posdriver.desk.devices.Devices` for one command."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._cashier: Cashier | None = None

    def cashier(self, actor: str) -> Cashier:
        # one for the command, acting as the logged-in user whoever a decision names
        if self._cashier is None:
            self._cashier = self.ctx.cashier()
        return self._cashier

    def can_pay(self, terminal: str | None) -> None:
        config = self.ctx.device_config
        if not config.terminals:
            raise CommandError("no payment terminal is configured; give --terminal URL or a config")
        if terminal is not None:
            config.terminal(terminal)  # a wrong name is an error before anything runs

    def recover_first(self, cashier: Cashier) -> RecoveryReport | None:
        from .cli_money import recover_first

        return recover_first(self.ctx, cashier)

    def prepare(self, terminal: str | None) -> RecoveryReport | None:
        cashier = self.cashier("")
        self.can_pay(terminal)
        return self.recover_first(cashier)

    def recover(self) -> RecoveryReport | None:
        from .recovery import recover

        return recover(self.ctx.cashier())

    def print_now(self, job_ids: Sequence[int]) -> SpoolReport | None:
        return self.ctx.cashier().print_jobs(job_ids)

    def print_these(self, job_ids: Sequence[int], wait: float) -> SpoolReport | None:
        return self.ctx.spooler().run(job_ids=job_ids, wait=wait)

    def printer_for(self, terminal: str | None) -> str:
        from .cli_receipts import printer_name

        return printer_name(self.ctx, terminal)

    def run_print_jobs(self, printer: str | None, wait: float) -> SpoolReport:
        if not self.ctx.device_config.printers:
            raise CommandError("no receipt printer is configured; give --printer URL or a config")
        return self.ctx.spooler().run(printer=printer, wait=wait)
