"""What the daemon knows right now, as plain values: the one thing metrics, the API and
``posdriver check`` read. Workers write their part; a reader copies it under a lock and
never touches hardware (a scrape or an API call must not wait on a serial line)."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..journal.watch import JournalCheck

# lifecycle of a device worker (published as a state set: one series per state); "error"
# is a link that cannot open for a reason waiting will not mend (permission, wrong path),
# "stopped" a device the daemon closed because it is stopping
LIFECYCLE = (
    "starting",
    "connecting",
    "ready",
    "busy",
    "degraded",
    "reconnecting",
    "error",
    "stopped",
)
CHECK_STATUSES = ("ok", "warning", "critical", "unknown")
PAPER_STATES = ("ok", "near_end", "out", "unknown")
COVER_STATES = ("closed", "open", "unknown")
ACQUIRER_STATES = ("reachable", "unreachable", "unknown")
CIRCUIT_STATES = ("closed", "open", "half_open")
PRINTER_ERRORS = ("offline", "mechanical", "autocutter", "unrecoverable", "auto_recoverable")
# checks by device kind
PRINTER_CHECKS = ("link", "paper", "cover", "errors")
TERMINAL_CHECKS = ("link", "connectivity", "terminal_state")
OPERATION_KINDS = ("sale", "refund", "reversal", "pre_auth", "booking")
OUTCOMES = ("approved", "declined", "aborted", "in_doubt")
NAGIOS = {"ok": 0, "warning": 1, "critical": 2, "unknown": 3}
# A status dated after "now" by more than this is from before the wall clock was set back
# (NTP, a person, a dead RTC battery at boot): its age is not known, so it is stale. The
# slack covers a reader that took "now" just before a worker stored a newer status.
CLOCK_STEP_SLACK = 1.0


def _age_known(age: float, limit: float) -> bool:
    """An age within ``limit``, and not one the wall clock made negative."""
    return -CLOCK_STEP_SLACK <= age <= limit


@dataclass(frozen=True)
class CheckResult:
    """One health check's latest result. ``status`` is ok / warning / critical / unknown;
    unknown is never ok: a check that could not run fails."""

    device: str
    check: str
    status: str
    text: str
    duration: float  # seconds the check took
    at: float  # unix time it finished
    attempts: int = 1
    # unix time the check has had this status since (set when recorded: the first result
    # with it); what a person asks first of a fault: since when
    since: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def as_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "check": self.check,
            "status": self.status,
            "text": self.text,
            "duration_seconds": round(self.duration, 4),
            "at": self.at,
            "attempts": self.attempts,
            "since": self.since if self.since is not None else self.at,
        }


@dataclass
class DeviceSnapshot:
    """One device as its worker last saw it. Values read from the device carry the time
    they were read (``status_at``); past the freshness limit they are reported unknown."""

    name: str
    kind: str  # printer | terminal
    url: str
    lifecycle: str = "starting"
    last_contact: float | None = None  # unix time of the last successful exchange
    status_at: float | None = None  # unix time the status values below were read
    freshness: float = 15.0  # seconds the status values stay valid
    # printers
    paper: str = "unknown"
    cover: str = "unknown"
    errors: dict[str, bool | None] = field(default_factory=dict)
    # terminals
    acquirer: str = "unknown"
    circuit: str = "closed"
    terminal_state: str | None = None  # the terminal's own status text
    # both
    info: dict[str, str] = field(default_factory=dict)  # model, firmware, serial
    checks: dict[str, CheckResult] = field(default_factory=dict)
    link_errors: int = 0
    reconnects: int = 0
    retries: dict[str, int] = field(default_factory=dict)  # by operation
    detail: str = ""  # why the lifecycle is what it is, in words
    # the checks this device has (its kind's, less what its protocol cannot do); a check
    # it does not have is not exported as "unknown" (that would alert for ever)
    expected_checks: tuple[str, ...] = ()
    # set on a copy current() already turned stale, so a second call changes nothing
    stale_view: bool = field(default=False, repr=False, compare=False)

    def fresh(self, now: float | None = None) -> bool:
        """The status is recent enough to show as it is. Never when the wall clock went
        back past it: a negative age would otherwise keep it "fresh" for as long as the
        clock moved back, an hour of last values shown as now."""
        now = time.time() if now is None else now
        return self.status_at is not None and _age_known(now - self.status_at, self.freshness)

    @property
    def up(self) -> bool:
        return self.up_at(time.time())

    def up_at(self, now: float) -> bool:
        """Connected, with a fresh status, and not just found silent: a terminal that
        stopped answering keeps its link open (the driver reopens it per command), so a
        critical ``link`` check is what says it is down."""
        link = self.checks.get("link")
        silent = link is not None and link.status == "critical" and self.check_fresh(link, now)
        return self.lifecycle in ("ready", "busy", "degraded") and self.fresh(now) and not silent

    def check_fresh(self, check: CheckResult, now: float) -> bool:
        """A check result holds while the device's status is fresh, or while the result
        itself is (allowing for how long it takes to run again): a check that just
        failed ("no answer") is news, not a stale value, and a slow check (connectivity)
        stays valid while the device keeps answering."""
        # a check that takes long (a silent terminal: 15 s per try over serial) is
        # followed by the next one no sooner than that: its result lasts that much longer
        return self.fresh(now) or _age_known(now - check.at, self.freshness + check.duration)

    def copy(self, **changes: Any) -> DeviceSnapshot:
        """A copy whose dicts are its own: the worker goes on changing the original's
        (a retry counted, a check stored) while a reader iterates the copy. Cheaper than
        dataclasses.replace, which matters at a hundred devices per scrape."""
        clone = copy.copy(self)
        clone.errors = dict(self.errors)
        clone.checks = dict(self.checks)
        clone.info = dict(self.info)
        clone.retries = dict(self.retries)
        for name, value in changes.items():
            setattr(clone, name, value)
        return clone

    def current(self, now: float | None = None) -> DeviceSnapshot:
        """A copy with stale values turned to unknown (never "ok from before"): what
        readers are given."""
        from dataclasses import replace

        now = time.time() if now is None else now
        if self.fresh(now) or self.stale_view:
            return self.copy()
        checks = {}
        for name, check in self.checks.items():
            if self.check_fresh(check, now):
                checks[name] = check
                continue
            age = (
                f"last run {now - check.at:.0f} s ago"
                if now >= check.at
                else "the clock was set back since it last ran"
            )
            checks[name] = replace(check, status="unknown", text=f"stale ({age}): {check.text}")
        return self.copy(
            paper="unknown",
            cover="unknown",
            errors={name: None for name in self.errors},
            acquirer="unknown",
            checks=checks,
            stale_view=True,
        )

    def as_dict(self, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        view = self.current(now)
        body: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "url": self.url,
            "lifecycle": self.lifecycle,
            "up": self.up_at(now),
            "detail": self.detail,
            "last_contact": self.last_contact,
            "status_age_seconds": None
            if self.status_at is None
            else round(now - self.status_at, 3),
            "stale": not self.fresh(now),
            "info": dict(self.info),
            "checks": {name: c.as_dict() for name, c in view.checks.items()},
        }
        if self.kind == "printer":
            body |= {"paper": view.paper, "cover": view.cover, "errors": view.errors}
        else:
            body |= {
                "acquirer": view.acquirer,
                "circuit": view.circuit,
                "terminal_state": view.terminal_state,
            }
        return body


@dataclass
class ServiceSnapshot:
    """The whole daemon: devices, plus what the journal says (refreshed by the daemon
    on a timer, not on a scrape)."""

    devices: list[DeviceSnapshot] = field(default_factory=list)
    operations: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, outcome)
    in_doubt: int = 0
    needs_review: int = 0
    print_jobs: dict[str, int] = field(default_factory=dict)  # queued / printing / failed
    journal_size_bytes: int = 0
    journal_last_commit: float | None = None  # unix time
    journal: JournalCheck | None = None  # can it take the next payment (None: not looked yet)
    started_at: float = field(default_factory=time.time)
    version: str = ""
