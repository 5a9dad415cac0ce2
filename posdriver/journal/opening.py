"""Opening the journal file: which files the journal refuses, and how a new one is made.

A hotel's journal is the only record of payments that may have reached a bank, so a file
that does not look like one is never "repaired" by starting afresh over it: an empty
file, a ``-wal`` without its journal, an SQLite database that is not a journal and a
journal from a newer posdriver are each refused with what to do, and left exactly as
they were. A new journal is made whole under a temporary name and linked into place, so
an empty ``journal.sqlite3`` is never one that this module left.

The state directory is created ``0700`` and the files ``0600``: receipts are not card
data, but they are guests' business.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

from .errors import JournalCorrupt, JournalError, JournalReadOnly
from .schema import CURRENT_VERSION

JOURNAL_FILE = "journal.sqlite3"


class Closable(Protocol):
    def close(self) -> None: ...


Opened = TypeVar("Opened", bound=Closable)


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


def open_file(state_dir: str | Path, connect: Callable[[Path], Opened]) -> Opened:
    """The journal file in ``state_dir`` (created ``0700``, the file ``0600``), opened by
    ``connect``, which migrates it to the current schema. A journal that is not there is
    made whole under a temporary name first (:func:`_create_journal`), so an empty or
    missing file found here was never a new journal: it is refused (:func:`_refuse_lost`),
    never set up afresh over the loss."""
    directory = prepare_state_dir(state_dir)
    path = directory / JOURNAL_FILE
    _refuse_lost(path)
    if not path.exists():
        _create_journal(path, connect)
    elif not os.access(path, os.W_OK) or not os.access(directory, os.W_OK):
        raise JournalReadOnly(
            f"{path}: the journal (or its directory) is not writable by this user; "
            f"{why_read_only(path)}"
        )
    journal = connect(path)
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(OSError):
            os.chmod(f"{path}{suffix}", 0o600)
    return journal


def refuse_foreign_or_newer(path: Path, version: int, tables: int) -> None:
    """Refuse a journal from a newer posdriver, and an SQLite database that is not a
    journal at all (tables but no schema version), before anything writes to it."""
    if version > CURRENT_VERSION:
        raise JournalError(
            f"{path}: journal schema version {version} is newer than this posdriver "
            f"understands ({CURRENT_VERSION}); upgrade posdriver, do not edit the file"
        )
    if version == 0 and tables:
        raise JournalCorrupt(
            f"{path}: is an SQLite database but not a posdriver journal "
            "(it has tables and no journal schema version); check state_dir in the "
            "configuration (or --state-dir): it must name posdriver's own directory"
        )


def why_read_only(path: Path) -> str:
    """The likely reason a journal cannot be written, for the person who has to fix it: a
    file system mounted read-only (a full or failing disk is often remounted so) needs a
    different fix from a wrong owner."""
    with contextlib.suppress(OSError):
        if os.statvfs(path.parent).f_flag & os.ST_RDONLY:
            return f"the file system holding {path.parent} is mounted read-only"
    return "check the file's and its directory's owner and permissions"


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


def _create_journal(path: Path, connect: Callable[[Path], Closable]) -> None:
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
        connect(temporary).close()
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
