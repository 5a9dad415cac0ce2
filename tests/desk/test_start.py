"""A money operation started through the desk and answered once it is journaled, of each
kind: by the daemon's own desk (:class:`LocalDesk` on the daemon's threads, a daemon run
in this process on emulated devices) and through a real ``posdriver serve --emulate``
(:class:`RemoteDesk`). A repeated idempotency key is the first operation, another
request under it a conflict; what cannot be started is refused with nothing journaled."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from posdriver.config import load_config, with_overrides
from posdriver.desk import (
    BadInput,
    Conflict,
    Desk,
    NotFound,
    Order,
    Refused,
    RemoteDesk,
    Started,
)
from posdriver.desk.client import Daemon as Client
from posdriver.journal import Kind, Operation, State
from posdriver.journal.journal import Filters
from posdriver.money import Money
from posdriver_emulator.controller import Controller
from tests.support.served import SERVED_CONFIG, serve

SETTLE = 30.0


@contextlib.contextmanager
def daemon_here(tmp_path: Path, devices: str) -> Iterator[Any]:
    """A daemon in this process on the devices ``devices`` configures, started."""
    from posdriver.service.daemon import Daemon

    config_file = tmp_path / "posdriver.toml"
    config_file.write_text(SERVED_CONFIG + devices)
    config = with_overrides(load_config(config_file), state_dir=tmp_path / "state")
    daemon = Daemon(config, api="127.0.0.1:0", metrics="127.0.0.1:0", out=lambda _l: None)
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture(params=["local", "remote"])
def desk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Desk]:
    if request.param == "remote":
        with serve(tmp_path) as served:
            yield RemoteDesk(Client(served.api, None))
        return
    with (
        Controller.terminal(link="tcp", seed=5) as terminal,
        Controller.printer(link="pty", link_dir=tmp_path, seed=6) as printer,
    ):
        devices = (
            f'[devices.receipt]\nkind = "printer"\nurl = "{printer.url}"\n'
            f'[devices.desk]\nkind = "terminal"\nurl = "{terminal.url}"\n'
        )
        with daemon_here(tmp_path, devices) as daemon:
            yield daemon.api.money_desk()


def eur(text: str) -> Money:
    return Money.parse(text, "EUR")


def started(desk: Desk, order: Order) -> Operation:
    """``order`` started, journaled and not a repeat; the operation as it ended."""
    begun = desk.start(order)
    assert isinstance(begun, Started) and not begun.repeated
    assert begun.operation.kind is order.kind and begun.operation.id > 0
    ended = desk.settled(begun.operation.id, wait=SETTLE).operation
    assert ended.state is State.APPROVED, ended.reason
    return ended


def test_each_kind_of_money_operation_is_started_and_ends(desk: Desk) -> None:
    sale = started(desk, Order(Kind.SALE, "20.00"))
    refund = started(desk, Order(Kind.REFUND, "5.00", txn=f"id:{sale.id}", operator="anna"))
    assert (refund.parent_id, str(refund.amount)) == (sale.id, "5.00 EUR")
    other = started(desk, Order(Kind.SALE, "8.00", currency="eur"))
    reversal = started(desk, Order(Kind.REVERSAL, txn=other.id))
    assert reversal.parent_id == other.id
    deposit = started(desk, Order(Kind.PRE_AUTH, "50.00"))
    booking = started(desk, Order(Kind.BOOKING, "30.00", txn=f"id:{deposit.id}"))
    assert (booking.parent_id, str(booking.amount)) == (deposit.id, "30.00 EUR")


def test_a_repeated_key_is_the_first_operation_and_another_request_under_it_a_conflict(
    desk: Desk,
) -> None:
    key = f"folio-{uuid.uuid4()}"
    first = desk.start(Order(Kind.SALE, "7.00", idempotency_key=key))
    assert not first.repeated
    again = desk.start(Order(Kind.SALE, "7.0", idempotency_key=key))  # the same, written so
    assert again.repeated and again.operation.id == first.operation.id
    with pytest.raises(Conflict, match=rf"idempotency key '{key}' was used for id:"):
        desk.start(Order(Kind.SALE, "7.01", idempotency_key=key))
    with pytest.raises(Conflict, match="its kind differs"):
        desk.start(Order(Kind.PRE_AUTH, "7.00", idempotency_key=key))
    assert desk.settled(first.operation.id, wait=SETTLE).operation.state is State.APPROVED
    assert [op.id for op in desk.transactions(Filters())] == [first.operation.id]


def test_a_reversed_sale_is_not_reversed_again(desk: Desk) -> None:
    sale = started(desk, Order(Kind.SALE, "9.00"))
    reversal = started(desk, Order(Kind.REVERSAL, txn=f"id:{sale.id}"))
    with pytest.raises(
        Conflict, match=rf"id:{sale.id} already has a reversal \(id:{reversal.id}, approved\)"
    ):
        desk.start(Order(Kind.REVERSAL, txn=f"id:{sale.id}"))
    with pytest.raises(Conflict, match=r"only an approved pre-authorisation can be booked"):
        desk.start(Order(Kind.BOOKING, "1.00", txn=f"id:{sale.id}"))


def test_a_sale_with_refunds_is_not_reversed_over_them(desk: Desk) -> None:
    """The terminal reverses the whole payment, whatever was refunded of it: a
    reversal after a refund would pay the guest back twice."""
    sale = started(desk, Order(Kind.SALE, "12.00"))
    refund = started(desk, Order(Kind.REFUND, "2.00", txn=f"id:{sale.id}"))
    with pytest.raises(
        Conflict,
        match=rf"id:{sale.id} has refunds \(id:{refund.id} 2.00 EUR approved\); a reversal "
        "would pay the whole sale back on top of them: refund what is left instead",
    ):
        desk.start(Order(Kind.REVERSAL, txn=f"id:{sale.id}"))
    ops = desk.transactions(Filters())
    assert [op.id for op in ops if op.kind is Kind.REVERSAL] == []


def test_what_cannot_start_is_refused_with_nothing_journaled(desk: Desk) -> None:
    with pytest.raises(BadInput, match="a sale needs an amount"):
        desk.start(Order(Kind.SALE))
    with pytest.raises(BadInput, match="a refund needs txn: the journal id it refers to"):
        desk.start(Order(Kind.REFUND, "1.00"))
    with pytest.raises(NotFound, match="no transaction with journal id 99999"):
        desk.start(Order(Kind.REVERSAL, txn="id:99999"))
    with pytest.raises(BadInput, match="no terminal named 'nope'"):
        desk.start(Order(Kind.SALE, "1.00", terminal="nope"))
    with pytest.raises(BadInput, match="currency must be an ISO 4217 code such as EUR"):
        desk.start(Order(Kind.SALE, "1.00", currency="euro"))
    assert desk.transactions(Filters()) == []
    sale = started(desk, Order(Kind.SALE, "10.00"))
    with pytest.raises(Refused, match=r"Refund 99\.00 EUR") as refused:
        desk.start(Order(Kind.REFUND, "99.00", txn=sale.id))
    assert refused.value.extra["refund_guard"]["allowed"] is False
    assert [op.id for op in desk.transactions(Filters())] == [sale.id]


@pytest.fixture
def no_deposits(tmp_path: Path) -> Iterator[Any]:
    """A daemon in this process whose one terminal takes no deposits (the in-process
    model protocol, which has no pre-authorisation)."""
    from tests.support import model_terminal as model

    model.install()
    try:
        device = model.new_device()
        devices = f'[devices.desk]\nkind = "terminal"\nurl = "{device.url}"\nprotocol = "model"\n'
        with daemon_here(tmp_path, devices) as daemon:
            yield daemon
    finally:
        model.uninstall()


@pytest.mark.parametrize("through", ["local", "remote"])
def test_a_pre_auth_on_a_terminal_without_deposits_is_refused(
    no_deposits: Any, through: str
) -> None:
    desk: Desk = no_deposits.api.money_desk()
    if through == "remote":
        desk = RemoteDesk(Client(no_deposits.bound["api"], None))
    with pytest.raises(Conflict, match="has no pre authorisation"):
        desk.start(Order(Kind.PRE_AUTH, "100.00"))
    assert desk.transactions(Filters()) == []


@pytest.fixture(params=["local", "remote"])
def limited(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Desk]:
    """Both desks on a daemon in this process whose terminal refunds at most 50.00 EUR
    at a time (more is refunded in parts, by a split plan)."""
    with (
        Controller.terminal(link="tcp", seed=7) as terminal,
        Controller.printer(link="pty", link_dir=tmp_path, seed=8) as printer,
    ):
        devices = (
            f'[devices.receipt]\nkind = "printer"\nurl = "{printer.url}"\n'
            f'[devices.desk]\nkind = "terminal"\nurl = "{terminal.url}"\n'
            'refund_limit = "50.00"\n'
        )
        with daemon_here(tmp_path, devices) as daemon:
            if request.param == "local":
                yield daemon.api.money_desk()
            else:
                yield RemoteDesk(Client(daemon.bound["api"], None))


def test_a_split_refund_plan_is_made_once_and_its_run_started_once(limited: Desk) -> None:
    desk = limited
    sale = started(desk, Order(Kind.SALE, "120.00"))
    with pytest.raises(Refused, match=r"Refund 10\.00 EUR can go as one refund; no plan"):
        desk.make_plan(sale.id, eur("10.00"), None, "anna")
    made = desk.make_plan(sale.id, None, None, "anna")
    plan = made.view.plan
    assert made.guard.has_plan and made.view.left == (eur("40.00"),) * 3
    with pytest.raises(Conflict, match=f"sale {sale.id} already has refund plan {plan.id} open"):
        desk.make_plan(sale.id, None, None, "anna")
    key = f"plan-{uuid.uuid4()}"
    first = desk.start_plan(plan.id, None, "anna", key)
    assert not first.repeated and [op.kind for op in first.operations] == [Kind.REFUND]
    again = desk.start_plan(plan.id, None, "anna", key)
    assert again.repeated and again.operations[0].id == first.operations[0].id
    done = desk.refund_plan(plan.id, wait=60)
    assert (done.plan.state, done.left, done.running) == ("done", (), False)
    assert [op.state for op in done.refunds] == [State.APPROVED] * 3
    with pytest.raises(Conflict, match=f"refund plan {plan.id} is done; nothing is carried out"):
        desk.start_plan(plan.id, None, "anna")
