"""The shipped monitoring artefacts: alert rules (checked and unit-tested by promtool),
the Grafana dashboard (checked statically, and every query run by a real Prometheus that
scrapes a real posdriver metrics endpoint), and the links between them and docs/ops.md."""

from __future__ import annotations

import json
import re
import subprocess
import time
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
from tests.support.served import serve
from tests.support.snapshots import NOW, service
from tests.support.timing import wait_until

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ALERTS.parent  # packaging/prometheus
ALERT_TESTS = RULES_DIR / "alerts_test.yml"
DASHBOARD = ROOT / "packaging" / "grafana" / "posdriver.json"
OPS_DOC = ROOT / "docs" / "ops.md"
UP = 'up{job="posdriver",instance=~"$instance"}'  # the daemon answering its scrapes

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
# a metric name (or Prometheus' own up) followed by its label matchers
SELECTOR = re.compile(r"\b(posdriver_[a-z_]+|up(?=\{))(\{[^}]*\})?")


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
    assert "__inputs" not in board  # the data source is a variable: no import-time input
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    instance = variables["instance"]
    assert instance["query"] == "label_values(posdriver_build_info, instance)"
    assert (instance["multi"], instance["includeAll"], instance["allValue"]) == (True, True, ".*")
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
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
    for name, var in variables.items():
        if name != "datasource":
            assert var["datasource"]["uid"] == "${datasource}"
    assert "${DS_PROMETHEUS}" not in DASHBOARD.read_text()


def panels_of(kind: str) -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] == kind]


def test_every_stat_shows_now_and_only_while_the_daemon_answers() -> None:
    """A stat (and the device table) is one value for now: an instant query, never a
    range whose last value per series is shown (a 6 h view showed "ok" beside a red
    "out" that had cleared). Every one but the daemon's own is joined with ``up == 1``
    and says "no data / daemon down" without it, not a last value."""
    panels = panels_of("stat") + panels_of("table")
    titles = {p["title"] for p in panels}
    assert {"Daemon", "Receipts waiting now", "Paper", "Cover", "Acquirer"} <= titles
    assert {"Device state", "Circuit breaker", "Checks", "In doubt"} <= titles
    for panel in panels:
        for target in panel["targets"]:
            assert (target.get("instant"), target.get("range")) == (True, False), panel["title"]
            if panel["title"] == "Daemon":
                assert target["expr"] == UP
                continue
            assert f"and on (instance) ({UP} == 1)" in target["expr"], panel["title"]
        if panel["title"] != "Daemon":
            defaults = panel["fieldConfig"]["defaults"]
            assert defaults["noValue"] == "no data / daemon down", panel["title"]


def test_checks_tell_warning_from_critical_and_ages_have_thresholds() -> None:
    by_title = {p["title"]: p for p in dashboard()["panels"]}
    checks = by_title["Checks"]
    assert "posdriver_check_status" in checks["targets"][0]["expr"]
    colours = {
        o["matcher"]["options"]: o["properties"][0]["value"]["fixedColor"]
        for o in checks["fieldConfig"]["overrides"]
    }
    assert colours == {".*: warning$": "orange", ".*: critical$": "red", ".*: unknown$": "purple"}
    for title in ("Status age", "Since last journal commit"):
        steps = by_title[title]["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert [s["color"] for s in steps] == ["green", "orange", "red"], title


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
        "posdriver_check_status",
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
    """Each query as Grafana sends it (instant or over the last minute), and as a plain
    instant query too."""
    end = time.time()
    for target in targets():
        runnable_target = {**target, "expr": runnable(target["expr"])}
        for answer in (
            prometheus.as_grafana(runnable_target, end - 60, end),
            prometheus.query(runnable_target["expr"]),
        ):
            assert answer["status"] == "success", (target["expr"], answer)
            assert answer["data"]["result"], f"no data for {target['expr']}"


def by_title(title: str) -> dict[str, Any]:
    [panel] = [p for p in dashboard()["panels"] if p["title"] == title and p["type"] != "row"]
    return {**panel["targets"][0], "expr": runnable(panel["targets"][0]["expr"])}


def shown(answer: dict[str, Any], label: str) -> set[str]:
    """The values of ``label`` among the series a panel would draw."""
    assert answer["status"] == "success", answer
    return {series["metric"][label] for series in answer["data"]["result"]}


def test_a_real_daemon_on_the_dashboard_now_and_over_a_range(tmp_path: Path) -> None:
    """A real ``posdriver serve --emulate`` under a real Prometheus, queried as Grafana
    queries: paper out, then loaded again. The state panels show only now (a range over
    the same span has both states: what the panel showed before it was instant); every
    retry series is there at 0 from the start; and with the daemon stopped, every stat
    is empty ("no data / daemon down") and the daemon's own says 0."""
    path = binary("prometheus")
    prom: Prometheus | None = None
    try:
        with serve(tmp_path) as served:
            port = int(served.metrics.removeprefix("http://").split("/")[0].rsplit(":", 1)[1])
            workdir = tmp_path / "prometheus"
            workdir.mkdir()
            prom = Prometheus(path, workdir, port)
            wait_until(prom.ready, timeout=15, what="prometheus to be ready")
            paper = by_title("Paper")

            def paper_now() -> set[str]:
                return shown(prom.as_grafana(paper, time.time() - 60, time.time()), "state")

            wait_until(lambda: paper_now() == {"ok"}, 30, "paper ok in Prometheus")
            began = time.time()
            served.fault("printer", "paper_out")
            wait_until(lambda: paper_now() == {"out"}, 15, "paper out in Prometheus")
            served.fault("printer", "paper_out", False)
            wait_until(lambda: paper_now() == {"ok"}, 15, "paper ok again in Prometheus")
            end = time.time()
            over_the_range = {**paper, "instant": False, "range": True}
            assert shown(prom.as_grafana(over_the_range, began, end), "state") == {"out", "ok"}
            assert shown(prom.as_grafana(paper, began, end), "state") == {"ok"}

            retries = prom.query('posdriver_retries_total{job="posdriver"}')["data"]["result"]
            assert {(r["metric"]["operation"], r["value"][1]) for r in retries} >= {
                ("print", "0"),
                ("status", "0"),
                ("diagnosis", "0"),
            }
            for panel in panels_of("stat"):  # all of them have data while it runs
                target = by_title(panel["title"])
                answer = prom.as_grafana(target, end - 60, end)
                assert answer["data"]["result"], f"{panel['title']}: no data while up"
        assert prom is not None

        def daemon_down() -> bool:
            answer = prom.query('up{job="posdriver"}')["data"]["result"]
            return bool(answer) and answer[0]["value"][1] == "0"

        wait_until(daemon_down, 15, "Prometheus to find the daemon gone")
        end = time.time()
        for panel in panels_of("stat") + panels_of("table"):
            answer = prom.as_grafana(by_title(panel["title"]), end - 6 * 3600, end)
            values = [series["value"][1] for series in answer["data"]["result"]]
            assert values == (["0"] if panel["title"] == "Daemon" else []), panel["title"]
    finally:
        if prom is not None:
            prom.stop()


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
