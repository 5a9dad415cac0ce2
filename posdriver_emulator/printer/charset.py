"""Turning printed bytes into characters the way an Epson TM printer picks its glyphs.

Three tables decide what a byte prints as:

* the code page (``ESC t n``) for bytes 0x80-0xFF;
* the international character set (``ESC R n``) for twelve ASCII positions
  (``# $ @ [ \\ ] ^ ` { | } ~``), which several countries replace with local letters;
* in double-byte mode (``FS &`` on Chinese-market models), a multi-byte encoding
  (GB18030 by default) for bytes from 0x81 up.

Code page numbers follow Epson's table; each maps to a Python codec name. Pages the
emulator cannot decode print through PC437, as a printer with the page missing from
its ROM would, and the caller counts them. Page 1 (Katakana) is not a Python codec: it
is built here from JIS X 0201 half-width katakana plus the block and box-drawing
glyphs at 0x80-0x9F that receiptline uses for its ruled lines.
"""

from __future__ import annotations

import codecs
import functools
import unicodedata
from collections.abc import Mapping

KATAKANA = "katakana"

#: Epson ``ESC t`` page number -> Python codec (or :data:`KATAKANA`).
DEFAULT_CODE_PAGES: Mapping[int, str] = {
    0: "cp437",
    1: KATAKANA,
    2: "cp850",
    3: "cp860",
    4: "cp863",
    5: "cp865",
    13: "cp857",
    14: "cp737",
    15: "iso8859_7",
    16: "cp1252",
    17: "cp866",
    18: "cp852",
    19: "cp858",
    32: "cp720",
    33: "cp775",
    34: "cp855",
    35: "cp861",
    36: "cp862",
    37: "cp864",
    38: "cp869",
    39: "iso8859_2",
    40: "iso8859_15",
    44: "cp1125",
    45: "cp1250",
    46: "cp1251",
    47: "cp1253",
    48: "cp1254",
    49: "cp1255",
    50: "cp1256",
    51: "cp1257",
    52: "cp1258",
    53: "kz1048",
}

#: The twelve ASCII positions ``ESC R`` may replace, in table order.
_INTL_POSITIONS = (0x23, 0x24, 0x40, 0x5B, 0x5C, 0x5D, 0x5E, 0x60, 0x7B, 0x7C, 0x7D, 0x7E)

#: ``ESC R n`` -> the twelve characters at :data:`_INTL_POSITIONS` (USA = plain ASCII).
INTERNATIONAL_SETS: Mapping[int, str] = {
    0: "#$@[\\]^`{|}~",  # USA
    1: "#$à°ç§^`éùè¨",  # France
    2: "#$§ÄÖÜ^`äöüß",  # Germany
    3: "£$@[\\]^`{|}~",  # United Kingdom
    4: "#$@ÆØÅ^`æøå~",  # Denmark I
    5: "#¤ÉÄÖÅÜéäöåü",  # Sweden
    6: "#$@°\\é^ùàòèì",  # Italy
    7: "₧$@¡Ñ¿^`¨ñ}~",  # Spain I
    8: "#$@[¥]^`{|}~",  # Japan
    9: "#¤ÉÆØÅÜéæøåü",  # Norway
    10: "#$ÉÆØÅÜéæøåü",  # Denmark II
    11: "#$á¡Ñ¿é`íñóú",  # Spain II
    12: "#$á¡Ñ¿éüíñóú",  # Latin America
    13: "#$@[₩]^`{|}~",  # Korea
    14: "#$ŽŠĐĆČžšđćč",  # Slovenia / Croatia
    15: "#¥@[\\]^`{|}~",  # China
}

# Epson's Katakana page, 0x80-0x9F: block elements and box drawing.
_KATAKANA_GRAPHICS = "▁▂▃▄▅▆▇█▏▎▍▌▋▊▉┼┴┬┤├▔─│▕┌┐└┘╭╮╰╯"

#: Codecs with a 4-byte form (second byte 0x30-0x39).
_FOUR_BYTE = frozenset({"gb18030"})
#: Codecs whose lead bytes are only 0x81-0x9F and 0xE0-0xFC (Shift JIS family).
_SJIS = frozenset({"shift_jis", "cp932", "sjis", "shift-jis"})


def codec_known(name: str) -> bool:
    """True when ``name`` is :data:`KATAKANA` or a codec this Python has."""
    if name == KATAKANA:
        return True
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True


@functools.lru_cache(maxsize=64)
def single_byte_table(codec: str, intl: int) -> tuple[str, ...]:
    """The 256 characters a byte prints as under ``codec`` and international set ``intl``.

    Control positions (below 0x20, 0x7F, and code-page holes) print as ``?``: they only
    reach the text path when a caller asks for them explicitly.
    """
    table = [chr(b) if 0x20 <= b < 0x7F else "?" for b in range(256)]
    replacement = INTERNATIONAL_SETS.get(intl, INTERNATIONAL_SETS[0])
    for pos, ch in zip(_INTL_POSITIONS, replacement, strict=True):
        table[pos] = ch
    for b in range(0x80, 0x100):
        table[b] = _high_byte(codec, b)
    return tuple(table)


def _high_byte(codec: str, b: int) -> str:
    if codec == KATAKANA:
        if b < 0xA0:
            return _KATAKANA_GRAPHICS[b - 0x80]
        if b == 0xA0:
            return " "
        if b < 0xE0:
            return chr(0xFF61 + b - 0xA1)  # half-width katakana
        return "?"
    try:
        ch = bytes([b]).decode(codec)
    except (UnicodeDecodeError, LookupError):
        return "?"
    if len(ch) != 1 or unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn"):
        return "?"
    return ch


def is_lead_byte(codec: str, b: int) -> bool:
    """True when ``b`` starts a multi-byte character in double-byte mode."""
    if codec.lower() in _SJIS:
        return 0x81 <= b <= 0x9F or 0xE0 <= b <= 0xFC
    return 0x81 <= b <= 0xFE


def multibyte_length(codec: str, first_two: bytes) -> int:
    """How long a character is, given its lead byte and the byte after it (2 or 4)."""
    if codec.lower() in _FOUR_BYTE and len(first_two) >= 2 and 0x30 <= first_two[1] <= 0x39:
        return 4
    return 2


def decode_multibyte(codec: str, raw: bytes) -> str:
    """One double-byte character; ``?`` for a sequence the encoding does not define."""
    try:
        ch = raw.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return "?"
    if len(ch) != 1 or unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn"):
        return "?"
    return ch


@functools.lru_cache(maxsize=8192)
def display_cells(ch: str) -> int:
    """Columns ``ch`` takes in a monospaced terminal: 2 for East Asian wide characters."""
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
