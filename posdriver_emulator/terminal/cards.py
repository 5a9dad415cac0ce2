"""The cards an emulated terminal can read and the host that authorises them.

A card is a name (what ``POST /card`` and a scenario's ``card NAME`` choose), a PAN, a
brand, the ZVT card type (BMP 8A) and what the issuer answers for it: ``0`` approves, any
other value is the issuer's result code (BMP 27), e.g. ``0x05`` "do not honour", ``0x71``
credit not sufficient, ``0x78`` card expired. The numbers are test PANs in the networks'
test ranges; none belongs to a real account.

The terminal's own limits (:class:`Limits`) are checked before the host is asked, and a
breach is answered with result ``0xC3`` ("maximum amount exceeded") and the limit in
words (TLV 1F17) plus a small vendor code (TLV 1F16, :data:`LIMIT_CODES`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

APPROVED = 0x00
DO_NOT_HONOUR = 0x05
CREDIT_NOT_SUFFICIENT = 0x71
CARD_EXPIRED = 0x78
MAX_AMOUNT_EXCEEDED = 0xC3

# TLV 1F16 vendor codes for the limit that was hit
LIMIT_CODES = {"transaction": 1, "refund": 2, "daily_refund": 3}


@dataclass(frozen=True)
class Card:
    """One card; ``result`` is what the issuer answers for a payment with it."""

    name: str
    pan: str
    brand: str
    card_type: int  # BMP 8A, the ZVT card-type id
    expiry: str = "2812"  # YYMM
    result: int = APPROVED
    sequence_no: int = 1  # BMP 17
    payment_type: int = 0x60  # BMP 19 in the status information: online

    def __post_init__(self) -> None:
        if not (self.pan.isdigit() and 12 <= len(self.pan) <= 19):
            raise ValueError(f"card {self.name!r}: a PAN is 12 to 19 digits")
        if not (len(self.expiry) == 4 and self.expiry.isdigit()):
            raise ValueError(f"card {self.name!r}: expiry is YYMM, got {self.expiry!r}")
        for what, value in (("card_type", self.card_type), ("result", self.result)):
            if not 0 <= value <= 0xFF:
                raise ValueError(f"card {self.name!r}: {what} is one byte, got {value}")

    @property
    def masked_pan(self) -> str:
        """First six and last four digits, ``E`` for the rest (ZVT's masking in BMP 22)."""
        return self.pan[:6] + "E" * (len(self.pan) - 10) + self.pan[-4:]

    @property
    def last4(self) -> str:
        return self.pan[-4:]

    def describe(self) -> dict[str, Any]:
        """The card as the control API shows it: masked, never the full number."""
        return {
            "name": self.name,
            "brand": self.brand,
            "pan": self.masked_pan,
            "card_type": self.card_type,
            "expiry": self.expiry,
            "result": self.result,
        }

    def with_changes(self, **changes: Any) -> Card:
        return replace(self, **changes)


DEFAULT_CARDS: dict[str, Card] = {
    c.name: c
    for c in (
        Card("visa", "4761730000000119", "Visa", 10),
        Card("mastercard", "5413330089010434", "Mastercard", 6),
        Card("girocard", "6725000000000000019", "girocard", 5, payment_type=0x70),
        Card("declined", "4000000000000002", "Visa", 10, result=DO_NOT_HONOUR),
        Card("insufficient", "4000000000009995", "Visa", 10, result=CREDIT_NOT_SUFFICIENT),
        Card("expired", "4000000000000069", "Visa", 10, expiry="2001", result=CARD_EXPIRED),
    )
}


@dataclass(frozen=True)
class Limits:
    """The terminal's own amount limits, in minor units of its currency."""

    max_transaction: int = 500_000  # 5000.00 per payment or pre-authorisation
    max_refund: int = 50_000  # 500.00 per refund
    daily_refund_cap: int = 100_000  # 1000.00 of refunds per day (until end-of-day)


def issuer_result(card: Card, kind: str) -> int:
    """What the issuer answers for ``kind`` with ``card``.

    Money going back to the card (a refund) does not need credit, so "credit not
    sufficient" does not decline it; every other refusal does.
    """
    if kind == "refund" and card.result == CREDIT_NOT_SUFFICIENT:
        return APPROVED
    return card.result


def numeric_currency(code: str) -> int:
    """The ISO 4217 number of ``code`` (EUR -> 978), which ZVT carries in BMP 49; an
    unknown currency, or one without minor units, is refused with a ValueError."""
    import iso4217

    try:
        currency = iso4217.Currency(code)
    except ValueError:
        raise ValueError(
            f"unknown currency {code!r}; expected an ISO 4217 code such as EUR"
        ) from None
    if currency.exponent is None:
        raise ValueError(f"currency {code} has no minor unit and cannot be charged")
    return int(currency.number)


def format_minor(amount: int, currency: str = "EUR") -> str:
    """``50000`` -> ``"500.00 EUR"``: how a limit is named in TLV 1F17 and receipts."""
    return f"{amount // 100}.{amount % 100:02d} {currency}"
