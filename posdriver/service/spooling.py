"""The daemon's print loop: receipts waiting for a printer go out as soon as it can take
them, each spooler run a ``PRINT`` task on the printer worker's thread.

The loop is woken, not timed: by the journal when a print job is queued
(:meth:`~posdriver.journal.printing.Printing.on_print_queued`), by a printer's worker
when the printer becomes able to print again (paper loaded, cover closed, link back),
and by a run that ends while a wake-up was waiting for it. The timer
(:data:`BACKSTOP_SECONDS`) is only a safety net, for what no wake-up announces: a job
queued by another process on the same journal, a job left waiting by a run that failed
for a reason the printer's status does not show, and the slow retry of a printer that
still cannot print (:data:`BLOCKED_RETRY_SECONDS`, which keeps the desk's ``jobs``
reasons and the fault record current).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

from .worker_base import PRINT, DeviceWorker

BACKSTOP_SECONDS = 30.0  # a safety net only: every known cause of work wakes the loop
BLOCKED_RETRY_SECONDS = 30.0  # a printer that cannot print is tried again this seldom

Task = Callable[[Any], Any]


class SpoolLoop:
    """Submits a spooler run to each printer with waiting jobs whenever it is woken.

    ``jobs`` names the printers with open jobs (run by a worker here); ``task`` makes
    one spooler run for a worker; ``stopping`` ends the loop (wake it after setting it).
    A printer whose previous run is still going gets no second one: the wake-up is kept
    and acted on when that run ends, so a job queued during a run is not left for the
    backstop.
    """

    def __init__(
        self,
        *,
        jobs: Callable[[], list[str]],
        workers: Mapping[str, DeviceWorker],
        task: Callable[[DeviceWorker], Task],
        stopping: threading.Event,
        backstop: float = BACKSTOP_SECONDS,
    ) -> None:
        self.jobs = jobs
        self.workers = workers
        self.task = task
        self.stopping = stopping
        self.backstop = backstop
        self.blocked_retry = BLOCKED_RETRY_SECONDS
        self._wake = threading.Event()
        self._lock = threading.Lock()  # guards _busy and _again (the workers' threads)
        self._busy: dict[str, Future[Any]] = {}
        self._again: set[str] = set()  # woken while that printer's run was going
        self._last_try: dict[str, float] = {}
        # printers whose last run printed nothing and left jobs waiting, with when it
        # ended: blocked until their worker has read their status again since
        self._stuck: dict[str, float] = {}
        self._retry_at: float | None = None  # when a printer that cannot print is next tried

    def wake(self) -> None:
        """There may be something to print: look now. Only sets an event, so it is safe
        from any thread, inside a journal transaction or a worker's status read."""
        self._wake.set()

    def run(self) -> None:
        """The loop's thread: a turn per wake-up, or per backstop when none came."""
        while not self.stopping.is_set():
            self._wake.wait(self._timeout())
            # cleared before the journal is read: a job queued from here on wakes again
            self._wake.clear()
            if self.stopping.is_set():
                return
            self.turn()

    def _timeout(self) -> float:
        """Until the backstop, or sooner when a printer that cannot print is due its
        slow retry."""
        if self._retry_at is None:
            return self.backstop
        return max(0.0, min(self.backstop, self._retry_at - time.monotonic()))

    def turn(self) -> None:
        """One look at the journal's open jobs; a run submitted per printer that can
        take one."""
        self._retry_at = None
        try:
            names = self.jobs()
        except Exception:  # a journal hiccup: the next wake-up or the backstop retries
            return
        for name in names:
            worker = self.workers.get(name)
            if worker is None or worker.driver is None:
                continue  # not connected: its worker wakes the loop once it can print
            blocked = self._blocked(name, worker)
            last = self._last_try.get(name, 0.0)
            if blocked and time.monotonic() < last + self.blocked_retry:
                self._retry(last + self.blocked_retry)
                continue
            self._last_try[name] = time.monotonic()
            if blocked:
                self._retry(self._last_try[name] + self.blocked_retry)
            self._submit(name, worker)

    def _submit(self, name: str, worker: DeviceWorker) -> None:
        """A run on ``worker``, unless its last one is still going (then the wake-up is
        kept for when it ends)."""
        with self._lock:
            running = self._busy.get(name)
            if running is not None and not running.done():
                self._again.add(name)
                return
            try:
                future = worker.submit(PRINT, self.task(worker), "print")
            except Exception:  # stopping: nothing new is taken
                return
            self._busy[name] = future
        # outside the lock: a future already done runs its callback (which locks) at once
        future.add_done_callback(functools.partial(self._ran, name))

    def _blocked(self, name: str, worker: DeviceWorker) -> bool:
        """Paper out, cover open: the checks already say so, and the worker wakes the
        loop when the printer recovers; until then a run only every ``blocked_retry``
        seconds, woken for by the loop's own timer. A run that could print nothing says
        so before the checks can (it reads the status itself, on the worker's thread,
        ahead of the worker's own poll; a printer that does not answer fails no check
        but its link): it counts as blocked until the worker has looked again. Without
        that, each job queued meanwhile would run the queue again and write the fault
        record again, once per receipt instead of once per fault."""
        view = worker.view()
        with self._lock:
            stuck = self._stuck.get(name)
        if stuck is not None and (view.status_at is None or view.status_at <= stuck):
            return True
        return any(c.check != "link" and c.status == "critical" for c in view.checks.values())

    def _retry(self, at: float) -> None:
        self._retry_at = at if self._retry_at is None else min(self._retry_at, at)

    def _ran(self, name: str, run: Future[Any]) -> None:
        """A run ended (on the worker's thread): note whether it could print nothing,
        and act on a wake-up that came during it."""
        stuck = _printed_nothing(run)
        with self._lock:
            again = name in self._again
            self._again.discard(name)
            if stuck:
                self._stuck[name] = time.time()
            else:
                self._stuck.pop(name, None)
        worker = self.workers.get(name)
        if _printed_some(run) and not self.stopping.is_set() and worker is not None:
            # a run prints one receipt, and more may wait: the next run is queued from
            # here, on the worker's thread before it turns idle, so a backlog prints
            # back to back (a status poll that is due still goes first)
            self._submit(name, worker)
        elif again:
            self.wake()


def _report(run: Future[Any]) -> Any:
    """A finished run's report, or None for a run that failed outright or was cancelled
    (it says nothing about the printer)."""
    if run.cancelled() or run.exception() is not None:
        return None
    return run.result()


def _printed_nothing(run: Future[Any]) -> bool:
    """Whether a spooler run left jobs waiting and printed none (the printer could not
    take them)."""
    report = _report(run)
    return bool(getattr(report, "waiting", None)) and not getattr(report, "printed", None)


def _printed_some(run: Future[Any]) -> bool:
    """Whether a spooler run printed anything (there may be more waiting behind it)."""
    return bool(getattr(_report(run), "printed", None))
