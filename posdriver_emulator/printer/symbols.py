"""Barcodes and 2D symbols: names, the checks the printer applies, and readable text.

``GS k`` names a symbology by number (form 1: m = 0-6, data ends with NUL; form 2:
m = 65-79, data length first). The printer refuses data that does not fit the
symbology (wrong digit count for EAN/UPC, odd length for ITF, characters outside
CODE39's set) and prints nothing; the same checks are here so a bad barcode in a
receipt shows up as missing, as on paper.

CODE128 data carries code-set switches (``{A``, ``{B``, ``{C``; in set C each byte is
a number 0-99 printed as two digits); :func:`readable` turns it back into what the
human-readable line shows.
"""

from __future__ import annotations

import string
from typing import Any

BARCODES: dict[int, str] = {
    0: "UPC-A",
    1: "UPC-E",
    2: "EAN13",
    3: "EAN8",
    4: "CODE39",
    5: "ITF",
    6: "CODABAR",
    65: "UPC-A",
    66: "UPC-E",
    67: "EAN13",
    68: "EAN8",
    69: "CODE39",
    70: "ITF",
    71: "CODABAR",
    72: "CODE93",
    73: "CODE128",
    74: "GS1-128",
    75: "GS1 DATABAR OMNIDIRECTIONAL",
    76: "GS1 DATABAR TRUNCATED",
    77: "GS1 DATABAR LIMITED",
    78: "GS1 DATABAR EXPANDED",
    79: "CODE128 AUTO",
}

#: ``GS ( k`` symbol type (cn) -> name used in markers.
SYMBOLS: dict[int, str] = {
    48: "pdf417",
    49: "qr",
    50: "maxicode",
    51: "databar",
    52: "composite",
    53: "aztec",
    54: "datamatrix",
}

_DIGIT_COUNTS = {
    "UPC-A": (11, 12),
    "UPC-E": (6, 7, 8, 11, 12),
    "EAN13": (12, 13),
    "EAN8": (7, 8),
}
_CODE39 = set(string.digits + string.ascii_uppercase + " $%*+-./")
_CODABAR = set(string.digits + "ABCDabcd$+-./:")


def _digits(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` takes superscripts (latin-1 B2, B3, B9) too,
    which no printer encodes as bars."""
    return text.isascii() and text.isdigit()


def barcode_valid(name: str, data: bytes) -> bool:
    """Whether the printer would print ``data`` as symbology ``name``."""
    if not data:
        return False
    text = data.decode("latin-1")
    if name in _DIGIT_COUNTS:
        return _digits(text) and len(text) in _DIGIT_COUNTS[name]
    if name == "ITF":
        return _digits(text) and len(text) % 2 == 0
    if name == "CODE39":
        return set(text) <= _CODE39
    if name == "CODABAR":
        return set(text) <= _CODABAR and len(text) >= 2
    if name in ("CODE128", "GS1-128"):
        return len(data) >= 2 and all(b < 0x80 for b in data)
    return all(b < 0x80 for b in data)


def readable(name: str, data: bytes) -> str:
    """The data as a person reads it (code-set switches of CODE128 resolved)."""
    if name in ("CODE128", "GS1-128"):
        return _code128_text(data)
    return data.decode("latin-1")


def hri_text(name: str, data: bytes) -> str:
    """The human-readable line under a barcode: EAN/UPC gain their check digit."""
    text = readable(name, data)
    full = {"EAN13": 13, "EAN8": 8, "UPC-A": 12}.get(name)
    if full is not None and _digits(text) and len(text) == full - 1:
        text += str(check_digit(text))
    return text


def check_digit(digits: str) -> int:
    """The EAN/UPC modulo-10 check digit (weights 3,1,3... from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return (10 - total % 10) % 10


def _code128_text(data: bytes) -> str:
    out: list[str] = []
    code_set = "B"
    i = 0
    while i < len(data):
        b = data[i]
        if b == 0x7B and i + 1 < len(data):  # '{' + selector
            sel = chr(data[i + 1])
            i += 2
            if sel in "ABC":
                code_set = sel
            elif sel == "{":
                out.append("{")
            continue  # {S shift, {1-{4 function characters: nothing readable
        if code_set == "C":
            out.append(f"{b:02d}" if b < 100 else "?")
        else:
            out.append(chr(b) if 0x20 <= b < 0x7F else " ")
        i += 1
    return "".join(out)


def symbol_text(data: bytes) -> str:
    """2D symbol data as text: UTF-8 (what python-escpos sends), else GB18030, else Latin-1."""
    for codec in ("utf-8", "gb18030"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def qr_matrix(data: str, level: str) -> list[list[bool]] | None:
    """The QR module matrix (no quiet zone), or None if ``data`` does not fit a QR code."""
    if not data:
        return None
    try:
        import qrcode
        from qrcode import constants

        levels: dict[str, Any] = {
            "L": constants.ERROR_CORRECT_L,
            "M": constants.ERROR_CORRECT_M,
            "Q": constants.ERROR_CORRECT_Q,
            "H": constants.ERROR_CORRECT_H,
        }
        qr = qrcode.QRCode(error_correction=levels.get(level, levels["L"]), border=0)
        qr.add_data(data.encode("utf-8"))
        qr.make(fit=True)
        return [list(row) for row in qr.get_matrix()]
    except Exception:  # too long for any version, or not encodable
        return None
