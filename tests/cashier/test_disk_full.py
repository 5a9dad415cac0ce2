"""A full disk under the cashier: the sale that meets it is refused before any byte
reaches the terminal, and the next sale after room is made goes through.

A real tmpfs filled to the last byte holds the state directory (root only, as the
journal's own full-disk tests)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from posdriver.cashier.cashier import Cashier
from posdriver.config import load_config, with_overrides
from posdriver.journal import JournalError, JournalFull, State, open_journal
from posdriver.links import link_for_url
from posdriver.money import Money
from posdriver.terminal.zvt.terminal import ZvtTerminal, ZvtTimeouts
from posdriver_emulator.controller import Controller
from tests.support.mounts import IS_ROOT, fill_up

DRIVER = ZvtTimeouts(t1=0.2, t2=0.3, t3=0.5, t4=0.6)

pytestmark = pytest.mark.skipif(not IS_ROOT, reason="a small tmpfs to fill needs root")


def _factory(cfg: object) -> ZvtTerminal:
    return ZvtTerminal(link_for_url(cfg.url), currency="EUR", timeouts=DRIVER)  # type: ignore[attr-defined]


def test_a_full_disk_refuses_one_sale_and_the_next_goes_through_once_room_is_made(
    tmp_path: Path, tmpfs: Callable[[str], Path]
) -> None:
    state = tmpfs("2m") / "state"
    empty = tmp_path / "posdriver.toml"
    empty.write_text("")
    with Controller.terminal(link="tcp", seed=1, relink_delay=0.1) as terminal:
        config = with_overrides(load_config(empty), state_dir=state, terminals=[terminal.url])
        config = dataclasses.replace(config, printers=())
        journal = open_journal(state)
        cashier = Cashier(journal, config, terminal_factory=_factory, actor="tester")
        try:
            first = cashier.sale(Money.parse("10.00", "EUR")).operation
            assert first.state is State.APPROVED
            filler = fill_up(state.parent)

            with pytest.raises(JournalError) as refused:
                cashier.sale(Money.parse("11.00", "EUR"))
            assert isinstance(refused.value, JournalFull), refused.value
            assert str(state) in str(refused.value)
            charged = [e for e in terminal.device.ledger() if e["state"] == "charged"]  # type: ignore[attr-defined]
            assert len(charged) == 1, "nothing may reach the terminal when PENDING was not written"

            filler.unlink()
            # the refused operation's id is given to the next one: it must be claimable
            again = cashier.sale(Money.parse("12.00", "EUR")).operation
            assert again.state is State.APPROVED
            assert journal.get(again.id).amount == Money.parse("12.00", "EUR")
            assert not list((state / "locks").glob("op-*.lock")), "a claim outlived its sale"
        finally:
            journal.close()
