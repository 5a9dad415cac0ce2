"""Receipt lines: composition, copy and continuation marks, and encoding for the printer."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from posdriver.cashier.pan_scan import luhn_runs
from posdriver.cashier.receipts import (
    KINDS,
    LANGUAGES,
    ReceiptFacts,
    compose,
    mark_continuation,
    mark_copy,
    to_printable,
    wrap,
)
from posdriver.money import Money
from posdriver.printer.receipt import Cut, Feed, Text, display_width, encode_segments
from posdriver.terminal.outcomes import Approved, CardInfo

AT = datetime(2026, 11, 23, 14, 5, 7)
REPRINT_AT = datetime(2026, 11, 23, 14, 5)
HEADER = ("GRAND HOTEL 大酒店", "1 Harbour Road 海港路1号")
FOOTER = ("Thank you 谢谢光临",)


def facts(**changes: object) -> ReceiptFacts:
    base = ReceiptFacts(
        kind="sale",
        amount=Money(1250, "EUR"),
        at=AT,
        terminal_id="29001234",
        trace=123,
        receipt_no=45,
        approval_code="A1B2C3",
        brand="VISA",
        last4="1234",
        journal_id=17,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def fits(lines: list[str], columns: int) -> bool:
    return all(display_width(line) <= columns for line in lines)


# -- wrapping and width ---------------------------------------------------------------------
def test_cjk_counts_two_columns_when_wrapping() -> None:
    assert wrap("中文" * 5, 8) == ["中文中文", "中文中文", "中文"]
    assert wrap("ab中文", 3) == ["ab", "中", "文"]  # a wide character is never split


def test_wrap_breaks_at_spaces_and_keeps_short_lines_whole() -> None:
    assert wrap("posdriver txn 17   ", 42) == ["posdriver txn 17"]
    assert wrap("one two three four", 9) == ["one two", "three", "four"]
    assert wrap("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]


@given(
    text=st.text(alphabet=st.sampled_from("ab 中文-:1"), max_size=120),
    columns=st.integers(min_value=2, max_value=50),
)
def test_wrap_fits_and_keeps_every_character_but_break_spaces(text: str, columns: int) -> None:
    lines = wrap(text, columns)
    assert fits(lines, columns)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")


# -- compose ------------------------------------------------------------------------------
def test_compose_from_facts_in_english() -> None:
    lines = compose(facts(), header=HEADER, footer=FOOTER)
    text = "\n".join(lines)
    assert lines[0].strip() == HEADER[0]
    assert lines[2] == "-" * 42
    for expected in ("SALE", "2026-11-23 14:05:07", "29001234", "123", "45", "A1B2C3"):
        assert expected in text
    assert "VISA **** 1234" in text
    amount = next(line for line in lines if line.startswith("Amount"))
    assert amount.endswith("12.50 EUR") and len(amount) == 42  # right-aligned
    assert "APPROVED" in text
    assert any(line.strip() == "CUSTOMER COPY" for line in lines)
    assert any(line.strip() == "ref. id:17" for line in lines)
    assert lines[-1].strip() == FOOTER[0]


def test_header_and_footer_are_centred() -> None:
    lines = compose(facts(), header=["HOTEL"], footer=["BYE"], columns=42)
    assert lines[0] == " " * 18 + "HOTEL"
    assert lines[-1] == " " * 19 + "BYE"


@pytest.mark.parametrize(
    ("language", "copy", "expected"),
    [
        ("en", "customer", "CUSTOMER COPY"),
        ("en", "merchant", "MERCHANT COPY"),
        ("zh", "customer", "顾客联"),
        ("zh", "merchant", "商户联"),
        ("en+zh", "customer", "CUSTOMER COPY / 顾客联"),
        ("en+zh", "merchant", "MERCHANT COPY / 商户联"),
    ],
)
def test_copy_line_in_each_language(language: str, copy: str, expected: str) -> None:
    lines = compose(facts(), copy=copy, language=language)
    assert any(line.strip() == expected for line in lines)


def test_chinese_receipt_titles_and_labels() -> None:
    text = "\n".join(compose(facts(kind="refund"), language="zh"))
    assert "退货" in text and "金额" in text and "交易成功" in text
    both = "\n".join(compose(facts(kind="refund"), language="en+zh"))
    assert "REFUND / 退货" in both and "Amount 金额" in both


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("columns", [32, 42, 48])
def test_every_line_fits_the_paper(kind: str, language: str, columns: int) -> None:
    lines = compose(
        facts(kind=kind, brand="MASTERCARD DEBIT WORLD ELITE"),
        header=[*HEADER, "A very long hotel address line that no printer holds on one line"],
        footer=FOOTER,
        columns=columns,
        language=language,
    )
    assert fits(lines, columns)


def test_optional_facts_are_left_out() -> None:
    bare = facts(amount=None, terminal_id=None, trace=None, receipt_no=None, approval_code=None)
    text = "\n".join(compose(bare))
    for label in ("Amount", "Terminal", "Trace", "Receipt no", "Approval"):
        assert label not in text
    assert "VISA **** 1234" in text


def test_terminal_lines_are_verbatim_except_right_trim_and_wrap() -> None:
    terminal = ["  Kartenzahlung", "Betrag:      EUR 12,50   ", "", "x" * 50, "中文" * 12]
    lines = compose(facts(), terminal_lines=terminal, header=["HOTEL"])
    body = lines[lines.index("-" * 42) + 1 :]
    assert body[:3] == ["  Kartenzahlung", "Betrag:      EUR 12,50", ""]
    assert body[3:5] == ["x" * 42, "x" * 8]  # wrapped, nothing cut
    assert body[5:7] == ["中文" * 10 + "中", "文" + "中文"]
    text = "\n".join(lines)
    assert "SALE" not in text and "APPROVED" not in text  # the terminal's lines replace them
    assert fits(lines, 42)


def test_compose_never_shows_more_than_the_last_four_digits() -> None:
    for language in LANGUAGES:
        for columns in (32, 42):
            lines = compose(facts(), language=language, columns=columns)
            text = "\n".join(lines)
            assert luhn_runs(text) == []
            assert re.findall(r"\*{4} ?(\d+)", text) == ["1234"]
            assert "VISA **** 1234" in text


@given(last4=st.from_regex(r"\A[0-9]{4}\Z"))
def test_card_line_carries_exactly_last4(last4: str) -> None:
    text = "\n".join(compose(facts(last4=last4)))
    card = next(line for line in text.splitlines() if line.startswith("Card"))
    assert card.endswith(f"VISA **** {last4}")
    assert re.sub(r"\s", "", card).count("*") == 4


def test_facts_refuse_more_card_digits_and_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="four digits"):
        facts(last4="411111")
    with pytest.raises(ValueError, match="four digits"):
        facts(last4="12a4")
    with pytest.raises(ValueError, match="unknown kind 'tip'"):
        facts(kind="tip")


def test_facts_from_an_approved_outcome() -> None:
    approved = Approved(
        amount=Money(500, "EUR"),
        trace=9,
        receipt_no=10,
        approval_code="XY",
        card=CardInfo("girocard", "9876"),
        terminal_id="T1",
    )
    made = ReceiptFacts.from_approved(approved, kind="sale", journal_id=3, at=AT)
    assert (made.brand, made.last4, made.at, made.journal_id) == ("girocard", "9876", AT, 3)
    later = replace(approved, at=datetime(2026, 1, 1))
    assert ReceiptFacts.from_approved(later, kind="sale", journal_id=3, at=AT).at.year == 2026


def test_unknown_language_copy_or_columns_is_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown language 'de'; expected one of en, zh, en\+zh"):
        compose(facts(), language="de")
    with pytest.raises(ValueError, match="unknown copy"):
        compose(facts(), copy="guest")
    with pytest.raises(ValueError, match="columns"):
        compose(facts(), columns=8)
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        mark_copy([], reprint_no=1, at=REPRINT_AT, language="fr")
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        mark_continuation([], at=REPRINT_AT, language="fr")


# -- marks ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("language", "banner", "note"),
    [
        ("en", "*** DUPLICATE ***", "Reprint 2 at 2026-11-23 14:05"),
        ("zh", "*** 重印 ***", "第2次重印 2026-11-23 14:05"),
        ("en+zh", "*** DUPLICATE / 重印 ***", "Reprint 2 / 第2次重印 2026-11-23 14:05"),
    ],
)
def test_copy_marks_top_and_bottom_around_the_original(
    language: str, banner: str, note: str
) -> None:
    original = compose(facts(), header=HEADER, footer=FOOTER, language=language)
    marked = mark_copy(original, reprint_no=2, at=REPRINT_AT, language=language)
    stripped = [line.strip() for line in marked]
    assert stripped[:2] == [banner, note]
    assert stripped[-2:] == [note, banner]
    assert marked[2:-2] == original  # unchanged and in order
    assert fits(marked, 42)


def test_copy_mark_keeps_date_and_time_together_on_narrow_paper() -> None:
    marked = mark_copy(["x"], reprint_no=12, at=REPRINT_AT, language="en+zh", columns=32)
    assert fits(marked, 32)
    assert "2026-11-23 14:05" in [line.strip() for line in marked]


def test_copy_mark_needs_a_reprint_number_of_one_or_more() -> None:
    for bad in (0, -1):
        with pytest.raises(ValueError, match="reprint_no"):
            mark_copy(["x"], reprint_no=bad, at=REPRINT_AT, language="en")


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("columns", [32, 42])
def test_continuation_banner_on_top_original_below(language: str, columns: int) -> None:
    original = compose(facts(), header=HEADER, language=language, columns=columns)
    marked = mark_continuation(original, at=REPRINT_AT, language=language, columns=columns)
    assert marked[-len(original) :] == original
    top = marked[: -len(original)]
    assert top[0].strip().startswith("***")
    words = " ".join(line.strip().strip("*").strip() for line in top)
    if language != "zh":
        assert "REPRINTED IN FULL" in words and "INTERRUPTED" in words
    if language != "en":
        assert "完整重打：上次打印中断" in words
    assert "2026-11-23 14:05" in words
    assert fits(marked, columns)
    assert all(line.strip().endswith("***") for line in top if line.strip().startswith("***"))


# -- printing ---------------------------------------------------------------------------------
@pytest.mark.parametrize("language", LANGUAGES)
def test_to_printable_encodes_in_every_language(language: str) -> None:
    lines = compose(facts(), header=HEADER, footer=FOOTER, language=language)
    lines = mark_copy(lines, reprint_no=1, at=REPRINT_AT, language=language)
    receipt = to_printable(lines)
    segments = encode_segments(receipt)
    data = b"".join(segments)
    assert segments[0] == b"\x1b\x40"
    assert b"?" not in data
    if language != "en":
        assert "重印".encode("gb18030") in data
    assert isinstance(receipt.elements[-1], Cut) and isinstance(receipt.elements[-2], Feed)


def test_banners_print_bold_and_centred_other_lines_as_they_are() -> None:
    receipt = to_printable(["   *** DUPLICATE ***", "  indented", "plain"], cut=False)
    assert receipt.elements == [
        Text("*** DUPLICATE ***", align="center", bold=True),
        Text("  indented"),
        Text("plain"),
    ]


def test_to_printable_wraps_lines_stored_for_wider_paper() -> None:
    lines = compose(facts(), header=HEADER, columns=48)
    receipt = to_printable(lines, columns=32)
    texts = [el.text for el in receipt.elements if isinstance(el, Text)]
    assert all(display_width(text) <= 32 for text in texts)
    assert not any(isinstance(el, Cut) for el in to_printable(lines, cut=False).elements)
