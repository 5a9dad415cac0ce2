"""The emulated ZVT terminal's application protocol, over a real pty and a real socket.

A raw ECR (tests/support/raw_ecr.py, the shared codec and nothing of the driver)
sends commands and checks every byte-level answer: registration, config byte, payments
and their status information, declines, limits, refunds, reversals, the reservation
family, end-of-day, repeat receipt, and the commit rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from posdriver.terminal.zvt.apdu import Apdu, nack
from posdriver.terminal.zvt.bmp import MaskedPan, Redacted
from posdriver.terminal.zvt.messages import (
    ABORT,
    COMPLETION,
    PRINT_LINE,
    build,
    parse_abort,
    parse_print_line,
    parse_status_completion,
    parse_text_block,
    permitted_commands,
)
from posdriver.terminal.zvt.messages import INTERMEDIATE_STATUS as INTERMEDIATE
from posdriver.terminal.zvt.messages import PRINT_TEXT_BLOCK as TEXT_BLOCK
from posdriver.terminal.zvt.messages import STATUS_INFORMATION as STATUS
from posdriver.terminal.zvt.tlv import find
from tests.support.raw_ecr import (
    EUR,
    PASSWORD,
    TEXT_BLOCKS,
    RawEcr,
    codes,
    fields,
    running,
    sale,
)


@pytest.fixture(params=["pty", "tcp"])
def link(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def term(link: str, tmp_path: Any) -> Iterator[tuple[Any, RawEcr]]:
    with running(link, tmp_path) as pair:
        yield pair


@pytest.fixture
def registered(term: tuple[Any, RawEcr]) -> tuple[Any, RawEcr]:
    emu, ecr = term
    assert codes(ecr.register(tlv=TEXT_BLOCKS))[-1] == COMPLETION
    assert emu.device.wait_idle(2)  # our last answer has reached the terminal
    return emu, ecr


def only(messages: list[Apdu], code: tuple[int, int]) -> list[Apdu]:
    return [m for m in messages if m.code == code]


# -- registration ---------------------------------------------------------------------------
def test_registration_with_the_password(term: tuple[Any, RawEcr]) -> None:
    emu, ecr = term
    messages = ecr.register(tlv=TEXT_BLOCKS)
    assert codes(messages) == [(0x80, 0x00), COMPLETION]
    assert fields(messages[1]) == {0x19: 0x00, 0x29: "52500038", 0x49: EUR}
    state = emu.device.state()
    assert state["registered"] and state["config_byte"] == 0xBE and state["tlv_allowed"]


def test_wrong_password_and_unregistered_commands_are_refused(term: tuple[Any, RawEcr]) -> None:
    emu, ecr = term
    assert ecr.register(password="654321") == [nack(0x9A)]
    assert not emu.device.state()["registered"]
    assert ecr.run(sale(100)) == [nack(0x6B)]
    # Status Enquiry needs no registration
    assert codes(ecr.status_enquiry()) == [(0x80, 0x00), COMPLETION]
    assert emu.device.ledger() == []


def test_configured_password_is_the_one_checked(tmp_path: Any) -> None:
    with running("tcp", tmp_path, password="000000") as (_, ecr):
        assert ecr.register() == [nack(0x9A)]
        assert codes(ecr.register(password="000000"))[-1] == COMPLETION


def test_unknown_and_malformed_commands(term: tuple[Any, RawEcr]) -> None:
    emu, ecr = term
    assert ecr.run(Apdu(0x06, 0x99, b"\x01")) == [nack(0x83)]
    assert ecr.run(Apdu(0x0F, 0x01)) == [nack(0x83)]
    # a known command whose BMP list does not decode (unknown BMP FE)
    assert ecr.run(Apdu(0x05, 0x01, bytes.fromhex("123456fe00"))) == [nack(0x9A)]
    assert emu.device.counters["unknown_commands"] == 2


def test_registration_with_a_foreign_currency_is_aborted_6f(term: tuple[Any, RawEcr]) -> None:
    emu, ecr = term
    messages = ecr.register(currency=840)
    assert codes(messages) == [(0x80, 0x00), ABORT]
    assert parse_abort(messages[1].data).result_code == 0x6F
    assert not emu.device.state()["registered"]


def test_log_off_ends_the_registration(registered: tuple[Any, RawEcr]) -> None:
    emu, ecr = registered
    assert ecr.run(build("log_off")) == [Apdu(0x80, 0x00)]
    assert not emu.device.state()["registered"]
    assert ecr.run(sale(100)) == [nack(0x6B)]


def test_status_enquiry_software_version_and_service_byte(registered: tuple[Any, RawEcr]) -> None:
    _, ecr = registered
    completion = parse_status_completion(ecr.status_enquiry()[-1].data)
    assert completion.status == 0x00 and completion.software == "posdriver-emulator ZVT 1.0"
    completion = parse_status_completion(ecr.status_enquiry({0x03: 0x02})[-1].data)
    assert completion.software is None


# -- the config byte -------------------------------------------------------------------------
def test_text_block_receipts_and_intermediate_status_when_asked(
    registered: tuple[Any, RawEcr],
) -> None:
    _, ecr = registered
    messages = ecr.run(sale(1250))
    assert codes(messages) == [
        (0x80, 0x00),
        INTERMEDIATE,
        STATUS,
        TEXT_BLOCK,
        TEXT_BLOCK,
        COMPLETION,
    ]
    merchant, customer = (parse_text_block(m.data) for m in only(messages, TEXT_BLOCK))
    assert merchant.receipt_type == "merchant" and customer.receipt_type == "customer"
    text = "\n".join(customer.lines)
    assert "CARD PAYMENT" in text and "12.50 EUR" in text and "APPROVED" in text
    assert "476173******0119" in text and "4761730000000119" not in text
    assert customer.lines[-1] == "CUSTOMER COPY"


def test_print_lines_when_text_blocks_are_not_permitted(term: tuple[Any, RawEcr]) -> None:
    _, ecr = term
    ecr.register(config=0x8A, tlv=[permitted_commands([(0x06, 0xD1)])])
    messages = ecr.run(sale(500))
    lines = [parse_print_line(m.data) for m in only(messages, PRINT_LINE)]
    assert not only(messages, TEXT_BLOCK)
    assert sum(line.last_line for line in lines) == 2  # two receipts, each ends once
    assert lines[-1].text == "CUSTOMER COPY" and lines[-1].last_line
    assert "5.00 EUR" in [line.text for line in lines][7]


def test_no_receipts_and_no_intermediate_status_unless_asked(term: tuple[Any, RawEcr]) -> None:
    _, ecr = term
    ecr.register(config=0x06, tlv=TEXT_BLOCKS)  # ECR prints, but from the 04 0F fields
    assert codes(ecr.run(sale(500))) == [(0x80, 0x00), STATUS, COMPLETION]


# -- payments ------------------------------------------------------------------------------
def test_approved_sale_status_information_field_by_field(registered: tuple[Any, RawEcr]) -> None:
    emu, ecr = registered
    before = datetime.now()
    messages = ecr.run(sale(1250))
    status = only(messages, STATUS)[0]
    info = fields(status)
    assert list(info) == [
        0x27, 0x04, 0x0B, 0x0C, 0x0D, 0x0E, 0x17, 0x19, 0x22, 0x29, 0x2A, 0x3B, 0x49, 0x87,
        0x88, 0x8A, 0x8B,
    ]  # fmt: skip
    assert info[0x27] == 0x00 and info[0x04] == 1250 and info[0x0B] == 1
    hh, mm, ss = (int(info[0x0C][i : i + 2]) for i in (0, 2, 4))
    sent = before.replace(hour=hh, minute=mm, second=ss, microsecond=0)
    assert -2 <= (sent - before).total_seconds() <= 5
    assert info[0x0D] == before.strftime("%m%d")
    assert info[0x0E] == Redacted(2) and info[0x17] == 1 and info[0x19] == 0x60
    assert info[0x22] == MaskedPan("0119")
    assert bytes.fromhex("22f0f8476173eeeeee0119") in status.data  # sent masked
    assert info[0x29] == "52500038" and info[0x2A] == "470067012345678"
    assert len(info[0x3B]) == 6 and info[0x3B].isdigit()
    assert info[0x49] == EUR and info[0x87] == 1 and info[0x88] == 1
    assert info[0x8A] == 10 and info[0x8B] == "Visa"
    [entry] = emu.device.ledger()
    assert entry["kind"] == "payment" and entry["state"] == "charged"
    assert (entry["amount"], entry["currency"], entry["trace"], entry["receipt_no"]) == (
        1250,
        "EUR",
        1,
        1,
    )
    assert entry["card"] == "476173EEEEEE0119" and entry["result_code"] == 0
    assert entry["approval_code"] == info[0x3B]
    # numbering goes on
    info2 = fields(only(ecr.run(sale(300)), STATUS)[0])
    assert (info2[0x0B], info2[0x87], info2[0x88]) == (2, 2, 2)


def test_full_pan_when_configured(tmp_path: Any) -> None:
    with running("tcp", tmp_path, full_pan=True) as (emu, ecr):
        ecr.register(config=0x06)
        status = only(ecr.run(sale(100)), STATUS)[0]
        assert bytes.fromhex("4761730000000119") in status.data
        assert emu.device.ledger()[0]["card"] == "476173EEEEEE0119"  # the ledger stays masked


@pytest.mark.parametrize(
    ("card", "code"), [("declined", 0x05), ("insufficient", 0x71), ("expired", 0x78)]
)
def test_declined_cards(registered: tuple[Any, RawEcr], card: str, code: int) -> None:
    emu, ecr = registered
    emu.device.select_card(card)
    messages = ecr.run(sale(2000))
    assert codes(messages)[-1] == ABORT and parse_abort(messages[-1].data).result_code == code
    info = fields(only(messages, STATUS)[0])
    assert info[0x27] == code and info[0x04] == 2000 and 0x3B not in info
    blocks = [parse_text_block(m.data) for m in only(messages, TEXT_BLOCK)]
    assert blocks and "DECLINED" in blocks[0].lines
    [entry] = emu.device.ledger()
    assert entry["state"] == "declined" and entry["result_code"] == code


def test_payment_in_a_foreign_currency_is_accepted_then_aborted_6f(
    registered: tuple[Any, RawEcr],
) -> None:
    emu, ecr = registered
    messages = ecr.run(build("authorisation", bmps={0x04: 100, 0x49: 840}))
    assert codes(messages)[0] == (0x80, 0x00)
    assert parse_abort(messages[-1].data).result_code == 0x6F
    assert emu.device.ledger() == []


# -- limits ------------------------------------------------------------------------------
def limit_text(message: Apdu) -> tuple[int, int, str]:
    abort = parse_abort(message.data)
    items = abort.fields[0x06]
    code = find(items, 0x1F16)
    text = find(items, 0x1F17)
    assert code is not None and text is not None
    return abort.result_code, int.from_bytes(code.value, "big"), text.value.decode()


def test_limits_answer_c3_and_name_the_limit(registered: tuple[Any, RawEcr]) -> None:
    emu, ecr = registered
    over = ecr.run(sale(500_001))
    assert limit_text(over[-1]) == (0xC3, 1, "transaction limit 5000.00 EUR")
    assert codes(ecr.run(sale(500_000)))[-1] == COMPLETION  # the maximum itself is allowed
    refund = build("refund", password=PASSWORD, bmps={0x04: 50_001})
    assert limit_text(ecr.run(refund)[-1]) == (0xC3, 2, "refund limit 500.00 EUR")
    for _ in range(2):
        ok = ecr.run(build("refund", password=PASSWORD, bmps={0x04: 40_000}))
        assert codes(ok)[-1] == COMPLETION
    capped = ecr.run(build("refund", password=PASSWORD, bmps={0x04: 30_000}))
    assert limit_text(capped[-1]) == (0xC3, 3, "daily refund cap 1000.00 EUR (800.00 EUR used)")
    kinds = [(e["kind"], e["amount"]) for e in emu.device.ledger()]
    assert kinds == [("payment", 500_000), ("refund", 40_000), ("refund", 40_000)]


def test_limit_text_needs_tlv_permission(term: tuple[Any, RawEcr]) -> None:
    _, ecr = term
    ecr.register(config=0x06)  # no BMP 06 in the registration: no TLV from the terminal
    last = ecr.run(sale(600_000))[-1]
    assert parse_abort(last.data) == parse_abort(bytes([0xC3]))


# -- refunds, reversals, reservations ----------------------------------------------------
def test_refund_and_reversal(registered: tuple[Any, RawEcr]) -> None:
    emu, ecr = registered
    ecr.run(sale(1000))
    ecr.run(sale(2000))
    refund = ecr.run(build("refund", password=PASSWORD, bmps={0x04: 700}))
    assert fields(only(refund, STATUS)[0])[0x87] == 3
    reversal = ecr.run(build("reversal", password=PASSWORD, bmps={0x87: 1}))
    info = fields(only(reversal, STATUS)[0])
    assert info[0x04] == 1000 and info[0x37] == 1 and info[0x87] == 4
    assert codes(reversal)[-1] == COMPLETION
    again = ecr.run(build("reversal", password=PASSWORD, bmps={0x87: 1}))
    assert parse_abort(again[-1].data).result_code == 0xB4
    unknown = ecr.run(build("reversal", password=PASSWORD, bmps={0x87: 99}))
    assert parse_abort(unknown[-1].data).result_code == 0xB5
    states = [(e["kind"], e["receipt_no"], e["state"]) for e in emu.device.ledger()]
    assert states == [
        ("payment", 1, "reversed"),
        ("payment", 2, "charged"),
        ("refund", 3, "refunded"),
        ("reversal", 4, "reversed"),
    ]
    assert emu.device.ledger()[3]["original_receipt_no"] == 1


def test_reservation_family(registered: tuple[Any, RawEcr]) -> None:
    emu, ecr = registered
    enquiry = build("partial_reversal", bmps={0x87: None})
    assert enquiry.data == bytes.fromhex("87ffff")

    def open_one() -> int | None:
        result = parse_abort(ecr.run(enquiry)[-1].data)
        assert result.result_code == 0xB8
        return result.fields[0x87]  # type: ignore[no-any-return]

    assert open_one() is None
    for amount in (30_000, 20_000, 10_000):
        assert codes(ecr.run(build("pre_authorisation", bmps={0x04: amount})))[-1] == COMPLETION
    assert open_one() == 1
    # book 250.00 of the 300.00 reservation; the rest is released
    booked = ecr.run(build("partial_reversal", bmps={0x87: 1, 0x04: 25_000}))
    assert fields(only(booked, STATUS)[0])[0x04] == 25_000
    assert open_one() == 2
    too_much = ecr.run(build("book_total", bmps={0x87: 2, 0x04: 20_001}))
    assert parse_abort(too_much[-1].data).result_code == 0xB7
    assert codes(ecr.run(build("book_total", bmps={0x87: 2})))[-1] == COMPLETION
    released = ecr.run(build("pre_auth_reversal", bmps={0x87: 3}))
    assert fields(only(released, STATUS)[0])[0x04] == 10_000
    assert open_one() is None
    gone = ecr.run(build("book_total", bmps={0x87: 3}))
    assert parse_abort(gone[-1].data).result_code == 0xB8
    ledger = [(e["kind"], e["amount"], e["state"]) for e in emu.device.ledger()]
    assert ledger == [
        ("pre_auth", 30_000, "booked"),
        ("pre_auth", 20_000, "booked"),
        ("pre_auth", 10_000, "pre_auth_reversed"),
        ("booking", 25_000, "booked"),
        ("booking", 20_000, "booked"),
        ("pre_auth_reversal", 10_000, "pre_auth_reversed"),
    ]


# -- end of day and repeat receipt ------------------------------------------------------
def test_end_of_day_totals_close_the_batch(registered: tuple[Any, RawEcr]) -> None:
    emu, ecr = registered
    ecr.run(sale(1000))
    emu.device.select_card("mastercard")
    ecr.run(sale(2500))
    ecr.run(build("refund", password=PASSWORD, bmps={0x04: 500}))
    messages = ecr.run(build("end_of_day", password=PASSWORD))
    info = fields(only(messages, STATUS)[0])
    assert info[0x27] == 0 and info[0x04] == 3000  # 10.00 + 25.00 - 5.00
    totals = info[0x60]
    assert totals[:4] == bytes.fromhex("00010003")  # receipts 1..3
    slots = [totals[4 + 7 * i : 11 + 7 * i] for i in range(7)]
    assert slots[2] == bytes.fromhex("01000000002500")  # Eurocard / Mastercard
    assert slots[4] == bytes.fromhex("01000000001000")  # Visa
    admin = [parse_text_block(m.data) for m in only(messages, TEXT_BLOCK)]
    assert [b.receipt_type for b in admin] == ["administration"]
    assert "TOTAL 30.00 EUR" in admin[0].lines
    # the batch is closed: its payments can no longer be reversed; the next day starts at 0
    late = ecr.run(build("reversal", password=PASSWORD, bmps={0x87: 1}))
    assert parse_abort(late[-1].data).result_code == 0xB5
    again = fields(only(ecr.run(build("end_of_day", password=PASSWORD)), STATUS)[0])
    assert again[0x04] == 0
    assert {e["batch"] for e in emu.device.ledger()} == {1}


def test_repeat_receipt(registered: tuple[Any, RawEcr]) -> None:
    emu, ecr = registered
    nothing = ecr.run(build("repeat_receipt", password=PASSWORD, bmps={0x03: 0x01}))
    assert parse_abort(nothing[-1].data).result_code == 0x83
    first = only(ecr.run(sale(4200)), STATUS)[0]
    repeat = ecr.run(build("repeat_receipt", password=PASSWORD, bmps={0x03: 0x01}))
    assert codes(repeat) == [(0x80, 0x00), STATUS, TEXT_BLOCK, TEXT_BLOCK, COMPLETION]
    assert only(repeat, STATUS)[0] == first  # the same status information
    assert "DUPLICATE" in parse_text_block(only(repeat, TEXT_BLOCK)[0].data).lines[-1]
    # without the service byte: receipts only
    lines_only = ecr.run(build("repeat_receipt", password=PASSWORD))
    assert codes(lines_only) == [(0x80, 0x00), TEXT_BLOCK, TEXT_BLOCK, COMPLETION]
    # "don't print": the status information only
    no_print = ecr.run(build("repeat_receipt", password=PASSWORD, bmps={0x03: 0x03}))
    assert codes(no_print) == [(0x80, 0x00), STATUS, COMPLETION]
    assert emu.device.ledger()[0]["state"] == "charged"


def test_only_the_last_transaction_keeps_its_status_information(
    registered: tuple[Any, RawEcr],
) -> None:
    emu, ecr = registered
    infos = [only(ecr.run(sale(100 + n)), STATUS)[0] for n in range(5)]
    kept = [e.trace for e in emu.device.ledger_book if e._status]
    assert kept == [5]  # what Repeat Receipt repeats; the other four let it go
    repeat = ecr.run(build("repeat_receipt", password=PASSWORD, bmps={0x03: 0x01}))
    assert only(repeat, STATUS)[0] == infos[-1]


# -- what the ledger keeps ---------------------------------------------------------------
def test_a_full_batch_takes_nothing_more_until_end_of_day(link: str, tmp_path: Any) -> None:
    with running(link, tmp_path, batch_capacity=3) as (emu, ecr):
        assert codes(ecr.register(tlv=TEXT_BLOCKS))[-1] == COMPLETION
        for amount in (1000, 2000):
            assert codes(ecr.run(sale(amount)))[-1] == COMPLETION
        declined = ecr.run(sale(300_000_00))  # over the limit: refused before the batch
        assert parse_abort(declined[-1].data).result_code == 0xC3
        emu.device.select_card("declined")
        assert codes(ecr.run(sale(500)))[-1] == ABORT  # a decline is in the batch too
        emu.device.select_card("visa")
        full = ecr.run(sale(700))
        assert codes(full) == [(0x80, 0x00), INTERMEDIATE, ABORT]
        assert parse_abort(full[-1].data).result_code == 0xB2  # merchant journal full
        refund = ecr.run(build("refund", password=PASSWORD, bmps={0x04: 100}))
        assert parse_abort(refund[-1].data).result_code == 0xB2
        assert parse_status_completion(ecr.status_enquiry()[-1].data).status == 0xB2
        assert [e["amount"] for e in emu.device.ledger()] == [1000, 2000, 500]
        assert emu.device.state()["counters"]["journal_full_refusals"] == 2
        day = fields(only(ecr.run(build("end_of_day", password=PASSWORD)), STATUS)[0])
        assert day[0x04] == 3000  # every transaction of the full batch is in its totals
        assert codes(ecr.run(sale(700)))[-1] == COMPLETION
        assert parse_status_completion(ecr.status_enquiry()[-1].data).status == 0x00


def test_closed_batches_keep_only_their_newest_entries(link: str, tmp_path: Any) -> None:
    with running(link, tmp_path, ledger_history=2) as (emu, ecr):
        assert codes(ecr.register(tlv=TEXT_BLOCKS))[-1] == COMPLETION
        for amount in (100, 200, 300):
            ecr.run(sale(amount))
        ecr.run(build("end_of_day", password=PASSWORD))
        for amount in (400, 500, 600):
            ecr.run(sale(amount))
        ledger = [(e["batch"], e["amount"]) for e in emu.device.ledger()]
        assert ledger == [(1, 200), (1, 300), (2, 400), (2, 500), (2, 600)]  # open batch whole
        ecr.run(build("end_of_day", password=PASSWORD))
        assert [(e["batch"], e["amount"]) for e in emu.device.ledger()] == [(2, 500), (2, 600)]
        state = emu.device.state()
        assert (state["ledger_entries"], state["batch_entries"], state["batch"]) == (2, 0, 3)


def test_the_ledger_keeps_at_least_the_last_transaction() -> None:
    from posdriver_emulator.terminal import TerminalConfig, TerminalEmulator

    with pytest.raises(ValueError, match=r"ledger_history must be at least 1 \(Repeat"):
        TerminalEmulator(TerminalConfig(ledger_history=0))
    with pytest.raises(ValueError, match="batch_capacity must be at least 1, got 0"):
        TerminalEmulator(TerminalConfig(batch_capacity=0))


# -- the commit rule ---------------------------------------------------------------------
def test_unacknowledged_status_information_is_auto_reversed(
    registered: tuple[Any, RawEcr],
) -> None:
    emu, ecr = registered
    assert ecr.command(sale(900)).is_ack
    assert ecr.receive().code == INTERMEDIATE
    ecr.answer()
    status = ecr.receive()
    assert status.code == STATUS  # ... and the ECR never answers it
    last = ecr.receive(timeout=3)  # status_ack_timeout is 0.5 s here
    assert parse_abort(last.data).result_code == 0x6C
    ecr.answer()
    [entry] = emu.device.ledger()
    assert entry["state"] == "auto_reversed" and entry["receipt_no"] == 1
    repeat = ecr.run(build("repeat_receipt", password=PASSWORD, bmps={0x03: 0x01}))
    assert fields(only(repeat, STATUS)[0])[0x27] == 0xB4  # already reversed


def test_bmp_01_sets_the_status_ack_timeout(registered: tuple[Any, RawEcr]) -> None:
    emu, ecr = registered
    assert ecr.command(sale(900, {0x01: 1})).is_ack  # BMP 01 = 1 s
    ecr.receive()
    ecr.answer()
    assert ecr.receive().code == STATUS
    assert ecr.quiet(0.7) == b""  # past the configured 0.5 s: still waiting
    assert emu.device.ledger()[0]["state"] == "charged"
    assert parse_abort(ecr.receive(timeout=2).data).result_code == 0x6C
    assert emu.device.ledger()[0]["state"] == "auto_reversed"


def test_not_yet_makes_the_terminal_resend(registered: tuple[Any, RawEcr]) -> None:
    emu, ecr = registered
    assert ecr.command(sale(1500)).is_ack
    ecr.receive()
    ecr.answer()
    first = ecr.receive()
    ecr.answer(Apdu(0x84, 0x9C))  # not yet
    second = ecr.receive()
    assert second == first  # resent after the resend delay
    ecr.answer()
    rest = [ecr.receive()]
    while rest[-1].code != COMPLETION:
        ecr.answer()
        rest.append(ecr.receive())
    ecr.answer()
    assert emu.device.ledger()[0]["state"] == "charged"
    assert emu.device.counters["status_resends"] == 1


def test_not_yet_too_often_reverses(registered: tuple[Any, RawEcr]) -> None:
    emu, ecr = registered
    assert ecr.command(sale(1500, {0x02: 1})).is_ack  # BMP 02: at most one resend
    ecr.receive()
    ecr.answer()
    assert ecr.receive().code == STATUS
    ecr.answer(Apdu(0x84, 0x9C))
    assert ecr.receive().code == STATUS
    ecr.answer(Apdu(0x84, 0x9C))
    final = ecr.receive()
    assert final.code == STATUS and fields(final) == {0x27: 0x6C}
    ecr.answer()
    assert parse_abort(ecr.receive().data).result_code == 0x6C
    ecr.answer()
    assert emu.device.ledger()[0]["state"] == "auto_reversed"


def test_negative_answer_reverses(registered: tuple[Any, RawEcr]) -> None:
    emu, ecr = registered
    assert ecr.command(sale(1500)).is_ack
    ecr.receive()
    ecr.answer()
    assert ecr.receive().code == STATUS
    ecr.answer(Apdu(0x84, 0x66))
    assert parse_abort(ecr.receive().data).result_code == 0x6C
    ecr.answer()
    assert emu.device.ledger()[0]["state"] == "auto_reversed"


def _finish(ecr: RawEcr) -> list[Apdu]:
    """Acknowledge everything up to and including the Completion; what came."""
    rest = [ecr.receive()]
    while rest[-1].code not in (COMPLETION, ABORT):
        ecr.answer()
        rest.append(ecr.receive())
    ecr.answer()
    return rest


def test_partial_issue_of_goods_books_the_smaller_amount(registered: tuple[Any, RawEcr]) -> None:
    emu, ecr = registered
    assert ecr.command(sale(1500)).is_ack
    ecr.receive()
    ecr.answer()
    assert fields(ecr.receive())[0x04] == 1500
    ecr.answer(Apdu(0x84, 0x9D, bytes.fromhex("04 000000000900")))  # 9.00 issued
    rest = _finish(ecr)
    assert rest[-1].code == COMPLETION
    [entry] = emu.device.ledger()
    assert entry["state"] == "charged" and entry["amount"] == 900
    assert emu.device.counters["partial_issues"] == 1
    texts = "\n".join(find_lines(m) for m in only(rest, TEXT_BLOCK))
    assert "9.00" in texts and "15.00" not in texts
    repeat = ecr.run(build("repeat_receipt", password=PASSWORD, bmps={0x03: 0x01}))
    again = fields(only(repeat, STATUS)[0])
    assert again[0x04] == 900 and again[0x27] == 0x00


@pytest.mark.parametrize("data", ["", "04 000000001600", "04 000000000000", "04 0000"])
def test_partial_issue_without_a_bookable_amount_reverses(
    registered: tuple[Any, RawEcr], data: str
) -> None:
    emu, ecr = registered
    assert ecr.command(sale(1500)).is_ack
    ecr.receive()
    ecr.answer()
    assert ecr.receive().code == STATUS
    ecr.answer(Apdu(0x84, 0x9D, bytes.fromhex(data)))
    assert parse_abort(ecr.receive().data).result_code == 0x6C
    ecr.answer()
    [entry] = emu.device.ledger()
    assert entry["state"] == "auto_reversed" and entry["amount"] == 1500


def find_lines(message: Apdu) -> str:
    return "\n".join(parse_text_block(message.data).lines)


def test_a_new_command_instead_of_the_answer_reverses_and_runs(
    registered: tuple[Any, RawEcr],
) -> None:
    emu, ecr = registered
    assert ecr.command(sale(1500)).is_ack
    ecr.receive()
    ecr.answer()
    assert ecr.receive().code == STATUS
    # the ECR gives up on this payment and asks for the terminal's status instead
    assert codes(ecr.status_enquiry()) == [(0x80, 0x00), COMPLETION]
    assert emu.device.ledger()[0]["state"] == "auto_reversed"


def test_abort_while_waiting_for_the_host(tmp_path: Any) -> None:
    with running("tcp", tmp_path, slow_host_delay=5.0) as (emu, ecr):
        ecr.register(tlv=TEXT_BLOCKS)
        emu.set_fault("slow_host")
        assert ecr.command(sale(1000)).is_ack
        assert ecr.receive().code == INTERMEDIATE  # insert card
        ecr.answer()
        assert fields_status(ecr.receive()) == 0x04  # waiting for the host
        ecr.answer()
        ecr.write_apdu(build("abort"))
        seen = ecr.receive()
        while seen.code == INTERMEDIATE:  # one may have been under way
            ecr.answer()
            seen = ecr.receive()
        assert seen == Apdu(0x80, 0x00)
        last = ecr.receive()
        assert parse_abort(last.data).result_code == 0x6C
        ecr.answer()
        assert emu.device.ledger() == []


def fields_status(message: Apdu) -> int:
    assert message.code == INTERMEDIATE
    return message.data[0]
