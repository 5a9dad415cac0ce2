"""Refund guard: every limit alone and together, exact boundaries, and the split plan."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import posdriver.cashier.refund_guard
from posdriver.cashier.refund_guard import RefundRequest, check, plan_parts
from posdriver.money import AmountError, Money


def eur(text: str) -> Money:
    return Money.parse(text, "EUR", allow_zero=True)


def request(**changes: Any) -> RefundRequest:
    """An approved 500.00 EUR sale, nothing refunded yet, generous limits."""
    base = RefundRequest(
        sale_id=17,
        sale_state="approved",
        sale_kind="sale",
        sale_amount=eur("500.00"),
        refunded=eur("0"),
        reserved=eur("0"),
        amount=eur("100.00"),
        per_refund_limit=eur("1000.00"),
        daily_cap=eur("5000.00"),
        refunded_today=eur("0"),
    )
    return replace(base, **changes)


def names(req: RefundRequest) -> list[str]:
    return [stop.name for stop in check(req).stops]


def message(req: RefundRequest, name: str) -> str:
    found = [stop.message for stop in check(req).stops if stop.name == name]
    assert len(found) == 1, f"expected one {name} stop, got {names(req)}"
    return found[0]


def test_module_examples() -> None:
    import doctest

    assert doctest.testmod(posdriver.cashier.refund_guard).failed == 0


def test_within_every_limit_is_allowed() -> None:
    decision = check(request())
    assert decision.allowed
    assert decision.stops == ()
    assert decision.plan == ()
    assert decision.amount == eur("100.00")
    assert decision.remainder_after == eur("400.00")
    assert decision.explain() == (
        "Refund 100.00 EUR can go as one refund.\n"
        "Afterwards 400.00 EUR stays refundable on sale 17."
    )


def test_no_amount_means_the_whole_remainder() -> None:
    decision = check(request(amount=None, refunded=eur("120.00"), reserved=eur("30.00")))
    assert decision.allowed
    assert decision.amount == eur("350.00")
    assert decision.remainder_after == eur("0.00")


# --- not refundable -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "words"),
    [
        ("declined", "was declined"),
        ("aborted", "was aborted"),
        ("pending", "still pending"),
        ("sent", "result is not known yet"),
        ("in_doubt", "must be resolved first"),
        ("needs_review", "must be resolved first"),
        ("mystery", "state 'mystery'"),
    ],
)
def test_sale_not_approved_is_not_refundable(state: str, words: str) -> None:
    req = request(sale_state=state)
    assert names(req) == ["not_refundable"]
    text = message(req, "not_refundable")
    assert words in text
    assert "Sale 17" in text
    assert not check(req).allowed


def test_in_doubt_names_its_state() -> None:
    assert "in doubt" in message(request(sale_state="in_doubt"), "not_refundable")
    assert "needs review" in message(request(sale_state="needs_review"), "not_refundable")


@pytest.mark.parametrize("kind", ["refund", "reversal", "pre_auth", "gift"])
def test_other_kinds_are_not_refundable(kind: str) -> None:
    req = request(sale_kind=kind)
    assert names(req) == ["not_refundable"]
    assert "only sales and bookings can be refunded" in message(req, "not_refundable")


def test_booking_is_refundable() -> None:
    assert check(request(sale_kind="booking")).allowed


def test_wrong_kind_and_state_are_both_named() -> None:
    text = message(request(sale_kind="reversal", sale_state="declined"), "not_refundable")
    assert "a reversal" in text
    assert "was declined" in text


# --- sale remainder -------------------------------------------------------------------


def test_exactly_the_remainder_is_allowed() -> None:
    req = request(amount=eur("380.00"), refunded=eur("100.00"), reserved=eur("20.00"))
    decision = check(req)
    assert decision.allowed
    assert decision.remainder_after == eur("0.00")


def test_one_cent_over_the_remainder_is_stopped() -> None:
    req = request(amount=eur("400.01"), refunded=eur("100.00"))
    assert names(req) == ["sale_remainder"]
    stop = check(req).stops[0]
    assert stop.limit == eur("400.00")
    assert stop.message == (
        "Refund 400.01 EUR is more than the 400.00 EUR left on sale 17 "
        "(500.00 EUR sold, 100.00 EUR already refunded)."
    )


def test_reserved_refunds_are_counted_and_named() -> None:
    # 500 sold, 100 refunded, 150 with unknown result: 250 left while they are open.
    req = request(amount=eur("250.01"), refunded=eur("100.00"), reserved=eur("150.00"))
    assert names(req) == ["sale_remainder", "unresolved_refunds"]
    remainder = message(req, "sale_remainder")
    assert "250.00 EUR left" in remainder
    assert "500.00 EUR sold" in remainder
    assert "100.00 EUR already refunded" in remainder
    assert "150.00 EUR in refunds with unknown result counted" in remainder
    unresolved = message(req, "unresolved_refunds")
    assert "Refunds of 150.00 EUR" in unresolved
    assert "resolved first" in unresolved
    assert "up to 400.00 EUR" in unresolved
    assert check(replace(req, amount=eur("250.00"))).allowed


def test_unresolved_refunds_not_offered_when_resolving_would_not_help() -> None:
    req = request(amount=eur("450.00"), refunded=eur("100.00"), reserved=eur("50.00"))
    assert names(req) == ["sale_remainder"]


def test_fully_refunded_sale() -> None:
    req = request(amount=None, refunded=eur("500.00"))
    decision = check(req)
    assert not decision.allowed
    assert decision.amount == eur("0.00")
    assert names(req) == ["sale_remainder"]
    assert message(req, "sale_remainder") == (
        "Sale 17 is already fully refunded (500.00 EUR sold, 500.00 EUR already refunded)."
    )
    assert decision.explain().startswith("Nothing can be refunded on sale 17:")
    # The same with an amount asked for.
    assert "already fully refunded" in message(
        request(amount=eur("1.00"), refunded=eur("500.00")), "sale_remainder"
    )


def test_nothing_left_while_refunds_are_unresolved() -> None:
    req = request(amount=None, refunded=eur("200.00"), reserved=eur("300.00"))
    decision = check(req)
    assert decision.amount == eur("0.00")
    assert names(req) == ["sale_remainder", "unresolved_refunds"]
    assert "Nothing is left to refund on sale 17" in message(req, "sale_remainder")
    assert "up to 300.00 EUR" in message(req, "unresolved_refunds")


# --- per-refund limit and the split plan ----------------------------------------------


def test_exactly_the_per_refund_limit_is_allowed() -> None:
    assert check(request(amount=eur("200.00"), per_refund_limit=eur("200.00"))).allowed


def test_one_cent_over_the_per_refund_limit_offers_a_plan() -> None:
    req = request(amount=eur("200.01"), per_refund_limit=eur("200.00"))
    decision = check(req)
    assert not decision.allowed
    assert names(req) == ["per_refund_limit"]
    assert decision.stops[0].limit == eur("200.00")
    assert decision.stops[0].message == (
        "Refund 200.01 EUR is over the terminal's per-refund limit of 200.00 EUR."
    )
    assert decision.plan == (eur("100.01"), eur("100.00"))


def test_plan_from_the_brief() -> None:
    decision = check(request(amount=eur("500.00"), per_refund_limit=eur("200.00")))
    assert decision.plan == (eur("166.67"), eur("166.67"), eur("166.66"))
    assert decision.remainder_after == eur("0.00")
    assert decision.explain() == (
        "Refund 500.00 EUR cannot go as one refund:\n"
        "- Refund 500.00 EUR is over the terminal's per-refund limit of 200.00 EUR.\n"
        "Split into 3 refunds: 166.67 EUR + 166.67 EUR + 166.66 EUR\n"
        "Afterwards 0.00 EUR stays refundable on sale 17."
    )


def test_plan_up_to_max_parts() -> None:
    req = request(sale_amount=eur("2000.00"), amount=eur("1000.00"), per_refund_limit=eur("200.00"))
    assert check(req).plan == (eur("200.00"),) * 5
    over = replace(req, amount=eur("1000.01"))
    decision = check(over)
    assert decision.plan == ()
    assert names(over) == ["per_refund_limit", "max_split_parts"]
    assert decision.stops[1].limit == eur("1000.00")
    assert decision.stops[1].message == (
        "Splitting 1000.01 EUR under the per-refund limit of 200.00 EUR would take 6 "
        "refunds, more than the 5 allowed (at most 1000.00 EUR in 5 parts)."
    )
    assert check(replace(over, max_split_parts=6)).plan == (
        eur("166.67"),
        eur("166.67"),
        eur("166.67"),
        eur("166.67"),
        eur("166.67"),
        eur("166.66"),
    )


def test_one_part_allowed_means_no_split() -> None:
    req = request(amount=eur("300.00"), per_refund_limit=eur("200.00"), max_split_parts=1)
    assert names(req) == ["per_refund_limit", "max_split_parts"]
    assert check(req).plan == ()


def test_zero_per_refund_limit_offers_no_plan() -> None:
    req = request(per_refund_limit=eur("0"))
    decision = check(req)
    assert names(req) == ["per_refund_limit"]
    assert decision.plan == ()
    assert "no refunds, not even in parts" in decision.stops[0].message


def test_no_limits_configured() -> None:
    assert check(request(per_refund_limit=None, daily_cap=None, amount=eur("500.00"))).allowed


# --- daily cap ------------------------------------------------------------------------


def test_exactly_the_daily_cap_is_allowed() -> None:
    req = request(amount=eur("200.00"), daily_cap=eur("1000.00"), refunded_today=eur("800.00"))
    assert check(req).allowed


def test_one_cent_over_the_daily_cap_is_stopped() -> None:
    req = request(amount=eur("200.01"), daily_cap=eur("1000.00"), refunded_today=eur("800.00"))
    assert names(req) == ["daily_cap"]
    stop = check(req).stops[0]
    assert stop.limit == eur("1000.00")
    assert stop.message == (
        "Refund 200.01 EUR would take today's refunds to 1000.01 EUR, over the hotel's "
        "daily refund cap of 1000.00 EUR: 800.00 EUR is already refunded or pending today, "
        "so 200.00 EUR is left today."
    )


def test_daily_cap_reached() -> None:
    req = request(amount=eur("0.01"), daily_cap=eur("1000.00"), refunded_today=eur("1000.00"))
    assert "nothing is left today" in message(req, "daily_cap")


def test_split_does_not_get_around_the_daily_cap() -> None:
    req = request(
        amount=eur("300.00"),
        per_refund_limit=eur("200.00"),
        daily_cap=eur("1000.00"),
        refunded_today=eur("800.00"),
    )
    decision = check(req)
    assert names(req) == ["per_refund_limit", "daily_cap"]
    assert decision.plan == ()
    assert "Split" not in decision.explain()


def test_split_does_not_get_around_the_sale_remainder() -> None:
    req = request(amount=eur("300.00"), per_refund_limit=eur("200.00"), refunded=eur("250.00"))
    decision = check(req)
    assert names(req) == ["sale_remainder", "per_refund_limit"]
    assert decision.plan == ()


# --- currencies -----------------------------------------------------------------------


def test_refund_in_another_currency() -> None:
    req = request(amount=Money.parse("100.00", "USD"))
    decision = check(req)
    assert names(req) == ["currency"]
    assert decision.stops[0].message == (
        "Sale 17 is in EUR, but the requested refund is 100.00 USD; "
        "a refund is only checked in the sale's currency."
    )
    assert decision.remainder_after == eur("500.00")


def test_limits_in_another_currency_are_named_together() -> None:
    req = request(
        amount=eur("300.00"),
        per_refund_limit=Money.parse("200.00", "CHF"),
        daily_cap=Money.parse("100.00", "CHF"),
    )
    decision = check(req)
    assert names(req) == ["currency"]
    text = decision.stops[0].message
    assert "the terminal's per-refund limit is 200.00 CHF" in text
    assert "the hotel's daily refund cap is 100.00 CHF" in text
    assert decision.plan == ()


def test_todays_total_in_another_currency() -> None:
    req = request(refunded_today=Money.parse("10.00", "USD"))
    assert names(req) == ["currency"]
    assert "today's refund total is 10.00 USD" in message(req, "currency")


def test_earlier_refunds_in_another_currency_are_refused_outright() -> None:
    with pytest.raises(AmountError, match=r"refunded 1\.00 USD of sale 17"):
        request(refunded=Money.parse("1.00", "USD"))


def test_other_minor_units() -> None:
    req = RefundRequest(
        sale_id=3,
        sale_state="approved",
        sale_kind="booking",
        sale_amount=Money.parse("50000", "JPY"),
        refunded=Money(0, "JPY"),
        reserved=Money(0, "JPY"),
        amount=None,
        per_refund_limit=Money.parse("20000", "JPY"),
        daily_cap=None,
        refunded_today=Money(0, "JPY"),
    )
    decision = check(req)
    assert [str(part) for part in decision.plan] == ["16667 JPY", "16667 JPY", "16666 JPY"]


# --- every stop at once ---------------------------------------------------------------


def test_all_stops_are_reported() -> None:
    req = request(
        sale_state="in_doubt",
        amount=eur("390.00"),  # over the 350.00 left, within 400.00 if unresolved ones fail
        refunded=eur("100.00"),
        reserved=eur("50.00"),
        per_refund_limit=eur("75.00"),  # 6 parts, one more than allowed
        daily_cap=eur("1000.00"),
        refunded_today=eur("700.00"),
    )
    decision = check(req)
    assert names(req) == [
        "not_refundable",
        "sale_remainder",
        "unresolved_refunds",
        "per_refund_limit",
        "max_split_parts",
        "daily_cap",
    ]
    assert decision.plan == ()
    lines = decision.explain().splitlines()
    assert lines[0] == "Refund 390.00 EUR is stopped:"
    assert lines[1:] == [f"- {stop.message}" for stop in decision.stops]


def test_currency_with_other_stops() -> None:
    req = request(sale_state="declined", daily_cap=Money.parse("10.00", "USD"))
    assert names(req) == ["not_refundable", "currency"]


def test_huge_split_is_counted_not_built() -> None:
    req = request(
        sale_amount=eur("9999999999.99"),
        amount=eur("9999999999.99"),
        per_refund_limit=eur("0.01"),
        daily_cap=None,
    )
    decision = check(req)
    assert names(req) == ["per_refund_limit", "max_split_parts"]
    assert "would take 999999999999 refunds" in decision.stops[1].message


# --- JSON -----------------------------------------------------------------------------


def test_as_dict_is_json_ready() -> None:
    decision = check(request(amount=eur("300.00"), per_refund_limit=eur("200.00")))
    body = json.loads(json.dumps(decision.as_dict()))
    assert body["allowed"] is False
    assert body["amount"] == {"amount": "300.00", "currency": "EUR"}
    assert body["plan"] == [
        {"amount": "150.00", "currency": "EUR"},
        {"amount": "150.00", "currency": "EUR"},
    ]
    assert body["remainder_after"] == {"amount": "200.00", "currency": "EUR"}
    assert body["stops"] == [
        {
            "name": "per_refund_limit",
            "limit": {"amount": "200.00", "currency": "EUR"},
            "message": "Refund 300.00 EUR is over the terminal's per-refund limit of 200.00 EUR.",
        }
    ]
    assert body["sale_id"] == 17
    assert body["explanation"] == decision.explain()


def test_as_dict_currency_stop_has_no_limit() -> None:
    body = check(request(amount=Money.parse("1.00", "USD"))).as_dict()
    assert body["stops"][0]["limit"] is None


# --- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"amount": eur("0")}, "not positive"),
        ({"amount": Money(-1, "EUR")}, "not positive"),
        ({"refunded": Money(-1, "EUR")}, "negative"),
        ({"daily_cap": Money(-1, "EUR")}, "negative"),
        ({"max_split_parts": 0}, "at least 1"),
    ],
)
def test_bad_requests_are_refused(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        request(**changes)


# --- plan_parts -----------------------------------------------------------------------


def test_plan_parts_within_limit_is_one_part() -> None:
    assert plan_parts(eur("200.00"), eur("200.00")) == (eur("200.00"),)
    assert plan_parts(eur("0.01"), eur("200.00")) == (eur("0.01"),)


@pytest.mark.parametrize(
    ("amount", "limit", "match"),
    [
        (eur("0"), eur("1.00"), "nothing to split"),
        (eur("1.00"), eur("0"), "no part can fit"),
        (eur("1.00"), Money.parse("1.00", "USD"), "different currencies"),
    ],
)
def test_plan_parts_refuses(amount: Money, limit: Money, match: str) -> None:
    with pytest.raises(AmountError, match=match):
        plan_parts(amount, limit)


@given(
    amount=st.integers(min_value=1, max_value=10**12),
    parts_wanted=st.integers(min_value=1, max_value=500),
    slack=st.integers(min_value=0, max_value=10**6),
)
def test_plan_parts_properties(amount: int, parts_wanted: int, slack: int) -> None:
    limit = max(1, amount // parts_wanted) + slack  # keeps the plan small enough to build
    parts = plan_parts(Money(amount, "EUR"), Money(limit, "EUR"))
    minors = [part.minor for part in parts]
    assert sum(minors) == amount
    assert all(0 < minor <= limit for minor in minors)
    assert len(parts) == -(-amount // limit)  # the fewest parts that fit
    assert max(minors) - min(minors) <= 1
    assert minors == sorted(minors, reverse=True)
    assert {part.currency for part in parts} == {"EUR"}
