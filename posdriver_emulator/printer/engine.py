"""The print engine: print modes, the line buffer, and lines coming out on paper.

This is the part of the printer after the command parser: it keeps the modes that
``ESC @`` resets (font, emphasis, sizes, alignment, spacing, code page, double-byte
mode, margins, barcode settings...), builds the current line glyph by glyph in dots,
and prints it when a line feed, a full line, a feed command or a cut says so. Every
printed line moves the paper (through the ``feed`` callback the printer model gives,
which may stop the printer when the roll runs out), and a cut hands the lines since the
previous cut to ``on_cut``. Images, barcodes and 2D symbols are in :mod:`.media`,
the mode table in :mod:`.modes`.

Geometry is in dots (180 dpi on a TM-T88V: Font A 12x24, Font B 9x17, double-byte
characters 24x24). A text line feeds ``max(line spacing x tallest magnification,
tallest glyph)``; a blank line feeds the line spacing.

Where the manual says a command only works at the start of a line (``ESC a``,
``GS L``, ``GS W``, ``ESC {``) it is ignored elsewhere, and ``GS v 0`` is ignored when
the line buffer holds data (its image data is still consumed). Cuts, barcodes and 2D
symbols print a pending line first. Page mode is printed as standard mode.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable

from . import charset
from .bitmap import Bitmap
from .media import MediaCommands, compose
from .modes import EngineConfig, Modes
from .receipt import Glyph, Line, receipt_text
from .render import marker_line, text_line

FONTS = {0: ("A", 12, 24), 1: ("B", 9, 17)}
KANJI = 24


# a glyph in the line buffer: (char, x from the area start, width, height, font,
# scale_w, scale_h, bold, underline, reverse); a tuple because there is one per character
_Pending = tuple[str, int, int, int, str, int, int, bool, int, bool]


class PrintEngine:
    """Modes + line buffer + printed lines; see the module docstring."""

    def __init__(
        self,
        config: EngineConfig,
        *,
        feed: Callable[[int], None],
        accepting: Callable[[], bool],
        on_cut: Callable[[list[Line]], None],
        counters: Counter[str],
    ) -> None:
        self.config = config
        self._feed = feed
        self._accepting = accepting
        self._on_cut = on_cut
        self.counters = counters
        self.lines: list[Line] = []  # printed since the last cut
        self.interrupted = False  # paper ran out / power was lost during this receipt
        self._moved = False  # paper moved since the last cut
        self.m = Modes()
        self.media = MediaCommands(self)
        self.power_on()

    # -- state ----------------------------------------------------------------------------
    def power_on(self) -> None:
        """Modes and buffers as after power-on (what is printed stays printed)."""
        self.init()
        self.media.power_on()

    def init(self) -> None:
        """ESC @: modes to their defaults, print buffer cleared."""
        self.m = Modes(kanji=self.config.kanji_mode_default)
        self.clear_print_buffer()

    def clear_print_buffer(self) -> None:
        self._glyphs: list[_Pending] = []
        self._bands: list[tuple[int, Bitmap]] = []
        self._x = 0
        self._mb = bytearray()
        self.media.clear()

    @property
    def in_progress(self) -> bool:
        """Something is printed (or in the line buffer) that no cut has closed yet."""
        return self._moved or bool(self._glyphs or self._bands)

    def current_text(self) -> str:
        return receipt_text(self.lines)

    # -- units ----------------------------------------------------------------------------
    def _unit_x(self, n: int) -> int:
        unit = self.m.motion_x or self.config.motion_unit
        return n * self.config.dpi // unit

    def _unit_y(self, n: int) -> int:
        unit = self.m.motion_y or self.config.motion_unit
        return n * self.config.dpi // unit

    def _spacing(self) -> int:
        units = self.m.line_spacing
        return self._unit_y(self.config.line_spacing_default if units is None else units)

    def _area(self) -> int:
        width = self.config.dots - self.m.left_margin
        if self.m.area_width is not None:
            width = min(width, self.m.area_width)
        return max(width, FONTS[0][1])

    def at_line_start(self) -> bool:
        return not self._glyphs and not self._bands and self._x == 0

    def _cell(self) -> int:
        _, width, _ = FONTS[self.m.font]
        return (width + self.m.right_spacing) * self.m.size_w

    # -- text -----------------------------------------------------------------------------
    def text(self, data: bytes) -> int:
        """Lay out character bytes; returns how many were taken before the printer stopped."""
        codec = self.config.double_byte_encoding
        page = self.config.code_pages.get(self.m.code_page, "cp437")
        table = charset.single_byte_table(page, self.m.intl)
        for i, b in enumerate(data):
            if self._mb:
                self._mb.append(b)
                if len(self._mb) < charset.multibyte_length(codec, bytes(self._mb[:2])):
                    continue
                raw = bytes(self._mb)
                if not self._put(charset.decode_multibyte(codec, raw), kanji=True):
                    self._mb = bytearray(raw[:-1])  # the last byte is taken again later
                    return i
                self._mb.clear()
            elif self.m.kanji and charset.is_lead_byte(codec, b):
                self._mb.append(b)
            elif not self._put(table[b], kanji=False):
                return i
        return len(data)

    def _put(self, ch: str, *, kanji: bool) -> bool:
        """Place one character; False if the line it forced out stopped the printer."""
        m = self.m
        if kanji:
            if m.size_from_gs:
                sw, sh = m.size_w, m.size_h
            else:
                sw, sh = (2 if m.kanji_w2 else 1), (2 if m.kanji_h2 else 1)
            width = (m.kanji_left + KANJI + m.kanji_right) * sw
            height, font, underline = KANJI * sh, "K", m.kanji_underline
        else:
            font, fw, fh = FONTS[m.font]
            sw, sh = m.size_w, m.size_h
            width, height, underline = (fw + m.right_spacing) * sw, fh * sh, m.underline
        area = self._area()
        if self._x + width > area:
            if self.at_line_start():
                self.counters["chars_too_wide"] += 1
                return True
            self.print_line()
            if not self._accepting():
                return False
            if width > area:
                return True
        self._glyphs.append(
            (ch, self._x, width, height, font, sw, sh, m.bold, underline, m.reverse)
        )
        self._x += width
        return True

    # -- printing lines -------------------------------------------------------------------
    def _align_offset(self, content: int) -> int:
        free = max(0, self._area() - content)
        return free // 2 if self.m.align == 1 else free if self.m.align == 2 else 0

    def print_line(self, feed_dots: int | None = None) -> None:
        """Print the line buffer and feed: the line's height, or ``feed_dots`` (ESC J)."""
        self._mb.clear()
        spacing = self._spacing()
        left = self.m.left_margin
        if self._bands:
            right = max(x + bm.width for x, bm in self._bands)
            height = max(bm.height for _, bm in self._bands)
            rows = bytearray(((right + 7) // 8) * height)
            canvas = Bitmap(right, height, bytes(rows))
            canvas = compose(canvas, self._bands)
            x = left + self._align_offset(right)
            line = self._image_line(canvas, x, max(spacing, height), "column")
        elif self._glyphs:
            content = max(g[1] + g[2] for g in self._glyphs)
            offset = left + self._align_offset(content)
            glyphs = tuple(
                Glyph(ch, offset + x, w, h, font, sw, sh, bold, ul, rev)
                for ch, x, w, h, font, sw, sh, bold, ul, rev in self._glyphs
            )
            tallest = max(g[3] for g in self._glyphs)
            scale = max(g[6] for g in self._glyphs)
            height = max(spacing * scale, tallest)
            line = Line("text", text_line(glyphs, self.config.dots), height, glyphs)
        elif feed_dots is not None:
            line = Line("feed", "", feed_dots)
        else:
            columns = max(1, self.config.dots // max(1, self._cell()))
            line = Line("blank", " " * columns, spacing)
        if feed_dots is not None:
            line = dataclasses.replace(line, height=feed_dots)
        self._glyphs = []
        self._bands = []
        self._x = 0
        self._emit(line)

    def _image_line(self, bitmap: Bitmap, x: int, height: int, source: str) -> Line:
        marker = f"[image {bitmap.width}x{bitmap.height}]"
        text = marker_line(marker, self.m.align, self.config.columns_font_a)
        return Line("image", text, height, bitmap=bitmap, x=x, align=self.m.align, source=source)

    def _emit(self, line: Line) -> None:
        prev = self.lines[-1] if self.lines else None
        if (
            line.kind == "image"
            and prev is not None
            and prev.kind == "image"
            and prev.bitmap is not None
            and line.bitmap is not None
            and prev.x == line.x
            and prev.bitmap.width == line.bitmap.width
            and prev.source == line.source
        ):  # consecutive strips of one picture (bands, fragments) read as one image
            bitmap = prev.bitmap.stacked(line.bitmap)
            marker = f"[image {bitmap.width}x{bitmap.height}]"
            self.lines[-1] = dataclasses.replace(
                prev,
                bitmap=bitmap,
                height=prev.height + line.height,
                text=marker_line(marker, prev.align, self.config.columns_font_a),
            )
        else:
            self.lines.append(line)
        self._moved = True
        self._feed(line.height)

    def flush_line(self) -> None:
        if not self.at_line_start():
            self.print_line()

    def add_band(self, bitmap: Bitmap) -> None:
        """An ESC * column image joins the line at the print position, if it fits."""
        if self._x + bitmap.width > self._area():  # what does not fit is not printed
            return
        self._bands.append((self._x, bitmap))
        self._x += bitmap.width

    def print_image(self, bitmap: Bitmap, source: str) -> None:
        """A raster image as its own line, placed by the current alignment."""
        x = self.m.left_margin + self._align_offset(bitmap.width)
        self._emit(self._image_line(bitmap, x, bitmap.height, source))

    def marker(self, kind: str, marker: str, height: int, **extra: object) -> None:
        """A line shown in the text as a one-line ``marker`` (barcode, symbol, NV image)."""
        text = marker_line(marker, self.m.align, self.config.columns_font_a)
        area = (self.m.left_margin, self._area())
        self._emit(Line(kind, text, height, align=self.m.align, area=area, **extra))  # type: ignore[arg-type]

    def text_block(self, text: str, font_index: int) -> None:
        """A line of plain glyphs (barcode HRI), aligned like the barcode."""
        font, fw, fh = FONTS.get(font_index, FONTS[0])
        content = fw * len(text)
        offset = self.m.left_margin + self._align_offset(content)
        glyphs = tuple(Glyph(ch, offset + i * fw, fw, fh, font) for i, ch in enumerate(text))
        if glyphs:
            self._emit(Line("text", text_line(glyphs, self.config.dots), fh, glyphs))

    # -- commands -------------------------------------------------------------------------
    def handle(self, name: str, args: tuple[object, ...]) -> bool:
        """Run a parsed command; False if the engine has no such command."""
        method = getattr(self, "_cmd_" + name, None) or getattr(self.media, "cmd_" + name, None)
        if method is None:
            return False
        method(*args)
        return True

    def _cmd_lf(self) -> None:
        self.print_line()

    def _cmd_ff(self) -> None:
        if not self.at_line_start():
            self.print_line()

    _cmd_page_print = _cmd_ff

    def _cmd_cr(self) -> None:
        """Ignored: a line thermal head with automatic line feed off."""

    def _cmd_can(self) -> None:
        """Page-mode cancel; nothing to do in standard mode."""

    def _cmd_ht(self) -> None:
        if self.m.tabs is None:
            step = 8 * (FONTS[0][1] + self.m.right_spacing) * self.m.size_w
            stops: tuple[int, ...] = tuple(step * k for k in range(1, 33))
        else:
            stops = self.m.tabs
        nxt = next((s for s in stops if s > self._x), None)
        if nxt is not None and nxt <= self._area():
            self._x = nxt

    def _cmd_tabs(self, stops: tuple[int, ...]) -> None:
        self.m.tabs = tuple(n * self._cell() for n in stops)

    def _cmd_init(self) -> None:
        self.init()

    def _cmd_print_mode(self, n: int) -> None:
        m = self.m
        m.font = n & 0x01
        m.bold = bool(n & 0x08)
        m.size_h = 2 if n & 0x10 else 1
        m.size_w = 2 if n & 0x20 else 1
        m.underline = 1 if n & 0x80 else 0
        m.size_from_gs = False

    def _cmd_size(self, n: int) -> None:
        w, h = (n >> 4) & 0x0F, n & 0x0F
        if w <= 7 and h <= 7:
            self.m.size_w, self.m.size_h, self.m.size_from_gs = w + 1, h + 1, True

    def _cmd_emphasis(self, n: int) -> None:
        self.m.bold = bool(n & 1)

    _cmd_double_strike = _cmd_emphasis

    def _cmd_underline(self, n: int) -> None:
        if n in (0, 1, 2, 48, 49, 50):
            self.m.underline = n % 48

    def _cmd_reverse(self, n: int) -> None:
        self.m.reverse = bool(n & 1)

    def _cmd_font(self, n: int) -> None:
        if n in (0, 1, 48, 49):
            self.m.font = n % 48

    def _cmd_right_spacing(self, n: int) -> None:
        self.m.right_spacing = self._unit_x(n)

    def _cmd_align(self, n: int) -> None:
        if n in (0, 1, 2, 48, 49, 50) and self.at_line_start():
            self.m.align = n % 48

    def _cmd_upside_down(self, n: int) -> None:
        if self.at_line_start():
            self.m.upside_down = bool(n & 1)

    def _cmd_rotate(self, n: int) -> None:
        """90-degree rotation: accepted, not drawn."""

    def _cmd_line_spacing(self, n: int) -> None:
        self.m.line_spacing = n

    def _cmd_line_spacing_default(self) -> None:
        self.m.line_spacing = None

    def _cmd_motion_units(self, x: int, y: int) -> None:
        self.m.motion_x, self.m.motion_y = x, y

    def _cmd_code_page(self, n: int) -> None:
        if n not in self.config.code_pages or not charset.codec_known(self.config.code_pages[n]):
            self.counters["unknown_code_page"] += 1
        self.m.code_page = n

    def _cmd_intl(self, n: int) -> None:
        if n not in charset.INTERNATIONAL_SETS:
            self.counters["unknown_intl_set"] += 1
        self.m.intl = n

    def _cmd_user_char_set(self, n: int) -> None:
        """User-defined characters are not drawn; the built-in ones print instead."""

    def _cmd_abs_pos(self, n: int) -> None:
        dots = self._unit_x(n)
        if dots <= self._area():
            self._x = dots

    def _cmd_rel_pos(self, n: int) -> None:
        dots = self._x + self._unit_x(n) if n >= 0 else self._x - self._unit_x(-n)
        if 0 <= dots <= self._area():
            self._x = dots

    def _cmd_left_margin(self, n: int) -> None:
        if self.at_line_start():
            self.m.left_margin = min(self._unit_x(n), self.config.dots - FONTS[0][1])

    def _cmd_area_width(self, n: int) -> None:
        if self.at_line_start():
            self.m.area_width = self._unit_x(n)

    def _cmd_feed_lines(self, n: int) -> None:
        if not self.at_line_start():
            self.print_line()
            n -= 1
        for _ in range(n):
            if not self._accepting():
                break
            self.print_line()

    def _cmd_feed_units(self, n: int) -> None:
        self.print_line(feed_dots=self._unit_y(n))

    def _cmd_reverse_feed_lines(self, n: int) -> None:
        self.flush_line()  # reverse feeding never gives paper back

    def _cmd_stop_sensors(self, n: int) -> None:
        self.m.stop_on_near_end = bool(n & 0x03)

    def _cmd_page_mode(self) -> None:
        """Page mode is printed as standard mode."""

    _cmd_standard_mode = _cmd_page_mode

    # kanji (double-byte) mode
    def _cmd_kanji_on(self) -> None:
        self.m.kanji = True

    def _cmd_kanji_off(self) -> None:
        self.m.kanji = False
        self._mb.clear()

    def _cmd_kanji_mode(self, n: int) -> None:
        self.m.kanji_w2 = bool(n & 0x04)
        self.m.kanji_h2 = bool(n & 0x08)
        self.m.kanji_underline = 1 if n & 0x80 else 0

    def _cmd_kanji_underline(self, n: int) -> None:
        if n in (0, 1, 2, 48, 49, 50):
            self.m.kanji_underline = n % 48

    def _cmd_kanji_quad(self, n: int) -> None:
        self.m.kanji_w2 = self.m.kanji_h2 = bool(n & 1)

    def _cmd_kanji_spacing(self, left: int, right: int) -> None:
        self.m.kanji_left, self.m.kanji_right = self._unit_x(left), self._unit_x(right)

    # cuts
    def _cmd_cut(self, partial: bool, feed_units: int | None) -> None:
        self.flush_line()
        if feed_units is not None:
            to_cutter = round(self.config.cutter_feed_mm * self.config.dpi / 25.4)
            self._emit(Line("feed", "", to_cutter + self._unit_y(feed_units)))
        if not self._moved:
            self.counters["empty_cuts"] += 1
            return
        lines, self.lines = self.lines, []
        self._moved = False
        self._on_cut(lines)

    def _cmd_cut_partial(self) -> None:
        self._cmd_cut(True, None)
