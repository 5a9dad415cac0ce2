"""Prometheus metrics, rendered from the daemon's snapshot at scrape time.

A scrape must never wait on a serial line or a terminal, and must never show a value
older than its freshness limit as if it were current. So nothing here talks to a device:
:class:`MetricsPage` asks for a :class:`~.snapshot.ServiceSnapshot` (a copy the workers
keep up to date) and writes the exposition text from it on every scrape. Stale device
status is exported as unknown, the same view the API gives.

State sets (device lifecycle, paper, cover, acquirer, circuit, check status) export one
0/1 series per known state, always, so an alert such as ``paper_state{state="out"} == 1``
has a series to look at before the first fault and a missing series never reads as
"fine". Label values are bounded: device names come from the configuration, everything
else from the fixed tuples in :mod:`.snapshot`. Names read from the snapshot's dicts
(retry operations, extra checks, operation outcomes) must look like identifiers without
digits, so a transaction id or anything card-like can never become a label value.

Why not prometheus_client's own collector and writer: with a hundred devices a scrape is
some 4,700 series, and building a metric family object per series and formatting it
generically took 30-45 ms of the daemon's GIL on every scrape. Every line a device can
export is fixed by its name and kind, so each device's lines are rendered once (a state set
once per possible state) and a scrape is mostly dictionary look-ups and joins. The
output is the Prometheus text format 0.0.4, which every Prometheus accepts whatever it
asked for; the tests read it back with prometheus_client's parser and ``promtool check
metrics``. prometheus_client still supplies the process metrics (CPU, memory, open files).

The families and the text format are declared in :mod:`.metric_families`; this module
renders the page from a snapshot and serves it.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest

from posdriver.cashier.pan_scan import mask_pans
from posdriver.service.http_server import (
    DEFAULT_LIMIT,
    DEFAULT_TIMEOUT,
    BoundedHandler,
    BoundedHTTPServer,
)
from posdriver.service.metric_families import (
    ACQUIRER,
    BUILD_INFO,
    CHECK_DURATION,
    CHECK_STATUS,
    CHECK_SUCCESS,
    CIRCUIT,
    COVER,
    DEVICE_INFO,
    DEVICE_STATE,
    DEVICE_UP,
    FAMILIES,
    IN_DOUBT,
    JOURNAL_LAST_COMMIT,
    JOURNAL_SIZE,
    JOURNAL_WRITABLE,
    JOURNAL_WRITE_ERRORS,
    LAST_CONTACT,
    LINK_ERRORS,
    NEEDS_REVIEW,
    OPERATIONS,
    PAPER,
    PRINT_JOBS,
    PRINTER_ERROR,
    RECONNECTS,
    RETRIES,
    START_TIME,
    STATE_DIR_FREE,
    STATUS_AGE,
    Family,
    number,
)
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
    CheckResult,
    DeviceSnapshot,
    ServiceSnapshot,
)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8471
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PRINT_JOB_STATES = ("queued", "printing", "failed")
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


class _CheckLines:
    """One device's lines for one health check."""

    def __init__(self, device: str, check: str) -> None:
        self.success = {
            True: CHECK_SUCCESS.line([device, check], 1.0),
            False: CHECK_SUCCESS.line([device, check], 0.0),
        }
        self.status = CHECK_STATUS.state_chunks([device, check], CHECK_STATUSES)
        self._duration = CHECK_DURATION.prefix([device, check])
        self._last: tuple[CheckResult | None, str] = (None, "")

    def duration(self, result: CheckResult) -> str:
        """The duration line of ``result``: results are immutable and a check runs every
        few seconds at most, so the line is written once per result, not per scrape."""
        last, line = self._last
        if last is not result:
            line = f"{self._duration}{number(result.duration)}\n"
            self._last = (result, line)
        return line


class _DeviceLines:
    """Every line one device can export, rendered when the device is first seen: what a
    scrape adds is the handful of values that change (times, counters)."""

    def __init__(self, name: str, kind: str) -> None:
        self.name, self.kind = name, kind
        self.up = {
            True: DEVICE_UP.line([name, kind], 1.0),
            False: DEVICE_UP.line([name, kind], 0.0),
        }
        self.lifecycle = DEVICE_STATE.state_chunks([name], LIFECYCLE)
        self.last_contact = LAST_CONTACT.prefix([name])
        self.status_age = STATUS_AGE.prefix([name])
        self.paper = PAPER.state_chunks([name], PAPER_STATES)
        self.cover = COVER.state_chunks([name], COVER_STATES)
        self.errors = {
            error: (PRINTER_ERROR.line([name, error], 0.0), PRINTER_ERROR.line([name, error], 1.0))
            for error in PRINTER_ERRORS
        }
        self.acquirer = ACQUIRER.state_chunks([name], ACQUIRER_STATES)
        self.circuit = CIRCUIT.state_chunks([name], CIRCUIT_STATES)
        self.link_errors = LINK_ERRORS.prefix([name])
        self.reconnects = RECONNECTS.prefix([name])
        self._checks: dict[str, _CheckLines] = {}
        self._retries: dict[str, str] = {}
        self._info: tuple[tuple[str, str, str], str] | None = None

    def check(self, check: str) -> _CheckLines:
        lines = self._checks.get(check)
        if lines is None:
            lines = self._checks[check] = _CheckLines(self.name, check)
        return lines

    def retry(self, operation: str) -> str:
        prefix = self._retries.get(operation)
        if prefix is None:
            prefix = self._retries[operation] = RETRIES.prefix([self.name, operation])
        return prefix

    def info(self, info: dict[str, str]) -> str:
        key = (info.get("model", ""), info.get("firmware", ""), info.get("serial", ""))
        if self._info is None or self._info[0] != key:
            values = [self.name, self.kind, *(_reported(v) for v in key)]
            self._info = (key, DEVICE_INFO.line(values, 1.0))
        return self._info[1]


class MetricsPage:
    """The ``/metrics`` page. ``get_snapshot`` must return a copy of cached values and
    must not block on devices; ``clock`` (unix time) decides what is stale and is
    injectable so tests can pin it. Safe to render from several threads at once."""

    def __init__(
        self,
        get_snapshot: Callable[[], ServiceSnapshot],
        clock: Callable[[], float] = time.time,
        process_metrics: bool = True,
    ) -> None:
        self._get_snapshot = get_snapshot
        self._clock = clock
        self._devices: dict[tuple[str, str], _DeviceLines] = {}
        self._lock = threading.Lock()
        self._process: CollectorRegistry | None = None
        if process_metrics:
            # CPU, memory and open files of the daemon; exports nothing where /proc is missing
            self._process = CollectorRegistry()
            ProcessCollector(registry=self._process)

    def render(self) -> bytes:
        """The exposition text a scrape gets: one fresh snapshot per call."""
        snapshot = self._get_snapshot()
        now = self._clock()
        out: dict[Family, list[str]] = {family: [] for family in FAMILIES}
        out[BUILD_INFO].append(BUILD_INFO.line([snapshot.version], 1.0))
        out[START_TIME].append(START_TIME.line([], snapshot.started_at))
        for device in snapshot.devices:
            self._device(out, device, now)
        self._journal(out, snapshot)
        text = "".join(family.header + "".join(out[family]) for family in FAMILIES)
        body = text.encode()
        if self._process is not None:
            body += generate_latest(self._process)
        return body

    def _lines_for(self, device: DeviceSnapshot) -> _DeviceLines:
        key = (device.name, device.kind)
        lines = self._devices.get(key)
        if lines is None:
            with self._lock:
                lines = self._devices.setdefault(key, _DeviceLines(*key))
        return lines

    def _device(self, out: dict[Family, list[str]], device: DeviceSnapshot, now: float) -> None:
        lines = self._lines_for(device)
        fresh = device.fresh(now)
        out[DEVICE_INFO].append(lines.info(device.info))
        out[DEVICE_UP].append(lines.up[device.up_at(now)])
        out[DEVICE_STATE].append(lines.lifecycle[device.lifecycle])
        if device.last_contact is not None:
            out[LAST_CONTACT].append(f"{lines.last_contact}{number(device.last_contact)}\n")
        if device.status_at is not None:
            age = max(0.0, now - device.status_at)
            out[STATUS_AGE].append(f"{lines.status_age}{number(age)}\n")

        # stale values are unknown, never "ok from before"
        if device.kind == "printer":
            out[PAPER].append(lines.paper[device.paper if fresh else "unknown"])
            out[COVER].append(lines.cover[device.cover if fresh else "unknown"])
            for error, (clear, active) in lines.errors.items():
                # unknown exports 0: paper/cover unknown=1 already says "cannot tell"
                out[PRINTER_ERROR].append(active if fresh and device.errors.get(error) else clear)
        elif device.kind == "terminal":
            out[ACQUIRER].append(lines.acquirer[device.acquirer if fresh else "unknown"])
            out[CIRCUIT].append(lines.circuit[device.circuit])

        checks = device.checks
        names = list(device.expected_checks or CHECKS_BY_KIND.get(device.kind, ()))
        names += sorted(c for c in checks if c not in names and _safe(c))
        for check in names:
            result = checks.get(check)
            if result is None or not (fresh or device.check_fresh(result, now)):
                status = "unknown"
            else:
                status = result.status
            check_lines = lines.check(check)
            out[CHECK_SUCCESS].append(check_lines.success[status == "ok"])
            out[CHECK_STATUS].append(check_lines.status[status])
            if result is not None:
                out[CHECK_DURATION].append(check_lines.duration(result))

        out[LINK_ERRORS].append(f"{lines.link_errors}{device.link_errors}.0\n")
        out[RECONNECTS].append(f"{lines.reconnects}{device.reconnects}.0\n")
        for operation, count in sorted(device.retries.items()):
            if _safe(operation):
                out[RETRIES].append(f"{lines.retry(operation)}{count}.0\n")

    @staticmethod
    def _journal(out: dict[Family, list[str]], snapshot: ServiceSnapshot) -> None:
        counts = {(k, o): 0 for k in OPERATION_KINDS for o in OUTCOMES}
        for (kind, outcome), count in snapshot.operations.items():
            if _safe(kind) and _safe(outcome):
                counts[(kind, outcome)] = count
        for (kind, outcome), count in counts.items():
            out[OPERATIONS].append(OPERATIONS.line([kind, outcome], count))
        out[IN_DOUBT].append(IN_DOUBT.line([], snapshot.in_doubt))
        out[NEEDS_REVIEW].append(NEEDS_REVIEW.line([], snapshot.needs_review))
        for state in PRINT_JOB_STATES:
            out[PRINT_JOBS].append(PRINT_JOBS.line([state], snapshot.print_jobs.get(state, 0)))
        out[JOURNAL_SIZE].append(JOURNAL_SIZE.line([], snapshot.journal_size_bytes))
        if snapshot.journal_last_commit is not None:
            out[JOURNAL_LAST_COMMIT].append(
                JOURNAL_LAST_COMMIT.line([], snapshot.journal_last_commit)
            )
        check = snapshot.journal
        # not looked at yet is not writable (unknown is not OK)
        out[JOURNAL_WRITABLE].append(
            JOURNAL_WRITABLE.line([], 1 if check and check.writable else 0)
        )
        out[JOURNAL_WRITE_ERRORS].append(
            JOURNAL_WRITE_ERRORS.line([], check.write_errors if check else 0)
        )
        if check is not None and check.free_bytes is not None:
            out[STATE_DIR_FREE].append(STATE_DIR_FREE.line([], check.free_bytes))


class _MetricsHandler(BoundedHandler):
    """``GET /metrics`` (and ``/``, as Prometheus' defaults and curl users expect); a
    plain 404 for anything else. ``HEAD`` answers what ``GET`` would, headers only (a
    load balancer's or monitor's liveness probe). No request is logged: scrapes come
    every few seconds."""

    server: _MetricsServer
    allowed_methods = ("GET", "HEAD")

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        self.request_read()  # a GET has no body: the request is all there
        path = self.path.split("?", 1)[0]
        if path not in ("/metrics", "/"):
            self._reply(404, b"not found: metrics are at /metrics\n", "text/plain")
            return
        try:
            body = self.server.page.render()
        except Exception as exc:  # a scrape error must show as a failed scrape, not a hang
            self._reply(500, f"metrics could not be rendered: {exc}\n".encode(), "text/plain")
            return
        self._reply(200, body, CONTENT_TYPE)

    def _reply(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _MetricsServer(BoundedHTTPServer):
    def __init__(
        self, address: tuple[str, int], page: MetricsPage, connection_timeout: float, limit: int
    ) -> None:
        self.page = page
        super().__init__(
            address,
            _MetricsHandler,
            name="metrics",
            connection_timeout=connection_timeout,
            limit=limit,
        )


def start_metrics_server(
    page: MetricsPage,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    connection_timeout: float = DEFAULT_TIMEOUT,
    limit: int = DEFAULT_LIMIT,
) -> tuple[BoundedHTTPServer, threading.Thread, int]:
    """Serve ``/metrics`` on ``host:port`` from a daemon thread; port 0 picks a free one.
    The address is always given: these metrics describe the front desk and are served on
    loopback unless configured otherwise. Connections are bounded as the API's are
    (:mod:`.http_server`). Returns the server, its thread and the port actually bound."""
    server = _MetricsServer((host, port), page, connection_timeout, limit)
    thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
    thread.start()
    return server, thread, int(server.server_address[1])


def stop_metrics_server(
    server: BoundedHTTPServer, thread: threading.Thread, timeout: float = 5.0
) -> None:
    """Stop serving and release the socket (for shutdown and tests)."""
    server.shutdown()
    server.server_close()
    thread.join(timeout)
