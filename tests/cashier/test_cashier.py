"""Journaled money operations against the emulated terminals and printer.

Each test checks three records against each other: what the cashier returned, what the
journal holds (states, events, receipts, print jobs, incidents), and what the terminal
emulator's ledger says really happened to the money.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from posdriver.cashier.cashier import Cashier, RefundRefused
from posdriver.cashier.recovery import judge, recover
from posdriver.cashier.spooler import Spooler
from posdriver.config import Config, PrintPolicy, load_config, with_overrides
from posdriver.journal import Journal, Kind, State, open_journal
from posdriver.links import link_for_url
from posdriver.money import Money
from posdriver.terminal.outcomes import LastTransaction
from posdriver.terminal.zvt.terminal import ZvtTerminal, ZvtTimeouts
from posdriver_emulator.controller import Controller
from posdriver_emulator.terminal.cards import Limits

DRIVER = ZvtTimeouts(t1=0.2, t2=0.3, t3=0.5, t4=0.6)
EMULATOR: dict[str, Any] = {"relink_delay": 0.1, "status_ack_timeout": 0.5}


def eur(text: str) -> Money:
    return Money.parse(text, "EUR")


def factory(cfg: Any) -> ZvtTerminal:
    return ZvtTerminal(link_for_url(cfg.url), currency=cfg.currency, timeouts=DRIVER)


@dataclasses.dataclass
class Desk:
    """Two terminals (the second a standby), a printer, a journal and a cashier."""

    t1: Controller
    t2: Controller
    printer: Controller
    journal: Journal
    config: Config
    cashier: Cashier

    def ledger(self, which: Controller | None = None) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = (which or self.t1).device.ledger()  # type: ignore[attr-defined]
        return entries


def make_config(tmp_path: Path, terminals: list[str], printers: list[str], **refund: Any) -> Config:
    empty = tmp_path / "posdriver.toml"
    empty.write_text("")
    config = with_overrides(
        load_config(empty),
        state_dir=tmp_path / "state",
        terminals=terminals,
        printers=printers,
    )
    config = dataclasses.replace(
        config,
        print=PrintPolicy(
            attempts=3, wait_initial=0.05, wait_max=0.2, jitter=0.05, ready_timeout=2
        ),
    )
    if refund:
        config = dataclasses.replace(config, refund=dataclasses.replace(config.refund, **refund))
    return config


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    with (
        Controller.terminal(link="tcp", seed=1, **EMULATOR) as t1,
        Controller.terminal(link="tcp", seed=2, terminal_id="52500039", **EMULATOR) as t2,
        Controller.printer(link="pty", link_dir=tmp_path, seed=3) as printer,
    ):
        config = make_config(tmp_path, [t1.url, t2.url], [printer.url])
        journal = open_journal(config.state_dir)
        spooler = Spooler(journal, config.printers, policy=config.print, receipt=config.receipt)
        cashier = Cashier(
            journal,
            config,
            terminal_factory=factory,
            spooler=spooler,
            actor="tester",
            print_wait=2,
        )
        try:
            yield Desk(t1, t2, printer, journal, config, cashier)
        finally:
            journal.close()


def steps(journal: Journal, op_id: int) -> list[str]:
    return [
        f"{e.from_state or ''}->{e.to_state}" if e.to_state else e.event
        for e in journal.events(op_id)
    ]


def test_an_approved_sale_is_journaled_before_and_after_and_its_receipt_printed(
    desk: Desk,
) -> None:
    result = desk.cashier.sale(eur("12.50"))
    op = result.operation
    assert op.state is State.APPROVED
    assert op.amount == eur("12.50")
    assert op.terminal == "terminal1"
    assert op.card_brand == "Visa" and op.card_last4 == "0119"
    entry = desk.ledger()[-1]
    assert (entry["state"], entry["receipt_no"], entry["amount"]) == (
        "charged",
        op.receipt_no,
        1250,
    )
    # intent first, then the terminal chosen, accepted, outcome, receipts, and only
    # then the printing
    history = steps(desk.journal, op.id)
    assert history[:4] == ["->pending", "attempt", "pending->sent", "sent->approved"]
    assert history.index("receipt") < history.index("printed")
    stored = desk.journal.receipt(op.id, "customer")
    assert stored is not None and stored.source == "terminal"
    assert f"ref. id:{op.id}" in "\n".join(stored.lines)
    assert result.printing is not None and [o.printed for o in result.printing.outcomes] == [True]
    printed = desk.printer.device.receipts  # type: ignore[attr-defined]
    assert any(f"ref. id:{op.id}" in r.text for r in printed)


def test_a_declined_card_is_journaled_declined_with_the_reason(desk: Desk) -> None:
    desk.t1.device.select_card("declined")  # type: ignore[attr-defined]
    op = desk.cashier.sale(eur("30.00")).operation
    assert op.state is State.DECLINED
    assert op.result_code and op.reason
    assert desk.journal.receipts(op.id) == []
    assert desk.ledger()[-1]["state"] == "declined"


def test_a_terminal_not_reached_fails_over_to_the_standby_with_an_incident(desk: Desk) -> None:
    desk.t1.set_fault("power_off")
    result = desk.cashier.sale(eur("40.00"))
    op = result.operation
    assert op.state is State.APPROVED and op.terminal == "terminal2"
    assert [a.terminal for a in result.attempts] == ["terminal1"]
    assert desk.ledger(desk.t1) == []
    assert [e["state"] for e in desk.ledger(desk.t2)] == ["charged"]
    incidents = desk.journal.incidents()
    assert [i.category for i in incidents] == ["failover"]
    assert incidents[0].device == "terminal1"
    assert "terminal2" in incidents[0].action and "no money moved" in incidents[0].result
    assert steps(desk.journal, op.id).count("attempt") == 2


def test_no_terminal_reached_aborts_with_nothing_charged(desk: Desk) -> None:
    desk.t1.set_fault("power_off")
    desk.t2.set_fault("power_off")
    result = desk.cashier.sale(eur("41.00"))
    assert result.operation.state is State.ABORTED and result.outcome is None
    assert "no terminal could be reached" in (result.operation.reason or "")
    assert [i.category for i in desk.journal.incidents()] == ["failover", "device_fault"]
    assert desk.ledger(desk.t1) == [] and desk.ledger(desk.t2) == []


def test_no_failover_once_the_terminal_accepted(desk: Desk) -> None:
    desk.t1.set_fault("drop_before_completion")
    result = desk.cashier.sale(eur("42.00"))
    assert result.operation.state is State.IN_DOUBT
    assert result.operation.terminal == "terminal1"
    assert desk.ledger(desk.t2) == []
    assert [i.category for i in desk.journal.incidents()] == ["in_doubt"]


def test_in_doubt_after_the_charge_is_resolved_approved_by_recovery(desk: Desk) -> None:
    desk.t1.set_fault("drop_before_completion")
    op = desk.cashier.sale(eur("43.00")).operation
    assert op.state is State.IN_DOUBT and op.doubt_stage == "before_completion"
    desk.t1.set_fault("drop_before_completion", False)
    report = recover(desk.cashier)
    assert [o.state for o, _ in report.resolved] == [State.APPROVED]
    after = desk.journal.get(op.id)
    assert after.state is State.APPROVED and after.card_last4 == "0119"
    assert desk.ledger()[-1]["receipt_no"] == after.receipt_no
    stored = desk.journal.receipt(op.id)
    assert stored is not None and stored.source == "repeat_receipt"
    assert report.printing is not None and report.printing.printed
    assert [i.category for i in desk.journal.incidents()] == ["in_doubt", "resolution"]


def test_in_doubt_before_our_acknowledgement_is_resolved_declined(desk: Desk) -> None:
    desk.t1.set_fault("drop_after_status")
    op = desk.cashier.sale(eur("44.00")).operation
    assert op.state is State.IN_DOUBT
    desk.t1.set_fault("drop_after_status", False)
    # the terminal reverses what we never acknowledged (its commit rule)
    from tests.support.timing import wait_until

    wait_until(lambda: desk.ledger()[-1]["state"] == "auto_reversed", 5, "the auto-reversal")
    recover(desk.cashier)
    after = desk.journal.get(op.id)
    assert after.state is State.DECLINED
    assert "did not go through" in (after.reason or "")
    assert desk.journal.receipts(op.id) == []


def _reversal_cut_off(desk: Desk, sale_amount: str, *, acknowledged: bool) -> tuple[int, int]:
    """A reversal journaled and accepted by the terminal, its process killed before the
    terminal's answer reached the journal (as the daemon crash harness kills it): the
    terminal ran it (and kept it, or took it back for want of our acknowledgement),
    the journal has it SENT, with no amount and no terminal numbers."""
    sale = desk.cashier.sale(eur(sale_amount)).operation
    assert sale.reference is not None
    op = desk.journal.begin(
        Kind.REVERSAL,
        None,
        currency="EUR",
        parent_id=sale.id,
        ref_receipt_no=sale.receipt_no,
        ref_reference=sale.reference,
    )
    desk.journal.attempt(op.id, "terminal1")
    desk.journal.transition(op.id, State.SENT)
    if not acknowledged:
        desk.t1.set_fault("drop_after_status")
    terminal = factory(desk.config.terminals[0])
    try:
        terminal.reverse(sale.reference)
    except Exception:
        pass  # the link dropped under it, as it would have under the killed process
    finally:
        terminal.close()
        desk.t1.set_fault("drop_after_status", False)
    return sale.id, op.id


def test_a_reversal_in_doubt_is_resolved_by_recovery_from_its_sale_s_amount(desk: Desk) -> None:
    """A reversal has no amount in the journal until the terminal answers; when the
    answer is lost, the terminal's last transaction is matched by the amount the
    reversal takes back, its sale's, and settled without a person."""
    _, op_id = _reversal_cut_off(desk, "31.50", acknowledged=True)
    assert desk.ledger()[-1]["kind"] == "reversal" and desk.ledger()[0]["state"] == "reversed"
    report = recover(desk.cashier)
    assert [o.state for o, _ in report.resolved] == [State.APPROVED], report
    after = desk.journal.get(op_id)
    assert after.state is State.APPROVED and after.amount == eur("31.50")
    assert after.receipt_no == desk.ledger()[-1]["receipt_no"]


def test_a_reversal_the_terminal_took_back_is_resolved_declined(desk: Desk) -> None:
    from tests.support.timing import wait_until

    _, op_id = _reversal_cut_off(desk, "32.50", acknowledged=False)
    wait_until(lambda: desk.ledger()[-1]["state"] == "auto_reversed", 5, "the auto-reversal")
    recover(desk.cashier)
    assert desk.journal.get(op_id).state is State.DECLINED
    assert desk.ledger()[0]["state"] == "charged"  # the sale stands again


def test_a_sale_is_paid_back_once_refund_or_reversal_never_both(desk: Desk) -> None:
    sale = desk.cashier.sale(eur("40.00")).operation
    desk.cashier.refund(sale, eur("5.00"))
    with pytest.raises(ValueError, match="a reversal would pay the whole sale back"):
        desk.cashier.reverse(sale)
    other = desk.cashier.sale(eur("41.00")).operation
    # a reversal whose answer was lost may have gone through: no refund over it
    _reversal = desk.journal.begin(Kind.REVERSAL, None, currency="EUR", parent_id=other.id)
    desk.journal.attempt(_reversal.id, "terminal1")
    desk.journal.transition(_reversal.id, State.SENT)
    assert not desk.cashier.refund_decision(other, eur("1.00")).allowed
    assert [e["kind"] for e in desk.ledger()] == ["payment", "refund", "payment"]


def test_recovery_turns_a_crash_left_pending_without_terminal_into_aborted(desk: Desk) -> None:
    op = desk.journal.begin(Kind.SALE, eur("5.00"))
    report = recover(desk.cashier)
    assert [o.id for o in report.aborted] == [op.id]
    assert desk.journal.get(op.id).state is State.ABORTED


def test_recovery_of_an_operation_that_never_reached_an_empty_terminal(desk: Desk) -> None:
    op = desk.journal.begin(Kind.SALE, eur("6.00"))
    desk.journal.attempt(op.id, "terminal1")
    recover(desk.cashier)
    after = desk.journal.get(op.id)
    assert after.state is State.DECLINED
    assert "no transaction on record" in (after.reason or "")


def test_recovery_uses_the_journal_to_see_the_last_transaction_is_older(desk: Desk) -> None:
    first = desk.cashier.sale(eur("7.00")).operation
    op = desk.journal.begin(Kind.SALE, eur("7.00"))  # same amount, never sent
    desk.journal.attempt(op.id, "terminal1")
    recover(desk.cashier)
    after = desk.journal.get(op.id)
    assert after.state is State.DECLINED
    assert f"journal transaction {first.id}" in (after.reason or "")
    assert len([e for e in desk.ledger() if e["state"] == "charged"]) == 1


def test_recovery_asks_a_person_when_the_terminal_did_something_else(desk: Desk) -> None:
    op = desk.journal.begin(Kind.SALE, eur("8.00"))
    desk.journal.attempt(op.id, "terminal1")
    with factory(desk.config.terminal("terminal1")) as direct:  # a sale keyed on the terminal
        direct.sale(eur("99.00"))
    report = recover(desk.cashier)
    assert [o.id for o, _ in report.needs_review] == [op.id]
    after = desk.journal.get(op.id)
    assert after.state is State.NEEDS_REVIEW and "does not match" in (after.reason or "")
    assert desk.journal.needing_attention()[0].id == op.id


def test_an_unreachable_terminal_leaves_operations_in_doubt(desk: Desk) -> None:
    desk.t1.set_fault("drop_before_completion")
    op = desk.cashier.sale(eur("9.00")).operation
    desk.t1.set_fault("drop_before_completion", False)
    desk.t1.set_fault("power_off")
    report = recover(desk.cashier, attempts=1)
    assert [o.id for o, _ in report.still_in_doubt] == [op.id]
    assert desk.journal.get(op.id).state is State.IN_DOUBT


# -- refunds ------------------------------------------------------------------------------
def test_a_refund_is_linked_to_its_sale_and_counted_against_it(desk: Desk) -> None:
    sale = desk.cashier.sale(eur("100.00")).operation
    refund = desk.cashier.refund(sale, eur("60.00")).operation
    assert refund.state is State.APPROVED and refund.parent_id == sale.id
    assert desk.ledger()[-1]["kind"] == "refund"
    with pytest.raises(RefundRefused) as refused:
        desk.cashier.refund(sale, eur("40.01"))
    assert [s.name for s in refused.value.decision.stops] == ["sale_remainder"]
    assert len(desk.ledger()) == 2  # the refused refund never reached the terminal


def test_a_refund_of_a_declined_sale_is_refused(desk: Desk) -> None:
    desk.t1.device.select_card("declined")  # type: ignore[attr-defined]
    sale = desk.cashier.sale(eur("10.00")).operation
    with pytest.raises(RefundRefused) as refused:
        desk.cashier.refund(sale, eur("10.00"))
    assert refused.value.decision.stops[0].name == "not_refundable"


def test_a_split_refund_is_carried_out_part_by_part(tmp_path: Path, desk: Desk) -> None:
    limited = dataclasses.replace(
        desk.config,
        terminals=tuple(
            dataclasses.replace(t, refund_limit=eur("200.00")) for t in desk.config.terminals
        ),
    )
    desk.cashier.config = limited
    sale = desk.cashier.sale(eur("500.00")).operation
    decision = desk.cashier.refund_decision(sale, None)
    assert not decision.allowed and len(decision.plan) == 3
    plan_id, _parts = desk.cashier.refund_plan(sale, decision)
    result = desk.cashier.carry_out_plan(sale, plan_id)
    assert result.complete and len(result.parts) == 3
    refunds = [e for e in desk.ledger() if e["kind"] == "refund"]
    assert sum(e["amount"] for e in refunds) == 50000
    ops = desk.journal.children(sale.id)
    assert sorted(o.plan_part or 0 for o in ops) == [1, 2, 3]
    assert all(o.plan_id == plan_id and o.state is State.APPROVED for o in ops)
    assert desk.journal.plan(plan_id).state == "done"


def test_a_split_refund_that_fails_half_way_leaves_the_rest_pending(desk: Desk) -> None:
    # the terminal's own daily cap stops the second part (150 + 150 > 200)
    desk.t1.device.config.limits = Limits(max_refund=15_000, daily_refund_cap=20_000)  # type: ignore[attr-defined]
    desk.cashier.config = dataclasses.replace(
        desk.config,
        terminals=tuple(
            dataclasses.replace(t, refund_limit=eur("150.00"), standby=None)
            for t in desk.config.terminals[:1]
        ),
    )
    sale = desk.cashier.sale(eur("300.00")).operation
    decision = desk.cashier.refund_decision(sale, None)
    plan_id, _ = desk.cashier.refund_plan(sale, decision)
    result = desk.cashier.carry_out_plan(sale, plan_id)
    assert next(p.state for p in result.parts) is State.APPROVED
    assert result.parts[1].state in (State.DECLINED, State.ABORTED)  # refused, not charged
    assert len(result.parts) == 2  # it stopped there
    assert result.left == (eur("150.00"),)
    assert not result.complete
    assert desk.journal.plan(plan_id).state == "open"
    assert desk.cashier.parts_left(plan_id) == (eur("150.00"),)


# -- the judge, on its own ----------------------------------------------------------------
def test_judge_never_matches_a_different_amount(desk: Desk) -> None:
    op = desk.journal.begin(Kind.SALE, eur("10.00"))
    last = LastTransaction(
        stands=True,
        result_code=0,
        meaning="ok",
        amount=eur("10.01"),
        at=op.created_at + timedelta(seconds=1),
    )
    assert judge(op, last).state is State.NEEDS_REVIEW
    same = dataclasses.replace(last, amount=eur("10.00"))
    assert judge(op, same).state is State.APPROVED
    older = dataclasses.replace(same, at=op.created_at - timedelta(minutes=5))
    assert judge(op, older).state is State.DECLINED


def test_judge_does_not_hold_a_start_time_from_before_the_clock_was_set_back(desk: Desk) -> None:
    """The sale began while this machine's clock was two hours fast; the clock was set
    right before recovery ran. The terminal (its clock right) booked the sale "two hours
    before it began": that proves nothing, and a charge must not be called not charged."""
    op = desk.journal.begin(Kind.SALE, eur("10.00"))
    now = op.created_at - timedelta(hours=2)  # recovery's clock, set back since
    charged = LastTransaction(
        stands=True, result_code=0, meaning="ok", amount=eur("10.00"), at=now - timedelta(minutes=1)
    )
    assert judge(op, charged).state is State.DECLINED  # what a clock without history says
    assert judge(op, charged, now=now).state is State.APPROVED
    other = dataclasses.replace(charged, amount=eur("10.01"))
    verdict = judge(op, other, now=now)
    assert verdict.state is State.NEEDS_REVIEW and "clock was set back" in verdict.detail
    assert judge(op, charged, now=op.created_at).state is State.DECLINED  # a clock never moved


def test_judge_orders_journal_operations_by_id_not_by_a_clock_that_moved(desk: Desk) -> None:
    """The terminal's last transaction is an earlier journal operation; the one in doubt
    began after it, though the clock was set back between them: it never ran."""
    first = desk.journal.begin(Kind.SALE, eur("10.00"))
    later = desk.journal.begin(Kind.SALE, eur("12.00"))
    earlier_by_clock = dataclasses.replace(first, created_at=later.created_at + timedelta(hours=1))
    last = LastTransaction(
        stands=True, result_code=0, meaning="ok", amount=eur("10.00"), at=later.created_at
    )
    verdict = judge(later, last, known_elsewhere=[earlier_by_clock])
    assert verdict.state is State.DECLINED and f"transaction {first.id}" in verdict.detail


def test_a_terminal_printing_whole_card_numbers_has_them_masked_in_the_journal(
    desk: Desk,
) -> None:
    sale = desk.journal.begin(Kind.SALE, eur("1.00"))
    desk.journal.attempt(sale.id, "terminal1")
    desk.journal.transition(sale.id, State.SENT)
    op = desk.journal.transition(sale.id, State.APPROVED, card_last4="1111")
    desk.cashier.store_receipts(
        op,
        ["Visa 4111 1111 1111 1111", "Amount 1.00 EUR"],
        ["PAN 4111111111111111"],
        source="terminal",
    )
    text = "\n".join(line for r in desk.journal.receipts(op.id) for line in r.lines)
    assert "411111******1111" in text
    assert "4111111111111111" not in text and "4111 1111 1111 1111" not in text


def test_a_deposit_is_reserved_then_booked_on_the_same_terminal(desk: Desk) -> None:
    deposit = desk.cashier.pre_authorise(eur("300.00")).operation
    assert deposit.state is State.APPROVED and deposit.kind is Kind.PRE_AUTH
    booking = desk.cashier.book(deposit, eur("120.00")).operation
    assert booking.state is State.APPROVED
    assert (booking.parent_id, booking.ref_receipt_no) == (deposit.id, deposit.receipt_no)
    assert [e["kind"] for e in desk.ledger()] == ["pre_auth", "booking"]
    assert desk.ledger()[-1]["amount"] == 12000
    with pytest.raises(ValueError, match="only an approved pre-authorisation"):
        desk.cashier.book(booking, eur("1.00"))


def test_recovery_leaves_an_operation_another_process_is_running(desk: Desk) -> None:
    from posdriver.locks import OperationClaim

    other = OperationClaim(desk.config.state_dir)  # stands in for a live second process
    op = desk.journal.begin(Kind.SALE, eur("10.00"), on_created=other.take)
    desk.journal.attempt(op.id, "terminal1")
    try:
        report = recover(desk.cashier)
        assert [o.id for o, _ in report.running] == [op.id]
        assert desk.journal.get(op.id).state is State.PENDING
    finally:
        other.release(op.id)
    recover(desk.cashier)  # its owner is gone now: it is recovered
    assert desk.journal.get(op.id).state is State.DECLINED


def test_an_unreachable_acquirer_sends_the_payment_to_the_standby(desk: Desk) -> None:
    desk.t1.set_fault("host_unreachable")
    result = desk.cashier.sale(eur("55.00"))
    op = result.operation
    assert op.state is State.APPROVED and op.terminal == "terminal2"
    first = desk.journal.search()[-1]
    assert first.id != op.id and first.state is State.ABORTED and first.terminal == "terminal1"
    assert [e["state"] for e in desk.ledger(desk.t2)] == ["charged"]
    assert not any(e["state"] == "charged" for e in desk.ledger(desk.t1))
    incident = desk.journal.incidents()[-1]
    assert incident.category == "failover" and f"as id:{op.id}" in incident.action
    assert "acquirer unreachable" in result.attempts[-1].error


def test_a_plan_is_checked_again_before_it_goes_on(desk: Desk) -> None:
    desk.cashier.config = dataclasses.replace(
        desk.config,
        terminals=tuple(
            dataclasses.replace(t, refund_limit=eur("100.00")) for t in desk.config.terminals
        ),
    )
    sale = desk.cashier.sale(eur("300.00")).operation
    plan_id, _ = desk.cashier.refund_plan(sale, desk.cashier.refund_decision(sale, None))
    # someone refunds 100.00 another way before the plan runs
    desk.cashier.refund(sale, eur("100.00"))
    with pytest.raises(RefundRefused) as refused:
        desk.cashier.carry_out_plan(sale, plan_id)
    assert "sale_remainder" in [s.name for s in refused.value.decision.stops]
    assert len([e for e in desk.ledger() if e["kind"] == "refund"]) == 1
    desk.cashier.cancel_plan(plan_id, "refunded at the desk another way")
    assert desk.journal.plan(plan_id).state == "cancelled"
    assert desk.journal.incidents()[-1].result.startswith("not refunded: ")


def test_a_reversed_transaction_the_journal_holds_is_not_the_one_in_doubt(desk: Desk) -> None:
    """A sale the terminal reversed (our acknowledgement was cut off) is journaled
    DECLINED with its numbers; a later operation that never became a transaction must
    not be matched with it."""
    from tests.support.timing import wait_until

    desk.t1.set_fault("drop_after_status")
    first = desk.cashier.sale(eur("12.00")).operation
    desk.t1.set_fault("drop_after_status", False)
    wait_until(lambda: desk.ledger()[-1]["state"] == "auto_reversed", 5, "the auto-reversal")
    recover(desk.cashier)
    assert desk.journal.get(first.id).state is State.DECLINED
    op = desk.journal.begin(Kind.REFUND, eur("12.00"))
    desk.journal.attempt(op.id, "terminal1")
    desk.journal.transition(op.id, State.SENT)  # accepted, then the process died
    recover(desk.cashier)
    after = desk.journal.get(op.id)
    assert after.state is State.DECLINED and f"transaction {first.id}" in (after.reason or "")


def test_judge_with_no_last_transaction_trusts_only_a_command_never_accepted(desk: Desk) -> None:
    op = desk.journal.begin(Kind.SALE, eur("10.00"))
    never_accepted = dataclasses.replace(op, doubt_stage="before_accept")
    accepted = dataclasses.replace(op, doubt_stage="after_accept")
    assert judge(never_accepted, None).state is State.DECLINED
    assert judge(accepted, None).state is State.NEEDS_REVIEW


def _interrupted(desk: Desk, amount: str, *, accepted: bool) -> int:
    """An operation a crash left on terminal1: journaled, its terminal chosen, and (if
    ``accepted``) taken by the terminal; its answer never journaled."""
    op = desk.journal.begin(Kind.SALE, eur(amount))
    desk.journal.attempt(op.id, "terminal1")
    if accepted:
        desk.journal.transition(op.id, State.SENT)
    return op.id


def test_recovery_settles_the_one_in_doubt_the_terminal_ran_and_clears_those_after_it(
    desk: Desk,
) -> None:
    """The terminal ran the older of two operations in doubt: that one is approved from
    the terminal's record, and the one that went to the terminal after it never ran
    there (the terminal's last transaction would be it): nothing charged, no person."""
    ran = _interrupted(desk, "30.00", accepted=True)
    with factory(desk.config.terminal("terminal1")) as direct:  # what the crash cut off
        direct.sale(eur("30.00"))
    after = _interrupted(desk, "31.00", accepted=False)
    report = recover(desk.cashier)
    assert report.needs_review == []
    settled = desk.journal.get(ran)
    assert settled.state is State.APPROVED
    assert settled.receipt_no == desk.ledger()[-1]["receipt_no"]
    never = desk.journal.get(after)
    assert never.state is State.DECLINED
    assert f"journal transaction {ran}" in (never.reason or "")
    assert "never ran there" in (never.reason or "")
    assert len([e for e in desk.ledger() if e["state"] == "charged"]) == 1


def test_recovery_asks_a_person_when_two_in_doubt_could_be_the_last_transaction(
    desk: Desk,
) -> None:
    """Same amount, both within the clock's reach: either could be the one the terminal
    ran. Never guess."""
    first = _interrupted(desk, "40.00", accepted=True)
    second = _interrupted(desk, "40.00", accepted=True)
    with factory(desk.config.terminal("terminal1")) as direct:
        direct.sale(eur("40.00"))
    report = recover(desk.cashier)
    assert sorted(op.id for op, _ in report.needs_review) == [first, second]
    for op_id in (first, second):
        reason = desk.journal.get(op_id).reason or ""
        assert f"journal transactions {first}, {second}" in reason


def test_recovery_goes_by_the_order_the_terminal_saw_not_by_journal_id(desk: Desk) -> None:
    """Two processes each journal an operation, and the later id gets the terminal
    first: the journal's attempt order (written while the terminal is held) is what
    says which went to the terminal after the one it ran."""
    later_id = desk.journal.begin(Kind.SALE, eur("50.00")).id
    earlier_id = desk.journal.begin(Kind.SALE, eur("51.00")).id
    desk.journal.attempt(earlier_id, "terminal1")  # the higher id reached the terminal first
    desk.journal.transition(earlier_id, State.SENT)
    with factory(desk.config.terminal("terminal1")) as direct:
        direct.sale(eur("51.00"))
    desk.journal.attempt(later_id, "terminal1")  # then the lower id; never answered
    report = recover(desk.cashier)
    assert report.needs_review == []
    assert desk.journal.get(earlier_id).state is State.APPROVED
    assert desk.journal.get(later_id).state is State.DECLINED


def test_an_unexpected_error_after_the_command_went_out_is_in_doubt_not_pending(
    desk: Desk,
) -> None:
    """A fault of ours once the command may have gone out (here: a wait too long for the
    platform's clock, which the config no longer lets through) must not leave the
    operation PENDING as if nothing happened, nor call it aborted: the terminal may have
    taken it. In doubt, and recovery asks the terminal."""
    absurd = ZvtTimeouts(t1=0.2, t2=0.3, t3=1e12, t4=1e12)

    def broken(cfg: Any) -> ZvtTerminal:
        return ZvtTerminal(link_for_url(cfg.url), currency=cfg.currency, timeouts=absurd)

    faulty = Cashier(desk.journal, desk.config, terminal_factory=broken, actor="tester")
    result = faulty.sale(eur("14.00"), failover=False)
    op = result.operation
    assert op.state is State.IN_DOUBT, op
    assert op.doubt_stage == "before_accept" and "OverflowError" in (op.reason or "")
    assert [i.category for i in desk.journal.incidents()] == ["in_doubt"]
    recover(desk.cashier)
    # the terminal has no transaction from it: it never got past the card
    assert desk.ledger() == []
    assert desk.journal.get(op.id).state is State.DECLINED
