"""The print queue: receipts wait in the journal until a printer takes them.

A receipt is data first and paper second. The card was charged and the receipt is in the
journal before anything is printed; printing is a job in the journal that outlives paper
running out, an open cover, a pulled cable and a restart of the program, and finishes by
itself the next time the spooler runs and the printer can print.

How one job is printed, and why in that order:

1. The printer's status is read first. A printer that cannot print (paper out, cover
   open, offline, not answering) is waited for and asked again (bounded, jittered
   exponential back-off with tenacity); the job is not touched, so nothing about it
   changes until a byte can go out.
2. ``job_started`` is journaled (and fsynced) *before* the first byte is sent. A job that
   is found still ``printing`` later was cut off part-way (the program died mid-receipt),
   and the journal hands it back as a *continuation*.
3. The receipt is rebuilt from its stored lines: a continuation gets a banner saying it
   is printed again in full, a reprint its DUPLICATE banner with number and time (a
   reprint that was cut off gets both, the continuation banner on top). The guest never
   holds half a receipt without an explanation next to it.
4. Success is journaled with ``job_done``. A failure puts the job back in the queue:
   marked interrupted when bytes may have reached the paper (``PrintIncomplete`` with
   bytes sent, a link that died mid-job), plain otherwise (refused before the first
   byte). After an interruption the printer is told to drop what it still holds of the
   job (DLE DC4 8), so the tail of a torn receipt does not come out on the new roll in
   front of its reprint; a link that failed is closed and opened again next attempt.

``run`` never raises for printer or link trouble: jobs that could not print stay queued
with a reason in words for the front desk, and each printer that could not print gets
one ``device_fault`` incident per run. Every attempt, retry and failure is counted in
:attr:`Spooler.stats` for the daemon's metrics.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base

from ..config import PrinterConfig, PrintPolicy, ReceiptConfig
from ..journal.journal import Journal
from ..journal.records import PrintJob
from ..links import Link, LinkError, link_for_url
from ..locks import DeviceInUse
from ..printer.driver import Printer
from ..printer.errors import PrinterNotReady, PrinterNotResponding, PrintIncomplete
from ..printer.receipt import encode_segments
from ..printer.status import Severity
from .receipts import as_printed
from .spool_report import (  # what a run reports, and why a job waits
    JobOutcome,
    PrintTrouble,
    SpoolReport,
    SpoolStats,
    describe_status,
    incomplete_trouble,
    link_trouble,
)

log = logging.getLogger(__name__)

OpenPrinter = Callable[[PrinterConfig], tuple[Printer, Link]]

INCIDENT_ACTION = "receipt kept in the print queue"
INCIDENT_RESULT = "waiting for the printer"


def local_now() -> datetime:
    """The desk's local time, timezone-aware: what a continuation or copy banner shows."""
    return datetime.now().astimezone()


def open_printer_link(cfg: PrinterConfig) -> tuple[Printer, Link]:
    """The default way to reach a printer: its link URL, opened, with a driver on it."""
    link = link_for_url(cfg.url).open()
    return Printer(link), link


# -- the spooler -------------------------------------------------------------------------


class _StopAt(stop_base):
    """Stop retrying once the caller's wait (a ``time.monotonic`` deadline) is over."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        return time.monotonic() >= self.deadline


class _Session:
    """One printer's open link for the length of a run, reopened after it fails."""

    def __init__(self, cfg: PrinterConfig, opener: OpenPrinter) -> None:
        self.cfg = cfg
        self._opener = opener
        self.printer: Printer | None = None
        self.link: Link | None = None

    def open(self) -> Printer:
        if self.printer is None:
            try:
                self.printer, self.link = self._opener(self.cfg)
            except LinkError as exc:
                raise link_trouble(exc, self.cfg, interrupted=False) from exc
        return self.printer

    def close(self) -> None:
        link, self.printer, self.link = self.link, None, None
        if link is not None:
            with contextlib.suppress(Exception):
                link.close()


class Spooler:
    """Prints the journal's queued receipts on the configured printers."""

    def __init__(
        self,
        journal: Journal,
        printers: Sequence[PrinterConfig],
        *,
        policy: PrintPolicy,
        receipt: ReceiptConfig,
        open_printer: OpenPrinter | None = None,
        clock: Callable[[], datetime] = local_now,
        sleep: Callable[[float], None] = time.sleep,
        lock: Callable[[str], contextlib.AbstractContextManager[None]] | None = None,
        stats: SpoolStats | None = None,
    ) -> None:
        self.journal = journal
        # one owner per printer across processes (the CLI next to the daemon): a run
        # holds the printer's lock, and re-reads each job under it, so a job another
        # process already printed is not printed again
        self.lock = lock
        self.printers = tuple(printers)
        self.policy = policy
        self.receipt = receipt
        self.open_printer = open_printer or open_printer_link
        self.clock = clock
        self.sleep = sleep
        self.stats = stats if stats is not None else SpoolStats()  # kept across rebuilds
        # one run at a time in this process: two threads printing the same job would
        # put two receipts on paper
        self._running = threading.Lock()

    # -- public ----------------------------------------------------------------------
    def pending(self) -> list[PrintJob]:
        """Jobs waiting for a printer (queued, or interrupted while printing), oldest first."""
        return self.journal.open_jobs()

    def run(
        self,
        *,
        printer: str | None = None,
        job_ids: Sequence[int] | None = None,
        wait: float | None = None,
        limit: int | None = None,
    ) -> SpoolReport:
        """Print the open jobs, oldest first, on ``printer`` or on every printer.

        Jobs without a printer go to the first configured one. ``job_ids`` limits the run
        to those jobs (ones that are not open any more are left out of the report).
        ``wait`` bounds the time spent waiting for printers to become ready (default:
        the policy's ``ready_timeout``); every printer still gets one attempt, and a job
        that is printing when it runs out is finished. ``limit``: at most this many
        receipts printed per printer, the rest left for the next run untouched (the
        daemon prints a backlog one receipt per run, so the printer's status polls get
        their turn between receipts). Printer and link trouble never
        raises: those jobs stay queued, with the reason. Raises ``ValueError`` for a
        printer name that is not configured, and journal errors as they are (a job that
        was being printed then is reprinted as a continuation next time).
        """
        if printer is not None and printer not in {p.name for p in self.printers}:
            known = ", ".join(p.name for p in self.printers) or "none"
            raise ValueError(f"no printer named {printer!r}; configured printers: {known}")
        budget = self.policy.ready_timeout if wait is None else max(0.0, wait)
        with self._running:
            deadline = time.monotonic() + budget
            jobs = self.journal.open_jobs()
            if job_ids is not None:
                wanted = set(job_ids)
                jobs = [j for j in jobs if j.id in wanted]
            groups, unrouted = self._route(jobs)
            outcomes: dict[int, JobOutcome] = {}
            for job, reason in unrouted:
                if printer is None:
                    outcomes[job.id] = self._leave_waiting(job, reason)
            for cfg in self.printers:
                if printer is not None and cfg.name != printer:
                    continue
                if groups.get(cfg.name):
                    for outcome in self._run_printer(cfg, groups[cfg.name], deadline, limit):
                        outcomes[outcome.job.id] = outcome
        return SpoolReport(tuple(outcomes[j.id] for j in jobs if j.id in outcomes))

    # -- routing ---------------------------------------------------------------------
    def _route(
        self, jobs: Sequence[PrintJob]
    ) -> tuple[dict[str, list[PrintJob]], list[tuple[PrintJob, str]]]:
        """Jobs by printer name; a job naming a printer that is not configured waits
        (printing it elsewhere could put a guest's receipt at the wrong desk)."""
        names = {p.name for p in self.printers}
        groups: dict[str, list[PrintJob]] = {}
        unrouted: list[tuple[PrintJob, str]] = []
        for job in jobs:
            if not self.printers:
                unrouted.append((job, "no printer is configured"))
            elif job.printer is None:
                groups.setdefault(self.printers[0].name, []).append(job)
            elif job.printer in names:
                groups.setdefault(job.printer, []).append(job)
            else:
                unrouted.append((job, f"no printer named {job.printer!r} is configured"))
        return groups, unrouted

    # -- one printer -------------------------------------------------------------------
    def _run_printer(
        self, cfg: PrinterConfig, jobs: list[PrintJob], deadline: float, limit: int | None
    ) -> list[JobOutcome]:
        if self.lock is None:
            return self._run_printer_locked(cfg, jobs, deadline, limit)
        try:
            with self.lock(cfg.name):
                fresh = [self.journal.job(j.id) for j in jobs]
                still_open = [j for j in fresh if j.state in ("queued", "printing")]
                return self._run_printer_locked(cfg, still_open, deadline, limit)
        except DeviceInUse as exc:  # another process holds the printer
            return [self._leave_waiting(job, str(exc)) for job in jobs]

    def _run_printer_locked(
        self, cfg: PrinterConfig, jobs: list[PrintJob], deadline: float, limit: int | None
    ) -> list[JobOutcome]:
        session = _Session(cfg, self.open_printer)
        outcomes: list[JobOutcome] = []
        stuck: PrintTrouble | None = None
        printed = 0
        try:
            for job in jobs:
                if stuck is not None:
                    # the printer could not take the job before this one: no use trying
                    outcomes.append(self._leave_waiting(job, stuck.reason))
                    continue
                if limit is not None and printed >= limit:
                    break  # the rest go in the next run, queued as they are
                try:
                    done = self._print_with_retries(session, job, deadline)
                except PrintTrouble as trouble:
                    outcomes.append(self._leave_waiting(job, trouble.reason))
                    if trouble.printer_wide:
                        stuck = trouble
                    continue
                self.stats.printed += 1
                printed += 1
                log.info("print job %s printed on %s", job.id, cfg.name)
                outcomes.append(JobOutcome(done, True, None))
        finally:
            session.close()
        if stuck is not None:
            waiting = [o.job.id for o in outcomes if not o.printed]
            log.warning(
                "printer %s cannot print (%s): jobs %s wait", cfg.name, stuck.reason, waiting
            )
            self.journal.add_incident(
                category="device_fault",
                device=cfg.name,
                fault=stuck.reason,
                action=INCIDENT_ACTION,
                result=INCIDENT_RESULT,
                notes="print jobs waiting: " + ", ".join(str(i) for i in waiting),
            )
        return outcomes

    def _leave_waiting(self, job: PrintJob, reason: str) -> JobOutcome:
        """Record why the job waits (``last_error``), keeping it queued. A job still
        ``printing`` that this run never took was cut off by a crash, so it stays marked
        as interrupted."""
        current = self.journal.job(job.id)
        if current.state in ("queued", "printing"):
            current = self.journal.job_failed(
                job.id, reason, interrupted=current.state == "printing"
            )
        return JobOutcome(current, False, reason)

    def _print_with_retries(self, session: _Session, job: PrintJob, deadline: float) -> PrintJob:
        policy = self.policy
        backoff = wait_exponential_jitter(
            multiplier=policy.wait_initial, max=policy.wait_max, jitter=policy.jitter
        )

        def wait(state: RetryCallState) -> float:
            # never sleep past the caller's deadline: the last attempt happens at it
            return max(0.0, min(backoff(state), deadline - time.monotonic()))

        def count_retry(state: RetryCallState) -> None:
            self.stats.retries += 1
            self.stats.retries_by_printer[session.cfg.name] += 1
            error = state.outcome.exception() if state.outcome else None
            log.info(
                "print job %s on %s: %s; retrying in %.2f s",
                job.id,
                session.cfg.name,
                error,
                state.upcoming_sleep,
            )

        retrying = Retrying(
            stop=stop_after_attempt(max(1, policy.attempts)) | _StopAt(deadline),
            wait=wait,
            retry=retry_if_exception(lambda e: isinstance(e, PrintTrouble) and e.retryable),
            before_sleep=count_retry,
            sleep=self.sleep,
            reraise=True,
        )
        return retrying(self._attempt, session, job.id)

    # -- one attempt -------------------------------------------------------------------
    def _attempt(self, session: _Session, job_id: int) -> PrintJob:
        self.stats.attempts += 1
        try:
            return self._try_print(session, job_id)
        except PrintTrouble as trouble:
            self.stats.failures[trouble.code] += 1
            if trouble.interrupted:
                self.stats.interrupted += 1
            raise

    def _try_print(self, session: _Session, job_id: int) -> PrintJob:
        printer = session.open()
        try:
            status = printer.query_status()
        except LinkError as exc:
            session.close()
            raise link_trouble(exc, session.cfg, interrupted=False) from exc
        if status.severity in (Severity.CRITICAL, Severity.UNKNOWN):
            code, reason = describe_status(status)
            raise PrintTrouble(code, reason)

        # From here on a crash leaves the job 'printing': the next run reprints it whole.
        job = self.journal.job_started(job_id)
        try:
            segments = self._render(job, session.cfg)
        except Exception as exc:
            reason = f"this receipt cannot be printed: {exc}"
            self.journal.job_failed(job_id, reason, interrupted=False)
            raise PrintTrouble("bad_receipt", reason, retryable=False, printer_wide=False) from exc

        try:
            result = printer.print_job(segments, confirm=True)
        except PrintIncomplete as exc:
            trouble = incomplete_trouble(exc)
            self.journal.job_failed(job_id, trouble.reason, interrupted=trouble.interrupted)
            if trouble.interrupted and exc.sent > exc.printed:
                self._discard_held(session)
            raise trouble from exc
        except (PrinterNotReady, PrinterNotResponding) as exc:
            code, reason = describe_status(exc.status)
            self.journal.job_failed(job_id, reason, interrupted=False)
            raise PrintTrouble(code, reason) from exc
        except LinkError as exc:
            # the link died inside the job: bytes may well have reached the paper
            session.close()
            trouble = link_trouble(exc, session.cfg, interrupted=True)
            self.journal.job_failed(job_id, trouble.reason, interrupted=True)
            raise trouble from exc
        except Exception:
            session.close()
            self.journal.job_failed(
                job_id, "printing stopped by an unexpected error", interrupted=True
            )
            raise
        if not result.confirmed:  # confirm=True makes the driver raise instead; be sure
            reason = "the printer did not confirm the whole receipt"
            self.journal.job_failed(job_id, reason, interrupted=True)
            raise PrintTrouble("incomplete", reason, interrupted=True)
        return self.journal.job_done(job_id)

    def _render(self, job: PrintJob, cfg: PrinterConfig) -> list[bytes]:
        """The job's stored receipt with its marks, as ESC/POS segments."""
        rc = self.receipt
        receipt = as_printed(
            self.journal.get_receipt(job.receipt_id).lines,
            at=self.clock(),
            language=rc.language,
            columns=rc.columns,
            reprint_no=(job.reprint_no or 1) if job.purpose == "reprint" else None,
            continuation=job.continuation,
        )
        return encode_segments(receipt, cfg.profile)

    def _discard_held(self, session: _Session) -> None:
        """Ask the printer to drop the rest of a cut-off job it still holds, so that it
        does not print a torn receipt's tail when paper comes back. Best effort: when
        this fails the reprint's banner still explains the stray tail."""
        printer = session.printer
        if printer is None:
            return
        try:
            printer.clear_buffers()
        except LinkError:
            session.close()
