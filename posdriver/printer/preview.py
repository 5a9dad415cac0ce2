"""A receipt as the printer would print it, in HTML: the status page's preview.

Made from the same :class:`~.receipt.Receipt` elements that :func:`~.receipt.encode`
turns into ESC/POS bytes, so what a person sees is what the roll gets: the same line
breaks, the same centring, bold and double size, on the same number of columns. Each
character takes its printer columns (a wide CJK character, printed in double-byte
GB18030 mode, takes two), so the layout does not depend on the browser's fonts.
Every text is escaped: a receipt is data from a terminal, never markup.
"""

from __future__ import annotations

import html

from .receipt import Barcode, Cut, Feed, Image, QRCode, Receipt, Rule, Text, display_width


def receipt_html(receipt: Receipt) -> str:
    """``<div class="paper">`` with one ``<div class="line">`` per printed line."""
    rows = [_element(el, receipt.columns) for el in receipt.elements]
    body = "".join(row for row in rows if row)
    return f'<div class="paper" style="--columns:{receipt.columns}">{body}</div>'


def _element(el: object, columns: int) -> str:
    if isinstance(el, Text):
        return _text(el, columns)
    if isinstance(el, Rule):
        return _line(el.char * columns)
    if isinstance(el, Feed):
        return _line("") * el.lines
    if isinstance(el, Cut):
        return '<div class="cut" title="cut"></div>'
    if isinstance(el, Barcode):
        return _line(f"[barcode {el.kind} {el.code}]", "center")
    if isinstance(el, QRCode):
        return _line(f"[QR code: {el.data}]", "center")
    if isinstance(el, Image):
        return _line(f"[image {el.image.width}x{el.image.height}]", "center")
    return ""  # a drawer kick prints nothing


def _text(el: Text, columns: int) -> str:
    width = columns // 2 if el.double else columns
    pad = max(0, width - display_width(el.text))
    lead = {"left": 0, "center": pad // 2, "right": pad}[el.align]
    styles = (("bold", el.bold), ("double", el.double), ("ul", el.underline))
    classes = [name for name, on in styles if on]
    return _line(" " * lead + el.text, classes=classes)


def _line(text: str, align: str = "left", classes: list[str] | None = None) -> str:
    cells = "".join(_cell(ch) for ch in text)
    names = " ".join(["line", *(classes or ())] + (["center"] if align == "center" else []))
    return f'<div class="{names}">{cells or "&nbsp;"}</div>'


def _cell(ch: str) -> str:
    """One character in the columns it takes: wide ones in a cell two columns wide."""
    if display_width(ch) == 2:
        return f'<span class="wide">{html.escape(ch)}</span>'
    return " " if ch == " " else html.escape(ch)
