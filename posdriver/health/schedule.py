"""When each check of one device is due (:class:`CheckSchedule`), and when a result is
worth an incident and a log line (:func:`transition`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..service.snapshot import CheckResult
from .check import HealthCheck, Interval


class CheckSchedule:
    """When each check of one device is due. Owned by that device's worker (no lock).

    Printer checks all come from one status read, so they share the poll interval; a
    terminal's ``terminal_state`` comes with its ``link`` enquiry. ``failing`` intervals
    apply after a check that was not ok.
    """

    def __init__(
        self, intervals: Mapping[str, float], *, failing: Mapping[str, float] | None = None
    ) -> None:
        for name, value in {**intervals, **(failing or {})}.items():
            if not value > 0:
                raise ValueError(f"interval of check {name!r} must be positive, got {value!r}")
        self.intervals = dict(intervals)
        self.failing = dict(failing or {})
        self._next: dict[str, float] = {}  # check -> monotonic-ish time it is due

    @classmethod
    def for_terminal(cls, *, poll: float, connectivity: float, retry: float) -> CheckSchedule:
        """A terminal's: ``status`` (one enquiry gives ``link`` and ``terminal_state``)
        every ``poll``; ``connectivity`` (a diagnosis) every ``connectivity``, and every
        ``retry`` while it fails, so a recovered acquirer is seen soon."""
        return cls(
            {"status": poll, "connectivity": connectivity},
            failing={"connectivity": min(connectivity, retry)},
        )

    @classmethod
    def for_checks(
        cls, checks: Sequence[HealthCheck], *, poll: float, connectivity: float, retry: float
    ) -> CheckSchedule:
        """The schedule of a device's registered checks: each at its interval kind's
        interval (poll, or the connectivity interval and ``retry`` while it fails). For
        a terminal with status and connectivity it is :meth:`for_terminal`'s; a check the
        device cannot have is not in it, so it is never due."""
        every = {Interval.POLL: poll, Interval.CONNECTIVITY: connectivity}
        failing = {Interval.CONNECTIVITY: min(connectivity, retry)}
        return cls(
            {c.name: every[c.interval] for c in checks},
            failing={c.name: failing[c.interval] for c in checks if c.interval in failing},
        )

    def _interval(self, check: str) -> float:
        try:
            return self.intervals[check]
        except KeyError:
            known = ", ".join(sorted(self.intervals))
            raise KeyError(f"no check {check!r} in this schedule (known: {known})") from None

    def due(self, check: str, now: float) -> bool:
        """True when ``check`` never ran, or its interval has passed."""
        self._interval(check)
        due_at = self._next.get(check)
        return due_at is None or now >= due_at

    def ran(self, check: str, now: float, *, ok: bool = True) -> None:
        """``check`` ran at ``now``; a failed one (``ok`` False) comes back sooner."""
        interval = self._interval(check)
        if not ok:
            interval = self.failing.get(check, interval)
        self._next[check] = now + interval

    def expedite(self, check: str) -> None:
        """Make ``check`` due now (e.g. a payment just said "acquirer unreachable")."""
        self._interval(check)
        self._next.pop(check, None)

    def adopt(self, previous: CheckSchedule, now: float) -> None:
        """Take over what ``previous`` had planned (after a reload), but no check waits
        longer than one of this schedule's intervals from ``now``."""
        for check, due_at in previous._next.items():
            if check in self.intervals:
                self._next[check] = min(due_at, now + self.intervals[check])

    def next_due(self, now: float) -> float:
        """Seconds until the earliest check is due (0 when one is due now)."""
        waits = [max(0.0, self._next[c] - now) if c in self._next else 0.0 for c in self.intervals]
        return min(waits, default=0.0)


def transition(old: CheckResult | None, new: CheckResult) -> bool:
    """True when the check's status changed, which is when the daemon writes an incident
    and a log line. A first result is a change unless it is ok: a healthy start is no
    incident, a device that starts broken or unreadable is."""
    if old is None:
        return new.status != "ok"
    return old.status != new.status
