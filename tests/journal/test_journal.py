"""The journal's API on a real SQLite file: operations, lookups, receipts, print jobs,
incidents, refund plans, and the settings that make a returned call durable."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from posdriver.journal import (
    InvalidTransition,
    Journal,
    JournalCorrupt,
    JournalError,
    Kind,
    Operation,
    State,
    UnknownTransaction,
    open_journal,
)
from posdriver.journal.journal import JOURNAL_FILE, Filters, day_bounds
from posdriver.journal.schema import CURRENT_VERSION
from posdriver.journal.states import UNRESOLVED
from posdriver.money import Money
from tests.support.clock import Clock
from tests.support.journal_states import path_to


def eur(text: str) -> Money:
    return Money.parse(text, "EUR")


def approved(journal: Journal, amount: Money, **facts: Any) -> Operation:
    op = journal.begin(Kind.SALE, amount, terminal=str(facts.pop("terminal", "t1")))
    journal.transition(op.id, State.SENT)
    return journal.transition(op.id, State.APPROVED, **facts)


def count_rows(journal: Journal, table: str) -> int:
    raw = sqlite3.connect(journal.path)
    try:
        return int(raw.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        raw.close()


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


# -- receipts ------------------------------------------------------------------------------

LINES = (
    "HOTEL ZUR POST",
    "",
    "Kartenzahlung        12,50 EUR",
    "  trailing spaces kept  ",
    "重印 / DUPLICATE 2024-05-17 11:31",
    "谢谢惠顾，欢迎再次光临",
    'quotes " and \\ backslash, tab\tend',
    "emoji 🧾 and ÄÖÜ ß",
)


def test_a_receipt_round_trips_exactly(journal: Journal) -> None:
    op = approved(journal, eur("12.50"), receipt_no=1)
    stored = journal.add_receipt(op.id, "customer", LINES, "terminal")
    assert stored.lines == LINES
    assert (stored.operation_id, stored.copy, stored.source, stored.reprints) == (
        op.id,
        "customer",
        "terminal",
        0,
    )
    other = Journal(journal.path)
    try:
        assert other.receipt(op.id, "customer") == stored
        assert other.get_receipt(stored.id) == stored
    finally:
        other.close()
    raw = sqlite3.connect(journal.path)
    try:  # stored as readable UTF-8 text, not \\u escapes
        text = raw.execute("SELECT lines FROM receipts WHERE id = ?", (stored.id,)).fetchone()[0]
    finally:
        raw.close()
    assert "谢谢惠顾" in text


def test_a_copy_is_stored_once_and_the_first_is_kept(journal: Journal) -> None:
    op = approved(journal, eur("12.50"))
    first = journal.add_receipt(op.id, "customer", ["first"], "terminal")
    second = journal.add_receipt(op.id, "customer", ["second"], "repeat_receipt")
    assert second == first
    assert journal.receipt(op.id, "customer") == first
    assert count_rows(journal, "receipts") == 1
    details = [e.detail for e in journal.events(op.id) if e.event == "receipt"]
    assert details == [
        "customer copy stored (terminal)",
        "customer copy already stored; this repeat_receipt copy was not kept",
    ]


def test_receipts_of_an_operation_customer_copy_first(journal: Journal) -> None:
    op = approved(journal, eur("12.50"))
    merchant = journal.add_receipt(op.id, "merchant", ["M"], "built")
    customer = journal.add_receipt(op.id, "customer", ["C"], "built")
    assert journal.receipts(op.id) == [customer, merchant]
    assert journal.receipt(op.id) == customer
    other = approved(journal, eur("1.00"))
    assert journal.receipts(other.id) == []
    assert journal.receipt(other.id, "merchant") is None
    with pytest.raises(UnknownTransaction, match="no receipt 99 in the journal"):
        journal.get_receipt(99)


def test_a_receipt_that_the_schema_refuses_leaves_nothing(journal: Journal) -> None:
    op = approved(journal, eur("12.50"))
    history = journal.events(op.id)
    with pytest.raises(JournalError, match="CHECK constraint failed"):
        journal.add_receipt(op.id, "guest", ["x"], "terminal")
    with pytest.raises(UnknownTransaction):
        journal.add_receipt(42, "customer", ["x"], "terminal")
    assert journal.receipts(op.id) == []
    assert journal.events(op.id) == history


def test_reprint_counts_and_queues_a_numbered_reprint(journal: Journal, clock: Clock) -> None:
    op = approved(journal, eur("12.50"), receipt_no=1)
    stored = journal.add_receipt(op.id, "customer", LINES, "terminal")
    first = journal.reprint(op.id, "customer", "p1", "anna")
    second = journal.reprint(op.id, "customer", None, "ben")
    assert (first.purpose, first.reprint_no, first.state, first.printer) == (
        "reprint",
        1,
        "queued",
        "p1",
    )
    assert (second.reprint_no, second.printer) == (2, None)
    assert first.receipt_id == second.receipt_id == stored.id
    assert first.operation_id == op.id
    again = journal.receipt(op.id, "customer")
    assert again is not None
    assert again.reprints == 2
    assert again.lines == LINES  # a reprint prints the stored receipt, unchanged
    reprints = [(e.actor, e.detail) for e in journal.events(op.id) if e.event == "reprint"]
    assert reprints == [("anna", "customer copy, reprint 1"), ("ben", "customer copy, reprint 2")]
    assert [j.id for j in journal.open_jobs()] == [first.id, second.id]


def test_reprint_of_a_copy_never_stored_is_refused(journal: Journal) -> None:
    op = approved(journal, eur("12.50"))
    journal.add_receipt(op.id, "customer", ["C"], "terminal")
    history = journal.events(op.id)
    with pytest.raises(UnknownTransaction, match=f"operation {op.id} has no stored merchant"):
        journal.reprint(op.id, "merchant", "p1", "anna")
    with pytest.raises(UnknownTransaction, match="operation 99 has no stored customer"):
        journal.reprint(99, "customer", "p1", "anna")
    assert journal.jobs_of(op.id) == []
    assert journal.events(op.id) == history
    stored = journal.receipt(op.id)
    assert stored is not None and stored.reprints == 0


# -- print jobs ----------------------------------------------------------------------------


@pytest.fixture
def receipt_id(journal: Journal) -> int:
    op = approved(journal, eur("12.50"), receipt_no=1)
    return journal.add_receipt(op.id, "customer", LINES, "terminal").id


def test_enqueue_makes_an_open_job(journal: Journal, clock: Clock, receipt_id: int) -> None:
    job = journal.enqueue_print(receipt_id, "p1")
    assert (job.state, job.purpose, job.attempts, job.continuation, job.printer) == (
        "queued",
        "original",
        0,
        False,
        "p1",
    )
    assert (job.created_at, job.finished_at, job.last_error) == (clock.now, None, None)
    anywhere = journal.enqueue_print(receipt_id, None)
    elsewhere = journal.enqueue_print(receipt_id, "p2")
    assert [j.id for j in journal.open_jobs()] == [job.id, anywhere.id, elsewhere.id]
    assert [j.id for j in journal.open_jobs("p1")] == [job.id, anywhere.id]
    assert [j.id for j in journal.open_jobs("p2")] == [anywhere.id, elsewhere.id]
    with pytest.raises(JournalError, match="FOREIGN KEY"):
        journal.enqueue_print(999, "p1")
    with pytest.raises(UnknownTransaction, match="no print job 999"):
        journal.job(999)


def test_job_started_counts_attempts_and_a_restart_is_a_continuation(
    journal: Journal, receipt_id: int
) -> None:
    job = journal.enqueue_print(receipt_id, "p1")
    started = journal.job_started(job.id)
    assert (started.state, started.attempts, started.continuation) == ("printing", 1, False)
    assert [j.id for j in journal.open_jobs()] == [job.id]  # printing is still open
    # The process died while printing; at start-up the job is found 'printing' and started
    # again: part of it may be on paper, so it is printed again whole as a continuation.
    restarted = journal.job_started(job.id)
    assert (restarted.state, restarted.attempts, restarted.continuation) == ("printing", 2, True)


def test_job_failed_interrupted_or_not(journal: Journal, receipt_id: int) -> None:
    clean = journal.enqueue_print(receipt_id, "p1")
    journal.job_started(clean.id)
    failed = journal.job_failed(clean.id, "printer offline", interrupted=False)
    assert (failed.state, failed.last_error, failed.continuation, failed.attempts) == (
        "queued",
        "printer offline",
        False,
        1,
    )
    torn = journal.enqueue_print(receipt_id, "p1")
    journal.job_started(torn.id)
    failed = journal.job_failed(torn.id, "paper out mid-receipt", interrupted=True)
    assert (failed.state, failed.continuation) == ("queued", True)
    # Once a continuation, always: a later clean failure does not clear it.
    journal.job_started(torn.id)
    assert journal.job_failed(torn.id, "offline", interrupted=False).continuation is True
    assert [j.id for j in journal.open_jobs()] == [clean.id, torn.id]


def test_give_up_fails_the_job_for_good(journal: Journal, receipt_id: int) -> None:
    job = journal.enqueue_print(receipt_id, "p1")
    journal.job_started(job.id)
    dead = journal.job_failed(job.id, "cover open for 10 min", interrupted=False, give_up=True)
    assert (dead.state, dead.last_error) == ("failed", "cover open for 10 min")
    assert journal.open_jobs() == []
    assert [j.id for j in journal.jobs(states=["failed"])] == [job.id]
    assert journal.counts()["print_failed"] == 1


def test_job_done(journal: Journal, clock: Clock, receipt_id: int) -> None:
    job = journal.enqueue_print(receipt_id, "p1")
    journal.job_started(job.id)
    journal.job_failed(job.id, "paper out", interrupted=True)
    journal.job_started(job.id)
    clock.advance(5)
    done = journal.job_done(job.id)
    assert (done.state, done.finished_at, done.last_error, done.continuation) == (
        "done",
        clock.now,
        None,
        True,
    )
    assert journal.open_jobs() == []
    printed = [e for e in journal.events(done.operation_id) if e.event == "printed"]
    assert [e.detail for e in printed] == [f"print job {job.id} (original, continuation)"]


def test_cancel_and_jobs_of(journal: Journal, receipt_id: int) -> None:
    job = journal.enqueue_print(receipt_id, "p1")
    other = journal.enqueue_print(receipt_id, "p1")
    cancelled = journal.cancel_job(job.id, actor="anna")
    assert cancelled.state == "cancelled"
    assert [j.id for j in journal.open_jobs()] == [other.id]
    op_id = cancelled.operation_id
    last = journal.events(op_id)[-1]
    assert (last.event, last.actor, last.detail) == ("print_cancelled", "anna", str(job.id))
    assert [(j.id, j.state) for j in journal.jobs_of(op_id)] == [
        (job.id, "cancelled"),
        (other.id, "queued"),
    ]
    assert [j.id for j in journal.jobs()] == [other.id, job.id]  # newest first
    assert journal.jobs(limit=1)[0].id == other.id
    assert journal.jobs_of(op_id + 100) == []


def test_counts(journal: Journal, receipt_id: int) -> None:
    base = journal.counts()
    assert base == {s.value: (1 if s is State.APPROVED else 0) for s in State}
    journal.begin(Kind.SALE, eur("1.00"))
    doubt = journal.begin(Kind.SALE, eur("1.00"))
    journal.transition(doubt.id, State.IN_DOUBT)
    queued = journal.enqueue_print(receipt_id, "p1")
    printing = journal.enqueue_print(receipt_id, "p1")
    journal.job_started(printing.id)
    failed = journal.enqueue_print(receipt_id, "p1")
    journal.job_failed(failed.id, "x", interrupted=False, give_up=True)
    done = journal.enqueue_print(receipt_id, "p1")
    journal.job_done(done.id)
    counts = journal.counts()
    assert counts == {
        **{s.value: 0 for s in State},
        "approved": 1,
        "pending": 1,
        "in_doubt": 1,
        "print_queued": 1,
        "print_printing": 1,
        "print_failed": 1,
    }
    assert queued.state == "queued"


# -- incidents -----------------------------------------------------------------------------


def test_add_incident(journal: Journal, clock: Clock) -> None:
    op = journal.begin(Kind.SALE, eur("1.00"))
    inc = journal.add_incident(
        category="device_fault",
        fault="  printer p1: paper out  ",
        action="loaded a new roll",
        result="receipt printed",
        device="p1",
        notes="second time today",
        operation_id=op.id,
        actor="anna",
    )
    assert (inc.at, inc.place, inc.device, inc.category) == (
        clock.now,
        "front desk 1",
        "p1",
        "device_fault",
    )
    assert (inc.fault, inc.action, inc.result) == (
        "printer p1: paper out",
        "loaded a new roll",
        "receipt printed",
    )
    assert (inc.notes, inc.operation_id, inc.actor) == ("second time today", op.id, "anna")
    assert (
        journal.add_incident(
            category="note", fault="f", action="a", result="r", place="back office"
        ).place
        == "back office"
    )


@pytest.mark.parametrize("field", ["fault", "action", "result"])
@pytest.mark.parametrize("blank", ["", "   ", "\n\t"], ids=repr)
def test_an_incident_needs_fault_action_and_result(
    journal: Journal, field: str, blank: str
) -> None:
    given = {"fault": "f", "action": "a", "result": "r", field: blank}
    with pytest.raises(ValueError, match=f"an incident needs a {field}"):
        journal.add_incident(
            category="manual", fault=given["fault"], action=given["action"], result=given["result"]
        )
    assert journal.incidents() == []


def test_incidents_since_and_limit(journal: Journal, clock: Clock) -> None:
    made = []
    for n in range(5):
        made.append(journal.add_incident(category="note", fault=f"f{n}", action="a", result="r"))
        clock.advance(60)
    assert journal.incidents() == made
    assert journal.incidents(since=made[2].at) == made[2:]
    assert journal.incidents(since=made[2].at + timedelta(microseconds=1)) == made[3:]
    assert journal.incidents(limit=2) == made[3:]  # the latest two, oldest first
    assert journal.incidents(since=made[1].at, limit=3) == made[2:]
    assert journal.incidents(since=made[4].at, limit=3) == made[4:]
    assert journal.incidents(since=clock.now) == []


# -- refund plans --------------------------------------------------------------------------


def test_refund_plans(journal: Journal, clock: Clock) -> None:
    sale = approved(journal, eur("700.00"))
    plan = journal.create_plan(sale.id, [eur("500.00"), eur("200.00")], "anna")
    assert (plan.sale_id, plan.parts, plan.state, plan.actor, plan.created_at) == (
        sale.id,
        (eur("500.00"), eur("200.00")),
        "open",
        "anna",
        clock.now,
    )
    last = journal.events(sale.id)[-1]
    assert (last.event, last.detail) == ("refund_plan", f"plan {plan.id}: 500.00 EUR + 200.00 EUR")
    other = journal.create_plan(sale.id, [eur("1.00")], None)
    assert journal.plans_of(sale.id) == [plan, other]
    assert journal.open_plans() == [plan, other]
    assert journal.plan(plan.id) == plan
    done = journal.set_plan_state(plan.id, "done")
    assert done.state == "done"
    assert journal.open_plans() == [other]
    with pytest.raises(JournalError, match="CHECK constraint failed"):
        journal.set_plan_state(other.id, "finished")
    assert journal.plan(other.id).state == "open"
    with pytest.raises(UnknownTransaction, match="no refund plan 99"):
        journal.plan(99)
    with pytest.raises(UnknownTransaction, match="no refund plan 99"):
        journal.set_plan_state(99, "done")


def test_a_refund_plan_is_refused_unless_its_parts_fit_the_sale(journal: Journal) -> None:
    sale = approved(journal, eur("700.00"))
    with pytest.raises(ValueError, match="at least one part"):
        journal.create_plan(sale.id, [], "anna")
    with pytest.raises(ValueError, match="must be a positive Money"):
        journal.create_plan(sale.id, [eur("5.00"), Money(0, "EUR")], "anna")
    with pytest.raises(ValueError, match=f"operation {sale.id} must be in EUR"):
        journal.create_plan(sale.id, [eur("500.00"), Money(20000, "USD")], "anna")
    with pytest.raises(UnknownTransaction, match="no operation 99"):
        journal.create_plan(99, [eur("1.00")], "anna")
    assert journal.plans_of(sale.id) == []
    assert [e.event for e in journal.events(sale.id)] == ["created", "state", "state"]


# -- durability ----------------------------------------------------------------------------


def test_the_connection_is_wal_with_full_sync(journal: Journal) -> None:
    conn = journal._conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000


def test_state_dir_and_files_are_private_even_under_umask_022(tmp_dir: Path) -> None:
    old = os.umask(0o022)
    try:
        j = open_journal(tmp_dir / "deep" / "state")
        try:
            j.begin(Kind.SALE, eur("1.00"))
            state = tmp_dir / "deep" / "state"
            assert stat.S_IMODE(state.stat().st_mode) == 0o700
            for name in (JOURNAL_FILE, f"{JOURNAL_FILE}-wal", f"{JOURNAL_FILE}-shm"):
                assert stat.S_IMODE((state / name).stat().st_mode) == 0o600, name
            backup = j.backup(tmp_dir / "copy.sqlite3")
            assert stat.S_IMODE(backup.stat().st_mode) == 0o600
        finally:
            j.close()
        # A state directory others can read is closed up when the journal opens.
        open_dir = tmp_dir / "loose"
        open_dir.mkdir(mode=0o755)
        assert stat.S_IMODE(open_dir.stat().st_mode) == 0o755
        open_journal(open_dir).close()
        assert stat.S_IMODE(open_dir.stat().st_mode) == 0o700
    finally:
        os.umask(old)


def test_a_second_connection_sees_committed_writes_at_once(journal: Journal, clock: Clock) -> None:
    other = Journal(journal.path, clock=clock)
    try:
        op = journal.begin(Kind.SALE, eur("12.50"))
        assert other.get(op.id) == op
        other.transition(op.id, State.SENT)
        assert journal.get(op.id).state is State.SENT
        stored = other.add_receipt(op.id, "customer", ["x"], "built")
        assert journal.receipt(op.id) == stored
        assert other.last_commit == clock.now
    finally:
        other.close()


def test_an_exception_in_an_outer_atomic_undoes_the_inner_writes(journal: Journal) -> None:
    kept = journal.begin(Kind.SALE, eur("1.00"))
    kept_events = journal.events(kept.id)
    with pytest.raises(RuntimeError, match="power cut"), journal.atomic():
        op = journal.begin(Kind.SALE, eur("2.00"))
        journal.transition(op.id, State.SENT)
        with journal.atomic():
            journal.add_receipt(op.id, "customer", ["x"], "terminal")
            journal.add_incident(category="note", fault="f", action="a", result="r")
        journal.transition(kept.id, State.ABORTED)
        raise RuntimeError("power cut")
    assert [o.id for o in journal.search()] == [kept.id]
    assert journal.get(kept.id).state is State.PENDING
    assert journal.events(kept.id) == kept_events
    assert journal.incidents() == []
    for table in ("operations", "events", "receipts", "incidents"):
        assert count_rows(journal, table) == (1 if table in ("operations", "events") else 0)
    # and the journal goes on working
    assert journal.begin(Kind.SALE, eur("3.00")).state is State.PENDING


def test_a_failure_in_an_inner_atomic_rolls_back_the_outer_one_too(journal: Journal) -> None:
    with pytest.raises(InvalidTransition), journal.atomic():
        op = journal.begin(Kind.SALE, eur("2.00"))
        journal.transition(op.id, State.APPROVED)  # not allowed from pending
    assert journal.search() == []


def test_an_atomic_block_commits_once_at_the_end(journal: Journal, clock: Clock) -> None:
    other = Journal(journal.path)
    try:
        with journal.atomic():
            op = journal.begin(Kind.SALE, eur("2.00"))
            assert journal.last_commit is None
            with pytest.raises(UnknownTransaction):
                other.get(op.id)  # not visible before the outer commit
        assert journal.last_commit == clock.now
        assert other.get(op.id) == journal.get(op.id)
    finally:
        other.close()


# -- migrations ----------------------------------------------------------------------------


def _user_version(path: Path) -> int:
    raw = sqlite3.connect(path)
    try:
        return int(raw.execute("PRAGMA user_version").fetchone()[0])
    finally:
        raw.close()


def test_a_fresh_journal_has_the_current_schema_version(tmp_dir: Path) -> None:
    open_journal(tmp_dir / "state").close()
    assert _user_version(tmp_dir / "state" / JOURNAL_FILE) == CURRENT_VERSION


def test_a_journal_from_a_newer_posdriver_is_refused_untouched(tmp_dir: Path) -> None:
    open_journal(tmp_dir / "state").close()
    path = tmp_dir / "state" / JOURNAL_FILE
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {CURRENT_VERSION + 1}")
    raw.close()
    before = path.read_bytes()
    with pytest.raises(JournalError) as raised:
        open_journal(tmp_dir / "state")
    assert type(raised.value) is JournalError
    text = str(raised.value)
    assert text.startswith(str(path))
    assert f"version {CURRENT_VERSION + 1} is newer" in text
    assert path.read_bytes() == before


def test_another_sqlite_database_is_not_taken_for_a_journal(tmp_dir: Path) -> None:
    state = tmp_dir / "state"
    state.mkdir()
    path = state / JOURNAL_FILE
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE guests (name TEXT)")
    raw.execute("INSERT INTO guests VALUES ('Ms Li')")
    raw.commit()
    raw.close()
    before = path.read_bytes()
    with pytest.raises(JournalCorrupt) as raised:
        open_journal(state)
    assert str(raised.value).startswith(f"{path}: is an SQLite database but not a posdriver")
    assert path.read_bytes() == before  # not even switched to WAL
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert raw.execute("SELECT name FROM guests").fetchall() == [("Ms Li",)]
    finally:
        raw.close()


def test_reopening_keeps_everything(tmp_dir: Path, clock: Clock) -> None:
    with open_journal(tmp_dir / "state", clock=clock) as j:
        op = approved(j, eur("12.50"), receipt_no=9, card_last4="4242")
        stored = j.add_receipt(op.id, "customer", LINES, "terminal")
        job = j.enqueue_print(stored.id, "p1")
        inc = j.add_incident(category="note", fault="f", action="a", result="r")
        plan = j.create_plan(op.id, [eur("2.50")], "anna")
        events = j.events(op.id)
    with open_journal(tmp_dir / "state", clock=clock) as j:
        assert j.get(op.id) == op
        assert j.events(op.id) == events
        assert j.receipt(op.id) == stored
        assert j.job(job.id) == job
        assert j.incidents() == [inc]
        assert j.plan(plan.id) == plan
        assert j.find("receipt:9") == op
        assert _user_version(j.path) == CURRENT_VERSION


def _open_together(path: Path, count: int) -> list[Journal]:
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []
    opened: list[Journal] = []

    def open_one() -> None:
        barrier.wait()
        try:
            opened.append(Journal(path))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    if errors:
        for j in opened:
            j.close()
        raise errors[0]
    return opened


@pytest.mark.parametrize("round_no", range(6))
def test_journals_opened_together_on_a_fresh_file_all_work(tmp_dir: Path, round_no: int) -> None:
    """The daemon and a CLI command started together on a fresh install: one migrates,
    the others wait for it and find the schema in place (a race, so several rounds)."""
    path = tmp_dir / JOURNAL_FILE
    opened = _open_together(path, 4)
    try:
        assert len(opened) == 4
        ops = [j.begin(Kind.SALE, eur("1.00")) for j in opened]
        assert [o.id for o in opened[0].search()] == [o.id for o in reversed(ops)]
    finally:
        for j in opened:
            j.close()
    assert _user_version(path) == CURRENT_VERSION
