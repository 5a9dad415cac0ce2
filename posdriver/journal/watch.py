"""Whether the journal can take the next payment: the journal's own health check.

A payment is only sent once its intent is on disk, so a journal that cannot be written
stops every payment as surely as a dead terminal does, and must show as plainly (in
``/v1/health``, ``posdriver check``, ``/metrics`` and the alerts). What is looked at,
cheapest first:

* the file is still the one that was opened (not deleted or replaced under the daemon:
  then nothing more is committed to it, and a copy of what the daemon still holds open
  is saved beside it, once);
* its file system is not mounted read-only and has room left (``statvfs``);
* the last write committed. A write that failed (disk full, read-only, damaged page)
  makes the check critical until a write commits again; while it is critical, and when
  the journal has been quiet for a while, a probe write (one fsynced commit that changes
  no record) finds out without waiting for the next payment to fail.

Unknown is not OK: a look that could not be made is critical, never "fine".
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import JournalError
from .journal import Journal

MIB = 1 << 20
# Free space under the state directory: a front desk journals a few kB per payment, so
# 200 MiB is weeks of business and 20 MiB a day or two; below that, act now.
FREE_WARNING = 200 * MIB
FREE_CRITICAL = 20 * MIB
PROBE_FAILING = 5.0  # seconds between probes while the last write failed
PROBE_QUIET = 60.0  # a probe when nothing was written for this long


@dataclass(frozen=True)
class JournalCheck:
    """One look at the journal. ``writable`` is what the metric publishes: False when the
    last write failed, the file system is read-only or the file is gone."""

    status: str  # ok | warning | critical
    text: str
    writable: bool
    free_bytes: int | None
    write_errors: int
    at: float  # unix time of the look
    since: float  # unix time the status became what it is

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "text": self.text,
            "writable": self.writable,
            "free_bytes": self.free_bytes,
            "write_errors": self.write_errors,
            "at": self.at,
            "since": self.since,
        }


class JournalWatch:
    """Looks at one open journal; decides when a probe write is due. One per daemon (its
    snapshot loop calls :meth:`look` every second); ``posdriver check`` without a daemon
    makes one and looks once, with a probe."""

    def __init__(
        self,
        journal: Journal,
        *,
        free_warning: int = FREE_WARNING,
        free_critical: int = FREE_CRITICAL,
        probe_failing: float = PROBE_FAILING,
        probe_quiet: float = PROBE_QUIET,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.journal = journal
        self.free_warning = free_warning
        self.free_critical = free_critical
        self.probe_failing = probe_failing
        self.probe_quiet = probe_quiet
        self.clock = clock
        self._last_probe: float | None = None
        self._commits_seen: Any = None
        self.current: JournalCheck | None = None
        self.rescued: Path | None = None  # the copy of a journal deleted under the daemon

    def look(self, *, probe: bool | None = None) -> JournalCheck:
        """The journal's state now. ``probe`` forces (True) or forbids (False) a probe
        write; by default one runs when due (see the module docstring)."""
        journal = self.journal
        free, read_only = _space(journal.path.parent)
        if journal.replaced():
            return self._result(
                "critical",
                f"{journal.path} was deleted or replaced while the daemon had it open; no "
                f"payment can be journaled, so none is sent. {self._rescue()}",
                writable=False,
                free=free,
            )
        if read_only:
            return self._result(
                "critical",
                f"the file system holding {journal.path.parent} is mounted read-only: no "
                "payment can be journaled, so none is sent; remount it read-write (a disk "
                "remounted read-only after errors needs checking first)",
                writable=False,
                free=free,
            )
        if probe or (probe is None and self._probe_due()):
            self._last_probe = self.clock()
            try:
                journal.probe()
            except JournalError:
                pass  # the failure is recorded on the journal, and read just below
        failure = journal.write_failure
        if failure is not None:
            return self._result(
                "critical",
                f"the last write failed ({failure.text}); payments are refused before they "
                "reach a terminal until a write succeeds",
                writable=False,
                free=free,
            )
        if free is not None and free < self.free_critical:
            return self._result(
                "critical",
                f"only {_mib(free)} free under {journal.path.parent}: payments stop when it is "
                "full; free disk space now",
                writable=True,
                free=free,
            )
        if free is not None and free < self.free_warning:
            return self._result(
                "warning",
                f"{_mib(free)} free under {journal.path.parent}; free disk space soon",
                writable=True,
                free=free,
            )
        if free is None:
            return self._result(
                "critical",
                f"the free space under {journal.path.parent} could not be read",
                writable=True,
                free=None,
            )
        return self._result("ok", f"writable; {_mib(free)} free", writable=True, free=free)

    def look_safely(self, *, probe: bool | None = None) -> JournalCheck:
        """:meth:`look`, and a look that itself failed is a critical result saying why
        (unknown is not OK)."""
        try:
            return self.look(probe=probe)
        except Exception as exc:
            return self._result(
                "critical", f"could not look at the journal: {exc}", writable=False, free=None
            )

    def _rescue(self) -> str:
        """A copy of what the daemon still holds open of the lost file (SQLite's backup
        API, from its own connection), made once, beside where the file was: a journal
        deleted by mistake loses nothing that was journaled. What to do, in words."""
        if self.rescued is None:
            stamp = time.strftime("%Y%m%dT%H%M%S")
            target = self.journal.path.with_name(f"{self.journal.path.name}.rescued-{stamp}")
            try:
                self.rescued = self.journal.backup(target)
            except JournalError as exc:
                return (
                    f"Copying what it held failed ({exc}): restore the file from a backup, "
                    "then restart the daemon"
                )
        return (
            f"What it held is saved as {self.rescued}: stop the daemon, put that file back "
            f"as {self.journal.path} (unless the one there now is the one to keep), and "
            "start the daemon again"
        )

    def _probe_due(self) -> bool:
        now = self.clock()
        last = self._last_probe
        if self.journal.write_failure is not None:
            return last is None or now - last >= self.probe_failing
        commits = self.journal.last_commit
        if commits != self._commits_seen:  # something committed since the last look
            self._commits_seen = commits
            self._last_probe = now
            return False
        return last is None or now - last >= self.probe_quiet

    def _result(self, status: str, text: str, *, writable: bool, free: int | None) -> JournalCheck:
        now = time.time()
        before = self.current
        self.current = JournalCheck(
            status=status,
            text=text,
            writable=writable,
            free_bytes=free,
            write_errors=self.journal.write_errors,
            at=now,
            since=before.since if before is not None and before.status == status else now,
        )
        return self.current


def _space(directory: os.PathLike[str] | str) -> tuple[int | None, bool]:
    """Bytes free to this process under ``directory`` and whether it is read-only."""
    try:
        st = os.statvfs(directory)
    except OSError:
        return None, False
    return st.f_bavail * st.f_frsize, bool(st.f_flag & os.ST_RDONLY)


def _mib(count: int) -> str:
    return f"{count / MIB:.0f} MiB" if count >= 10 * MIB else f"{count / MIB:.1f} MiB"
