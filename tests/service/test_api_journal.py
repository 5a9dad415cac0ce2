"""The journal commands while a daemon owns the devices: ``posdriver serve --emulate`` as a
real process, the new endpoints over real HTTP, and ``posdriver txn|pending|resolve|
incidents|jobs|reprint`` as subprocesses pointed at it (``[service] api``).

Through the daemon, a command must print what it prints when it reads the journal
itself, byte for byte, text and ``--json`` alike; so the read-only commands are run both
ways side by side (the direct run finds no daemon at ``127.0.0.1:9`` and reads the
daemon's journal, which SQLite allows beside it) and compared. Through the daemon the
CLI never opens a journal: it is given a state directory that must stay uncreated.
A daemon that answers with an error the CLI cannot act on ends the command with the
daemon's words and exit 3, never with the CLI opening what the daemon holds."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from posdriver.journal import Kind, State, open_journal
from posdriver.money import Money
from tests.support.api_answers import conforms
from tests.support.desk_cli import Cli
from tests.support.served import Served
from tests.support.timing import wait_until


@pytest.fixture
def cli(served: Served, tmp_path: Path) -> Cli:
    return Cli(served.api, served.state, tmp_path)


def stranded_sale(state: Path, amount: str) -> int:
    """A sale a crash left ``sent`` on a terminal no longer configured: recovery cannot
    ask that terminal, so the daemon marks it for a person (``needs_review``)."""
    with open_journal(state) as journal:
        op = journal.begin(Kind.SALE, Money.parse(amount, "EUR"), actor="test")
        journal.attempt(op.id, "old-desk")
        journal.transition(op.id, State.SENT, actor="test")
    return op.id


def approved_sale(served: Served, amount: str) -> int:
    op_id = served.sale(amount)
    body = served.get(f"/v1/operations/{op_id}?wait=20")[1]
    assert body["operation"]["state"] == "approved", body
    return op_id


def test_the_journal_reads_the_same_through_the_daemon_and_waiting_receipts(
    served: Served, cli: Cli
) -> None:
    first = approved_sale(served, "12.50")
    wait_until(lambda: served.get(f"/v1/operations/{first}")[1]["print_jobs"][0]["state"] == "done")
    served.fault("printer", "paper_out")
    wait_until(
        lambda: served.get("/v1/devices")[1][0]["paper"] == "out", 10, "paper out to be seen"
    )
    second = approved_sale(served, "7.00")
    # the daemon tries a printer that said paper out only now and then; asked, it tries now
    status, report = served.post("/v1/print-jobs/run", {})
    conforms("/v1/print-jobs/run", "post", status, report)
    assert (report["printed"], report["waiting"], report["jobs"][0]["reason"]) == (
        0,
        1,
        "paper out",
    )
    # the same, byte for byte, through the daemon and from the journal
    for args in (
        ("txn", "list", "--kind", "sale", "--last4", "0119", "--amount", "7.00", "--json"),
        ("txn", "list", "--since", "2020-01-01", "--until", "2099-12-31", "--limit", "1"),
        ("txn", "show", f"id:{first}"),
        ("txn", "show", "last", "--json"),
        ("pending", "--json"),
        ("incidents", "--csv", "--since", "24h"),
    ):
        cli.same_both_ways(*args)
    jobs = cli.same_both_ways("jobs")
    assert jobs.returncode == 1 and "paper out" in jobs.stdout
    pending = cli.same_both_ways("pending")
    assert pending.returncode == 1 and "1 receipt(s) waiting for a printer" in pending.stdout
    # the input errors are the CLI's own, before anything is asked
    for args, words in (
        (("txn", "show", "id:999"), "no transaction with journal id 999"),
        (("txn", "list", "--state", "lost"), "states:"),
    ):
        done = cli.same_both_ways(*args)
        assert done.returncode == 3 and words in done.stderr, (args, done.stderr)

    status, detail = served.get(f"/v1/transactions/id:{second}")
    conforms("/v1/transactions/{txn}", "get", status, detail)
    assert [e["to"] for e in detail["events"] if e["to"]][-2:] == ["sent", "approved"]
    assert [r["copy"] for r in detail["receipts"]] == ["customer", "merchant"]
    status, queue = served.get("/v1/print-jobs")
    conforms("/v1/print-jobs", "get", status, queue)
    [waiting] = queue
    assert (waiting["operation_id"], waiting["state"]) == (second, "queued")
    status, answer = served.get("/v1/print-jobs?state=done,lost")
    assert status == 400 and "'lost' is not a print job state" in answer["error"]

    # a reprint asked while the original still waits for paper gives the guest that
    status, answer = served.post(f"/v1/operations/{second}/reprint", {"operator": "anna"})
    conforms("/v1/operations/{id}/reprint", "post", status, answer)
    assert status == 202 and answer == {"job": answer["job"], "reprint": False}
    assert answer["job"]["id"] == waiting["id"]
    # jobs run prints what it can now: nothing while paper is out (exit 1, the reason)
    done = cli.run("jobs", "run", "--wait", "0")
    assert done.returncode == 1 and "NOT printed yet: paper out" in done.stdout, done
    status, answer = served.post("/v1/print-jobs/run", {"printer": "nope"})
    assert status == 400 and "no printer named 'nope'" in answer["error"]
    # paper back: the daemon prints it by itself; a cancel then comes too late
    served.fault("printer", "paper_out", False)
    done = cli.run("jobs", "run", "--wait", "20")
    assert done.returncode == 0, done
    wait_until(lambda: served.get(f"/v1/print-jobs/{waiting['id']}")[1]["state"] == "done", 20)
    done = cli.run("jobs", "cancel", str(waiting["id"]))
    assert done.returncode == 3
    assert f"print job {waiting['id']} is done; nothing to cancel" in done.stderr
    done = cli.run("jobs", "cancel", "999")
    assert done.returncode == 3 and "no print job 999" in done.stderr
    # a reprint now is a copy, on the printer of the sale's terminal, printed
    done = cli.run("reprint", f"id:{second}", "--json")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert (body["reprint_no"], body["printed"], body["job"]["printer"]) == (1, True, "receipt")
    assert set(body) >= {"operation", "copy", "reprint_no", "source", "printed", "printing"}
    done = cli.run("reprint", "receipt:999")
    assert done.returncode == 3 and "only when posdriver serve is not running" in done.stderr


def test_a_person_resolves_what_the_daemon_could_not(served: Served, cli: Cli) -> None:
    charged, not_charged, third = (
        stranded_sale(served.state, a) for a in ("99.00", "5.00", "1.00")
    )
    status, report = served.post("/v1/recover", {})
    conforms("/v1/recover", "post", status, report)
    status, pending = served.get("/v1/pending")
    conforms("/v1/pending", "get", status, pending)
    assert [(op["id"], op["state"]) for op in pending["operations"]] == [
        (op_id, "needs_review") for op_id in (charged, not_charged, third)
    ]
    done = cli.same_both_ways("pending")
    assert done.returncode == 1 and f"posdriver resolve id:{charged}" in done.stdout

    path = f"/v1/operations/{charged}/resolve"
    ok = {"state": "approved", "note": "terminal journal shows it", "operator": "anna"}
    for body, words in (
        ({**ok, "state": "maybe"}, "state must be approved or declined"),
        ({k: v for k, v in ok.items() if k != "note"}, "note is required"),
        ({**ok, "note": "  "}, "note must not be empty"),
        ({k: v for k, v in ok.items() if k != "operator"}, "operator is required"),
        ({**ok, "last4": "12"}, "last4 takes exactly four digits"),
        ({**ok, "receipt_no": "12"}, "receipt_no must be a whole number"),
        ({**ok, "by": "anna"}, "unknown field 'by'"),
    ):
        status, answer = served.post(path, body)
        assert status == 400 and words in answer["error"], (body, answer)
        conforms("/v1/operations/{id}/resolve", "post", status, answer)
    status, answer = served.post(path, {**ok, "last4": "4242", "receipt_no": 17})
    conforms("/v1/operations/{id}/resolve", "post", status, answer)
    assert status == 200 and not answer["repeated"]
    op = answer["operation"]
    assert (op["state"], op["resolved_by"], op["card_last4"], op["receipt_no"]) == (
        "approved",
        "anna",
        "4242",
        17,
    )
    assert [j["printer"] for j in answer["print_jobs"]] == ["receipt"]  # built, queued
    assert answer["incident"]["category"] == "manual"
    assert "decided by anna" in answer["incident"]["action"]
    # the same decision again (a retried request) changes nothing; another one is refused
    status, again = served.post(path, {**ok, "last4": "4242", "receipt_no": 17})
    assert status == 200 and again["repeated"] and again["incident"] is None
    status, answer = served.post(path, {**ok, "state": "declined"})
    assert status == 409
    assert answer["error"] == (
        f"transaction {charged} is approved; only an operation in doubt or needing review "
        "is resolved by hand"
    )
    wait_until(
        lambda: served.get(f"/v1/operations/{charged}")[1]["print_jobs"][0]["state"] == "done",
        15,
        "the built receipt to print",
    )

    # through the CLI: the same rules, the same text
    done = cli.run("resolve", f"id:{not_charged}", "--declined", "--note", "  ")
    assert done.returncode == 3 and "--note must say why" in done.stderr
    done = cli.run("resolve", f"id:{charged}", "--declined", "--note", "x")
    assert done.returncode == 3 and "only an operation in doubt" in done.stderr
    done = cli.run(
        "resolve", f"id:{not_charged}", "--declined", "--note", "no charge on the statement"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"DECLINED  sale  5.00 EUR  (id:{not_charged}, terminal old-desk)",
        "  decided by desk-anna: no charge on the statement",
    ]
    done = cli.run("resolve", f"id:{third}", "--approved", "--note", "seen", "--json")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["state"] == "approved" and body["printing"]["printed"] == 1
    done = cli.same_both_ways("pending")
    assert (done.returncode, done.stdout) == (0, "nothing pending\n")

    # the fault record: written by hand through both, read back the same
    for bad, status_words in (
        ({"action": "a", "result": "r"}, (400, "fault is required")),
        ({"fault": "f", "action": "a", "result": 3}, (400, "result must be a string")),
        ({"fault": "f", "action": "a", "result": "r", "txn": "id:999"}, (404, "999")),
    ):
        status, answer = served.post("/v1/incidents", bad)
        assert (status, status_words[1] in answer["error"]) == (status_words[0], True), answer
    status, answer = served.post(
        "/v1/incidents",
        {"fault": "printer jammed", "action": "cleared", "result": "ok", "txn": charged},
    )
    conforms("/v1/incidents", "post", status, answer)
    assert (status, answer["operation_id"], answer["category"]) == (201, charged, "note")
    done = cli.run(
        "incidents", "add", "--fault", "f", "--action", "a", "--result", "r", "--txn", "id:999"
    )
    assert done.returncode == 3 and "no transaction with journal id 999" in done.stderr
    done = cli.run(
        "incidents", "add", "--device", "desk", "--fault", "card reader sticky",
        "--action", "cleaned", "--result", "works", "--txn", f"id:{third}",
    )  # fmt: skip
    assert done.returncode == 0 and done.stdout.startswith("incident "), done.stderr
    listed = cli.same_both_ways("incidents", "--since", "1h")
    assert "card reader sticky" in listed.stdout and "by desk-anna" in listed.stdout
    status, answer = served.get("/v1/incidents?since=yesterday")
    assert (
        status == 400
        and "since: 'yesterday' is not an ISO date or time, nor a span" in answer["error"]
    )
    status, answer = served.get("/v1/incidents?since=2h&limit=2")
    conforms("/v1/incidents", "get", status, answer)
    assert [i["fault"] for i in answer][-1] == "card reader sticky" and len(answer) == 2


class _Stub(BaseHTTPRequestHandler):
    """A daemon that answers /v1/health and nothing the CLI can act on."""

    status = 404
    error = "no such endpoint: /v1/pending"

    def do_GET(self) -> None:
        ok = self.path == "/v1/health"
        data = json.dumps({"status": "ok"} if ok else {"error": self.error}).encode()
        self.send_response(200 if ok else self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def stub() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("status", "error", "says"),
    [
        (404, "no such endpoint: /v1/pending", "does not offer this"),
        (401, "missing or wrong bearer token", "set [service] token"),
        (500, "internal error: JournalFull", "the daemon could not do it"),
    ],
)
def test_a_daemon_error_is_reported_and_nothing_is_opened_instead(
    stub: ThreadingHTTPServer, tmp_path: Path, status: int, error: str, says: str
) -> None:
    _Stub.status, _Stub.error = status, error
    cli = Cli(f"http://127.0.0.1:{stub.server_address[1]}", tmp_path / "state", tmp_path)
    done = cli.run("pending", "--json")
    assert done.returncode == 3, done
    assert says in done.stderr and error in done.stderr
    assert error in json.loads(done.stdout)["error"]


def test_since_and_until_are_read_as_the_cli_reads_them(served: Served) -> None:
    """One reading of a time or span for /v1/transactions and /v1/incidents, as for the
    CLI's --since/--until (posdriver.desk.times); a refusal names the value and the forms."""
    sale = approved_sale(served, "2.50")
    for query in ("since=24h", "since=30m", "since=7d&until=2099-12-31", "since=2000-01-01"):
        status, rows = served.get(f"/v1/transactions?{query}")
        assert status == 200 and [r["id"] for r in rows] == [sale], (query, rows)
    status, rows = served.get("/v1/transactions?until=1h")
    assert (status, rows) == (200, [])
    status, answer = served.get("/v1/incidents?since=30m")
    assert status == 200, answer
    status, answer = served.get("/v1/transactions?since=soon")
    assert status == 400 and answer["error"] == (
        "since: 'soon' is not an ISO date or time, nor a span back from now; write a day "
        "(2026-11-23), a time (2026-11-23T14:00, ISO 8601, local unless it has an offset) "
        "or a span back from now (30m, 24h, 7d, 2w)"
    )
