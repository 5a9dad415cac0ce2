"""The write-ahead path every money operation takes, whatever its kind.

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

The kinds (sale, refund, ...) are the :class:`~.cashier.Cashier`'s; this module only
knows the path, and reaches terminals, receipts and the printer through the cashier's
public methods, so the daemon's way of opening terminals is used here too.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..errors import PosdriverError
from ..journal import Journal, JournalError, Kind, Operation, State
from ..locks import OperationClaim
from ..money import Money
from ..terminal.base import Accepted, PaymentTerminal
from ..terminal.outcomes import (
    Aborted,
    Approved,
    Declined,
    DoubtStage,
    Outcome,
    TerminalError,
    TerminalNotReached,
)

if TYPE_CHECKING:
    from ..config import TerminalConfig
    from .cashier import Cashier
    from .spooler import SpoolReport

# the cashier's logger, by the name operators' log filters know it by
log = logging.getLogger("posdriver.cashier.cashier")

# what each kind asks of a terminal
TerminalCall = Callable[[PaymentTerminal, Accepted], Outcome]

# written ahead and not settled yet: each still stands for money that may move
UNRESOLVED = (State.PENDING, State.SENT, State.IN_DOUBT, State.NEEDS_REVIEW)


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


def run(
    cashier: Cashier,
    kind: Kind,
    amount: Money | None,
    call: TerminalCall,
    *,
    terminals: Sequence[TerminalConfig],
    idempotency_key: str | None = None,
    **intent: Any,
) -> MoneyResult:
    """``kind`` of ``amount`` down the path (see the module docstring), on the first of
    ``terminals`` that is reached; ``intent`` is what the journal keeps of it besides
    (currency, parent, references, plan part). A repeated ``idempotency_key`` answers
    with the operation it was first given to, and nothing goes to a terminal."""
    if idempotency_key is not None:
        earlier = cashier.journal.by_idempotency_key(idempotency_key)
        if earlier is not None:
            if cashier.on_begun is not None:  # the one this request is answered with
                cashier.on_begun(earlier)
            return MoneyResult(earlier, None)
    if not terminals:
        raise ValueError("no payment terminal is configured (use --terminal URL or config)")
    path = WriteAhead(cashier, call)
    op = path.begin(kind, amount, idempotency_key=idempotency_key, **intent)
    try:
        return path.attempts(op, terminals)
    finally:
        path.claim.release(op.id)


class WriteAhead:
    """One money operation on its way down the path: what it asks of a terminal, and this
    process's claim on each operation journaled for it (the first, and the one sent again
    on a standby when a terminal could not reach its acquirer). Each step writes the
    journal before the next one touches a terminal."""

    def __init__(self, cashier: Cashier, call: TerminalCall) -> None:
        self.cashier = cashier
        self.call = call
        self.claim = OperationClaim(cashier.state_dir)

    @property
    def journal(self) -> Journal:
        return self.cashier.journal

    @property
    def actor(self) -> str:
        return self.cashier.actor

    def begin(self, kind: Kind, amount: Money | None, **intent: Any) -> Operation:
        """PENDING, written and claimed; when the write fails, no claim outlives it (its
        id goes to the next operation, which must be able to claim it)."""
        try:
            op = self.journal.begin(
                kind, amount, actor=self.actor, on_created=self.claim.take, **intent
            )
        except BaseException:
            self.claim.release_all()
            raise
        if self.cashier.on_begun is not None:
            self.cashier.on_begun(op)
        return op

    def attempts(self, op: Operation, terminals: Sequence[TerminalConfig]) -> MoneyResult:
        """``op`` on each of ``terminals`` in turn until one is reached; none reached:
        ABORTED, since nothing can have been charged."""
        attempts: list[Attempt] = []
        for index, cfg in enumerate(terminals):
            standby = terminals[index + 1] if index + 1 < len(terminals) else None
            detail = cfg.name
            if attempts:
                detail += f" (standby after {attempts[-1].terminal})"
            try:
                on_start = self._attempt(op.id, cfg.name, detail)
                with self.cashier.open_terminal(cfg, on_start=on_start) as t:
                    outcome = self.call(t, self._accepted(op.id, cfg.name))
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
                return self._acquirer_failover(result, terminals[index + 1 :])
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
        self, failed: MoneyResult, standbys: Sequence[TerminalConfig]
    ) -> MoneyResult:
        """The terminal could not reach its acquirer and said so: nothing was charged, and
        a standby (often on another line) may get through. The first operation stays
        ABORTED; the payment goes again as a new operation, linked by the incident."""
        op = failed.operation
        name = op.terminal or "?"
        retry = self.begin(
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
            result = self.attempts(retry, standbys)
        finally:
            self.claim.release(retry.id)
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
        """The terminal's answer, journaled with its receipts and their print jobs in one
        commit; printed only once that commit is on disk."""
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
                job_ids = self.cashier.store_receipts(
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
        printing = self.cashier.print_jobs(job_ids) if job_ids else None
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
