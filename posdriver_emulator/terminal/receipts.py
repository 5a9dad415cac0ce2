"""What the terminal tells the ECR about a transaction: status information and receipts.

The status information (04 0F) of an approved payment carries the fields an ECR builds
its receipt from when it did not ask for print lines (config byte without 0x80): result,
amount, trace, time and date, expiry, card sequence number, payment type, the masked PAN,
terminal id, VU number, approval code, currency, receipt and turnover numbers, card type
and card name. Receipts, when asked for, are plain text lines; the model sends them as
one 06 D3 text block per copy or as 06 D1 lines.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .cards import Card, format_minor
from .ledger import BOOKING, PAYMENT, PRE_AUTH, PRE_AUTH_REVERSAL, REFUND, REVERSAL, Entry
from .zvt.codes import result_text

Fields = list[tuple[int, Any]]

TITLES = {
    PAYMENT: "CARD PAYMENT",
    REFUND: "REFUND",
    REVERSAL: "REVERSAL",
    PRE_AUTH: "PRE-AUTHORISATION",
    BOOKING: "BOOKING OF RESERVATION",
    PRE_AUTH_REVERSAL: "RESERVATION RELEASED",
}

# BMP 60 (end-of-day individual totals) has one slot per card family, in this order
TOTALS_SLOTS = ("girocard", "JCB", "Eurocard", "Amex", "Visa", "Diners", "other")
_SLOT_BY_CARD_TYPE = {5: 0, 6: 2, 10: 4}


def approval_code(trace: int) -> str:
    """A six-digit approval code, stable for a trace number (BMP 3B pads it to 8)."""
    return f"{(trace * 7919 + 104729) % 1_000_000:06d}"


def status_fields(
    entry: Entry,
    card: Card,
    *,
    when: datetime,
    terminal_id: str,
    vu_number: str,
    currency: int,
    turnover: int,
    full_pan: bool = False,
    original_trace: int | None = None,
) -> Fields:
    """The 04 0F fields of ``entry``, in the specification's table order."""
    approved = entry.result_code == 0
    fields: Fields = [
        (0x27, entry.result_code),
        (0x04, entry.amount),
        (0x0B, entry.trace),
        (0x0C, when.strftime("%H%M%S")),
        (0x0D, when.strftime("%m%d")),
    ]
    if approved:
        fields += [(0x0E, card.expiry), (0x17, card.sequence_no), (0x19, card.payment_type)]
    fields.append((0x22, card.pan if full_pan else card.masked_pan))
    fields += [(0x29, terminal_id), (0x2A, vu_number)]
    if original_trace is not None:
        fields.append((0x37, original_trace))
    if approved:
        fields.append((0x3B, entry.approval_code))
    fields += [(0x49, currency), (0x87, entry.receipt_no)]
    if approved:
        fields.append((0x88, turnover))
    fields += [(0x8A, card.card_type), (0x8B, card.brand + "\x00")]
    return fields


def with_result(fields: Fields, result: int) -> Fields:
    """The same status information with another result code (Repeat Receipt: B4)."""
    return [(ident, result if ident == 0x27 else value) for ident, value in fields]


def masked_for_print(masked_pan: str) -> str:
    return masked_pan.replace("E", "*")


def transaction_receipt(
    entry: Entry, copy: str, *, merchant: str, terminal_id: str, currency: str, when: datetime
) -> list[str]:
    """One copy ("MERCHANT COPY", "CUSTOMER COPY") of a transaction receipt."""
    approved = entry.result_code == 0
    lines = [
        merchant,
        TITLES.get(entry.kind, entry.kind.upper()),
        "",
        f"Terminal-ID {terminal_id}",
        f"Trace {entry.trace:06d}  Receipt {entry.receipt_no:04d}",
        when.strftime("Date %d.%m.%Y  Time %H:%M:%S"),
        f"{entry.brand}  {masked_for_print(entry.card)}",
    ]
    if entry.original_receipt_no is not None:
        lines.append(f"For receipt {entry.original_receipt_no:04d}")
    lines.append(f"Amount {format_minor(entry.amount, currency)}")
    if approved:
        lines += ["APPROVED", f"Approval code {entry.approval_code}"]
    else:
        lines += ["DECLINED", f"{entry.result_code:02X} {result_text(entry.result_code)}"]
    lines += ["", copy]
    return lines


def individual_totals(entries: list[Entry]) -> bytes:
    """BMP 60: first and last receipt number, then count and sum per card family."""
    counts = [0] * len(TOTALS_SLOTS)
    sums = [0] * len(TOTALS_SLOTS)
    receipts = [e.receipt_no for e in entries]
    for e in entries:
        if e.kind in (PAYMENT, BOOKING) and e.stands:
            slot = _SLOT_BY_CARD_TYPE.get(e.card_type, len(TOTALS_SLOTS) - 1)
            counts[slot] += 1
            sums[slot] += e.amount
    first, last = (min(receipts), max(receipts)) if receipts else (0, 0)
    data = bytes.fromhex(f"{first:04d}{last:04d}")
    for count, total in zip(counts, sums, strict=True):
        data += bytes([min(count, 255)]) + bytes.fromhex(f"{min(total, 10**12 - 1):012d}")
    return data


def net_total(entries: list[Entry]) -> int:
    """What the batch moved: payments and bookings that stand, less refunds that stand."""
    total = 0
    for e in entries:
        if e.stands and e.kind in (PAYMENT, BOOKING):
            total += e.amount
        elif e.stands and e.kind == REFUND:
            total -= e.amount
    return max(total, 0)


def end_of_day_receipt(
    entries: list[Entry], *, merchant: str, terminal_id: str, currency: str, when: datetime
) -> list[str]:
    lines = [merchant, "END OF DAY", "", f"Terminal-ID {terminal_id}"]
    lines.append(when.strftime("Date %d.%m.%Y  Time %H:%M:%S"))
    for kind in (PAYMENT, BOOKING, REFUND):
        standing = [e for e in entries if e.kind == kind and e.stands]
        total = sum(e.amount for e in standing)
        lines.append(f"{TITLES[kind]}: {len(standing)}  {format_minor(total, currency)}")
    lines += [f"TOTAL {format_minor(net_total(entries), currency)}", "", "BATCH CLOSED"]
    return lines
