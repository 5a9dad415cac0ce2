"""Receipts and the print jobs that put them on paper: the ``receipts`` and
``print_jobs`` tables.

A receipt is stored once per copy, exactly as it is to be printed, before any of it goes
to a printer; a print job is a receipt's way to a printer, which survives a restart. A
job found ``printing`` at start-up was interrupted part-way, so it is printed again whole
and marked as a continuation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from .errors import UnknownTransaction
from .operations import record_event, require_operation
from .records import PrintJob, StoredReceipt
from .store import Store


class Printing(Store):
    """The receipts and print jobs family of the journal."""

    _JOB_SELECT = (
        "SELECT print_jobs.*, receipts.operation_id AS operation_id FROM print_jobs "
        "JOIN receipts ON receipts.id = print_jobs.receipt_id"
    )
    _print_queued: Callable[[], None] | None = None  # nobody listens unless told

    def on_print_queued(self, listener: Callable[[], None] | None) -> None:
        """Have ``listener`` called each time a print job is queued through this journal
        (the daemon wakes its print loop with it; None stops it). It runs on the
        queuing thread, possibly inside the transaction that queues the job, so it must
        only signal (set an event), never use the journal: a reader it wakes waits for
        that commit, since every read takes the store's lock, and finds the job there
        (or nothing, if the transaction was rolled back)."""
        self._print_queued = listener

    def add_receipt(
        self, op_id: int, copy: str, lines: Sequence[str], source: str
    ) -> StoredReceipt:
        """Store a receipt exactly as it is to be printed. A copy is stored once; a
        second call for the same copy keeps the first (it may already be on paper)."""
        with self.atomic() as conn:
            require_operation(conn, op_id)
            stored = conn.execute(
                """INSERT INTO receipts (operation_id, copy, source, lines, created_at)
                   VALUES (?, ?, ?, ?, ?) ON CONFLICT (operation_id, copy) DO NOTHING""",
                (op_id, copy, source, json.dumps(list(lines), ensure_ascii=False), self._now()),
            ).rowcount
            detail = (
                f"{copy} copy stored ({source})"
                if stored
                else f"{copy} copy already stored; this {source} copy was not kept"
            )
            record_event(conn, self._now(), op_id, "receipt", None, None, None, detail)
            row = conn.execute(
                "SELECT * FROM receipts WHERE operation_id = ? AND copy = ?", (op_id, copy)
            ).fetchone()
        return StoredReceipt.from_row(row)

    def receipts(self, op_id: int) -> list[StoredReceipt]:
        rows = self._read(
            "SELECT * FROM receipts WHERE operation_id = ? ORDER BY copy = 'merchant', id",
            (op_id,),
        )
        return [StoredReceipt.from_row(r) for r in rows]

    def receipt(self, op_id: int, copy: str = "customer") -> StoredReceipt | None:
        rows = self._read(
            "SELECT * FROM receipts WHERE operation_id = ? AND copy = ?", (op_id, copy)
        )
        return StoredReceipt.from_row(rows[0]) if rows else None

    def get_receipt(self, receipt_id: int) -> StoredReceipt:
        rows = self._read("SELECT * FROM receipts WHERE id = ?", (receipt_id,))
        if not rows:
            raise UnknownTransaction(f"no receipt {receipt_id} in the journal")
        return StoredReceipt.from_row(rows[0])

    def enqueue_print(
        self,
        receipt_id: int,
        printer: str | None,
        *,
        purpose: str = "original",
        reprint_no: int | None = None,
    ) -> PrintJob:
        now = self._now()
        with self.atomic() as conn:
            row = conn.execute(
                """INSERT INTO print_jobs (receipt_id, printer, purpose, reprint_no, state,
                       created_at, updated_at) VALUES (?, ?, ?, ?, 'queued', ?, ?) RETURNING id""",
                (receipt_id, printer, purpose, reprint_no, now, now),
            ).fetchone()
        job = self.job(row[0])
        if self._print_queued is not None:
            self._print_queued()
        return job

    def reprint(self, op_id: int, copy: str, printer: str | None, actor: str | None) -> PrintJob:
        """Count a reprint of a stored receipt and queue it, in one commit."""
        with self.atomic() as conn:
            stored = conn.execute(
                "SELECT * FROM receipts WHERE operation_id = ? AND copy = ?", (op_id, copy)
            ).fetchone()
            if stored is None:
                raise UnknownTransaction(f"operation {op_id} has no stored {copy} receipt")
            number = stored["reprints"] + 1
            conn.execute("UPDATE receipts SET reprints = ? WHERE id = ?", (number, stored["id"]))
            job = self.enqueue_print(stored["id"], printer, purpose="reprint", reprint_no=number)
            record_event(
                conn,
                self._now(),
                op_id,
                "reprint",
                None,
                None,
                actor,
                f"{copy} copy, reprint {number}",
            )
        return job

    def job(self, job_id: int) -> PrintJob:
        rows = self._read(f"{self._JOB_SELECT} WHERE print_jobs.id = ?", (job_id,))
        if not rows:
            raise UnknownTransaction(f"no print job {job_id} in the journal")
        return PrintJob.from_row(rows[0])

    def open_jobs(self, printer: str | None = None) -> list[PrintJob]:
        """Jobs waiting for a printer (queued, or interrupted while printing), oldest first."""
        sql = f"{self._JOB_SELECT} WHERE print_jobs.state IN ('queued', 'printing')"
        params: list[Any] = []
        if printer is not None:
            sql += " AND (print_jobs.printer = ? OR print_jobs.printer IS NULL)"
            params.append(printer)
        return [PrintJob.from_row(r) for r in self._read(sql + " ORDER BY print_jobs.id", params)]

    def jobs(self, *, states: Sequence[str] = (), limit: int = 100) -> list[PrintJob]:
        sql = self._JOB_SELECT
        params: list[Any] = list(states)
        if states:
            sql += f" WHERE print_jobs.state IN ({', '.join('?' * len(states))})"
        sql += f" ORDER BY print_jobs.id DESC LIMIT {int(limit)}"
        return [PrintJob.from_row(r) for r in self._read(sql, params)]

    def jobs_of(self, op_id: int) -> list[PrintJob]:
        rows = self._read(
            f"{self._JOB_SELECT} WHERE receipts.operation_id = ? ORDER BY print_jobs.id", (op_id,)
        )
        return [PrintJob.from_row(r) for r in rows]

    def job_started(self, job_id: int) -> PrintJob:
        """The job is going to the printer now. A job found in this state at start-up was
        interrupted part-way, so it is printed again whole and marked as a continuation."""
        with self.atomic() as conn:
            conn.execute(
                """UPDATE print_jobs SET continuation = continuation OR state = 'printing',
                       state = 'printing', attempts = attempts + 1, updated_at = ?
                   WHERE id = ?""",
                (self._now(), job_id),
            )
        return self.job(job_id)

    def job_done(self, job_id: int) -> PrintJob:
        now = self._now()
        with self.atomic() as conn:
            conn.execute(
                """UPDATE print_jobs SET state = 'done', updated_at = ?, finished_at = ?,
                       last_error = NULL WHERE id = ?""",
                (now, now, job_id),
            )
            job = self.job(job_id)
            record_event(
                conn,
                self._now(),
                job.operation_id,
                "printed",
                None,
                None,
                None,
                f"print job {job_id} ({job.purpose}"
                + (", continuation" if job.continuation else "")
                + ")",
            )
        return self.job(job_id)

    def job_failed(
        self, job_id: int, error: str, *, interrupted: bool, give_up: bool = False
    ) -> PrintJob:
        """An attempt failed. ``interrupted``: part of the receipt may be on paper, so the
        next attempt is a continuation. ``give_up``: the job is failed for good (a person
        can queue a reprint); otherwise it stays queued for the next attempt."""
        state = "failed" if give_up else "queued"
        with self.atomic() as conn:
            conn.execute(
                """UPDATE print_jobs SET state = ?, last_error = ?, updated_at = ?,
                       continuation = continuation OR ? WHERE id = ?""",
                (state, error, self._now(), int(interrupted), job_id),
            )
        return self.job(job_id)

    def cancel_job(self, job_id: int, actor: str | None = None) -> PrintJob:
        with self.atomic() as conn:
            conn.execute(
                "UPDATE print_jobs SET state = 'cancelled', updated_at = ? WHERE id = ?",
                (self._now(), job_id),
            )
            job = self.job(job_id)
            record_event(
                conn,
                self._now(),
                job.operation_id,
                "print_cancelled",
                None,
                None,
                actor,
                str(job_id),
            )
        return job
