"""Payment terminals: a protocol-neutral interface (:mod:`.base`), outcome values
(:mod:`.outcomes`), what a protocol brings besides its driver (:mod:`.protocol`) and the
protocols themselves, by name (:mod:`.registry`).

Importing this package stays cheap: a protocol's package is loaded on first use, through
the registry. Nothing here names one.
"""

from __future__ import annotations

from .base import PaymentTerminal, Progress
from .outcomes import (
    Aborted,
    Approved,
    CardInfo,
    Connectivity,
    DayTotals,
    Declined,
    InDoubt,
    LastTransaction,
    Outcome,
    Registered,
    TerminalBusy,
    TerminalError,
    TerminalLost,
    TerminalNotReached,
    TerminalRefused,
    TerminalState,
)

__all__ = [
    "Aborted",
    "Approved",
    "CardInfo",
    "Connectivity",
    "DayTotals",
    "Declined",
    "InDoubt",
    "LastTransaction",
    "Outcome",
    "PaymentTerminal",
    "Progress",
    "Registered",
    "TerminalBusy",
    "TerminalError",
    "TerminalLost",
    "TerminalNotReached",
    "TerminalRefused",
    "TerminalState",
]
