"""Prometheus metrics, built from the daemon's snapshot at scrape time.

A scrape must never wait on a serial line or a terminal, and must never show a value
older than its freshness limit as if it were current. So nothing here talks to a device:
:class:`SnapshotCollector` asks for a :class:`~.snapshot.ServiceSnapshot` (a copy the
workers keep up to date) and turns it into fresh metric families on every scrape. Stale
device status is read through :meth:`DeviceSnapshot.current`, which reports it as
unknown, the same view the API gives.

State sets (device lifecycle, paper, cover, acquirer, circuit, check status) export one
0/1 series per known state, always, so an alert such as ``paper_state{state="out"} == 1``
has a series to look at before the first fault and a missing series never reads as
"fine". Label values are bounded: device names come from the configuration, everything
else from the fixed tuples in :mod:`.snapshot`. Names read from the snapshot's dicts
(retry operations, extra checks, operation outcomes) must look like identifiers without
digits, so a transaction id or anything card-like can never become a label value.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.exposition import start_http_server
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from posdriver.cashier.pan_scan import mask_pans
from posdriver.service.snapshot import (
    ACQUIRER_STATES,
    CHECK_STATUSES,
    CIRCUIT_STATES,
    COVER_STATES,
    LIFECYCLE,
    OPERATION_KINDS,
    OUTCOMES,
    PAPER_STATES,
    PRINTER_CHECKS,
    PRINTER_ERRORS,
    TERMINAL_CHECKS,
    DeviceSnapshot,
    ServiceSnapshot,
)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8471
PRINT_JOB_STATES = ("queued", "printing", "failed")
UP_LIFECYCLES = frozenset({"ready", "busy", "degraded"})
CHECKS_BY_KIND: dict[str, tuple[str, ...]] = {
    "printer": PRINTER_CHECKS,
    "terminal": TERMINAL_CHECKS,
}
# A name taken from a snapshot dict becomes a label value only if it looks like a code
# identifier: lower-case letters and underscores, short. No digits, so no ids or PANs.
_SAFE_NAME = re.compile(r"[a-z][a-z_]{0,39}")


def _safe(name: str) -> bool:
    return _SAFE_NAME.fullmatch(name) is not None


def _reported(value: str) -> str:
    """A value a device reported about itself (model, firmware, serial), fit for a label:
    printable, short, and with anything card-number-like masked (a confused device could
    answer an info query with the wrong field)."""
    text = "".join(ch for ch in value if ch.isprintable())[:64]
    return mask_pans(text)


class _Families:
    """Every family the collector exports, created empty; :meth:`SnapshotCollector.collect`
    fills them. Kept in one place so ``describe`` and ``collect`` cannot disagree."""

    def __init__(self) -> None:
        g, c = GaugeMetricFamily, CounterMetricFamily
        self.build_info = g(
            "posdriver_build_info", "posdriver version running; value 1.", labels=["version"]
        )
        self.start_time = g(
            "posdriver_start_time_seconds", "Unix time the daemon started.", labels=[]
        )
        self.device_info = g(
            "posdriver_device_info",
            "Configured device and what it reported about itself; value 1.",
            labels=["device", "kind", "model", "firmware", "serial"],
        )
        self.device_up = g(
            "posdriver_device_up",
            "1 when the device worker is ready, busy or degraded and its status is fresh.",
            labels=["device", "kind"],
        )
        self.device_state = g(
            "posdriver_device_state",
            "Device worker lifecycle: 1 for the current state, 0 for the others.",
            labels=["device", "state"],
        )
        self.last_contact = g(
            "posdriver_device_last_contact_timestamp_seconds",
            "Unix time of the last successful exchange with the device.",
            labels=["device"],
        )
        self.status_age = g(
            "posdriver_device_status_age_seconds",
            "Seconds since the device's status values were read.",
            labels=["device"],
        )
        self.paper = g(
            "posdriver_printer_paper_state",
            "Receipt paper: 1 for the current state; unknown when stale or unread.",
            labels=["device", "state"],
        )
        self.cover = g(
            "posdriver_printer_cover_state",
            "Printer cover: 1 for the current state; unknown when stale or unread.",
            labels=["device", "state"],
        )
        self.printer_error = g(
            "posdriver_printer_error",
            "1 while the printer reports this error; 0 when clear or unknown.",
            labels=["device", "error"],
        )
        self.acquirer = g(
            "posdriver_terminal_acquirer_state",
            "Terminal's connection to its acquirer (card host): 1 for the current state.",
            labels=["device", "state"],
        )
        self.circuit = g(
            "posdriver_terminal_circuit_state",
            "Circuit breaker on the acquirer connectivity check: 1 for the current state.",
            labels=["device", "state"],
        )
        self.check_success = g(
            "posdriver_check_success",
            "1 when the health check's latest status is ok, else 0 (never run counts as 0).",
            labels=["device", "check"],
        )
        self.check_status = g(
            "posdriver_check_status",
            "Health check's latest status: 1 for the current one (unknown until it runs).",
            labels=["device", "check", "status"],
        )
        self.check_duration = g(
            "posdriver_check_duration_seconds",
            "How long the health check's latest run took.",
            labels=["device", "check"],
        )
        self.link_errors = c(
            "posdriver_link_errors",
            "Errors on the device's link (serial, USB, TCP).",
            labels=["device"],
        )
        self.reconnects = c(
            "posdriver_reconnects",
            "Times the device's link was opened again after a loss.",
            labels=["device"],
        )
        self.retries = c(
            "posdriver_retries",
            "Retries of an operation on the device.",
            labels=["device", "operation"],
        )
        self.operations = c(
            "posdriver_operations",
            "Money operations finished, by kind and outcome (from the journal).",
            labels=["kind", "outcome"],
        )
        self.in_doubt = g(
            "posdriver_operations_in_doubt",
            "Money operations whose result is not known: the card may have been charged.",
            labels=[],
        )
        self.needs_review = g(
            "posdriver_operations_needs_review",
            "Money operations the daemon could not resolve; a person must check them.",
            labels=[],
        )
        self.print_jobs = g(
            "posdriver_print_jobs",
            "Receipt print jobs by state (queued, printing, failed).",
            labels=["state"],
        )
        self.journal_size = g(
            "posdriver_journal_size_bytes", "Size of the journal database.", labels=[]
        )
        self.journal_last_commit = g(
            "posdriver_journal_last_commit_timestamp_seconds",
            "Unix time of the journal's last commit.",
            labels=[],
        )

    def all(self) -> list[Metric]:
        return list(vars(self).values())


def _state_set(
    family: GaugeMetricFamily, labels: list[str], states: Sequence[str], value: str
) -> None:
    """One series per known state, labelled ``labels + [state]``; a value outside the set
    marks ``unknown`` if the set has one (so a surprise never reads as a healthy state)."""
    current = value if value in states else "unknown"
    for state in states:
        family.add_metric([*labels, state], 1.0 if state == current else 0.0)


class SnapshotCollector(Collector):
    """A custom collector over the daemon's snapshot. ``get_snapshot`` must return a
    copy of cached values and must not block on devices; ``clock`` (unix time) decides
    what is stale and is injectable so tests can pin it."""

    def __init__(
        self,
        get_snapshot: Callable[[], ServiceSnapshot],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._get_snapshot = get_snapshot
        self._clock = clock

    def describe(self) -> Iterable[Metric]:
        # Names only: lets the registry check for clashes without taking a snapshot.
        return _Families().all()

    def collect(self) -> Iterable[Metric]:
        snapshot = self._get_snapshot()
        now = self._clock()
        f = _Families()
        f.build_info.add_metric([snapshot.version], 1.0)
        f.start_time.add_metric([], snapshot.started_at)
        for device in snapshot.devices:
            self._device(f, device, now)
        self._journal(f, snapshot)
        return f.all()

    def _device(self, f: _Families, device: DeviceSnapshot, now: float) -> None:
        name, view = device.name, device.current(now)
        info = device.info
        f.device_info.add_metric(
            [
                name,
                device.kind,
                _reported(info.get("model", "")),
                _reported(info.get("firmware", "")),
                _reported(info.get("serial", "")),
            ],
            1.0,
        )
        up = device.lifecycle in UP_LIFECYCLES and device.fresh(now)
        f.device_up.add_metric([name, device.kind], 1.0 if up else 0.0)
        for state in LIFECYCLE:
            f.device_state.add_metric([name, state], 1.0 if device.lifecycle == state else 0.0)
        if device.last_contact is not None:
            f.last_contact.add_metric([name], device.last_contact)
        if device.status_at is not None:
            f.status_age.add_metric([name], max(0.0, now - device.status_at))

        if device.kind == "printer":
            _state_set(f.paper, [name], PAPER_STATES, view.paper)
            _state_set(f.cover, [name], COVER_STATES, view.cover)
            for error in PRINTER_ERRORS:
                # None (unknown) exports 0: paper/cover unknown=1 already says "cannot tell".
                active = view.errors.get(error) is True
                f.printer_error.add_metric([name, error], 1.0 if active else 0.0)
        elif device.kind == "terminal":
            _state_set(f.acquirer, [name], ACQUIRER_STATES, view.acquirer)
            _state_set(f.circuit, [name], CIRCUIT_STATES, view.circuit)

        checks = list(CHECKS_BY_KIND.get(device.kind, ()))
        checks += sorted(c for c in view.checks if c not in checks and _safe(c))
        for check in checks:
            result = view.checks.get(check)
            status = result.status if result is not None else "unknown"
            f.check_success.add_metric([name, check], 1.0 if status == "ok" else 0.0)
            _state_set(f.check_status, [name, check], CHECK_STATUSES, status)
            if result is not None:
                f.check_duration.add_metric([name, check], result.duration)

        f.link_errors.add_metric([name], float(device.link_errors))
        f.reconnects.add_metric([name], float(device.reconnects))
        for operation, count in sorted(device.retries.items()):
            if _safe(operation):
                f.retries.add_metric([name, operation], float(count))

    @staticmethod
    def _journal(f: _Families, snapshot: ServiceSnapshot) -> None:
        counts = {(k, o): 0 for k in OPERATION_KINDS for o in OUTCOMES}
        for (kind, outcome), count in snapshot.operations.items():
            if _safe(kind) and _safe(outcome):
                counts[(kind, outcome)] = count
        for (kind, outcome), count in counts.items():
            f.operations.add_metric([kind, outcome], float(count))
        f.in_doubt.add_metric([], float(snapshot.in_doubt))
        f.needs_review.add_metric([], float(snapshot.needs_review))
        for state in PRINT_JOB_STATES:
            f.print_jobs.add_metric([state], float(snapshot.print_jobs.get(state, 0)))
        f.journal_size.add_metric([], float(snapshot.journal_size_bytes))
        if snapshot.journal_last_commit is not None:
            f.journal_last_commit.add_metric([], snapshot.journal_last_commit)


def make_registry(
    get_snapshot: Callable[[], ServiceSnapshot],
    clock: Callable[[], float] = time.time,
) -> CollectorRegistry:
    """A registry of its own (not the library's global one, so tests and a second daemon
    in one process never clash) with the snapshot collector and the process collector
    (CPU, memory, open files of the daemon; it exports nothing where /proc is missing)."""
    registry = CollectorRegistry()
    registry.register(SnapshotCollector(get_snapshot, clock))
    ProcessCollector(registry=registry)
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The exposition text a scrape would get."""
    return generate_latest(registry)


def start_metrics_server(
    registry: CollectorRegistry, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT
) -> tuple[WSGIServer, threading.Thread, int]:
    """Serve ``/metrics`` on ``host:port`` from a daemon thread; port 0 picks a free one.
    The address is always passed on: the library's own default would listen on every
    interface, and these metrics describe the front desk. Returns the server, its thread
    and the port actually bound."""
    started = start_http_server(port, addr=host, registry=registry)
    if not isinstance(started, tuple):  # before 0.17 the library returned nothing
        raise RuntimeError("posdriver needs prometheus-client 0.17 or newer")
    server, thread = started
    return server, thread, int(server.server_address[1])


def stop_metrics_server(server: WSGIServer, thread: threading.Thread, timeout: float = 5.0) -> None:
    """Stop serving and release the socket (for shutdown and tests)."""
    server.shutdown()
    server.server_close()
    thread.join(timeout)
