"""The exchange state machine against a scripted terminal, over a real pty and real TCP."""

from __future__ import annotations

import select
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from posdriver.links import Link, open_link
from posdriver.terminal.outcomes import TerminalBusy, TerminalNotReached
from posdriver.terminal.zvt.apdu import Apdu
from posdriver.terminal.zvt.channel import Channel, channel_for
from posdriver.terminal.zvt.exchange import Exchange
from posdriver.terminal.zvt.messages import build, build_print_line
from tests.support.timing import wait_until
from tests.support.zvt_peer import (
    ACK_APDU,
    Peer,
    SerialPeer,
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
)

T1, T2, T3, T4 = 0.1, 0.15, 0.4, 0.3
SALE = build("authorisation", bmps={0x04: 1250, 0x49: 978})
ABORT = Apdu(0x06, 0xB0)


@dataclass
class Rig:
    peer: Peer
    link: Link
    channel: Channel

    def exchange(self, **kwargs: object) -> Exchange:
        options: dict[str, object] = {"t3": T3, "t4": T4} | kwargs
        return Exchange(self.channel, **options)  # type: ignore[arg-type]


@pytest.fixture(params=["serial", "tcp"])
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    peer = make_peer(request.param)
    link = open_link(peer.url)
    try:
        yield Rig(peer, link, channel_for(link, t1=T1, t2=T2))
    finally:
        link.close()
        peer.close()


# -- the normal course -------------------------------------------------------------------
def test_sale_runs_to_completion(rig: Rig) -> None:
    texts: list[str] = []

    def terminal(p: Peer) -> None:
        assert accept(p) == SALE
        answered(p, intermediate(0x0A))
        answered(p, status_info(trace=17, receipt_no=42))
        answered(p, receipt_block(["MERCHANT COPY"], 1))
        answered(p, receipt_block(["GUEST COPY", "12.50 EUR"], 2))
        answered(p, completion())

    with scripted(rig.peer, terminal):
        result = rig.exchange(progress=texts.append).run(SALE, name="sale")
    assert result.accepted and result.completed and not result.in_doubt
    assert result.status is not None and result.status_acked
    assert (result.status.trace, result.status.receipt_no) == (17, 42)
    assert result.status.amount == 1250 and result.status.card.last4 == "0119"
    assert result.receipts.guest_copy() == ("GUEST COPY", "12.50 EUR")
    assert result.receipts.merchant_copy() == ("MERCHANT COPY",)
    assert texts == ["insert card"]
    assert result.intermediate == [0x0A]


def test_print_lines_are_collected(rig: Rig) -> None:
    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, status_info())
        answered(p, build_print_line("CARD PAYMENT", 0x40))
        answered(p, build_print_line("AMOUNT 12.50", 0x02))
        answered(p, build_print_line("", 0x80))  # last line of the receipt
        answered(p, completion())

    with scripted(rig.peer, terminal):
        result = rig.exchange().run(SALE)
    assert result.completed
    assert result.receipts.guest_copy() == ("CARD PAYMENT", "  AMOUNT 12.50")


def test_intermediate_status_rearms_t4(rig: Rig) -> None:
    """A slow host: 04 FF every 0.1 s for a second keeps a 0.3 s T4 from expiring."""

    def terminal(p: Peer) -> None:
        accept(p)
        until = time.monotonic() + 1.0
        while time.monotonic() < until:
            answered(p, intermediate(0x04))
            time.sleep(0.1)
        answered(p, status_info())
        answered(p, completion())

    started = time.monotonic()
    with scripted(rig.peer, terminal):
        result = rig.exchange().run(SALE)
    assert time.monotonic() - started >= 1.0 > T4
    assert result.completed and not result.abort_sent
    assert len(result.intermediate) >= 5


def test_intermediate_status_can_set_a_longer_t4(rig: Rig) -> None:
    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, intermediate(0x0A, minutes=1))  # T4 becomes a minute
        time.sleep(T4 * 2)
        answered(p, status_info())
        answered(p, completion())

    with scripted(rig.peer, terminal):
        result = rig.exchange().run(SALE)
    assert result.completed and not result.abort_sent


def test_status_information_rearms_t4(rig: Rig) -> None:
    def terminal(p: Peer) -> None:
        accept(p)
        time.sleep(T4 * 0.7)
        answered(p, status_info())
        time.sleep(T4 * 0.7)
        answered(p, completion())

    with scripted(rig.peer, terminal):
        result = rig.exchange().run(SALE)
    assert result.completed and not result.abort_sent


def test_terminal_answering_without_80_00_is_taken_as_accepted(rig: Rig) -> None:
    status = build("status_enquiry", password="123456")

    def terminal(p: Peer) -> None:
        assert p.recv() == status
        answered(p, completion(b"\x00"))

    with scripted(rig.peer, terminal):
        result = rig.exchange().run(status)
    assert result.accepted and result.completed and result.completion == b"\x00"


def test_a_stale_bare_completion_is_acknowledged_and_not_taken_as_acceptance(rig: Rig) -> None:
    """A till killed before acknowledging a completion leaves the terminal repeating it;
    the next command must not read that as its own acceptance and completion."""
    repeat = build("repeat_receipt", password="123456")

    def terminal(p: Peer) -> None:
        assert p.recv() == repeat
        answered(p, completion())  # the earlier command's ending, repeated
        p.ack()  # now the terminal takes the new command
        answered(p, completion())

    with scripted(rig.peer, terminal):
        result = rig.exchange().run(repeat)
    assert result.stale == 1
    assert result.accepted and result.completed


def test_command_without_completion_ends_at_80_00(rig: Rig) -> None:
    with scripted(rig.peer, accept):
        result = rig.exchange().run(build("log_off"), requires_completion=False)
    assert result.accepted and result.completed


# -- refusals and aborts -----------------------------------------------------------------
def test_84_xx_is_a_refusal_not_an_exception(rig: Rig) -> None:
    def terminal(p: Peer) -> None:
        p.recv()
        p.send(Apdu(0x84, 0x83))

    with scripted(rig.peer, terminal):
        result = rig.exchange().run(SALE)
    assert result.refused == 0x83 and not result.accepted and not result.completed


@pytest.mark.parametrize("code", [0xA0, 0x9C])
def test_busy_is_terminal_busy(rig: Rig, code: int) -> None:
    def terminal(p: Peer) -> None:
        p.recv()
        p.send(Apdu(0x84, code))

    with scripted(rig.peer, terminal), pytest.raises(TerminalBusy) as caught:
        rig.exchange().run(SALE)
    assert caught.value.result_code == code
    assert isinstance(caught.value, TerminalNotReached)


def test_abort_message_ends_the_exchange(rig: Rig) -> None:
    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, intermediate(0x0A))
        answered(p, abort_msg(0xA3))

    with scripted(rig.peer, terminal):
        result = rig.exchange().run(SALE)
    assert result.aborted is not None and result.aborted.result_code == 0xA3
    assert not result.completed and not result.in_doubt


def test_unexpected_messages_get_84_83_and_are_counted(rig: Rig) -> None:
    def terminal(p: Peer) -> None:
        accept(p)
        p.send(Apdu(0x04, 0x01, b"\x12\x00\x00"))  # "set time in ECR": not supported here
        assert p.recv() == Apdu(0x84, 0x83)
        p.send(Apdu(0x80, 0x00))  # a stray answer: no answer to it
        answered(p, status_info())
        answered(p, completion())

    with scripted(rig.peer, terminal):
        result = rig.exchange().run(SALE)
    assert result.completed and result.unexpected == 2


def test_till_abort_request_sends_06_b0(rig: Rig) -> None:
    exchange = rig.exchange(t4=2.0)
    exchange.progress = lambda text: exchange.request_abort()

    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, intermediate(0x0A))
        assert p.recv() == ABORT
        p.ack()
        answered(p, abort_msg(0x6C))

    with scripted(rig.peer, terminal):
        result = exchange.run(SALE)
    assert result.abort_sent and result.abort_answer == 0
    assert result.aborted is not None and result.aborted.result_code == 0x6C


# -- timeouts ----------------------------------------------------------------------------
def test_no_acceptance_within_t3_is_not_reached(rig: Rig) -> None:
    def terminal(p: Peer) -> None:
        p.recv()
        assert p.silent_for(T3 + 0.1)  # the driver does not resend the command

    started = time.monotonic()
    with scripted(rig.peer, terminal), pytest.raises(TerminalNotReached, match="within"):
        rig.exchange().run(SALE)
    assert time.monotonic() - started >= T3


def test_t4_expiry_sends_abort_once_then_in_doubt(rig: Rig) -> None:
    def terminal(p: Peer) -> None:
        accept(p)
        assert p.recv(timeout=T4 + 1.0) == ABORT
        assert p.silent_for(T3 + 0.2)

    started = time.monotonic()
    with scripted(rig.peer, terminal):
        result = rig.exchange().run(SALE)
    assert time.monotonic() - started >= T4 + T3
    assert result.in_doubt and result.stage == "after_accept" and result.abort_sent
    assert "after our Abort" in result.reason


def test_t4_expiry_abort_answered_by_the_terminal(rig: Rig) -> None:
    def terminal(p: Peer) -> None:
        accept(p)
        assert p.recv(timeout=T4 + 1.0) == ABORT
        p.ack()
        answered(p, abort_msg(0x6C))

    with scripted(rig.peer, terminal):
        result = rig.exchange().run(SALE)
    assert not result.in_doubt and result.aborted is not None
    assert result.aborted.result_code == 0x6C


# -- link failures and the stages of doubt -----------------------------------------------
def test_link_drop_before_acceptance_is_not_reached(rig: Rig) -> None:
    def terminal(p: Peer) -> None:
        p.recv()
        p.drop()

    with (
        scripted(rig.peer, terminal),
        pytest.raises(TerminalNotReached, match=r"link failed|could not send"),
    ):
        rig.exchange(t3=2.0).run(SALE)


def test_in_doubt_after_accept(rig: Rig) -> None:
    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, intermediate(0x0A))
        p.drop()

    with scripted(rig.peer, terminal):
        result = rig.exchange(t4=2.0).run(SALE)
    assert result.in_doubt and result.stage == "after_accept" and result.link_failed


def test_in_doubt_after_status_when_the_link_drops_behind_it(rig: Rig) -> None:
    def terminal(p: Peer) -> None:
        accept(p)
        p.send(status_info(trace=5, receipt_no=9))  # serial: the driver ACKs the frame...
        p.drop()  # ...and the link goes before its 80 00 00 arrives

    with scripted(rig.peer, terminal):
        result = rig.exchange(t4=2.0).run(SALE)
    assert result.in_doubt and result.stage == "after_status", result.reason
    assert not result.status_acked
    assert result.status is not None and result.status.trace == 5


def test_tcp_reset_proves_our_ack_was_never_read(rig: Rig) -> None:
    """The terminal closes its socket with our 80 00 00 unread in it: the kernel resets
    the connection instead of closing it, and the driver knows the ack was lost."""
    if not isinstance(rig.peer, TcpPeer):
        pytest.skip("TCP only")

    def terminal(p: Peer) -> None:
        assert isinstance(p, TcpPeer)
        accept(p)
        p.send(status_info())
        conn = p.accept()
        assert select.select([conn], [], [], 3.0)[0]  # our ack arrived; never read
        p.drop()

    with scripted(rig.peer, terminal):
        result = rig.exchange(t4=2.0).run(SALE)
    assert result.in_doubt and result.stage == "after_status", result.reason
    assert "reset" in result.reason


def test_in_doubt_after_status_when_our_ack_is_not_acknowledged(rig: Rig) -> None:
    if not isinstance(rig.peer, SerialPeer):
        pytest.skip("serial only: TCP has no transport acknowledgement")

    def terminal(p: Peer) -> None:
        assert isinstance(p, SerialPeer)
        accept(p)
        p.send(status_info())
        for _ in range(3):  # the driver's 80 00 00, sent three times, never ACKed
            assert p.frame(answer=None).apdu() == ACK_APDU

    with scripted(rig.peer, terminal):
        result = rig.exchange(t4=2.0).run(SALE)
    assert result.in_doubt and result.stage == "after_status"
    assert rig.channel.stats.transmission_failures == 1


def test_in_doubt_before_completion(rig: Rig) -> None:
    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, status_info(trace=5, receipt_no=9))
        # Serial: the ACK of our 80 00 00 must reach the driver before the line goes
        # (a hang-up discards bytes in flight, and then the driver rightly cannot know).
        p.send(intermediate(0x0B))
        p.drop()

    with scripted(rig.peer, terminal):
        result = rig.exchange(t4=2.0).run(SALE)
    assert result.in_doubt and result.stage == "before_completion"
    assert result.status_acked


def test_unreadable_status_is_refused_and_in_doubt(rig: Rig) -> None:
    garbled = Apdu(0x04, 0x0F, b"\x27\x00\xfe\x01")  # BMP FE does not exist

    def terminal(p: Peer) -> None:
        accept(p)
        p.send(garbled)
        assert p.recv() == Apdu(0x84, 0x9A)  # refused, so the terminal reverses it
        answered(p, abort_msg(0x6C))

    with scripted(rig.peer, terminal):
        result = rig.exchange().run(SALE)
    assert result.in_doubt and result.stage == "after_status"
    assert result.status_unreadable


def test_stale_input_is_flushed_before_the_command(rig: Rig) -> None:
    rig.peer.write(_wire(rig.peer, completion()))
    wait_until(lambda: _input_waiting(rig.link), what="the stale completion to arrive")

    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, status_info(trace=3))
        answered(p, completion())

    with scripted(rig.peer, terminal):
        result = rig.exchange().run(SALE)
    assert result.completed and result.status is not None and result.status.trace == 3
    assert rig.channel.stats.stale_bytes > 0


def _frame(apdu: Apdu) -> bytes:
    from posdriver.terminal.zvt.frame import encode_frame

    return encode_frame(apdu)


def _wire(peer: Peer, apdu: Apdu) -> bytes:
    return _frame(apdu) if peer.kind == "serial" else apdu.encode()


def _input_waiting(link: Link) -> bool:
    handle: Any = getattr(link, "_fd", None)
    if handle is None:
        handle = getattr(link, "_sock", None)
    return bool(select.select([handle], [], [], 0)[0])
