"""The store: the journal's one SQLite connection and the transaction API that every
table family (:mod:`.operations`, :mod:`.printing`, :mod:`.incidents`,
:mod:`.refund_plans`) writes through.

Why these settings:

* ``journal_mode=WAL`` and ``synchronous=FULL``: each commit is fsynced to the WAL, so a
  transition this module returned from survives a power cut or SIGKILL, and readers
  (``txn list``, the daemon's metrics) never block the writer.
* ``BEGIN IMMEDIATE`` for every write: a second process (a CLI command next to the
  daemon) queues on the write lock at the start of a transaction instead of failing
  half-way through it; ``busy_timeout`` bounds the wait.

Every sqlite3 failure leaves as a :class:`~.errors.JournalError` subclass that names the
file and what is wrong (corrupt, read-only, full, locked); a failed write is rolled back
whole, so nothing is half-written.

The seam is :class:`Store`: a table family knows only ``atomic()`` (a write transaction
yielding a :class:`Connection`), ``_read()`` and ``_now()``, and speaks plain SQL with
``?`` placeholders to rows that answer by column name and by position. A second store
(PostgreSQL, for a chain whose desks share one journal) implements those and runs the
same family modules; :class:`SqliteStore` is the one posdriver has.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import threading
import time as monotime
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, Self

from .errors import (
    JournalCorrupt,
    JournalError,
    JournalFull,
    JournalLocked,
    JournalReadOnly,
    JournalReplaced,
    JournalStorageError,
)
from .opening import refuse_foreign_or_newer, why_read_only
from .records import Row
from .schema import CURRENT_VERSION, MIGRATIONS

BUSY_TIMEOUT_MS = 10_000

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime) -> str:
    """A time as the journal stores it: UTC ISO text, so text order is time order (a
    naive time is taken as local time)."""
    if value.tzinfo is None:
        value = value.astimezone()
    return value.astimezone(UTC).isoformat(timespec="microseconds")


class Cursor(Protocol):
    """What a family reads back from a statement."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    """What a family writes through inside :meth:`Store.atomic`: one statement at a
    time, ``?`` placeholders, rows as :class:`~.records.Row`."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...


@dataclass(frozen=True)
class WriteFailure:
    """The journal's last failed write: what it said (naming the file) and when (unix
    time)."""

    text: str
    at: float


class Store(ABC):
    """The transaction API the table families are written against."""

    path: Path
    clock: Clock

    @abstractmethod
    def atomic(self) -> AbstractContextManager[Connection]:
        """One write transaction, durable on commit; nested uses join the outer one."""

    @abstractmethod
    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """The rows of one query, outside any write transaction of another thread."""

    def _now(self) -> str:
        return iso(self.clock())


def identity(path: Path) -> tuple[int, int] | None:
    """The file's device and inode, or None when it is gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


class SqliteStore(Store):
    """The journal file, opened. Thread-safe: one connection behind a lock (the writes
    are short; fsync dominates them)."""

    def __init__(self, path: Path, *, clock: Clock = utc_now) -> None:
        self.path = Path(path)
        self.clock = clock
        self._lock = threading.RLock()
        self._depth = 0
        self._conn = self._connect()
        self.last_commit: datetime | None = None
        # told after every commit of this connection, so that a waiter (the API's
        # ?wait=) wakes when something changed rather than polling the file
        self._committed = threading.Condition(threading.Lock())
        self.commits = 0  # commits of this connection since it opened
        # what the journal check reads: storage failures since the start, and the one that
        # stands now (cleared by the next write that commits)
        self.write_errors = 0
        self.write_failure: WriteFailure | None = None
        self.identity = identity(self.path)
        self._commit_listener: Callable[[], None] | None = None

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
        refuse_foreign_or_newer(self.path, version, tables)
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

    def __enter__(self) -> Self:
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
                f"{where}: the journal cannot be written ({text}); {why_read_only(self.path)}"
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
                f"{where}: cannot open the journal ({text}); {why_read_only(self.path)}"
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
                self._still_the_file()
                self._conn.execute("COMMIT")
                self.last_commit = self.clock()
                self.write_failure = None
                self._tell_committed()
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

    def _tell_committed(self) -> None:
        with self._committed:
            self.commits += 1
            self._committed.notify_all()
        listener = self._commit_listener
        if listener is not None:
            listener()

    def on_commit(self, listener: Callable[[], None] | None) -> None:
        """Have ``listener`` called after each commit of this connection (the daemon
        tells the status page's feed with it; None stops it). It runs on the committing
        thread, with the store's lock held, so it must only signal, never use the
        journal."""
        self._commit_listener = listener

    def await_commit(self, seen: int, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for a commit after the ``seen``-th (a value of
        :attr:`commits` read before looking at the journal, so that a commit between that
        look and this wait is not missed); the number of commits now."""
        with self._committed:
            self._committed.wait_for(lambda: self.commits != seen, timeout)
            return self.commits

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

    def _still_the_file(self) -> None:
        """Before a commit: the file this connection writes is still the journal. Once
        it was deleted or replaced, a commit would be durable in a file that no one can
        read and that is gone at the next start: a payment journaled there was never
        journaled (write ahead, never guess), so the transaction is not committed."""
        if self.replaced():
            raise JournalReplaced(
                f"{self.path} was deleted or replaced while posdriver had it open; nothing "
                "more is written to it (it would be lost): restore the file from a backup "
                "if it was lost, then restart posdriver"
            )

    def replaced(self) -> bool:
        """Whether the journal file was deleted or replaced since it was opened: this
        connection would go on writing to a file nobody else can read."""
        return identity(self.path) != self.identity

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise self._translate(exc, "read") from exc


def _nearly_full(path: Path, margin: int = 1 << 20) -> bool:
    """Whether the journal's file system has (almost) no room left: a write error there
    is a full disk, elsewhere a failing one."""
    try:
        return shutil.disk_usage(path.parent).free < margin
    except OSError:
        return True


def _statements(script: str) -> list[str]:
    """Split a migration into statements (none of ours contain ';' in literals)."""
    return [s.strip() for s in script.split(";") if s.strip()]
