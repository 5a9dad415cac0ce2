"""The real driver against the real emulated terminal, over a pty and over TCP.

Every fault of the emulator is driven through :class:`ZvtTerminal`; each test asserts
the outcome the driver returns AND what the emulator's ledger says really happened to
the money (the ground truth: an InDoubt must match a charge or an auto-reversal).
"""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from posdriver.cli import main
from posdriver.links import link_for_url
from posdriver.money import Money
from posdriver.terminal import (
    Aborted,
    Approved,
    CardInfo,
    Declined,
    InDoubt,
    TerminalBusy,
    TerminalNotReached,
)
from posdriver.terminal.zvt.terminal import ZvtTerminal, ZvtTimeouts
from posdriver_emulator.controller import Controller
from tests.support.timing import wait_until

# Short timers on both sides, so that faults which wait for a timeout stay fast.
EMULATOR: dict[str, Any] = {"relink_delay": 0.1, "slow_host_delay": 1.0, "slow_host_interval": 0.1}
DRIVER = ZvtTimeouts(t1=0.2, t2=0.3, t3=0.5, t4=0.6)
FULL_PAN = "4761730000000119"


def eur(text: str) -> Money:
    return Money.parse(text, "EUR")


@pytest.fixture(params=["pty", "tcp"])
def emu(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Controller]:
    with Controller.terminal(link=request.param, link_dir=tmp_path, seed=3, **EMULATOR) as c:
        yield c


@pytest.fixture
def zvt(emu: Controller) -> Iterator[ZvtTerminal]:
    terminal = ZvtTerminal(link_for_url(emu.url), timeouts=DRIVER)
    yield terminal
    terminal.close()


def ledger(emu: Controller) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = emu.device.ledger()  # type: ignore[attr-defined]
    return entries


def http_ledger(emu: Controller) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{emu.control_url}/ledger", timeout=5) as answer:
        body: list[dict[str, Any]] = json.loads(answer.read())
    return body


def post(emu: Controller, path: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(
        f"{emu.control_url}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.status == 200


def is_serial(emu: Controller) -> bool:
    return emu.url.startswith("serial://")


# -- the normal course -------------------------------------------------------------------
def test_sale_approved_and_charged(emu: Controller, zvt: ZvtTerminal) -> None:
    outcome = zvt.sale(eur("12.50"))  # the emulator starts unregistered: 84 6B, register
    assert isinstance(outcome, Approved)
    assert outcome.amount == eur("12.50") and outcome.card == CardInfo("Visa", "0119")
    assert outcome.terminal_id == "52500038" and outcome.approval_code
    assert outcome.receipt and outcome.merchant_receipt
    (entry,) = http_ledger(emu)
    assert entry["state"] == "charged" and entry["kind"] == "payment"
    assert (entry["trace"], entry["receipt_no"], entry["amount"]) == (
        outcome.trace,
        outcome.receipt_no,
        1250,
    )


def test_reversal_refund_and_end_of_day(emu: Controller, zvt: ZvtTerminal) -> None:
    sale = zvt.sale(eur("20.00"))
    assert isinstance(sale, Approved) and sale.receipt_no is not None
    reversal = zvt.reverse(sale.receipt_no)
    assert isinstance(reversal, Approved) and reversal.amount == eur("20.00")
    refund = zvt.refund(eur("3.00"))
    assert isinstance(refund, Approved)
    states = [(e["kind"], e["state"]) for e in ledger(emu)]
    assert states == [("payment", "reversed"), ("reversal", "reversed"), ("refund", "refunded")]
    day = zvt.end_of_day()
    assert day.ok and day.total is not None and day.receipt


def test_pre_authorisation_flow(emu: Controller, zvt: ZvtTerminal) -> None:
    reservation = zvt.pre_authorise(eur("200.00"))
    assert isinstance(reservation, Approved) and reservation.receipt_no is not None
    assert zvt.open_pre_auths() == (str(reservation.receipt_no),)
    booked = zvt.book_total(reservation.receipt_no, eur("150.00"))
    assert isinstance(booked, Approved)
    assert zvt.open_pre_auths() == ()
    kinds = {e["kind"]: e["state"] for e in ledger(emu)}
    assert kinds["pre_auth"] == "booked"


def test_partial_issue_books_the_part_the_till_took(emu: Controller, zvt: ZvtTerminal) -> None:
    outcome = zvt.sale(eur("15.00"), partial=eur("9.00"))
    assert isinstance(outcome, Approved) and outcome.amount == eur("9.00")
    assert any("9.00" in line for line in outcome.receipt)
    assert not any("15.00" in line for line in outcome.receipt)
    (entry,) = ledger(emu)
    assert (entry["state"], entry["amount"]) == ("charged", 900)
    last = zvt.last_transaction()
    assert last is not None and last.amount == eur("9.00") and last.stands


def test_a_partial_amount_is_checked_before_anything_is_sent(
    emu: Controller, zvt: ZvtTerminal
) -> None:
    with pytest.raises(ValueError, match=r"at most 15\.00 EUR, got 15\.01 EUR"):
        zvt.sale(eur("15.00"), partial=eur("15.01"))
    with pytest.raises(ValueError, match="Money in EUR"):
        zvt.sale(eur("15.00"), partial=Money(100, "USD"))
    assert ledger(emu) == [] and emu.device.counters["commands"] == 0  # type: ignore[attr-defined]


def test_status_and_diagnosis_of_a_healthy_terminal(zvt: ZvtTerminal) -> None:
    state = zvt.status()
    assert state.ready and state.severity == "ok" and state.software
    assert zvt.diagnosis().host_reachable


@pytest.mark.parametrize(
    ("card", "code"), [("declined", 0x05), ("insufficient", 0x71), ("expired", 0x78)]
)
def test_declined_cards(emu: Controller, zvt: ZvtTerminal, card: str, code: int) -> None:
    post(emu, "/card", {"card": card})
    outcome = zvt.sale(eur("12.50"))
    assert isinstance(outcome, Declined) and outcome.result_code == code
    assert [e["state"] for e in ledger(emu)] == ["declined"]


def test_refund_over_the_limit_names_it(emu: Controller, zvt: ZvtTerminal) -> None:
    outcome = zvt.refund(eur("600.00"))
    assert isinstance(outcome, Declined | Aborted)
    assert outcome.result_code == 0xC3
    assert outcome.detail and "500.00" in outcome.detail
    assert all(e["state"] != "refunded" for e in ledger(emu))


def test_full_pan_from_the_terminal_keeps_only_the_last_four(
    tmp_path: Any, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    with Controller.terminal(link="tcp", full_pan=True, **EMULATOR) as emu:
        with ZvtTerminal(link_for_url(emu.url), timeouts=DRIVER) as zvt:
            outcome = zvt.sale(eur("12.50"))
            last = zvt.last_transaction()
        assert main(["terminal", "last", emu.url, "--json", "--t3", "0.5"]) == 0
    assert isinstance(outcome, Approved) and outcome.card.last4 == "0119"
    assert last is not None and last.card.last4 == "0119"
    shown = repr(outcome) + repr(last) + caplog.text + capsys.readouterr().out
    assert "0119" in shown and FULL_PAN not in shown


# -- every fault -------------------------------------------------------------------------
def test_power_off_is_not_reached_and_charges_nothing(emu: Controller, zvt: ZvtTerminal) -> None:
    emu.set_fault("power_off")
    with pytest.raises(TerminalNotReached):
        zvt.sale(eur("12.50"))
    assert ledger(emu) == []
    emu.set_fault("power_off", False)  # power cycle: the registration is gone
    assert isinstance(zvt.sale(eur("12.50")), Approved)


def test_drop_before_accept(emu: Controller, zvt: ZvtTerminal) -> None:
    emu.set_fault("drop_before_accept")
    with pytest.raises(TerminalNotReached):
        zvt.sale(eur("12.50"))
    assert ledger(emu) == []
    emu.set_fault("drop_before_accept", False)
    wait_until(lambda: _sale_goes_through(zvt), timeout=5, what="the link to come back")


def _sale_goes_through(zvt: ZvtTerminal) -> bool:
    try:
        return isinstance(zvt.sale(eur("1.00")), Approved)
    except TerminalNotReached:
        return False


def test_drop_after_status_is_in_doubt_and_auto_reversed(emu: Controller, zvt: ZvtTerminal) -> None:
    zvt.register()
    emu.set_fault("drop_after_status")
    outcome = zvt.sale(eur("12.50"))
    assert isinstance(outcome, InDoubt), outcome
    # serial: our 80 00 00 was never ACKed; TCP: the terminal reset the connection with
    # our acknowledgement unread, so the driver knows it did not arrive
    assert outcome.stage == "after_status"
    (entry,) = ledger(emu)
    assert entry["state"] == "auto_reversed"
    assert (outcome.trace, outcome.receipt_no) == (entry["trace"], entry["receipt_no"])
    # How the journal resolves it: ask the terminal for its last transaction.
    emu.set_fault("drop_after_status", False)
    last = _retry(zvt.last_transaction)
    assert last is not None and not last.stands and last.result_code == 0xB4
    assert last.receipt_no == outcome.receipt_no


def test_drop_before_completion_is_in_doubt_and_charged(emu: Controller, zvt: ZvtTerminal) -> None:
    zvt.register()
    emu.set_fault("drop_before_completion")
    outcome = zvt.sale(eur("12.50"))
    assert isinstance(outcome, InDoubt), outcome
    assert outcome.stage == "before_completion"
    (entry,) = ledger(emu)
    assert entry["state"] == "charged"
    assert (outcome.trace, outcome.receipt_no) == (entry["trace"], entry["receipt_no"])
    emu.set_fault("drop_before_completion", False)
    last = _retry(zvt.last_transaction)
    assert last is not None and last.stands and last.trace == outcome.trace


def _retry(call: Any) -> Any:
    """Call once the link is back (a dropped pty returns after the relink delay)."""
    deadline = time.monotonic() + 5
    while True:
        try:
            return call()
        except TerminalNotReached:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.mark.parametrize("fault", ["withhold_ack", "nak_storm"])
def test_unacknowledged_commands_are_not_reached(
    emu: Controller, zvt: ZvtTerminal, fault: str
) -> None:
    emu.set_fault(fault)
    with pytest.raises(TerminalNotReached):
        zvt.sale(eur("12.50"))
    assert ledger(emu) == []
    if is_serial(emu):
        assert zvt.stats.transmission_failures == 1
        expected = "t2_expiries" if fault == "withhold_ack" else "naks_received"
        assert getattr(zvt.stats, expected) == DRIVER.repeats + 1


def test_bad_crc_recovers(emu: Controller, zvt: ZvtTerminal) -> None:
    emu.set_fault("bad_crc")
    outcome = zvt.sale(eur("12.50"))
    assert isinstance(outcome, Approved)
    assert [e["state"] for e in ledger(emu)] == ["charged"]
    if is_serial(emu):
        assert zvt.stats.naks_sent > 0 and zvt.stats.bad_frames == zvt.stats.naks_sent
    else:
        assert zvt.stats.naks_sent == 0


def test_slow_host_keeps_t4_alive(emu: Controller, zvt: ZvtTerminal) -> None:
    zvt.register()
    emu.set_fault("slow_host")
    texts: list[str] = []
    started = time.monotonic()
    outcome = zvt.sale(eur("12.50"), progress=texts.append)
    assert time.monotonic() - started >= 1.0 > DRIVER.t4
    assert isinstance(outcome, Approved)
    assert len(texts) >= 5
    assert [e["state"] for e in ledger(emu)] == ["charged"]


def test_host_unreachable(emu: Controller, zvt: ZvtTerminal) -> None:
    emu.set_fault("host_unreachable")
    outcome = zvt.sale(eur("12.50"))
    assert isinstance(outcome, Aborted) and outcome.result_code == 0xA3
    diagnosis = zvt.diagnosis()
    assert not diagnosis.host_reachable and diagnosis.result_code == 0xA3
    assert ledger(emu) == []


def test_busy(emu: Controller, zvt: ZvtTerminal) -> None:
    emu.set_fault("busy")
    with pytest.raises(TerminalBusy):
        zvt.sale(eur("12.50"))
    assert ledger(emu) == []


def test_card_left(emu: Controller, zvt: ZvtTerminal) -> None:
    emu.set_fault("card_left")
    state = zvt.status()
    assert state.code == 0xDC and state.severity == "warning" and not state.ready
    outcome = zvt.sale(eur("12.50"))
    assert isinstance(outcome, Aborted) and outcome.result_code == 0xDC
    assert ledger(emu) == []


def test_init_required_until_initialised(emu: Controller, zvt: ZvtTerminal) -> None:
    emu.set_fault("init_required")
    assert zvt.status().code == 0x51
    outcome = zvt.sale(eur("12.50"))
    assert isinstance(outcome, Aborted) and outcome.result_code == 0xDF
    zvt.initialise()
    assert zvt.status().ready
    assert isinstance(zvt.sale(eur("12.50")), Approved)
    assert [e["state"] for e in ledger(emu)] == ["charged"]


def test_disconnected_terminal_is_not_reached(emu: Controller, zvt: ZvtTerminal) -> None:
    emu.set_fault("disconnect")
    with pytest.raises(TerminalNotReached):
        zvt.sale(eur("12.50"))
    assert ledger(emu) == []


def test_garbage_on_the_line(emu: Controller, zvt: ZvtTerminal) -> None:
    """Noise before every message: counted on a serial line, where frames delimit it.
    Over TCP there is no framing to resynchronise on, so the answer is unreadable; the
    driver must then never report a charge it did not see confirmed."""
    zvt.register()
    emu.set_fault("garbage")
    try:
        outcome: Any = zvt.sale(eur("12.50"))
    except TerminalNotReached:
        outcome = None
    entries = ledger(emu)
    if is_serial(emu):
        assert isinstance(outcome, Approved)
        assert zvt.stats.noise_bytes > 0
        assert [e["state"] for e in entries] == ["charged"]
    elif isinstance(outcome, Approved):
        assert [e["state"] for e in entries] == ["charged"]
    else:
        assert outcome is None or isinstance(outcome, InDoubt | Aborted | Declined)
        assert all(e["state"] != "charged" for e in entries) or isinstance(outcome, InDoubt)


# -- the command line against the emulator -----------------------------------------------
def test_cli_against_the_emulator(emu: Controller, capsys: pytest.CaptureFixture[str]) -> None:
    fast = ["--t2", "0.3", "--t3", "0.5", "--t4", "1"]
    assert main(["terminal", "status", emu.url, *fast]) == 0
    assert main(["terminal", "sale", emu.url, "12.50", "--json", *fast]) == 0
    out = capsys.readouterr().out
    body = json.loads(out[out.index("{") :])
    assert body["outcome"] == "approved" and body["card"]["last4"] == "0119"
    emu.set_fault("host_unreachable")
    assert main(["terminal", "diagnosis", emu.url, *fast]) == 2
    assert [e["state"] for e in ledger(emu)] == ["charged"]
    emu.set_fault("host_unreachable", False)
    assert main(["terminal", "sale", emu.url, "12.50", "--partial", "4.00", *fast]) == 0
    assert "\nAPPROVED 4.00 EUR - " in capsys.readouterr().out
    assert [e["amount"] for e in ledger(emu)] == [1250, 400]
