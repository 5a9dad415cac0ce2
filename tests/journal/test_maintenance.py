"""Whole-journal care: counts for status and metrics, the online backup and the CSV
export."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import stat
from decimal import Decimal
from pathlib import Path

import pytest

from posdriver.journal import Journal, JournalError, Kind, State
from posdriver.journal.journal import Filters
from posdriver.money import Money
from tests.support.clock import Clock

from .helpers import eur, fill

# -- counts ------------------------------------------------------------------------------


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


# -- backup ------------------------------------------------------------------------------


def test_backup_is_a_journal_with_the_same_rows(journal: Journal, tmp_dir: Path) -> None:
    made = fill(journal, 5)
    jobs = [journal.enqueue_print(journal.receipts(op.id)[0].id, "p1") for op in made[:2]]
    journal.job_started(jobs[0].id)
    journal.add_incident(category="note", fault="f", action="a", result="r")
    journal.create_plan(made[0].id, [Money(50, "EUR"), Money(50, "EUR")], "anna")
    other = Journal(journal.path)  # a write by another process is in it too
    try:
        late = other.begin(Kind.REFUND, Money(50, "EUR"), parent_id=made[0].id)
    finally:
        other.close()

    target = journal.backup(tmp_dir / "backup.sqlite3")

    assert target == tmp_dir / "backup.sqlite3"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    raw = sqlite3.connect(target)
    try:  # a standalone file: no -wal needed beside it
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    finally:
        raw.close()
    copy = Journal(target)
    try:
        ops = journal.search(Filters(limit=None))
        assert late in ops
        assert copy.search(Filters(limit=None)) == ops
        for op in ops:
            assert copy.events(op.id) == journal.events(op.id)
            assert copy.receipts(op.id) == journal.receipts(op.id)
            assert copy.jobs_of(op.id) == journal.jobs_of(op.id)
        assert copy.incidents() == journal.incidents()
        assert copy.open_plans() == journal.open_plans()
        assert copy.counts() == journal.counts()
        assert copy.check() == []
    finally:
        copy.close()


def test_backup_refuses_an_existing_target(journal: Journal, tmp_dir: Path) -> None:
    fill(journal, 1)
    target = tmp_dir / "backup.sqlite3"
    target.write_text("yesterday's backup")
    with pytest.raises(JournalError) as raised:
        journal.backup(target)
    assert str(raised.value) == (f"{target}: already exists; choose a new file for the backup")
    assert target.read_text() == "yesterday's backup"
    with pytest.raises(JournalError, match="already exists"):
        journal.backup(tmp_dir)  # a directory is not overwritten either


def test_backup_into_a_missing_directory_names_it(journal: Journal, tmp_dir: Path) -> None:
    target = tmp_dir / "no" / "such" / "dir" / "backup.sqlite3"
    with pytest.raises(JournalError) as raised:
        journal.backup(target)
    assert str(raised.value).startswith(f"{target}: cannot create the backup")
    assert not target.exists()


# -- CSV export ----------------------------------------------------------------------------

COLUMNS = [
    "id",
    "kind",
    "state",
    "amount",
    "currency",
    "terminal",
    "created_at",
    "updated_at",
    "parent_id",
    "plan_id",
    "plan_part",
    "trace",
    "receipt_no",
    "approval_code",
    "terminal_id",
    "card_brand",
    "card_last4",
    "result_code",
    "reason",
    "doubt_stage",
    "resolved_by",
    "note",
]


def test_export_csv_one_row_per_operation_and_no_card_numbers(
    journal: Journal, clock: Clock
) -> None:
    sale = journal.begin(Kind.SALE, Money(1250, "EUR"), terminal="lobby")
    journal.transition(sale.id, State.SENT, trace=123456)
    journal.transition(
        sale.id,
        State.APPROVED,
        receipt_no=987654,
        card_brand="Mastercard",
        card_last4="0042",
        approval_code="123456",
    )
    cents = journal.begin(Kind.SALE, Money(5, "EUR"))
    yen = journal.begin(Kind.SALE, Money(500, "JPY"))
    booking = journal.begin(Kind.BOOKING, None, currency="EUR", parent_id=sale.id)
    for n in range(110):  # more than a screenful: the export has no default limit
        clock.advance(1)
        journal.begin(Kind.SALE, Money(100 + n, "EUR"))

    out = io.StringIO()
    count = journal.export_csv(out)

    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == COLUMNS
    assert count == len(rows) - 1 == 114
    records = [dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]]
    assert [int(r["id"]) for r in records] == sorted(int(r["id"]) for r in records)  # oldest 1st
    first = records[0]
    assert first["id"] == str(sale.id)
    assert (first["amount"], first["currency"], first["state"]) == ("12.50", "EUR", "approved")
    assert (first["card_brand"], first["card_last4"], first["receipt_no"]) == (
        "Mastercard",
        "0042",
        "987654",
    )
    by_id = {int(r["id"]): r for r in records}
    assert by_id[cents.id]["amount"] == "0.05"
    assert (by_id[yen.id]["amount"], by_id[yen.id]["currency"]) == ("500", "JPY")
    assert by_id[booking.id]["amount"] == ""
    assert by_id[booking.id]["parent_id"] == str(sale.id)
    for r in records:
        if r["amount"]:
            assert Decimal(r["amount"]) > 0
            assert re.fullmatch(r"[0-9]+(\.[0-9]+)?", r["amount"])
    # Card data: a brand and at most four digits, in the one column made for them.
    assert [c for c in COLUMNS if "card" in c or "pan" in c] == ["card_brand", "card_last4"]
    for r in records:
        assert r["card_last4"] == "" or re.fullmatch(r"[0-9]{4}", r["card_last4"])
        for value in r.values():
            assert not re.search(r"[0-9]{12,}", value), value


def test_export_csv_with_filters(journal: Journal) -> None:
    made = fill(journal, 3)
    journal.begin(Kind.SALE, Money(1, "EUR"))
    out = io.StringIO()
    assert journal.export_csv(out, Filters(states=(State.APPROVED,), limit=None)) == 3
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [int(r["id"]) for r in rows] == [op.id for op in made]
    assert [r["amount"] for r in rows] == ["1.00", "1.01", "1.02"]
