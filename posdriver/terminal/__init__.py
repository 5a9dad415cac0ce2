"""Payment terminals: a protocol-neutral interface (:mod:`.base`), outcome values
(:mod:`.outcomes`) and the protocols behind them (:mod:`.zvt`).

Importing this package stays cheap: the ZVT driver is loaded on first use of
:class:`ZvtTerminal` / :class:`ZvtTimeouts`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from .zvt.terminal import ZvtTerminal, ZvtTimeouts

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
    "ZvtTerminal",
    "ZvtTimeouts",
]


def __getattr__(name: str) -> Any:
    if name in ("ZvtTerminal", "ZvtTimeouts"):
        from .zvt import terminal

        return getattr(terminal, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
