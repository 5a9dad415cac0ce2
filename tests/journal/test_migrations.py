"""A journal from an older posdriver is brought forward on open, and nothing in it is lost:
receipt numbers become the references transactions are addressed by."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from posdriver.journal import open_journal
from posdriver.journal.journal import JOURNAL_FILE
from posdriver.journal.schema import CURRENT_VERSION, MIGRATIONS


def _version_1_journal(state: Path) -> None:
    """A journal as the first schema wrote it: a sale approved with receipt 42 and its
    reversal, which refers to that receipt number."""
    state.mkdir(mode=0o700)
    conn = sqlite3.connect(state / JOURNAL_FILE)
    conn.executescript(MIGRATIONS[0])
    conn.execute("PRAGMA user_version = 1")
    at = "2026-11-20T10:00:00.000000+00:00"
    conn.execute(
        "INSERT INTO operations (id, kind, state, amount_minor, currency, terminal, "
        "created_at, updated_at, receipt_no, trace) VALUES "
        "(1, 'sale', 'approved', 1250, 'EUR', 'desk', ?, ?, 42, 7)",
        (at, at),
    )
    conn.execute(
        "INSERT INTO operations (id, kind, state, currency, terminal, created_at, "
        "updated_at, parent_id, ref_receipt_no) VALUES "
        "(2, 'reversal', 'declined', 'EUR', 'desk', ?, ?, 1, 42)",
        (at, at),
    )
    conn.commit()
    conn.close()


def test_receipt_numbers_become_references(tmp_path: Path) -> None:
    state = tmp_path / "state"
    _version_1_journal(state)
    with open_journal(state) as journal:
        sale, reversal = journal.get(1), journal.get(2)
        assert (sale.receipt_no, sale.reference) == (42, "42")
        assert (reversal.ref_receipt_no, reversal.ref_reference) == (42, "42")
        assert [op.id for op in journal.by_reference("desk", "42")] == [1]
        # what the answers show is as it was
        assert "reference" not in sale.as_dict() and sale.as_dict()["receipt_no"] == 42
    conn = sqlite3.connect(state / JOURNAL_FILE)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == CURRENT_VERSION
    conn.close()
