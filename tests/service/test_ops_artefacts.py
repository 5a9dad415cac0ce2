"""The shipped monitoring artefacts: alert rules (checked and unit-tested by promtool),
the Grafana dashboard (checked statically, and every query run by a real Prometheus that
scrapes a real posdriver metrics endpoint), and the links between them and docs/ops.md."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from posdriver.service.metrics import (
    MetricsPage,
    start_metrics_server,
    stop_metrics_server,
)
from tests.support.prometheus import ALERTMANAGER, ALERTS, Alertmanager, Prometheus, binary
from tests.support.snapshots import NOW, service
from tests.support.timing import wait_until

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ALERTS.parent  # packaging/prometheus
ALERT_TESTS = RULES_DIR / "alerts_test.yml"
DASHBOARD = ROOT / "packaging" / "grafana" / "posdriver.json"
OPS_DOC = ROOT / "docs" / "ops.md"

EXPECTED_ALERTS = {
    "PosdriverPrinterPaperOut": "critical",
    "PosdriverPrinterPaperNearEnd": "warning",
    "PosdriverDeviceDown": "critical",
    "PosdriverAcquirerUnreachable": "critical",
    "PosdriverOperationsInDoubt": "critical",
    "PosdriverOperationsNeedReview": "warning",
    "PosdriverReceiptsUnprinted": "warning",
    "PosdriverDaemonDown": "critical",
    "PosdriverCheckFailing": "warning",
    "PosdriverJournalNotWritable": "critical",
    "PosdriverStateDirLowOnSpace": "warning",
    "PosdriverCircuitOpen": "critical",
    "PosdriverJournalNotCommitting": "critical",
}
# the placeholder every runbook_url starts with, for where docs/ is published
RUNBOOK_BASE = "https://docs.posdriver.invalid/"
METRIC = re.compile(r"\b(posdriver_[a-z_]+)\b")
# a metric name followed by its label matchers
SELECTOR = re.compile(r"\b(posdriver_[a-z_]+)(\{[^}]*\})?")


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(ALERTS.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def targets() -> list[dict[str, Any]]:
    return [t for p in dashboard()["panels"] if p["type"] != "row" for t in p["targets"]]


def exported_names() -> set[str]:
    """Sample names the collector exports for a snapshot with every kind of device."""
    snapshot = service()
    text = MetricsPage(lambda: snapshot, clock=lambda: NOW).render().decode()
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


def heading_anchors(markdown: str) -> set[str]:
    """GitHub's anchors for a document's headings (lower case, punctuation dropped,
    spaces to dashes)."""
    anchors = set()
    for line in markdown.splitlines():
        if match := re.match(r"#{1,6}\s+(.*)", line):
            text = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower())
            anchors.add(text.replace(" ", "-"))
    return anchors


# --- alert rules --------------------------------------------------------------------


def test_promtool_accepts_the_rules() -> None:
    result = subprocess.run(
        [binary("promtool"), "check", "rules", str(ALERTS)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_unit_tests_pass() -> None:
    result = subprocess.run(
        [binary("promtool"), "test", "rules", ALERT_TESTS.name],
        cwd=RULES_DIR,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_alerts_are_the_agreed_set_in_house_style() -> None:
    found = {rule["alert"]: rule for rule in rules()}
    assert {name: r["labels"]["severity"] for name, r in found.items()} == EXPECTED_ALERTS
    for name, rule in found.items():
        assert re.fullmatch(r"Posdriver([A-Z][a-z]+)+", name), name
        assert re.fullmatch(r"\d+m", rule["for"]), name
        notes = rule["annotations"]
        assert set(notes) == {"summary", "description", "runbook_url"}, name
        text = notes["summary"] + notes["description"]
        assert "$labels.instance" in text, name
        if any(
            m.startswith(
                ("posdriver_device", "posdriver_printer", "posdriver_terminal", "posdriver_check")
            )
            for m in METRIC.findall(rule["expr"])
        ):
            assert "$labels.device" in text, f"{name} does not name the device"


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    suite = yaml.safe_load(ALERT_TESTS.read_text())
    firing: set[str] = set()
    silent: set[str] = set()
    for case in suite["tests"]:
        for check in case["alert_rule_test"]:
            (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    assert firing == set(EXPECTED_ALERTS)
    assert silent == set(EXPECTED_ALERTS)


def test_runbook_links_are_absolute_and_name_an_alert_runbook() -> None:
    """Alertmanager and the receivers it notifies have no source tree to resolve a
    relative path against: each link is absolute, under the one base an admin replaces
    (docs/ops.md#runbook-links), and names a section of a file in docs/runbooks."""
    for rule in rules():
        url = rule["annotations"]["runbook_url"]
        parts = urllib.parse.urlsplit(url)
        assert parts.scheme == "https" and parts.netloc, f"{rule['alert']}: {url} is not absolute"
        assert url.startswith(RUNBOOK_BASE), f"{rule['alert']}: {url} is not under {RUNBOOK_BASE}"
        path = ROOT / "docs" / parts.path.removeprefix("/")
        assert path.parent == ROOT / "docs" / "runbooks", f"{rule['alert']}: {url}"
        assert path.is_file(), f"{rule['alert']}: {path} does not exist"
        assert parts.fragment in heading_anchors(path.read_text()), (
            f"{rule['alert']}: no heading for #{parts.fragment} in {path.name}"
        )


def test_the_documented_base_replacement_gives_working_rules(tmp_path: Path) -> None:
    """The substitution docs/ops.md shows, run as shown: promtool takes the result, and
    every link is under the new base."""
    text = OPS_DOC.read_text()
    [command] = re.findall(r"^\$ (sed 's\|https://docs\.posdriver\.invalid/\|.*)$", text, re.M)
    command = command.replace("packaging/prometheus/alerts.yml", str(ALERTS))
    target = tmp_path / "posdriver.yml"
    command = re.sub(r">\s*\S+$", f"> {target}", command)
    subprocess.run(command, shell=True, check=True, timeout=10)
    replaced = yaml.safe_load(target.read_text())
    urls = [r["annotations"]["runbook_url"] for g in replaced["groups"] for r in g["rules"]]
    assert urls and all(not u.startswith(RUNBOOK_BASE) for u in urls), urls
    result = subprocess.run(
        [binary("promtool"), "check", "rules", str(target)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_alerts_and_dashboard_use_only_exported_metrics() -> None:
    exported = exported_names()
    used = {m for rule in rules() for m in METRIC.findall(rule["expr"])}
    used |= {m for target in targets() for m in METRIC.findall(target["expr"])}
    for var in dashboard()["templating"]["list"]:
        used |= set(METRIC.findall(var["query"]))
    assert used, "no metric names found"
    assert used <= exported, f"not exported: {sorted(used - exported)}"


# --- Alertmanager --------------------------------------------------------------------


def test_amtool_accepts_the_alertmanager_configuration() -> None:
    result = subprocess.run(
        [binary("amtool"), "check-config", str(ALERTMANAGER)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 inhibit rules" in result.stdout


def alert(name: str, **labels: str) -> dict[str, str]:
    """An alert's labels as Prometheus sends them: the rule's severity, the job, the
    desk."""
    severity = EXPECTED_ALERTS[name]
    return {"alertname": name, "severity": severity, "job": "posdriver", **labels}


DESK = {"instance": "frontdesk:8471"}
OTHER_DESK = {"instance": "bar:8471"}


def test_one_fault_is_one_alert_after_inhibition(tmp_path: Path) -> None:
    """What each fault raises in Prometheus, sent to a real Alertmanager with the shipped
    configuration: only the alert to act on is left active."""
    manager = Alertmanager(binary("prometheus-alertmanager"), tmp_path, ALERTMANAGER)
    try:
        wait_until(manager.ready, timeout=15, what="alertmanager to be ready")
        printer = {**DESK, "device": "receipt"}
        terminal = {**DESK, "device": "desk1"}
        sent = [
            # paper out: the printer, its failing paper check, receipts waiting
            alert("PosdriverPrinterPaperOut", **printer, state="out"),
            alert("PosdriverCheckFailing", **printer, check="paper"),
            alert("PosdriverReceiptsUnprinted", **DESK),
            # an acquirer outage: the acquirer, its failing check, the breaker open
            alert("PosdriverAcquirerUnreachable", **terminal, state="unreachable"),
            alert("PosdriverCheckFailing", **terminal, check="connectivity"),
            alert("PosdriverCircuitOpen", **terminal, state="open"),
            # a journal that cannot be written: not committing, a full disk
            alert("PosdriverJournalNotWritable", **DESK),
            alert("PosdriverJournalNotCommitting", **DESK),
            alert("PosdriverStateDirLowOnSpace", **DESK),
            # not the same fault: left alone
            alert("PosdriverOperationsInDoubt", **DESK),
            alert("PosdriverOperationsNeedReview", **DESK),
            alert("PosdriverCheckFailing", **OTHER_DESK, device="receipt", check="paper"),
            alert("PosdriverPrinterPaperNearEnd", **DESK, device="bar", state="near_end"),
        ]
        manager.post(sent)

        def states() -> dict[tuple[str, str, str], str]:
            return {
                (
                    a["labels"]["alertname"],
                    a["labels"]["instance"],
                    a["labels"].get("check", ""),
                ): a["status"]["state"]
                for a in manager.alerts()
            }

        wait_until(lambda: len(states()) == len(sent), 10, "every alert received")
        active = {key for key, state in states().items() if state == "active"}
        assert active == {
            ("PosdriverPrinterPaperOut", "frontdesk:8471", ""),
            ("PosdriverAcquirerUnreachable", "frontdesk:8471", ""),
            ("PosdriverJournalNotWritable", "frontdesk:8471", ""),
            ("PosdriverOperationsInDoubt", "frontdesk:8471", ""),
            ("PosdriverOperationsNeedReview", "frontdesk:8471", ""),
            ("PosdriverCheckFailing", "bar:8471", "paper"),
            ("PosdriverPrinterPaperNearEnd", "frontdesk:8471", ""),
        }
        assert all(state in ("active", "suppressed") for state in states().values())
    finally:
        manager.stop()


# --- dashboard, statically ------------------------------------------------------------


def test_dashboard_is_importable_shape() -> None:
    board = dashboard()
    assert board["uid"] == "posdriver"
    assert board["id"] is None
    assert [i["name"] for i in board["__inputs"]] == ["DS_PROMETHEUS"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["instance"]["query"] == "label_values(posdriver_build_info, instance)"
    assert (
        variables["device"]["query"]
        == 'label_values(posdriver_device_info{instance=~"$instance"}, device)'
    )
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in board["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
    for var in variables.values():
        assert var["datasource"]["uid"] == "${DS_PROMETHEUS}"


def test_every_dashboard_query_is_filtered_by_instance() -> None:
    for target in targets():
        selectors = SELECTOR.findall(target["expr"])
        assert selectors, target["expr"]
        for name, matchers in selectors:
            assert 'instance=~"$instance"' in matchers, f"{name} unfiltered in {target['expr']}"


def test_dashboard_covers_the_agreed_panels() -> None:
    used = {m for target in targets() for m in METRIC.findall(target["expr"])}
    for name in (
        "posdriver_device_up",
        "posdriver_device_state",
        "posdriver_printer_paper_state",
        "posdriver_check_success",
        "posdriver_operations_total",
        "posdriver_operations_in_doubt",
        "posdriver_operations_needs_review",
        "posdriver_print_jobs",
        "posdriver_journal_size_bytes",
        "posdriver_reconnects_total",
        "posdriver_link_errors_total",
    ):
        assert name in used, f"no panel shows {name}"


# --- a real Prometheus --------------------------------------------------------------


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    path = binary("prometheus")
    snapshot = service()
    page = MetricsPage(lambda: snapshot, clock=lambda: NOW)
    server, thread, port = start_metrics_server(page, "127.0.0.1", 0)
    prom = Prometheus(path, tmp_path_factory.mktemp("prometheus"), port)
    try:
        wait_until(prom.ready, timeout=15, what="prometheus to be ready")

        def two_scrapes() -> bool:
            result = prom.query("count_over_time(posdriver_build_info[1m])")["data"]["result"]
            return bool(result) and float(result[0]["value"][1]) >= 2

        wait_until(two_scrapes, timeout=30, what="two scrapes of posdriver")
        yield prom
    finally:
        prom.stop()
        stop_metrics_server(server, thread)


def runnable(expr: str) -> str:
    """A dashboard query as Grafana would send it with every instance and device chosen."""
    return (
        expr.replace("$instance", ".*").replace("$device", ".*").replace("$__rate_interval", "1m")
    )


def test_every_dashboard_query_runs_and_finds_data(prometheus: Prometheus) -> None:
    for target in targets():
        expr = runnable(target["expr"])
        answer = prometheus.query(expr)
        assert answer["status"] == "success", (expr, answer)
        assert answer["data"]["result"], f"no data for {expr}"


def test_template_variable_queries_find_values(prometheus: Prometheus) -> None:
    series = prometheus.get("/api/v1/series", **{"match[]": "posdriver_build_info"})
    assert series["status"] == "success"
    assert {s["instance"] for s in series["data"]} == {f"127.0.0.1:{scraped_port(prometheus)}"}
    devices = prometheus.get(
        "/api/v1/label/device/values", **{"match[]": 'posdriver_device_info{instance=~".*"}'}
    )
    assert devices["status"] == "success"
    assert set(devices["data"]) == {d.name for d in service().devices}


def scraped_port(prometheus: Prometheus) -> int:
    targets_ = prometheus.get("/api/v1/targets")["data"]["activeTargets"]
    return int(targets_[0]["labels"]["instance"].rsplit(":", 1)[1])


def test_the_rules_evaluate_on_real_data(prometheus: Prometheus) -> None:
    # The snapshot has paper near end, a stale printer, a terminal never reached, an
    # unreachable acquirer (its breaker open), operations in doubt and needing review,
    # receipts queued and checks failing: those rules match (pending, as their `for:` has
    # not passed). The daemon is up, no paper is out and the journal takes writes, so
    # those do not.
    expected = {
        "PosdriverPrinterPaperNearEnd",
        "PosdriverAcquirerUnreachable",
        "PosdriverOperationsInDoubt",
        "PosdriverOperationsNeedReview",
        "PosdriverReceiptsUnprinted",
        "PosdriverCheckFailing",
        "PosdriverDeviceDown",
        "PosdriverStateDirLowOnSpace",
        "PosdriverCircuitOpen",
    }

    def loaded() -> list[dict[str, Any]]:
        groups = prometheus.get("/api/v1/rules")["data"]["groups"]
        return [rule for group in groups for rule in group["rules"]]

    def active() -> set[str]:
        return {r["name"] for r in loaded() if r["alerts"]}

    wait_until(lambda: expected <= active(), timeout=15, what="the alert rules to match")
    found = loaded()
    assert {r["name"]: r["health"] for r in found} == dict.fromkeys(EXPECTED_ALERTS, "ok")
    assert active() == expected
