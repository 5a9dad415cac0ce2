"""The print engine's settings: what it is configured with, and what ``ESC @`` resets.

:class:`Modes` lists every setting a command can change and that initialisation
(``ESC @``, power-on) puts back, with the TM-T88V's power-on values: Font A, no
emphasis, 1/6-inch line spacing, PC437, barcodes 162 dots high with 3-dot modules,
QR codes with 3-dot modules and error correction L.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


class EngineConfig(Protocol):
    """What the engine reads from :class:`~.model.PrinterConfig`."""

    dots: int
    dpi: int
    columns_font_a: int
    line_spacing_default: int
    motion_unit: int
    cutter_feed_mm: float
    double_byte_encoding: str
    kanji_mode_default: bool
    code_pages: dict[int, str]


@dataclass
class Modes:
    """Everything ``ESC @`` puts back to its power-on value."""

    font: int = 0
    bold: bool = False
    underline: int = 0
    reverse: bool = False
    size_w: int = 1
    size_h: int = 1
    size_from_gs: bool = False
    align: int = 0
    right_spacing: int = 0
    line_spacing: int | None = None  # motion units; None = the default (1/6 inch)
    code_page: int = 0
    intl: int = 0
    kanji: bool = False
    kanji_w2: bool = False
    kanji_h2: bool = False
    kanji_underline: int = 0
    kanji_left: int = 0
    kanji_right: int = 0
    upside_down: bool = False
    left_margin: int = 0
    area_width: int | None = None
    tabs: tuple[int, ...] | None = None  # dots; None = every 8 characters
    motion_x: int = 0  # 0 = the model's default unit
    motion_y: int = 0
    hri_position: int = 0
    hri_font: int = 0
    barcode_height: int = 162
    barcode_width: int = 3
    qr_size: int = 3
    qr_level: str = "L"
    stop_on_near_end: bool = False
    symbol_data: dict[int, bytes] = field(default_factory=dict)
