"""The store: the settings that make a returned call durable, what a second
connection sees, and write transactions that land whole or not at all."""

from __future__ import annotations

import threading
import time

import pytest

from posdriver.journal import (
    InvalidTransition,
    Journal,
    JournalReplaced,
    Kind,
    State,
    UnknownTransaction,
)
from tests.support.clock import Clock

from .helpers import count_rows, eur


def test_the_connection_is_wal_with_full_sync(journal: Journal) -> None:
    conn = journal._conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000


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


def test_a_waiter_wakes_on_the_commit_it_waits_for(journal: Journal) -> None:
    """The wait is told of each commit: it ends at once, long before its own look at the
    file (``recheck``) would have come round."""
    op = journal.begin(Kind.SALE, eur("2.00"))
    looked = threading.Event()
    woke: list[float] = []

    def sent() -> bool:
        looked.set()
        return journal.get(op.id).state is State.SENT

    def waiter() -> None:
        settled = journal.wait_for(sent, timeout=30, recheck=30)
        woke.append(time.monotonic() if settled else -1.0)

    thread = threading.Thread(target=waiter)
    thread.start()
    try:
        assert looked.wait(10)  # it has looked once and found nothing: now it waits
        journal.add_incident(category="note", fault="f", action="a", result="r")  # not it
        committed = time.monotonic()
        journal.transition(op.id, State.SENT)
    finally:
        thread.join(10)
    assert woke and woke[0] > 0, "the waiter did not see the commit"
    assert woke[0] - committed < 5  # not the 30 s of its recheck


def test_a_wait_with_no_commit_times_out_and_says_so(journal: Journal) -> None:
    op = journal.begin(Kind.SALE, eur("2.00"))
    started = time.monotonic()
    assert not journal.wait_for(lambda: journal.get(op.id).state is State.SENT, timeout=0.3)
    assert 0.3 <= time.monotonic() - started < 5
    assert journal.wait_for(lambda: True, timeout=0)  # what holds already is not waited for


def test_a_wait_sees_another_connections_write_by_looking_again(journal: Journal) -> None:
    """A write by another connection (another process) is not announced here: the
    wait's recheck finds it."""
    other = Journal(journal.path)
    op = journal.begin(Kind.SALE, eur("2.00"))
    looks: list[State] = []

    def sent() -> bool:
        looks.append(journal.get(op.id).state)
        if len(looks) == 1:
            other.transition(op.id, State.SENT)  # after the first look, unannounced
        return looks[-1] is State.SENT

    try:
        assert journal.wait_for(sent, timeout=5, recheck=0.05)
        assert looks[0] is State.PENDING and looks[-1] is State.SENT
    finally:
        other.close()


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_nothing_is_committed_to_a_journal_file_deleted_or_replaced_under_it(
    journal: Journal, how: str
) -> None:
    """A commit there would be durable in a file no one reads and that is gone at the
    next start: the operation's intent must not count as journaled (nor any later fact
    of one already sent, which then stays where the readable file has it)."""
    sent = journal.begin(Kind.SALE, eur("5.00"))
    journal.transition(sent.id, State.SENT)
    moved = journal.path.with_suffix(".moved")
    if how == "deleted":
        journal.path.unlink()
    else:
        journal.path.rename(moved)
        journal.path.write_bytes(b"")  # a new file under the old name
    with pytest.raises(JournalReplaced, match=f"{journal.path}.*restore the file"):
        journal.begin(Kind.SALE, eur("6.00"))
    with pytest.raises(JournalReplaced):
        journal.transition(sent.id, State.APPROVED, receipt_no=1)
    assert journal.write_failure is not None and journal.write_errors == 2
    assert journal.get(sent.id).state is State.SENT  # this connection's view, rolled back
    assert journal._conn.execute("SELECT count(*) FROM operations").fetchone()[0] == 1
