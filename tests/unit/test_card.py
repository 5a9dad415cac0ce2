"""The last-four rule, one for every place a card's last four digits enter posdriver."""

from __future__ import annotations

from datetime import datetime

import pytest

from posdriver.card import LAST4_PATTERN, check_last4, is_last4
from posdriver.cashier.receipts import ReceiptFacts
from posdriver.terminal.outcomes import CardInfo

NOT_LAST4 = [
    "1234\n",  # a trailing newline ($ in a regex lets it through)
    "١٢٣٤",  # Arabic-Indic digits (\d takes them)
    "１２３４",  # full-width digits
    "123",
    "12345",
    " 1234",
    "12a4",
    "",
    1234,
    None,
]


@pytest.mark.parametrize("value", NOT_LAST4)
def test_only_four_ascii_digits_are_a_last_four(value: object) -> None:
    assert not is_last4(value)
    with pytest.raises(ValueError, match="exactly four digits"):
        check_last4(value)


@pytest.mark.parametrize("value", [v for v in NOT_LAST4 if isinstance(v, str) and v])
def test_a_card_and_a_receipt_refuse_what_is_not_a_last_four(value: str) -> None:
    with pytest.raises(ValueError):
        CardInfo("VISA", value)
    with pytest.raises(ValueError):
        ReceiptFacts("sale", None, datetime.now(), None, None, None, None, "VISA", value, None)


def test_the_rule_accepts_a_last_four_and_the_schema_says_the_same() -> None:
    assert is_last4("0119") and check_last4("0119") == "0119"
    assert CardInfo("VISA", "0119").last4 == "0119"
    assert LAST4_PATTERN == "^[0-9]{4}$"
