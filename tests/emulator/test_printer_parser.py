"""Command by command: lengths, the ESC p rule, skipped commands, layout commands."""

from __future__ import annotations

import pytest

from posdriver_emulator.printer import PrinterEmulator

CUT = b"\x1dV\x00"


def printed(data: bytes, *, one_byte_at_a_time: bool = False) -> tuple[PrinterEmulator, str]:
    dev = PrinterEmulator()
    if one_byte_at_a_time:
        for b in data + CUT:
            dev.accept(bytes([b]))
    else:
        dev.accept(data + CUT)
    assert dev.receipts, "no receipt was cut"
    return dev, dev.receipts[-1].text


def rows(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


@pytest.mark.parametrize("bytewise", [False, True])
@pytest.mark.parametrize(
    ("data", "kicks", "expected"),
    [
        (b"\x1bp\x00\x32\x32AB\n", 1, ["AB"]),  # python-escpos: pin 2, 100 ms
        (b"\x1bp\x00\x19\xfaAB\n", 1, ["AB"]),  # the classic 25/250
        (b"\x1bp\x00\x1b\x45\x01AB\n", 1, ["AB"]),  # bare ESC p 0, then ESC E 1
        (b"\x1bp\x30\nAB\n", 1, ["", "AB"]),  # bare ESC p '0', then LF
        (b"\x1bp\x01\x1dV\x00", 1, None),  # bare, then a cut
        (b"\x1bp\x07\x32\x32AB\n", 0, ["AB"]),  # m out of range: consumed, no pulse
    ],
)
def test_drawer_kick_with_and_without_timing_bytes(
    data: bytes, kicks: int, expected: list[str] | None, bytewise: bool
) -> None:
    dev = PrinterEmulator()
    if bytewise:
        for b in b"x\n" + data + CUT:
            dev.accept(bytes([b]))
    else:
        dev.accept(b"x\n" + data + CUT)
    assert dev.drawer_kicks == kicks
    if expected is not None:
        assert rows(dev.receipts[0].text)[1:] == expected
    if data.startswith(b"\x1bp\x00\x1b"):
        assert all(g.bold for g in dev.receipts[0].lines[1].glyphs)


@pytest.mark.parametrize(
    ("data", "marker"),
    [
        (b"\x1dk\x02400638133393\x00", "[barcode EAN13 400638133393]"),
        (b"\x1dk\x43\x0d4006381333931", "[barcode EAN13 4006381333931]"),
        (b"\x1dk\x04ABC-123\x00", "[barcode CODE39 ABC-123]"),
        (b"\x1dk\x49\x0a{BRoom{C\x58\x08", "[barcode CODE128 Room8808]"),
        (b"\x1dk\x46\x041234", "[barcode ITF 1234]"),
        (b"\x1dk\x48\x03ABC", "[barcode CODE93 ABC]"),
    ],
)
def test_barcode_forms(data: bytes, marker: str) -> None:
    _, text = printed(b"\x1dH\x00" + data)
    assert rows(text) == [marker]


def test_barcode_hri_above_and_below_with_check_digit() -> None:
    _, text = printed(b"\x1dH\x03\x1dk\x02400638133393\x00")
    assert rows(text) == ["4006381333931", "[barcode EAN13 400638133393]", "4006381333931"]


def test_invalid_barcode_prints_nothing_and_the_rest_is_data() -> None:
    dev, text = printed(b"\x1dk\x0212345\x00after\n\x1dk\x02123\nX\n")
    # wrong digit count: nothing printed; a LF inside form-1 data ends it and is a LF
    assert rows(text) == ["after", "", "X"]
    assert dev.counters["barcodes_refused"] == 1


@pytest.mark.parametrize(
    ("cut", "feeds"),
    [
        (b"\x1dV\x00", False),
        (b"\x1dV\x01", False),
        (b"\x1dV0", False),
        (b"\x1dV1", False),
        (b"\x1dVA\x05", True),
        (b"\x1dVB\x00", True),
        (b"\x1dVa\x00", True),
        (b"\x1dVb\x10", True),
        (b"\x1dVg\x00", True),
        (b"\x1dVh\x00", True),
        (b"\x1bi", False),
        (b"\x1bm", False),
    ],
)
def test_every_cut_form_closes_a_receipt(cut: bytes, feeds: bool) -> None:
    dev = PrinterEmulator()
    dev.accept(b"first\n" + cut + b"second\n" + cut)
    assert [rows(r.text)[0] for r in dev.receipts] == ["first", "second"]
    assert any(line.kind == "feed" for line in dev.receipts[0].lines) is feeds


def test_native_qr_code_settings_and_print() -> None:
    data = (
        b"\x1b\x61\x01"
        b"\x1d(k\x04\x001A2\x00"
        b"\x1d(k\x03\x001C\x06"
        b"\x1d(k\x03\x001E1"
        b"\x1d(k\x0f\x001P0posdriver 88"
        b"\x1d(k\x03\x001R0"  # fn 82: size information, not printed
        b"\x1d(k\x03\x001Q0"
    )
    _, text = printed(data)
    assert rows(text) == [" " * 12 + "[qr posdriver 88]"]


def test_pdf417_and_unknown_2d_symbols_are_markers_or_skipped() -> None:
    data = b"\x1d(k\x05\x000P0ab\x1d(k\x03\x000Q0" + b"\x1d(k\x03\x00\x7fQ0" + b"OK\n"
    _, text = printed(data)
    assert rows(text) == ["[pdf417 ab]", "OK"]


def test_receiptline_style_graphics_gs_8_l_and_settings_skipped() -> None:
    width, height = 16, 3
    raster = bytes([0xFF, 0x00, 0x81, 0x81, 0x00, 0xFF])
    size = len(raster) + 10
    data = (
        b"\x1b@\x1da\x00\x1bM0\x1c(A\x02\x000\x00\x1b \x00\x1cS\x00\x00\x1b3\x00\x1b{\x00\x1c."
        + b"\x1d8L"
        + size.to_bytes(4, "little")
        + b"0p0\x01\x011"
        + width.to_bytes(2, "little")
        + height.to_bytes(2, "little")
        + raster
        + b"\x1d(L\x02\x0002"
        + b"\x1d(E\x03\x00\x01IN"  # user setup: skipped by its length
        + b"\x1d(H\x06\x000\x30\x30\x30\x30\x30"
        + b"OK\n"
    )
    dev, text = printed(data)
    assert rows(text) == ["[image 16x3]", "OK"]
    image = dev.receipts[0].lines[0]
    assert image.bitmap is not None and image.bitmap.data == raster
    assert dev.state()["unknown_commands"] == 0


def test_commands_with_data_are_skipped_by_their_length() -> None:
    data = (
        b"\x1b&\x03\x41\x42\x0c"
        + bytes(36)
        + b"\x0c"
        + bytes(36)  # two user chars, 12x24
        + b"\x1c2\xfe\xa1"
        + bytes(72)  # user-defined Kanji
        + b"\x1cq\x01\x01\x00\x01\x00"
        + bytes(8)  # one NV image 8x8
        + b"\x1bD\x08\x10\x00"  # tab stops
        + b"\x1d*\x01\x01"
        + bytes(8)  # downloaded image 8x8
        + b"\x1dQ0\x00\x01\x00\x02\x00\x00\x00"  # variable-size image
        + b"\x1bW"
        + bytes(8)  # page area
        + b"\x1b(A\x04\x000\x01\x02\x03"  # beeper
        + b"\x1cg1\x00\x00\x00\x00\x00\x02\x00ab"  # NV user memory write
        + b"\x1dg0\x00\x14\x00"  # maintenance counter
        + b"\x1bc3\x00\x1bc5\x01\x1bB\x02\x03\x1dz0\x01\x02"
        + b"OK\n"
    )
    dev, text = printed(data, one_byte_at_a_time=True)
    assert rows(text) == ["OK"]
    assert dev.state()["unknown_commands"] == 0


def test_unknown_commands_are_two_bytes_and_counted() -> None:
    dev, text = printed(b"\x1b\x01A\x1d\x01B\x1c\x01C\n")
    assert rows(text) == ["ABC"]
    assert dev.state()["unknown_commands"] == 3


def test_realtime_commands_in_the_buffer_are_skipped_not_printed() -> None:
    dev, text = printed(b"A\x10\x04\x01B\x10\x05\x01C\x10\x14\x01\x00\x01D\x10E\n")
    assert rows(text) == ["ABCDE"]
    assert dev.take_output(16, 0) == b"\x12"
    assert dev.drawer_kicks == 1


def test_positioning_tabs_and_alignment() -> None:
    data = (
        b"Room\x1b$\xc8\x01"
        + b"8808\n"  # ESC $ 456 dots = column 38
        + b"A\tB\tC\n"  # default tabs every 8 columns
        + b"\x1bD\x04\x0a\x00A\tB\tC\n"
        + b"left\x1b\\\x18\x00+2\n"  # ESC \ 24 dots further
        + b"\x1ba\x02right\n\x1ba\x01mid\n"
        + b"x\x1ba\x00y\n"  # ESC a in mid-line is ignored: still centred
        + b"\x1dL\x18\x00\x1dW\x78\x00\x1ba\x00margin wraps here\n"
    )
    _, text = printed(data)
    assert rows(text) == [
        "Room" + " " * 34 + "8808",
        "A       B       C",
        "A   B     C",
        "left  +2",
        "right".rjust(42),
        " " * 19 + "mid",
        " " * 20 + "xy",
        "  margin wra",
        "  ps here",
    ]


def test_fonts_sizes_and_spacing_set_the_column_grid() -> None:
    data = b"\x1b!\x01font B\n\x1b!\x20wide\n\x1b!\x00\x1b \x0cspaced\n"
    dev, _ = printed(data)
    lines = dev.receipts[0].lines
    assert len(lines[0].text) == 56 and lines[0].text.startswith("font B")
    assert len(lines[1].text) == 21 and lines[1].text.startswith("wide")
    assert len(lines[2].text) == 21 and lines[2].text.startswith("spaced")
    assert lines[0].glyphs[0].height == 17 and lines[1].glyphs[0].width == 24


def test_deselected_printer_ignores_everything_but_esc_equals() -> None:
    _, text = printed(b"one\n\x1b=\x02display text\n\x1bE\x01\x1b=\x01two\n")
    assert rows(text) == ["one", "two"]


def test_macro_is_recorded_then_replayed() -> None:
    data = b"\x1d:hello\n\x1d:" + b"\x1d^\x03\x00\x00"
    _, text = printed(data)
    assert rows(text) == ["hello"] * 3


def test_a_macro_cannot_run_itself() -> None:
    data = b"\x1d:x\n\x1d^\x02\x00\x00\x1d:" + b"\x1d^\x02\x00\x00"
    _, text = printed(data)
    assert rows(text) == ["x", "x"]


def test_line_wraps_at_the_paper_edge() -> None:
    _, text = printed(b"0123456789" * 5 + b"\n")
    assert rows(text) == ["0123456789" * 4 + "01", "23456789"]


def test_raster_image_is_ignored_mid_line() -> None:
    dev, text = printed(b"text\x1dv0\x00\x01\x00\x01\x00\xff more\n")
    assert rows(text) == ["text more"]
    assert dev.counters["raster_ignored_mid_line"] == 1


def test_esc_star_band_then_line_feed() -> None:
    band = bytes([0xFF, 0x00, 0x00] * 4)
    _, text = printed(b"\x1b*\x21\x04\x00" + band + b"\n")
    assert rows(text) == ["[image 4x24]"]


def test_a_replayed_macro_keeps_each_mode_settings_argument() -> None:
    # replayed bytes run from the pending buffer: ESC E's argument is its own third
    # byte, not the one three places further on ('D', which would turn bold off)
    dev, _ = printed(b"\x1d:\x1bE\x01ABD\n\x1d:" + b"\x1d^\x01\x00\x00")
    assert all(g.bold for g in dev.receipts[0].lines[0].glyphs if g.char != " ")


def test_a_replayed_macro_cut_inside_a_mode_setting_runs_on_into_the_next_copy() -> None:
    # "ESC r" replayed twice is ESC r ESC (colour 0x1B), then the text "r"
    _, text = printed(b"\x1d:\x1br\x1d:\x1d^\x02\x00\x00x\n")
    assert rows(text) == ["rx"]


@pytest.mark.parametrize(
    "barcode",
    [b"\x1dkC\x0c4006\xb38133393", b"\x1dkD\x07\xb2\xb3\xb90063", b"\x1dkF\x0412\xb9\xb9"],
)
def test_a_barcode_with_a_superscript_digit_is_refused_not_printed(barcode: bytes) -> None:
    # latin-1 B2, B3, B9 are digits to str.isdigit, never to a printer
    dev, text = printed(b"x\n" + barcode + b"\n")
    assert "[barcode" not in text
    assert dev.counters["barcodes_refused"] == 1
