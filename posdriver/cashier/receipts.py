"""Receipts as text lines: composed once, journaled, printed and reprinted from the journal.

A receipt is kept as the exact lines that were printed (one list of ``str`` per copy,
``"customer"`` or ``"merchant"``), because a reprint has to show the guest what the first
print showed, not what today's code would make of the same facts. So this module splits
the work in two:

* :func:`compose` makes the lines once, when the operation ends: the hotel's header, the
  terminal's own receipt lines when it sent any (verbatim), or lines built from
  :class:`ReceiptFacts` when it sent none, which copy it is, and ``ref. id:<journal id>``
  so that staff holding the paper can find the journal entry.
* :func:`mark_copy` and :func:`mark_continuation` wrap stored lines for a later print,
  leaving the stored lines themselves untouched in between; :func:`to_printable` turns
  lines into a :class:`~posdriver.printer.receipt.Receipt` for the printer.

Every line fits the paper's width counted as the printer counts it (a CJK character takes
two columns), so nothing is cut off or wrapped by the printer at an unexpected place.
The only card facts a receipt built here can show are the brand and the last four digits.

Everything here is pure: no journal, no printer, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from posdriver.card import is_last4
from posdriver.money import Money
from posdriver.printer.receipt import Cut, Feed, Receipt, Text, display_width
from posdriver.terminal.outcomes import Approved

LANGUAGES = ("en", "zh", "en+zh")
COPIES = ("customer", "merchant")
KINDS = ("sale", "refund", "reversal", "pre_auth", "booking")
MIN_COLUMNS = 16  # narrower than any receipt printer; below it the banners cannot fit
BANNER = "***"


# (English, Chinese) wording; "en+zh" shows both.
_TITLES = {
    "sale": ("SALE", "消费"),
    "refund": ("REFUND", "退货"),
    "reversal": ("REVERSAL", "撤销"),
    "pre_auth": ("PRE-AUTHORISATION", "预授权"),
    "booking": ("PRE-AUTH COMPLETION", "预授权完成"),
}
_LABELS = {
    "date": ("Date", "日期"),
    "terminal": ("Terminal", "终端号"),
    "trace": ("Trace no.", "流水号"),
    "receipt": ("Receipt no.", "凭证号"),
    "approval": ("Approval code", "授权码"),
    "card": ("Card", "卡号"),
    "amount": ("Amount", "金额"),
}
_APPROVED = ("APPROVED", "交易成功")
_COPY_WORDS = {"customer": ("CUSTOMER COPY", "顾客联"), "merchant": ("MERCHANT COPY", "商户联")}
_DUPLICATE = ("DUPLICATE", "重印")
_CONTINUATION = ("REPRINTED IN FULL: THE FIRST PRINT WAS INTERRUPTED", "完整重打：上次打印中断")


@dataclass(frozen=True)
class ReceiptFacts:
    """What an operation's receipt is built from when the terminal sent no print lines.

    ``kind`` is one of :data:`KINDS` (the journal's ``Kind`` values compare equal).
    ``amount`` is ``None`` for an operation that named none (a reversal by receipt
    number). Of the card, only ``brand`` and ``last4`` exist here, and ``last4`` must be
    exactly four digits, so that no more of a card number can reach paper or journal.
    """

    kind: str
    amount: Money | None
    at: datetime
    terminal_id: str | None
    trace: int | None
    receipt_no: int | None
    approval_code: str | None
    brand: str | None
    last4: str | None
    journal_id: int

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if self.last4 is not None and not is_last4(self.last4):
            raise ValueError("last4 must be exactly four digits (never more of the card number)")

    @classmethod
    def from_approved(
        cls, approved: Approved, *, kind: str, journal_id: int, at: datetime
    ) -> ReceiptFacts:
        """The facts of an approved operation; ``at`` is used when the terminal sent no
        time of its own."""
        return cls(
            kind=kind,
            amount=approved.amount,
            at=approved.at or at,
            terminal_id=approved.terminal_id,
            trace=approved.trace,
            receipt_no=approved.receipt_no,
            approval_code=approved.approval_code,
            brand=approved.card.brand,
            last4=approved.card.last4,
            journal_id=journal_id,
        )


# -- layout helpers -----------------------------------------------------------------------
def wrap(text: str, columns: int) -> list[str]:
    """``text`` (right-trimmed) as lines of at most ``columns`` display columns.

    Breaks at the last space that fits, else (a long word, or CJK text, which has no
    spaces) after the last character that fits. Only the spaces at a break are dropped;
    every other character is kept, in order, and a wide character is never split.
    """
    rest = text.rstrip()
    lines: list[str] = []
    while display_width(rest) > columns:
        fit = _fitting_chars(rest, columns)
        space = _break_space(rest, fit)
        if space is not None:
            lines.append(rest[:space].rstrip())
            rest = rest[space:].lstrip(" ")
        else:
            lines.append(rest[:fit])
            rest = rest[fit:]
    lines.append(rest)
    return lines


def _fitting_chars(text: str, columns: int) -> int:
    """How many leading characters of ``text`` fit in ``columns`` (at least one, so that
    wrapping always makes progress)."""
    width = 0
    for index, char in enumerate(text):
        width += display_width(char)
        if width > columns:
            return max(1, index)
    return len(text)


def _break_space(text: str, fit: int) -> int | None:
    """The position of the last space at or just after the fitting prefix that leaves
    something other than spaces before it, or ``None`` when there is none."""
    end = min(fit, len(text) - 1)
    for position in range(end, 0, -1):
        if text[position] == " " and text[:position].strip():
            return position
    return None


def centre(text: str, columns: int) -> list[str]:
    """``text`` wrapped to ``columns`` with each line centred by leading spaces."""
    out = []
    for line in wrap(text, columns):
        pad = (columns - display_width(line)) // 2
        out.append((" " * pad + line).rstrip())
    return out


def _right(text: str, columns: int) -> list[str]:
    return [" " * (columns - display_width(line)) + line for line in wrap(text, columns)]


def _pair(label: str, value: str, columns: int) -> list[str]:
    """``label`` left and ``value`` flush right on one line; on two (value below, still
    flush right) when they do not fit together."""
    gap = columns - display_width(label) - display_width(value)
    if gap >= 1:
        return [label + " " * gap + value]
    return wrap(label, columns) + _right(value, columns)


def _say(language: str, words: tuple[str, str], joiner: str = " / ") -> str:
    english, chinese = words
    if language == "en":
        return english
    if language == "zh":
        return chinese
    return f"{english}{joiner}{chinese}"


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; expected one of {', '.join(LANGUAGES)}")


def _check_columns(columns: int) -> None:
    if columns < MIN_COLUMNS:
        raise ValueError(f"columns must be at least {MIN_COLUMNS}, got {columns}")


def _banner(text: str, columns: int) -> list[str]:
    """``*** text ***`` lines, centred; long text is wrapped so that every line carries
    the stars (which is how :func:`to_printable` recognises a banner)."""
    inner = columns - 2 * (len(BANNER) + 1)
    out: list[str] = []
    for piece in wrap(text, inner):
        out.extend(centre(f"{BANNER} {piece} {BANNER}", columns))
    return out


def _with_time(words: str, at: datetime, columns: int) -> list[str]:
    """``words`` and the time (to the minute) centred on one line, or the time on a line
    of its own when both do not fit, so that the date and the time stay together."""
    when = at.strftime("%Y-%m-%d %H:%M")
    together = f"{words} {when}"
    if display_width(together) <= columns:
        return centre(together, columns)
    return [*centre(words, columns), *centre(when, columns)]


# -- composing ----------------------------------------------------------------------------
def compose(
    facts: ReceiptFacts,
    *,
    terminal_lines: Sequence[str] = (),
    copy: str = "customer",
    header: Sequence[str] = (),
    footer: Sequence[str] = (),
    columns: int = 42,
    language: str = "en",
) -> list[str]:
    """The lines of one copy of an operation's receipt, as they are journaled and printed.

    The terminal's own lines are the legal receipt when it sent them, so they are taken
    verbatim (right-trimmed, and wrapped when wider than the paper); otherwise the lines
    are built from ``facts``. Around them: the hotel's ``header`` and ``footer`` centred,
    which copy this is, and ``ref. id:<journal id>`` (what staff type: ``posdriver reprint id:17``).
    """
    _check_language(language)
    _check_columns(columns)
    if copy not in COPIES:
        raise ValueError(f"unknown copy {copy!r}; expected one of {', '.join(COPIES)}")
    lines: list[str] = []
    for text in header:
        lines.extend(centre(text, columns))
    lines.append("-" * columns)
    if terminal_lines:
        for text in terminal_lines:
            lines.extend(wrap(text, columns))
    else:
        lines.extend(_fact_lines(facts, columns, language))
    lines.append("-" * columns)
    lines.extend(centre(_say(language, _COPY_WORDS[copy]), columns))
    lines.extend(centre(f"ref. id:{facts.journal_id}", columns))
    for text in footer:
        lines.extend(centre(text, columns))
    return lines


def _fact_lines(facts: ReceiptFacts, columns: int, language: str) -> list[str]:
    def label(key: str) -> str:
        return _say(language, _LABELS[key], joiner=" ")

    lines = centre(_say(language, _TITLES[facts.kind]), columns)
    lines.extend(_pair(label("date"), facts.at.strftime("%Y-%m-%d %H:%M:%S"), columns))
    optional = (
        ("terminal", facts.terminal_id),
        ("trace", facts.trace),
        ("receipt", facts.receipt_no),
        ("approval", facts.approval_code),
    )
    for key, value in optional:
        if value is not None and str(value) != "":
            lines.extend(_pair(label(key), str(value), columns))
    card = _card(facts.brand, facts.last4)
    if card:
        lines.extend(_pair(label("card"), card, columns))
    if facts.amount is not None:
        lines.append("=" * columns)
        lines.extend(_pair(label("amount"), facts.amount.format(), columns))
    lines.extend(centre(_say(language, _APPROVED), columns))
    return lines


def _card(brand: str | None, last4: str | None) -> str:
    """``VISA **** 1234``: the brand and the last four digits, nothing else of the card."""
    brand = (brand or "").strip()
    if last4:
        return f"{brand} **** {last4}" if brand else f"**** {last4}"
    return brand


# -- marks for later prints ---------------------------------------------------------------
def mark_copy(
    lines: Sequence[str], *, reprint_no: int, at: datetime, language: str, columns: int = 42
) -> list[str]:
    """A reprint of stored ``lines``: a DUPLICATE banner with the reprint's number and time
    at the top and again at the bottom (so either half of a torn slip says it is a copy),
    with the stored lines unchanged in between."""
    _check_language(language)
    _check_columns(columns)
    if isinstance(reprint_no, bool) or reprint_no < 1:
        raise ValueError(f"reprint_no must be 1 or more, got {reprint_no!r}")
    words = {
        "en": f"Reprint {reprint_no} at",
        "zh": f"第{reprint_no}次重印",
        "en+zh": f"Reprint {reprint_no} / 第{reprint_no}次重印",
    }[language]
    banner = _banner(_say(language, _DUPLICATE), columns)
    note = _with_time(words, at, columns)
    return [*banner, *note, *lines, *note, *banner]


def mark_continuation(
    lines: Sequence[str], *, at: datetime, language: str, columns: int = 42
) -> list[str]:
    """A receipt printed again in full because its first print stopped part-way (paper
    out): a banner saying so, and when, above the stored lines, which stay unchanged.

    The banner keeps the guest from taking the two slips for two charges.
    """
    _check_language(language)
    _check_columns(columns)
    banner: list[str] = []
    if language in ("en", "en+zh"):
        banner.extend(_banner(_CONTINUATION[0], columns))
    if language in ("zh", "en+zh"):
        banner.extend(_banner(_CONTINUATION[1], columns))
    words = {"en": "Printed again at", "zh": "重打时间", "en+zh": "Printed again / 重打时间"}
    return [*banner, *_with_time(words[language], at, columns), *lines]


# -- printing -----------------------------------------------------------------------------
def as_printed(
    lines: Sequence[str],
    *,
    at: datetime,
    language: str,
    columns: int,
    reprint_no: int | None = None,
    continuation: bool = False,
) -> Receipt:
    """Stored ``lines`` as one print of them makes them: marked as the ``reprint_no``-th
    copy, or as printed again in full after a print that stopped part-way, then laid out
    for the roll. The spooler prints this and the status page previews it, so the two
    cannot differ."""
    if reprint_no is not None:
        lines = mark_copy(lines, reprint_no=reprint_no, at=at, language=language, columns=columns)
    if continuation:
        lines = mark_continuation(lines, at=at, language=language, columns=columns)
    return to_printable(lines, columns=columns, cut=True)


def to_printable(lines: Sequence[str], *, columns: int = 42, cut: bool = True) -> Receipt:
    """``lines`` as a :class:`Receipt` ready for ``encode_segments``.

    Banner lines (starting with ``***``) print bold and centred; the rest print as they
    are, with their own spacing. Lines wider than ``columns`` (stored for wider paper)
    are wrapped here rather than left to the printer. ``cut`` ends with a feed and a cut.
    """
    _check_columns(columns)
    receipt = Receipt(columns)
    for line in lines:
        stripped = line.strip()
        if stripped.startswith(BANNER):
            for piece in wrap(stripped, columns):
                receipt.add(Text(piece, align="center", bold=True))
        else:
            for piece in wrap(line, columns):
                receipt.add(Text(piece))
    if cut:
        receipt.add(Feed(2))
        receipt.add(Cut())
    return receipt
