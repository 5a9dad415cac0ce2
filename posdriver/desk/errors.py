"""What stops a desk's work, as one small tree: the CLI turns each kind into its exit
code and the API into its HTTP status, each in one table (``posdriver.cashier.cli``'s
``_EXIT_CODES``, ``posdriver.service.api_http``'s ``_STATUSES``).

The message is the sentence the person at the desk reads (the CLI prints it as it is);
``extra`` is what an answer carries besides it (``refund_guard``, ``refund_plan``).
"""

from __future__ import annotations

from typing import Any

from ..errors import PosdriverError


class DeskError(PosdriverError):
    """The desk could not do what it was asked; the message says what and why."""

    def __init__(self, message: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.extra = extra or {}


class NotFound(DeskError):
    """No such transaction, print job or refund plan (or more than one a name fits)."""


class Conflict(DeskError):
    """A sound request, refused in the state things are in: a job already printed, an
    operation not in doubt, a plan being carried out."""


class Refused(DeskError):
    """A money operation refused before it started: nothing was sent to a terminal."""


class NoStoredReceipt(Conflict):
    """The journal holds no such copy of the operation's receipt (only the terminal that
    made it may still repeat it)."""


class BadInput(DeskError):
    """The request itself is wrong: a field, a value, a name the config does not know."""


class Unreachable(DeskError):
    """The daemon the desk works through did not answer at all."""


class NotAllowed(DeskError):
    """The daemon refused to listen: no token, or the wrong one."""


class NotOffered(DeskError):
    """The daemon does not have what was asked for (an older posdriver)."""


class Failed(DeskError):
    """The daemon tried and could not (its own fault, not the request's)."""
