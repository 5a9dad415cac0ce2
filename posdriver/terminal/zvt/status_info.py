"""What a ZVT terminal reports about a transaction, in plain fields, and its receipts.

:func:`decode_status_info` turns the data of a Status-Information (``04 0F``) into a
:class:`StatusInfo`: result, amount, trace and receipt numbers, approval code, terminal
id, date and time, and the card as :class:`~posdriver.terminal.outcomes.CardInfo`
(brand and last four digits, the only card facts that leave the decoder; the BMP table
already reduces the PAN to those). The same reading serves the ``06 1E`` abort fields
and the end-of-day totals.

:class:`ReceiptCollector` gathers the receipt the terminal prints through the till:
``06 D1`` print lines (a line whose attribute has the high bit ends one receipt) and
``06 D3`` text blocks (whole receipts, typed merchant / customer / administration).
When the till asked for no print lines, :func:`receipt_from_status` builds a receipt
from the transaction fields. Receipt text is the terminal's, so a long digit run in it
(a careless terminal printing a full card number) is masked down to its last four.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...money import Money
from ..outcomes import BrandTotal, CardInfo
from .bcd import decode_bcd
from .bmp import MaskedPan, decode_bmps
from .errors import ZvtCodecError
from .messages import TAG_VENDOR_ERROR, TAG_VENDOR_ERROR_TEXT, PrintLine, TextBlock
from .tlv import Tlv, find

# ZVT card-type ids (BMP 8A) of the common brands, for terminals that send no card name.
CARD_TYPES: dict[int, str] = {
    0x05: "girocard",
    0x06: "Mastercard",
    0x08: "American Express",
    0x0A: "Visa",
    0x0C: "Diners",
    0x0D: "V PAY",
    0x0E: "JCB",
    0x2E: "Maestro",
}
# Brands of the end-of-day individual totals (BMP 60), in their order on the wire.
TOTALS_BRANDS = ("girocard", "JCB", "Mastercard", "American Express", "Visa", "Diners", "other")

_CARD_NUMBER = re.compile(r"\d(?:[ -]?\d){11,18}")


@dataclass(frozen=True)
class StatusInfo:
    """The fields of one ``04 0F`` (or of a ``06 1E`` / ``06 0F``) that posdriver uses."""

    result_code: int | None = None
    amount: int | None = None  # minor units
    currency_code: int | None = None  # ISO 4217 numeric
    trace: int | None = None
    original_trace: int | None = None
    receipt_no: int | None = None
    turnover_no: int | None = None
    approval_code: str | None = None
    terminal_id: str | None = None
    vu_number: str | None = None
    card: CardInfo = field(default_factory=CardInfo)
    payment_type: int | None = None
    time: str | None = None  # HHMMSS
    date: str | None = None  # MMDD
    full_date: str | None = None  # YYMMDD
    additional_text: str | None = None
    vendor_code: int | None = None
    vendor_text: str | None = None
    individual_totals: bytes | None = None

    def money(self, default_currency: str) -> Money | None:
        """The amount as Money (in the reported currency when there is one)."""
        if self.amount is None:
            return None
        return Money(self.amount, currency_alpha(self.currency_code, default_currency))

    def at(self, today: dt.date) -> dt.datetime | None:
        """Date and time of the transaction; the year (which 04 0F does not carry) is
        the one that puts it closest before ``today``."""
        if not self.time or len(self.time) != 6:
            return None
        try:
            if self.full_date and len(self.full_date) == 6:
                year = 2000 + int(self.full_date[:2])
                month, day = int(self.full_date[2:4]), int(self.full_date[4:])
            elif self.date and len(self.date) == 4:
                month, day = int(self.date[:2]), int(self.date[2:])
                year = today.year if (month, day) <= (today.month, today.day) else today.year - 1
            else:
                return None
            hh, mm, ss = int(self.time[:2]), int(self.time[2:4]), int(self.time[4:])
            return dt.datetime(year, month, day, hh, mm, ss)
        except ValueError:
            return None  # a terminal clock with nonsense in it is not worth a failure

    def brand_totals(self, default_currency: str) -> tuple[BrandTotal, ...]:
        """BMP 60: ``<receipt from><receipt to>`` then count (1 byte) and turnover
        (6 BCD) per brand; an unexpected layout yields nothing rather than a guess."""
        raw = self.individual_totals
        if not raw or len(raw) != 4 + 7 * len(TOTALS_BRANDS):
            return ()
        currency = currency_alpha(self.currency_code, default_currency)
        totals = []
        try:
            for index, brand in enumerate(TOTALS_BRANDS):
                base = 4 + index * 7
                count = raw[base]
                if count:
                    minor = decode_bcd(raw[base + 1 : base + 7])
                    totals.append(BrandTotal(brand, count, Money(minor, currency)))
        except ZvtCodecError:
            return ()
        return tuple(totals)

    def receipt_range(self) -> tuple[int, int] | None:
        raw = self.individual_totals
        if not raw or len(raw) < 4:
            return None
        try:
            return decode_bcd(raw[:2]), decode_bcd(raw[2:4])
        except ZvtCodecError:
            return None

    def summary(self) -> str:
        """A one-line, card-safe description for the debug log."""
        parts = [
            f"result={self.result_code:02X}" if self.result_code is not None else "result=-",
            f"amount={self.amount}",
            f"trace={self.trace}",
            f"receipt={self.receipt_no}",
            f"card={self.card}",
        ]
        return " ".join(parts)


def currency_alpha(numeric: int | None, default: str) -> str:
    """ISO 4217 alphabetic code for a numeric one (``978`` -> ``EUR``). A number that
    names no currency an amount can be in (unknown, or one without a minor unit: gold,
    ``999`` "no currency") is read as ``default``, the terminal's own, as an absent one is."""
    if numeric is None:
        return default
    try:
        if Money(0, default).numeric_code == numeric:
            return default
    except ValueError:
        pass
    import iso4217

    for currency in iso4217.Currency:
        if currency.number == numeric:
            return str(currency.code) if currency.exponent is not None else default
    return default


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def status_from_fields(fields: Mapping[int, Any], result_code: int | None = None) -> StatusInfo:
    """A :class:`StatusInfo` from decoded BMPs (``result_code`` when it came positionally,
    as in ``06 1E``)."""
    items: tuple[Tlv, ...] = tuple(fields.get(0x06, ()))
    pan = fields.get(0x22)
    last4 = pan.last4 if isinstance(pan, MaskedPan) else None
    card_type = _int(fields.get(0x8A))
    brand = _str(fields.get(0x8B)) or (
        CARD_TYPES.get(card_type, f"card type {card_type}") if card_type is not None else None
    )
    vendor_code = vendor_text = None
    code_tlv, text_tlv = find(items, TAG_VENDOR_ERROR), find(items, TAG_VENDOR_ERROR_TEXT)
    if code_tlv is not None and code_tlv.value:
        vendor_code = int.from_bytes(code_tlv.value, "big")
    if text_tlv is not None and text_tlv.value:
        vendor_text = scrub(text_tlv.value.split(b"\x00", 1)[0].decode("cp437"))
    approval = _str(fields.get(0x3B))
    totals = fields.get(0x60)
    return StatusInfo(
        result_code=_int(fields.get(0x27)) if result_code is None else result_code,
        amount=_int(fields.get(0x04)),
        currency_code=_int(fields.get(0x49)),
        trace=_int(fields.get(0x0B)),
        original_trace=_int(fields.get(0x37)),
        receipt_no=_int(fields.get(0x87)),
        turnover_no=_int(fields.get(0x88)),
        approval_code=approval.strip() if approval else None,
        terminal_id=_str(fields.get(0x29)),
        vu_number=(_str(fields.get(0x2A)) or "").strip() or None,
        card=CardInfo(brand, last4),
        payment_type=_int(fields.get(0x19)),
        time=_str(fields.get(0x0C)),
        date=_str(fields.get(0x0D)),
        full_date=_str(fields.get(0xAA)),
        additional_text=scrub(_str(fields.get(0x3C)) or "") or None,
        vendor_code=vendor_code,
        vendor_text=vendor_text,
        individual_totals=totals if isinstance(totals, bytes) else None,
    )


def decode_status_info(data: bytes) -> StatusInfo:
    """The data of a ``04 0F``; raises :class:`ZvtCodecError` when it does not decode."""
    return status_from_fields(decode_bmps(data))


def scrub(text: str) -> str:
    """Mask anything that looks like a card number down to its last four digits."""

    def mask(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        return "*" * (len(digits) - 4) + digits[-4:]

    return _CARD_NUMBER.sub(mask, text)


# -- receipts ----------------------------------------------------------------------------
@dataclass
class Receipt:
    kind: str | None  # merchant | customer | administration | None (not said)
    lines: list[str] = field(default_factory=list)


class ReceiptCollector:
    """Receipt lines as the terminal sends them, grouped into receipts."""

    def __init__(self) -> None:
        self.receipts: list[Receipt] = []
        self._open: Receipt | None = None

    def add_line(self, line: PrintLine) -> None:
        if self._open is None:
            self._open = Receipt(None)
            self.receipts.append(self._open)
        if line.attribute == 0xFF:
            self._open.lines.append("")
        elif line.last_line:
            if line.text:
                self._open.lines.append(scrub(line.text))
            self._open = None
        else:
            indent = " " * (line.attribute & 0x0F) if line.attribute < 0x10 else ""
            self._open.lines.append(indent + scrub(line.text))

    def add_block(self, block: TextBlock) -> None:
        self._open = None
        self.receipts.append(Receipt(block.receipt_type, [scrub(t) for t in block.lines]))

    def __bool__(self) -> bool:
        return any(r.lines for r in self.receipts)

    def guest_copy(self) -> tuple[str, ...]:
        """The customer's receipt; untyped or administrative receipts when there is none."""
        chosen = [r for r in self.receipts if r.kind == "customer"] or [
            r for r in self.receipts if r.kind != "merchant"
        ]
        return _join(chosen)

    def merchant_copy(self) -> tuple[str, ...]:
        return _join([r for r in self.receipts if r.kind == "merchant"])


def _join(receipts: list[Receipt]) -> tuple[str, ...]:
    lines: list[str] = []
    for receipt in receipts:
        if lines:
            lines.append("")
        lines += receipt.lines
    return tuple(lines)


def receipt_from_status(
    info: StatusInfo, title: str, amount: Money | None, at: dt.datetime | None
) -> tuple[str, ...]:
    """A plain receipt from the transaction fields (the till builds it when the terminal
    sends no print lines)."""
    lines = [title.upper(), ""]
    if info.terminal_id:
        lines.append(f"Terminal ID   {info.terminal_id}")
    if at:
        lines.append(f"Date          {at:%Y-%m-%d %H:%M:%S}")
    if info.trace is not None:
        lines.append(f"Trace         {info.trace:06d}")
    if info.receipt_no is not None:
        lines.append(f"Receipt       {info.receipt_no:04d}")
    if info.card.brand or info.card.last4:
        lines.append(f"Card          {info.card}")
    if info.approval_code:
        lines.append(f"Approval code {info.approval_code}")
    if amount is not None:
        lines += ["", f"AMOUNT        {amount}"]
    lines += ["", "APPROVED" if info.result_code in (0, None) else "DECLINED"]
    return tuple(lines)
