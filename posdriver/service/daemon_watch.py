"""What the running daemon notices and writes down: the journal's counts and its check
(published for ``/v1/health`` and ``/metrics``), and every change of a health check's
status, as a structured log line and, when a person would want it in the fault record,
an incident.

A mixin of :class:`~.daemon.Daemon`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from typing import Any

from ..config import Config
from ..journal import Journal
from ..journal.watch import MIB, JournalCheck, JournalWatch
from .changes import Changes
from .snapshot import CheckResult, ServiceSnapshot

log = logging.getLogger("posdriver.service.daemon")  # the name the logs have always had


class Watching:
    """The journal's counts and check, and check changes, on the daemon's own state."""

    config: Config
    journal: Journal | None
    _lock: threading.Lock
    _stopping: threading.Event
    _snapshot: ServiceSnapshot
    _journal_watch: JournalWatch | None
    changes: Changes

    def _refresh_loop(self) -> None:
        while not self._stopping.wait(1.0):
            self._refresh()

    def _refresh(self) -> None:
        journal = self.journal
        if journal is None:
            return
        self._look_at_journal(journal)
        try:
            counts = journal.counts()
            size = journal.size_bytes()
        except Exception:
            log.exception("could not read the journal's counts")
            return
        with self._lock:
            snap = self._snapshot
            before = (snap.in_doubt, snap.needs_review, snap.print_jobs)
            snap.in_doubt = counts.get("in_doubt", 0)
            snap.needs_review = counts.get("needs_review", 0)
            snap.print_jobs = {
                "queued": counts.get("print_queued", 0),
                "printing": counts.get("print_printing", 0),
                "failed": counts.get("print_failed", 0),
            }
            snap.journal_size_bytes = size
            if journal.last_commit is not None:
                snap.journal_last_commit = journal.last_commit.timestamp()
            after = (snap.in_doubt, snap.needs_review, snap.print_jobs)
        if after != before:  # written by another process (a command beside the daemon)
            self.changes.tell("journal")

    def _last_commit_from_records(self, journal: Journal) -> None:
        """At start, the last commit is the journal's latest record (the store knows
        only its own commits, and there are none yet): the gauge is there from the first
        scrape after a restart, not only after the next payment."""
        try:
            latest = journal.last_recorded()
        except Exception:
            log.exception("could not read when the journal last recorded something")
            return
        if latest is not None:
            with self._lock:
                self._snapshot.journal_last_commit = latest.timestamp()

    def look_at_journal(self) -> None:
        """The journal check now, without a probe write (``/v1/health`` asks, so that a
        write that failed a moment ago shows at once, not at the next turn)."""
        if self.journal is not None:
            self._look_at_journal(self.journal, probe=False)

    def _look_at_journal(self, journal: Journal, *, probe: bool | None = None) -> None:
        """The journal check, published before the counts are read (a broken journal
        may not give them); a change of status is news, as a device check's is."""
        watch = self._journal_watch
        if watch is None or watch.journal is not journal:
            watch = self._journal_watch = JournalWatch(journal)
        service = self.config.service  # as now: a reload may have changed the limits
        watch.free_warning = service.free_space_warning_mib * MIB
        watch.free_critical = service.free_space_critical_mib * MIB
        check = watch.look_safely(probe=probe)
        with self._lock:
            old = self._snapshot.journal
            self._snapshot.journal = check
        if (old.status if old else "ok") != check.status:
            self.changes.tell("journal")
            self._journal_changed(journal, old, check)

    def _journal_changed(
        self, journal: Journal, old: JournalCheck | None, new: JournalCheck
    ) -> None:
        """A structured log line, and the fault record when the journal takes the
        incident (not while it is the journal that fails): a recovery says since when
        it was out and why."""
        level = {"ok": logging.INFO, "warning": logging.WARNING}.get(new.status, logging.ERROR)
        line: dict[str, Any] = {"event": "check", "device": "journal", "check": "journal"}
        line |= {"from": old.status if old else None, "to": new.status, "text": new.text}
        log.log(level, json.dumps(line, ensure_ascii=False))
        if new.status != "ok":
            fault, result = f"journal check: {new.text}", new.status
        else:
            began = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(old.since)) if old else "?"
            fault = f"journal check was {old.status if old else 'unknown'} from {began}"
            fault += f": {old.text}" if old else ""
            result = f"back to ok: {new.text}"
        with contextlib.suppress(Exception):  # the journal may be what cannot take it
            journal.add_incident(
                category="device_fault" if new.status != "ok" else "recovered",
                device="journal",
                fault=fault,
                action="detected by the daemon's journal check",
                result=result,
                actor="daemon",
            )

    def _check_changed(self, device: str, old: CheckResult | None, new: CheckResult) -> None:
        """A check changed status: a structured log line, and an incident when it is a
        change a person would want in the fault record (not the first result)."""
        self.changes.tell("devices")
        log.info(
            json.dumps(
                {
                    "event": "check",
                    "device": device,
                    "check": new.check,
                    "from": None if old is None else old.status,
                    "to": new.status,
                    "text": new.text,
                },
                ensure_ascii=False,
            )
        )
        if self.journal is None or (old is None and new.status == "ok"):
            return
        worse = new.status != "ok"
        with contextlib.suppress(Exception):
            self.journal.add_incident(
                category="device_fault" if worse else "recovered",
                device=device,
                fault=f"{new.check} check: {new.text}"
                if worse
                else f"{new.check} check was {old.status if old else 'unknown'}",
                action="detected by the daemon's health checks",
                result=new.status if worse else f"back to ok: {new.text}",
                actor="daemon",
            )
