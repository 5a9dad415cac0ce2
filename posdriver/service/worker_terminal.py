"""A payment terminal seen through its device worker, as the cashier uses it in the
daemon: every call runs on the worker's thread, in the worker's queue (money first,
health checks behind), so a status poll never interleaves with a payment on one wire.

Typed, method by method, rather than a proxy: what the cashier may ask of a worker's
terminal is the :class:`~posdriver.terminal.base.PaymentTerminal` interface, checked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Self, TypeVar

from ..terminal import registry
from ..terminal.base import Accepted, PaymentTerminal, Progress
from ..terminal.outcomes import (
    Aborted,
    Approved,
    Connectivity,
    DayTotals,
    LastTransaction,
    Outcome,
    Registered,
    TerminalState,
)
from .workers import HEALTH, MONEY

if TYPE_CHECKING:
    from ..money import Money
    from ..terminal.protocol import Capability
    from .workers import TerminalWorker

T = TypeVar("T")


class WorkerTerminal(PaymentTerminal):
    """``on_start`` runs on the worker just before the first call reaches the driver:
    the cashier journals there which terminal the operation went to, so an operation
    still queued behind another one when the daemon dies has no terminal recorded, and
    recovery knows it never reached one. ``abort`` goes straight to the driver (it must
    reach a running operation). Opening and closing are the worker's: it owns the link."""

    def __init__(self, worker: TerminalWorker, on_start: Callable[[], None] | None = None) -> None:
        self.worker = worker
        self._on_start = on_start
        self.protocol = worker.cfg.protocol

    @property
    def capabilities(self) -> frozenset[Capability]:  # type: ignore[override]
        return registry.get(self.worker.cfg.protocol).capabilities

    def open(self) -> Self:
        return self

    def close(self) -> None:
        return None

    def _run(self, priority: int, name: str, call: Callable[[PaymentTerminal], T]) -> T:
        def on_worker(driver: PaymentTerminal) -> T:
            start, self._on_start = self._on_start, None
            if start is not None:
                start()
            return call(driver)

        result: T = self.worker.call(priority, on_worker, name)
        return result

    def _money(self, name: str, call: Callable[[PaymentTerminal], Outcome]) -> Outcome:
        outcome = self._run(MONEY, name, call)
        if isinstance(outcome, Approved | Aborted):
            # a payment that got through, or one the acquirer's absence stopped, tells
            # the breaker as much as a diagnosis does
            self.worker.breaker.record_outcome(outcome)
            if isinstance(outcome, Approved):
                self.worker.acquirer_news(reachable=True)
            elif outcome.host_unreachable:
                self.worker.acquirer_news(reachable=False)
        return outcome

    # -- money -------------------------------------------------------------------------
    def sale(
        self,
        amount: Money,
        *,
        progress: Progress | None = None,
        on_accepted: Accepted | None = None,
    ) -> Outcome:
        return self._money(
            "sale", lambda t: t.sale(amount, progress=progress, on_accepted=on_accepted)
        )

    def refund(
        self,
        amount: Money,
        *,
        progress: Progress | None = None,
        on_accepted: Accepted | None = None,
    ) -> Outcome:
        return self._money(
            "refund", lambda t: t.refund(amount, progress=progress, on_accepted=on_accepted)
        )

    def reverse(
        self,
        reference: str,
        *,
        progress: Progress | None = None,
        on_accepted: Accepted | None = None,
    ) -> Outcome:
        return self._money(
            "reverse", lambda t: t.reverse(reference, progress=progress, on_accepted=on_accepted)
        )

    def pre_authorise(
        self,
        amount: Money,
        *,
        progress: Progress | None = None,
        on_accepted: Accepted | None = None,
    ) -> Outcome:
        return self._money(
            "pre_authorise",
            lambda t: t.pre_authorise(amount, progress=progress, on_accepted=on_accepted),
        )

    def book(self, reference: str, amount: Money, **kwargs: Any) -> Outcome:
        return self._money("book", lambda t: t.book(reference, amount, **kwargs))

    def book_total(self, reference: str, amount: Money, **kwargs: Any) -> Outcome:
        return self._money("book_total", lambda t: t.book_total(reference, amount, **kwargs))

    def reverse_pre_auth(
        self, reference: str, amount: Money | None = None, **kwargs: Any
    ) -> Outcome:
        return self._money(
            "reverse_pre_auth", lambda t: t.reverse_pre_auth(reference, amount, **kwargs)
        )

    def open_pre_auths(self) -> tuple[str, ...]:
        return self._run(MONEY, "open_pre_auths", lambda t: t.open_pre_auths())

    def abort(self) -> bool:
        driver = self.worker.driver
        return bool(driver.abort()) if driver is not None else False

    # -- session and administration (behind any payment) -------------------------------
    def register(self) -> Registered:
        return self._run(MONEY, "register", lambda t: t.register())

    def log_off(self) -> None:
        self._run(MONEY, "log_off", lambda t: t.log_off())

    def end_of_day(self, *, progress: Progress | None = None) -> DayTotals:
        return self._run(MONEY, "end_of_day", lambda t: t.end_of_day(progress=progress))

    def last_transaction(self) -> LastTransaction | None:
        return self._run(MONEY, "last_transaction", lambda t: t.last_transaction())

    def initialise(self) -> None:
        self._run(MONEY, "initialise", lambda t: t.initialise())

    def status(self) -> TerminalState:
        return self._run(HEALTH, "status", lambda t: t.status())

    def diagnosis(self) -> Connectivity:
        return self._run(HEALTH, "diagnosis", lambda t: t.diagnosis())
