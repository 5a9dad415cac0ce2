"""Whole-journal views and care: counts for status and metrics, the file's size, its
integrity check, an online backup and the CSV export.

The size, the integrity check and the backup are of the SQLite file, so this family
sits on :class:`~.store.SqliteStore` (a second store brings its own); the counts and the
export are plain queries over the other families.
"""

from __future__ import annotations

import contextlib
import csv
import os
import sqlite3
import time as monotime
from datetime import datetime
from pathlib import Path
from typing import IO, Protocol

from .errors import JournalCorrupt, JournalError
from .operations import Filters
from .records import Operation, columns
from .states import State
from .store import SqliteStore

# The CSV export's header, in order: an operation's answer less what the export leaves out.
EXPORT_COLUMNS = tuple(c.key for c in columns(Operation) if c.answered and c.exported)


class _Searching(Protocol):
    """What the export needs of the operations family."""

    def search(self, filters: Filters | None = None) -> list[Operation]: ...


class Maintenance(SqliteStore):
    """Whole-journal views and care of the SQLite journal file."""

    def counts(self) -> dict[str, int]:
        """Operations by state and open print jobs by state (for status and metrics)."""
        out = {s.value: 0 for s in State}
        for row in self._read("SELECT state, count(*) FROM operations GROUP BY state"):
            out[row[0]] = row[1]
        for row in self._read(
            "SELECT state, count(*) FROM print_jobs WHERE state IN ('queued', 'printing', "
            "'failed') GROUP BY state"
        ):
            out[f"print_{row[0]}"] = row[1]
        return out

    def last_recorded(self) -> datetime | None:
        """When the journal last recorded anything, read from its records: what a
        daemon just started reports as its last commit until it commits itself, so the
        time since the last commit is known across a restart rather than blank."""
        rows = self._read(
            "SELECT max(at) FROM (SELECT max(updated_at) AS at FROM operations"
            " UNION ALL SELECT max(at) FROM events"
            " UNION ALL SELECT max(created_at) FROM receipts"
            " UNION ALL SELECT max(updated_at) FROM print_jobs"
            " UNION ALL SELECT max(at) FROM incidents"
            " UNION ALL SELECT max(created_at) FROM refund_plans)"
        )
        latest = rows[0][0] if rows else None
        return datetime.fromisoformat(latest) if latest else None

    def size_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                total += os.stat(f"{self.path}{suffix}").st_size
        return total

    def check(self) -> list[str]:
        """SQLite's own integrity check; an empty list means the file is sound. Damage the
        check cannot read past is reported as a problem too, not raised: the caller asked
        what is wrong with the file, and this is the answer."""
        problems, _ = self._run_check("integrity_check")
        return problems

    def quick_check(self, budget: float) -> tuple[list[str], bool]:
        """SQLite's ``quick_check``: every page is read and its structure checked, without
        the cross-check of indexes against tables that makes ``integrity_check`` several
        times slower. For the daemon's start, where a damaged page must be found before
        the first sale meets it; after ``budget`` seconds it gives up rather than hold the
        start back. Returns the problems found and whether the check ran to its end."""
        return self._run_check("quick_check", budget)

    def _run_check(self, pragma: str, budget: float | None = None) -> tuple[list[str], bool]:
        problems: list[str] = []
        deadline = None if budget is None else monotime.monotonic() + budget
        stopped = False

        def over_budget() -> int:
            nonlocal stopped
            stopped = deadline is not None and monotime.monotonic() > deadline
            return int(stopped)

        with self._lock:
            if deadline is not None:
                self._conn.set_progress_handler(over_budget, 1000)
            try:
                for row in self._conn.execute(f"PRAGMA {pragma}"):
                    if row[0] != "ok":
                        problems.append(row[0])
            except sqlite3.Error as exc:
                if stopped:
                    return problems, False
                error = self._translate(exc, "check")
                if not isinstance(error, JournalCorrupt):
                    raise error from exc
                problems.append(f"the integrity check stopped at damage it cannot read ({exc})")
            finally:
                if deadline is not None:
                    self._conn.set_progress_handler(None, 0)
        return problems, True

    def backup(self, dest: str | Path) -> Path:
        """An online, consistent copy (SQLite's backup API) that is itself a journal."""
        target = Path(dest)
        if target.exists():
            raise JournalError(f"{target}: already exists; choose a new file for the backup")
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)
        except OSError as exc:
            raise JournalError(f"{target}: cannot create the backup: {exc.strerror}") from exc
        try:
            copy = sqlite3.connect(target)
            try:
                with self._lock:
                    self._conn.backup(copy)
                copy.execute("PRAGMA journal_mode = DELETE")
            finally:
                copy.close()
        except sqlite3.Error as exc:
            with contextlib.suppress(OSError):
                target.unlink()
            raise JournalError(f"{target}: the backup failed: {exc}") from exc
        return target

    def export_csv(self: _Searching, out: IO[str], filters: Filters | None = None) -> int:
        """All operations (oldest first) as CSV; returns the number of rows."""
        f = filters or Filters(limit=None)
        writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        count = 0
        for op in reversed(self.search(f)):
            writer.writerow(op.as_dict())
            count += 1
        return count
