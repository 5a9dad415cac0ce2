"""Journaled money operations: the write-ahead rule, failover, receipts and printing.

Every operation follows the same path, and each step is on disk before the next one
happens:

1. ``PENDING`` is written (fsynced) with the intent, before any terminal is opened;
2. the terminal chosen is recorded (``attempt``) before a byte goes to it;
3. ``SENT`` is written the moment the terminal accepts the command;
4. the outcome (``APPROVED`` / ``DECLINED`` / ``ABORTED`` / ``IN_DOUBT``) is written
   together with the receipts and their print jobs, in one commit;
5. only then is anything printed.

A terminal that was not reached (link down, powered off, busy, locked by another
process) never accepted the command, so nothing can have been charged: the operation
goes to the next terminal in the failover order and an incident is written. Once a
terminal accepted, there is no failover and no retry: a lost answer is ``IN_DOUBT``,
resolved later by asking that terminal (:mod:`.recovery`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import logging
import os
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..card import check_last4
from ..errors import PosdriverError
from ..journal import Incident, Journal, JournalError, Kind, Operation, State
from ..journal.journal import day_bounds
from ..locks import OperationClaim
from ..money import Money
from ..terminal import registry
from ..terminal.base import Accepted, PaymentTerminal, Progress
from ..terminal.outcomes import (
    Aborted,
    Approved,
    Declined,
    DoubtStage,
    Outcome,
    TerminalError,
    TerminalNotReached,
)
from ..terminal.protocol import Capability, CapabilityMissing
from . import refund_guard
from .pan_scan import mask_pans
from .receipts import ReceiptFacts, compose
from .terminals import TerminalFactory, make_terminal, opened

if TYPE_CHECKING:
    from ..config import Config, TerminalConfig
    from .spooler import Spooler, SpoolReport

log = logging.getLogger(__name__)

# what each kind asks of a terminal
TerminalCall = Callable[[PaymentTerminal, Accepted], Outcome]
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


@dataclass(frozen=True)
class Attempt:
    """A terminal that was tried and not reached (nothing was charged on it)."""

    terminal: str
    error: str


@dataclass(frozen=True)
class MoneyResult:
    """What a journaled operation ended as, and what happened to its receipt."""

    operation: Operation
    outcome: Outcome | None
    attempts: tuple[Attempt, ...] = ()
    printing: SpoolReport | None = None

    @property
    def state(self) -> State:
        return self.operation.state

    def as_dict(self) -> dict[str, Any]:
        from ..terminal.outcomes import to_dict

        body: dict[str, Any] = {"operation": self.operation.as_dict()}
        body["outcome"] = None if self.outcome is None else to_dict(self.outcome)
        body["not_reached"] = [{"terminal": a.terminal, "error": a.error} for a in self.attempts]
        body["printing"] = None if self.printing is None else self.printing.as_dict()
        return body


class OutcomeNotRecorded(PosdriverError):
    """The terminal answered, and the journal could not record the answer (disk full,
    damaged file). The outcome is in this exception so a person can act on it; the
    operation stays SENT in the journal and is resolved by recovery once the journal
    works again."""

    def __init__(self, op: Operation, terminal: str, outcome: Outcome, error: Exception) -> None:
        self.operation = op
        self.outcome = outcome
        self.error = error
        what = type(outcome).__name__.upper()
        super().__init__(
            f"terminal {terminal} answered {what} for {op.kind.value} {op.id} "
            f"({op.amount or '-'}), and the journal could not record it: {error}. "
            + (
                "THE CARD MAY HAVE BEEN CHARGED: do not charge again."
                if not isinstance(outcome, Aborted | Declined)
                else "Nothing was charged."
            )
        )


class RefundRefused(PosdriverError):
    """The refund guard stopped a refund before it reached a terminal."""

    def __init__(self, decision: refund_guard.RefundDecision) -> None:
        super().__init__(decision.explain())
        self.decision = decision


class NotResolvable(PosdriverError, ValueError):
    """The operation is not one a person settles by hand: only an operation in doubt or
    needing review is. A ValueError, so the CLI reports it as it reports any request it
    cannot do; the API answers it with 409 (refused in the state things are in)."""


def check_resolvable(op: Operation) -> None:
    """Refuse a decision on ``op`` unless it is in doubt or needs review. Callers check
    this before anything else they ask of the person (the CLI before the note), so the
    reason given is the one that matters."""
    if op.state not in RESOLVABLE:
        raise NotResolvable(
            f"transaction {op.id} is {op.state.value}; only an operation in doubt or needing "
            "review is resolved by hand"
        )


@dataclass(frozen=True)
class Resolution:
    """A person's decision as journaled: the operation in its new state, the print jobs
    of the receipt built for an approval that had none, and the incident recorded."""

    operation: Operation
    job_ids: list[int]
    incident: Incident


@dataclass
class PlanResult:
    """A split refund carried out (or carried on): each part's result, what is left."""

    plan_id: int
    parts: list[MoneyResult] = field(default_factory=list)
    left: tuple[Money, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.left and all(p.state is State.APPROVED for p in self.parts)


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
            if op.kind is Kind.REVERSAL and op.state in (State.APPROVED, *_UNRESOLVED)
        ]
        if done:
            raise ValueError(
                f"transaction {sale.id} already has a reversal (id:{done[0].id}, "
                f"{done[0].state.value})"
            )
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
        """The write-ahead path every money operation takes (see the module docstring)."""
        if idempotency_key is not None:
            earlier = self.journal.by_idempotency_key(idempotency_key)
            if earlier is not None:
                if self.on_begun is not None:  # the one this request is answered with
                    self.on_begun(earlier)
                return MoneyResult(earlier, None)
        if not terminals:
            raise ValueError("no payment terminal is configured (use --terminal URL or config)")
        claim = OperationClaim(self.state_dir)
        op = self._begin(
            claim,
            kind,
            amount,
            currency=currency,
            parent_id=parent_id,
            ref_receipt_no=ref_receipt_no,
            ref_reference=ref_reference,
            plan_id=plan_id,
            plan_part=plan_part,
            idempotency_key=idempotency_key,
        )
        try:
            return self._attempts(op, call, terminals, claim)
        finally:
            claim.release(op.id)

    def _begin(
        self, claim: OperationClaim, kind: Kind, amount: Money | None, **intent: Any
    ) -> Operation:
        """PENDING, written and claimed; when the write fails, no claim outlives it (its
        id goes to the next operation, which must be able to claim it)."""
        try:
            op = self.journal.begin(kind, amount, actor=self.actor, on_created=claim.take, **intent)
        except BaseException:
            claim.release_all()
            raise
        if self.on_begun is not None:
            self.on_begun(op)
        return op

    def _attempts(
        self,
        op: Operation,
        call: TerminalCall,
        terminals: Sequence[TerminalConfig],
        claim: OperationClaim,
    ) -> MoneyResult:
        attempts: list[Attempt] = []
        for index, cfg in enumerate(terminals):
            standby = terminals[index + 1] if index + 1 < len(terminals) else None
            detail = cfg.name
            if attempts:
                detail += f" (standby after {attempts[-1].terminal})"
            try:
                with self.open_terminal(cfg, on_start=self._attempt(op.id, cfg.name, detail)) as t:
                    outcome = call(t, self._accepted(op.id, cfg.name))
            except TerminalNotReached as exc:
                attempts.append(Attempt(cfg.name, str(exc)))
                self._not_reached(op, cfg, standby, exc)
                continue
            except (TerminalError, OSError, ValueError) as exc:
                return self._unexpected(op, cfg, exc, attempts)
            except JournalError:
                raise  # the attempt (or SENT) could not be journaled: see run()
            except Exception as exc:  # a fault of ours, perhaps after the command went out
                log.exception("%s %s on %s failed", op.kind.value, op.id, cfg.name)
                return self._unexpected(op, cfg, exc, attempts, ours=True)
            try:
                result = self._finish(op.id, cfg, outcome, attempts)
            except JournalError as exc:
                raise OutcomeNotRecorded(op, cfg.name, outcome, exc) from exc
            if isinstance(outcome, Aborted) and outcome.host_unreachable and standby:
                return self._acquirer_failover(result, call, terminals[index + 1 :], claim)
            return result
        reasons = "; ".join(f"{a.terminal}: {a.error}" for a in attempts)
        final = self.journal.transition(
            op.id,
            State.ABORTED,
            actor=self.actor,
            detail="no terminal reached; nothing was charged",
            reason=f"no terminal could be reached ({reasons})",
        )
        return MoneyResult(final, None, tuple(attempts))

    def _acquirer_failover(
        self,
        failed: MoneyResult,
        call: TerminalCall,
        standbys: Sequence[TerminalConfig],
        claim: OperationClaim,
    ) -> MoneyResult:
        """The terminal could not reach its acquirer and said so: nothing was charged, and
        a standby (often on another line) may get through. The first operation stays
        ABORTED; the payment goes again as a new operation, linked by the incident."""
        op = failed.operation
        name = op.terminal or "?"
        retry = self._begin(
            claim,
            op.kind,
            op.amount,
            currency=op.currency,
            parent_id=op.parent_id,
            ref_receipt_no=op.ref_receipt_no,
            ref_reference=op.ref_reference,
            plan_id=op.plan_id,
            plan_part=op.plan_part,
        )
        try:
            self.journal.add_incident(
                category="failover",
                device=name,
                fault=f"terminal {name} could not reach its acquirer ({op.reason})",
                action=f"{op.kind.value} {op.id} ended without a charge; sent again on standby "
                f"terminal {standbys[0].name} as id:{retry.id}",
                result=f"no money moved on {name}",
                operation_id=op.id,
                actor=self.actor,
            )
            result = self._attempts(retry, call, standbys, claim)
        finally:
            claim.release(retry.id)
        first = Attempt(name, f"acquirer unreachable: {op.reason} (id:{op.id})")
        return dataclasses.replace(result, attempts=(*failed.attempts, first, *result.attempts))

    def _attempt(self, op_id: int, terminal: str, detail: str) -> Callable[[], None]:
        """Journals which terminal the operation goes to, before a byte goes to it."""

        def record() -> None:
            self.journal.attempt(op_id, terminal, detail=detail)

        return record

    def _accepted(self, op_id: int, terminal: str) -> Accepted:
        def record() -> None:
            self.journal.transition(op_id, State.SENT, detail=f"accepted by {terminal}")

        return record

    def _not_reached(
        self,
        op: Operation,
        cfg: TerminalConfig,
        standby: TerminalConfig | None,
        exc: Exception,
    ) -> None:
        what = f"{op.kind.value} {op.id}" + (f" of {op.amount}" if op.amount else "")
        log.warning("terminal %s not reached: %s", cfg.name, exc)
        self.journal.add_incident(
            category="failover" if standby else "device_fault",
            device=cfg.name,
            fault=f"terminal not reached: {exc}",
            action=(
                f"{what} moved to standby terminal {standby.name}"
                if standby
                else f"{what} not sent: no other terminal to try"
            ),
            result=f"no money moved on {cfg.name}",
            operation_id=op.id,
            actor=self.actor,
        )

    def _unexpected(
        self,
        op: Operation,
        cfg: TerminalConfig,
        exc: Exception,
        attempts: list[Attempt],
        *,
        ours: bool = False,
    ) -> MoneyResult:
        """An error that is not an outcome: before acceptance nothing was charged; after
        it, the card may have been, so the operation is in doubt. A fault of ours
        (``ours``: a bug, an absurd setting), unlike a link error or a refusal, may have
        struck after the command went out, so the terminal may have taken it even if it
        never said so: once a terminal was chosen, it is in doubt too (never guess)."""
        current = self.journal.get(op.id)
        what = f"internal error {type(exc).__name__}: {exc}" if ours else str(exc)
        sent = current.state is not State.PENDING or (ours and current.terminal is not None)
        if not sent:
            final = self.journal.transition(
                op.id, State.ABORTED, actor=self.actor, reason=f"{cfg.name}: {what}"
            )
            return MoneyResult(final, None, tuple(attempts))
        final = self.journal.transition(
            op.id,
            State.IN_DOUBT,
            actor=self.actor,
            reason=f"{cfg.name}: {what}",
            doubt_stage=DoubtStage.BEFORE_ACCEPT
            if current.state is State.PENDING
            else DoubtStage.AFTER_ACCEPT,
        )
        self._in_doubt_incident(final, cfg.name, what)
        return MoneyResult(final, None, tuple(attempts))

    def _finish(
        self, op_id: int, cfg: TerminalConfig, outcome: Outcome, attempts: list[Attempt]
    ) -> MoneyResult:
        job_ids: list[int] = []
        with self.journal.atomic():
            current = self.journal.get(op_id)
            if current.state is State.PENDING and not isinstance(outcome, Aborted):
                # the acceptance hook did not get to run (implicit acceptance cut short)
                self.journal.transition(op_id, State.SENT, detail=f"answered by {cfg.name}")
            if isinstance(outcome, Approved):
                amount = outcome.amount
                final = self.journal.transition(
                    op_id,
                    State.APPROVED,
                    actor=self.actor,
                    amount_minor=None if amount is None else amount.minor,
                    trace=outcome.trace,
                    receipt_no=outcome.receipt_no,
                    reference=outcome.reference,
                    approval_code=outcome.approval_code,
                    terminal_id=outcome.terminal_id,
                    card_brand=outcome.card.brand,
                    card_last4=outcome.card.last4,
                    terminal_at=_aware(outcome.at),
                )
                job_ids = self.store_receipts(
                    final, outcome.receipt, outcome.merchant_receipt, source="terminal"
                )
            elif isinstance(outcome, Declined):
                final = self.journal.transition(
                    op_id,
                    State.DECLINED,
                    actor=self.actor,
                    result_code=outcome.result_code,
                    reason=outcome.meaning + (f": {outcome.detail}" if outcome.detail else ""),
                    trace=outcome.trace,
                    receipt_no=outcome.receipt_no,
                    reference=outcome.reference,
                )
            elif isinstance(outcome, Aborted):
                final = self.journal.transition(
                    op_id,
                    State.ABORTED,
                    actor=self.actor,
                    result_code=outcome.result_code,
                    reason=_abort_reason(outcome),
                )
            else:
                final = self.journal.transition(
                    op_id,
                    State.IN_DOUBT,
                    actor=self.actor,
                    doubt_stage=outcome.stage,
                    reason=outcome.reason,
                    trace=outcome.trace,
                    receipt_no=outcome.receipt_no,
                    reference=outcome.reference,
                    result_code=outcome.result_code,
                )
                self._in_doubt_incident(final, cfg.name, outcome.reason)
        printing = self.print_jobs(job_ids) if job_ids else None
        return MoneyResult(final, outcome, tuple(attempts), printing)

    def _in_doubt_incident(self, op: Operation, terminal: str, why: str) -> None:
        self.journal.add_incident(
            category="in_doubt",
            device=terminal,
            fault=f"{op.kind.value} {op.id} of {op.amount or '-'}: no answer after the "
            f"terminal accepted it ({why})",
            action="not repeated; will be resolved by asking the terminal (posdriver recover)",
            result="in doubt: the card may have been charged",
            operation_id=op.id,
            actor=self.actor,
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
        check_resolvable(op)
        if new not in (State.APPROVED, State.DECLINED):
            raise ValueError(f"a decision is approved or declined, not {new.value}")
        if not note.strip():
            raise ValueError("a decision needs a note saying why (what was checked, with whom)")
        if last4 is not None:
            check_last4(last4)
        who = by or self.actor
        journal = self.journal
        with journal.atomic():
            moved = journal.transition(
                op.id,
                new,
                actor=who,
                detail=note,
                resolved_by=who,
                note=note,
                receipt_no=receipt_no,
                # the number a person read off the terminal is how it knows the payment
                reference=None if receipt_no is None else str(receipt_no),
                card_last4=last4,
            )
            jobs: list[int] = []
            if new is State.APPROVED and not journal.receipts(op.id):
                jobs = self.store_receipts(moved, (), source="built")
            incident = journal.add_incident(
                category="manual",
                device=op.terminal,
                fault=f"{op.kind.value} {op.id} of {op.amount or '-'} was {op.state.value}",
                action=f"decided by {who}: {note}",
                result=f"resolved as {new.value}",
                operation_id=op.id,
                actor=who,
            )
        return Resolution(moved, jobs, incident)

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
        rc = self.config.receipt
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
        printer = self._printer_for(op.terminal)
        jobs: list[int] = []
        with self.journal.atomic():
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
                stored = self.journal.add_receipt(op.id, copy, text, source if lines else "built")
                if copy == "customer" or rc.merchant_copy:
                    jobs.append(self.journal.enqueue_print(stored.id, printer).id)
        return jobs

    def _printer_for(self, terminal: str | None) -> str | None:
        if terminal is not None:
            from ..config import ConfigError

            with contextlib.suppress(ConfigError):  # a terminal since removed from the config
                found = self.config.printer_for(terminal)
                return found.name if found else None
        return self.config.printers[0].name if self.config.printers else None

    def print_jobs(self, job_ids: Sequence[int] | None = None) -> SpoolReport | None:
        """Print queued receipts now (bounded wait); what cannot print stays queued."""
        if self.spooler is None or not self.config.printers:
            return None
        report = self.spooler.run(job_ids=job_ids, wait=self.print_wait)
        if job_ids is not None and report.printed and not report.waiting:
            # the printer works again: receipts left waiting earlier go out now too, and
            # the report says so (staff should know another guest's slip came out)
            earlier = self.spooler.run(wait=self.print_wait)
            report = dataclasses.replace(report, outcomes=report.outcomes + earlier.outcomes)
        return report

    # -- refunds ---------------------------------------------------------------------------
    def refund_decision(
        self, sale: Operation, amount: Money | None, *, on: str | None = None
    ) -> refund_guard.RefundDecision:
        children = self.journal.children(sale.id)
        refunds = [op for op in children if op.kind is Kind.REFUND]
        currency = sale.currency
        refunded = sum(
            op.amount.minor for op in refunds if op.state is State.APPROVED and op.amount
        )
        if any(op.kind is Kind.REVERSAL and op.state is State.APPROVED for op in children):
            refunded = sale.amount.minor if sale.amount else refunded  # reversed: nothing left
        reserved = sum(
            op.amount.minor
            for op in refunds
            if op.state in (State.PENDING, State.SENT, State.IN_DOUBT, State.NEEDS_REVIEW)
            and op.amount
        )
        start, end = day_bounds(datetime.now().astimezone().date())
        today = [op for op in self.journal.refunds_between(start, end) if op.currency == currency]
        limit = None
        targets = self._targets(on or sale.terminal, failover=True)
        if targets:
            limit = targets[0].refund_limit
        return refund_guard.check(
            refund_guard.RefundRequest(
                sale_id=sale.id,
                sale_state=sale.state.value,
                sale_kind=sale.kind.value,
                sale_amount=sale.amount or Money(0, currency),
                refunded=Money(refunded, currency),
                reserved=Money(reserved, currency),
                amount=amount,
                per_refund_limit=limit,
                daily_cap=self.config.refund.daily_cap,
                refunded_today=Money(sum(op.amount.minor for op in today if op.amount), currency),
                max_split_parts=self.config.refund.max_split_parts,
            )
        )

    def refund_plan(
        self, sale: Operation, decision: refund_guard.RefundDecision
    ) -> tuple[int, tuple[Money, ...]]:
        """Journal the split plan the guard offered; returns (plan id, parts)."""
        if not decision.plan:
            raise RefundRefused(decision)
        plan = self.journal.create_plan(sale.id, decision.plan, self.actor)
        self.journal.add_incident(
            category="manual",
            fault=f"refund of {decision.amount} on transaction {sale.id} is over the "
            "terminal's per-refund limit",
            action=f"split into {len(plan.parts)} refunds: "
            + " + ".join(p.format() for p in plan.parts),
            result="plan created",
            operation_id=sale.id,
            actor=self.actor,
        )
        return plan.id, plan.parts

    def parts_left(self, plan_id: int) -> tuple[Money, ...]:
        """Parts of a plan with no refund yet (approved or unresolved), in order."""
        plan = self.journal.plan(plan_id)
        return tuple(plan.parts[i - 1] for i in sorted(self._missing(plan_id)))

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
        plan = self.journal.plan(plan_id)
        if not checked:
            self._check_plan_run(sale, plan_id, on)
        result = PlanResult(plan_id)
        for index in sorted(self._missing(plan_id)):
            if should_stop is not None and should_stop():
                break  # the rest stays in the plan, listed as pending
            outcome = self.refund(
                sale,
                plan.parts[index - 1],
                on=on,
                plan_id=plan_id,
                plan_part=index,
                checked=True,
                idempotency_key=None if idempotency_key is None else f"{idempotency_key}#{index}",
            )
            result.parts.append(outcome)
            if on_part is not None:
                on_part(outcome)
            if outcome.state is not State.APPROVED:
                break
        result.left = self.parts_left(plan_id)
        if not result.left:
            self.journal.set_plan_state(plan_id, "done")
        return result

    def _check_plan_run(self, sale: Operation, plan_id: int, on: str | None) -> None:
        """What must hold before a plan's parts are refunded: no part unresolved, the plan
        open, and the guard agreeing to what is left."""
        plan = self.journal.plan(plan_id)
        unresolved = [
            op
            for op in self.journal.children(sale.id)
            if op.plan_id == plan_id and op.state in _UNRESOLVED
        ]
        if unresolved:
            raise ValueError(
                f"refund plan {plan_id}: part {unresolved[0].plan_part} (transaction "
                f"{unresolved[0].id}) is {unresolved[0].state.value}; resolve it first"
            )
        if plan.state != "open":
            raise ValueError(f"refund plan {plan_id} is {plan.state}; nothing is carried out")
        left = self.parts_left(plan_id)
        if left:
            # the guard again, on what is left: since the plan was made, someone may have
            # refunded part of the sale another way, or it may be another day
            decision = self.refund_decision(
                sale, Money(sum(p.minor for p in left), sale.currency), on=on
            )
            if not decision.allowed and not decision.plan:
                raise RefundRefused(decision)

    def cancel_plan(self, plan_id: int, reason: str) -> None:
        """Give up the rest of a split refund (a person's decision, journaled)."""
        plan = self.journal.plan(plan_id)
        if plan.state != "open":
            raise ValueError(f"refund plan {plan_id} is {plan.state} already")
        left = self.parts_left(plan_id)
        with self.journal.atomic():
            self.journal.set_plan_state(plan_id, "cancelled")
            self.journal.note_event(
                plan.sale_id, "refund_plan_cancelled", f"plan {plan_id}: {reason}", self.actor
            )
            self.journal.add_incident(
                category="manual",
                fault=f"split refund plan {plan_id} of transaction {plan.sale_id} not finished",
                action=f"cancelled by {self.actor}: {reason}",
                result="not refunded: " + (" + ".join(m.format() for m in left) or "nothing"),
                operation_id=plan.sale_id,
                actor=self.actor,
            )

    def _missing(self, plan_id: int) -> set[int]:
        """Part numbers of a plan that have no approved or unresolved refund."""
        plan = self.journal.plan(plan_id)
        taken = {
            op.plan_part
            for op in self.journal.children(plan.sale_id)
            if op.plan_id == plan_id and op.state in (State.APPROVED, *_UNRESOLVED)
        }
        return {i for i in range(1, len(plan.parts) + 1) if i not in taken}

    # -- helpers ---------------------------------------------------------------------------
    def _targets(self, on: str | None, failover: bool) -> list[TerminalConfig]:
        if on is not None and on not in {t.name for t in self.config.terminals}:
            # a sale made on a terminal since removed from the config: use the preferred one
            on = None
        order = self.config.failover_order(on)
        return order if failover else order[:1]

    def terminals_able(self, capability: Capability, *, on: str | None) -> list[TerminalConfig]:
        """The terminals an operation needing ``capability`` would try, starting at
        ``on``; :class:`CapabilityMissing` when none can (the API asks before it
        answers)."""
        return self._able(self._targets(on, failover=True), capability)

    def _able(self, targets: list[TerminalConfig], capability: Capability) -> list[TerminalConfig]:
        """The terminals of ``targets`` whose protocol can do ``capability`` (a standby
        that cannot is skipped); none: :class:`CapabilityMissing`, before anything is
        journaled."""
        able = [t for t in targets if registry.get(t.protocol).has(capability)]
        if targets and not able:
            raise CapabilityMissing(targets[0].name, targets[0].protocol, capability)
        return able

    def _require_currency(self, amount: Money) -> None:
        if not isinstance(amount, Money):
            raise ValueError(f"an amount must be Money, got {amount!r}")


_UNRESOLVED = (State.PENDING, State.SENT, State.IN_DOUBT, State.NEEDS_REVIEW)
RESOLVABLE = (State.IN_DOUBT, State.NEEDS_REVIEW)  # what a person may settle by hand


def _aware(value: datetime | None) -> datetime | None:
    """A terminal's local time as an aware datetime (terminals send local time)."""
    if value is None:
        return None
    return value.astimezone() if value.tzinfo is None else value.astimezone(UTC)


def _abort_reason(outcome: Aborted) -> str:
    """The journal's reason for an abort; when the terminal could not reach its acquirer,
    it says so first (the terminal's own words, such as "no connection", do not)."""
    reason = outcome.reason + (f": {outcome.detail}" if outcome.detail else "")
    if outcome.host_unreachable:
        return f"the terminal could not reach its acquirer: {reason}"
    return reason
