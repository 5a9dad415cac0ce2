"""How a payment operation ended, in terms that do not depend on the terminal's protocol.

An expected ending is a value, never an exception: :class:`Approved`, :class:`Declined`,
:class:`Aborted`, or :class:`InDoubt`. ``InDoubt`` is the one that matters most: the
terminal accepted the command and then the link failed or went silent, so the card *may*
have been charged. The caller must not retry it; the journal and the reconciler ask the
terminal what happened (repeat receipt, status enquiry, end-of-day totals).

A link that broke *before* the terminal accepted the command is an exception
(:class:`TerminalNotReached`): nothing can have been charged, so trying a standby
terminal is safe.

No card data: the only card facts an outcome can carry are the brand and the last four
digits of the PAN, and :class:`CardInfo` refuses anything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from ..money import Money

_LAST4 = re.compile(r"^\d{4}$")


class TerminalError(Exception):
    """Base of terminal failures that are not outcomes."""


class TerminalNotReached(TerminalError):
    """The command never reached the terminal (link down, powered off, refused the
    connection, no acknowledgement): nothing was charged."""


@dataclass(frozen=True)
class CardInfo:
    """What may be kept about a card: its brand and the last four PAN digits."""

    brand: str | None = None
    last4: str | None = None

    def __post_init__(self) -> None:
        if self.last4 is not None and not _LAST4.match(self.last4):
            raise ValueError("last4 must be exactly four digits (never more of the card number)")

    def __str__(self) -> str:
        brand = self.brand or "card"
        return f"{brand} **** {self.last4}" if self.last4 else brand


@dataclass(frozen=True)
class Approved:
    """The terminal approved and completed the operation."""

    amount: Money
    trace: int | None = None
    receipt_no: int | None = None
    approval_code: str | None = None
    card: CardInfo = field(default_factory=CardInfo)
    terminal_id: str | None = None
    at: datetime | None = None
    receipt: tuple[str, ...] = ()

    ok = True


@dataclass(frozen=True)
class Declined:
    """The terminal or the card issuer said no; nothing was charged."""

    amount: Money
    result_code: int
    meaning: str
    receipt: tuple[str, ...] = ()

    ok = False


@dataclass(frozen=True)
class Aborted:
    """The operation ended without a charge: cancelled at the terminal, card removed,
    timeout before the card was read, or an abort from the till."""

    reason: str
    result_code: int | None = None

    ok = False


@dataclass(frozen=True)
class InDoubt:
    """The terminal accepted the command and then the answer never came.

    ``stage`` says how far it got (for example ``"after_status"`` when the transaction
    result was seen but not completed); ``known`` holds whatever the terminal had already
    said (trace, receipt number), which is what resolves it later.
    """

    amount: Money
    reason: str
    stage: str
    trace: int | None = None
    receipt_no: int | None = None

    ok = False


Outcome = Approved | Declined | Aborted | InDoubt
