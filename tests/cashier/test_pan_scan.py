"""The card-number scanner behind the "no card data at rest" checks."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from posdriver.cashier.pan_scan import luhn_runs, luhn_runs_bytes, luhn_valid

VISA = "4111111111111111"  # a well-known Luhn-valid test number
NOT_LUHN = "4111111111111112"


def with_check_digit(body: str) -> str:
    """``body`` followed by the digit that makes it pass the Luhn check."""
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


def test_luhn_check() -> None:
    assert luhn_valid(VISA)
    assert luhn_valid("79927398713")
    assert not luhn_valid(NOT_LUHN)
    assert not luhn_valid("")
    assert not luhn_valid("4111 1111")
    assert not luhn_valid("٤١١١")  # non-ASCII digits are not digits here


def test_a_card_number_inside_other_text_is_found() -> None:
    assert luhn_runs(f"paid with card={VISA}; amount 12.50") == [VISA]
    assert luhn_runs(f"abc{VISA}xyz") == [VISA]


def test_a_number_failing_luhn_is_not_found() -> None:
    assert luhn_runs(f"card {NOT_LUHN} here") == []


def test_grouped_numbers_are_found() -> None:
    assert luhn_runs("4111 1111 1111 1111") == [VISA]
    assert luhn_runs("4111-1111-1111-1111") == [VISA]
    assert luhn_runs("4111 1111 1111 1111 12/28") == [VISA]  # expiry after one space
    assert luhn_runs("4111  1111 1111 1111") == []  # two spaces part two runs
    assert luhn_runs("4111--1111-1111-1111") == []


def test_too_short_and_too_long_runs_are_not_found() -> None:
    twelve = with_check_digit("41111111111")
    twenty = with_check_digit("4111111111111111111")
    assert len(twelve) == 12 and len(twenty) == 20
    assert luhn_runs(f"x {twelve} y") == []
    assert luhn_runs(f"x {twenty} y") == []
    assert luhn_runs(f"{VISA}1234") == []  # 20 digits in a row, whatever 16 of them are


def test_every_length_from_13_to_19_is_found() -> None:
    for length in range(13, 20):
        number = with_check_digit("4" + "0" * (length - 2))
        assert luhn_runs(f"[{number}]") == [number]


def test_several_numbers_in_order() -> None:
    other = "5555555555554444"
    assert luhn_runs(f"{VISA} and then {other}") == [VISA, other]


def test_ordinary_posdriver_text_is_clean() -> None:
    text = "2026-11-23 14:05:07 txn 17 sale 12.50 EUR VISA **** 1234 trace 123 receipt 45"
    assert luhn_runs(text) == []


def test_bytes_are_scanned_too() -> None:
    data = b"\x00\x01SQLite format 3\x00" + VISA.encode() + b"\xff\xfe" + NOT_LUHN.encode()
    assert luhn_runs_bytes(data) == [VISA]
    assert luhn_runs_bytes(b"\x00" * 64) == []


@given(
    prefix=st.text(alphabet="abc xyz.:;", max_size=20), suffix=st.text("abc xyz.:;", max_size=20)
)
def test_found_wherever_it_sits(prefix: str, suffix: str) -> None:
    assert luhn_runs(prefix + VISA + suffix) == [VISA]
