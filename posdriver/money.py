"""Money as integer minor units of an ISO 4217 currency; never a float.

Amounts come in from people and from the front-desk software as decimal strings
("12.50"), go to terminals as integer minor units (1250, which ZVT carries as BCD), and
are journaled that way. Parsing is strict, and every refusal says exactly what is wrong,
because a typo at the counter must not become a charge:

>>> Money.parse("12.50", "EUR")
Money(minor=1250, currency='EUR')
>>> Money.parse("12.505", "EUR")
Traceback (most recent call last):
...
posdriver.money.AmountError: amount '12.505' has 3 decimal places; EUR has 2

Currency data (minor-unit exponent, numeric code) comes from the ``iso4217`` package.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

_AMOUNT = re.compile(r"^(?P<sign>[+-]?)(?P<int>\d+)(?:\.(?P<frac>\d+))?$")
MAX_MINOR = 999_999_999_999  # the 6-byte BCD amount field of ZVT holds 12 digits


class AmountError(ValueError):
    """An amount or currency that cannot be used; the message names the problem."""


@lru_cache(maxsize=64)
def _currency(code: str) -> tuple[int, int]:
    """(exponent, numeric code) of an ISO 4217 alphabetic code."""
    import iso4217

    try:
        currency = iso4217.Currency(code)
    except ValueError:
        raise AmountError(
            f"unknown currency {code!r}; expected an ISO 4217 code such as EUR"
        ) from None
    exponent = currency.exponent
    if exponent is None:
        raise AmountError(f"currency {code} has no minor unit and cannot be charged")
    return int(exponent), int(currency.number)


@dataclass(frozen=True, order=True)
class Money:
    """An amount in minor units (cents) of ``currency``."""

    minor: int
    currency: str

    @classmethod
    def parse(cls, text: str, currency: str, *, allow_zero: bool = False) -> Money:
        """A positive amount from a decimal string such as ``"12.50"``.

        Refused: empty, signs, exponents, thousands separators, commas, more decimal
        places than the currency has, zero (unless ``allow_zero``), and amounts beyond
        what a terminal can carry.
        """
        code = currency.strip().upper()
        exponent, _ = _currency(code)
        raw = text.strip() if isinstance(text, str) else ""
        if not raw:
            raise AmountError("amount is empty; expected a decimal such as 12.50")
        match = _AMOUNT.match(raw)
        if not match:
            hint = " (use a dot for decimals)" if "," in raw else ""
            raise AmountError(f"amount {text!r} is not a decimal number such as 12.50{hint}")
        if match.group("sign") == "-":
            raise AmountError(f"amount {text!r} is negative; amounts are always positive")
        if match.group("sign") == "+":
            raise AmountError(f"amount {text!r} has a sign; write just the number")
        frac = match.group("frac") or ""
        if len(frac) > exponent:
            places = "no decimal places" if exponent == 0 else f"{exponent}"
            raise AmountError(
                f"amount {text!r} has {len(frac)} decimal places; {code} has {places}"
            )
        minor = int(match.group("int") + frac.ljust(exponent, "0"))
        if minor == 0 and not allow_zero:
            raise AmountError(f"amount {text!r} is zero")
        if minor > MAX_MINOR:
            raise AmountError(
                f"amount {text!r} is too large; a terminal carries at most "
                f"{cls(MAX_MINOR, code).format()}"
            )
        return cls(minor, code)

    @property
    def exponent(self) -> int:
        return _currency(self.currency)[0]

    @property
    def numeric_code(self) -> int:
        """ISO 4217 numeric code (978 for EUR), as terminals exchange it."""
        return _currency(self.currency)[1]

    def format(self) -> str:
        """``"12.50 EUR"``: the decimal string the API and receipts show."""
        value = Decimal(self.minor).scaleb(-self.exponent)
        return f"{value:.{self.exponent}f} {self.currency}"

    def decimal(self) -> str:
        """``"12.50"``: the amount alone, as the API carries it."""
        return self.format().split(" ", 1)[0]

    def __str__(self) -> str:
        return self.format()
