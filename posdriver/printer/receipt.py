"""Receipts as data, encoded to ESC/POS with python-escpos.

A :class:`Receipt` is a list of plain elements (text lines, rules, barcodes, QR codes,
images, cut, drawer kick), so that it can be stored before it is printed and printed
again as a copy. :func:`encode` turns it into bytes through python-escpos's in-memory
printer, so command encoding is python-escpos's; posdriver adds what it lacks:

* Chinese text the way Chinese-market printers take it: runs of CJK characters are
  sent in double-byte mode (``FS &`` ... ``FS .``) as GB18030, with ``FS !`` carrying
  the size, instead of python-escpos's code-page guessing (which prints ``?``).
* Column layout that counts a CJK character as two columns, as the printer does.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Any, Literal

from .escpos_compat import dummy_class, quiet

Align = Literal["left", "center", "right"]

FS_KANJI_ON = b"\x1c\x26"
FS_KANJI_OFF = b"\x1c\x2e"


@dataclass(frozen=True)
class Text:
    text: str
    align: Align = "left"
    bold: bool = False
    double: bool = False
    underline: bool = False


@dataclass(frozen=True)
class Rule:
    char: str = "-"


@dataclass(frozen=True)
class Barcode:
    code: str
    kind: str = "EAN13"


@dataclass(frozen=True)
class QRCode:
    data: str
    size: int = 4


@dataclass(frozen=True)
class Image:
    image: Any  # a PIL image
    impl: str = "bitImageRaster"


@dataclass(frozen=True)
class Feed:
    lines: int = 1


@dataclass(frozen=True)
class Cut:
    pass


@dataclass(frozen=True)
class Drawer:
    pin: int = 2


Element = Text | Rule | Barcode | QRCode | Image | Feed | Cut | Drawer


def display_width(text: str) -> int:
    """Columns ``text`` takes on the printer: wide (CJK) characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def is_double_byte(ch: str) -> bool:
    """Characters that go out in double-byte (GB18030) mode rather than a code page."""
    return unicodedata.east_asian_width(ch) in ("W", "F")


@dataclass
class Receipt:
    """A receipt as data; ``columns`` is Font A's width (42 on 80 mm, 32 on 58 mm)."""

    columns: int = 42
    elements: list[Element] = field(default_factory=list)

    def line(self, text: str = "", **style: Any) -> Receipt:
        self.elements.append(Text(text, **style))
        return self

    def pair(self, left: str, right: str, **style: Any) -> Receipt:
        """``left`` and ``right`` on one line, the right part flush right."""
        width = self.columns // 2 if style.get("double") else self.columns
        gap = max(1, width - display_width(left) - display_width(right))
        self.elements.append(Text(left + " " * gap + right, **style))
        return self

    def rule(self, char: str = "-") -> Receipt:
        self.elements.append(Rule(char))
        return self

    def add(self, element: Element) -> Receipt:
        self.elements.append(element)
        return self

    def as_text(self) -> str:
        """A plain-text rendering (what a copy stored in the journal looks like)."""
        out: list[str] = []
        for el in self.elements:
            if isinstance(el, Text):
                width = self.columns // 2 if el.double else self.columns
                pad = max(0, width - display_width(el.text))
                lead = {"left": 0, "center": pad // 2, "right": pad}[el.align]
                out.append((" " * lead + el.text).rstrip())
            elif isinstance(el, Rule):
                out.append(el.char * self.columns)
            elif isinstance(el, Barcode):
                out.append(f"[barcode {el.kind} {el.code}]")
            elif isinstance(el, QRCode):
                out.append(f"[qr {el.data}]")
            elif isinstance(el, Image):
                out.append(f"[image {el.image.width}x{el.image.height}]")
            elif isinstance(el, Feed):
                out.extend([""] * el.lines)
        return "\n".join(out)


def encode(receipt: Receipt, profile: str = "TM-T88V") -> bytes:
    """ESC/POS bytes for ``receipt``, starting with ESC @ so no earlier state leaks in."""
    return b"".join(encode_segments(receipt, profile))


def encode_segments(receipt: Receipt, profile: str = "TM-T88V") -> list[bytes]:
    """The receipt's bytes, split where a command ends (one segment per element).

    The boundaries are where the driver may insert its own commands (GS r checkpoints,
    DLE EOT polls) without landing inside another command's parameters.
    """
    printer = dummy_class()(profile=profile)
    segments = [b"\x1b\x40"]
    for el in receipt.elements:
        mark = len(printer.output)  # python-escpos's Dummy keeps one growing buffer
        _encode_element(printer, el, receipt.columns)
        segments.append(bytes(printer.output[mark:]))
    return [segment for segment in segments if segment]


def _encode_element(printer: Any, el: Element, columns: int) -> None:
    if isinstance(el, Text):
        _text(printer, el)
    elif isinstance(el, Rule):
        printer.set_with_default()
        printer.textln(el.char * columns)
    elif isinstance(el, Barcode):
        printer.set_with_default(align="center")
        with quiet():
            printer.barcode(el.code, el.kind, pos="BELOW", align_ct=True)
        printer.set_with_default()
    elif isinstance(el, QRCode):
        printer.set_with_default(align="center")
        printer.qr(el.data, size=el.size, native=True)
        printer.set_with_default()
    elif isinstance(el, Image):
        with quiet():
            printer.image(el.image, impl=el.impl)
    elif isinstance(el, Feed):
        printer.ln(el.lines)
    elif isinstance(el, Cut):
        printer.cut()
    elif isinstance(el, Drawer):
        printer.cashdraw(el.pin)


def _text(printer: Any, el: Text) -> None:
    printer.set_with_default(
        align=el.align,
        bold=el.bold,
        underline=1 if el.underline else 0,
        double_width=el.double,
        double_height=el.double,
    )
    size = (0x0C if el.double else 0) | (0x80 if el.underline else 0)
    for wide, run in _runs(el.text):
        if wide:
            printer._raw(FS_KANJI_ON + b"\x1c\x21" + bytes([size]) + run.encode("gb18030"))
            printer._raw(FS_KANJI_OFF)
        else:
            printer.text(run)
    printer.text("\n")


def _runs(text: str) -> list[tuple[bool, str]]:
    """Split text into (double_byte, run) pieces."""
    runs: list[tuple[bool, str]] = []
    for ch in text:
        wide = is_double_byte(ch)
        if runs and runs[-1][0] == wide:
            runs[-1] = (wide, runs[-1][1] + ch)
        else:
            runs.append((wide, ch))
    return runs


def sample_receipt(columns: int = 42) -> Receipt:
    """The test receipt: every feature a front desk uses, in English and Chinese."""
    r = Receipt(columns)
    r.line("GRAND HOTEL 大酒店", align="center", bold=True, double=True)
    r.line("1 Harbour Road · 海港路1号", align="center")
    r.rule()
    r.pair("Room 房间", "8808")
    r.pair("Check-out 退房", "2026-11-22 11:04")
    r.rule()
    r.pair("Room 2 nights 房费", "EUR 256.00")
    r.pair("Minibar 迷你吧", "EUR 12.50")
    r.pair("Café 咖啡", "EUR 4.80")
    r.rule("=")
    r.pair("TOTAL 合计", "EUR 273.30", bold=True)
    r.pair("VISA", "**** 1234")
    r.line("Thank you · 谢谢光临", align="center")
    r.add(Barcode("4006381333931", "EAN13"))
    r.add(QRCode("posdriver:receipt/8808/0001"))
    r.add(Cut())
    return r
