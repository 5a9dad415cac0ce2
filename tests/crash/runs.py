"""What a forked child runs: a CLI money command, the till's registration, or a restart.

Each builds what the CLI builds (a Cashier on the journal, with a spooler for the
printer), from the run's configuration; only the print policy gives up in seconds and
the printer allows the suite's reply tolerance. A restart does what the next command or
a daemon start does: ``recover(cashier)``, then ``spooler.run()``. Each returns what the
parent needs to know, as a JSON-able dict.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from posdriver.cashier.cashier import Cashier, RefundRefused
from posdriver.cashier.recovery import recover
from posdriver.cashier.spooler import Spooler
from posdriver.config import Config, PrinterConfig, load_config, with_overrides
from posdriver.journal import State, open_journal
from posdriver.links import Link, link_for_url
from posdriver.money import Money
from posdriver.printer.driver import Printer
from tests.crash.plan import CURRENCY, Plan
from tests.support.emulators import Devices
from tests.support.timing import REPLY_TOLERANCE

IN_FLIGHT = frozenset({State.PENDING, State.SENT, State.IN_DOUBT})


def tolerant_printer(cfg: PrinterConfig) -> tuple[Printer, Link]:
    """The spooler's default opener with the suite's reply tolerance."""
    link = link_for_url(cfg.url).open()
    return Printer(link, reply_tolerance=REPLY_TOLERANCE), link


def build_config(config_file: Path, state_dir: Path, devices: Devices) -> Config:
    """Like the CLI's ``--config F --state-dir D --terminal URL --printer URL``, with a
    print policy that gives up on a printer in seconds, not the production half minute."""
    config = with_overrides(
        load_config(config_file),
        state_dir=state_dir,
        terminals=[devices.terminal],
        printers=[devices.printer],
    )
    policy = dataclasses.replace(
        config.print, ready_timeout=2.0, wait_initial=0.05, wait_max=0.5, jitter=0.05
    )
    return dataclasses.replace(config, print=policy)


def _cashier(config: Config) -> Cashier:
    """A Cashier as ``posdriver.cashier.cli_common.Context`` builds one."""
    journal = open_journal(config.state_dir)
    spooler = Spooler(
        journal,
        config.printers,
        policy=config.print,
        receipt=config.receipt,
        open_printer=tolerant_printer,
    )
    return Cashier(
        journal,
        config,
        spooler=spooler,
        actor="crash-harness",
        print_wait=config.print.ready_timeout,
    )


def _recovery_summary(report: Any) -> dict[str, Any]:
    return {
        "resolved": [[op.id, op.state.value] for op, _ in report.resolved],
        "needs_review": [[op.id, why] for op, why in report.needs_review],
        "still_in_doubt": [[op.id, why] for op, why in report.still_in_doubt],
        "aborted": [op.id for op in report.aborted],
    }


def config_for(config: Config, merchant_copy: bool) -> Config:
    """The point's configuration; its restarts use the same one, as a desk's would."""
    if not merchant_copy:
        return config
    return dataclasses.replace(
        config, receipt=dataclasses.replace(config.receipt, merchant_copy=True)
    )


def driver_run(config: Config, plan: Plan) -> dict[str, Any]:
    """One CLI money command: recover first if needed, the operation, then printing."""
    cashier = _cashier(config_for(config, plan.merchant_copy))
    journal = cashier.journal
    try:
        body: dict[str, Any] = {}
        if journal.unresolved(IN_FLIGHT):
            body["recovered"] = _recovery_summary(recover(cashier))
        amount = Money(plan.amount, CURRENCY)
        try:
            if plan.kind == "sale":
                result = cashier.sale(amount)
            else:
                assert plan.sale_id is not None
                result = cashier.refund(journal.get(plan.sale_id), amount)
        except RefundRefused as exc:
            body["state"] = "refused"
            body["why"] = str(exc)
        else:
            body["state"] = result.state.value
            body["op"] = result.operation.id
        assert cashier.spooler is not None
        spool = cashier.spooler.run()
        body["waiting"] = len(spool.waiting)
        return body
    finally:
        journal.close()


def register_run(config: Config) -> dict[str, Any]:
    """Registration (06 00), as ``posdriver terminal register`` would do it."""
    from posdriver.cashier.terminals import opened

    with opened(config.terminals[0], Path(config.state_dir)) as terminal:
        registered = terminal.register()
    return {"terminal_id": registered.terminal_id}


def restart_run(config: Config) -> dict[str, Any]:
    """What the next command or a daemon start does: recovery, then the print queue."""
    cashier = _cashier(config)
    retries: list[float] = []

    def sleep(seconds: float) -> None:
        retries.append(seconds)
        time.sleep(seconds)

    try:
        started = time.monotonic()
        report = recover(cashier, sleep=sleep)
        recovered = time.monotonic() - started
        assert cashier.spooler is not None
        spool = cashier.spooler.run()
        return _recovery_summary(report) | {
            "retries": len(retries),
            "retry_wait": sum(retries),
            "recovery_seconds": recovered,
            "printed": len(spool.printed),
            "waiting": [[o.job.id, o.reason] for o in spool.waiting],
        }
    finally:
        cashier.journal.close()
