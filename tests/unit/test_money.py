"""Amounts: strict parsing with precise errors, integer minor units, no floats."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

import posdriver.money
from posdriver.money import MAX_MINOR, AmountError, Money


def test_module_examples() -> None:
    import doctest

    assert doctest.testmod(posdriver.money).failed == 0


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("12.50", "EUR", 1250),
        ("12.5", "EUR", 1250),
        ("12", "EUR", 1200),
        ("0.01", "eur", 1),
        ("0012.50", "EUR", 1250),
        ("0" * 5000 + "1", "EUR", 100),
        ("1500", "JPY", 1500),
        ("1.234", "KWD", 1234),
        ("9999999999.99", "EUR", 999_999_999_999),
    ],
)
def test_parse(text: str, currency: str, minor: int) -> None:
    money = Money.parse(text, currency)
    assert money.minor == minor
    assert money.currency == currency.strip().upper()


@pytest.mark.parametrize(
    ("text", "currency", "message"),
    [
        ("", "EUR", "amount is empty"),
        ("   ", "EUR", "amount is empty"),
        ("-5.00", "EUR", "is negative"),
        ("+5.00", "EUR", "has a sign"),
        ("0", "EUR", "is zero"),
        ("0.00", "EUR", "is zero"),
        ("12.505", "EUR", "has 3 decimal places; EUR has 2"),
        ("15.5", "JPY", "has 1 decimal places; JPY has no decimal places"),
        ("12,50", "EUR", "use a dot for decimals"),
        ("1,250.00", "EUR", "use a dot for decimals"),
        ("1e3", "EUR", "not a decimal number"),
        ("twelve", "EUR", "not a decimal number"),
        ("NaN", "EUR", "not a decimal number"),
        ("12.", "EUR", "not a decimal number"),
        (".5", "EUR", "not a decimal number"),
        ("10000000000.00", "EUR", "too large"),
        ("12.50", "EURO", "unknown currency 'EURO'"),
        # only the ASCII digits 0-9 and one dot; nothing around them or within
        (" 0.01 ", "EUR", "not a decimal number such as 12.50 (no spaces"),
        (" 12.50", "EUR", "no spaces: write just the digits"),
        ("12.50 ", "EUR", "no spaces: write just the digits"),
        ("12.50\n", "EUR", "no spaces: write just the digits"),
        ("1 250.00", "EUR", "no spaces: write just the digits"),
        ("12. 50", "EUR", "no spaces: write just the digits"),
        ("\u0661\u0662.\u0665\u0660", "EUR", "(write the digits 0-9)"),  # Arabic-Indic
        ("\uff11\uff12.\uff15\uff10", "EUR", "(write the digits 0-9)"),  # full-width
        ("1\u0662.50", "EUR", "(write the digits 0-9)"),
        ("12.5\u0966", "EUR", "(write the digits 0-9)"),  # Devanagari
        ("12..50", "EUR", "not a decimal number"),
        ("12.50.1", "EUR", "not a decimal number"),
        ("9" * 5000, "EUR", f"amount {'9' * 24!r}... (5000 characters) is too large"),
    ],
)
def test_refusals_name_the_problem(text: str, currency: str, message: str) -> None:
    with pytest.raises(AmountError, match=re.escape(message)):
        Money.parse(text, currency)


def test_zero_when_allowed() -> None:
    assert Money.parse("0.00", "EUR", allow_zero=True).minor == 0


def test_format_and_codes() -> None:
    assert Money(1250, "EUR").format() == "12.50 EUR"
    assert Money(5, "EUR").decimal() == "0.05"
    assert Money(1500, "JPY").format() == "1500 JPY"
    assert Money(1250, "EUR").numeric_code == 978
    assert str(Money(1, "CNY")) == "0.01 CNY"


@given(st.integers(1, MAX_MINOR), st.sampled_from(["EUR", "JPY", "KWD", "CNY", "CHF"]))
def test_round_trip(minor: int, currency: str) -> None:
    money = Money(minor, currency)
    assert Money.parse(money.decimal(), currency) == money


@given(st.text(max_size=20))
def test_parse_never_raises_anything_else(text: str) -> None:
    try:
        money = Money.parse(text, "EUR")
    except AmountError:
        return
    assert 0 < money.minor <= MAX_MINOR


@given(st.text(alphabet=st.characters(exclude_characters="0123456789."), min_size=1, max_size=3))
def test_anything_but_ascii_digits_and_a_dot_is_refused(other: str) -> None:
    """Whatever else stands before, within or after the digits, however Python's str
    methods (isdigit, int, float) would read it."""
    for text in (other + "12.50", "12" + other + ".50", "12.50" + other, "1" + other + "2"):
        with pytest.raises(AmountError):
            Money.parse(text, "EUR")
