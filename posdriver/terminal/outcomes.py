"""How a terminal operation ended, in terms that do not depend on the terminal's protocol.

An expected ending is a value, never an exception: :class:`Approved`, :class:`Declined`,
:class:`Aborted`, or :class:`InDoubt`. ``InDoubt`` is the one that matters most: the
terminal accepted the command and then the link failed or went silent, so the card *may*
have been charged. The caller must not retry it; the journal and the reconciler ask the
terminal what happened (repeat receipt, status enquiry, end-of-day totals).

A link that broke *before* the terminal accepted the command is an exception
(:class:`TerminalNotReached`): nothing can have been charged, so trying a standby
terminal is safe. The exceptions follow the command's lifecycle::

    TerminalError
     +-- TerminalNotReached     never accepted: nothing happened, a retry is safe
     |    +-- TerminalBusy      the terminal said "not now" (busy, please wait)
     +-- TerminalRefused        an administrative command the terminal would not do
     +-- TerminalLost           an administrative command was accepted, then the link
                                failed or went silent (money commands give InDoubt)

Administrative answers are values too: :class:`TerminalState` (status enquiry),
:class:`Connectivity` (can the terminal reach its acquirer), :class:`DayTotals`
(end of day), :class:`LastTransaction` (what the terminal remembers), :class:`Registered`.

No card data: the only card facts a value can carry are the brand and the last four
digits of the PAN, and :class:`CardInfo` refuses anything else.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from ..card import is_last4
from ..errors import PosdriverError
from ..money import Money


class TerminalError(PosdriverError):
    """Base of terminal failures that are not outcomes."""


class TerminalNotReached(TerminalError):
    """The command never reached the terminal (link down, powered off, refused the
    connection, no acknowledgement): nothing was charged."""


class TerminalBusy(TerminalNotReached):
    """The terminal answered "not now" (busy with another operation, please wait) and did
    not accept the command: nothing was charged, and trying again later is safe."""

    def __init__(self, message: str, result_code: int | None = None) -> None:
        self.result_code = result_code
        super().__init__(message)


class TerminalRefused(TerminalError):
    """The terminal would not carry out an administrative command (wrong password, a
    currency it does not take, a function it does not have)."""

    def __init__(self, message: str, result_code: int | None = None) -> None:
        self.result_code = result_code
        super().__init__(message)


class TerminalLost(TerminalError):
    """An administrative command was accepted and then the link failed or went silent, so
    its result is unknown. ``stage`` says how far it got (as :class:`InDoubt` does)."""

    def __init__(self, message: str, stage: DoubtStage) -> None:
        self.stage = stage
        super().__init__(message)


@dataclass(frozen=True)
class CardInfo:
    """What may be kept about a card: its brand and the last four PAN digits."""

    brand: str | None = None
    last4: str | None = None

    def __post_init__(self) -> None:
        if self.last4 is not None and not is_last4(self.last4):
            raise ValueError("last4 must be exactly four digits (never more of the card number)")

    def __str__(self) -> str:
        brand = self.brand or "card"
        return f"{brand} **** {self.last4}" if self.last4 else brand


@dataclass(frozen=True)
class Approved:
    """The terminal approved and completed the operation.

    ``amount`` is what the terminal reported (the requested amount when it reported
    none); it is ``None`` only for an operation that named no amount and got none back
    (a reversal by receipt number). ``receipt`` is the guest's copy (or the only receipt
    the terminal sent, or one built from the transaction data), ``merchant_receipt`` the
    merchant's copy when the terminal sent one separately.
    """

    amount: Money | None
    trace: int | None = None
    receipt_no: int | None = None
    approval_code: str | None = None
    card: CardInfo = field(default_factory=CardInfo)
    terminal_id: str | None = None
    at: datetime | None = None
    receipt: tuple[str, ...] = ()
    merchant_receipt: tuple[str, ...] = ()
    reference: str | None = None  # how its terminal addresses it (_default_reference)

    def __post_init__(self) -> None:
        _default_reference(self)

    ok = True


@dataclass(frozen=True)
class Declined:
    """The terminal or the card issuer said no; nothing was charged.

    ``detail`` is the terminal's own explanation when it gave one (for example which
    limit a refund exceeded).
    """

    amount: Money | None
    result_code: int
    meaning: str
    receipt: tuple[str, ...] = ()
    detail: str | None = None
    trace: int | None = None
    receipt_no: int | None = None
    reference: str | None = None  # how its terminal addresses it (_default_reference)

    def __post_init__(self) -> None:
        _default_reference(self)

    ok = False


@dataclass(frozen=True)
class Aborted:
    """The operation ended without a charge: cancelled at the terminal, card removed,
    timeout before the card was read, acquirer unreachable, refused by the terminal, or
    an abort from the till."""

    reason: str
    result_code: int | None = None
    detail: str | None = None
    # the terminal could not reach its acquirer: nothing was charged, and another
    # terminal (on another line) may get through
    host_unreachable: bool = False

    ok = False


@dataclass(frozen=True)
class InDoubt:
    """The terminal accepted the command and then the answer never came.

    ``stage`` (a :class:`DoubtStage`) says how far it got. ``trace`` / ``receipt_no`` /
    ``result_code`` hold whatever the terminal had already said, which is what resolves
    it later.
    """

    amount: Money | None
    reason: str
    stage: DoubtStage
    trace: int | None = None
    receipt_no: int | None = None
    result_code: int | None = None
    reference: str | None = None  # how its terminal addresses it (_default_reference)

    def __post_init__(self) -> None:
        _default_reference(self)

    ok = False


Outcome = Approved | Declined | Aborted | InDoubt


def _default_reference(value: Any) -> None:
    """A transaction's ``reference`` is how its terminal addresses it again (a reversal,
    a booking, recovery's question); everything above the protocol keeps it as opaque
    text. A protocol that sets none has its terminal's receipt number stand for it, the
    common case; one whose receipt numbers are not references sets its own."""
    if value.reference is None and value.receipt_no is not None:
        object.__setattr__(value, "reference", str(value.receipt_no))


class DoubtStage(StrEnum):
    """How far an operation in doubt got (the journal keeps the value)."""

    # the journal's own: the command may have gone out and the terminal never said it
    # took it (a crash, or a fault of ours, while PENDING with its terminal chosen)
    BEFORE_ACCEPT = "before_accept"
    AFTER_ACCEPT = "after_accept"  # accepted, no result seen
    # the result was seen, and our acknowledgement may not have reached the terminal,
    # which then reverses it
    AFTER_STATUS = "after_status"
    # the result was acknowledged (it stands), then the end never came or the terminal
    # contradicted it
    BEFORE_COMPLETION = "before_completion"
    # the terminal ended the command as done and never said its result or its numbers
    COMPLETED_WITHOUT_RESULT = "completed_without_result"


# -- administrative answers --------------------------------------------------------------
@dataclass(frozen=True)
class Registered:
    """The terminal took the till's registration (and what it said about itself)."""

    terminal_id: str | None = None
    currency: str | None = None
    needs: tuple[str, ...] = ()  # actions the terminal asked for, in words


@dataclass(frozen=True)
class TerminalState:
    """The terminal's own view of itself (a status enquiry).

    ``severity`` ranks it for monitoring: ``ok`` (ready), ``warning`` (usable but wants
    attention soon, e.g. reconciliation due, a card left in the reader) or ``critical``
    (cannot take payments).
    """

    ready: bool
    code: int
    text: str
    severity: str
    remedy: str | None = None
    software: str | None = None


@dataclass(frozen=True)
class Connectivity:
    """Whether the terminal can reach its acquirer (a diagnosis run)."""

    host_reachable: bool
    result_code: int | None
    meaning: str
    detail: str | None = None


@dataclass(frozen=True)
class BrandTotal:
    """One line of the end-of-day totals: a card brand, its count and its turnover."""

    brand: str
    count: int
    amount: Money


@dataclass(frozen=True)
class DayTotals:
    """The end-of-day (batch close) answer; ``ok`` False when the terminal refused it."""

    ok: bool
    total: Money | None = None
    result_code: int | None = None
    meaning: str = ""
    by_brand: tuple[BrandTotal, ...] = ()
    receipt_range: tuple[int, int] | None = None
    at: datetime | None = None
    receipt: tuple[str, ...] = ()


@dataclass(frozen=True)
class LastTransaction:
    """What the terminal says about its last financial transaction (for resolving an
    InDoubt): ``stands`` is False when it was declined or has been reversed since."""

    stands: bool
    result_code: int
    meaning: str
    amount: Money | None = None
    trace: int | None = None
    receipt_no: int | None = None
    approval_code: str | None = None
    card: CardInfo = field(default_factory=CardInfo)
    terminal_id: str | None = None
    at: datetime | None = None
    receipt: tuple[str, ...] = ()
    reference: str | None = None  # how its terminal addresses it (_default_reference)

    def __post_init__(self) -> None:
        _default_reference(self)


_KIND = {
    Approved: "approved",
    Declined: "declined",
    Aborted: "aborted",
    InDoubt: "in_doubt",
}


def to_dict(value: Any) -> Any:
    """A JSON-ready view of an outcome or answer: Money as ``{"amount", "currency"}``,
    datetimes in ISO format, outcomes tagged with ``"outcome"``."""
    if isinstance(value, Money):
        return {"amount": value.decimal(), "currency": value.currency}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [to_dict(v) for v in value]
    if is_dataclass(value) and not isinstance(value, type):
        body: dict[str, Any] = {}
        kind = _KIND.get(type(value))
        if kind:
            body["outcome"] = kind
            body["ok"] = getattr(value, "ok", False)
        for item in fields(value):
            body[item.name] = to_dict(getattr(value, item.name))
        return body
    return value
