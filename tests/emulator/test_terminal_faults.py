"""Every terminal fault's behaviour on the wire, and the serial transport layer's rules.

Drops are real: the raw ECR's link fails (EIO on the pty, EOF on the socket), and the
emulator's ledger says what happened to the money.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from posdriver.links import LinkError, LinkIOError, open_link
from posdriver.terminal.zvt.apdu import Apdu, nack
from posdriver.terminal.zvt.frame import ACK_BYTE, NAK_BYTE, encode_frame
from posdriver.terminal.zvt.messages import (
    ABORT,
    COMPLETION,
    build,
    parse_abort,
    parse_status_completion,
)
from posdriver.terminal.zvt.messages import INTERMEDIATE_STATUS as INTERMEDIATE
from posdriver.terminal.zvt.messages import STATUS_INFORMATION as STATUS
from posdriver_emulator.controller import Controller
from tests.support.raw_ecr import (
    FAST,
    PASSWORD,
    TEXT_BLOCKS,
    RawEcr,
    codes,
    fields,
    open_ecr,
    running,
    sale,
)
from tests.support.timing import wait_until

ACCEPTED = (0x80, 0x00)


@pytest.fixture(params=["pty", "tcp"])
def term(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[tuple[Any, RawEcr]]:
    with running(request.param, tmp_path) as (emu, ecr):
        ecr.register(tlv=TEXT_BLOCKS)
        assert emu.device.wait_idle(2)  # our last answer has reached the terminal
        yield emu, ecr


@pytest.fixture
def serial(tmp_path: Any) -> Iterator[tuple[Any, RawEcr]]:
    with running("pty", tmp_path) as (emu, ecr):
        ecr.register(tlv=TEXT_BLOCKS)
        assert emu.device.wait_idle(2)
        yield emu, ecr


def reconnect(emu: Any) -> RawEcr:
    """Open the link again once it is back (a dropped pty returns after relink_delay)."""
    deadline = time.monotonic() + 3
    while True:
        try:
            link = open_link(emu.url)
            break
        except LinkError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    framing = emu.device.framing
    return RawEcr(link, framing)


def start_sale(ecr: RawEcr, amount: int = 1000) -> Apdu:
    """Up to the status information; returns it, unanswered."""
    assert ecr.command(sale(amount)) == Apdu(*ACCEPTED)
    message = ecr.receive()
    while message.code == INTERMEDIATE:
        ecr.answer()
        message = ecr.receive()
    return message


# -- link drops --------------------------------------------------------------------------
def test_drop_before_accept(term: tuple[Any, RawEcr]) -> None:
    emu, ecr = term
    emu.set_fault("drop_before_accept")
    ecr.send(sale(1000))
    with pytest.raises(LinkIOError):
        ecr.receive(timeout=3)
    assert emu.device.ledger() == []
    emu.set_fault("drop_before_accept", False)
    again = reconnect(emu)
    assert codes(again.run(sale(1000)))[-1] == COMPLETION  # still registered
    assert [e["state"] for e in emu.device.ledger()] == ["charged"]


def test_drop_before_accept_spares_non_money_commands(term: tuple[Any, RawEcr]) -> None:
    emu, ecr = term
    emu.set_fault("drop_before_accept")
    assert codes(ecr.status_enquiry())[-1] == COMPLETION


def test_drop_after_status_reverses_the_charge(term: tuple[Any, RawEcr]) -> None:
    emu, ecr = term
    emu.set_fault("drop_after_status")
    status = start_sale(ecr, 4711)
    assert status.code == STATUS and fields(status)[0x27] == 0
    with pytest.raises(LinkIOError):
        ecr.answer()
        ecr.receive(timeout=3)
    [entry] = emu.device.ledger()
    assert entry["amount"] == 4711 and entry["state"] == "auto_reversed"
    assert entry["receipt_no"] == fields(status)[0x87]
    emu.set_fault("drop_after_status", False)
    repeat = reconnect(emu).run(build("repeat_receipt", password=PASSWORD, bmps={0x03: 1}))
    assert fields(repeat[1])[0x27] == 0xB4 and fields(repeat[1])[0x0B] == fields(status)[0x0B]


def test_drop_before_completion_keeps_the_charge(term: tuple[Any, RawEcr]) -> None:
    emu, ecr = term
    emu.set_fault("drop_before_completion")
    status = start_sale(ecr, 815)
    ecr.answer()  # acknowledged (serial: the terminal's ACK arrived before the drop)
    with pytest.raises(LinkIOError):
        ecr.receive(timeout=3)
    [entry] = emu.device.ledger()
    assert entry["state"] == "charged" and entry["trace"] == fields(status)[0x0B]


def test_drop_after_status_never_acknowledges_the_answer(tmp_path: Any) -> None:
    """The ECR's ACK and its 80 00 00 arrive together: the terminal, hanging up, ACKs
    neither the answer nor anything else, so the ECR cannot think it was delivered."""
    for _ in range(3):
        with running("pty", tmp_path) as (emu, ecr):
            ecr.register(config=0x06)
            assert emu.device.wait_idle(2)
            emu.set_fault("drop_after_status")
            ecr.auto_ack = False
            assert ecr.send(sale(100))
            assert ecr.receive() == Apdu(*ACCEPTED)
            ecr.port.write(bytes([ACK_BYTE]))
            assert ecr.receive().code == STATUS
            ecr.port.write(bytes([ACK_BYTE]) + encode_frame(Apdu(*ACCEPTED).encode()))
            with pytest.raises(LinkIOError):
                for _ in range(40):
                    assert ecr.control(0.1) is None, "the terminal ACKed our answer"
            assert emu.device.ledger()[0]["state"] == "auto_reversed"


def test_drop_before_completion_delivers_its_ack_first(tmp_path: Any) -> None:
    """The terminal's ACK of the ECR's acknowledgement reaches the ECR before the pty
    goes away (bytes written to a pty master arrive a moment later)."""
    for _ in range(5):
        with running("pty", tmp_path) as (emu, ecr):
            ecr.register(config=0x06)
            assert emu.device.wait_idle(2)
            emu.set_fault("drop_before_completion")
            assert start_sale(ecr).code == STATUS
            assert ecr.send(Apdu(*ACCEPTED), repeats=0)
            with pytest.raises(LinkIOError):
                ecr.receive(timeout=3)


def test_ecr_closing_the_socket_before_acknowledging_reverses(tmp_path: Any) -> None:
    with running("tcp", tmp_path) as (emu, ecr):
        ecr.register(tlv=TEXT_BLOCKS)
        assert start_sale(ecr).code == STATUS
        ecr.port.close()  # type: ignore[attr-defined]
        wait_until(lambda: emu.device.ledger()[0]["state"] == "auto_reversed", what="auto reversal")


def test_ecr_acknowledging_then_closing_keeps_the_charge(tmp_path: Any) -> None:
    """The acknowledgement arrived before the hang-up: it counts (committed)."""
    for _ in range(5):  # the close lands at different moments relative to the worker
        with running("tcp", tmp_path) as (emu, ecr):
            ecr.register(config=0x06)
            assert emu.device.wait_idle(2)
            assert start_sale(ecr).code == STATUS
            ecr.write_apdu(Apdu(*ACCEPTED))
            ecr.port.close()  # type: ignore[attr-defined]
            assert emu.device.wait_idle(3)
            assert emu.device.ledger()[0]["state"] == "charged"


def test_disconnect_during_a_payment_reverses(tmp_path: Any) -> None:
    with running("pty", tmp_path) as (emu, ecr):
        ecr.register(tlv=TEXT_BLOCKS)
        assert start_sale(ecr).code == STATUS
        emu.set_fault("disconnect")
        wait_until(lambda: emu.device.ledger()[0]["state"] == "auto_reversed", what="auto reversal")


# -- transport faults -------------------------------------------------------------------------
def test_withhold_ack_serial(serial: tuple[Any, RawEcr]) -> None:
    emu, ecr = serial
    emu.set_fault("withhold_ack")
    ecr.t2 = 0.15
    assert not ecr.send(sale(100))
    assert ecr.quiet(0.2) == b""
    assert emu.device.counters["frames_withheld"] == 3
    assert emu.device.ledger() == []


def test_withhold_ack_and_nak_storm_tcp_never_answer(tmp_path: Any) -> None:
    with running("tcp", tmp_path) as (emu, ecr):
        ecr.register()
        assert emu.device.wait_idle(2)
        for fault in ("withhold_ack", "nak_storm"):
            emu.set_fault(fault)
            ecr.send(sale(100))
            assert ecr.quiet(0.3) == b""
            emu.set_fault(fault, False)
        assert emu.device.counters["apdus_withheld"] == 2
        assert codes(ecr.status_enquiry())[-1] == COMPLETION


def test_nak_storm_serial(serial: tuple[Any, RawEcr]) -> None:
    emu, ecr = serial
    emu.set_fault("nak_storm")
    for _ in range(3):
        ecr.write_apdu(sale(100))
        assert ecr.control(1.0) == NAK_BYTE
    assert emu.device.counters["frames_refused"] == 3
    assert ecr.quiet(0.1) == b""
    emu.set_fault("nak_storm", False)
    assert codes(ecr.status_enquiry())[-1] == COMPLETION


def test_bad_crc_first_transmissions_recover(serial: tuple[Any, RawEcr]) -> None:
    emu, ecr = serial
    emu.set_fault("bad_crc")
    messages = ecr.run(sale(1234))
    assert codes(messages)[-1] == COMPLETION
    corrupted = emu.device.counters["crc_corrupted"]
    assert corrupted == len(messages) >= 5  # every frame, first transmission only
    assert len(ecr.seen.bad_frames) == corrupted
    assert all("CRC" in reason for reason in ecr.seen.bad_frames)
    assert emu.device.counters["naks_received"] == corrupted
    assert emu.device.ledger()[0]["state"] == "charged"


# -- host faults ---------------------------------------------------------------------------
def test_slow_host_keeps_sending_intermediate_status(term: tuple[Any, RawEcr]) -> None:
    emu, ecr = term
    emu.set_fault("slow_host")  # 0.6 s here, 04 FF every 0.1 s
    started = time.monotonic()
    messages = ecr.run(sale(2000))
    elapsed = time.monotonic() - started
    waiting = [m for m in messages if m.code == INTERMEDIATE and m.data[0] == 0x04]
    assert len(waiting) >= 4 and elapsed >= 0.6
    assert codes(messages)[-1] == COMPLETION
    assert emu.device.ledger()[0]["state"] == "charged"


def test_an_ecr_gone_while_the_host_decides_leaves_a_reversed_transaction(tmp_path: Any) -> None:
    """The request is with the acquirer when the ECR's link goes: the terminal cannot
    call it back, books the answer, cannot deliver it, and reverses it. After its
    restart the ECR finds that transaction on the terminal's record."""
    from tests.support.timing import wait_until

    with Controller.terminal("tcp", **{**FAST, "slow_host_delay": 0.8}) as emu:
        link, ecr = open_ecr(emu.url, "tcp")
        ecr.register(tlv=TEXT_BLOCKS)
        assert emu.device.wait_idle(2)
        emu.set_fault("slow_host")
        ecr.write_apdu(sale(4100))
        assert ecr.receive().code == ACCEPTED
        while (message := ecr.receive()).data[:1] != b"\x04":  # until "waiting for host"
            assert message.code == INTERMEDIATE
            ecr.answer()
        link.close()  # the till dies
        wait_until(lambda: emu.device.ledger(), 5, "the host's answer to be booked")
        entry = emu.device.ledger()[-1]
        assert (entry["kind"], entry["amount"], entry["state"]) == (
            "payment",
            4100,
            "auto_reversed",
        )
        assert emu.device.counters["host_answers_without_ecr"] == 1


def test_slow_host_without_intermediate_status_is_silent(tmp_path: Any) -> None:
    with running("tcp", tmp_path, slow_host_delay=0.3) as (emu, ecr):
        ecr.register(config=0x06)
        emu.set_fault("slow_host")
        assert codes(ecr.run(sale(100))) == [ACCEPTED, STATUS, COMPLETION]


def test_host_unreachable(term: tuple[Any, RawEcr]) -> None:
    emu, ecr = term
    assert codes(ecr.run(build("diagnosis")))[-1] == COMPLETION
    emu.set_fault("host_unreachable")
    diagnosis = ecr.run(build("diagnosis"))
    assert parse_abort(diagnosis[-1].data).result_code == 0xA3
    payment = ecr.run(sale(100))
    assert codes(payment) == [ACCEPTED, INTERMEDIATE, INTERMEDIATE, ABORT]
    assert payment[2].data[0] == 0x04 and parse_abort(payment[-1].data).result_code == 0xA3
    refund = ecr.run(build("refund", password=PASSWORD, bmps={0x04: 100}))
    assert parse_abort(refund[-1].data).result_code == 0xA3
    assert emu.device.ledger() == []


# -- terminal state faults -------------------------------------------------------------------
def test_busy_refuses_everything(term: tuple[Any, RawEcr]) -> None:
    emu, ecr = term
    emu.set_fault("busy")
    assert ecr.run(sale(100)) == [nack(0xA0)]
    assert ecr.status_enquiry() == [nack(0xA0)]
    emu.set_fault("busy", False)
    assert codes(ecr.run(sale(100)))[-1] == COMPLETION


def test_card_left(term: tuple[Any, RawEcr]) -> None:
    emu, ecr = term
    emu.set_fault("card_left")
    assert parse_status_completion(ecr.status_enquiry()[-1].data).status == 0xDC
    payment = ecr.run(sale(100))
    assert payment[0] == Apdu(*ACCEPTED)
    assert parse_abort(payment[-1].data).result_code == 0xDC
    assert emu.device.ledger() == []


def test_init_required_until_initialisation(term: tuple[Any, RawEcr]) -> None:
    emu, ecr = term
    emu.set_fault("init_required")
    assert parse_status_completion(ecr.status_enquiry()[-1].data).status == 0x51
    assert fields(ecr.register(tlv=TEXT_BLOCKS)[-1])[0x19] == 0x01
    payment = ecr.run(sale(100))
    assert payment[0] == Apdu(*ACCEPTED)
    assert parse_abort(payment[-1].data).result_code == 0xDF
    assert codes(ecr.run(build("initialisation", password=PASSWORD)))[-1] == COMPLETION
    assert "init_required" not in emu.device.active_faults
    assert parse_status_completion(ecr.status_enquiry()[-1].data).status == 0x00
    assert codes(ecr.run(sale(100)))[-1] == COMPLETION


def test_power_off_is_silence_and_loses_the_registration(term: tuple[Any, RawEcr]) -> None:
    emu, ecr = term
    emu.set_fault("power_off")
    ecr.write_apdu(sale(100))
    assert ecr.quiet(0.3) == b""
    emu.set_fault("power_off", False)
    assert ecr.run(sale(100)) == [nack(0x6B)]
    assert emu.device.ledger() == []


def test_power_off_during_a_payment_reverses_it(term: tuple[Any, RawEcr]) -> None:
    emu, ecr = term
    assert start_sale(ecr).code == STATUS
    emu.set_fault("power_off")
    wait_until(lambda: emu.device.ledger()[0]["state"] == "auto_reversed", what="auto reversal")


# -- the serial transport layer ------------------------------------------------------------
def test_t1_expiry_inside_a_frame_is_naked(serial: tuple[Any, RawEcr]) -> None:
    emu, ecr = serial
    frame = encode_frame(build("status_enquiry", password=PASSWORD))
    ecr.port.write(frame[:5])
    assert ecr.control(1.0) == NAK_BYTE  # T1 is 0.05 s here
    assert emu.device.counters["t1_expired"] == 1
    assert codes(ecr.status_enquiry())[-1] == COMPLETION


def test_noise_and_bad_crc_from_the_ecr_are_naked(serial: tuple[Any, RawEcr]) -> None:
    emu, ecr = serial
    ecr.port.write(b"\x00\x42\x99")
    assert ecr.control(1.0) == NAK_BYTE
    frame = encode_frame(build("status_enquiry", password=PASSWORD))
    ecr.port.write(frame[:-1] + bytes([frame[-1] ^ 1]))
    assert ecr.control(1.0) == NAK_BYTE
    assert ecr.quiet(0.1) == b""  # a bad frame is never processed
    counters = emu.device.counters
    assert counters["noise_bytes"] == 3 and counters["bad_frames"] == 1
    assert codes(ecr.status_enquiry())[-1] == COMPLETION


def test_terminal_repeats_on_nak_and_gives_up_after_two_repeats(
    serial: tuple[Any, RawEcr],
) -> None:
    emu, ecr = serial
    ecr.auto_ack = False
    ecr.send(build("status_enquiry", password=PASSWORD))
    first = ecr.receive()
    ecr.port.write(bytes([NAK_BYTE]))
    assert ecr.receive() == first  # repeated at once after the NAK
    ecr.port.write(bytes([ACK_BYTE]))
    completion = ecr.receive()
    assert completion.code == COMPLETION
    # never acknowledged: two repeats after T2 (0.5 s here), then the terminal gives up
    assert ecr.receive(timeout=1.5) == completion
    assert ecr.receive(timeout=1.5) == completion
    assert ecr.quiet(0.7) == b""
    assert emu.device.wait_idle(2)
    assert emu.device.counters["transmissions_failed"] == 1
    ecr.auto_ack = True
    assert codes(ecr.status_enquiry())[-1] == COMPLETION
