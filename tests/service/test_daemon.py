"""The daemon end to end: ``posdriver serve --emulate`` as a real process with an emulated
printer and terminal on pseudo-terminals; sales through the API, faults injected through
the emulators' control API, seen in /metrics, in ``posdriver check`` and in incidents."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.served import SERVED_CONFIG, Served, serve, serve_process
from tests.support.timing import wait_until


def test_a_sale_through_the_api_prints_its_receipt_and_counts(served: Served) -> None:
    status, body = served.post("/v1/operations", {"kind": "sale", "amount": "12.50"})
    assert status == 202
    op_id = body["operation"]["id"]
    status, done = served.get(f"/v1/operations/{op_id}?wait=20")
    assert status == 200 and done["operation"]["state"] == "approved"
    wait_until(
        lambda: served.get(f"/v1/operations/{op_id}")[1]["print_jobs"][0]["state"] == "done",
        15,
        "the receipt to print",
    )
    assert served.sample('posdriver_operations_total{kind="sale",outcome="approved"}') == 1.0
    # a retried request with the same key does not charge again
    key = {"Idempotency-Key": "desk-42"}
    first = served.post("/v1/operations", {"kind": "sale", "amount": "5.00"}, key)
    again = served.post("/v1/operations", {"kind": "sale", "amount": "5.00"}, key)
    assert first[0] == 202 and again[0] == 200 and again[1]["repeated"]
    assert again[1]["operation"]["id"] == first[1]["operation"]["id"]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"kind": "sale", "amount": 12.5}, 400, "decimal string"),
        ({"kind": "sale", "amount": "-1"}, 400, "negative"),
        ({"kind": "sale"}, 400, "needs an amount"),
        ({"kind": "tip", "amount": "1.00"}, 400, "kind must be one of"),
        ({"kind": "refund", "txn": "id:999"}, 404, "no transaction"),
        ({"kind": "sale", "amount": "1.00", "terminal": "nowhere"}, 400, "no terminal named"),
    ],
)
def test_bad_requests_are_named(
    served: Served, body: dict[str, Any], status: int, words: str
) -> None:
    got, answer = served.post("/v1/operations", body)
    assert got == status and words in answer["error"]
    assert served.get("/v1/transactions")[1] == []


def test_paper_out_shows_in_metrics_check_and_incidents_and_clears(served: Served) -> None:
    paper_out = 'posdriver_printer_paper_state{device="receipt",state="out"}'
    wait_until(lambda: served.sample(paper_out) == 0.0, 10, "paper ok first")
    served.fault("printer", "paper_out")
    wait_until(lambda: served.sample(paper_out) == 1.0, 5, "paper out in /metrics")
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    api = served.api.removeprefix("http://")
    check = subprocess.run(
        [sys.executable, "-m", "posdriver", "check", "receipt", "--api", api],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert check.returncode == 2 and "paper" in check.stdout and "CRITICAL" in check.stdout
    served.fault("printer", "paper_out", False)
    wait_until(lambda: served.sample(paper_out) == 0.0, 5, "paper back in /metrics")
    # through this test's daemon (never one a developer runs on the default port)
    client = served.state.parent / "client.toml"
    client.write_text(f'[service]\napi = "{api}"\n')
    incidents = subprocess.run(
        [sys.executable, "-m", "posdriver", "incidents", "--json", "--config", str(client)],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    faults = [i["fault"] for i in json.loads(incidents.stdout)]
    assert any("paper" in f for f in faults)


def test_sigterm_lets_a_running_payment_finish(served: Served) -> None:
    served.fault("terminal", "slow_host")  # the acquirer takes a few seconds
    op_id = served.sale("30.00")
    served.await_state(op_id, "sent", 10, "the terminal to accept")
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=60) == 0
    from posdriver.journal import open_journal

    with open_journal(served.state) as journal:
        assert journal.get(op_id).state.value == "approved"


def test_sigterm_while_starting_is_a_clean_stop(tmp_path: Path) -> None:
    """systemd may stop a unit that is still starting: the stop is noted from the first
    line the daemon prints (its emulators, before the journal opens and recovery runs),
    and the daemon stops as it always does (exit 0, journal closed), not by the default
    action of the signal (exit -15)."""
    config = tmp_path / "posdriver.toml"
    config.write_text(SERVED_CONFIG)
    command = [sys.executable, "-m", "posdriver", "serve", "--config", str(config)]
    command += ["--emulate", "--state-dir", str(tmp_path / "state")]
    command += ["--api", "127.0.0.1:0", "--metrics", "127.0.0.1:0"]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, PYTHONPATH=os.getcwd()),
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first, "posdriver serve printed nothing"
        process.send_signal(signal.SIGTERM)
        process.stdout.read()  # what it says while stopping, to its end
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_real_prometheus_sees_paper_out_flip(served: Served, tmp_path: Path) -> None:
    """Debian's Prometheus scrapes the running daemon; paper out shows in its query API,
    and goes back when the roll is replaced."""
    from tests.support.prometheus import Prometheus, binary

    port = int(served.metrics.rsplit(":", 1)[1].split("/")[0])
    prom = Prometheus(binary("prometheus"), tmp_path, port)
    out = 'posdriver_printer_paper_state{device="receipt",state="out"}'

    def value() -> float | None:
        result = prom.query(out)["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    try:
        wait_until(prom.ready, 15, "prometheus to be ready")
        wait_until(lambda: value() == 0.0, 30, "a first scrape with paper ok")
        served.fault("printer", "paper_out")
        wait_until(lambda: value() == 1.0, 15, "paper out in Prometheus")
        served.fault("printer", "paper_out", False)
        wait_until(lambda: value() == 0.0, 15, "paper back in Prometheus")
    finally:
        prom.stop()


def test_the_journal_commands_go_through_the_running_daemon(served: Served, tmp_path: Path) -> None:
    """While the daemon owns the devices, `posdriver sale` and `reprint` ask it."""
    api = served.api.removeprefix("http://")
    config = tmp_path / "client.toml"
    config.write_text(f'[service]\napi = "{api}"\n')
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    base = [sys.executable, "-m", "posdriver"]
    where = ["--config", str(config), "--state-dir", str(served.state)]
    sale = subprocess.run(
        [*base, "sale", "7.00", *where], capture_output=True, text=True, env=env, timeout=60
    )
    assert sale.returncode == 0, sale.stderr
    assert "APPROVED" in sale.stdout and "through the daemon" in sale.stdout
    assert "printed" in sale.stdout
    reprint = subprocess.run(
        [*base, "reprint", "last", *where], capture_output=True, text=True, env=env, timeout=60
    )
    assert reprint.returncode == 0, reprint.stderr
    assert "reprint 1" in reprint.stdout and "printed" in reprint.stdout


def test_refunds_and_reversals_are_checked_before_they_are_accepted(served: Served) -> None:
    status, body = served.post("/v1/operations", {"kind": "sale", "amount": "20.00"})
    sale = body["operation"]["id"]
    assert served.get(f"/v1/operations/{sale}?wait=20")[1]["operation"]["state"] == "approved"
    status, body = served.post(
        "/v1/operations", {"kind": "booking", "txn": f"id:{sale}", "amount": "5.00"}
    )
    assert status == 409 and "only an approved pre-authorisation" in body["error"]
    status, body = served.post("/v1/operations", {"kind": "reversal", "txn": f"id:{sale}"})
    assert status == 202
    reversal = body["operation"]["id"]
    assert served.get(f"/v1/operations/{reversal}?wait=20")[1]["operation"]["state"] == "approved"
    status, body = served.post("/v1/operations", {"kind": "reversal", "txn": f"id:{sale}"})
    assert status == 409 and "already has a reversal" in body["error"]
    status, body = served.post(
        "/v1/operations", {"kind": "refund", "txn": f"id:{sale}", "amount": "5.00"}
    )
    assert status == 409 and "refund_guard" in body
    key = {"Idempotency-Key": "folio-1"}
    assert served.post("/v1/operations", {"kind": "sale", "amount": "3.00"}, key)[0] == 202
    status, body = served.post("/v1/operations", {"kind": "sale", "amount": "4.00"}, key)
    assert status == 409 and "use a new key" in body["error"]


def test_a_link_drop_after_charging_is_resolved_while_the_daemon_runs(served: Served) -> None:
    """The terminal charged, the link dropped before the completion: the operation is in
    doubt, then the daemon asks the terminal itself and settles it as approved."""
    served.fault("terminal", "drop_before_completion")
    op_id = served.sale("44.00")
    served.await_state(op_id, "in_doubt", 30, "the sale to be in doubt")
    served.fault("terminal", "drop_before_completion", False)
    served.await_state(op_id, "approved", 30, "the daemon to resolve it")
    answer = served.get(f"/v1/operations/{op_id}")[1]
    assert answer["receipts"] and answer["receipts"][0]["source"] == "repeat_receipt"


def test_sighup_applies_what_it_can_and_names_what_needs_a_restart(tmp_path: Path) -> None:
    log_path = tmp_path / "serve.log"
    before = SERVED_CONFIG + '[receipt]\nheader = ["HOTEL BEFORE"]\n'
    with log_path.open("w") as log, serve(tmp_path, before, log) as served:
        first = served.sale("3.00")
        served.await_state(first, "approved", 20, "the first sale")
        config = tmp_path / "posdriver.toml"
        config.write_text(
            SERVED_CONFIG.replace("[service]\n", '[service]\napi = "127.0.0.1:1"\n')
            + '[receipt]\nheader = ["HOTEL AFTER"]\n'
        )
        served.process.send_signal(signal.SIGHUP)
        wait_until(lambda: "configuration reloaded" in log_path.read_text(), 10, "the reload")
        second = served.sale("4.00")
        served.await_state(second, "approved", 20, "the sale after the reload")

        def receipt_text(op_id: int) -> str:
            receipts = served.get(f"/v1/operations/{op_id}")[1]["receipts"]
            return "\n".join(line for r in receipts for line in r["lines"])

        assert "HOTEL BEFORE" in receipt_text(first)
        assert "HOTEL AFTER" in receipt_text(second)
        text = log_path.read_text()
        assert "need a restart" in text and "service.api" in text
        # the listen address that needs a restart was not taken: the API still answers
        assert served.get("/v1/health")[0] in (200, 503)

        # a file that does not load changes nothing, and says why
        config.write_text("[service]\npoll_interval = -1\n")
        served.process.send_signal(signal.SIGHUP)
        wait_until(lambda: "reload refused" in log_path.read_text(), 10, "the refusal")
        third = served.sale("5.00")
        served.await_state(third, "approved", 20, "a sale after the refused reload")
        assert "HOTEL AFTER" in receipt_text(third)


def test_health_refresh_runs_the_checks_now(served: Served) -> None:
    served.fault("terminal", "host_unreachable")
    # connectivity is scheduled every 300 s here: only refresh=all can show this at once
    status, body = served.get("/v1/health?refresh=all", timeout=70)
    desk = next(d for d in body["devices"] if d["kind"] == "terminal")
    assert desk["checks"]["connectivity"]["status"] == "critical"
    assert status == 503 and body["status"] == "critical" and body["late"] == []
    served.fault("terminal", "host_unreachable", False)
    status, body = served.get("/v1/health?refresh=all", timeout=70)
    desk = next(d for d in body["devices"] if d["kind"] == "terminal")
    assert desk["checks"]["connectivity"]["status"] == "ok"
    status, body = served.get("/v1/health?refresh=now")
    assert status == 400 and "refresh" in body["error"]


def test_serve_warns_of_a_token_others_can_read(tmp_path: Path) -> None:
    config = tmp_path / "posdriver.toml"
    config.write_text(SERVED_CONFIG + 'token = "s3cret-token-0123456789"\n')
    config.chmod(0o644)
    log_path = tmp_path / "serve.log"
    with (
        log_path.open("w") as log,
        serve_process(config, tmp_path / "state", emulate=True, log=log) as (process, _),
    ):
        assert process.poll() is None  # a warning, not a refusal
    assert (
        f"WARNING posdriver.config: {config}: mode 0644 lets every user of this machine read "
        f"service.token; chmod 600 {config}" in log_path.read_text()
    )


def test_posdriver_check_asks_the_daemon_posdriver_api_names(served: Served) -> None:
    """The same address every desk command asks: POSDRIVER_API when --api is not given."""
    api = served.api.removeprefix("http://")
    env = dict(os.environ, PYTHONPATH=os.getcwd(), POSDRIVER_API=api)
    check = subprocess.run(
        [sys.executable, "-m", "posdriver", "check", "--json", "--config", os.devnull],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    answer = json.loads(check.stdout)
    assert answer["source"] == "daemon", check.stderr
    assert sorted(d["name"] for d in answer["devices"]) == ["desk", "receipt"]


def test_the_last_journal_commit_is_known_from_the_first_scrape_after_a_restart(
    tmp_path: Path,
) -> None:
    """The store only knows its own commits: without reading the journal at start, the
    gauge (and the dashboard's "since last journal commit") stayed empty after every
    restart until the next payment."""
    gauge = "posdriver_journal_last_commit_timestamp_seconds"
    state = tmp_path / "state"
    with serve(tmp_path, state=state) as first:
        first.await_state(first.sale("3.00"), "approved", 30, "the sale approved")
        wait_until(lambda: first.sample(gauge) is not None, 5, "a commit in /metrics")
        before = first.sample(gauge)
    assert before is not None
    with serve(tmp_path, state=state) as second:
        committed = second.sample(gauge)  # the first scrape, before any payment
    # a record's own time, a moment before its commit
    assert committed is not None and before - 1.0 < committed
