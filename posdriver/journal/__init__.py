"""The durable journal: every money operation, receipt, print job and incident.

SQLite in WAL mode with ``synchronous=FULL``: a transition is on disk before the code
that journaled it goes on, so a crash (power cut, SIGKILL) loses nothing that was acted
on. See :mod:`.states` for the state machine and :class:`.journal.Journal` for the API.
"""

from .errors import (
    InvalidTransition,
    JournalCorrupt,
    JournalError,
    JournalFull,
    JournalLocked,
    JournalReadOnly,
    JournalReplaced,
    JournalStorageError,
    UnknownTransaction,
)
from .journal import Journal, open_journal
from .records import Event, Incident, Operation, PrintJob, StoredReceipt
from .states import Kind, State

__all__ = [
    "Event",
    "Incident",
    "InvalidTransition",
    "Journal",
    "JournalCorrupt",
    "JournalError",
    "JournalFull",
    "JournalLocked",
    "JournalReadOnly",
    "JournalReplaced",
    "JournalStorageError",
    "Kind",
    "Operation",
    "PrintJob",
    "State",
    "StoredReceipt",
    "UnknownTransaction",
    "open_journal",
]
