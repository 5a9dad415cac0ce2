"""The device worker: one thread per device owns its link, and everything done to the
device goes through the worker's queue, money first, then printing, then health polls.
The printer's and the terminal's workers (:mod:`.worker_printer`,
:mod:`.worker_terminal`) add how their device is opened and when it is looked at.

A worker never gives up on its device: when the link fails it reconnects with
tenacity's jittered exponential backoff (capped at ``service.reconnect_max``) for as
long as the daemon runs, publishing its lifecycle (starting, connecting, ready, busy,
degraded, reconnecting, error) in its :class:`~.snapshot.DeviceSnapshot`. A status it
read carries its time; readers turn a status older than the freshness limit into
unknown, so silence never reads as "paper present" or "online".

Health checks come from the registry (:func:`posdriver.health.registry.checks_for`):
a worker runs every check registered for its device's kind that the device supports,
and records each :class:`~posdriver.health.check.Reading` the same way
(:meth:`DeviceWorker.run_check`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from tenacity import wait_exponential_jitter

from ..config import ServiceConfig
from ..errors import PosdriverError
from ..health.check import HealthCheck, Probe, Reading
from .snapshot import CheckResult, DeviceSnapshot

log = logging.getLogger("posdriver.service.workers")  # the name the logs have always had

MONEY, PRINT, HEALTH = 0, 1, 2  # queue priorities: lower runs first
# the longest a task may run before the watchdog counts the worker as hung: above the
# terminal's T4 (180 s) plus its own retries
MAX_TASK_SECONDS = 300.0


@dataclass(order=True)
class _Task:
    priority: int
    seq: int
    fn: Callable[[Any], Any] = field(compare=False)
    future: Future[Any] = field(compare=False)
    name: str = field(compare=False, default="")


# A check result changed status: (device, old result or None, new result).
CheckListener = Callable[[str, CheckResult | None, CheckResult], None]


class WorkerStopped(PosdriverError, RuntimeError):
    """The worker is stopping and takes no new work."""


class DeviceWorker(threading.Thread):
    """The owner of one device. Subclasses open the driver and poll it."""

    kind = ""

    def __init__(
        self,
        name: str,
        url: str,
        service: ServiceConfig,
        *,
        on_check: CheckListener | None = None,
        lifecycle: threading.Condition | None = None,
        on_ready: Callable[[], None] | None = None,
        on_state: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(name=f"worker-{name}", daemon=True)
        self.device = name
        self.service = service
        self.snapshot = DeviceSnapshot(
            name=name, kind=self.kind, url=url, freshness=service.freshness
        )
        self.lock = threading.Lock()  # guards self.snapshot
        self.on_check = on_check
        # notified at every lifecycle change: the daemon waits on it for first contact
        self.lifecycle_changed = lifecycle or threading.Condition()
        # called when the device becomes able to do its work (a printer: connected,
        # paper loaded, cover closed, error cleared): the daemon's print loop wakes on it
        self.on_ready = on_ready
        # called after a lifecycle change (the status page's feed); it must only signal
        self.on_state = on_state
        self._could_work = False
        self.health_checks: tuple[HealthCheck, ...] = ()  # the registry's, for this device
        self._queue: queue.PriorityQueue[_Task] = queue.PriorityQueue()
        self._seq = itertools.count()
        self._halt = threading.Event()
        self._accepting = True
        self.heartbeat = time.monotonic()  # the loop's last turn: the watchdog reads it
        self.task_started: float | None = None  # monotonic start of the running task
        self.driver: Any = None
        self._backoff = wait_exponential_jitter(
            multiplier=0.5, max=service.reconnect_max, jitter=0.5
        )
        self._failures = 0

    # -- the queue -----------------------------------------------------------------------
    def submit(self, priority: int, fn: Callable[[Any], Any], name: str = "") -> Future[Any]:
        """Run ``fn(driver)`` on this worker's thread; the future holds its result."""
        if not self._accepting:
            raise WorkerStopped(f"{self.device} is stopping; nothing new is taken")
        future: Future[Any] = Future()
        self._queue.put(_Task(priority, next(self._seq), fn, future, name))
        return future

    def call(self, priority: int, fn: Callable[[Any], Any], name: str = "") -> Any:
        """``submit`` and wait for the result (raising what ``fn`` raised)."""
        return self.submit(priority, fn, name).result()

    def pending(self) -> int:
        return self._queue.qsize()

    # -- lifecycle -----------------------------------------------------------------------
    def stop(self, drain: bool = True, timeout: float | None = None) -> None:
        """Stop taking work; with ``drain`` finish what is queued (a payment in progress
        is never cut in half), then close the device."""
        self._accepting = False
        if not drain:
            while True:
                try:
                    task = self._queue.get_nowait()
                except queue.Empty:
                    break
                task.future.set_exception(WorkerStopped(f"{self.device} stopped"))
        self._halt.set()
        self._queue.put(_Task(99, next(self._seq), lambda _d: None, Future(), "stop"))
        self.join(timeout)

    def alive(self, within: float, task_limit: float = MAX_TASK_SECONDS) -> bool:
        """Whether the loop turned in the last ``within`` seconds, or is running a task
        that has not outlived ``task_limit`` (a payment waits on the terminal for up to
        T4: the watchdog must not kill the daemon in the middle of one)."""
        if not self.is_alive():
            return False
        now = time.monotonic()
        started = self.task_started
        if started is not None:
            return now - started < task_limit
        return now - self.heartbeat < within

    def reconfigure(self, cfg: Any, service: ServiceConfig) -> None:
        """Settings from a reload (called from the main thread; each takes effect at the
        worker's next use of it). Subclasses take their device's part."""
        self.service = service
        self._backoff = wait_exponential_jitter(
            multiplier=0.5, max=service.reconnect_max, jitter=0.5
        )

    def check_now(self, connectivity: bool = False) -> Future[Any]:
        """Look at the device now (``posdriver check``), as a health task: behind any
        payment or print, never in the middle of one. ``connectivity`` also has a
        terminal dial its acquirer (left to the schedule otherwise: some acquirers charge
        per call)."""
        return self.submit(HEALTH, lambda _driver: self.look(connectivity), "check")

    def look(self, connectivity: bool) -> None:
        """One status read and its checks, on the worker's thread."""

    def set_state(self, lifecycle: str, detail: str = "") -> None:
        with self.lock:
            changed = self.snapshot.lifecycle != lifecycle or self.snapshot.detail != detail
            if changed:
                log.info(
                    "device %s: %s%s", self.device, lifecycle, f" ({detail})" if detail else ""
                )
            self.snapshot.lifecycle = lifecycle
            self.snapshot.detail = detail
        # after the snapshot's lock is let go: a waiter reads snapshots under this one
        with self.lifecycle_changed:
            self.lifecycle_changed.notify_all()
        if changed and self.on_state is not None:
            self.on_state()

    def view(self) -> DeviceSnapshot:
        """A copy of the snapshot with stale values turned unknown."""
        with self.lock:
            return self.snapshot.current()

    def expect_retries(self, *operations: str) -> None:
        """Every operation this device may retry starts its count at 0, so each
        posdriver_retries_total series exists from the first scrape: a rate() over it
        sees its first retry, and a panel or an alert does not wait for one to appear."""
        with self.lock:
            for operation in operations:
                if operation:
                    self.snapshot.retries.setdefault(operation, 0)

    def count_retries(self, operation: str, retries: int) -> None:
        """``retries`` more tries of ``operation`` (exported as posdriver_retries_total)."""
        if retries > 0:
            with self.lock:
                counts = self.snapshot.retries
                counts[operation] = counts.get(operation, 0) + retries

    def record_checks(self, results: list[CheckResult]) -> None:
        changed: list[tuple[CheckResult | None, CheckResult]] = []
        with self.lock:
            for result in results:
                old = self.snapshot.checks.get(result.check)
                same = old is not None and old.status == result.status
                since = (old.since or old.at) if same and old is not None else result.at
                result = dataclasses.replace(result, since=since)
                self.snapshot.checks[result.check] = result
                if not same:
                    changed.append((old, result))
        if self.on_check is not None:
            for old, new in changed:
                try:
                    self.on_check(self.device, old, new)
                except Exception:
                    log.exception("check listener failed")

    # -- health checks -------------------------------------------------------------------
    def probe(self) -> Probe:
        """What this device's checks get besides the driver."""
        return Probe(self.device)

    def run_check(self, check: HealthCheck) -> Reading:
        """One registered check on this worker's thread, with the driver it holds. A link
        that failed under it is raised (the loop reconnects; the failed open that may
        follow is what the checks then say); a device that stopped answering is
        recorded, then raised."""
        reading = check.run(self.driver, self.probe())
        if reading.failed is not None:
            raise reading.failed
        if check.retries_as:
            self.count_retries(check.retries_as, reading.retries)
        self.apply(reading)
        if reading.stopped is not None:
            raise ConnectionError(reading.stopped)
        return reading

    def apply(self, reading: Reading) -> None:
        """Record a reading: its facts and, when the device answered (a ``link`` check
        that is not critical), the time of the status; then its checks (listeners hear
        of changes), the settled lifecycle, and ``on_ready`` if the device can work
        again."""
        now = time.time()
        answered = any(r.check == "link" and r.status != "critical" for r in reading.results)
        with self.lock:
            for name, value in reading.facts.items():
                setattr(self.snapshot, name, value)
            if answered:
                self.snapshot.status_at = now
                self.snapshot.last_contact = now
            self.note(reading)
        self.record_checks(reading.results)
        if self.snapshot.lifecycle in ("ready", "degraded"):
            self.set_state(self.settled_state())
        if reading.ready is not None:
            self._tell_if_ready(reading.ready)

    def note(self, reading: Reading) -> None:
        """What else a reading changes in the snapshot (called under ``self.lock``)."""

    def _tell_if_ready(self, ready: bool) -> None:
        """Call ``on_ready`` when the device went from unable to able to work, after the
        checks that say so are recorded."""
        became_ready = ready and not self._could_work
        self._could_work = ready
        if became_ready and self.on_ready is not None:
            try:
                self.on_ready()
            except Exception:
                log.exception("device %s: the ready listener failed", self.device)

    # -- the loop ------------------------------------------------------------------------
    def run(self) -> None:
        self.set_state("starting")
        while not self._halt.is_set() or not self._queue.empty():
            self.heartbeat = time.monotonic()
            if self.driver is None:
                if self._halt.is_set():
                    self._fail_queued("the device is not connected and the daemon is stopping")
                    break
                self._connect()
                continue
            try:
                self._turn()
            except Exception as exc:
                self._lost(exc)
        self._close()
        self.set_state("stopped", "the daemon is stopping")

    def _fail_queued(self, why: str) -> None:
        while True:
            try:
                task = self._queue.get_nowait()
            except queue.Empty:
                return
            task.future.set_exception(WorkerStopped(why))

    def _connect(self) -> None:
        self.set_state("connecting" if self._failures == 0 else "reconnecting")
        started = time.monotonic()
        try:
            self.driver = self.open()
        except Exception as exc:
            self._failures += 1
            with self.lock:
                self.snapshot.link_errors += 1
            # each failed open is news: the link check stays critical (and fresh) while
            # the device is away, instead of turning "stale" between tries
            self.record_checks(
                [
                    CheckResult(
                        self.device,
                        "link",
                        "critical",
                        f"cannot open the device: {exc}",
                        time.monotonic() - started,
                        time.time(),
                    )
                ]
            )
            delay = self._delay()
            # still retried, but "error" tells ops that waiting will not fix it
            state = "error" if _needs_a_person(exc) else "reconnecting"
            self.set_state(state, f"{exc}; next try in {delay:.1f} s")
            self._serve_while_down(delay, str(exc))
            return
        if self._failures:
            with self.lock:
                self.snapshot.reconnects += 1
        self._failures = 0
        # "ready" only once the device has been looked at: before that nothing is known
        # about it (and the daemon waits for this before it tells systemd it is ready)
        self.after_connect()
        self.set_state(self.settled_state())

    def _delay(self) -> float:
        from tenacity import RetryCallState

        state = RetryCallState(None, None, (), {})  # type: ignore[arg-type]
        state.attempt_number = self._failures
        return float(self._backoff(state))

    def _serve_while_down(self, delay: float, why: str) -> None:
        """While the device is down, queued work fails at once with the reason (a guest
        is not kept waiting for a backoff), and the loop keeps turning for the watchdog."""
        deadline = time.monotonic() + delay
        while not self._halt.is_set():
            self.heartbeat = time.monotonic()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                task = self._queue.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if task.name == "stop":
                return
            self.unavailable(task, why)

    def unavailable(self, task: _Task, why: str) -> None:
        task.future.set_exception(ConnectionError(f"{self.device} is not connected: {why}"))

    def _turn(self) -> None:
        if not self._halt.is_set() and self.look_first():
            return
        wait = self.idle_wait()
        try:
            task = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
        except queue.Empty:
            if not self._halt.is_set():  # a stopping worker starts no new poll
                self.idle()
            return
        if task.name == "stop":
            return
        self._run_task(task)

    def _run_task(self, task: _Task) -> None:
        busy = task.priority < HEALTH
        if busy:
            self.set_state("busy", task.name)
        self.task_started = time.monotonic()
        try:
            result = task.fn(self.driver)
        except BaseException as exc:
            task.future.set_exception(exc)
            if self.is_link_failure(exc):
                raise
        else:
            task.future.set_result(result)
        finally:
            self.task_started = None
            self.heartbeat = time.monotonic()
            if busy and self.driver is not None:
                self.set_state(self.settled_state())

    def _lost(self, exc: Exception) -> None:
        log.warning("device %s: link lost: %s", self.device, exc)
        with self.lock:
            self.snapshot.link_errors += 1
        self._close()
        self._failures = 1
        self.set_state("reconnecting", str(exc))

    def _close(self) -> None:
        self._could_work = False
        driver, self.driver = self.driver, None
        if driver is not None:
            with contextlib.suppress(Exception):
                self.close(driver)

    # -- for subclasses ------------------------------------------------------------------
    def open(self) -> Any:
        raise NotImplementedError

    def close(self, driver: Any) -> None:
        raise NotImplementedError

    def after_connect(self) -> None:
        """First look at the device once connected."""

    def idle_wait(self) -> float:
        """How long to wait for a task before :meth:`idle`."""
        return 0.5

    def idle(self) -> None:
        """No task: poll or read what the device pushed."""

    def look_first(self) -> bool:
        """Whether a look at the device was due and taken ahead of the queued tasks. The
        looks are idle work; a device whose queue never empties (a printer's backlog,
        one receipt per task) would otherwise go unwatched while it works."""
        return False

    def settled_state(self) -> str:
        """ready or degraded, from the checks."""
        with self.lock:
            statuses = {c.status for c in self.snapshot.checks.values()}
        return "degraded" if statuses - {"ok"} else "ready"

    def is_link_failure(self, exc: BaseException) -> bool:
        from ..links import LinkError

        return isinstance(exc, LinkError)


def _needs_a_person(exc: BaseException) -> bool:
    """An open that fails for a reason no wait will mend: a wrong URL, a device node
    the service may not open, a path that is not a serial port."""
    from ..links import LinkURLError

    text = str(exc).lower()
    return isinstance(exc, LinkURLError) or any(
        words in text for words in ("permission denied", "not a serial port")
    )
