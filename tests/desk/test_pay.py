"""A payment through the desk, to its end: by this process on emulated devices of its
own (:class:`LocalDesk` with the command's devices), and through a real ``posdriver
serve --emulate`` (:class:`RemoteDesk`). Either way it is journaled, approved, its
receipts stored and printed; a request the daemon refuses is :class:`Refused`, nothing
sent."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest

from posdriver.cashier.cli_common import Context
from posdriver.cashier.cli_devices import CommandDevices
from posdriver.config import load_config, with_overrides
from posdriver.desk import Desk, LocalDesk, Paid, Refused, RemoteDesk
from posdriver.desk.client import Daemon
from posdriver.desk.models import Payment
from posdriver.journal import Kind, State
from posdriver.journal.journal import Filters
from posdriver.money import Money
from posdriver_emulator.controller import Controller
from tests.support.served import serve


@pytest.fixture(params=["local", "remote"])
def desk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Desk]:
    config_file = tmp_path / "posdriver.toml"
    config_file.write_text('[print]\nready_timeout = 15.0\n[service]\napi = "127.0.0.1:9"\n')
    if request.param == "remote":
        with serve(tmp_path) as served:
            yield RemoteDesk(Daemon(served.api, None), print_wait=15.0)
        return
    with (
        Controller.terminal(link="tcp", seed=5) as terminal,
        Controller.printer(link="pty", link_dir=tmp_path, seed=6) as printer,
    ):
        config = with_overrides(
            load_config(config_file),
            state_dir=tmp_path / "state",
            terminals=[terminal.url],
            printers=[printer.url],
        )
        args = argparse.Namespace(json=True, terminal=[terminal.url], printer=[printer.url])
        ctx = Context(args, config)
        try:
            yield LocalDesk(ctx.journal, config.state_dir, devices=CommandDevices(ctx))
        finally:
            ctx.close()


def test_a_sale_is_paid_to_its_end_and_its_receipts_printed(desk: Desk) -> None:
    paid = desk.pay(Payment(Kind.SALE, Money.parse("3.00", "EUR")))
    assert isinstance(paid, Paid) and paid.through_daemon is desk.through_daemon
    assert paid.operation.state is State.APPROVED
    assert paid.operation.amount == Money.parse("3.00", "EUR")
    printing = paid.result.printing
    assert printing is not None and printing.printed and not printing.waiting
    shown = desk.transaction(f"id:{paid.operation.id}")
    assert [r.copy for r in shown.receipts] == ["customer", "merchant"]
    assert desk.find("last", last_kinds=(Kind.SALE,)).id == paid.operation.id
    body = paid.as_dict()
    assert body["operation"] == paid.operation.as_dict() and body["not_reached"] == []


def test_a_refund_of_nothing_known_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    with serve(tmp_path) as served:
        desk = RemoteDesk(Daemon(served.api, None))
        with pytest.raises(Refused, match="no transaction with journal id 99999"):
            desk.pay(Payment(Kind.REFUND, txn="id:99999"))
        with pytest.raises(Refused, match="no terminal named 'nope'"):
            desk.pay(Payment(Kind.SALE, Money.parse("1.00", "EUR"), terminal="nope"))
        assert desk.transactions(Filters()) == []  # nothing was journaled


def approved_sale(desk: Desk, amount: str = "20.00") -> Paid:
    paid = desk.pay(Payment(Kind.SALE, Money.parse(amount, "EUR")))
    assert paid.operation.state is State.APPROVED
    return paid


def test_a_refund_goes_as_one_when_the_guard_lets_it(desk: Desk) -> None:
    sale = approved_sale(desk).operation
    guard = desk.refund_guard(sale.id, Money.parse("5.00", "EUR"), None)
    assert guard.allowed and not guard.has_plan
    assert guard.explanation.startswith("Refund 5.00 EUR can go as one refund.")
    paid = desk.pay(Payment(Kind.REFUND, Money.parse("5.00", "EUR"), txn=f"id:{sale.id}"))
    refund = paid.operation
    assert (refund.kind, refund.state, refund.parent_id) == (Kind.REFUND, State.APPROVED, sale.id)
    with pytest.raises(Refused, match=r"Refund 99\.00 EUR"):
        desk.pay(Payment(Kind.REFUND, Money.parse("99.00", "EUR"), txn=f"id:{sale.id}"))


def test_a_reprint_is_a_copy_printed_at_once(desk: Desk) -> None:
    sale = approved_sale(desk).operation
    reprinted = desk.reprint(sale.id, "customer", "desk-anna")
    [job] = reprinted.jobs
    assert reprinted.reprint and (job.purpose, job.reprint_no) == ("reprint", 1)
    report = desk.print_now(sale.id, [job.id], 15.0, alone=True)
    assert report is not None and [o.job.id for o in report.printed] == [job.id]
    assert desk.print_job(job.id).state == "done"


def test_nothing_to_recover_nothing_to_print_and_no_decision_on_a_settled_sale(
    desk: Desk,
) -> None:
    from posdriver.desk import Conflict, Decision

    sale = approved_sale(desk).operation
    report = desk.recover()
    assert report.clean and not report.resolved and not report.running
    assert desk.run_print_jobs(None, 0.0).outcomes == ()
    decision = Decision(State.DECLINED, "guest says so", "desk-anna")
    with pytest.raises(Conflict, match=f"transaction {sale.id} is approved; only an operation"):
        desk.resolve(sale.id, decision)
    assert desk.settled(sale.id).operation.state is State.APPROVED
