"""The desk's work as one interface, whoever does it: :class:`~.local.LocalDesk` over a
journal (the CLI by itself, and the daemon answering its API), or
:class:`~.remote.RemoteDesk` through the running daemon's API (the CLI beside it).

Every method takes and gives typed values (the journal's records, :mod:`.models`) and
fails with one of :mod:`.errors`, so a command or an endpoint is written once over it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from ..journal import Incident, Kind, Operation, PrintJob
from ..journal.journal import Filters
from .models import (
    WAITING_JOBS,
    Decision,
    Guard,
    IncidentNote,
    Order,
    Paid,
    Payment,
    Pending,
    PlanMade,
    PlanRun,
    PlanStarted,
    PlanView,
    Reprinted,
    Resolved,
    Settled,
    Started,
    Transaction,
)

Operator = str | Callable[[], str]

if TYPE_CHECKING:
    from ..cashier.recovery import RecoveryReport
    from ..cashier.spooler import SpoolReport
    from ..money import Money


class Desk(Protocol):
    """The journal's side of the desk: finding and showing transactions, what needs a
    person, recovery and a person's decisions, the fault record, the print queue and
    split refund plans. ``through_daemon`` says whether the running daemon does the work
    (the CLI says so where it would have opened a device)."""

    through_daemon: bool

    def transactions(self, filters: Filters) -> list[Operation]:
        """Transactions matching ``filters``, newest first (``posdriver txn list``)."""

    def find(self, ref: str, *, last_kinds: Sequence[Kind] = ()) -> Operation:
        """The operation ``ref`` names (``id:N``, ``receipt:N``, ``last``...); ``last``
        with ``last_kinds`` is the newest of those kinds."""

    def transaction(self, ref: str) -> Transaction:
        """One transaction with its history, receipts, print jobs, links and plans."""

    def settled(self, op_id: int, wait: float = 0.0) -> Settled:
        """Operation ``op_id``, after waiting up to ``wait`` seconds for it to end
        (final, or needing a person); at once when it has already."""

    def pending(self) -> Pending:
        """What needs a person now (``posdriver pending``)."""

    def pay(self, payment: Payment) -> Paid:
        """Carry out a money operation to its end: journaled first, sent to a terminal,
        its receipt stored and printed (or queued, and said so)."""

    def start(self, order: Order) -> Started:
        """Start a money operation of any kind and answer once it is journaled (its
        PENDING written; the terminal is asked after): the operation to follow with
        :meth:`settled`, or the one an idempotency key used before stands for
        (``repeated``). Every refusal comes first, with nothing journaled."""

    def prepare(self, terminal: str | None) -> RecoveryReport | None:
        """Ready this desk's terminals for a payment (refusing one none could take) and
        settle what a crash left in flight; what recovery did, if it ran."""

    def refund_guard(self, sale_id: int, amount: Money | None, terminal: str | None) -> Guard:
        """What the refund guard says of refunding ``amount`` (all that is left, by
        default) of sale ``sale_id``."""

    def create_plan(self, sale_id: int, guard: Guard, terminal: str | None, operator: str) -> int:
        """Journal the split plan ``guard`` offered; its id."""

    def make_plan(
        self, sale_id: int, amount: Money | None, terminal: str | None, operator: str
    ) -> PlanMade:
        """Ask the guard about refunding ``amount`` of sale ``sale_id`` and journal the
        split plan it offers: refused when the refund can go as one, when no plan would
        do, or while the sale has an open plan with parts left."""

    def start_plan(
        self, plan_id: int, terminal: str | None, operator: str, key: str | None = None
    ) -> PlanStarted:
        """Start carrying out what is left of a plan, answered once its first refund is
        journaled; the same ``key`` again is the run it started (``repeated``)."""

    def run_plan(self, plan_id: int, terminal: str | None, operator: str) -> PlanRun:
        """Carry out what is left of a plan, part after part, to its end."""

    def cancel_plan(self, plan_id: int, reason: str, operator: str) -> tuple[Money, ...]:
        """Give up what is left of a plan (journaled with ``reason``); what was not
        refunded."""

    def recover(self) -> RecoveryReport:
        """Resolve operations in doubt by asking the terminals, now."""

    def resolve(self, op_id: int, decision: Decision) -> Resolved:
        """Record a person's decision on an operation in doubt or needing review."""

    def incidents(self, since: datetime | None = None, limit: int | None = None) -> list[Incident]:
        """The fault record from ``since``, oldest first; the newest ``limit`` of it."""

    def add_incident(self, note: IncidentNote) -> Incident:
        """Write a staff note into the fault record."""

    def print_jobs(self, states: Sequence[str] = WAITING_JOBS, limit: int = 100) -> list[PrintJob]:
        """Print jobs in ``states``, newest first."""

    def print_job(self, job_id: int) -> PrintJob:
        """One print job."""

    def cancel_print_job(self, job_id: int, operator: str) -> PrintJob:
        """Drop a job that has not printed from the queue."""

    def print_now(
        self, op_id: int, job_ids: Sequence[int], wait: float, *, alone: bool = False
    ) -> SpoolReport | None:
        """The print jobs ``job_ids`` of operation ``op_id`` printed, or given up to
        ``wait`` seconds to print; what printed and what still waits (None: nothing is
        printed here, or no printer is configured). Unless ``alone``, a printer that
        works again prints what waited on it before too (and the report says so)."""

    def reprint(
        self, op_id: int, copy: str, operator: Operator, printer: str | None = None
    ) -> Reprinted:
        """Queue a copy of a stored receipt, marked as a duplicate (or the original, while
        it has not printed yet); ``operator`` is who asks, or how to learn it when a copy
        is queued (an API request's field, read only then)."""

    def run_print_jobs(self, printer: str | None, wait: float) -> SpoolReport:
        """Print what waits now (on ``printer`` only, if named), waiting up to ``wait``
        seconds for what a printer cannot take at once."""

    def refund_plan(self, plan_id: int, wait: float = 0.0) -> PlanView:
        """A split refund plan, after waiting up to ``wait`` seconds for a run of it to
        end."""
