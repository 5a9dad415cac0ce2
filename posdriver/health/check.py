"""What a health check is, declared: a :class:`HealthCheck` says which devices it is for,
what it needs of them, how often it runs, and how it turns an open driver into
:class:`~posdriver.service.snapshot.CheckResult` values (a :class:`Reading`).

The workers and the direct ``posdriver check`` know checks only through these
declarations (:mod:`.registry` lists them), so a new check is a function and one
declaration, with no worker or command to change.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from ..service.snapshot import CHECK_STATUSES, CheckResult

if TYPE_CHECKING:
    from ..terminal.protocol import Capability
    from .breaker import CircuitBreaker

Clock = Callable[[], float]
DEFAULT_ATTEMPTS = 3


class Interval(Enum):
    """Which configured interval schedules a check.

    ``POLL``: the device's status poll (``poll_interval``; a printer's checks all run at
    its poll), planned from when the check began, for a steady cadence. ``CONNECTIVITY``:
    the slow acquirer interval (``connectivity_interval``, and ``connectivity_retry_interval``
    while it fails), planned from when the check ended (a diagnosis takes seconds), first
    run a few seconds after connecting rather than at once (it dials out), and only run
    by ``posdriver check`` on the daemon when asked (some acquirers charge per call)."""

    POLL = "poll"
    CONNECTIVITY = "connectivity"


@dataclass(frozen=True)
class Probe:
    """What a check gets besides the driver: whose device it is, how many tries a
    read-only enquiry may take, and the breaker to tell (None outside the daemon)."""

    device: str
    attempts: int = DEFAULT_ATTEMPTS
    breaker: CircuitBreaker | None = None
    clock: Clock = time.time


@dataclass(frozen=True)
class Reading:
    """What one run of a check found.

    ``results``: its checks, in the order they are shown. ``facts``: the snapshot fields
    it learnt on the way (paper, cover, errors; terminal_state, info; acquirer), set as
    they are. ``ready``: whether the device can do its work now, when the check can
    tell (a printer's status), so that waiting work can be woken. ``failed``: the link
    died under the check: a one-off check shows ``results``, a worker reconnects
    instead of recording them. ``stopped``: the device stopped answering: a worker
    records ``results`` and then reconnects.
    """

    results: list[CheckResult]
    facts: Mapping[str, Any] = field(default_factory=dict)
    ready: bool | None = None
    failed: Exception | None = None
    stopped: str | None = None

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def retries(self) -> int:
        """Tries beyond the first that the check needed."""
        return max((r.attempts for r in self.results), default=1) - 1


@dataclass(frozen=True)
class HealthCheck:
    """One registered check.

    ``name``: its name in the schedule (one run may give several checks: a printer's
    one status read gives ``link``, ``paper``, ``cover`` and ``errors``); ``gives``:
    the check names of its results; ``kind``: the device kind it is for (printer,
    terminal); ``needs``: the protocol capability it takes (None: any device of the
    kind); ``interval``: what schedules it; ``run``: the check itself, on the worker's
    thread with the driver already open (it never opens or closes a link); ``retries_as``:
    the operation label its retries are counted under (posdriver_retries_total), or ""
    when it does not retry.
    """

    name: str
    kind: str
    gives: tuple[str, ...]
    run: Callable[[Any, Probe], Reading]
    interval: Interval = Interval.POLL
    needs: Capability | None = None
    retries_as: str = ""

    def supported_by(self, kind: str, capabilities: frozenset[Capability]) -> bool:
        """Whether a device of ``kind`` with ``capabilities`` can have this check."""
        return kind == self.kind and (self.needs is None or self.needs in capabilities)


def make_result(
    device: str, check: str, status: str, text: str, started: float, clock: Clock, attempts: int
) -> CheckResult:
    """A check's result, its duration measured from ``started`` (monotonic)."""
    assert status in CHECK_STATUSES, status
    return CheckResult(
        device=device,
        check=check,
        status=status,
        text=text,
        duration=time.monotonic() - started,
        at=clock(),
        attempts=attempts,
    )


def unknown_result(device: str, check: str, text: str, *, clock: Clock = time.time) -> CheckResult:
    """A check that could not run at all: unknown, which fails like critical."""
    return CheckResult(
        device=device, check=check, status="unknown", text=text, duration=0.0, at=clock()
    )
