"""The /metrics exposition: exact values from hand-built snapshots, read back through
prometheus_client's own parser, linted by promtool, and served over a real socket."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import socket
import struct
import subprocess
import threading
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from posdriver.cashier.pan_scan import luhn_runs
from posdriver.service import metrics
from posdriver.service.metrics import (
    FAMILIES,
    PRINT_JOB_STATES,
    MetricsPage,
    start_metrics_server,
    stop_metrics_server,
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
from tests.support.snapshots import NOW, printer_near_end, service
from tests.support.timing import wait_until

Labels = frozenset[tuple[str, str]]


def exposition(snapshot: ServiceSnapshot | None = None) -> str:
    snap = service() if snapshot is None else snapshot
    return MetricsPage(lambda: snap, clock=lambda: NOW).render().decode()


def parse(text: str) -> dict[tuple[str, Labels], float]:
    """Every sample as {(name, labels): value}, through the reference parser."""
    samples: dict[tuple[str, Labels], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in samples, f"duplicate series {key}"
            samples[key] = sample.value
    return samples


@pytest.fixture(scope="module")
def text() -> str:
    return exposition()


@pytest.fixture(scope="module")
def samples(text: str) -> dict[tuple[str, Labels], float]:
    return parse(text)


def value(samples: dict[tuple[str, Labels], float], name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def series(
    samples: dict[tuple[str, Labels], float], name: str, **labels: str
) -> dict[Labels, float]:
    """Series of ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return {lbl: v for (n, lbl), v in samples.items() if n == name and want <= lbl}


def states(samples: dict[tuple[str, Labels], float], name: str, device: str) -> dict[str, float]:
    return {dict(lbl)["state"]: v for lbl, v in series(samples, name, device=device).items()}


def test_service_wide_values(samples: dict[tuple[str, Labels], float]) -> None:
    assert value(samples, "posdriver_build_info", version="0.1.0") == 1
    assert value(samples, "posdriver_start_time_seconds") == NOW - 3600
    assert value(samples, "posdriver_operations_in_doubt") == 1
    assert value(samples, "posdriver_operations_needs_review") == 2
    assert value(samples, "posdriver_journal_size_bytes") == 65536
    assert value(samples, "posdriver_journal_last_commit_timestamp_seconds") == NOW - 30
    jobs = {dict(lbl)["state"]: v for lbl, v in series(samples, "posdriver_print_jobs").items()}
    assert jobs == {"queued": 3, "printing": 1, "failed": 0}  # "done" is not a job gauge
    assert set(jobs) == set(PRINT_JOB_STATES)


def test_operations_are_counted_and_every_pair_exists(
    samples: dict[tuple[str, Labels], float],
) -> None:
    ops = {
        (dict(lbl)["kind"], dict(lbl)["outcome"]): v
        for lbl, v in series(samples, "posdriver_operations_total").items()
    }
    assert set(ops) == {(k, o) for k in OPERATION_KINDS for o in OUTCOMES}
    assert ops[("sale", "approved")] == 12
    assert ops[("refund", "declined")] == 2
    assert ops[("sale", "in_doubt")] == 1
    assert sum(ops.values()) == 15


def test_a_fresh_printer_with_paper_near_end(samples: dict[tuple[str, Labels], float]) -> None:
    assert value(samples, "posdriver_device_up", device="receipt", kind="printer") == 1
    assert states(samples, "posdriver_printer_paper_state", "receipt") == {
        "ok": 0,
        "near_end": 1,
        "out": 0,
        "unknown": 0,
    }
    assert states(samples, "posdriver_printer_cover_state", "receipt")["closed"] == 1
    assert states(samples, "posdriver_device_state", "receipt")["ready"] == 1
    assert value(samples, "posdriver_device_status_age_seconds", device="receipt") == 2.0
    assert (
        value(samples, "posdriver_device_last_contact_timestamp_seconds", device="receipt")
        == NOW - 1.5
    )
    assert value(samples, "posdriver_link_errors_total", device="receipt") == 3
    assert value(samples, "posdriver_reconnects_total", device="receipt") == 1
    assert value(samples, "posdriver_retries_total", device="receipt", operation="print") == 4
    assert value(samples, "posdriver_retries_total", device="receipt", operation="status") == 2
    info = {
        "device": "receipt",
        "kind": "printer",
        "model": "TM-T20III",
        "firmware": "1.02",
        "serial": "X8QF",
    }
    assert value(samples, "posdriver_device_info", **info) == 1


def test_a_stale_printer_is_unknown_and_down(samples: dict[tuple[str, Labels], float]) -> None:
    # Lifecycle says ready, but the status is a minute old: down, and nothing "ok".
    assert value(samples, "posdriver_device_up", device="bar", kind="printer") == 0
    assert states(samples, "posdriver_printer_paper_state", "bar") == {
        "ok": 0,
        "near_end": 0,
        "out": 0,
        "unknown": 1,
    }
    assert states(samples, "posdriver_printer_cover_state", "bar") == {
        "closed": 0,
        "open": 0,
        "unknown": 1,
    }
    errors = {
        dict(lbl)["error"]: v
        for lbl, v in series(samples, "posdriver_printer_error", device="bar").items()
    }
    assert errors == {name: 0 for name in PRINTER_ERRORS}  # offline=True was a minute ago
    assert value(samples, "posdriver_device_status_age_seconds", device="bar") == 60


def test_a_terminal_cut_off_from_its_acquirer(samples: dict[tuple[str, Labels], float]) -> None:
    assert value(samples, "posdriver_device_up", device="desk1", kind="terminal") == 1
    assert states(samples, "posdriver_device_state", "desk1")["degraded"] == 1
    assert states(samples, "posdriver_terminal_acquirer_state", "desk1") == {
        "reachable": 0,
        "unreachable": 1,
        "unknown": 0,
    }
    assert states(samples, "posdriver_terminal_circuit_state", "desk1") == {
        "closed": 0,
        "open": 1,
        "half_open": 0,
    }
    assert value(samples, "posdriver_check_success", device="desk1", check="connectivity") == 0
    assert (
        value(
            samples,
            "posdriver_check_status",
            device="desk1",
            check="connectivity",
            status="critical",
        )
        == 1
    )
    retries = series(samples, "posdriver_retries_total", device="desk1")
    assert {dict(lbl)["operation"]: v for lbl, v in retries.items()} == {"sale": 1}


def test_a_device_never_reached(samples: dict[tuple[str, Labels], float]) -> None:
    assert value(samples, "posdriver_device_up", device="desk2", kind="terminal") == 0
    assert states(samples, "posdriver_device_state", "desk2")["starting"] == 1
    assert states(samples, "posdriver_terminal_acquirer_state", "desk2")["unknown"] == 1
    assert states(samples, "posdriver_terminal_circuit_state", "desk2")["closed"] == 1
    for name in (
        "posdriver_device_last_contact_timestamp_seconds",
        "posdriver_device_status_age_seconds",
    ):
        assert not series(samples, name, device="desk2"), f"{name} must be absent"
    assert value(samples, "posdriver_link_errors_total", device="desk2") == 0


def test_each_check_status(samples: dict[tuple[str, Labels], float]) -> None:
    expected = {"link": "ok", "paper": "warning", "cover": "critical", "errors": "unknown"}
    for name, status in expected.items():
        got = {
            dict(lbl)["status"]: v
            for lbl, v in series(
                samples, "posdriver_check_status", device="receipt", check=name
            ).items()
        }
        assert got == {s: (1 if s == status else 0) for s in CHECK_STATUSES}, name
        success = value(samples, "posdriver_check_success", device="receipt", check=name)
        assert success == (1 if status == "ok" else 0), name
    assert value(samples, "posdriver_check_duration_seconds", device="receipt", check="link") == 0.5
    assert (
        value(samples, "posdriver_check_duration_seconds", device="receipt", check="paper") == 0.125
    )


def test_checks_that_never_ran_are_unknown_and_failing(
    samples: dict[tuple[str, Labels], float],
) -> None:
    for device, names in (("desk2", TERMINAL_CHECKS), ("bar", PRINTER_CHECKS)):
        for name in names:
            assert value(samples, "posdriver_check_success", device=device, check=name) == 0
            assert (
                value(
                    samples, "posdriver_check_status", device=device, check=name, status="unknown"
                )
                == 1
            )
            # a duration of a run that never happened is absent, not 0
            assert not series(
                samples, "posdriver_check_duration_seconds", device=device, check=name
            )


def test_every_state_series_is_present_with_exactly_one_set(
    samples: dict[tuple[str, Labels], float],
) -> None:
    by_kind: dict[str, dict[str, tuple[str, ...]]] = {
        "printer": {
            "posdriver_printer_paper_state": PAPER_STATES,
            "posdriver_printer_cover_state": COVER_STATES,
        },
        "terminal": {
            "posdriver_terminal_acquirer_state": ACQUIRER_STATES,
            "posdriver_terminal_circuit_state": CIRCUIT_STATES,
        },
    }
    for device in service().devices:
        sets = {"posdriver_device_state": LIFECYCLE, **by_kind[device.kind]}
        for name, known in sets.items():
            got = states(samples, name, device.name)
            assert set(got) == set(known), (device.name, name)
            assert sorted(got.values()) == [0] * (len(known) - 1) + [1], (device.name, name)
        other = "terminal" if device.kind == "printer" else "printer"
        for name in by_kind[other]:
            assert not series(samples, name, device=device.name), f"{name} on a {device.kind}"
        checks = series(samples, "posdriver_check_status", device=device.name)
        names = {dict(lbl)["check"] for lbl in checks}
        assert names == set(PRINTER_CHECKS if device.kind == "printer" else TERMINAL_CHECKS)
        assert len(checks) == len(names) * len(CHECK_STATUSES)
    printer_errors = series(samples, "posdriver_printer_error", device="receipt")
    assert {dict(lbl)["error"] for lbl in printer_errors} == set(PRINTER_ERRORS)


def test_a_lifecycle_outside_the_known_set_is_not_up() -> None:
    device = printer_near_end()
    device.lifecycle = "confused"
    samples = parse(exposition(ServiceSnapshot(devices=[device], started_at=NOW)))
    assert set(states(samples, "posdriver_device_state", "receipt").values()) == {0}
    assert value(samples, "posdriver_device_up", device="receipt", kind="printer") == 0


def test_no_card_data_and_no_transaction_ids(
    text: str, samples: dict[tuple[str, Labels], float]
) -> None:
    # Sample values are numbers the process reports (CPU seconds such as 0.8899999999999997
    # can pass a Luhn check by chance); card data could only hide in names, labels and help.
    described = "\n".join(
        line if line.startswith("#") else line.rsplit(" ", 1)[0] for line in text.splitlines()
    )
    assert luhn_runs(described) == []
    assert "7731" not in text
    # Free-form labels are only the configured device names and what a device says it is;
    # every other label value comes from a fixed vocabulary without digits.
    free = {"device", "version", "model", "firmware", "serial"}
    for (name, labels), _ in samples.items():
        for label, label_value in labels:
            if label not in free:
                assert not any(ch.isdigit() for ch in label_value), (name, label, label_value)
    serial = {
        dict(lbl)["serial"] for lbl in series(samples, "posdriver_device_info", device="desk1")
    }
    assert serial == {"411111******1111"}


def test_counters_have_no_created_series(text: str) -> None:
    assert "_created" not in text
    for family in text_string_to_metric_families(text):
        if family.name.startswith("posdriver_") and family.type == "counter":
            assert all(s.name == family.name + "_total" for s in family.samples)


def test_each_scrape_takes_one_fresh_snapshot() -> None:
    calls: list[ServiceSnapshot] = []
    current = service()

    def get() -> ServiceSnapshot:
        calls.append(current)
        return current

    page = MetricsPage(get, clock=lambda: NOW)
    assert calls == []  # building the page does not read the snapshot
    first = parse(page.render().decode())
    assert len(calls) == 1
    current = ServiceSnapshot(devices=[], in_doubt=0, started_at=NOW)
    second = parse(page.render().decode())
    assert len(calls) == 2
    assert value(first, "posdriver_operations_in_doubt") == 1
    assert value(second, "posdriver_operations_in_doubt") == 0
    assert not series(second, "posdriver_device_up")


def test_without_process_metrics_only_posdriver_families_are_written() -> None:
    text = MetricsPage(service, clock=lambda: NOW, process_metrics=False).render().decode()
    names = {family.name for family in text_string_to_metric_families(text)}
    assert all(name.startswith("posdriver_") for name in names)
    # every family is announced, with or without series (the parser drops _total)
    assert names == {f.name.removesuffix("_total") for f in FAMILIES}


def test_process_metrics_are_included(samples: dict[tuple[str, Labels], float]) -> None:
    if not os.path.isdir("/proc/self"):
        pytest.skip("process metrics need /proc")
    assert series(samples, "process_cpu_seconds_total")


@pytest.fixture
def server() -> Iterator[int]:
    snapshot = service()
    page = MetricsPage(lambda: snapshot, clock=lambda: NOW)
    httpd, thread, port = start_metrics_server(page, "127.0.0.1", 0)
    try:
        assert httpd.server_address[0] == "127.0.0.1"
        yield port
    finally:
        stop_metrics_server(httpd, thread)
    assert not thread.is_alive()


def test_a_real_scrape_over_http(server: int) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{server}/metrics", timeout=5) as reply:
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("text/plain")
        body = reply.read().decode()
    samples = parse(body)
    assert value(samples, "posdriver_operations_in_doubt") == 1
    assert states(samples, "posdriver_printer_paper_state", "bar")["unknown"] == 1


def test_the_default_address_is_loopback() -> None:
    assert metrics.DEFAULT_HOST == "127.0.0.1"
    assert metrics.DEFAULT_PORT == 8471
    defaults = start_metrics_server.__defaults__
    assert defaults == ("127.0.0.1", 8471)


def promtool() -> str:
    """promtool's path; skipped where it is not installed, a failure under CI (where
    .ci/run installs Debian's prometheus package)."""
    path = shutil.which("promtool")
    if path is None:
        reason = "promtool not on PATH (apt-get install prometheus)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def test_promtool_lints_the_exposition_clean(text: str) -> None:
    result = subprocess.run(
        [promtool(), "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_stale_device_reports_its_checks_unknown() -> None:
    from posdriver.service.snapshot import CheckResult, DeviceSnapshot

    device = DeviceSnapshot(
        "receipt",
        "printer",
        "serial:///dev/x",
        lifecycle="ready",
        status_at=NOW - 100,
        freshness=15,
    )
    device.checks["paper"] = CheckResult("receipt", "paper", "ok", "paper ok", 0.01, NOW - 100)
    seen = device.current(NOW)
    assert seen.checks["paper"].status == "unknown"
    assert "stale" in seen.checks["paper"].text
    assert device.checks["paper"].status == "ok"  # the record itself is kept


def test_label_values_are_escaped_and_read_back_whole() -> None:
    # device names come from the configuration; whatever it allows must survive the format
    odd = 'bar "north"\\2\nwing'
    device = DeviceSnapshot(name=odd, kind="printer", url="serial:///dev/x", lifecycle="ready")
    device.info = {"model": 'TM "88"', "firmware": "a\\b", "serial": "line\nbreak"}
    text = MetricsPage(
        lambda: ServiceSnapshot(devices=[device], started_at=NOW), clock=lambda: NOW
    ).render()
    samples = parse(text.decode())
    assert value(samples, "posdriver_device_state", device=odd, state="ready") == 1
    info = series(samples, "posdriver_device_info", device=odd)
    assert [dict(labels)["model"] for labels in info] == ['TM "88"']
    assert [dict(labels)["firmware"] for labels in info] == ["a\\b"]


def test_a_device_renamed_or_retyped_gets_lines_of_its_own() -> None:
    # lines are rendered once per (name, kind): a reload that changes either must not
    # export the old labels
    current = [DeviceSnapshot(name="bar", kind="printer", url="x", lifecycle="ready")]
    page = MetricsPage(lambda: ServiceSnapshot(devices=current, started_at=NOW), lambda: NOW)
    assert series(parse(page.render().decode()), "posdriver_device_up", kind="printer")
    current = [DeviceSnapshot(name="bar", kind="terminal", url="x", lifecycle="ready")]
    samples = parse(page.render().decode())
    assert not series(samples, "posdriver_device_up", kind="printer")
    assert series(samples, "posdriver_terminal_acquirer_state", device="bar")


def test_a_check_that_just_failed_is_news_even_when_the_status_is_stale() -> None:
    # the terminal stopped answering: its last good status is old (so unknown), but
    # "no answer" was found a moment ago and must read critical, not unknown
    device = DeviceSnapshot(
        name="desk1",
        kind="terminal",
        url="serial:///dev/x",
        lifecycle="degraded",
        status_at=NOW - 100,
        freshness=65,
        acquirer="reachable",
        checks={
            "link": CheckResult("desk1", "link", "critical", "no answer", 15.0, NOW - 2),
            "connectivity": CheckResult("desk1", "connectivity", "ok", "ok", 2.0, NOW - 200),
        },
    )
    samples = parse(
        MetricsPage(lambda: ServiceSnapshot(devices=[device]), clock=lambda: NOW).render().decode()
    )
    link = {
        dict(lbl)["status"]: v
        for lbl, v in series(
            samples, "posdriver_check_status", device="desk1", check="link"
        ).items()
    }
    assert link["critical"] == 1 and link["unknown"] == 0
    assert (
        value(
            samples,
            "posdriver_check_status",
            device="desk1",
            check="connectivity",
            status="unknown",
        )
        == 1
    )
    assert states(samples, "posdriver_terminal_acquirer_state", "desk1")["unknown"] == 1
    view = device.current(NOW)  # the API's view agrees
    assert view.checks["link"].status == "critical"
    assert view.checks["connectivity"].status == "unknown"


def test_a_stale_view_is_not_made_stale_twice() -> None:
    device = DeviceSnapshot(
        "receipt",
        "printer",
        "serial:///dev/x",
        lifecycle="ready",
        status_at=NOW - 100,
        checks={"paper": CheckResult("receipt", "paper", "ok", "paper ok", 0.01, NOW - 100)},
    )
    once = device.current(NOW)
    twice = once.current(NOW + 5)
    assert twice.checks["paper"].text == once.checks["paper"].text
    assert twice.checks["paper"].text.count("stale (") == 1


def test_a_terminal_found_silent_is_down_before_its_status_goes_stale() -> None:
    device = DeviceSnapshot(
        "desk1",
        "terminal",
        "serial:///dev/x",
        lifecycle="degraded",
        status_at=NOW - 10,
        freshness=65,
        checks={"link": CheckResult("desk1", "link", "critical", "no answer", 15.0, NOW - 1)},
    )
    assert device.fresh(NOW) and not device.up_at(NOW)
    page = MetricsPage(lambda: ServiceSnapshot(devices=[device]), clock=lambda: NOW)
    samples = parse(page.render().decode())
    assert value(samples, "posdriver_device_up", device="desk1", kind="terminal") == 0
    assert device.as_dict(NOW)["up"] is False


def test_a_readers_copy_shares_no_dict_with_the_workers_snapshot() -> None:
    # the worker adds retry counts and checks while a scrape iterates its copy
    device = printer_near_end()
    for view in (device.current(NOW), device.current(NOW + 10_000)):  # fresh, stale
        for name in ("errors", "checks", "info", "retries"):
            assert getattr(view, name) is not getattr(device, name), name


def test_the_journal_check_is_exported() -> None:
    samples = parse(exposition())
    assert samples[("posdriver_journal_writable", frozenset())] == 1.0
    assert samples[("posdriver_journal_write_errors_total", frozenset())] == 2.0
    assert samples[("posdriver_state_dir_free_bytes", frozenset())] == float(150 << 20)


def test_a_journal_not_looked_at_yet_is_not_writable() -> None:
    """Unknown is not OK: before the daemon's first look the gauge says 0, not 1."""
    snapshot = dataclasses.replace(service(), journal=None)
    samples = parse(exposition(snapshot))
    assert samples[("posdriver_journal_writable", frozenset())] == 0.0
    assert ("posdriver_state_dir_free_bytes", frozenset()) not in samples


def test_a_status_from_before_the_clock_was_set_back_is_stale() -> None:
    """An hour back (NTP, a dead RTC battery): the last status is an hour "in the future";
    its age is unknown, so it shows as unknown until the device is asked again, never as
    fresh for the hour the clock moved."""
    device = printer_near_end()
    assert device.status_at is not None and device.fresh(device.status_at)
    back = device.status_at - 3600
    assert not device.fresh(back) and not device.up_at(back)
    view = device.current(back)
    assert view.paper == "unknown"
    assert {c.status for c in view.checks.values()} == {"unknown"}
    assert all("clock was set back" in c.text for c in view.checks.values())
    # a reader that took "now" a moment before a worker stored a newer status
    assert device.fresh(device.status_at - 0.5)


def _raw_answer(port: int, request: bytes) -> tuple[str, dict[str, str], bytes]:
    """Status line, headers and whatever followed them, read to the server's close."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, rest = raw.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    return status, dict(line.split(": ", 1) for line in lines), rest


def test_head_answers_the_headers_of_a_scrape_without_its_body(server: int) -> None:
    get_status, get_headers, body = _raw_answer(server, b"GET /metrics HTTP/1.0\r\n\r\n")
    status, headers, rest = _raw_answer(server, b"HEAD /metrics HTTP/1.0\r\n\r\n")
    assert status == get_status == "HTTP/1.0 200 OK"
    assert headers["Content-Type"] == get_headers["Content-Type"] == metrics.CONTENT_TYPE
    assert int(headers["Content-Length"]) > 0 and rest == b""
    assert int(get_headers["Content-Length"]) == len(body)


def test_a_scraper_that_hangs_up_mid_answer_is_a_debug_line_not_a_traceback(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """The scrape is rendered only once the scraper has reset the connection, so the
    answer meets a closed socket every time."""
    hung_up = threading.Event()
    snapshot = service()

    def late_snapshot() -> ServiceSnapshot:
        hung_up.wait(5)
        return snapshot

    page = MetricsPage(late_snapshot, clock=lambda: NOW)
    httpd, thread, port = start_metrics_server(page, "127.0.0.1", 0)
    caplog.set_level(logging.DEBUG, logger="posdriver.service.http_server")
    try:
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()  # a reset
            hung_up.set()
            wait_until(lambda: "went away" in caplog.text, 5, "the hang-up noticed")
            hung_up.clear()
            caplog.clear()
        hung_up.set()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            assert reply.status == 200
    finally:
        hung_up.set()
        stop_metrics_server(httpd, thread)
    assert capfd.readouterr().err == ""
