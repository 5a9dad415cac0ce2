"""One-bit images as the print head sees them: rows of dots, 1 = burnt (black).

ESC/POS sends images in two layouts: *raster* (GS v 0, GS ( L fn 112: rows top to
bottom, eight dots a byte, most significant bit leftmost) and *column* (ESC *, GS ( L
fn 113: columns left to right, each column 8 or 24 dots tall in 1 or 3 bytes, most
significant bit on top). Everything is normalised to raster rows here so that the
renderer and the receipt text only deal with one shape. The data stays packed bytes;
Pillow is only touched when a PNG is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Bitmap:
    """``height`` rows of ``width`` dots; each row is ``stride`` bytes, MSB leftmost."""

    width: int
    height: int
    data: bytes

    @property
    def stride(self) -> int:
        return (self.width + 7) // 8

    @classmethod
    def from_raster(cls, width: int, height: int, data: bytes) -> Bitmap:
        """Rows of ``(width + 7) // 8`` bytes; short data is padded with white."""
        size = ((width + 7) // 8) * height
        raw = bytes(data[:size])
        return cls(width, height, raw + bytes(size - len(raw)))

    @classmethod
    def from_columns(cls, width: int, height: int, data: bytes) -> Bitmap:
        """Columns of ``height`` dots (a multiple of 8), top bit first, left to right."""
        per_col = (height + 7) // 8
        stride = (width + 7) // 8
        rows = bytearray(stride * height)
        for x in range(width):
            col = data[x * per_col : (x + 1) * per_col]
            for i, byte in enumerate(col):
                if not byte:
                    continue
                for bit in range(8):
                    if byte & (0x80 >> bit):
                        y = i * 8 + bit
                        if y < height:
                            rows[y * stride + x // 8] |= 0x80 >> (x % 8)
        return cls(width, height, bytes(rows))

    def pixel(self, x: int, y: int) -> bool:
        return bool(self.data[y * self.stride + x // 8] & (0x80 >> (x % 8)))

    def scaled(self, sx: int, sy: int) -> Bitmap:
        """Each dot repeated ``sx`` times across and ``sy`` times down (double modes)."""
        if sx == 1 and sy == 1:
            return self
        width = self.width * sx
        stride = (width + 7) // 8
        rows: list[bytes] = []
        for y in range(self.height):
            row = self.data[y * self.stride : (y + 1) * self.stride]
            if sx != 1:
                bits = int.from_bytes(row, "big") if row else 0
                wide = 0
                for i in range(self.stride * 8):  # spread each bit over sx bits
                    if bits >> i & 1:
                        wide |= ((1 << sx) - 1) << (i * sx)
                row = wide.to_bytes(self.stride * sx, "big")[:stride]
            rows.extend([bytes(row)] * sy)
        return Bitmap(width, self.height * sy, b"".join(rows))

    def stacked(self, below: Bitmap) -> Bitmap:
        """This image with ``below`` under it (both the same width)."""
        if below.width != self.width:
            raise ValueError("stacked bitmaps must have the same width")
        return Bitmap(self.width, self.height + below.height, self.data + below.data)

    def to_pil(self) -> Any:
        """A Pillow mode-"1" image (white background, black dots)."""
        from PIL import Image, ImageOps

        if self.width == 0 or self.height == 0:
            return Image.new("1", (max(1, self.width), max(1, self.height)), 1)
        image = Image.frombytes("1", (self.width, self.height), self.data)
        # in mode "1" a set bit is white; ESC/POS sets bits for black dots
        return ImageOps.invert(image.convert("L")).convert("1")
