"""What the terminal does with each ECR command (PA00P015 §2), one handler per command.

:func:`run_command` applies the checks every command meets first, in this order:

1. an answer (80 xx / 84 xx) while idle is counted and ignored;
2. ``busy``: ``84 A0 00`` ("receiver not ready") to every command, nothing accepted;
3. an unknown class/instruction: ``84 83 00``; a known one whose data does not decode
   (bad BMP, bad BCD): ``84 9A 00`` (ZVT protocol error);
4. not registered: ``84 6B 00`` for everything but Registration, Status Enquiry and
   Log-Off;
5. a wrong password: ``84 9A 00``.

Money commands (payment, refund, reversal, the reservation family) then run through the
same steps: accept (80 00 00, or a hang-up under ``drop_before_accept``), intermediate
status, the terminal's checks (card in the reader, initialisation, currency, limits), the
host (slow or unreachable), then status information under the commit rule
(:meth:`.session.Session.commit`), receipts, and Completion. Until the status information
is sent, an Abort from the ECR (06 B0) ends the transaction with ``06 1E 6C``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from .cards import LIMIT_CODES, MAX_AMOUNT_EXCEEDED, Card, format_minor, issuer_result
from .ledger import (
    BOOKING,
    PAYMENT,
    PRE_AUTH,
    PRE_AUTH_REVERSAL,
    REFUND,
    REVERSAL,
    STANDING_STATE,
    Entry,
)
from .receipts import (
    approval_code,
    end_of_day_receipt,
    individual_totals,
    net_total,
    status_fields,
    transaction_receipt,
    with_result,
)
from .session import EcrAbort, LinkLost, NoAnswer, Session
from .zvt.apdu import Apdu, CodecError, nack
from .zvt.fields import encode_fields
from .zvt.messages import (
    REPEAT_DONT_PRINT,
    REPEAT_SEND_STATUS,
    UnknownCommand,
    parse_command,
    permitted_commands,
    status_completion,
)

if TYPE_CHECKING:
    from .model import TerminalEmulator

NO_REGISTRATION_NEEDED = ("registration", "status_enquiry", "log_off")

# result codes
PROTOCOL_ERROR = 0x9A
NOT_REGISTERED = 0x6B
UNKNOWN_COMMAND = 0x83
FUNCTION_NOT_POSSIBLE = 0x83
RECEIVER_NOT_READY = 0xA0
WRONG_CURRENCY = 0x6F
NO_CONNECTION = 0xA3
CARD_INSERTED = 0xDC
JOURNAL_FULL = 0xB2
OUT_OF_ORDER = 0xDF
ABORTED = 0x6C
ALREADY_REVERSED = 0xB4
REVERSAL_NOT_POSSIBLE = 0xB5
PRE_AUTH_AMOUNT_WRONG = 0xB7
PRE_AUTH_ERROR = 0xB8
AMOUNT_TOO_SMALL = 0xC8

# intermediate status
INSERT_CARD = 0x0A
WAITING_FOR_HOST = 0x04
PLEASE_WAIT = 0x0E


def run_command(t: TerminalEmulator, apdu: Apdu) -> None:
    """Run one APDU from the ECR (called by the worker with the lock held)."""
    counters = t.counters
    if apdu.cls in (0x80, 0x84):
        counters["stray_answers"] += 1
        return
    counters["commands"] += 1
    t.phase = "command"
    if "busy" in t.active_faults:
        counters["refused_busy"] += 1
        t.wire.transmit(nack(RECEIVER_NOT_READY))
        return
    try:
        command = parse_command(apdu)
    except UnknownCommand:
        counters["unknown_commands"] += 1
        t.wire.transmit(nack(UNKNOWN_COMMAND))
        return
    except CodecError:
        counters["malformed_commands"] += 1
        t.wire.transmit(nack(PROTOCOL_ERROR))
        return
    t.phase = command.name
    if not t.registered and command.name not in NO_REGISTRATION_NEEDED:
        counters["refused_unregistered"] += 1
        t.wire.transmit(nack(NOT_REGISTERED))
        return
    if command.password is not None and command.password != t.config.password:
        counters["wrong_password"] += 1
        t.wire.transmit(nack(PROTOCOL_ERROR))
        return
    HANDLERS[command.name](Session(t, command))


# -- administration ------------------------------------------------------------------------
def registration(s: Session) -> None:
    t, command = s.t, s.command
    if command.config is None:
        s.refuse(PROTOCOL_ERROR)
        return
    s.accept()
    if command.currency is not None and command.currency != t.currency_code:
        s.abort(WRONG_CURRENCY)
        return
    t.registered = True
    t.ecr_config = command.config
    t.tlv_allowed = 0x06 in s.fields
    t.permitted = permitted_commands(command.tlv())
    t.counters["registrations"] += 1
    status = 0x01 if "init_required" in t.active_faults else 0x00
    fields: list[tuple[int, object]] = [(0x19, status), (0x29, t.config.terminal_id)]
    if command.currency is not None:
        fields.append((0x49, t.currency_code))
    s.complete(encode_fields(fields))


def log_off(s: Session) -> None:
    s.t._reset_registration()
    s.send(Apdu(0x80, 0x00))


def status_enquiry(s: Session) -> None:
    t = s.t
    service = s.fields.get(0x03, 0)
    s.accept()
    faults = t.active_faults
    status = 0xDC if "card_left" in faults else 0x51 if "init_required" in faults else 0x00
    if not status and t.ledger_book.full:
        status = JOURNAL_FULL  # "merchant journal full": End-of-Day clears it
    software = None if service & 0x02 else t.config.software
    s.finish(status_completion(status, software))


def abort(s: Session) -> None:
    s.refuse(FUNCTION_NOT_POSSIBLE)  # nothing is running that could be aborted


def diagnosis(s: Session) -> None:
    s.accept()
    s.intermediate(PLEASE_WAIT)
    if "host_unreachable" in s.t.active_faults:
        s.abort(NO_CONNECTION)
        return
    s.complete()


def initialisation(s: Session) -> None:
    t = s.t
    s.accept()
    s.intermediate(PLEASE_WAIT)
    if "host_unreachable" in t.active_faults:
        s.abort(NO_CONNECTION)
        return
    t.active_faults.discard("init_required")
    t.counters["initialisations"] += 1
    s.complete()


def end_of_day(s: Session) -> None:
    t = s.t
    s.accept()
    s.intermediate(PLEASE_WAIT)
    if "init_required" in t.active_faults:
        s.abort(OUT_OF_ORDER)
        return
    if not _host(s):
        return
    entries = t.ledger_book.batch_entries()
    trace, _ = t.next_numbers(receipt=False)
    when = datetime.now()
    fields: list[tuple[int, object]] = [
        (0x27, 0x00),
        (0x04, net_total(entries)),
        (0x0B, trace),
        (0x0C, when.strftime("%H%M%S")),
        (0x0D, when.strftime("%m%d")),
        (0x29, t.config.terminal_id),
        (0x49, t.currency_code),
        (0x60, individual_totals(entries)),
    ]
    t.ledger_book.close_batch()
    t.counters["end_of_days"] += 1
    s.exchange(s.status_information(fields))
    if s.wants_receipts(admin=True):
        s.print_receipt(end_of_day_receipt(entries, **_receipt_args(t), when=when), 3)
    s.complete()


def repeat_receipt(s: Session) -> None:
    t = s.t
    service = s.fields.get(0x03)
    s.accept()
    last = t.ledger_book.last()
    if last is None:
        s.abort(FUNCTION_NOT_POSSIBLE)
        return
    if service is not None and service & REPEAT_SEND_STATUS:
        result = last.result_code or (0x00 if last.stands else ALREADY_REVERSED)
        s.exchange(s.status_information(with_result(last._status, result)))
    if (service is None or not service & REPEAT_DONT_PRINT) and s.wants_receipts(admin=False):
        when = datetime.fromisoformat(last.at)
        for copy, kind in (("MERCHANT COPY - DUPLICATE", 1), ("CUSTOMER COPY - DUPLICATE", 2)):
            s.print_receipt(transaction_receipt(last, copy, **_receipt_args(t), when=when), kind)
    s.complete()


# -- money -----------------------------------------------------------------------------------
def authorisation(s: Session) -> None:
    _card_transaction(s, PAYMENT)


def pre_authorisation(s: Session) -> None:
    _card_transaction(s, PRE_AUTH)


def refund(s: Session) -> None:
    _card_transaction(s, REFUND)


def _card_transaction(s: Session, kind: str) -> None:
    """Payment, pre-authorisation or refund: a card is read and the host asked."""
    t = s.t
    amount = s.fields.get(0x04)
    if amount is None:
        s.refuse(PROTOCOL_ERROR)  # this terminal takes the amount from the ECR only
        return
    s.accept()
    s.abortable = True
    try:
        s.intermediate(INSERT_CARD)
        if not _checks(s, card=True) or not _within_limits(s, kind, amount) or not _host(s):
            return
    except EcrAbort:
        _aborted_by_ecr(s)
        return
    s.abortable = False
    card = t.card
    _run(s, _entry(t, kind, amount, card, issuer_result(card, kind)), card)


def reversal(s: Session) -> None:
    t = s.t
    receipt = s.fields.get(0x87)
    if receipt is None:
        s.refuse(PROTOCOL_ERROR)
        return
    s.accept()
    s.abortable = True
    try:
        s.intermediate(PLEASE_WAIT)
        if not _checks(s, card=False):
            return
        target = t.ledger_book.by_receipt(receipt, (PAYMENT,))
        if target is None or not target.stands:
            reversed_already = target is not None and target.state in ("reversed", "auto_reversed")
            s.abort(ALREADY_REVERSED if reversed_already else REVERSAL_NOT_POSSIBLE)
            return
        if s.fields.get(0x04, target.amount) != target.amount:
            s.abort(REVERSAL_NOT_POSSIBLE)
            return
        if not _host(s):
            return
    except EcrAbort:
        _aborted_by_ecr(s)
        return
    s.abortable = False
    _run_referring(s, REVERSAL, target, target.amount)


def partial_reversal(s: Session) -> None:
    """06 23: books ``04`` of a reservation and releases the rest; ``87 FF FF`` alone
    asks for an open reservation (answered 06 1E B8 87 <receipt no or FF FF>)."""
    t = s.t
    if 0x87 in s.fields and s.fields[0x87] is None and 0x04 not in s.fields:
        s.accept()
        open_ones = t.ledger_book.open_pre_auths()
        s.abort(PRE_AUTH_ERROR, {0x87: open_ones[0].receipt_no if open_ones else None})
        return
    _book(s, amount_required=True)


def book_total(s: Session) -> None:
    """06 24: books a reservation, for ``04`` if given, else for its whole amount."""
    _book(s, amount_required=False)


def _book(s: Session, amount_required: bool) -> None:
    receipt, amount = s.fields.get(0x87), s.fields.get(0x04)
    if receipt is None or (amount is None and amount_required):
        s.refuse(PROTOCOL_ERROR)
        return
    target = _reservation_step(s, receipt, amount)
    if target is not None:
        _run_referring(s, BOOKING, target, target.amount if amount is None else amount)


def pre_auth_reversal(s: Session) -> None:
    """06 25: releases a reservation."""
    receipt = s.fields.get(0x87)
    if receipt is None:
        s.refuse(PROTOCOL_ERROR)
        return
    target = _reservation_step(s, receipt, None)
    if target is not None:
        _run_referring(s, PRE_AUTH_REVERSAL, target, target.amount)


def _reservation_step(s: Session, receipt: int, amount: int | None) -> Entry | None:
    """Accept, check and ask the host for a command on an open reservation; ``amount``
    (what is to be booked) may not exceed what was reserved."""
    t = s.t
    s.accept()
    s.abortable = True
    try:
        s.intermediate(PLEASE_WAIT)
        if not _checks(s, card=False):
            return None
        target = t.ledger_book.by_receipt(receipt, (PRE_AUTH,))
        if target is None or target.state != "pre_authorised":
            s.abort(PRE_AUTH_ERROR)
            return None
        if amount is not None and not 0 < amount <= target.amount:
            s.abort(PRE_AUTH_AMOUNT_WRONG)
            return None
        if not _host(s):
            return None
    except EcrAbort:
        _aborted_by_ecr(s)
        return None
    s.abortable = False
    return target


# -- steps shared by the money commands -------------------------------------------------------
def _aborted_by_ecr(s: Session) -> None:
    s.abortable = False
    s.send(Apdu(0x80, 0x00))  # the Abort itself is accepted
    s.abort(ABORTED)


def _checks(s: Session, card: bool) -> bool:
    """Currency, card in the reader, initialisation, room in the batch; False after
    sending 06 1E."""
    t = s.t
    currency = s.fields.get(0x49)
    if currency is not None and currency != t.currency_code:
        s.abort(WRONG_CURRENCY)
        return False
    if card and "card_left" in t.active_faults:
        s.abort(CARD_INSERTED)
        return False
    if "init_required" in t.active_faults:
        s.abort(OUT_OF_ORDER)
        return False
    if t.ledger_book.full:
        t.counters["journal_full_refusals"] += 1
        s.abort(JOURNAL_FULL)
        return False
    return True


def _within_limits(s: Session, kind: str, amount: int) -> bool:
    t = s.t
    if amount <= 0:
        s.abort(AMOUNT_TOO_SMALL)
        return False
    limits, currency = t.config.limits, t.config.currency
    breach: tuple[str, str] | None = None
    if kind in (PAYMENT, PRE_AUTH) and amount > limits.max_transaction:
        breach = (
            "transaction",
            f"transaction limit {format_minor(limits.max_transaction, currency)}",
        )
    elif kind == REFUND and amount > limits.max_refund:
        breach = "refund", f"refund limit {format_minor(limits.max_refund, currency)}"
    elif kind == REFUND and t.refunded_today() + amount > limits.daily_refund_cap:
        used = format_minor(t.refunded_today(), currency)
        cap = format_minor(limits.daily_refund_cap, currency)
        breach = "daily_refund", f"daily refund cap {cap} ({used} used)"
    if breach is None:
        return True
    t.counters["limit_refusals"] += 1
    s.abort(MAX_AMOUNT_EXCEEDED, s.vendor_error(LIMIT_CODES[breach[0]], breach[1]))
    return False


def _host(s: Session) -> bool:
    """Ask the acquirer; False after sending 06 1E when it cannot be reached.

    While it takes its time the terminal sends 04 FF "waiting for response from FEP"
    every ``slow_host_interval`` (when the config byte asks for intermediate status),
    so the ECR's T4 keeps being re-armed.
    """
    t = s.t
    faults = t.active_faults
    if "host_unreachable" in faults:
        s.intermediate(WAITING_FOR_HOST)
        s.abort(NO_CONNECTION)
        return False
    delay = t.slow_host_delay if "slow_host" in faults else t.config.host_delay
    end = time.monotonic() + delay
    while time.monotonic() < end:
        try:
            s.intermediate(WAITING_FOR_HOST)
            s.pause(min(t.config.slow_host_interval, max(0.0, end - time.monotonic())))
        except (LinkLost, NoAnswer):
            # The request is with the acquirer already, and a terminal cannot call it
            # back: it waits for the answer whatever became of the ECR, books it, and
            # only then finds it cannot deliver the result (the commit rule reverses it).
            t.counters["host_answers_without_ecr"] += 1
            while (left := end - time.monotonic()) > 0:
                t._changed.wait(left)  # the lock is let go meanwhile, as in a pause
            return True
    return True


def _entry(
    t: TerminalEmulator,
    kind: str,
    amount: int,
    card: Card,
    result: int,
    original: int | None = None,
) -> Entry:
    trace, receipt = t.next_numbers()
    entry = Entry(
        kind=kind,
        amount=amount,
        currency=t.config.currency,
        trace=trace,
        receipt_no=receipt,
        state=STANDING_STATE[kind] if result == 0 else "declined",
        card=card.masked_pan,
        at=datetime.now().astimezone().isoformat(timespec="milliseconds"),
        result_code=result,
        original_receipt_no=original,
        brand=card.brand,
        card_type=card.card_type,
        approval_code=approval_code(trace) if result == 0 else "",
    )
    entry._card = card
    return t.ledger_book.add(entry)


def _run_referring(s: Session, kind: str, target: Entry, amount: int) -> None:
    t = s.t
    card = target._card if isinstance(target._card, Card) else t.card
    entry = _entry(t, kind, amount, card, 0, original=target.receipt_no)
    t.ledger_book.apply(entry)
    _run(s, entry, card, original_trace=target.trace)


def _run(s: Session, entry: Entry, card: Card, original_trace: int | None = None) -> None:
    """Status information under the commit rule, receipts, and the end of the command."""
    t = s.t
    when = datetime.fromisoformat(entry.at)
    turnover = t.next_turnover() if entry.result_code == 0 else 0
    fields = status_fields(
        entry,
        card,
        when=when,
        terminal_id=t.config.terminal_id,
        vu_number=t.config.vu_number,
        currency=t.currency_code,
        turnover=turnover,
        full_pan=t.config.full_pan,
        original_trace=original_trace,
    )
    t.counters[f"{entry.kind}s" if entry.result_code == 0 else "declines"] += 1
    t._changed.notify_all()
    if entry.result_code != 0:
        entry._status = fields
        dropping = "drop_after_status" in t.active_faults
        s.send(s.status_information(fields), then_hang_up=dropping)
        if dropping:
            s.drop()
        if s.answer(t.config.answer_timeout) is not None:
            _receipts(s, entry, when)
        s.abort(entry.result_code)
        return
    if not s.commit(entry, fields):
        return
    if "drop_before_completion" in t.active_faults:
        s.drop()
    _receipts(s, entry, when)
    s.complete()


def _receipts(s: Session, entry: Entry, when: datetime) -> None:
    if not s.wants_receipts(admin=False):
        return
    for copy, kind in (("MERCHANT COPY", 1), ("CUSTOMER COPY", 2)):
        s.print_receipt(transaction_receipt(entry, copy, **_receipt_args(s.t), when=when), kind)


def _receipt_args(t: TerminalEmulator) -> dict[str, str]:
    return {
        "merchant": t.config.merchant,
        "terminal_id": t.config.terminal_id,
        "currency": t.config.currency,
    }


HANDLERS: dict[str, Callable[[Session], None]] = {
    "registration": registration,
    "authorisation": authorisation,
    "log_off": log_off,
    "repeat_receipt": repeat_receipt,
    "pre_authorisation": pre_authorisation,
    "partial_reversal": partial_reversal,
    "book_total": book_total,
    "pre_auth_reversal": pre_auth_reversal,
    "reversal": reversal,
    "refund": refund,
    "end_of_day": end_of_day,
    "diagnosis": diagnosis,
    "initialisation": initialisation,
    "abort": abort,
    "status_enquiry": status_enquiry,
}
