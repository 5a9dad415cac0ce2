"""Receipts (stored exactly, once per copy) and the print jobs that put them on paper."""

from __future__ import annotations

import sqlite3

import pytest

from posdriver.journal import Journal, JournalError, UnknownTransaction
from tests.support.clock import Clock

from .helpers import LINES, approved, count_rows, eur

# -- receipts ------------------------------------------------------------------------------


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
