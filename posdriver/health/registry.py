"""Every health check posdriver runs, in one table.

The device workers and the direct ``posdriver check`` both run "every check registered
for this device's kind that the device supports" (:func:`checks_for`), in table order,
which is the order their results are shown. Adding a check: write its function and its
:class:`~.check.HealthCheck` declaration (in a module of this package), and add it to
:data:`REGISTRY`.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..service.snapshot import PRINTER_CHECKS, TERMINAL_CHECKS, CheckResult
from ..terminal.protocol import Capability
from . import printer, terminal
from .check import HealthCheck, Probe

REGISTRY: tuple[HealthCheck, ...] = (
    printer.STATUS,
    terminal.STATUS,
    terminal.CONNECTIVITY,
)

# The order the snapshot and /metrics have always listed each kind's checks in; checks
# registered since follow in table order.
_SHOWN_ORDER = {"printer": PRINTER_CHECKS, "terminal": TERMINAL_CHECKS}


def checks_for(
    kind: str, capabilities: frozenset[Capability] = frozenset()
) -> tuple[HealthCheck, ...]:
    """The registered checks a device of ``kind`` with ``capabilities`` (its protocol's;
    printers have none) can have."""
    return tuple(c for c in REGISTRY if c.supported_by(kind, capabilities))


def expected_checks(kind: str, checks: Sequence[HealthCheck]) -> tuple[str, ...]:
    """The check names a device with ``checks`` shows (and exports as unknown until
    they ran)."""
    given = [name for check in checks for name in check.gives]
    known = [name for name in _SHOWN_ORDER.get(kind, ()) if name in given]
    return (*known, *(name for name in dict.fromkeys(given) if name not in known))


def run_once(checks: Sequence[HealthCheck], driver: object, probe: Probe) -> list[CheckResult]:
    """Each check once on an open driver (``posdriver check`` without a daemon): their
    results in order; a check whose link failed shows what it found (critical)."""
    return [r for check in checks for r in check.run(driver, probe).results]
