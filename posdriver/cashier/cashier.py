"""The cashier: money operations against the configured terminals, journaled.

:class:`Cashier` is what the CLI, the daemon and recovery hold, and its public methods
are the whole of what they ask of it. Behind it, one module per job:

* :mod:`.writeahead`: the path every operation takes (PENDING on disk before a terminal
  is opened, SENT when it accepts, the outcome with its receipts in one commit), the
  failover to a standby, and the in-doubt rules;
* :mod:`.refunds`: the refund guard's view of a sale, and refunds split into a plan;
* :mod:`.resolution`: a person's decision on an operation in doubt or needing review;
* :mod:`.handoff`: an approved operation's receipts stored and queued for its printer;
* :mod:`.terminals`: which terminals an operation tries, and opening them.

This module keeps the kinds (what each asks of the terminal, which terminals may take it)
and the names callers import from here (``RefundRefused``, ``MoneyResult``,
``check_resolvable`` ...), whichever module now holds them.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

from ..journal import Journal, Kind, Operation, State
from ..money import Money
from ..terminal.base import PaymentTerminal, Progress
from ..terminal.protocol import Capability
from . import handoff, refund_guard, refunds, resolution, writeahead
from .refunds import PlanResult, RefundRefused, reversal_over_refunds
from .resolution import RESOLVABLE, NotResolvable, Resolution, check_resolvable
from .terminals import TerminalFactory, able, failover_targets, make_terminal, opened
from .writeahead import UNRESOLVED, Attempt, MoneyResult, OutcomeNotRecorded, TerminalCall

if TYPE_CHECKING:
    from ..config import Config, TerminalConfig
    from .spooler import Spooler, SpoolReport

__all__ = [
    "RESOLVABLE",
    "Attempt",
    "Cashier",
    "MoneyResult",
    "NotResolvable",
    "Opener",
    "OutcomeNotRecorded",
    "PlanResult",
    "RefundRefused",
    "Resolution",
    "TerminalCall",
    "check_resolvable",
    "current_actor",
]

# how a terminal is reached: (config, what to do just before the operation goes to it)
Opener = Callable[
    ["TerminalConfig", "Callable[[], None] | None"], AbstractContextManager[PaymentTerminal]
]


def current_actor() -> str:
    """Who is doing this, for the journal: the person behind sudo, else the user."""
    for name in ("SUDO_USER", "USER", "LOGNAME"):
        value = os.environ.get(name)
        if value:
            return value
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


class Cashier:
    """Money operations against the configured terminals, journaled."""

    def __init__(
        self,
        journal: Journal,
        config: Config,
        *,
        terminal_factory: TerminalFactory = make_terminal,
        spooler: Spooler | None = None,
        actor: str | None = None,
        progress: Progress | None = None,
        print_wait: float | None = None,
        opener: Opener | None = None,
    ) -> None:
        self.journal = journal
        # how a terminal is reached: by default opened (and locked) for each operation;
        # the daemon passes its device workers instead, which own the terminals
        self._opener = opener
        self.config = config
        self.factory = terminal_factory
        self.spooler = spooler
        self.actor = actor or current_actor()
        self.progress = progress
        self.print_wait = print_wait
        # told of every operation this cashier journals, once its PENDING is committed,
        # and of the earlier one a repeated idempotency key stands for (the API answers
        # 202 with it, without looking it up)
        self.on_begun: Callable[[Operation], None] | None = None

    @property
    def state_dir(self) -> Path:
        return Path(self.config.state_dir)

    def open_terminal(
        self, cfg: TerminalConfig, *, on_start: Callable[[], None] | None = None
    ) -> AbstractContextManager[PaymentTerminal]:
        """The terminal ``cfg``, ready for one operation, for the length of a ``with``.

        ``on_start`` runs once, just before the operation goes to the terminal, while this
        process holds the terminal: opened here, once its lock is taken and before the
        link is opened; through the daemon, on the terminal's worker when the
        operation's turn comes (one still queued behind another has not reached the
        terminal, and the journal must not say it may have). Either way the attempts
        journaled for one terminal are in the order the terminal saw them, which
        recovery relies on."""
        if self._opener is not None:
            return self._opener(cfg, on_start)
        return opened(cfg, self.state_dir, self.factory, on_start=on_start)

    # -- money ---------------------------------------------------------------------------
    def sale(
        self,
        amount: Money,
        *,
        on: str | None = None,
        failover: bool = True,
        idempotency_key: str | None = None,
    ) -> MoneyResult:
        """Charge ``amount``: journaled, on the preferred terminal or a standby."""
        self._require_currency(amount)
        return self.run(
            Kind.SALE,
            amount,
            lambda t, accepted: t.sale(amount, progress=self.progress, on_accepted=accepted),
            terminals=self._targets(on, failover),
            idempotency_key=idempotency_key,
        )

    def refund(
        self,
        sale: Operation,
        amount: Money,
        *,
        on: str | None = None,
        failover: bool = True,
        plan_id: int | None = None,
        plan_part: int | None = None,
        checked: bool = False,
        idempotency_key: str | None = None,
    ) -> MoneyResult:
        """Pay ``amount`` of ``sale`` back, after the refund guard agreed."""
        if not checked:
            decision = self.refund_decision(sale, amount, on=on)
            if not decision.allowed:
                raise RefundRefused(decision)
        return self.run(
            Kind.REFUND,
            amount,
            lambda t, accepted: t.refund(amount, progress=self.progress, on_accepted=accepted),
            terminals=self._targets(on or sale.terminal, failover),
            parent_id=sale.id,
            plan_id=plan_id,
            plan_part=plan_part,
            idempotency_key=idempotency_key,
        )

    def reverse(
        self, sale: Operation, *, on: str | None = None, idempotency_key: str | None = None
    ) -> MoneyResult:
        """Cancel ``sale`` on the terminal that made it (a reversal only works there)."""
        if sale.state is not State.APPROVED or sale.reference is None:
            raise ValueError(
                f"transaction {sale.id} is {sale.state.value}"
                + ("" if sale.reference else " and has no terminal receipt number")
                + "; only an approved payment can be reversed"
            )
        done = [
            op
            for op in self.journal.children(sale.id)
            if op.kind is Kind.REVERSAL and op.state in (State.APPROVED, *UNRESOLVED)
        ]
        if done:
            raise ValueError(
                f"transaction {sale.id} already has a reversal (id:{done[0].id}, "
                f"{done[0].state.value})"
            )
        refunded = refunds.taken_back(self.journal, sale)
        if refunded:
            raise ValueError(reversal_over_refunds(sale, refunded))
        reference = sale.reference
        return self.run(
            Kind.REVERSAL,
            None,
            lambda t, accepted: t.reverse(reference, progress=self.progress, on_accepted=accepted),
            terminals=self._targets(on or sale.terminal, failover=False),
            currency=sale.currency,
            parent_id=sale.id,
            ref_receipt_no=sale.receipt_no,
            ref_reference=reference,
            idempotency_key=idempotency_key,
        )

    def pre_authorise(
        self, amount: Money, *, on: str | None = None, idempotency_key: str | None = None
    ) -> MoneyResult:
        """Reserve ``amount`` on the guest's card (a deposit at check-in)."""
        self._require_currency(amount)
        return self.run(
            Kind.PRE_AUTH,
            amount,
            lambda t, accepted: t.pre_authorise(
                amount, progress=self.progress, on_accepted=accepted
            ),
            terminals=self._able(self._targets(on, failover=True), Capability.PRE_AUTHORISATION),
            idempotency_key=idempotency_key,
        )

    def book(
        self, pre_auth: Operation, amount: Money, *, idempotency_key: str | None = None
    ) -> MoneyResult:
        """Book ``amount`` of a reservation at check-out and release the rest; only the
        terminal that holds the reservation can do it, so there is no failover."""
        if pre_auth.kind is not Kind.PRE_AUTH or pre_auth.state is not State.APPROVED:
            raise ValueError(
                f"transaction {pre_auth.id} is {pre_auth.state.value.replace('_', ' ')} and "
                f"a {pre_auth.kind.value.replace('_', '-')}; "
                "only an approved pre-authorisation can be booked"
            )
        if pre_auth.reference is None:
            raise ValueError(f"transaction {pre_auth.id} has no terminal receipt number")
        reference = pre_auth.reference
        return self.run(
            Kind.BOOKING,
            amount,
            lambda t, accepted: t.book(
                reference, amount, progress=self.progress, on_accepted=accepted
            ),
            terminals=self._able(
                self._targets(pre_auth.terminal, failover=False), Capability.PRE_AUTHORISATION
            ),
            parent_id=pre_auth.id,
            ref_receipt_no=pre_auth.receipt_no,
            ref_reference=reference,
            idempotency_key=idempotency_key,
        )

    def run(
        self,
        kind: Kind,
        amount: Money | None,
        call: TerminalCall,
        *,
        terminals: Sequence[TerminalConfig],
        currency: str | None = None,
        parent_id: int | None = None,
        ref_receipt_no: int | None = None,
        ref_reference: str | None = None,
        plan_id: int | None = None,
        plan_part: int | None = None,
        idempotency_key: str | None = None,
    ) -> MoneyResult:
        """The write-ahead path every money operation takes (:mod:`.writeahead`)."""
        return writeahead.run(
            self,
            kind,
            amount,
            call,
            terminals=terminals,
            currency=currency,
            parent_id=parent_id,
            ref_receipt_no=ref_receipt_no,
            ref_reference=ref_reference,
            plan_id=plan_id,
            plan_part=plan_part,
            idempotency_key=idempotency_key,
        )

    # -- a person's decision ---------------------------------------------------------------
    def resolve(
        self,
        op: Operation,
        new: State,
        *,
        note: str,
        by: str | None = None,
        receipt_no: int | None = None,
        last4: str | None = None,
    ) -> Resolution:
        """Settle an operation in doubt (or needing review) as approved or declined, on a
        person's word, in one commit: the new state with who decided and why, a receipt
        built from the journal for an approval that has none (queued for the printer of
        its terminal), and an incident in the fault record. ``posdriver resolve`` and the
        API's ``POST /v1/operations/{id}/resolve`` both decide through here, so a decision
        reads the same in the journal whichever way it was made. Nothing is printed: the
        caller prints the jobs (the CLI now, the daemon's printer workers later)."""
        return resolution.resolve(
            self, op, new, note=note, by=by, receipt_no=receipt_no, last4=last4
        )

    # -- receipts --------------------------------------------------------------------------
    def store_receipts(
        self,
        op: Operation,
        customer: Sequence[str],
        merchant: Sequence[str] = (),
        *,
        source: str,
    ) -> list[int]:
        """Store the receipts of an approved operation (the terminal's lines inside the
        hotel's header and footer, or built from the transaction when the terminal sent
        none) and queue their printing. Returns the print job ids."""
        return handoff.store_receipts(
            self.journal, self.config, op, customer, merchant, source=source
        )

    def print_jobs(self, job_ids: Sequence[int] | None = None) -> SpoolReport | None:
        """Print queued receipts now (bounded wait); what cannot print stays queued."""
        return handoff.print_jobs(self.spooler, self.config, job_ids, wait=self.print_wait)

    # -- refunds ---------------------------------------------------------------------------
    def refund_decision(
        self, sale: Operation, amount: Money | None, *, on: str | None = None
    ) -> refund_guard.RefundDecision:
        """The refund guard's answer to refunding ``amount`` of ``sale`` now."""
        return refunds.refund_decision(self, sale, amount, on=on)

    def refund_plan(
        self, sale: Operation, decision: refund_guard.RefundDecision
    ) -> tuple[int, tuple[Money, ...]]:
        """Journal the split plan the guard offered; returns (plan id, parts)."""
        return refunds.refund_plan(self, sale, decision)

    def parts_left(self, plan_id: int) -> tuple[Money, ...]:
        """Parts of a plan with no refund yet (approved or unresolved), in order."""
        return refunds.parts_left(self.journal, plan_id)

    def carry_out_plan(
        self,
        sale: Operation,
        plan_id: int,
        *,
        on: str | None = None,
        idempotency_key: str | None = None,
        should_stop: Callable[[], bool] | None = None,
        on_part: Callable[[MoneyResult], None] | None = None,
        checked: bool = False,
    ) -> PlanResult:
        """Refund the plan's remaining parts one by one; stop at the first that does not
        go through, leaving the rest listed as pending (never silently dropped).

        With ``idempotency_key``, part N goes under ``KEY#N``, so a repeated request (the
        API's) finds the refunds this run made instead of refunding again. ``should_stop``
        is asked before each part: a daemon that is stopping ends the run between refunds,
        never inside one, and the rest stays in the plan. ``on_part`` hears each part's
        result as it is journaled (the daemon counts outcomes). ``checked`` says the caller
        has just made this method's own checks (an unresolved part, the plan's state, the
        guard on what is left) under its own lock, as the API does before it answers."""
        return refunds.carry_out_plan(
            self,
            sale,
            plan_id,
            on=on,
            idempotency_key=idempotency_key,
            should_stop=should_stop,
            on_part=on_part,
            checked=checked,
        )

    def cancel_plan(self, plan_id: int, reason: str) -> None:
        """Give up the rest of a split refund (a person's decision, journaled)."""
        refunds.cancel_plan(self.journal, self.actor, plan_id, reason)

    # -- helpers ---------------------------------------------------------------------------
    def terminals_able(self, capability: Capability, *, on: str | None) -> list[TerminalConfig]:
        """The terminals an operation needing ``capability`` would try, starting at
        ``on``; :class:`CapabilityMissing` when none can (the API asks before it
        answers)."""
        return self._able(self._targets(on, failover=True), capability)

    def _targets(self, on: str | None, failover: bool) -> list[TerminalConfig]:
        return failover_targets(self.config, on, failover)

    def _able(self, targets: list[TerminalConfig], capability: Capability) -> list[TerminalConfig]:
        """The terminals of ``targets`` that can do ``capability``; none:
        :class:`CapabilityMissing`, before anything is journaled."""
        return able(targets, capability)

    def _require_currency(self, amount: Money) -> None:
        if not isinstance(amount, Money):
            raise ValueError(f"an amount must be Money, got {amount!r}")
