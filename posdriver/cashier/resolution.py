"""A person's decision on an operation the terminal could not settle.

Recovery (:mod:`.recovery`) asks the terminal first and never guesses; what the
terminal's last transaction does not settle waits IN_DOUBT or NEEDS_REVIEW for a person,
who checks (with the acquirer, on the terminal's own printout) and decides. The
decision is journaled like any outcome: who, why, and in the same commit the receipt an
approval was missing and the incident, so the fault record and the journal never
disagree about what happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..card import check_last4
from ..errors import PosdriverError
from ..journal import Incident, Operation, State

if TYPE_CHECKING:
    from .cashier import Cashier

RESOLVABLE = (State.IN_DOUBT, State.NEEDS_REVIEW)  # what a person may settle by hand


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


def resolve(
    cashier: Cashier,
    op: Operation,
    new: State,
    *,
    note: str,
    by: str | None = None,
    receipt_no: int | None = None,
    last4: str | None = None,
) -> Resolution:
    """Settle ``op`` as ``new`` on a person's word (see :meth:`.Cashier.resolve`)."""
    check_resolvable(op)
    if new not in (State.APPROVED, State.DECLINED):
        raise ValueError(f"a decision is approved or declined, not {new.value}")
    if not note.strip():
        raise ValueError("a decision needs a note saying why (what was checked, with whom)")
    if last4 is not None:
        check_last4(last4)
    who = by or cashier.actor
    journal = cashier.journal
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
            jobs = cashier.store_receipts(moved, (), source="built")
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
