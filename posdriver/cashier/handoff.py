"""An approved operation's receipts, handed from the cashier to the journal and the printer.

:mod:`.receipts` makes the lines and knows nothing of where they go; this module is the
step after it. The receipts are stored, and their print jobs queued, in the commit that
records the approval (the terminal's answer, recovery's verdict or a person's decision),
so a receipt is never printed for an outcome the journal does not hold, and never lost
for one it does. Printing comes after, through the spooler, with a bounded wait: what
cannot print stays queued, never dropped.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .pan_scan import mask_pans
from .receipts import ReceiptFacts, compose

if TYPE_CHECKING:
    from ..config import Config
    from ..journal import Journal, Operation
    from .spooler import Spooler, SpoolReport


def store_receipts(
    journal: Journal,
    config: Config,
    op: Operation,
    customer: Sequence[str],
    merchant: Sequence[str] = (),
    *,
    source: str,
) -> list[int]:
    """Store the receipts of an approved operation (the terminal's lines inside the
    hotel's header and footer, or built from the transaction when the terminal sent
    none) and queue their printing. Returns the print job ids."""
    rc = config.receipt
    facts = ReceiptFacts(
        kind=op.kind.value,
        amount=op.amount,
        at=op.terminal_at or op.created_at,
        terminal_id=op.terminal_id,
        trace=op.trace,
        receipt_no=op.receipt_no,
        approval_code=op.approval_code,
        brand=op.card_brand,
        last4=op.card_last4,
        journal_id=op.id,
    )
    copies: list[tuple[str, Sequence[str]]] = [("customer", [mask_pans(x) for x in customer])]
    if rc.merchant_copy or merchant:
        copies.append(("merchant", [mask_pans(x) for x in merchant]))
    printer = printer_for(config, op.terminal)
    jobs: list[int] = []
    with journal.atomic():
        for copy, lines in copies:
            text = compose(
                facts,
                terminal_lines=lines,
                copy=copy,
                header=rc.header,
                footer=rc.footer,
                columns=rc.columns,
                language=rc.language,
            )
            stored = journal.add_receipt(op.id, copy, text, source if lines else "built")
            if copy == "customer" or rc.merchant_copy:
                jobs.append(journal.enqueue_print(stored.id, printer).id)
    return jobs


def printer_for(config: Config, terminal: str | None) -> str | None:
    """The printer a terminal's receipts go to; the first printer for a terminal since
    removed from the config, or for no terminal at all."""
    if terminal is not None:
        from ..config import ConfigError

        with contextlib.suppress(ConfigError):  # a terminal since removed from the config
            found = config.printer_for(terminal)
            return found.name if found else None
    return config.printers[0].name if config.printers else None


def print_jobs(
    spooler: Spooler | None,
    config: Config,
    job_ids: Sequence[int] | None = None,
    *,
    wait: float | None,
) -> SpoolReport | None:
    """Print queued receipts now (bounded wait); what cannot print stays queued."""
    if spooler is None or not config.printers:
        return None
    report = spooler.run(job_ids=job_ids, wait=wait)
    if job_ids is not None and report.printed and not report.waiting:
        # the printer works again: receipts left waiting earlier go out now too, and
        # the report says so (staff should know another guest's slip came out)
        earlier = spooler.run(wait=wait)
        report = dataclasses.replace(report, outcomes=report.outcomes + earlier.outcomes)
    return report
