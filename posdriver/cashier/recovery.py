"""Resolving operations whose answer never came, by asking the terminal. Never guessing.

Run at start-up (and before any command that talks to a terminal):

1. Operations a crash left ``PENDING`` or ``SENT`` become ``IN_DOUBT`` (a ``PENDING``
   one that never had a terminal chosen cannot have reached one: it is ``ABORTED``).
2. For each terminal with operations in doubt, the terminal's last transaction is read
   (Repeat Receipt) and compared with each of them by :func:`judge`:

   * it is this operation (same reference or trace number, or same amount at a time not
     before the operation began; a reversal's amount is its sale's) -> ``APPROVED`` if
     it stands, ``DECLINED`` if it was declined or reversed (e.g. the terminal
     reversed it because our acknowledgement never arrived);
   * it is provably older than the operation (before it began, or a transaction the
     journal already holds for an earlier operation) -> the operation never ran on the
     terminal: ``DECLINED`` (nothing was charged);
   * anything else -> ``NEEDS_REVIEW``: a person decides, with what is known listed.

   The last transaction speaks for one operation at most. When several are in doubt on
   one terminal and exactly one matches, that one is settled; those that went to the
   terminal after it never ran there (``DECLINED``: the terminal's last transaction
   would be theirs); those that went before it are ``NEEDS_REVIEW`` unless provably
   older. The order is the journal's ``attempt`` events, written while the terminal is
   held (so an operation still queued behind another one when the process died has no
   terminal recorded, and is ``ABORTED`` in step 1). When two or more could match, a
   person decides.
3. An approved resolution stores the terminal's receipt and queues it for printing, so
   the guest's receipt is not lost with the answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from ..journal import Journal, Kind, Operation, State
from ..locks import operation_is_live
from ..money import Money
from ..terminal import registry
from ..terminal.outcomes import (
    DoubtStage,
    LastTransaction,
    TerminalError,
    TerminalNotReached,
)
from ..terminal.protocol import Capability

if TYPE_CHECKING:
    from .cashier import Cashier
    from .spooler import SpoolReport

log = logging.getLogger(__name__)

CLOCK_SKEW = timedelta(seconds=60)  # terminal clock vs ours, and the terminal's 1 s steps


@dataclass(frozen=True)
class Verdict:
    """What the terminal's last transaction says about one operation in doubt."""

    state: State  # APPROVED, DECLINED or NEEDS_REVIEW
    detail: str
    matched: bool  # the last transaction IS this operation


def _at(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.astimezone() if value.tzinfo is None else value


def describe_last(last: LastTransaction) -> str:
    amount = last.amount.format() if last.amount else "no amount"
    when = _at(last.at)
    shown = when.strftime("%Y-%m-%d %H:%M:%S") if when else "unknown time"
    state = "stands" if last.stands else f"does not stand ({last.meaning})"
    return (
        f"receipt {last.receipt_no or '-'}, trace {last.trace or '-'}, {amount}, {shown}, {state}"
    )


def judge(
    op: Operation,
    last: LastTransaction | None,
    *,
    known_elsewhere: Sequence[Operation] = (),
    skew: timedelta = CLOCK_SKEW,
    now: datetime | None = None,
    moves: Money | None = None,
) -> Verdict:
    """Compare an operation in doubt with the terminal's last transaction.

    ``known_elsewhere``: other journaled operations of this terminal with the same
    receipt number as ``last`` (a transaction the journal already accounts for).
    ``now``: this machine's time as recovery runs. An operation that began after it
    began before the clock was set back (NTP, a person, a dead RTC battery): its start
    time cannot be held against the terminal's clock, so "the terminal's transaction is
    older than this operation" proves nothing. Which journal operation came first is
    told by the ids, which no clock moves.
    ``moves``: the amount the operation moves when the journal does not hold it yet: a
    reversal's is its sale's, and the journal learns it only from the terminal's answer,
    which is what went missing.
    """
    began = op.created_at
    clock_moved = now is not None and began > now + skew
    if last is None:
        if op.doubt_stage == DoubtStage.BEFORE_ACCEPT:
            return Verdict(
                State.DECLINED,
                "the terminal has no transaction on record and never accepted this one; "
                "nothing was charged",
                matched=False,
            )
        # the terminal accepted it and now remembers nothing: replaced, reset, or its
        # memory cleared by an end-of-day run on the terminal itself
        return Verdict(
            State.NEEDS_REVIEW,
            "the terminal accepted this operation but has no transaction on record now "
            "(replaced, reset, or closed its day?); check the terminal's own printout",
            matched=False,
        )
    seen = describe_last(last)
    same_receipt = op.reference is not None and last.reference == op.reference
    same_trace = op.trace is not None and last.trace == op.trace
    when = _at(last.at)
    if same_receipt or same_trace:
        return _matched(last, seen)
    if op.reference is not None or op.trace is not None:
        # the terminal already told us this operation's numbers, and the last
        # transaction has others
        if when is not None and when < began - skew:
            return Verdict(
                State.NEEDS_REVIEW,
                f"the terminal's last transaction ({seen}) is older than this one, yet "
                "the terminal had numbered this one; check the terminal's journal",
                matched=False,
            )
        return Verdict(
            State.NEEDS_REVIEW,
            f"the terminal's last transaction ({seen}) is another one; this one "
            f"(receipt {op.receipt_no or '-'}, trace {op.trace or '-'}) cannot be checked "
            "with it",
            matched=False,
        )
    older = [o for o in known_elsewhere if o.id < op.id]
    if older:
        return Verdict(
            State.DECLINED,
            f"the terminal's last transaction ({seen}) is journal transaction "
            f"{older[0].id}, from before this one: this one never ran; nothing was charged",
            matched=False,
        )
    if when is not None and when < began - skew and not clock_moved:
        return Verdict(
            State.DECLINED,
            f"the terminal's last transaction ({seen}) is from before this operation "
            "began: this one never ran; nothing was charged",
            matched=False,
        )
    if known_elsewhere:
        return Verdict(
            State.NEEDS_REVIEW,
            f"the terminal's last transaction ({seen}) belongs to a later journal "
            f"transaction ({known_elsewhere[0].id}); this one cannot be checked with it",
            matched=False,
        )
    amount = op.amount if op.amount is not None else moves
    if amount is not None and last.amount == amount and when is not None:
        return _matched(last, seen)
    moved = "; this machine's clock was set back since it began" if clock_moved else ""
    return Verdict(
        State.NEEDS_REVIEW,
        f"the terminal's last transaction ({seen}) does not match this operation "
        f"({op.amount or 'no amount'} at {op.created_at.astimezone():%Y-%m-%d %H:%M:%S})"
        f"{moved}",
        matched=False,
    )


def _matched(last: LastTransaction, seen: str) -> Verdict:
    if last.stands:
        return Verdict(
            State.APPROVED,
            f"the terminal's last transaction is this one and it stands ({seen})",
            matched=True,
        )
    return Verdict(
        State.DECLINED,
        f"the terminal's last transaction is this one and it did not go through ({seen}); "
        "nothing was charged",
        matched=True,
    )


@dataclass
class RecoveryReport:
    """What a recovery run did, for the CLI and the log."""

    resolved: list[tuple[Operation, str]] = field(default_factory=list)
    needs_review: list[tuple[Operation, str]] = field(default_factory=list)
    still_in_doubt: list[tuple[Operation, str]] = field(default_factory=list)
    aborted: list[Operation] = field(default_factory=list)
    running: list[tuple[Operation, int]] = field(default_factory=list)  # (op, pid)
    printing: SpoolReport | None = None

    @property
    def clean(self) -> bool:
        return not self.needs_review and not self.still_in_doubt

    def as_dict(self) -> dict[str, Any]:
        def rows(items: list[tuple[Operation, str]]) -> list[dict[str, Any]]:
            return [op.as_dict() | {"detail": why} for op, why in items]

        return {
            "resolved": rows(self.resolved),
            "needs_review": rows(self.needs_review),
            "still_in_doubt": rows(self.still_in_doubt),
            "aborted": [op.as_dict() for op in self.aborted],
            "running": [op.as_dict() | {"pid": pid} for op, pid in self.running],
            "printing": None if self.printing is None else self.printing.as_dict(),
        }


def recover(
    cashier: Cashier,
    *,
    attempts: int = 3,
    skew: timedelta = CLOCK_SKEW,
    sleep: Callable[[float], None] | None = None,
) -> RecoveryReport:
    """Resolve what the journal holds in doubt (see the module docstring)."""
    journal = cashier.journal
    report = RecoveryReport()
    actor = "recovery"
    for candidate in journal.unresolved(frozenset({State.PENDING, State.SENT})):
        owner = operation_is_live(cashier.state_dir, candidate.id)
        if owner is not None:
            report.running.append((candidate, owner))  # another process is running it
            continue
        op = journal.get(candidate.id)  # it may have finished while we looked
        if op.state not in (State.PENDING, State.SENT):
            continue
        if op.state is State.PENDING and op.terminal is None:
            report.aborted.append(
                journal.transition(
                    op.id,
                    State.ABORTED,
                    actor=actor,
                    reason="interrupted before any terminal was chosen; nothing was sent",
                )
            )
            continue
        moved = journal.transition(
            op.id,
            State.IN_DOUBT,
            actor=actor,
            reason=f"left {op.state.value} by an interrupted run (crash or power loss)",
            doubt_stage=DoubtStage.AFTER_ACCEPT
            if op.state is State.SENT
            else DoubtStage.BEFORE_ACCEPT,
        )
        journal.add_incident(
            category="in_doubt",
            device=op.terminal,
            fault=f"{op.kind.value} {op.id} of {op.amount or '-'} was interrupted "
            f"({op.state.value}) by a crash or power loss",
            action="asking the terminal for its last transaction",
            result="in doubt until the terminal answers",
            operation_id=op.id,
            actor=actor,
        )
        log.warning("operation %s was left %s; now in doubt", moved.id, op.state.value)

    by_terminal: dict[str, list[Operation]] = {}
    for op in journal.unresolved(frozenset({State.IN_DOUBT})):
        by_terminal.setdefault(op.terminal or "", []).append(op)
    configured = {t.name: t for t in cashier.config.terminals}
    for name, ops in by_terminal.items():
        ops.sort(key=lambda o: o.id, reverse=True)
        cfg = configured.get(name)
        if cfg is None:
            why = (
                f"terminal {name!r} is not configured any more; ask it directly or decide"
                if name
                else "no terminal was recorded"
            )
            for op in ops:
                _to_review(cashier, op, why, report)
            continue
        if not registry.get(cfg.protocol).has(Capability.REPEAT_RECEIPT):
            why = (
                f"terminal {name} ({cfg.protocol}) cannot tell its last transaction; check "
                "the terminal's own record (its journal printout) and decide"
            )
            for op in ops:
                _to_review(cashier, op, why, report)
            continue
        try:
            last = _last_transaction(cashier, cfg, attempts, sleep)
        except TerminalError as exc:
            for op in ops:
                report.still_in_doubt.append((op, f"terminal {name} did not answer: {exc}"))
            journal.add_incident(
                category="in_doubt",
                device=name,
                fault=f"terminal not reachable to resolve {len(ops)} operation(s) in doubt: {exc}",
                action="left in doubt; recovery runs again before the next payment",
                result="unresolved",
                actor=actor,
            )
            continue
        # A transaction the journal already accounts for: approved, or declined with the
        # terminal's numbers (an issuer's decline, or one the terminal reversed because a
        # crash cut off our acknowledgement). Either way it is not the one in doubt.
        known = (
            [
                o
                for o in journal.by_reference(name, last.reference)
                if o.state in (State.APPROVED, State.DECLINED)
                # references may repeat (receipt numbers wrap): the trace must agree too
                and (o.trace is None or last.trace is None or o.trace == last.trace)
            ]
            if last is not None and last.reference is not None
            else []
        )
        for op, verdict, seen in _settle(journal, ops, last, known, skew):
            _apply(cashier, op, verdict, seen, report)
    if any(state is State.APPROVED for state in (op.state for op, _ in report.resolved)):
        report.printing = cashier.print_jobs()
    return report


def _settle(
    journal: Journal,
    ops: Sequence[Operation],
    last: LastTransaction | None,
    known: Sequence[Operation],
    skew: timedelta,
) -> list[tuple[Operation, Verdict, LastTransaction | None]]:
    """What the terminal's last transaction says about each of its operations in doubt
    (newest first), with the transaction to record for the one it is.

    The last transaction speaks for one operation at most. When exactly one matches it,
    that one is settled by it; an operation that went to the terminal after that one
    never ran there (it would be the last transaction otherwise), so nothing was charged;
    one that went before it cannot be checked with it, unless it is provably older. Two
    or more that could match are a person's decision: never guess which one."""
    now = datetime.now(UTC)
    verdicts = [
        (op, judge(op, last, known_elsewhere=known, skew=skew, now=now, moves=_moves(journal, op)))
        for op in ops
    ]
    matched = [op for op, v in verdicts if v.matched]
    seen = describe_last(last) if last is not None else "none"
    if len(matched) > 1:
        ids = ", ".join(str(o.id) for o in sorted(matched, key=lambda o: o.id))
        question = Verdict(
            State.NEEDS_REVIEW,
            f"the terminal's last transaction ({seen}) could be any of "
            f"journal transactions {ids}; check the terminal's own printout",
            matched=False,
        )
        return [(op, question if v.matched else _unless_older(v), None) for op, v in verdicts]
    if not matched:
        return [(op, _unless_older(v) if op is not ops[0] else v, None) for op, v in verdicts]
    hit = matched[0]
    order = _sent_order(journal, ops)
    settled: list[tuple[Operation, Verdict, LastTransaction | None]] = []
    for op, verdict in verdicts:
        if op is hit:
            settled.append((op, verdict, last))
        elif order.get(op.id, 0) > order.get(hit.id, 0):
            never = Verdict(
                State.DECLINED,
                f"the terminal's last transaction ({seen}) is journal "
                f"transaction {hit.id}, which went to the terminal before this one: this "
                "one never ran there; nothing was charged",
                matched=False,
            )
            settled.append((op, never, None))
        else:
            settled.append((op, _unless_older(verdict), None))
    return settled


def _moves(journal: Journal, op: Operation) -> Money | None:
    """What a reversal takes back: the whole of its sale (the journal has no amount for
    it until the terminal answered)."""
    if op.amount is not None or op.kind is not Kind.REVERSAL or op.parent_id is None:
        return None
    return journal.get(op.parent_id).amount


def _unless_older(verdict: Verdict) -> Verdict:
    """An operation the last transaction cannot speak for: settled only when that
    transaction proves it never ran (declined), else a person's question."""
    if verdict.state is State.DECLINED or verdict.state is State.NEEDS_REVIEW:
        return verdict
    return Verdict(
        State.NEEDS_REVIEW,
        "more than one operation was in doubt on this terminal; its last transaction "
        "speaks for another one",
        matched=False,
    )


def _sent_order(journal: Journal, ops: Sequence[Operation]) -> dict[int, int]:
    """Each operation's place in the order its terminal saw them: the id of its last
    ``attempt`` event. Attempts are journaled while the terminal is held (under its
    lock, or on its worker), so their order is the terminal's, whatever the ids say."""
    order: dict[int, int] = {}
    for op in ops:
        attempts = [e.id for e in journal.events(op.id) if e.event == "attempt"]
        order[op.id] = max(attempts, default=0)
    return order


def _last_transaction(
    cashier: Cashier,
    cfg: Any,
    attempts: int,
    sleep: Callable[[float], None] | None,
) -> LastTransaction | None:
    """Repeat Receipt, retried while the terminal is unreachable or busy (a terminal
    that was mid-transaction when we crashed may still be finishing it)."""
    kwargs: dict[str, Any] = {}
    if sleep is not None:
        kwargs["sleep"] = sleep
    for attempt in Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential_jitter(multiplier=0.5, max=5, jitter=0.5),
        retry=retry_if_exception_type(TerminalNotReached),
        reraise=True,
        **kwargs,
    ):
        with attempt, cashier.open_terminal(cfg) as terminal:
            return terminal.last_transaction()
    raise AssertionError("unreachable")


def _to_review(cashier: Cashier, op: Operation, why: str, report: RecoveryReport) -> None:
    moved = cashier.journal.transition(
        op.id, State.NEEDS_REVIEW, actor="recovery", detail=why, reason=why
    )
    cashier.journal.add_incident(
        category="in_doubt",
        device=op.terminal,
        fault=f"{op.kind.value} {op.id} of {op.amount or '-'} could not be resolved: {why}",
        action="listed for a person (posdriver pending, posdriver resolve)",
        result="needs review",
        operation_id=op.id,
        actor="recovery",
    )
    report.needs_review.append((moved, why))


def _apply(
    cashier: Cashier,
    op: Operation,
    verdict: Verdict,
    last: LastTransaction | None,
    report: RecoveryReport,
) -> None:
    journal = cashier.journal
    if verdict.state is State.NEEDS_REVIEW:
        _to_review(cashier, op, verdict.detail, report)
        return
    facts: dict[str, Any] = {"reason": verdict.detail}
    if verdict.matched and last is not None:
        facts |= {
            "trace": last.trace,
            "receipt_no": last.receipt_no,
            "reference": last.reference,
            "approval_code": last.approval_code,
            "terminal_id": last.terminal_id,
            "card_brand": last.card.brand,
            "card_last4": last.card.last4,
            "result_code": last.result_code or None,
            "terminal_at": None if last.at is None else _at(last.at).astimezone(UTC),  # type: ignore[union-attr]
        }
        if verdict.state is State.APPROVED and last.amount is not None:
            facts["amount_minor"] = last.amount.minor
    with journal.atomic():
        moved = journal.transition(
            op.id, verdict.state, actor="recovery", detail=verdict.detail, **facts
        )
        if verdict.state is State.APPROVED and last is not None:
            cashier.store_receipts(moved, last.receipt, source="repeat_receipt")
        journal.add_incident(
            category="resolution",
            device=op.terminal,
            fault=f"{op.kind.value} {op.id} of {op.amount or '-'} was in doubt",
            action="asked the terminal for its last transaction (repeat receipt)",
            result=f"resolved as {verdict.state.value}: {verdict.detail}",
            operation_id=op.id,
            actor="recovery",
        )
    report.resolved.append((moved, verdict.detail))
