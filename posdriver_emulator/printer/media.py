"""Images, barcodes and 2D symbols: the print engine's commands that print pictures.

Kept apart from :mod:`.engine` (text and lines) because each kind has its own rules:

* Raster images (``GS v 0``) only print at the start of a line; graphics
  (``GS ( L`` / ``GS 8 L`` fn 112/113) are stored first and printed by fn 50; column
  images (``ESC *``) are bands in the text line; downloaded images (``GS *``) print with
  ``GS /``. A declared image too big to be real is refused rather than allocated.
* Barcodes (``GS k``) are checked as the printer checks them and print with their
  human-readable line above/below (``GS H``); 2D symbols (``GS ( k``) are stored by fn
  80 and printed by fn 81. NV images are not stored: printing one shows a marker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import symbols
from .bitmap import Bitmap

if TYPE_CHECKING:
    from .engine import PrintEngine

QR_LEVELS = {48: "L", 49: "M", 50: "Q", 51: "H"}
MAX_IMAGE_BYTES = 1 << 22  # a declared image larger than this is refused, not allocated


class MediaCommands:
    """The picture-printing commands of one :class:`~.engine.PrintEngine`."""

    def __init__(self, engine: PrintEngine) -> None:
        self.engine = engine
        self._graphics: Bitmap | None = None
        self._downloaded: Bitmap | None = None

    def clear(self) -> None:
        """The print buffer is cleared: stored graphics go with it."""
        self._graphics = None

    def power_on(self) -> None:
        self._graphics = None
        self._downloaded = None

    # images
    def cmd_column_image(self, mode: int, n: int, data: bytes) -> None:
        tall = 24 if mode & 0x20 else 8
        bitmap = Bitmap.from_columns(n, tall, data)
        bitmap = bitmap.scaled(1 if mode & 0x01 else 2, 1 if tall == 24 else 3)
        self.engine.add_band(bitmap)

    def cmd_raster_image(self, mode: int, x: int, y: int, data: bytes) -> None:
        e = self.engine
        if not e.at_line_start():
            e.counters["raster_ignored_mid_line"] += 1
            return
        if not self._image_fits(x * 8, y):
            return
        bitmap = Bitmap.from_raster(x * 8, y, data)
        e.print_image(bitmap.scaled(2 if mode & 1 else 1, 2 if mode & 2 else 1), "raster")

    def cmd_graphics_store(
        self, fn: int, tone: int, bx: int, by: int, width: int, height: int, data: bytes
    ) -> None:
        if not self._image_fits(width * (2 if bx == 2 else 1), height * (2 if by == 2 else 1)):
            return
        if fn == 112:
            bitmap = Bitmap.from_raster(width, height, data)
        else:
            bitmap = Bitmap.from_columns(width, ((height + 7) // 8) * 8, data)
        self._graphics = bitmap.scaled(2 if bx == 2 else 1, 2 if by == 2 else 1)

    def cmd_graphics_print(self) -> None:
        e = self.engine
        if self._graphics is None:
            return
        e.flush_line()
        e.print_image(self._graphics, "graphics")
        self._graphics = None

    def _image_fits(self, width: int, height: int) -> bool:
        if width <= 0 or height <= 0 or ((width + 7) // 8) * height > MAX_IMAGE_BYTES:
            self.engine.counters["images_refused"] += 1
            return False
        return True

    def cmd_define_downloaded_image(self, x: int, y: int, data: bytes) -> None:
        self._downloaded = Bitmap.from_columns(x * 8, y * 8, data)

    def cmd_downloaded_image_print(self, mode: int) -> None:
        e = self.engine
        if self._downloaded is None:
            return
        e.flush_line()
        scaled = self._downloaded.scaled(2 if mode & 1 else 1, 2 if mode & 2 else 1)
        e.print_image(scaled, "downloaded")

    def cmd_stored_graphics_print(self, fn: int, key: str) -> None:
        e = self.engine
        e.flush_line()
        e.marker("stored", f"[nv graphics {key}]", 0)

    def cmd_nv_image_print(self, n: int, m: int) -> None:
        e = self.engine
        e.flush_line()
        e.marker("stored", f"[nv image {n}]", 0)

    # barcodes and 2D symbols
    def cmd_hri_position(self, n: int) -> None:
        e = self.engine
        if n in (0, 1, 2, 3, 48, 49, 50, 51):
            e.m.hri_position = n % 48

    def cmd_hri_font(self, n: int) -> None:
        e = self.engine
        e.m.hri_font = n % 48 if n in (0, 1, 48, 49) else e.m.hri_font

    def cmd_barcode_height(self, n: int) -> None:
        e = self.engine
        if n:
            e.m.barcode_height = n

    def cmd_barcode_width(self, n: int) -> None:
        e = self.engine
        if 2 <= n <= 6 or 68 <= n <= 76:
            e.m.barcode_width = n

    def cmd_barcode(self, m: int, data: bytes) -> None:
        e = self.engine
        name = symbols.BARCODES.get(m, f"TYPE{m}")
        if not symbols.barcode_valid(name, data):
            e.counters["barcodes_refused"] += 1
            return
        e.flush_line()
        text = symbols.readable(name, data)
        hri = symbols.hri_text(name, data)
        if e.m.hri_position & 1:
            e.text_block(hri, e.m.hri_font)
        e.marker(
            "barcode",
            f"[barcode {name} {text}]",
            e.m.barcode_height,
            symbology=name,
            data=text,
            module=e.m.barcode_width if e.m.barcode_width <= 6 else 2,
            bar_height=e.m.barcode_height,
        )
        if e.m.hri_position & 2:
            e.text_block(hri, e.m.hri_font)

    def cmd_symbol(self, cn: int, fn: int, payload: bytes) -> None:
        e = self.engine
        if cn == 49 and fn == 67 and payload:
            if 1 <= payload[0] <= 16:
                e.m.qr_size = payload[0]
        elif cn == 49 and fn == 69 and payload:
            e.m.qr_level = QR_LEVELS.get(payload[0], e.m.qr_level)
        elif fn == 80 and payload:
            e.m.symbol_data[cn] = payload[1:]
        elif fn == 81:
            self._print_symbol(cn)

    def _print_symbol(self, cn: int) -> None:
        e = self.engine
        data = e.m.symbol_data.get(cn)
        name = symbols.SYMBOLS.get(cn)
        if not data or name is None:
            return
        text = symbols.symbol_text(data)
        if cn == 49:
            matrix = symbols.qr_matrix(text, e.m.qr_level)
            if matrix is None:
                e.counters["symbols_refused"] += 1
                return
            height = len(matrix) * e.m.qr_size
            module = e.m.qr_size
        else:
            height, module = 96, 3
        e.flush_line()
        e.marker(
            "symbol",
            f"[{name} {text}]",
            height,
            symbology=name.upper(),
            data=text,
            module=module,
            level=e.m.qr_level,
        )


def compose(canvas: Bitmap, bands: list[tuple[int, Bitmap]]) -> Bitmap:
    """Column-image bands of one line drawn side by side on one bitmap."""
    stride = canvas.stride
    rows = bytearray(canvas.data)
    for x0, band in bands:
        for y in range(band.height):
            for x in range(band.width):
                if band.pixel(x, y):
                    nx = x0 + x
                    rows[y * stride + nx // 8] |= 0x80 >> (nx % 8)
    return Bitmap(canvas.width, canvas.height, bytes(rows))
