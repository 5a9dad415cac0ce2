"""The terminal's worker (:class:`TerminalWorker`: status enquiries, diagnoses and the
acquirer circuit breaker), and the payment terminal seen through it
(:class:`WorkerTerminal`), as the cashier uses it in the daemon: every call runs on the
worker's thread, in the worker's queue (money first, health checks behind), so a status
poll never interleaves with a payment on one wire.

Typed, method by method, rather than a proxy: what the cashier may ask of a worker's
terminal is the :class:`~posdriver.terminal.base.PaymentTerminal` interface, checked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Self, TypeVar

from ..config import ServiceConfig, TerminalConfig
from ..health.breaker import CircuitBreaker
from ..health.check import HealthCheck, Interval, Probe, Reading
from ..health.registry import checks_for, expected_checks
from ..health.schedule import CheckSchedule
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
from .worker_base import HEALTH, MONEY, DeviceWorker

if TYPE_CHECKING:
    from ..money import Money
    from ..terminal.protocol import Capability

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
            try:
                return call(driver)
            finally:
                with self.worker.lock:
                    self.worker.count_link(driver)

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


class TerminalWorker(DeviceWorker):
    """A payment terminal: status enquiry on a slow timer, diagnosis on a slower one (and
    sooner again after it failed, or after a payment said the acquirer was unreachable),
    and a circuit breaker fed by both. Its checks are the registry's for its protocol's
    capabilities (no diagnosis, no connectivity check), each on its interval kind's
    schedule."""

    kind = "terminal"
    FIRST_DIAGNOSIS = 5.0  # seconds after connecting: not at once, it dials the acquirer

    def __init__(
        self,
        cfg: TerminalConfig,
        service: ServiceConfig,
        factory: Callable[[TerminalConfig], Any],
        **kwargs: Any,
    ) -> None:
        super().__init__(cfg.name, cfg.url, service, **kwargs)
        self.cfg = cfg
        self.factory = factory
        self.breaker = CircuitBreaker(device=cfg.name)
        # no diagnosis: no connectivity check; the acquirer is learnt from payments only
        self.health_checks = checks_for(self.kind, registry.get(cfg.protocol).capabilities)
        self.snapshot.expected_checks = expected_checks(self.kind, self.health_checks)
        self.expect_retries(*(check.retries_as for check in self.health_checks))
        self.schedule = self._schedule()
        self._expedited = threading.Event()  # set from other threads; read by this one
        self._link_seen = (0, 0)  # the driver's link_counts() when last looked at
        self._set_freshness()

    def _schedule(self) -> CheckSchedule:
        every, retry = self.service.connectivity(self.cfg)
        poll = self.service.terminal_poll(self.cfg)
        return CheckSchedule.for_checks(
            self.health_checks, poll=poll, connectivity=every, retry=retry
        )

    def _set_freshness(self) -> None:
        # a terminal is asked less often than a printer (each enquiry can show on its
        # display): its status stays valid for two of its polls
        with self.lock:
            self.snapshot.freshness = self.service.freshness_of(
                self.service.terminal_poll(self.cfg)
            )

    def reconfigure(self, cfg: TerminalConfig, service: ServiceConfig) -> None:
        # the schedule is swapped whole, so the worker's thread never sees half of it
        super().reconfigure(cfg, service)
        self.cfg = cfg
        fresh = self._schedule()
        fresh.adopt(self.schedule, time.monotonic())
        self.schedule = fresh
        self._set_freshness()

    def acquirer_news(self, reachable: bool) -> None:
        """A payment just told something about the acquirer: when it disagrees with the
        connectivity check, the check runs again at the next quiet moment, so the check,
        /metrics and the breaker agree within seconds instead of an interval."""
        with self.lock:
            current = self.snapshot.checks.get("connectivity")
        if current is None or current.ok != reachable:
            self._expedited.set()

    def open(self) -> Any:
        terminal = self.factory(self.cfg)
        terminal.open()
        self._link_seen = (0, 0)
        return terminal

    def count_link(self, driver: PaymentTerminal) -> None:
        """The driver reopens its own link after a loss (the worker's loop never sees
        one: ``is_link_failure`` is False), so what it counted since the last look goes
        into the device's link errors and reconnects here (under ``self.lock``)."""
        failures, reopens = driver.link_counts()
        seen_failures, seen_reopens = self._link_seen
        self.snapshot.link_errors += max(0, failures - seen_failures)
        self.snapshot.reconnects += max(0, reopens - seen_reopens)
        self._link_seen = (failures, reopens)

    def close(self, driver: Any) -> None:
        driver.close()

    def probe(self) -> Probe:
        return Probe(self.device, attempts=self.service.attempts(self.cfg), breaker=self.breaker)

    def after_connect(self) -> None:
        now = time.monotonic()
        for check in self.health_checks:
            if check.interval is Interval.POLL:
                self.schedule.expedite(check.name)
            else:
                every = self.schedule.intervals[check.name]
                self.schedule.ran(check.name, now - every + self.FIRST_DIAGNOSIS)
        for check in self.health_checks:  # the first look, before the worker says ready
            if check.interval is Interval.POLL:
                self._run(check, now)

    def idle_wait(self) -> float:
        if self._expedited.is_set():
            return 0.0
        return max(0.0, min(0.5, self.schedule.next_due(time.monotonic())))

    def idle(self) -> None:
        now = time.monotonic()
        if self._expedited.is_set():
            self._expedited.clear()
            for check in self.health_checks:
                if check.interval is Interval.CONNECTIVITY:
                    self.schedule.expedite(check.name)
        for check in self.health_checks:
            if check.interval is not Interval.POLL and self._halt.is_set():
                continue  # a stopping worker dials out no more
            if self.schedule.due(check.name, now):
                self._run(check, now)

    def look(self, connectivity: bool) -> None:
        now = time.monotonic()
        for check in self.health_checks:
            if check.interval is Interval.POLL or connectivity:
                self._run(check, now)

    def _run(self, check: HealthCheck, now: float) -> None:
        """A check, and when it is due next: a poll from when it began (a steady
        cadence), a connectivity check from when it ended (a diagnosis takes seconds)."""
        if check.interval is Interval.POLL:
            self.schedule.ran(check.name, now)
            self.run_check(check)
            return
        reading = self.run_check(check)
        self.schedule.ran(check.name, time.monotonic(), ok=reading.ok)

    def note(self, reading: Reading) -> None:
        self.snapshot.circuit = self.breaker.state
        if self.driver is not None:
            self.count_link(self.driver)

    def is_link_failure(self, exc: BaseException) -> bool:
        return False  # the terminal driver reopens its own link; outcomes are values
