"""Journal failures. Each names the file and what is wrong, because the person reading it
is at a front desk or on call, and "database error" tells them nothing."""

from __future__ import annotations

from ..errors import PosdriverError


class JournalError(PosdriverError):
    """The journal could not do what was asked; nothing was half-written."""


class JournalStorageError(JournalError):
    """The file or the disk under it failed (as opposed to a request the journal refused,
    such as an invalid transition): the journal may not be writable until someone acts,
    so the daemon's journal check turns critical on it."""


class JournalCorrupt(JournalStorageError):
    """The file is not a usable posdriver journal (damaged, or not SQLite at all)."""


class JournalReadOnly(JournalStorageError):
    """The journal (or its directory) cannot be written."""


class JournalFull(JournalStorageError):
    """The disk (or the file size limit) is full; the last change was not recorded."""


class JournalReplaced(JournalStorageError):
    """The journal file was deleted or replaced while this process had it open: what it
    wrote now would go to a file no one can read, and be lost at the next start."""


class JournalLocked(JournalStorageError):
    """Another process held the journal for longer than the wait allowed."""


class UnknownTransaction(JournalError):
    """No operation matches what was asked for (or more than one does)."""


class InvalidTransition(JournalError):
    """A state change the state machine does not allow (a bug, or a person's mistake)."""
