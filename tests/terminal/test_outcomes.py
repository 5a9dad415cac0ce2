"""Outcome values carry no card data beyond brand and last four."""

from __future__ import annotations

import pytest

from posdriver.money import Money
from posdriver.terminal.outcomes import Approved, CardInfo, Declined, InDoubt


@pytest.mark.parametrize("bad", ["4111111111111111", "123", "12345", "12a4", ""])
def test_card_info_refuses_anything_but_four_digits(bad: str) -> None:
    with pytest.raises(ValueError, match="exactly four digits"):
        CardInfo(brand="VISA", last4=bad)


def test_approved_shows_only_last_four() -> None:
    approved = Approved(Money(1250, "EUR"), trace=42, card=CardInfo("VISA", "1234"))
    assert approved.ok
    assert str(approved.card) == "VISA **** 1234"
    assert "1234" in repr(approved)


def test_not_ok_outcomes() -> None:
    assert not Declined(Money(1, "EUR"), 0x05, "declined").ok
    doubt = InDoubt(Money(1, "EUR"), "link dropped", "after_status", trace=7)
    assert not doubt.ok and doubt.trace == 7
