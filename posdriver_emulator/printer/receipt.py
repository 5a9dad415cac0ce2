"""What came out of the printer: printed lines, and receipts (the pieces between cuts).

A :class:`Line` is one strip of paper as the head printed it: a text line (its glyphs
with their positions in dots, so the PNG preview can draw them), a blank line, an image,
a barcode or a 2D symbol, with the paper it used. Its ``text`` is how it reads in
:attr:`Receipt.text`: a text line laid out on the column grid of its font (so alignment
and spacing show), an image or symbol as a one-line marker such as ``[image 384x120]``,
``[barcode EAN13 4006381333931]`` or ``[qr https://...]``.

Receipts are immutable; the PNG preview is rendered on first use and kept.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from .bitmap import Bitmap


@dataclass(slots=True)
class Glyph:
    """One printed character; ``x`` in dots from the paper's left edge (one per character,
    so a plain slotted class: creating frozen dataclasses costs twice as much)."""

    char: str
    x: int
    width: int  # dots, including character spacing
    height: int  # dots
    font: str  # "A", "B" or "K" (the 24x24 double-byte font)
    scale_w: int = 1
    scale_h: int = 1
    bold: bool = False
    underline: int = 0
    reverse: bool = False


@dataclass(frozen=True)
class Line:
    """One printed line (or feed) of a receipt."""

    kind: str  # "text" | "blank" | "feed" | "image" | "barcode" | "symbol" | "stored"
    text: str  # as shown in Receipt.text; unused for "feed"
    height: int  # dots of paper this line fed
    glyphs: tuple[Glyph, ...] = ()
    bitmap: Bitmap | None = None
    x: int = 0  # left edge of an image, in dots
    align: int = 0  # 0 left, 1 centre, 2 right (barcodes and symbols)
    area: tuple[int, int] = (0, 0)  # printable area (left, width) when printed
    symbology: str = ""
    data: str = ""
    module: int = 0  # barcode module width / 2D symbol module size, in dots
    bar_height: int = 0
    level: str = "L"  # QR error correction level
    source: str = ""  # for images: the command family ("raster", "graphics", "column"...)

    @property
    def shown(self) -> bool:
        """Whether the line appears in the receipt's text (feeds do not)."""
        return self.kind != "feed"


@dataclass(frozen=True)
class Receipt:
    """One cut-off piece of the roll, in print order."""

    index: int
    text: str
    lines: list[Line] = field(default_factory=list)
    interrupted: bool = False
    width_dots: int = 512

    @classmethod
    def from_lines(
        cls, index: int, lines: list[Line], interrupted: bool, width_dots: int
    ) -> Receipt:
        return cls(index, receipt_text(lines), list(lines), interrupted, width_dots)

    def png(self) -> bytes:
        """A PNG preview (rendered on first call, then kept)."""
        return self._png

    @functools.cached_property
    def _png(self) -> bytes:
        from .render import render_png

        return render_png(self.lines, self.width_dots)


def receipt_text(lines: list[Line]) -> str:
    """The text of printed lines, one per line, feeds left out."""
    return "\n".join(line.text for line in lines if line.shown)
