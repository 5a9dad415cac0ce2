"""A desk as a hotel sets one up: two receipt printers (``receipt`` at the front, ``bar``)
and a terminal whose receipts go to ``bar`` and whose refunds stop at 50.00 EUR. The
daemon is a real ``posdriver serve`` process with that configuration; the devices are
emulators on real pseudo-terminals, run by this test so that it can see what each
printer printed.

Reprints go to the printer of the terminal that took the payment (unless the request
names another), and split refunds run through the API and through ``posdriver refund
--split`` while the daemon holds the terminal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from posdriver_emulator.controller import Controller
from tests.support.api_answers import call, conforms
from tests.support.desk_cli import Cli
from tests.support.served import Served, serve_process
from tests.support.timing import wait_until


@dataclass
class Desk(Served):
    printers: dict[str, Controller]

    def printed(self, printer: str) -> list[str]:
        return [r.text for r in self.printers[printer].device.receipts]  # type: ignore[attr-defined]

    def approved_sale(self, amount: str) -> int:
        """A sale, approved, its receipt printed (so nothing waits in the queue after)."""
        op_id = self.sale(amount)
        answer = self.get(f"/v1/operations/{op_id}?wait=20")[1]
        assert answer["operation"]["state"] == "approved", answer
        wait_until(
            lambda: all(
                j["state"] == "done" for j in self.get(f"/v1/operations/{op_id}")[1]["print_jobs"]
            ),
            15,
            f"the receipt of sale {op_id} to print",
        )
        return op_id

    def post_with(self, path: str, body: dict[str, Any], key: str) -> tuple[int, Any]:
        return self.post(path, body, {"Idempotency-Key": key})


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    links = tmp_path / "links"
    for name in ("front", "bar", "terminal"):  # one folder each: the link names repeat
        (links / name).mkdir(parents=True)
    with (
        Controller.printer(link="pty", link_dir=links / "front", seed=1) as front,
        Controller.printer(link="pty", link_dir=links / "bar", seed=2) as bar,
        Controller.terminal(link="pty", link_dir=links / "terminal", seed=3) as terminal,
    ):
        config = tmp_path / "posdriver.toml"
        config.write_text(
            "[service]\npoll_interval = 0.2\nterminal_poll_interval = 1.0\n"
            f'[devices.receipt]\nkind = "printer"\nurl = "{front.url}"\n'
            f'[devices.bar]\nkind = "printer"\nurl = "{bar.url}"\n'
            f'[devices.desk]\nkind = "terminal"\nurl = "{terminal.url}"\n'
            'printer = "bar"\nrefund_limit = "50.00"\n'
        )
        with serve_process(config, tmp_path / "state", emulate=False) as (process, by):
            yield Desk(
                process,
                by["api"]["url"],
                by["metrics"]["url"],
                str(bar.control_url),
                str(terminal.control_url),
                tmp_path / "state",
                {"receipt": front, "bar": bar},
            )


def test_a_reprint_goes_to_the_printer_of_the_terminal_that_took_the_payment(
    desk: Desk, tmp_path: Path
) -> None:
    sale = desk.approved_sale("20.00")
    wait_until(lambda: len(desk.printed("bar")) == 1, 15, "the receipt on the bar printer")
    status, answer = desk.post(f"/v1/operations/{sale}/reprint", {"operator": "anna"})
    conforms("/v1/operations/{id}/reprint", "post", status, answer)
    assert (status, answer["reprint"], answer["job"]["printer"]) == (202, True, "bar")
    wait_until(lambda: len(desk.printed("bar")) == 2, 15, "the copy on the bar printer")
    assert "DUPLICATE" in desk.printed("bar")[1] and "DUPLICATE" not in desk.printed("bar")[0]
    # a person may send it elsewhere, by name
    status, answer = desk.post(f"/v1/operations/{sale}/reprint", {"printer": "receipt"})
    assert (status, answer["job"]["printer"]) == (202, "receipt")
    wait_until(lambda: len(desk.printed("receipt")) == 1, 15, "the copy at the front")
    status, answer = desk.post(f"/v1/operations/{sale}/reprint", {"printer": "kitchen"})
    assert status == 400 and "no printer named 'kitchen'" in answer["error"]
    status, answer = desk.post(f"/v1/operations/{sale}/reprint", {"copy": "guest"})
    assert status == 400 and answer["error"] == "copy must be customer or merchant, got 'guest'"
    # and the CLI, through the daemon, the same
    done = Cli(desk.api, desk.state, tmp_path).run("reprint", "last")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"reprint 3 of id:{sale} (customer copy, from the journal), marked as a duplicate, "
        "through the daemon",
        f"  receipt of id:{sale} printed on bar",
    ]
    assert len(desk.printed("bar")) == 3 and len(desk.printed("receipt")) == 1


def test_a_split_refund_through_the_api(desk: Desk) -> None:
    sale = desk.approved_sale("120.00")
    status, answer = desk.post(
        "/v1/operations", {"kind": "refund", "txn": sale, "amount": "120.00"}
    )
    assert status == 409 and [p["amount"] for p in answer["refund_guard"]["plan"]] == ["40.00"] * 3
    status, guard = desk.get(f"/v1/transactions/id:{sale}/refund-guard?amount=120.00")
    conforms("/v1/transactions/{txn}/refund-guard", "get", status, guard)
    assert not guard["allowed"] and [s["name"] for s in guard["stops"]] == ["per_refund_limit"]
    status, guard = desk.get(f"/v1/transactions/id:{sale}/refund-guard?amount=30.00")
    assert status == 200 and guard["allowed"]
    status, answer = desk.post("/v1/refund-plans", {"txn": sale, "amount": "30.00"})
    assert status == 409 and "can go as one refund" in answer["error"]
    status, answer = desk.post("/v1/refund-plans", {"txn": sale, "amount": "500.00"})
    assert status == 409 and "more than the 120.00 EUR left" in answer["error"]
    status, headers, created = call(
        desk.api, "POST", "/v1/refund-plans", {"txn": f"id:{sale}", "operator": "anna"}
    )
    conforms("/v1/refund-plans", "post", status, created)
    plan = created["refund_plan"]
    assert status == 201 and headers["Location"] == f"/v1/refund-plans/{plan['id']}"
    assert (plan["parts"], plan["left"], plan["state"]) == (["40.00"] * 3, ["40.00"] * 3, "open")
    status, answer = desk.post("/v1/refund-plans", {"txn": sale})
    conforms("/v1/refund-plans", "post", status, answer)
    assert status == 409 and answer["refund_plan"]["id"] == plan["id"]

    run = f"/v1/refund-plans/{plan['id']}/run"
    status, answer = desk.post(run, {"terminal": "nowhere"})
    assert status == 400 and "no terminal named 'nowhere'" in answer["error"]
    status, started = desk.post_with(run, {"operator": "anna"}, "folio-9")
    conforms("/v1/refund-plans/{id}/run", "post", status, started)
    assert status == 202 and not started["repeated"]
    first = started["operations"][0]
    assert (first["kind"], first["parent_id"], first["plan_part"]) == ("refund", sale, 1)
    status, again = desk.post_with(run, {}, "folio-9")  # the answer was lost: ask again
    assert status == 200 and again["repeated"]
    assert again["operations"][0]["id"] == first["id"]
    status, done = desk.get(f"/v1/refund-plans/{plan['id']}?wait=60")
    conforms("/v1/refund-plans/{id}", "get", status, done)
    assert (done["state"], done["left"], done["running"]) == ("done", [], False)
    assert [(r["plan_part"], r["state"], r["amount"]) for r in done["refunds"]] == [
        (1, "approved", "40.00"),
        (2, "approved", "40.00"),
        (3, "approved", "40.00"),
    ]
    status, answer = desk.post_with(run, {}, "folio-10")
    assert (
        status == 409
        and answer["error"] == f"refund plan {plan['id']} is done; nothing is carried out"
    )
    status, answer = desk.post_with(run, {}, "folio-9#2")
    assert status == 409 and "use a new key" in answer["error"]

    # a plan given up: the reason in the record, the rest not refunded
    other = desk.approved_sale("100.00")
    status, created = desk.post("/v1/refund-plans", {"txn": other})
    plan_id = created["refund_plan"]["id"]
    status, answer = desk.post(f"/v1/refund-plans/{plan_id}/cancel", {})
    assert status == 400 and answer["error"] == "reason is required"
    status, answer = desk.post(
        f"/v1/refund-plans/{plan_id}/cancel", {"reason": "guest paid by transfer", "operator": "li"}
    )
    conforms("/v1/refund-plans/{id}/cancel", "post", status, answer)
    assert (status, answer["not_refunded"]) == (200, ["50.00", "50.00"])
    assert answer["refund_plan"]["state"] == "cancelled"
    status, answer = desk.post(f"/v1/refund-plans/{plan_id}/cancel", {"reason": "again"})
    assert status == 409 and answer["error"] == f"refund plan {plan_id} is cancelled already"
    status, answer = desk.get("/v1/refund-plans/999")
    assert status == 404 and answer["error"] == "no refund plan 999"
    incidents = desk.get("/v1/incidents")[1]
    assert any("cancelled by li: guest paid by transfer" in i["action"] for i in incidents)


def test_a_split_refund_through_the_cli(desk: Desk, tmp_path: Path) -> None:
    cli = Cli(desk.api, desk.state, tmp_path)
    sale = desk.approved_sale("90.00")
    done = cli.run("refund", f"id:{sale}")
    assert done.returncode == 3
    assert done.stderr.splitlines()[-2:] == [
        f"Afterwards 0.00 EUR stays refundable on sale {sale}.",
        "Run again with --split to refund it in these parts.",
    ]
    done = cli.run("refund", f"id:{sale}", "--split")
    assert done.returncode == 3 and "add --yes" in done.stderr
    done = cli.run("refund", f"id:{sale}", "--split", "--yes")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("split refund plan ") and lines[0].endswith(
        f"for id:{sale} (through the daemon):"
    )
    assert [line.split("  ")[1:3] for line in lines[1::2]] == [["APPROVED", "refund"]] * 2
    assert all(line.endswith("printed on bar") for line in lines[2::2])
    assert cli.run("pending").stdout == "nothing pending\n"

    # a plan made elsewhere (the front-desk software) is continued by --split, or given up
    second = desk.approved_sale("100.00")
    status, created = desk.post("/v1/refund-plans", {"txn": second, "amount": "60.00"})
    assert status == 201
    done = cli.run("pending")
    assert done.returncode == 1 and done.stdout == (
        f"refund plan {created['refund_plan']['id']} for id:{second}: still to refund "
        f"30.00 EUR + 30.00 EUR (posdriver refund id:{second} --split)\n"
    )
    done = cli.run("refund", "last", "--split", "--yes", "--json")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert (body["plan_id"], body["left"], body["complete"]) == (
        created["refund_plan"]["id"],
        [],
        True,
    )
    assert [p["operation"]["amount"] for p in body["parts"]] == ["30.00", "30.00"]
    third = desk.approved_sale("100.00")
    desk.post("/v1/refund-plans", {"txn": third})
    done = cli.run("refund", f"id:{third}", "--cancel-plan", "guest left; refund by transfer")
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("cancelled; not refunded: 50.00 EUR + 50.00 EUR\n")
    done = cli.run("refund", f"id:{third}", "--cancel-plan", "again")
    assert done.returncode == 3 and "has no open split refund plan" in done.stderr
    # within the limit, --split is a plain refund
    done = cli.run("refund", f"id:{third}", "--amount", "10.00", "--split")
    assert done.returncode == 0 and "through the daemon)" in done.stdout.splitlines()[0]


def test_finished_refund_plan_runs_are_not_kept(tmp_path: Path) -> None:
    """The API remembers a refund plan's run only while it runs (to refuse a second one):
    one kept per run since start would be a thread object for every split refund."""
    from posdriver.config import load_config, with_overrides
    from posdriver.service.daemon import Daemon

    with (
        Controller.printer(link="pty", link_dir=tmp_path, seed=1) as printer,
        Controller.terminal(link="pty", link_dir=tmp_path, seed=2) as terminal,
    ):
        config_file = tmp_path / "posdriver.toml"
        config_file.write_text(
            f'[devices.receipt]\nkind = "printer"\nurl = "{printer.url}"\n'
            f'[devices.desk]\nkind = "terminal"\nurl = "{terminal.url}"\n'
            'printer = "receipt"\nrefund_limit = "50.00"\n'
        )
        config = with_overrides(load_config(config_file), state_dir=tmp_path / "state")
        daemon = Daemon(config, api="127.0.0.1:0", metrics="127.0.0.1:0", out=lambda _l: None)
        daemon.start()
        try:
            served = Served(
                None,  # type: ignore[arg-type]  # no process: the daemon runs in this one
                daemon.bound["api"],
                daemon.bound["metrics"],
                str(printer.control_url),
                str(terminal.control_url),
                tmp_path / "state",
            )
            for _ in range(3):
                sale = served.sale("100.00")
                served.await_state(sale, "approved", 20, f"sale {sale} approved")
                status, created = served.post("/v1/refund-plans", {"txn": sale})
                assert status == 201, created
                plan = created["refund_plan"]["id"]
                status, started = served.post(f"/v1/refund-plans/{plan}/run", {})
                assert status == 202, started
                status, done = served.get(f"/v1/refund-plans/{plan}?wait=60", timeout=70)
                assert (done["state"], done["running"]) == ("done", False), done
            assert len(daemon.api.plan_runs) <= 1  # the last run's, at most
        finally:
            daemon.stop()
