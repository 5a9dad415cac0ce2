"""Health checks, the acquirer circuit breaker and the check schedule, by the names the
service has always used. They live in :mod:`posdriver.health` (the checks declared in
one registry, :mod:`posdriver.health.registry`); this module names them for the daemon's
users and tests.
"""

from __future__ import annotations

from ..health.breaker import CircuitBreaker
from ..health.check import DEFAULT_ATTEMPTS, Clock, unknown_result
from ..health.printer import printer_checks, printer_facts, printer_status_checks
from ..health.schedule import CheckSchedule, transition
from ..health.terminal import (
    RETRYABLE,
    StatusEnquiry,
    acquirer_state,
    connectivity_check,
    terminal_checks,
    terminal_link_check,
    terminal_state_check,
)

__all__ = [
    "DEFAULT_ATTEMPTS",
    "RETRYABLE",
    "CheckSchedule",
    "CircuitBreaker",
    "Clock",
    "StatusEnquiry",
    "acquirer_state",
    "connectivity_check",
    "printer_checks",
    "printer_facts",
    "printer_status_checks",
    "terminal_checks",
    "terminal_link_check",
    "terminal_state_check",
    "transition",
    "unknown_result",
]
