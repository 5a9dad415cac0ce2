"""The journal: one SQLite file that remembers every money operation, receipt, print job
and incident, and is on disk before anything is acted on.

Why these settings:

* ``journal_mode=WAL`` and ``synchronous=FULL``: each commit is fsynced to the WAL, so a
  transition this module returned from survives a power cut or SIGKILL, and readers
  (``txn list``, the daemon's metrics) never block the writer.
* ``BEGIN IMMEDIATE`` for every write: a second process (a CLI command next to the
  daemon) queues on the write lock at the start of a transaction instead of failing
  half-way through it; ``busy_timeout`` bounds the wait.
* The state directory is created ``0700`` and the files ``0600``: receipts are not card
  data, but they are guests' business.

Every sqlite3 failure leaves as a :class:`~.errors.JournalError` subclass that names the
file and what is wrong (corrupt, read-only, full, locked); a failed write is rolled back
whole, so nothing is half-written.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import json
import os
import re
import shutil
import socket
import sqlite3
import stat
import tempfile
import threading
import time as monotime
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import IO, Any, TypeVar

from ..money import Money
from .errors import (
    InvalidTransition,
    JournalCorrupt,
    JournalError,
    JournalFull,
    JournalLocked,
    JournalReadOnly,
    JournalStorageError,
    UnknownTransaction,
)
from .records import Event, Incident, Operation, PrintJob, RefundPlan, StoredReceipt
from .schema import CURRENT_VERSION, MIGRATIONS
from .states import NEEDS_ATTENTION, UNRESOLVED, Kind, State, allowed

JOURNAL_FILE = "journal.sqlite3"
BUSY_TIMEOUT_MS = 10_000

# Facts a transition may record about an operation (columns of ``operations``).
FACT_COLUMNS = frozenset(
    {
        "amount_minor",
        "trace",
        "receipt_no",
        "approval_code",
        "terminal_id",
        "card_brand",
        "card_last4",
        "result_code",
        "reason",
        "doubt_stage",
        "terminal_at",
        "resolved_by",
        "note",
    }
)
# ASCII digits and fullmatch: ``\d`` takes other scripts' digits and ``$`` a trailing
# newline, neither of which the schema's CHECK (or a terminal) accepts.
_LAST4 = re.compile(r"[0-9]{4}")
_TXN_ID = re.compile(r"(?:id:|#)?([0-9]{1,18})", re.IGNORECASE)
_TXN_RECEIPT = re.compile(r"(?:receipt:|r)([0-9]{1,9})", re.IGNORECASE)

T = TypeVar("T")
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.astimezone()
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def default_place() -> str:
    """Where the incident happened, for the fault record: this desk's host name."""
    return socket.gethostname() or "front desk"


@dataclass(frozen=True)
class WriteFailure:
    """The journal's last failed write: what it said (naming the file) and when (unix
    time)."""

    text: str
    at: float


def _identity(path: Path) -> tuple[int, int] | None:
    """The file's device and inode, or None when it is gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


@dataclass(frozen=True)
class Filters:
    """``txn list`` filters; ``None`` means any."""

    since: datetime | None = None
    until: datetime | None = None
    amount: Money | None = None
    last4: str | None = None
    states: tuple[State, ...] = ()
    kinds: tuple[Kind, ...] = ()
    terminal: str | None = None
    limit: int | None = 100


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """A local calendar day as [start, end) aware datetimes."""
    start = datetime.combine(day, time.min).astimezone()
    return start, datetime.combine(day + timedelta(days=1), time.min).astimezone()


class Journal:
    """The journal file, opened. Thread-safe: one connection behind a lock (the writes
    are short; fsync dominates them)."""

    def __init__(self, path: Path, *, clock: Clock = utc_now, place: str | None = None) -> None:
        self.path = Path(path)
        self.clock = clock
        self.place = place or default_place()
        self._lock = threading.RLock()
        self._depth = 0
        self._conn = self._connect()
        self.last_commit: datetime | None = None
        # what the journal check reads: storage failures since the start, and the one that
        # stands now (cleared by the next write that commits)
        self.write_errors = 0
        self.write_failure: WriteFailure | None = None
        self.identity = _identity(self.path)

    # -- opening -----------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise self._translate(exc, "open") from exc
        conn.row_factory = sqlite3.Row
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            # Refuse a file that is not ours (or is from a newer posdriver) before the
            # switch to WAL below writes to it: a refused file is left exactly as it was.
            self._schema_version(conn)
            mode = self._switch_to_wal(conn)
            if mode.lower() != "wal":
                raise JournalError(f"{self.path}: could not switch the journal to WAL mode")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._migrate(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise self._translate(exc, "open") from exc
        except JournalError:
            conn.close()
            raise
        return conn

    @staticmethod
    def _switch_to_wal(conn: sqlite3.Connection) -> str:
        """``PRAGMA journal_mode = WAL``, waiting like any other write. SQLite answers
        "locked" at once (without the busy handler) while another connection reads a file
        still in rollback mode: two processes opening a fresh journal together."""
        deadline = monotime.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc).lower() or monotime.monotonic() > deadline:
                    raise
            monotime.sleep(0.01)

    def _schema_version(self, conn: sqlite3.Connection) -> int:
        """The journal's schema version; refuses a newer journal and a foreign database."""
        # One statement, so one read transaction: the version and the tables agree even
        # while another process is migrating the file.
        version, tables = conn.execute(
            "SELECT (SELECT user_version FROM pragma_user_version), "
            "(SELECT count(*) FROM sqlite_master)"
        ).fetchone()
        if version > CURRENT_VERSION:
            raise JournalError(
                f"{self.path}: journal schema version {version} is newer than this posdriver "
                f"understands ({CURRENT_VERSION}); upgrade posdriver, do not edit the file"
            )
        if version == 0 and tables:
            raise JournalCorrupt(
                f"{self.path}: is an SQLite database but not a posdriver journal "
                "(it has tables and no journal schema version); check state_dir in the "
                "configuration (or --state-dir): it must name posdriver's own directory"
            )
        return int(version)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        if self._schema_version(conn) == CURRENT_VERSION:
            return
        while True:
            conn.execute("BEGIN IMMEDIATE")
            try:
                # Read again under the write lock: another process (the daemon and a CLI
                # command started together on a fresh install) may have migrated since.
                number = self._schema_version(conn)
                if number == CURRENT_VERSION:
                    conn.execute("COMMIT")
                    return
                for statement in _statements(MIGRATIONS[number]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number + 1}")
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock, contextlib.suppress(sqlite3.Error):
            self._conn.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- errors ------------------------------------------------------------------------
    def _translate(self, exc: sqlite3.Error, doing: str) -> JournalError:
        text = str(exc)
        low = text.lower()
        where = f"{self.path}"
        if "not a database" in low or "malformed" in low or "corrupt" in low:
            return JournalCorrupt(
                f"{where}: the journal file is damaged or not a journal ({text}); "
                "restore it from a backup (posdriver journal backup) and keep the damaged copy"
            )
        if "readonly" in low or "read-only" in low:
            return JournalReadOnly(
                f"{where}: the journal cannot be written ({text}); {_why_read_only(self.path)}"
            )
        if "disk i/o" in low and not _nearly_full(self.path):
            return JournalStorageError(
                f"{where}: the disk failed while writing the journal ({text}); the last "
                "change was NOT recorded: check the disk (dmesg, SMART) before going on"
            )
        if "full" in low or "disk i/o" in low:
            return JournalFull(
                f"{where}: no space left to write the journal ({text}); the last change "
                "was NOT recorded: free disk space before going on"
            )
        if "locked" in low or "busy" in low:
            return JournalLocked(
                f"{where}: the journal stayed locked by another process for "
                f"{BUSY_TIMEOUT_MS / 1000:g} s ({text})"
            )
        if "unable to open" in low:
            return JournalReadOnly(
                f"{where}: cannot open the journal ({text}); {_why_read_only(self.path)}"
            )
        return JournalStorageError(f"{where}: {doing} failed: {text}")

    # -- transactions ------------------------------------------------------------------
    @contextlib.contextmanager
    def atomic(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (fsynced on commit); nested uses join the outer one, so
        a state change, its receipts and its print job land together or not at all."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._conn
                finally:
                    self._depth -= 1
                return
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._write_failed(self._translate(exc, "begin")) from exc
            self._depth = 1
            try:
                yield self._conn
                self._conn.execute("COMMIT")
                self.last_commit = self.clock()
                self.write_failure = None
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise self._write_failed(self._translate(exc, "write")) from exc
                if isinstance(exc, JournalStorageError):  # a claim's lock file, say
                    self._write_failed(exc)
                raise
            finally:
                self._depth = 0

    def _write_failed(self, error: JournalError) -> JournalError:
        """Remember a failed write for the journal check (a refusal such as an invalid
        transition is not one: only the file or its disk failing counts)."""
        if isinstance(error, JournalStorageError):
            self.write_errors += 1
            self.write_failure = WriteFailure(str(error), monotime.time())
        return error

    def probe(self) -> None:
        """One real write, fsynced like any commit (the schema version written again, so
        no record changes), to learn whether the journal takes writes now: the daemon's
        journal check runs it while the last write failed and when the journal has been
        quiet for a while. Raises the :class:`JournalStorageError` it meets. Not counted
        as a commit in ``last_commit``, which says when the journal last recorded
        something."""
        with self._lock:
            if self._depth:
                return  # a write is in progress on this connection: it will tell
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
                    self._conn.execute(f"PRAGMA user_version = {version}")
                    self._conn.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        self._conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise self._write_failed(self._translate(exc, "probe")) from exc
            self.write_failure = None

    def replaced(self) -> bool:
        """Whether the journal file was deleted or replaced since it was opened: this
        connection would go on writing to a file nobody else can read."""
        return _identity(self.path) != self.identity

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise self._translate(exc, "read") from exc

    def _now(self) -> str:
        return _iso(self.clock())

    # -- operations --------------------------------------------------------------------
    def begin(
        self,
        kind: Kind | str,
        amount: Money | None,
        *,
        currency: str | None = None,
        terminal: str | None = None,
        parent_id: int | None = None,
        ref_receipt_no: int | None = None,
        plan_id: int | None = None,
        plan_part: int | None = None,
        idempotency_key: str | None = None,
        actor: str | None = None,
        on_created: Callable[[int], None] | None = None,
    ) -> Operation:
        """Write the intent (PENDING) and fsync it, before anything goes to a terminal.

        ``on_created(id)`` runs inside the transaction, before the commit: the caller takes
        its claim on the operation there (see ``cashier.terminals.OperationClaim``), so
        no other process ever sees the operation without its owner.
        """
        kind = Kind(kind)
        if amount is not None and (not isinstance(amount, Money) or amount.minor <= 0):
            raise ValueError(f"an operation's amount must be a positive Money, got {amount!r}")
        cur = amount.currency if amount is not None else (currency or "").upper()
        if len(cur) != 3:
            raise ValueError("an operation without an amount needs its currency")
        with self.atomic() as conn:
            # the time is read under the write lock, so ids and times agree in order
            now = self._now()
            if parent_id is not None:
                self._require(conn, parent_id)
            if idempotency_key is not None:
                earlier = conn.execute(
                    "SELECT id FROM operations WHERE idempotency_key = ?", (idempotency_key,)
                ).fetchone()
                if earlier is not None:
                    raise JournalError(
                        f"{self.path}: idempotency key {idempotency_key!r} already belongs to "
                        f"operation {earlier[0]}; nothing new was recorded"
                    )
            row = conn.execute(
                """INSERT INTO operations (kind, state, amount_minor, currency, terminal,
                       created_at, updated_at, parent_id, ref_receipt_no, plan_id, plan_part,
                       idempotency_key)
                   VALUES (?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
                (
                    kind.value,
                    None if amount is None else amount.minor,
                    cur,
                    terminal,
                    now,
                    now,
                    parent_id,
                    ref_receipt_no,
                    plan_id,
                    plan_part,
                    idempotency_key,
                ),
            ).fetchone()
            op_id = row[0]
            self._event(conn, op_id, "created", None, State.PENDING, actor, terminal)
            if on_created is not None:
                on_created(op_id)
        return self.get(op_id)

    def attempt(self, op_id: int, terminal: str, *, detail: str | None = None) -> Operation:
        """Record which terminal a PENDING operation is about to go to (before any byte
        does); a failover is a second attempt on another terminal."""
        with self.atomic() as conn:
            op = self._require(conn, op_id)
            if op.state is not State.PENDING:
                raise InvalidTransition(
                    f"operation {op_id} is {op.state.value}; only a pending operation can go "
                    "to a terminal"
                )
            conn.execute(
                "UPDATE operations SET terminal = ?, updated_at = ? WHERE id = ?",
                (terminal, self._now(), op_id),
            )
            self._event(conn, op_id, "attempt", None, None, None, detail or terminal)
        return self.get(op_id)

    def transition(
        self,
        op_id: int,
        new: State | str,
        *,
        actor: str | None = None,
        detail: str | None = None,
        **facts: Any,
    ) -> Operation:
        """Move an operation to ``new`` (checked against the state machine) and record
        ``facts`` (columns such as ``receipt_no``, ``card_last4``) in the same commit."""
        new = State(new)
        unknown = set(facts) - FACT_COLUMNS
        if unknown:
            raise ValueError(f"not journal facts: {', '.join(sorted(unknown))}")
        last4 = facts.get("card_last4")
        if last4 is not None and not _LAST4.fullmatch(str(last4)):
            raise ValueError("card_last4 must be exactly four digits; no more of a card is kept")
        if isinstance(facts.get("terminal_at"), datetime):
            facts["terminal_at"] = _iso(facts["terminal_at"])
        with self.atomic() as conn:
            op = self._require(conn, op_id)
            if not allowed(op.state, new):
                raise InvalidTransition(
                    f"operation {op_id} is {op.state.value} and cannot become {new.value}"
                )
            now = self._now()
            columns = {k: v for k, v in facts.items() if v is not None}
            assignments = ", ".join(f"{k} = ?" for k in columns)
            sql = "UPDATE operations SET state = ?, updated_at = ?"
            if assignments:
                sql += ", " + assignments
            conn.execute(f"{sql} WHERE id = ?", (new.value, now, *columns.values(), op_id))
            self._event(conn, op_id, "state", op.state, new, actor, detail)
        return self.get(op_id)

    def note_event(
        self, op_id: int, event: str, detail: str | None = None, actor: str | None = None
    ) -> None:
        """A line in an operation's history that is not a state change (print, reprint)."""
        with self.atomic() as conn:
            self._require(conn, op_id)
            self._event(conn, op_id, event, None, None, actor, detail)

    def _event(
        self,
        conn: sqlite3.Connection,
        op_id: int,
        event: str,
        old: State | None,
        new: State | None,
        actor: str | None,
        detail: str | None,
    ) -> None:
        conn.execute(
            """INSERT INTO events (operation_id, at, event, from_state, to_state, actor, detail)
               VALUES (?, ?, ?, ?, ?, ?, ?)""",
            (
                op_id,
                self._now(),
                event,
                None if old is None else old.value,
                None if new is None else new.value,
                actor,
                detail,
            ),
        )

    def _require(self, conn: sqlite3.Connection, op_id: int) -> Operation:
        row = conn.execute("SELECT * FROM operations WHERE id = ?", (op_id,)).fetchone()
        if row is None:
            raise UnknownTransaction(f"no operation {op_id} in the journal")
        return Operation.from_row(row)

    def get(self, op_id: int) -> Operation:
        rows = self._read("SELECT * FROM operations WHERE id = ?", (op_id,))
        if not rows:
            raise UnknownTransaction(f"no operation {op_id} in the journal")
        return Operation.from_row(rows[0])

    def by_idempotency_key(self, key: str) -> Operation | None:
        rows = self._read("SELECT * FROM operations WHERE idempotency_key = ?", (key,))
        return Operation.from_row(rows[0]) if rows else None

    def find(self, ref: str, *, last_kinds: Sequence[Kind] = ()) -> Operation:
        """The operation ``ref`` names: ``last``, a journal id (``17``, ``id:17``), or a
        terminal receipt number (``receipt:1234``; a bare number when it is not also a
        journal id). Ambiguity is an error that lists the candidates, never a guess."""
        text = (ref or "").strip()
        if text.lower() == "last":
            kinds = [k.value for k in last_kinds] or [
                k.value for k in Kind if k is not Kind.REVERSAL
            ]
            rows = self._read(
                f"SELECT * FROM operations WHERE kind IN ({', '.join('?' * len(kinds))}) "
                "ORDER BY id DESC LIMIT 1",
                kinds,
            )
            if not rows:
                what = "/".join(kinds) if last_kinds else "transactions"
                raise UnknownTransaction(f"the journal has no {what} yet")
            return Operation.from_row(rows[0])
        explicit_id = text.lower().startswith(("id:", "#"))
        match = _TXN_ID.fullmatch(text)
        if match:
            number = int(match.group(1))
            by_id = self._read("SELECT * FROM operations WHERE id = ?", (number,))
            if explicit_id:
                if not by_id:
                    raise UnknownTransaction(f"no transaction with journal id {number}")
                return Operation.from_row(by_id[0])
            by_receipt = self.by_receipt_no(number) if number <= 999_999_999 else []
            others = [op for op in by_receipt if not by_id or op.id != by_id[0]["id"]]
            if by_id and not others:
                return Operation.from_row(by_id[0])
            if not by_id and len(by_receipt) == 1:
                return by_receipt[0]
            if not by_id and not by_receipt:
                raise UnknownTransaction(
                    f"no transaction with journal id or terminal receipt number {number}"
                )
            candidates = [Operation.from_row(r) for r in by_id] + others
            raise UnknownTransaction(_ambiguous(text, candidates))
        match = _TXN_RECEIPT.fullmatch(text)
        if match:
            number = int(match.group(1))
            found = self.by_receipt_no(number)
            if not found:
                raise UnknownTransaction(f"no transaction with terminal receipt number {number}")
            if len(found) > 1:
                raise UnknownTransaction(_ambiguous(text, found))
            return found[0]
        raise UnknownTransaction(
            f"{ref!r} does not name a transaction; use a journal id (17 or id:17), a "
            "terminal receipt number (receipt:1234) or 'last'"
        )

    def by_receipt_no(self, number: int) -> list[Operation]:
        rows = self._read(
            "SELECT * FROM operations WHERE receipt_no = ? ORDER BY id DESC LIMIT 20", (number,)
        )
        return [Operation.from_row(r) for r in rows]

    def search(self, filters: Filters | None = None) -> list[Operation]:
        """Operations newest first, filtered."""
        f = filters or Filters()
        where: list[str] = []
        params: list[Any] = []
        if f.since is not None:
            where.append("created_at >= ?")
            params.append(_iso(f.since))
        if f.until is not None:
            where.append("created_at < ?")
            params.append(_iso(f.until))
        if f.amount is not None:
            where.append("amount_minor = ? AND currency = ?")
            params += [f.amount.minor, f.amount.currency]
        if f.last4 is not None:
            if not _LAST4.fullmatch(f.last4):
                raise ValueError(f"last four digits must be four digits, got {f.last4!r}")
            where.append("card_last4 = ?")
            params.append(f.last4)
        if f.states:
            where.append(f"state IN ({', '.join('?' * len(f.states))})")
            params += [s.value for s in f.states]
        if f.kinds:
            where.append(f"kind IN ({', '.join('?' * len(f.kinds))})")
            params += [k.value for k in f.kinds]
        if f.terminal is not None:
            where.append("terminal = ?")
            params.append(f.terminal)
        sql = "SELECT * FROM operations"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if f.limit is not None:
            sql += f" LIMIT {int(f.limit)}"
        return [Operation.from_row(r) for r in self._read(sql, params)]

    def unresolved(self, states: frozenset[State] = UNRESOLVED) -> list[Operation]:
        marks = ", ".join("?" * len(states))
        rows = self._read(
            f"SELECT * FROM operations WHERE state IN ({marks}) ORDER BY id",
            [s.value for s in sorted(states)],
        )
        return [Operation.from_row(r) for r in rows]

    def needing_attention(self) -> list[Operation]:
        return self.unresolved(NEEDS_ATTENTION)

    def events(self, op_id: int) -> list[Event]:
        rows = self._read("SELECT * FROM events WHERE operation_id = ? ORDER BY id", (op_id,))
        return [Event.from_row(r) for r in rows]

    def children(self, op_id: int) -> list[Operation]:
        """Refunds, reversals and bookings linked to ``op_id``."""
        rows = self._read("SELECT * FROM operations WHERE parent_id = ? ORDER BY id", (op_id,))
        return [Operation.from_row(r) for r in rows]

    def refunds_between(self, start: datetime, end: datetime) -> list[Operation]:
        """Refunds created in [start, end) that moved money or may have (for the cap)."""
        states = [State.APPROVED.value, *(s.value for s in UNRESOLVED)]
        marks = ", ".join("?" * len(states))
        rows = self._read(
            f"""SELECT * FROM operations WHERE kind = 'refund' AND created_at >= ?
                AND created_at < ? AND state IN ({marks})""",
            [_iso(start), _iso(end), *states],
        )
        return [Operation.from_row(r) for r in rows]

    # -- receipts ----------------------------------------------------------------------
    def add_receipt(
        self, op_id: int, copy: str, lines: Sequence[str], source: str
    ) -> StoredReceipt:
        """Store a receipt exactly as it is to be printed. A copy is stored once; a
        second call for the same copy keeps the first (it may already be on paper)."""
        with self.atomic() as conn:
            self._require(conn, op_id)
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
            self._event(conn, op_id, "receipt", None, None, None, detail)
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

    # -- print jobs --------------------------------------------------------------------
    _JOB_SELECT = (
        "SELECT print_jobs.*, receipts.operation_id AS operation_id FROM print_jobs "
        "JOIN receipts ON receipts.id = print_jobs.receipt_id"
    )

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
        return self.job(row[0])

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
            self._event(conn, op_id, "reprint", None, None, actor, f"{copy} copy, reprint {number}")
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
            self._event(
                conn,
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
            self._event(conn, job.operation_id, "print_cancelled", None, None, actor, str(job_id))
        return job

    # -- incidents ---------------------------------------------------------------------
    def add_incident(
        self,
        *,
        category: str,
        fault: str,
        action: str,
        result: str,
        device: str | None = None,
        notes: str | None = None,
        operation_id: int | None = None,
        actor: str | None = None,
        place: str | None = None,
    ) -> Incident:
        for name, value in (("fault", fault), ("action", action), ("result", result)):
            if not value or not value.strip():
                raise ValueError(f"an incident needs a {name}")
        with self.atomic() as conn:
            row = conn.execute(
                """INSERT INTO incidents (at, place, device, category, fault, action, result,
                       notes, operation_id, actor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   RETURNING id""",
                (
                    self._now(),
                    place or self.place,
                    device,
                    category,
                    fault.strip(),
                    action.strip(),
                    result.strip(),
                    notes,
                    operation_id,
                    actor,
                ),
            ).fetchone()
        return self.incidents_by_id(row[0])

    def incidents_by_id(self, incident_id: int) -> Incident:
        rows = self._read("SELECT * FROM incidents WHERE id = ?", (incident_id,))
        return Incident.from_row(rows[0])

    def incidents(self, since: datetime | None = None, limit: int | None = None) -> list[Incident]:
        sql = "SELECT * FROM incidents"
        params: list[Any] = []
        if since is not None:
            sql += " WHERE at >= ?"
            params.append(_iso(since))
        sql += " ORDER BY id"
        if limit is not None:
            sql = f"SELECT * FROM ({sql.replace(' ORDER BY id', '')} ORDER BY id DESC LIMIT "
            sql += f"{int(limit)}) ORDER BY id"
        return [Incident.from_row(r) for r in self._read(sql, params)]

    # -- refund plans ------------------------------------------------------------------
    def create_plan(self, sale_id: int, parts: Sequence[Money], actor: str | None) -> RefundPlan:
        if not parts:
            raise ValueError("a refund plan needs at least one part")
        if any(not isinstance(p, Money) or p.minor <= 0 for p in parts):
            raise ValueError(f"every part of a refund plan must be a positive Money: {parts!r}")
        with self.atomic() as conn:
            sale = self._require(conn, sale_id)
            # Parts are stored as minor units in one currency: a part in another currency
            # would silently become an amount of the sale's currency.
            if any(p.currency != sale.currency for p in parts):
                raise ValueError(
                    f"a refund plan for operation {sale_id} must be in {sale.currency}; got "
                    + ", ".join(p.format() for p in parts)
                )
            row = conn.execute(
                """INSERT INTO refund_plans (sale_id, currency, parts, state, created_at, actor)
                   VALUES (?, ?, ?, 'open', ?, ?) RETURNING id""",
                (
                    sale_id,
                    parts[0].currency,
                    json.dumps([p.minor for p in parts]),
                    self._now(),
                    actor,
                ),
            ).fetchone()
            self._event(
                conn,
                sale_id,
                "refund_plan",
                None,
                None,
                actor,
                f"plan {row[0]}: " + " + ".join(p.format() for p in parts),
            )
        return self.plan(row[0])

    def plan(self, plan_id: int) -> RefundPlan:
        rows = self._read("SELECT * FROM refund_plans WHERE id = ?", (plan_id,))
        if not rows:
            raise UnknownTransaction(f"no refund plan {plan_id}")
        return RefundPlan.from_row(rows[0])

    def plans_of(self, sale_id: int) -> list[RefundPlan]:
        rows = self._read("SELECT * FROM refund_plans WHERE sale_id = ? ORDER BY id", (sale_id,))
        return [RefundPlan.from_row(r) for r in rows]

    def open_plans(self) -> list[RefundPlan]:
        rows = self._read("SELECT * FROM refund_plans WHERE state = 'open' ORDER BY id")
        return [RefundPlan.from_row(r) for r in rows]

    def set_plan_state(self, plan_id: int, state: str) -> RefundPlan:
        with self.atomic() as conn:
            conn.execute("UPDATE refund_plans SET state = ? WHERE id = ?", (state, plan_id))
        return self.plan(plan_id)

    # -- whole-journal views -----------------------------------------------------------
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

    def export_csv(self, out: IO[str], filters: Filters | None = None) -> int:
        """All operations (oldest first) as CSV; returns the number of rows."""
        f = filters or Filters(limit=None)
        columns = [
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
        writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        count = 0
        for op in reversed(self.search(f)):
            writer.writerow(op.as_dict())
            count += 1
        return count


def _nearly_full(path: Path, margin: int = 1 << 20) -> bool:
    """Whether the journal's file system has (almost) no room left: a write error there
    is a full disk, elsewhere a failing one."""
    try:
        return shutil.disk_usage(path.parent).free < margin
    except OSError:
        return True


def _ambiguous(ref: str, candidates: Sequence[Operation]) -> str:
    lines = [f"{ref!r} matches more than one transaction; name one by its journal id:"]
    for op in candidates:
        amount = op.amount.format() if op.amount else "-"
        lines.append(
            f"  id:{op.id}  {op.created_at.astimezone():%Y-%m-%d %H:%M}  {op.kind.value}  "
            f"{amount}  receipt {op.receipt_no or '-'}  {op.state.value}"
        )
    return "\n".join(lines)


def _why_read_only(path: Path) -> str:
    """The likely reason a journal cannot be written, for the person who has to fix it: a
    file system mounted read-only (a full or failing disk is often remounted so) needs a
    different fix from a wrong owner."""
    with contextlib.suppress(OSError):
        if os.statvfs(path.parent).f_flag & os.ST_RDONLY:
            return f"the file system holding {path.parent} is mounted read-only"
    return "check the file's and its directory's owner and permissions"


def _statements(script: str) -> list[str]:
    """Split a migration into statements (none of ours contain ';' in literals)."""
    return [s.strip() for s in script.split(";") if s.strip()]


def prepare_state_dir(state_dir: str | Path) -> Path:
    """Create the state directory ``0700`` if needed; refuse one others can read."""
    path = Path(state_dir)
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise JournalReadOnly(f"{path}: cannot create the state directory: {exc.strerror}") from exc
    if not path.is_dir():
        raise JournalError(f"{path}: is not a directory")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        with contextlib.suppress(OSError):
            os.chmod(path, 0o700)
    return path


def open_journal(
    state_dir: str | Path, *, clock: Clock = utc_now, place: str | None = None
) -> Journal:
    """The journal in ``state_dir`` (created ``0700``, the file ``0600``), migrated to the
    current schema. A journal that is not there is made whole under a temporary name
    first (:func:`_create_journal`), so an empty or missing file found here was never a
    new journal: it is refused (:func:`_refuse_lost`), never set up afresh over the loss."""
    directory = prepare_state_dir(state_dir)
    path = directory / JOURNAL_FILE
    _refuse_lost(path)
    if not path.exists():
        _create_journal(path)
    elif not os.access(path, os.W_OK) or not os.access(directory, os.W_OK):
        raise JournalReadOnly(
            f"{path}: the journal (or its directory) is not writable by this user; "
            f"{_why_read_only(path)}"
        )
    journal = Journal(path, clock=clock, place=place)
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(OSError):
            os.chmod(f"{path}{suffix}", 0o600)
    return journal


def _refuse_lost(path: Path) -> None:
    """Refuse a journal whose contents are gone: an empty file, or a ``-wal`` without its
    journal. SQLite would take either for a new database, and it deletes the ``-wal`` of
    an empty or missing one (or, with a new file in place, would replay it onto the new
    file): the ``-wal`` holds the newest changes, often the only copy of them, so it
    must be kept for a person to decide, never opened."""
    size = _size(path)
    wal = Path(f"{path}-wal")
    wal_size = _size(wal) or 0
    if size is None and wal_size:
        raise JournalCorrupt(
            f"{path}: the journal file is missing but {wal} ({wal_size} bytes of its newest "
            "changes) is still there: it was moved or deleted without its -wal. Put the "
            "journal back beside it; if it is gone for good, move the -wal aside for IT and "
            "restore the journal from a backup"
        )
    if size != 0:
        return
    if wal_size:
        raise JournalCorrupt(
            f"{path}: the journal file is empty (truncated), and {wal} beside it holds "
            f"{wal_size} bytes of its newest changes. Do not remove either file and do not "
            "open the journal with other SQLite tools (SQLite deletes the -wal of an empty "
            "database); move both aside for IT and restore the journal from a backup"
        )
    raise JournalCorrupt(
        f"{path}: the journal file is empty: possibly truncated; if this is a new install, "
        "remove it (posdriver then creates a new journal), otherwise restore it from a "
        "backup and keep the empty file for IT"
    )


def _size(path: Path) -> int | None:
    """The file's size; None when it is not there (or cannot be looked at: opening it
    then says why)."""
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def _create_journal(path: Path) -> None:
    """A new journal, set up (schema, WAL mode) under a temporary name in the state
    directory and linked into place whole, the directory fsynced. A crash part-way leaves
    a stray ``.journal.sqlite3.new-*`` file, never an empty ``journal.sqlite3`` that the
    next start would have to refuse as truncated. A link, not a rename: a rename would
    replace the journal another process (the daemon and a CLI command started together
    on a fresh install) linked a moment before and may be writing already."""
    directory = path.parent
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.new-", dir=directory)  # 0600
        os.close(fd)
    except OSError as exc:
        raise JournalReadOnly(f"{path}: cannot create the journal: {exc.strerror}") from exc
    temporary = Path(name)
    try:
        Journal(temporary).close()
        _fsync(temporary)
        _link_into_place(temporary, path)
    except JournalError as exc:
        raise type(exc)(f"{path}: cannot create the journal: {exc}") from exc
    except OSError as exc:
        raise JournalError(f"{path}: cannot create the journal: {exc.strerror}") from exc
    finally:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.unlink(f"{temporary}{suffix}")
    try:
        _fsync(directory)
    except OSError as exc:
        raise JournalError(f"{path}: cannot create the journal: {exc.strerror}") from exc


def _link_into_place(temporary: Path, path: Path) -> None:
    try:
        os.link(temporary, path)
    except FileExistsError:
        return  # another process made it first, just as whole: that one is used
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP):
            raise
        # a file system without hard links (FAT, some network shares): a rename, which
        # only a process creating the journal at this very instant could race
        if not path.exists():
            os.rename(temporary, path)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
