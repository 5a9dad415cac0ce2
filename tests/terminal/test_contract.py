"""The terminal contract: one set of behaviours every protocol behind the registry must
show, run on ZVT (emulated, over a pseudo-terminal and over TCP) and on the in-process
model terminal, through the same cashier, journal and recovery.

What is held, for each implementation: an approval is journaled with the terminal's
facts and is on the terminal's record; a decline and an unreachable acquirer charge
nothing; a terminal not reached is not tried as if it was; an answer lost at any stage
is in doubt and recovery settles it from the terminal's own record (or hands it to a
person when the terminal cannot say); what a protocol cannot do is refused before
anything is journaled. Nothing here names a protocol except the rigs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from posdriver.cashier.cashier import Cashier
from posdriver.cashier.recovery import recover
from posdriver.config import Config, load_config
from posdriver.journal import Journal, State, open_journal
from posdriver.money import Money
from posdriver.terminal.protocol import Capability, CapabilityMissing
from tests.support.model_terminal import (
    DECLINE,
    HOST_DOWN,
    LOSE_AFTER_STATUS,
    LOSE_BEFORE_COMPLETION,
    SWITCHED_OFF,
)
from tests.support.terminal_rigs import RIGS, Rig, rig


@dataclasses.dataclass
class Desk:
    rig: Rig
    journal: Journal
    cashier: Cashier


@pytest.fixture(params=RIGS)
def desk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Desk]:
    with rig(request.param, tmp_path) as made:
        empty = tmp_path / "posdriver.toml"
        empty.write_text("")
        config: Config = dataclasses.replace(
            load_config(empty),
            state_dir=tmp_path / "state",
            terminals=(made.terminal(),),
            printers=(),
        )
        journal = open_journal(config.state_dir)
        try:
            yield Desk(made, journal, Cashier(journal, config, actor="contract"))
        finally:
            journal.close()


def eur(text: str) -> Money:
    return Money.parse(text, "EUR")


def test_an_approval_is_journaled_with_the_terminals_facts(desk: Desk) -> None:
    op = desk.cashier.sale(eur("12.50")).operation
    assert op.state is State.APPROVED
    assert op.amount == eur("12.50") and op.terminal == "desk"
    assert op.receipt_no is not None  # what a reversal and recovery go by
    assert op.card_last4 is not None and len(op.card_last4) == 4
    assert desk.journal.receipt(op.id, "customer") is not None
    assert desk.rig.standing_charges() == 1


def test_a_decline_charges_nothing(desk: Desk) -> None:
    desk.rig.next(DECLINE)
    op = desk.cashier.sale(eur("13.00")).operation
    assert op.state is State.DECLINED and op.result_code
    assert desk.rig.standing_charges() == 0


def test_an_unreachable_acquirer_is_aborted_and_charges_nothing(desk: Desk) -> None:
    desk.rig.next(HOST_DOWN)
    op = desk.cashier.sale(eur("14.00")).operation
    assert op.state is State.ABORTED
    assert "could not reach its acquirer" in (op.reason or "")
    assert desk.rig.standing_charges() == 0


def test_a_terminal_not_reached_is_aborted_with_nothing_sent(desk: Desk) -> None:
    desk.rig.next(SWITCHED_OFF)
    result = desk.cashier.sale(eur("15.00"))
    assert result.operation.state is State.ABORTED
    assert [a.terminal for a in result.attempts] == ["desk"]
    desk.rig.settle()
    assert desk.rig.standing_charges() == 0


@pytest.mark.parametrize(
    ("behaviour", "stage", "settled"),
    [
        (LOSE_AFTER_STATUS, "after_status", State.DECLINED),  # the terminal reversed it
        (LOSE_BEFORE_COMPLETION, "before_completion", State.APPROVED),  # it stands
    ],
)
def test_an_answer_lost_is_in_doubt_and_recovery_asks_the_terminal(
    desk: Desk, behaviour: str, stage: str, settled: State
) -> None:
    desk.rig.next(behaviour)
    op = desk.cashier.sale(eur("16.00")).operation
    assert op.state is State.IN_DOUBT and op.doubt_stage == stage
    desk.rig.settle()
    if not desk.rig.has(Capability.REPEAT_RECEIPT):
        report = recover(desk.cashier)
        assert [o.id for o, _ in report.needs_review] == [op.id]
        assert "cannot tell its last transaction" in (desk.journal.get(op.id).reason or "")
        return
    from tests.support.timing import wait_until

    if settled is State.DECLINED:  # the terminal's reversal may take a moment
        wait_until(lambda: desk.rig.standing_charges() == 0, 5, "the terminal's reversal")
    recover(desk.cashier)
    after = desk.journal.get(op.id)
    assert after.state is settled, after.reason
    assert desk.rig.standing_charges() == (1 if settled is State.APPROVED else 0)


def test_a_reversal_goes_by_the_reference_the_terminal_gave(desk: Desk) -> None:
    sale = desk.cashier.sale(eur("17.00")).operation
    reversal = desk.cashier.reverse(sale).operation
    assert reversal.state is State.APPROVED
    assert desk.rig.standing_charges() == 0


def test_what_a_protocol_cannot_do_is_refused_before_anything_is_journaled(
    desk: Desk,
) -> None:
    if desk.rig.has(Capability.PRE_AUTHORISATION):
        op = desk.cashier.pre_authorise(eur("100.00")).operation
        assert op.state is State.APPROVED
        return
    with pytest.raises(CapabilityMissing, match="has no pre authorisation"):
        desk.cashier.pre_authorise(eur("100.00"))
    assert desk.journal.search() == []
