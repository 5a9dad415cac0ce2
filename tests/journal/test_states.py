"""The operation state machine, checked on its own and through a real journal file.

Every allowed transition must be journaled as an event (from, to, who, why, when); every
other one must be refused and leave the operation and its history exactly as they were,
because a wrong state is how a charged card gets charged again or never refunded.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone

import pytest

from posdriver.journal import InvalidTransition, Journal, Kind, Operation, State
from posdriver.journal.schema import CURRENT_VERSION
from posdriver.journal.states import (
    FINAL,
    NEEDS_ATTENTION,
    TRANSITIONS,
    UNRESOLVED,
    allowed,
)
from posdriver.money import Money
from tests.support.clock import Clock
from tests.support.journal_states import path_to

ALLOWED = [(old, new) for old in State for new in State if new in TRANSITIONS[old]]
DISALLOWED = [(old, new) for old in State for new in State if new not in TRANSITIONS[old]]


def _pair_id(pair: tuple[State, State]) -> str:
    return f"{pair[0].value}->{pair[1].value}"


def op_in(journal: Journal, state: State) -> Operation:
    """A sale brought to ``state`` by allowed transitions only."""
    op = journal.begin(Kind.SALE, Money(1250, "EUR"), terminal="t1")
    for step in path_to(state)[1:]:
        op = journal.transition(op.id, step)
    assert op.state is state
    return op


# -- the machine itself ----------------------------------------------------------------


def test_every_state_has_a_transition_entry_and_allowed_agrees_with_it() -> None:
    assert set(TRANSITIONS) == set(State)
    for old in State:
        for new in State:
            assert allowed(old, new) is (new in TRANSITIONS[old])


def test_final_and_unresolved_partition_the_states() -> None:
    assert set(State) == FINAL | UNRESOLVED
    assert not FINAL & UNRESOLVED
    assert NEEDS_ATTENTION <= UNRESOLVED
    assert {State.IN_DOUBT, State.NEEDS_REVIEW} == NEEDS_ATTENTION


def test_final_states_have_no_way_out_and_unresolved_ones_always_have_one() -> None:
    for state in FINAL:
        assert TRANSITIONS[state] == frozenset()
    for state in UNRESOLVED:
        assert TRANSITIONS[state], f"{state} is unresolved but can never be resolved"


def test_no_state_moves_to_itself() -> None:
    for state in State:
        assert not allowed(state, state)


def test_every_state_is_reachable_and_every_unresolved_one_can_end() -> None:
    for state in State:
        assert path_to(state)[0] is State.PENDING
    for state in UNRESOLVED:
        seen, todo = {state}, [state]
        while todo:
            for nxt in TRANSITIONS[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        assert seen & FINAL, f"{state} can never reach a final state"


def test_the_documented_transitions_exactly() -> None:
    assert TRANSITIONS[State.PENDING] == {State.SENT, State.ABORTED, State.IN_DOUBT}
    assert TRANSITIONS[State.SENT] == {
        State.APPROVED,
        State.DECLINED,
        State.ABORTED,
        State.IN_DOUBT,
    }
    assert TRANSITIONS[State.IN_DOUBT] == {State.APPROVED, State.DECLINED, State.NEEDS_REVIEW}
    assert TRANSITIONS[State.NEEDS_REVIEW] == {State.APPROVED, State.DECLINED}


def test_state_and_kind_values_are_the_lower_case_strings_the_schema_accepts(
    journal: Journal,
) -> None:
    assert [s.value for s in State] == [
        "pending",
        "sent",
        "approved",
        "declined",
        "aborted",
        "in_doubt",
        "needs_review",
    ]
    assert [k.value for k in Kind] == ["sale", "refund", "reversal", "pre_auth", "booking"]
    raw = sqlite3.connect(journal.path)
    try:
        insert = (
            "INSERT INTO operations (kind, state, currency, created_at, updated_at) "
            "VALUES (?, ?, 'EUR', 'x', 'x')"
        )
        for state in State:
            raw.execute(insert, ("sale", state.value))
        for kind in Kind:
            raw.execute(insert, (kind.value, "pending"))
        for bad_kind, bad_state in (("sale", "APPROVED"), ("sale", "done"), ("gift", "pending")):
            with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
                raw.execute(insert, (bad_kind, bad_state))
        raw.rollback()
    finally:
        raw.close()
    assert CURRENT_VERSION >= 1


# -- through the journal ---------------------------------------------------------------


@pytest.mark.parametrize(("old", "new"), ALLOWED, ids=[_pair_id(p) for p in ALLOWED])
def test_allowed_transition_is_journaled_as_an_event(
    journal: Journal, clock: Clock, old: State, new: State
) -> None:
    op = op_in(journal, old)
    history = journal.events(op.id)
    when = clock.advance(7)

    moved = journal.transition(op.id, new, actor="anna", detail=f"test {old}->{new}")

    assert moved.state is new
    assert moved.updated_at == when
    assert moved.created_at == op.created_at
    # A second connection (as another process would have) sees it committed.
    other = Journal(journal.path, clock=clock)
    try:
        assert other.get(op.id) == moved
        events = other.events(op.id)
    finally:
        other.close()
    assert events[: len(history)] == history
    assert len(events) == len(history) + 1
    event = events[-1]
    assert (event.event, event.from_state, event.to_state, event.actor, event.detail) == (
        "state",
        old.value,
        new.value,
        "anna",
        f"test {old}->{new}",
    )
    assert event.at == when
    assert event.at.tzinfo is not None


@pytest.mark.parametrize(("old", "new"), DISALLOWED, ids=[_pair_id(p) for p in DISALLOWED])
def test_disallowed_transition_is_refused_and_changes_nothing(
    journal: Journal, clock: Clock, old: State, new: State
) -> None:
    op = op_in(journal, old)
    history = journal.events(op.id)
    clock.advance(7)

    with pytest.raises(InvalidTransition) as raised:
        journal.transition(op.id, new, actor="anna", receipt_no=4711, card_last4="1234")

    assert str(raised.value) == (f"operation {op.id} is {old.value} and cannot become {new.value}")
    assert journal.get(op.id) == op  # no state, no facts, no updated_at
    assert journal.events(op.id) == history


def test_the_named_dangerous_moves_are_among_the_refused_ones() -> None:
    for pair in (
        (State.APPROVED, State.DECLINED),
        (State.PENDING, State.APPROVED),
        (State.PENDING, State.DECLINED),
        (State.NEEDS_REVIEW, State.IN_DOUBT),
        (State.IN_DOUBT, State.SENT),
        (State.IN_DOUBT, State.ABORTED),
    ):
        assert pair in DISALLOWED
    for final in FINAL:
        for new in State:
            assert (final, new) in DISALLOWED


def test_a_full_history_reads_back_in_order(journal: Journal, clock: Clock) -> None:
    op = journal.begin(Kind.SALE, Money(9900, "EUR"), terminal="t1", actor="desk")
    chain = [State.SENT, State.IN_DOUBT, State.NEEDS_REVIEW, State.APPROVED]
    for state in chain:
        clock.advance(1)
        journal.transition(op.id, state, actor="desk")
    events = journal.events(op.id)
    assert [(e.event, e.from_state, e.to_state) for e in events] == [
        ("created", None, "pending"),
        ("state", "pending", "sent"),
        ("state", "sent", "in_doubt"),
        ("state", "in_doubt", "needs_review"),
        ("state", "needs_review", "approved"),
    ]
    assert [e.at for e in events] == [op.created_at + timedelta(seconds=i) for i in range(5)]
    assert events[0].detail == "t1"
    assert events[0].actor == "desk"


def test_a_transition_accepts_the_state_as_its_string_value(journal: Journal) -> None:
    op = journal.begin(Kind.SALE, Money(100, "EUR"))
    assert journal.transition(op.id, "sent").state is State.SENT
    with pytest.raises(ValueError, match="'done' is not a valid State"):
        journal.transition(op.id, "done")
    assert journal.get(op.id).state is State.SENT


def test_transition_of_an_unknown_operation_names_it(journal: Journal) -> None:
    from posdriver.journal import UnknownTransaction

    with pytest.raises(UnknownTransaction, match="no operation 42 in the journal"):
        journal.transition(42, State.SENT)


# -- facts recorded with a transition ----------------------------------------------------


def test_facts_are_recorded_with_the_transition(journal: Journal, clock: Clock) -> None:
    op = op_in(journal, State.SENT)
    at_terminal = datetime(2024, 5, 17, 11, 31, 5, 250000, tzinfo=timezone(timedelta(hours=2)))
    done = journal.transition(
        op.id,
        State.APPROVED,
        actor="terminal",
        receipt_no=1234,
        trace=56,
        approval_code="A1B2C3",
        terminal_id="52500001",
        card_brand="Visa",
        card_last4="0042",
        result_code=0,
        terminal_at=at_terminal,
    )
    again = journal.get(op.id)
    assert again == done
    assert (again.receipt_no, again.trace, again.approval_code, again.terminal_id) == (
        1234,
        56,
        "A1B2C3",
        "52500001",
    )
    assert (again.card_brand, again.card_last4, again.result_code) == ("Visa", "0042", 0)
    assert again.card == "Visa **** 0042"
    assert again.terminal_at == at_terminal  # the same instant ...
    assert again.terminal_at is not None
    assert again.terminal_at.utcoffset() == timedelta(0)  # ... stored as UTC
    assert again.terminal_at.astimezone(UTC).hour == 9


def test_a_naive_terminal_time_is_taken_as_local_time(journal: Journal) -> None:
    op = op_in(journal, State.SENT)
    naive = datetime(2024, 5, 17, 11, 31, 5)
    done = journal.transition(op.id, State.DECLINED, terminal_at=naive, result_code=5)
    assert done.terminal_at == naive.astimezone()


def test_facts_given_as_none_do_not_erase_earlier_ones(journal: Journal) -> None:
    op = op_in(journal, State.PENDING)
    journal.transition(op.id, State.SENT, trace=77, terminal_id="52500001")
    later = journal.transition(op.id, State.IN_DOUBT, trace=None, doubt_stage="after_sent")
    assert (later.trace, later.terminal_id, later.doubt_stage) == (77, "52500001", "after_sent")


@pytest.mark.parametrize(
    "bad",
    ["12345", "123", "12a4", "4111111111111111", " 1234", "1234\n", "١٢٣٤", "", 12345, 123],
    ids=repr,
)
def test_card_last4_that_is_not_four_digits_is_refused(journal: Journal, bad: object) -> None:
    op = op_in(journal, State.SENT)
    history = journal.events(op.id)
    with pytest.raises(ValueError, match="card_last4 must be exactly four digits"):
        journal.transition(op.id, State.APPROVED, card_last4=bad, receipt_no=1)
    assert journal.get(op.id) == op
    assert journal.events(op.id) == history


def test_card_last4_as_an_int_of_four_digits_is_kept_as_text(journal: Journal) -> None:
    op = op_in(journal, State.SENT)
    assert journal.transition(op.id, State.APPROVED, card_last4=4242).card_last4 == "4242"


def test_the_schema_itself_refuses_more_than_four_card_digits(journal: Journal) -> None:
    """Even code that bypasses the journal's API cannot store more of a card."""
    op = op_in(journal, State.APPROVED)
    raw = sqlite3.connect(journal.path)
    try:
        insert = (
            "INSERT INTO operations (kind, state, currency, created_at, updated_at, card_last4)"
            " VALUES ('sale', 'approved', 'EUR', 'x', 'x', ?)"
        )
        for bad in ("12345", "123", "12a4", "4111111111111111", "1234\n", "١٢٣٤", ""):
            with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
                raw.execute(insert, (bad,))
        with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
            raw.execute(
                "UPDATE operations SET card_last4 = '4111111111111111' WHERE id = ?", (op.id,)
            )
        raw.execute(insert, ("0042",))  # four digits are fine, leading zero included
        raw.rollback()
    finally:
        raw.close()
    assert journal.get(op.id).card_last4 is None
    assert len(journal.search()) == 1


@pytest.mark.parametrize("name", ["pan", "card_number", "state", "id", "kind", "amount"])
def test_unknown_fact_names_are_refused(journal: Journal, name: str) -> None:
    op = op_in(journal, State.SENT)
    history = journal.events(op.id)
    with pytest.raises(ValueError, match=f"not journal facts: {name}"):
        journal.transition(op.id, State.APPROVED, **{name: "4111111111111111"})
    assert journal.get(op.id) == op
    assert journal.events(op.id) == history


def test_a_fact_refused_by_the_schema_rolls_back_the_whole_transition(journal: Journal) -> None:
    op = op_in(journal, State.SENT)
    history = journal.events(op.id)
    from posdriver.journal import JournalError

    with pytest.raises(JournalError, match="CHECK constraint failed"):
        journal.transition(op.id, State.APPROVED, amount_minor=0)
    assert journal.get(op.id) == op
    assert journal.events(op.id) == history
