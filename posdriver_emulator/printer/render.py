"""Rendering printed lines: as text on a column grid, and as a PNG preview.

Text: a line is laid out on the column grid of its own character cell (Font A on 80 mm
paper: 512 dots / 12 = 42 columns; a line in double width: 21). Each glyph lands in the
column its dot position falls in, so ``ESC a`` alignment, ``ESC $`` positioning and
spaces show as they print. A glyph wider than a cell (a 24-dot Chinese character on the
12-dot grid) fills the following cells with nothing, so the string holds exactly the
printed characters and displays at the right width in a terminal.

PNG: one pixel per dot, 512 wide. Text is drawn with a TrueType font found on the
system (a CJK-capable one if there is one, so Chinese shows; PIL's built-in font as a
last resort), raster images with their real dots, QR codes with the ``qrcode`` package
and 1D barcodes with ``python-barcode``'s bar patterns when it knows the symbology.
Nothing here is imported until a PNG is asked for.
"""

from __future__ import annotations

import functools
import glob
import io
import os
from collections.abc import Sequence
from typing import Any

from .charset import display_cells
from .receipt import Glyph, Line
from .symbols import qr_matrix

BASE_SIZE = {"A": (12, 24), "B": (9, 17), "K": (24, 24)}

_FONT_DIRS = (
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    os.path.expanduser("~/.fonts"),
    os.path.expanduser("~/.local/share/fonts"),
    "/System/Library/Fonts",
    "/Library/Fonts",
    "C:/Windows/Fonts",
)
_CJK_NAMES = (
    "NotoSansMonoCJK*",
    "NotoSansCJK*",
    "NotoSerifCJK*",
    "SourceHanSans*",
    "wqy-microhei*",
    "wqy-zenhei*",
    "DroidSansFallback*",
    "simsun*",
    "msyh*",
    "uming*",
    "ukai*",
    "PingFang*",
)
_MONO_NAMES = ("DejaVuSansMono.ttf", "LiberationMono-Regular.ttf", "FreeMono.ttf", "consola.ttf")


# -- text -------------------------------------------------------------------------------
def text_line(glyphs: Sequence[Glyph], paper_dots: int) -> str:
    """A text line on the column grid of its narrowest character cell."""
    cell = max(1, min(max(1, g.width // display_cells(g.char)) for g in glyphs))
    columns = max(1, paper_dots // cell)
    grid = [" "] * columns
    for g in glyphs:
        col = g.x // cell
        if not 0 <= col < columns:
            continue
        grid[col] = g.char
        for k in range(1, max(1, g.width // cell)):
            if col + k < columns:
                grid[col + k] = ""
    return "".join(grid)


def marker_line(marker: str, align: int, columns: int) -> str:
    """A one-line marker (image, barcode, symbol) placed as ``align`` places it."""
    pad = columns - len(marker)
    if pad <= 0:
        return marker
    lead = pad // 2 if align == 1 else pad if align == 2 else 0
    return " " * lead + marker + " " * (pad - lead)


# -- PNG --------------------------------------------------------------------------------
def render_png(lines: Sequence[Line], width: int) -> bytes:
    """The lines drawn as they print, one pixel per dot."""
    from PIL import Image

    height = max(1, sum(line.height for line in lines))
    canvas = Image.new("L", (max(1, width), height), 255)
    y = 0
    for line in lines:
        if line.kind in ("text", "blank"):
            _draw_text(canvas, line, y)
        elif line.kind == "image" and line.bitmap is not None:
            canvas.paste(line.bitmap.to_pil().convert("L"), (line.x, y))
        elif line.kind == "barcode":
            _draw_barcode(canvas, line, y)
        elif line.kind == "symbol":
            _draw_symbol(canvas, line, y)
        y += line.height
    out = io.BytesIO()
    canvas.convert("1").save(out, format="PNG", optimize=True)
    return out.getvalue()


def _draw_text(canvas: Any, line: Line, y: int) -> None:
    from PIL import ImageOps

    if not line.glyphs:
        return
    tallest = max(g.height for g in line.glyphs)
    for g in line.glyphs:
        tile = _glyph_tile(g.char, g.font, g.bold)
        w, h = BASE_SIZE[g.font]
        if g.scale_w != 1 or g.scale_h != 1:
            tile = tile.resize((w * g.scale_w, h * g.scale_h))
        top = y + tallest - g.height
        mask = ImageOps.invert(tile)  # dark glyph pixels become opaque
        box = (g.x, top, g.x + tile.width, top + tile.height)
        if g.reverse:
            canvas.paste(0, (g.x, top, g.x + g.width, top + g.height))
            canvas.paste(255, box, mask)
        else:
            canvas.paste(0, box, mask)
        if g.underline:
            canvas.paste(0, (g.x, top + g.height - g.underline, g.x + g.width, top + g.height))


@functools.lru_cache(maxsize=4096)
def _glyph_tile(char: str, font_name: str, bold: bool) -> Any:
    """A base-size glyph (Font A 12x24, B 9x17, K 24x24), black on white, mode "L"."""
    from PIL import Image, ImageDraw

    w, h = BASE_SIZE[font_name]
    tile = Image.new("L", (w, h), 255)
    draw = ImageDraw.Draw(tile)
    wide = font_name == "K" or display_cells(char) == 2
    font = _font(h - 4 if font_name != "B" else h - 3, cjk=wide)
    try:
        advance = draw.textlength(char, font=font)
        ascent, descent = font.getmetrics()
    except (AttributeError, ValueError, OSError):  # the bitmap default font has no metrics
        draw.text((0, 0), char, fill=0, font=font)
        return tile
    x = (w - advance) / 2
    y = (h - (ascent + descent)) / 2
    draw.text((x, y), char, fill=0, font=font)
    if bold:
        draw.text((x + 1, y), char, fill=0, font=font)
    return tile


@functools.lru_cache(maxsize=32)
def _font(size: int, *, cjk: bool) -> Any:
    from PIL import ImageFont

    for path in (_find_font(_CJK_NAMES) if cjk else None, _find_font(_MONO_NAMES)):
        if path:
            try:
                return ImageFont.truetype(path, size)
            except OSError:
                continue
    try:
        return ImageFont.load_default(size)
    except TypeError:  # Pillow < 10.1 has no sized default font
        return ImageFont.load_default()


@functools.lru_cache(maxsize=8)
def _find_font(names: tuple[str, ...]) -> str | None:
    for name in names:
        for base in _FONT_DIRS:
            if not os.path.isdir(base):
                continue
            hits = sorted(glob.glob(os.path.join(base, "**", name), recursive=True))
            if hits:
                return hits[0]
    return None


def _placed_x(line: Line, width: int) -> int:
    left, area = line.area
    if line.align == 1:
        return left + max(0, (area - width) // 2)
    if line.align == 2:
        return left + max(0, area - width)
    return left


def _draw_barcode(canvas: Any, line: Line, y: int) -> None:
    from PIL import ImageDraw

    draw = ImageDraw.Draw(canvas)
    modules = _bar_modules(line.symbology, line.data)
    module = max(1, line.module)
    if modules is None:  # unknown to python-barcode: a framed placeholder
        width = min(canvas.width, 11 * module * max(1, len(line.data)))
        x = _placed_x(line, width)
        draw.rectangle((x, y, x + width - 1, y + line.bar_height - 1), outline=0)
        return
    x = _placed_x(line, len(modules) * module)
    for i, bit in enumerate(modules):
        if bit == "1":
            left = x + i * module
            draw.rectangle((left, y, left + module - 1, y + line.bar_height - 1), fill=0)


_PYBARCODE = {
    "UPC-A": "upca",
    "EAN13": "ean13",
    "EAN8": "ean8",
    "CODE39": "code39",
    "ITF": "itf",
    "CODE128": "code128",
    "GS1-128": "gs1_128",
}


def _bar_modules(symbology: str, data: str) -> str | None:
    name = _PYBARCODE.get(symbology)
    if name is None:
        return None
    try:
        import barcode

        cls = barcode.get_barcode_class(name)
        kwargs = {"add_checksum": False} if name == "code39" else {}
        built = cls(data, **kwargs).build()
    except Exception:  # any refusal: draw a placeholder
        return None
    return "".join(built) if built else None


def _draw_symbol(canvas: Any, line: Line, y: int) -> None:
    from PIL import ImageDraw

    draw = ImageDraw.Draw(canvas)
    module = max(1, line.module)
    matrix = qr_matrix(line.data, line.level) if line.symbology == "QR" else None
    if matrix is None:
        x = _placed_x(line, line.height)
        draw.rectangle((x, y, x + line.height - 1, y + line.height - 1), outline=0)
        return
    x = _placed_x(line, len(matrix) * module)
    for r, row in enumerate(matrix):
        for c, on in enumerate(row):
            if on:
                left, top = x + c * module, y + r * module
                draw.rectangle((left, top, left + module - 1, top + module - 1), fill=0)
