"""The journal: one SQLite file that remembers every money operation, receipt, print job
and incident, and is on disk before anything is acted on.

:class:`Journal` is the one class callers use. It is built from rooms, one per job:

* :mod:`.store`: the connection, write transactions (``atomic()``), durability settings,
  error translation, schema migration and the write-failure record;
* :mod:`.opening`: the state directory, a new journal made whole, and the files refused;
* one module per table family, written against the store's transaction API only:
  :mod:`.operations` (operations and their events), :mod:`.printing` (receipts and
  print jobs), :mod:`.incidents`, :mod:`.refund_plans`;
* :mod:`.maintenance`: counts, size, integrity check, backup and the CSV export.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from .incidents import Incidents, default_place
from .maintenance import Maintenance
from .opening import JOURNAL_FILE, open_file, prepare_state_dir
from .operations import FACT_COLUMNS, Filters, Operations, day_bounds
from .printing import Printing
from .refund_plans import RefundPlans
from .store import BUSY_TIMEOUT_MS, Clock, WriteFailure, utc_now

__all__ = [
    "BUSY_TIMEOUT_MS",
    "FACT_COLUMNS",
    "JOURNAL_FILE",
    "Clock",
    "Filters",
    "Journal",
    "WriteFailure",
    "day_bounds",
    "default_place",
    "open_journal",
    "prepare_state_dir",
    "utc_now",
]


# how often a wait looks at the file for another process's writes (its own it is told of)
OTHERS_RECHECK = 1.0


class Journal(Operations, Printing, Incidents, RefundPlans, Maintenance):
    """The journal file, opened: every table family over one SQLite store. Thread-safe:
    one connection behind a lock (the writes are short; fsync dominates them)."""

    def __init__(self, path: Path, *, clock: Clock = utc_now, place: str | None = None) -> None:
        self.place = place or default_place()
        super().__init__(path, clock=clock)

    def wait_for(
        self, predicate: Callable[[], bool], timeout: float, *, recheck: float = OTHERS_RECHECK
    ) -> bool:
        """Wait up to ``timeout`` seconds for ``predicate`` (a look at the journal) to
        hold; whether it does. It is asked again after each commit of this journal, and
        at least every ``recheck`` seconds for what another process (a CLI command beside
        the daemon) wrote to the file, which no commit here announces."""
        deadline = time.monotonic() + timeout
        while True:
            seen = self.commits
            if predicate():
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.await_commit(seen, min(left, recheck))


def open_journal(
    state_dir: str | Path, *, clock: Clock = utc_now, place: str | None = None
) -> Journal:
    """The journal in ``state_dir`` (created ``0700``, the file ``0600``), migrated to the
    current schema. A journal that is not there is made whole under a temporary name
    first, so an empty or missing file found here was never a new journal: it is refused,
    never set up afresh over the loss (:func:`.opening.open_file`)."""
    return open_file(state_dir, lambda path: Journal(path, clock=clock, place=place))
