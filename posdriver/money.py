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

from .errors import PosdriverError

# ASCII digits only: \d would take "١٢" (Arabic-Indic) or "１２" (full-width) for 12
_AMOUNT = re.compile(r"(?P<sign>[+-]?)(?P<int>[0-9]+)(?:\.(?P<frac>[0-9]+))?")
MAX_MINOR = 999_999_999_999  # the 6-byte BCD amount field of ZVT holds 12 digits


class AmountError(PosdriverError, ValueError):
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


def _shown(raw: str) -> str:
    """An amount as an error message quotes it: whole unless it is long."""
    return repr(raw) if len(raw) <= 32 else f"{raw[:24]!r}... ({len(raw)} characters)"


def _hint(raw: str) -> str:
    """What is wrong with an amount that is not digits and a dot, when it can be said."""
    if any(c.isspace() for c in raw):
        return " (no spaces: write just the digits)"
    if any(c.isdigit() and not c.isascii() for c in raw):
        return " (write the digits 0-9)"
    if "," in raw:
        return " (use a dot for decimals)"
    return ""


@dataclass(frozen=True, order=True)
class Money:
    """An amount in minor units (cents) of ``currency``."""

    minor: int
    currency: str

    @classmethod
    def parse(cls, text: str, currency: str, *, allow_zero: bool = False) -> Money:
        """A positive amount from a decimal string such as ``"12.50"``.

        An amount is the ASCII digits 0-9 with an optional dot and decimal part, and
        nothing else. Refused: empty, spaces (before, after or within), digits of other
        scripts (Arabic-Indic, full-width), signs, exponents, thousands separators,
        commas, more decimal places than the currency has, zero (unless
        ``allow_zero``), and amounts beyond what a terminal can carry.
        """
        code = currency.strip().upper()
        exponent, _ = _currency(code)
        raw = text if isinstance(text, str) else ""
        shown = _shown(raw)
        if not raw.strip():
            raise AmountError("amount is empty; expected a decimal such as 12.50")
        match = _AMOUNT.fullmatch(raw)
        if not match:
            raise AmountError(f"amount {shown} is not a decimal number such as 12.50{_hint(raw)}")
        if match.group("sign") == "-":
            raise AmountError(f"amount {shown} is negative; amounts are always positive")
        if match.group("sign") == "+":
            raise AmountError(f"amount {shown} has a sign; write just the number")
        frac = match.group("frac") or ""
        if len(frac) > exponent:
            places = "no decimal places" if exponent == 0 else f"{exponent}"
            raise AmountError(f"amount {shown} has {len(frac)} decimal places; {code} has {places}")
        digits = (match.group("int") + frac.ljust(exponent, "0")).lstrip("0") or "0"
        # by its length first: int() refuses a string of over 4300 digits (a ValueError)
        minor = MAX_MINOR + 1 if len(digits) > len(str(MAX_MINOR)) else int(digits)
        if minor == 0 and not allow_zero:
            raise AmountError(f"amount {shown} is zero")
        if minor > MAX_MINOR:
            raise AmountError(
                f"amount {shown} is too large; a terminal carries at most "
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
