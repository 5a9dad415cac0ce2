"""The front desk's work, written once: :class:`~.protocol.Desk` is what a desk does
(find and show transactions, what needs a person, the fault record, the print queue,
split refund plans, starting a money operation and waiting for it to end),
:class:`~.local.LocalDesk` does it over a journal in this process and
:class:`~.remote.RemoteDesk` through the running daemon's API. The CLI's commands are
written over a ``Desk`` and the API's handlers call the daemon's ``LocalDesk``; both
turn the desk's errors (:mod:`.errors`) into exit codes or HTTP statuses, each in one
table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    BadInput,
    Conflict,
    DeskError,
    Failed,
    NoStoredReceipt,
    NotAllowed,
    NotFound,
    NotOffered,
    Refused,
    Unreachable,
)
from .models import (
    Decision,
    IncidentNote,
    InFlight,
    Order,
    Paid,
    Payment,
    Pending,
    PlanView,
    Resolved,
    Settled,
    Started,
    Transaction,
)
from .protocol import Desk

if TYPE_CHECKING:
    from .local import LocalDesk
    from .remote import RemoteDesk

__all__ = [
    "BadInput",
    "Conflict",
    "Decision",
    "Desk",
    "DeskError",
    "Failed",
    "InFlight",
    "IncidentNote",
    "LocalDesk",
    "NoStoredReceipt",
    "NotAllowed",
    "NotFound",
    "NotOffered",
    "Order",
    "Paid",
    "Payment",
    "Pending",
    "PlanView",
    "Refused",
    "RemoteDesk",
    "Resolved",
    "Settled",
    "Started",
    "Transaction",
    "Unreachable",
]

# The two implementations load on first use: a command that only parses its arguments
# (``--help``, ``--version``) or works locally does not import the HTTP client and the
# configuration's validation with them, nor the cashier with the local one.
_IMPLEMENTATIONS = {"LocalDesk": ".local", "RemoteDesk": ".remote"}


def __getattr__(name: str) -> Any:
    module = _IMPLEMENTATIONS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
