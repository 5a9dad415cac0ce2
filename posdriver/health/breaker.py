"""The acquirer circuit breaker: fails payments fast while a terminal cannot reach its
acquirer, fed by connectivity checks and by payments."""

from __future__ import annotations

import threading
import time

from ..terminal.outcomes import Aborted, Approved, Outcome
from .check import Clock


class CircuitBreaker:
    """Fails payments fast while a terminal cannot reach its acquirer.

    ``closed``: payments go ahead. ``failures`` consecutive failures (connectivity checks
    that say unreachable, payments aborted as "acquirer unreachable") open it: ``allow``
    says no, with a reason the desk can act on. After ``reset_after`` seconds without a
    new failure it is ``half_open``: one payment (or check) may try; a success closes it,
    a failure opens it again. A granted trial that records nothing within ``reset_after``
    lets the next caller try. Thread-safe; ``clock`` is injectable (unix seconds).
    """

    def __init__(
        self,
        device: str,
        *,
        failures: int = 2,
        reset_after: float = 60.0,
        clock: Clock = time.time,
    ) -> None:
        if failures < 1:
            raise ValueError(f"failures must be at least 1, got {failures!r}")
        if reset_after <= 0:
            raise ValueError(f"reset_after must be positive, got {reset_after!r}")
        self.device = device
        self.failures = failures
        self.reset_after = reset_after
        self.clock = clock
        self._lock = threading.Lock()
        self._open = False
        self._streak: list[str] = []  # sources of the consecutive failures
        self._since: float | None = None  # first failure of the streak
        self._opened_at = 0.0  # last failure while open
        self._trial_at: float | None = None

    def _state(self, now: float) -> str:
        if not self._open:
            return "closed"
        return "open" if now - self._opened_at < self.reset_after else "half_open"

    @property
    def state(self) -> str:
        """closed / open / half_open (a CIRCUIT_STATES name)."""
        with self._lock:
            return self._state(self.clock())

    @property
    def since(self) -> float | None:
        """Unix time of the first failure of the current streak."""
        with self._lock:
            return self._since

    def record(self, reachable: bool, *, source: str = "check") -> None:
        """One piece of evidence: ``source`` is "check" or "payment"."""
        with self._lock:
            now = self.clock()
            self._trial_at = None
            if reachable:
                self._open = False
                self._streak.clear()
                self._since = None
                return
            if not self._streak:
                self._since = now
            self._streak.append(source)
            if self._open or len(self._streak) >= self.failures:
                self._open = True
                self._opened_at = now

    def record_outcome(self, outcome: Outcome) -> None:
        """Evidence from a payment: aborted as acquirer unreachable is a failure, an
        approval a success; other outcomes prove nothing and only end a trial."""
        if isinstance(outcome, Aborted) and outcome.host_unreachable:
            self.record(False, source="payment")
        elif isinstance(outcome, Approved):
            self.record(True, source="payment")
        else:
            with self._lock:
                self._trial_at = None

    def allow(self) -> tuple[bool, str]:
        """(may a payment go to this terminal now, why)."""
        with self._lock:
            now = self.clock()
            state = self._state(now)
            if state == "closed":
                return True, f"terminal {self.device}: acquirer not known to be unreachable"
            if state == "half_open":
                if self._trial_at is None or now - self._trial_at >= self.reset_after:
                    self._trial_at = now
                    return True, (
                        f"terminal {self.device}: trial after {self._why()}; this one tests "
                        "whether the acquirer is back"
                    )
                return False, f"{self._reason()}; a trial is already under way"
            wait = max(0.0, self.reset_after - (now - self._opened_at))
            return False, f"{self._reason()} (next try in {wait:.0f} s)"

    def _streak_text(self) -> str:
        checks = self._streak.count("check")
        payments = len(self._streak) - checks
        parts = [
            f"{n} failed {word}{'' if n == 1 else 's'}"
            for n, word in ((checks, "check"), (payments, "payment"))
            if n
        ]
        since = time.strftime("%H:%M", time.localtime(self._since or 0))
        return f"since {since} ({' and '.join(parts)})"

    def _why(self) -> str:
        return f"no acquirer {self._streak_text()}"

    def _reason(self) -> str:
        return (
            f"terminal {self.device} cannot reach its acquirer {self._streak_text()}; "
            "payments would fail: use the standby or wait"
        )
