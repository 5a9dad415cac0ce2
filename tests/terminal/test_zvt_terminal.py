"""ZvtTerminal: commands, outcomes and card-data hygiene, against a scripted terminal."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import date, datetime

import pytest

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
    TerminalRefused,
)
from posdriver.terminal.outcomes import TerminalLost, to_dict
from posdriver.terminal.zvt.apdu import Apdu
from posdriver.terminal.zvt.bmp import decode_bmps, encode_bmps
from posdriver.terminal.zvt.messages import (
    build_status_completion,
    parse_command,
)
from posdriver.terminal.zvt.terminal import ZvtTerminal, ZvtTimeouts
from posdriver.terminal.zvt.tlv import find
from tests.support.zvt_peer import (
    VISA_FULL,
    Peer,
    TcpPeer,
    abort_msg,
    accept,
    answered,
    completion,
    intermediate,
    make_peer,
    receipt_block,
    scripted,
    status_info,
    vendor_error,
)

TIMEOUTS = ZvtTimeouts(t1=0.1, t2=0.15, t3=0.4, t4=0.6)
EUR = "EUR"


def eur(text: str) -> Money:
    return Money.parse(text, EUR)


@pytest.fixture(params=["serial", "tcp"])
def peer(request: pytest.FixtureRequest) -> Iterator[Peer]:
    p = make_peer(request.param)
    yield p
    p.close()


@pytest.fixture
def tcp_peer() -> Iterator[TcpPeer]:
    p = TcpPeer()
    yield p
    p.close()


def terminal_for(peer: Peer, **kwargs: object) -> ZvtTerminal:
    options: dict[str, object] = {"timeouts": TIMEOUTS, "today": lambda: date(2025, 6, 1)}
    return ZvtTerminal(link_for_url(peer.url), **(options | kwargs))  # type: ignore[arg-type]


@pytest.fixture
def zvt(peer: Peer) -> Iterator[ZvtTerminal]:
    with terminal_for(peer) as terminal:
        yield terminal


@pytest.fixture
def tcp_zvt(tcp_peer: TcpPeer) -> Iterator[ZvtTerminal]:
    with terminal_for(tcp_peer) as terminal:
        yield terminal


def approve(p: Peer, **status: object) -> None:
    answered(p, status_info(**status))  # type: ignore[arg-type]
    answered(p, receipt_block(["MERCHANT", "Visa ****0119"], 1))
    answered(p, receipt_block(["GUEST", "Visa ****0119"], 2))
    answered(p, completion())


# -- sale --------------------------------------------------------------------------------
def test_sale_approved_with_every_field(zvt: ZvtTerminal, peer: Peer) -> None:
    texts: list[str] = []

    def terminal(p: Peer) -> None:
        command = parse_command(accept(p))
        assert command.name == "authorisation"
        assert command.fields == {0x04: 1250, 0x49: 978}
        answered(p, intermediate(0x0A))
        approve(p, trace=17, receipt_no=42)

    with scripted(peer, terminal):
        outcome = zvt.sale(eur("12.50"), progress=texts.append)
    assert outcome == Approved(
        amount=eur("12.50"),
        trace=17,
        receipt_no=42,
        approval_code="AB1234",
        card=CardInfo("Visa", "0119"),
        terminal_id="52500038",
        at=datetime(2025, 3, 15, 14, 30, 15),
        receipt=("GUEST", "Visa ****0119"),
        merchant_receipt=("MERCHANT", "Visa ****0119"),
    )
    assert texts == ["insert card"]


def test_a_full_pan_never_leaves_the_decoder(
    zvt: ZvtTerminal, peer: Peer, caplog: pytest.LogCaptureFixture
) -> None:
    """A terminal that sends the whole card number (BMP 22 and a receipt line)."""
    caplog.set_level(logging.DEBUG)

    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, status_info(pan=VISA_FULL))
        answered(p, receipt_block([f"CARD {VISA_FULL}", "4761 7300 0000 0119"], 2))
        answered(p, completion())

    with scripted(peer, terminal):
        outcome = zvt.sale(eur("12.50"))
    assert isinstance(outcome, Approved)
    assert outcome.card == CardInfo("Visa", "0119")
    shown = " ".join([repr(outcome), str(outcome), str(to_dict(outcome)), caplog.text])
    assert "0119" in shown
    for leaked in (VISA_FULL, "476173", "4761 7300", "73000000"):
        assert leaked not in shown
    assert outcome.receipt == ("CARD ************0119", "************0119")


def test_declined_by_the_issuer(zvt: ZvtTerminal, peer: Peer) -> None:
    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, status_info(result=0x05))
        answered(p, abort_msg(0x05))

    with scripted(peer, terminal):
        outcome = zvt.sale(eur("12.50"))
    assert isinstance(outcome, Declined) and not outcome.ok
    assert outcome.result_code == 0x05
    assert "declined by the card issuer" in outcome.meaning


def test_refund_over_the_limit_names_the_limit(zvt: ZvtTerminal, peer: Peer) -> None:
    def terminal(p: Peer) -> None:
        command = parse_command(accept(p))
        assert command.name == "refund" and command.password == "123456"
        answered(p, abort_msg(0xC3, vendor_error("refund limit 500.00 EUR")))

    with scripted(peer, terminal):
        outcome = zvt.refund(eur("600.00"))
    assert outcome == Aborted("maximum amount exceeded", 0xC3, "refund limit 500.00 EUR")


def test_host_unreachable_is_aborted(zvt: ZvtTerminal, peer: Peer) -> None:
    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, intermediate(0x04))
        answered(p, abort_msg(0xA3))

    with scripted(peer, terminal):
        outcome = zvt.sale(eur("1.00"))
    assert isinstance(outcome, Aborted) and outcome.result_code == 0xA3
    assert outcome.reason == "no connection"


def test_refused_command_is_aborted_and_nothing_charged(zvt: ZvtTerminal, peer: Peer) -> None:
    def terminal(p: Peer) -> None:
        p.recv()
        p.send(Apdu(0x84, 0x9A))

    with scripted(peer, terminal):
        outcome = zvt.sale(eur("1.00"))
    assert isinstance(outcome, Aborted) and outcome.result_code == 0x9A
    assert "refused" in outcome.reason


def test_busy_raises(zvt: ZvtTerminal, peer: Peer) -> None:
    def terminal(p: Peer) -> None:
        p.recv()
        p.send(Apdu(0x84, 0xA0))

    with scripted(peer, terminal), pytest.raises(TerminalBusy):
        zvt.sale(eur("1.00"))


def test_silent_terminal_is_not_reached(zvt: ZvtTerminal, peer: Peer) -> None:
    def terminal(p: Peer) -> None:
        p.recv()

    with scripted(peer, terminal), pytest.raises(TerminalNotReached):
        zvt.sale(eur("1.00"))


def test_nothing_listening_is_not_reached() -> None:
    peer = TcpPeer()
    peer.close()  # the port is free again: connection refused
    with pytest.raises(TerminalNotReached, match="cannot open"):
        terminal_for(peer).sale(eur("1.00"))


def test_in_doubt_carries_what_the_terminal_said(zvt: ZvtTerminal, peer: Peer) -> None:
    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, status_info(trace=5, receipt_no=9, amount=4200))
        p.send(intermediate(0x0B))
        p.drop()

    with scripted(peer, terminal):
        outcome = zvt.sale(eur("42.00"))
    assert isinstance(outcome, InDoubt)
    assert (outcome.stage, outcome.trace, outcome.receipt_no) == ("before_completion", 5, 9)
    assert outcome.amount == eur("42.00") and outcome.result_code == 0


def test_declined_status_then_link_loss_is_still_declined(zvt: ZvtTerminal, peer: Peer) -> None:
    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, status_info(result=0x71))
        p.drop()

    with scripted(peer, terminal):
        outcome = zvt.sale(eur("12.50"))
    assert isinstance(outcome, Declined) and outcome.result_code == 0x71


@pytest.mark.parametrize("later", [0x05, 0x8B])
def test_an_acknowledged_approval_then_a_decline_is_in_doubt(
    zvt: ZvtTerminal, peer: Peer, later: int
) -> None:
    """The approval was acknowledged, so by the spec it stands; the terminal then says
    otherwise. "Declined, nothing charged" would have staff charge the guest again."""

    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, status_info(trace=21, receipt_no=33, amount=1250))
        answered(p, status_info(result=later, trace=22, receipt_no=34, amount=1250))
        answered(p, abort_msg(later))

    with scripted(peer, terminal):
        outcome = zvt.sale(eur("12.50"))
    assert isinstance(outcome, InDoubt), outcome
    # the numbers are the acknowledged approval's: recovery asks the terminal about it
    assert (outcome.stage, outcome.trace, outcome.receipt_no) == ("before_completion", 21, 33)
    assert outcome.amount == eur("12.50")
    assert "acknowledged" in outcome.reason and f"{later:02X}" in outcome.reason


def test_an_acknowledged_decline_then_an_approval_is_in_doubt(zvt: ZvtTerminal, peer: Peer) -> None:
    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, status_info(result=0x05, trace=21, receipt_no=33))
        answered(p, status_info(trace=22, receipt_no=34))
        answered(p, completion())

    with scripted(peer, terminal):
        outcome = zvt.sale(eur("12.50"))
    assert isinstance(outcome, InDoubt) and outcome.stage == "before_completion", outcome


def test_two_approvals_that_agree_are_an_approval(zvt: ZvtTerminal, peer: Peer) -> None:
    """Some terminals repeat the status information; agreeing results are no conflict."""

    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, status_info(trace=21, receipt_no=33))
        approve(p, trace=21, receipt_no=33)

    with scripted(peer, terminal):
        outcome = zvt.sale(eur("12.50"))
    assert isinstance(outcome, Approved) and outcome.receipt_no == 33


def test_a_completion_without_any_result_is_in_doubt(zvt: ZvtTerminal, peer: Peer) -> None:
    """No status information and a bare 06 0F: "done", but nothing to match it by or to
    reverse it with. Recovery asks the terminal's record instead of guessing."""

    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, completion())

    with scripted(peer, terminal):
        outcome = zvt.sale(eur("12.50"))
    assert isinstance(outcome, InDoubt), outcome
    assert outcome.stage == "completed_without_result"
    assert outcome.amount == eur("12.50")


def test_a_completion_carrying_the_transaction_numbers_is_an_approval(
    zvt: ZvtTerminal, peer: Peer
) -> None:
    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, completion(encode_bmps({0x27: 0, 0x0B: 8, 0x87: 12})))

    with scripted(peer, terminal):
        outcome = zvt.sale(eur("12.50"))
    assert isinstance(outcome, Approved) and (outcome.trace, outcome.receipt_no) == (8, 12)


# -- registration ------------------------------------------------------------------------
def test_not_registered_registers_once_and_retries(zvt: ZvtTerminal, peer: Peer) -> None:
    def terminal(p: Peer) -> None:
        assert p.recv().code == (0x06, 0x01)
        p.send(Apdu(0x84, 0x6B))
        registration = parse_command(accept(p))
        assert registration.name == "registration"
        assert (registration.password, registration.config) == ("123456", 0xBE)
        assert registration.currency == 978
        permitted = find(registration.tlv(), 0x26)
        assert permitted is not None
        assert {c.value for c in permitted.children} == {b"\x06\xd1", b"\x06\xd3"}
        answered(p, completion(encode_bmps({0x19: 0x00, 0x29: "52500038", 0x49: 978})))
        assert parse_command(accept(p)).name == "authorisation"
        approve(p)

    with scripted(peer, terminal):
        outcome = zvt.sale(eur("12.50"))
    assert isinstance(outcome, Approved)


def test_not_registered_twice_gives_up(tcp_zvt: ZvtTerminal, tcp_peer: TcpPeer) -> None:
    def terminal(p: Peer) -> None:
        p.recv()
        p.send(Apdu(0x84, 0x6B))
        accept(p)
        answered(p, completion(encode_bmps({0x19: 0x00})))
        p.recv()
        p.send(Apdu(0x84, 0x6B))
        assert p.silent_for(0.2)

    with scripted(tcp_peer, terminal):
        outcome = tcp_zvt.sale(eur("1.00"))
    assert isinstance(outcome, Aborted) and outcome.result_code == 0x6B


def test_registration_reports_the_terminal(tcp_zvt: ZvtTerminal, tcp_peer: TcpPeer) -> None:
    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, completion(encode_bmps({0x19: 0x01, 0x29: "52500038", 0x49: 978})))

    with scripted(tcp_peer, terminal):
        registered = tcp_zvt.register()
    assert registered.terminal_id == "52500038" and registered.currency == EUR
    assert registered.needs == ("initialisation",)


def test_registration_with_a_wrong_currency_is_refused(
    tcp_zvt: ZvtTerminal, tcp_peer: TcpPeer
) -> None:
    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, abort_msg(0x6F))

    with scripted(tcp_peer, terminal), pytest.raises(TerminalRefused, match="wrong currency"):
        tcp_zvt.register()


# -- the other money commands ------------------------------------------------------------
MONEY_COMMANDS = [
    ("reverse", (7,), "reversal", {0x87: 7}),
    ("pre_authorise", (eur("100.00"),), "pre_authorisation", {0x04: 10000, 0x49: 978}),
    ("book", (7, eur("80.00")), "partial_reversal", {0x87: 7, 0x04: 8000, 0x49: 978}),
    ("book_total", (7, eur("80.00")), "book_total", {0x87: 7, 0x04: 8000, 0x49: 978}),
    ("reverse_pre_auth", (7,), "pre_auth_reversal", {0x87: 7}),
]


@pytest.mark.parametrize(("method", "args", "name", "fields"), MONEY_COMMANDS)
def test_money_commands(
    tcp_zvt: ZvtTerminal,
    tcp_peer: TcpPeer,
    method: str,
    args: tuple[object, ...],
    name: str,
    fields: dict[int, object],
) -> None:
    def terminal(p: Peer) -> None:
        command = parse_command(accept(p))
        assert command.name == name and command.fields == fields
        approve(p, amount=8000)

    with scripted(tcp_peer, terminal):
        outcome = getattr(tcp_zvt, method)(*args)
    assert isinstance(outcome, Approved) and outcome.amount == eur("80.00")


def test_bad_arguments_send_nothing(tcp_zvt: ZvtTerminal, tcp_peer: TcpPeer) -> None:
    for call in (
        lambda: tcp_zvt.reverse(0),
        lambda: tcp_zvt.reverse(10000),
        lambda: tcp_zvt.sale(Money(0, EUR)),
        lambda: tcp_zvt.book(True, eur("1.00")),
    ):
        with pytest.raises(ValueError):
            call()
    assert tcp_peer.silent_for(0.05)
    with pytest.raises(ValueError, match="six digits"):
        ZvtTerminal(link_for_url(tcp_peer.url), password="12345")


def test_receipt_built_from_the_status_when_the_terminal_prints_none(
    tcp_peer: TcpPeer,
) -> None:
    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, status_info())
        answered(p, completion())

    with terminal_for(tcp_peer, config=0x3E) as zvt, scripted(tcp_peer, terminal):
        outcome = zvt.sale(eur("12.50"))
    assert isinstance(outcome, Approved)
    text = "\n".join(outcome.receipt)
    assert "Visa **** 0119" in text and "12.50 EUR" in text and "52500038" in text


@pytest.mark.parametrize("numeric", [959, 999, 960])  # gold, "no currency", the IMF's SDR
def test_a_status_in_a_currency_without_minor_unit_reads_as_the_terminals_own(
    tcp_peer: TcpPeer, numeric: int
) -> None:
    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, status_info(extra={0x49: numeric}))
        answered(p, completion())

    with terminal_for(tcp_peer, config=0x3E) as zvt, scripted(tcp_peer, terminal):
        outcome = zvt.sale(eur("12.50"))
    assert isinstance(outcome, Approved)
    assert outcome.amount == eur("12.50")
    assert "12.50 EUR" in "\n".join(outcome.receipt)


# -- abort and concurrency ---------------------------------------------------------------
def test_abort_from_another_thread(zvt: ZvtTerminal, peer: Peer) -> None:
    showing = threading.Event()

    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, intermediate(0x0A))
        showing.set()
        assert p.recv() == Apdu(0x06, 0xB0)
        p.ack()
        answered(p, abort_msg(0x6C))

    with scripted(peer, terminal):
        helper = threading.Thread(target=lambda: showing.wait(5) and zvt.abort())
        helper.start()
        outcome = zvt.sale(eur("12.50"))
        helper.join(5)
    assert outcome == Aborted("abort via timeout or abort key", 0x6C)


def test_abort_when_idle(tcp_zvt: ZvtTerminal, tcp_peer: TcpPeer) -> None:
    def terminal(p: Peer) -> None:
        assert p.recv() == Apdu(0x06, 0xB0)
        p.send(Apdu(0x84, 0x83))

    with scripted(tcp_peer, terminal):
        assert tcp_zvt.abort() is False


def test_two_threads_never_interleave(zvt: ZvtTerminal, peer: Peer) -> None:
    def terminal(p: Peer) -> None:
        for status in (0x00, 0xDC):
            command = accept(p)
            assert command.code == (0x05, 0x01)
            answered(p, build_status_completion(status, "1.0"))

    results = []
    with scripted(peer, terminal):
        threads = [threading.Thread(target=lambda: results.append(zvt.status())) for _ in "ab"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(5)
    assert sorted(r.code for r in results) == [0x00, 0xDC]


def test_reconnects_after_the_terminal_dropped(tcp_zvt: ZvtTerminal, tcp_peer: TcpPeer) -> None:
    def terminal(p: Peer) -> None:
        accept(p)
        p.drop()
        accept(p)
        answered(p, build_status_completion(0x00, None))

    with scripted(tcp_peer, terminal):
        assert isinstance(tcp_zvt.sale(eur("1.00")), InDoubt)
        assert tcp_zvt.status().ready
    assert tcp_peer.connections == 2


# -- administration ----------------------------------------------------------------------
def test_status_enquiry(zvt: ZvtTerminal, peer: Peer) -> None:
    def terminal(p: Peer) -> None:
        command = parse_command(accept(p))
        assert command.name == "status_enquiry" and command.password == "123456"
        answered(p, build_status_completion(0x51, "EMU 1.2"))

    with scripted(peer, terminal):
        state = zvt.status()
    assert not state.ready and state.code == 0x51 and state.severity == "critical"
    assert state.text == "initialisation required" and state.software == "EMU 1.2"
    assert state.remedy and "initialisation" in state.remedy


def test_status_warning_states(tcp_zvt: ZvtTerminal, tcp_peer: TcpPeer) -> None:
    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, build_status_completion(0xF0, None))

    with scripted(tcp_peer, terminal):
        assert tcp_zvt.status().severity == "warning"


@pytest.mark.parametrize(
    ("ending", "reachable", "code"), [(completion(), True, 0), (abort_msg(0xA3), False, 0xA3)]
)
def test_diagnosis(
    tcp_zvt: ZvtTerminal, tcp_peer: TcpPeer, ending: Apdu, reachable: bool, code: int
) -> None:
    def terminal(p: Peer) -> None:
        assert accept(p).code == (0x06, 0x70)
        answered(p, intermediate(0x0E))
        answered(p, ending)

    with scripted(tcp_peer, terminal):
        result = tcp_zvt.diagnosis()
    assert (result.host_reachable, result.result_code) == (reachable, code)


def test_last_transaction(zvt: ZvtTerminal, peer: Peer) -> None:
    def terminal(p: Peer) -> None:
        command = parse_command(accept(p))
        assert command.name == "repeat_receipt" and command.fields == {0x03: 0x01}
        answered(p, status_info(result=0xB4, trace=8, receipt_no=8, pan=VISA_FULL))
        answered(p, completion())

    with scripted(peer, terminal):
        last = zvt.last_transaction()
    assert last is not None and not last.stands
    assert (last.result_code, last.trace, last.receipt_no) == (0xB4, 8, 8)
    assert last.meaning == "already reversed" and last.card.last4 == "0119"
    assert VISA_FULL not in repr(last)


def test_last_transaction_when_there_is_none(tcp_zvt: ZvtTerminal, tcp_peer: TcpPeer) -> None:
    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, abort_msg(0x83))

    with scripted(tcp_peer, terminal):
        assert tcp_zvt.last_transaction() is None


def test_last_transaction_completed_without_its_status_is_not_none(
    tcp_zvt: ZvtTerminal, tcp_peer: TcpPeer
) -> None:
    """Only "nothing to repeat" means the terminal has nothing: a completion without the
    status information asked for proves nothing, and must not read as "no transaction"."""

    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, completion())

    with scripted(tcp_peer, terminal), pytest.raises(TerminalLost, match="unknown"):
        tcp_zvt.last_transaction()


def test_end_of_day(tcp_zvt: ZvtTerminal, tcp_peer: TcpPeer) -> None:
    totals = bytes.fromhex("0001 0003")
    for count, minor in ((1, 500), (0, 0), (1, 1000), (0, 0), (1, 1250), (0, 0), (0, 0)):
        totals += bytes([count]) + bytes.fromhex(f"{minor:012d}")

    def terminal(p: Peer) -> None:
        assert parse_command(accept(p)).name == "end_of_day"
        answered(p, Apdu(0x04, 0x0F, encode_bmps({0x27: 0, 0x04: 2750, 0x60: totals})))
        answered(p, receipt_block(["END OF DAY", "TOTAL 27.50"], 3))
        answered(p, completion())

    with scripted(tcp_peer, terminal):
        day = tcp_zvt.end_of_day()
    assert day.ok and day.total == eur("27.50") and day.receipt_range == (1, 3)
    assert [(b.brand, b.count, b.amount) for b in day.by_brand] == [
        ("girocard", 1, eur("5.00")),
        ("Mastercard", 1, eur("10.00")),
        ("Visa", 1, eur("12.50")),
    ]
    assert day.receipt == ("END OF DAY", "TOTAL 27.50")


def test_end_of_day_refused(tcp_zvt: ZvtTerminal, tcp_peer: TcpPeer) -> None:
    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, abort_msg(0x77))

    with scripted(tcp_peer, terminal):
        day = tcp_zvt.end_of_day()
    assert not day.ok and day.result_code == 0x77


@pytest.mark.parametrize(("receipt", "expected"), [(42, ("42",)), (None, ())])
def test_open_pre_auths(
    tcp_zvt: ZvtTerminal, tcp_peer: TcpPeer, receipt: int | None, expected: tuple[str, ...]
) -> None:
    def terminal(p: Peer) -> None:
        command = accept(p)
        assert command == Apdu(0x06, 0x23, b"\x87\xff\xff")
        answered(p, abort_msg(0xB8, {0x87: receipt}))

    with scripted(tcp_peer, terminal):
        assert tcp_zvt.open_pre_auths() == expected


def test_log_off(tcp_zvt: ZvtTerminal, tcp_peer: TcpPeer) -> None:
    def terminal(p: Peer) -> None:
        assert accept(p) == Apdu(0x06, 0x02)

    with scripted(tcp_peer, terminal):
        tcp_zvt.log_off()


def test_initialise(tcp_zvt: ZvtTerminal, tcp_peer: TcpPeer) -> None:
    def terminal(p: Peer) -> None:
        assert parse_command(accept(p)).name == "initialisation"
        answered(p, completion())

    with scripted(tcp_peer, terminal):
        tcp_zvt.initialise()


def test_interface_has_no_protocol_details() -> None:
    import posdriver.terminal.base as base

    with open(base.__file__, encoding="utf-8") as handle:
        source = handle.read().lower()
    for word in ("bmp", "apdu", "06 01", "04 0f", "80 00", "import zvt", ".zvt import"):
        assert word not in source


def test_importing_the_package_stays_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, posdriver, posdriver.terminal; "
        "print(sorted(m for m in sys.modules if m.startswith('posdriver.terminal.zvt')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert decode_bmps(b"") == {}
