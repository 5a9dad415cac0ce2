"""Money operations in the journal: begin, attempt, events, find by a person's
reference, search and the unresolved ones."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from posdriver.journal import (
    InvalidTransition,
    Journal,
    JournalError,
    Kind,
    Operation,
    State,
    UnknownTransaction,
)
from posdriver.journal.journal import Filters, day_bounds
from posdriver.journal.states import UNRESOLVED
from posdriver.money import Money
from tests.support.clock import Clock
from tests.support.journal_states import path_to

from .helpers import approved, count_rows, eur

# -- begin / attempt ---------------------------------------------------------------------


def test_begin_writes_a_pending_operation_and_its_created_event(
    journal: Journal, clock: Clock
) -> None:
    op = journal.begin(Kind.SALE, eur("12.50"), terminal="t1", actor="anna")
    assert (op.kind, op.state, op.amount, op.currency, op.terminal) == (
        Kind.SALE,
        State.PENDING,
        Money(1250, "EUR"),
        "EUR",
        "t1",
    )
    assert op.created_at == op.updated_at == clock.now
    [event] = journal.events(op.id)
    assert (event.event, event.from_state, event.to_state, event.actor, event.detail) == (
        "created",
        None,
        "pending",
        "anna",
        "t1",
    )
    other = Journal(journal.path)
    try:
        assert other.get(op.id) == op
    finally:
        other.close()


@pytest.mark.parametrize(
    "amount",
    [Money(0, "EUR"), Money(-100, "EUR"), 12.5, Decimal("12.50"), "12.50", 1250],
    ids=repr,
)
def test_begin_refuses_anything_but_a_positive_money(journal: Journal, amount: object) -> None:
    with pytest.raises(ValueError, match="an operation's amount must be a positive Money"):
        journal.begin(Kind.SALE, amount)  # type: ignore[arg-type]
    assert journal.search() == []
    assert count_rows(journal, "events") == 0


def test_begin_without_an_amount_needs_a_currency(journal: Journal) -> None:
    with pytest.raises(ValueError, match="needs its currency"):
        journal.begin(Kind.BOOKING, None)
    with pytest.raises(ValueError, match="needs its currency"):
        journal.begin(Kind.BOOKING, None, currency="EU")
    op = journal.begin(Kind.BOOKING, None, currency="eur")
    assert (op.amount, op.currency, op.state) == (None, "EUR", State.PENDING)


def test_begin_refuses_an_unknown_kind_and_a_missing_parent(journal: Journal) -> None:
    with pytest.raises(ValueError, match="'gift' is not a valid Kind"):
        journal.begin("gift", eur("1.00"))
    with pytest.raises(UnknownTransaction, match="no operation 99 in the journal"):
        journal.begin(Kind.REFUND, eur("1.00"), parent_id=99)
    assert journal.search() == []


def test_begin_links_children_to_their_sale(journal: Journal) -> None:
    sale = approved(journal, eur("80.00"), receipt_no=10)
    refund = journal.begin(Kind.REFUND, eur("30.00"), parent_id=sale.id, ref_receipt_no=10)
    reversal = journal.begin(Kind.REVERSAL, None, currency="EUR", parent_id=sale.id)
    assert [c.id for c in journal.children(sale.id)] == [refund.id, reversal.id]
    assert (refund.parent_id, refund.ref_receipt_no) == (sale.id, 10)


def test_idempotency_key_is_unique(journal: Journal) -> None:
    first = journal.begin(Kind.SALE, eur("10.00"), idempotency_key="pms-4711")
    with pytest.raises(JournalError) as raised:
        journal.begin(Kind.SALE, eur("10.00"), idempotency_key="pms-4711")
    assert str(journal.path) in str(raised.value)
    assert f"already belongs to operation {first.id}" in str(raised.value)
    assert journal.by_idempotency_key("pms-4711") == first
    assert journal.by_idempotency_key("pms-4712") is None
    assert [op.id for op in journal.search()] == [first.id]
    # The key is unique in the schema too, for writers that bypass the check.
    raw = sqlite3.connect(journal.path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
            raw.execute(
                "INSERT INTO operations (kind, state, currency, created_at, updated_at, "
                "idempotency_key) VALUES ('sale', 'pending', 'EUR', 'x', 'x', 'pms-4711')"
            )
    finally:
        raw.close()


def test_attempt_records_the_terminal_of_a_pending_operation(
    journal: Journal, clock: Clock
) -> None:
    op = journal.begin(Kind.SALE, eur("5.00"), terminal="t1")
    clock.advance(3)
    again = journal.attempt(op.id, "t2", detail="t1 busy, failover to t2")
    assert (again.state, again.terminal, again.updated_at) == (State.PENDING, "t2", clock.now)
    last = journal.events(op.id)[-1]
    assert (last.event, last.from_state, last.to_state, last.detail) == (
        "attempt",
        None,
        None,
        "t1 busy, failover to t2",
    )
    assert journal.attempt(op.id, "t3").terminal == "t3"
    assert journal.events(op.id)[-1].detail == "t3"


@pytest.mark.parametrize("state", [State.SENT, State.IN_DOUBT, State.ABORTED])
def test_attempt_is_only_for_a_pending_operation(journal: Journal, state: State) -> None:
    op = journal.begin(Kind.SALE, eur("5.00"), terminal="t1")
    if state is not State.ABORTED:
        journal.transition(op.id, State.SENT)
    if state is not State.SENT:
        journal.transition(op.id, state)
    before, history = journal.get(op.id), journal.events(op.id)
    with pytest.raises(InvalidTransition, match=f"operation {op.id} is {state.value}; only a"):
        journal.attempt(op.id, "t2")
    assert journal.get(op.id) == before
    assert journal.events(op.id) == history


def test_note_event_and_unknown_operations(journal: Journal) -> None:
    op = journal.begin(Kind.SALE, eur("5.00"))
    journal.note_event(op.id, "note", "guest asked for a copy", actor="anna")
    assert journal.events(op.id)[-1].detail == "guest asked for a copy"
    with pytest.raises(UnknownTransaction, match="no operation 77"):
        journal.note_event(77, "note")
    with pytest.raises(UnknownTransaction, match="no operation 77"):
        journal.get(77)
    with pytest.raises(UnknownTransaction, match="no operation 77"):
        journal.attempt(77, "t1")


def test_unresolved_and_needing_attention(journal: Journal) -> None:
    pending = journal.begin(Kind.SALE, eur("1.00"))
    doubt = journal.begin(Kind.SALE, eur("2.00"))
    journal.transition(doubt.id, State.IN_DOUBT)
    approved(journal, eur("3.00"))
    review = journal.begin(Kind.SALE, eur("4.00"))
    journal.transition(review.id, State.IN_DOUBT)
    journal.transition(review.id, State.NEEDS_REVIEW)
    assert [o.id for o in journal.unresolved()] == [pending.id, doubt.id, review.id]
    assert [o.id for o in journal.needing_attention()] == [doubt.id, review.id]


# -- find ----------------------------------------------------------------------------------


@pytest.fixture
def ops(journal: Journal, clock: Clock) -> dict[str, Operation]:
    """1: receipt 1234; 2: receipt 3 (3 is also a journal id); 3: receipt 500;
    4 and 5: both receipt 777 (two terminals); 6: a reversal (not 'last')."""
    made = {
        "r1234": approved(journal, eur("10.00"), receipt_no=1234),
        "r3": approved(journal, eur("20.00"), receipt_no=3),
        "r500": approved(journal, eur("30.00"), receipt_no=500),
        "r777a": approved(journal, eur("40.00"), receipt_no=777, terminal="t1"),
        "r777b": approved(journal, eur("50.00"), receipt_no=777, terminal="t2"),
    }
    made["reversal"] = journal.begin(Kind.REVERSAL, None, currency="EUR", parent_id=made["r500"].id)
    assert [o.id for o in made.values()] == [1, 2, 3, 4, 5, 6]
    return made


def test_find_last_is_the_newest_transaction_that_is_not_a_reversal(
    journal: Journal, ops: dict[str, Operation]
) -> None:
    assert journal.find("last").id == ops["r777b"].id
    assert journal.find(" LAST ").id == ops["r777b"].id


def test_find_last_in_an_empty_journal(journal: Journal) -> None:
    with pytest.raises(UnknownTransaction, match="no transactions yet"):
        journal.find("last")


@pytest.mark.parametrize("ref", ["1", "id:1", "ID:1", "#1", " 1 ", "receipt:1234", "r1234", "1234"])
def test_find_by_id_or_receipt_number(
    journal: Journal, ops: dict[str, Operation], ref: str
) -> None:
    assert journal.find(ref) == journal.get(ops["r1234"].id)


def test_find_explicit_id_and_receipt_forms_are_never_ambiguous(
    journal: Journal, ops: dict[str, Operation]
) -> None:
    assert journal.find("id:3").id == 3
    assert journal.find("#3").id == 3
    assert journal.find("receipt:3").id == ops["r3"].id == 2
    assert journal.find("500").id == ops["r500"].id  # no op 500: a receipt number
    assert journal.find("id:6").kind is Kind.REVERSAL


def test_find_a_bare_number_that_is_an_id_and_another_receipt_lists_both(
    journal: Journal, ops: dict[str, Operation]
) -> None:
    with pytest.raises(UnknownTransaction) as raised:
        journal.find("3")
    text = str(raised.value)
    assert text.startswith("'3' matches more than one transaction; name one by its journal id:")
    lines = text.splitlines()[1:]
    assert len(lines) == 2
    assert lines[0].split()[0] == "id:3" and "30.00 EUR" in lines[0] and "receipt 500" in lines[0]
    assert lines[1].split()[0] == "id:2" and "20.00 EUR" in lines[1] and "receipt 3" in lines[1]


def test_a_bare_number_that_is_an_ops_own_receipt_number_is_not_ambiguous(
    journal: Journal,
) -> None:
    op = approved(journal, eur("1.00"), receipt_no=1)
    assert journal.find("1") == op


@pytest.mark.parametrize("ref", ["777", "receipt:777", "R777"])
def test_find_two_operations_with_one_receipt_number_lists_both(
    journal: Journal, ops: dict[str, Operation], ref: str
) -> None:
    with pytest.raises(UnknownTransaction) as raised:
        journal.find(ref)
    lines = str(raised.value).splitlines()
    assert lines[0] == f"{ref!r} matches more than one transaction; name one by its journal id:"
    assert sorted(line.split()[0] for line in lines[1:]) == ["id:4", "id:5"]
    assert all("receipt 777" in line for line in lines[1:])


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("id:99", "no transaction with journal id 99"),
        ("#99", "no transaction with journal id 99"),
        ("99", "no transaction with journal id or terminal receipt number 99"),
        ("receipt:99", "no transaction with terminal receipt number 99"),
    ],
)
def test_find_nothing_says_what_was_looked_for(
    journal: Journal, ops: dict[str, Operation], ref: str, message: str
) -> None:
    with pytest.raises(UnknownTransaction, match=message):
        journal.find(ref)


@pytest.mark.parametrize(
    "ref",
    [
        "",
        "   ",
        "abc",
        "12a",
        "receipt:",
        "receipt:abc",
        "id:",
        "-3",
        "1.5",
        "last2",
        "3\n4",
        "١٧",
        "receipt:1234567890",
    ],
    ids=repr,
)
def test_find_garbage_names_the_accepted_forms(
    journal: Journal, ops: dict[str, Operation], ref: str
) -> None:
    with pytest.raises(UnknownTransaction) as raised:
        journal.find(ref)
    text = str(raised.value)
    assert text.startswith(f"{ref!r} does not name a transaction")
    for form in ("17", "id:17", "receipt:1234", "'last'"):
        assert form in text


# -- search --------------------------------------------------------------------------------


def test_search_filters_and_orders_newest_first(journal: Journal, clock: Clock) -> None:
    t0 = clock.now
    a = approved(journal, eur("12.50"), card_last4="4242", terminal="lobby", receipt_no=1)
    clock.advance(3600)
    b = approved(journal, eur("99.00"), card_last4="0042", terminal="bar", receipt_no=2)
    clock.advance(3600)
    c = journal.begin(Kind.REFUND, eur("12.50"), terminal="lobby", parent_id=a.id)
    clock.advance(3600)
    d = journal.begin(Kind.SALE, Money(1250, "USD"), terminal="lobby")
    journal.transition(d.id, State.ABORTED)
    everything = [d.id, c.id, b.id, a.id]

    def ids(**kw: object) -> list[int]:
        return [o.id for o in journal.search(Filters(**kw))]  # type: ignore[arg-type]

    assert ids() == everything
    assert [o.id for o in journal.search()] == everything
    assert ids(since=t0 + timedelta(hours=1)) == [d.id, c.id, b.id]  # since is inclusive
    assert ids(until=t0 + timedelta(hours=1)) == [a.id]  # until is exclusive
    assert ids(since=t0 + timedelta(minutes=1), until=t0 + timedelta(hours=2, minutes=1)) == [
        c.id,
        b.id,
    ]
    assert ids(amount=eur("12.50")) == [c.id, a.id]  # the USD 12.50 is another amount
    assert ids(amount=Money(1250, "USD")) == [d.id]
    assert ids(last4="0042") == [b.id]
    assert ids(last4="9999") == []
    assert ids(states=(State.APPROVED,)) == [b.id, a.id]
    assert ids(states=(State.PENDING, State.ABORTED)) == [d.id, c.id]
    assert ids(kinds=(Kind.REFUND,)) == [c.id]
    assert ids(kinds=(Kind.SALE, Kind.REFUND), terminal="lobby") == [d.id, c.id, a.id]
    assert ids(terminal="bar") == [b.id]
    assert ids(limit=2) == [d.id, c.id]
    assert ids(limit=None) == everything
    assert ids(terminal="lobby", states=(State.APPROVED,), last4="4242", amount=eur("12.50")) == [
        a.id
    ]


def test_search_times_may_be_in_any_zone(journal: Journal, clock: Clock) -> None:
    op = journal.begin(Kind.SALE, eur("1.00"))
    from datetime import timezone

    tokyo = timezone(timedelta(hours=9))
    same_instant = clock.now.astimezone(tokyo)
    assert [o.id for o in journal.search(Filters(since=same_instant))] == [op.id]
    assert journal.search(Filters(until=same_instant)) == []


@pytest.mark.parametrize("bad", ["123", "12345", "abcd", "1234\n"], ids=repr)
def test_search_refuses_a_last4_that_is_not_four_digits(journal: Journal, bad: str) -> None:
    with pytest.raises(ValueError, match="last four digits must be four digits"):
        journal.search(Filters(last4=bad))


@pytest.fixture
def shanghai_time() -> Iterator[None]:
    """Local time UTC+8 (a POSIX TZ string: no time zone database needed)."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "CST-8"
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


def test_day_bounds_is_the_local_calendar_day(shanghai_time: None) -> None:
    start, end = day_bounds(date(2024, 5, 17))
    assert start.utcoffset() == end.utcoffset() == timedelta(hours=8)
    assert (start.year, start.month, start.day, start.hour, start.minute) == (2024, 5, 17, 0, 0)
    assert end - start == timedelta(days=1)
    assert start.astimezone(UTC) == datetime(2024, 5, 16, 16, 0, tzinfo=UTC)


def test_search_one_local_day(journal: Journal, clock: Clock, shanghai_time: None) -> None:
    start, end = day_bounds(date(2024, 5, 17))
    made = {}
    for name, when in (
        ("before", start - timedelta(microseconds=1)),
        ("first", start),
        ("last", end - timedelta(microseconds=1)),
        ("after", end),
    ):
        clock.set(when)
        made[name] = journal.begin(Kind.SALE, eur("1.00")).id
    found = journal.search(Filters(since=start, until=end))
    assert [o.id for o in found] == [made["last"], made["first"]]


def test_refunds_between_counts_approved_and_unresolved_refunds(
    journal: Journal, clock: Clock
) -> None:
    sale = approved(journal, eur("100.00"))
    kept = []
    for state in State:
        op = journal.begin(Kind.REFUND, eur("1.00"), parent_id=sale.id)
        for step in path_to(state)[1:]:
            journal.transition(op.id, step)
        if state is State.APPROVED or state in UNRESOLVED:  # money moved, or may have
            kept.append(op.id)
    clock.advance(60)
    journal.begin(Kind.REFUND, eur("1.00"), parent_id=sale.id)  # after the window
    found = journal.refunds_between(sale.created_at, sale.created_at + timedelta(seconds=1))
    assert sorted(o.id for o in found) == kept
