"""The front desk's work, written once: :class:`~.protocol.Desk` is what a desk does
(find and show transactions, what needs a person, the fault record, the print queue,
split refund plans, starting a money operation and waiting for it to end),
:class:`~.local.LocalDesk` does it over a journal in this process and
:class:`~.remote.RemoteDesk` through the running daemon's API. The CLI's commands are
written over a ``Desk`` and the API's handlers call the daemon's ``LocalDesk``; both
turn the desk's errors (:mod:`.errors`) into exit codes or HTTP statuses, each in one
table.
"""

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
from .local import LocalDesk
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
