"""How a :class:`~.local.LocalDesk` reaches the devices its work needs, apart from the
journal: the CLI by itself opens them (a cashier with its own spooler, recovery with
every try, the spooler run here), the daemon has its workers do it (their terminals,
recovery under its lock, each printer's worker). The desk's steps are the same over
either; only these differ.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..cashier.cashier import Cashier
    from ..cashier.recovery import RecoveryReport
    from ..cashier.spooler import SpoolReport
    from ..journal import Operation, State
    from .local_plans import Run


class Devices(Protocol):
    """The devices of this process, as the desk's work uses them."""

    def cashier(self, actor: str) -> Cashier:
        """A cashier whose work is journaled as done by ``actor``."""

    def can_pay(self, terminal: str | None) -> None:
        """Refuse, before anything runs, a payment no terminal here could take (none is
        configured, or ``terminal`` names none)."""

    def recover_first(self, cashier: Cashier) -> RecoveryReport | None:
        """Before a payment: ask about what a crash left in flight, if anything was (one
        try per terminal: a guest is waiting); None when nothing was."""

    def prepare(self, terminal: str | None) -> RecoveryReport | None:
        """Before a payment: refuse one no terminal here could take (:meth:`can_pay`),
        then ask about what a crash left in flight (:meth:`recover_first`)."""

    def recover(self) -> RecoveryReport | None:
        """Resolve what is in doubt by asking the terminals now (None: recovery failed,
        and the log says why)."""

    def print_now(self, job_ids: Sequence[int]) -> SpoolReport | None:
        """Print these queued jobs before answering, if this process prints them itself
        (None: someone else prints them, or no printer is configured)."""

    def print_these(self, job_ids: Sequence[int], wait: float) -> SpoolReport | None:
        """Print exactly these queued jobs before answering, waiting up to ``wait`` for
        the printer, if this process prints them itself (None: someone else does)."""

    def printer_for(self, terminal: str | None) -> str:
        """The printer for the receipts of ``terminal``: its own, else the first one;
        refused when no printer is configured."""

    def run_print_jobs(self, printer: str | None, wait: float) -> SpoolReport:
        """Print what waits (on ``printer`` only, if named), waiting up to ``wait``
        seconds for a printer to become ready."""


class Starts(Protocol):
    """Where a money operation a request starts runs on beyond the request: the daemon's
    own threads (it joins them when it stops, so nothing in flight is cut off), its
    outcome counters, what each idempotency key it took asked (kept in memory: a key
    from before a restart is compared with the journal instead), and its refund plan
    runs, decided on one at a time."""

    default_currency: str

    @property
    def stopping(self) -> bool:
        """Whether the daemon is stopping (a plan's run ends between two refunds)."""

    def asked(self, key: str) -> dict[str, Any] | None:
        """What the request under ``key`` asked, if this process took it."""

    def remember(self, key: str, asks: dict[str, Any]) -> None:
        """Keep what the request under ``key`` asked (the newest few thousand)."""

    def deciding(self) -> AbstractContextManager[object]:
        """Held while deciding whether a refund plan is made or run: one at a time."""

    def begin(self, name: str, cashier: Cashier, work: Callable[[], None]) -> Run:
        """``work`` on a thread of its own named ``name``, hearing of the operations
        ``cashier`` journals (see :meth:`first`)."""

    def first(self, run: Run, what: str) -> Operation:
        """The first operation ``run`` journaled, as soon as it is. When the work ended
        without one, nothing reached a terminal, and the refusal says why (``what``
        names the work)."""

    def runs_plan(self, plan_id: int, run: Run) -> None:
        """``run`` carries out plan ``plan_id`` (asked whether it is alive until it ends)."""

    def count(self, kind: str, state: State) -> None:
        """Count how a money operation of ``kind`` ended."""
