"""Receipts made by python-escpos (and by hand, for Chinese) come out right."""

from __future__ import annotations

import io
import random
from typing import Any

import pytest
from PIL import Image, ImageDraw

from posdriver.printer.escpos_compat import dummy_class, quiet
from posdriver_emulator.printer import PrinterEmulator, Receipt


def escpos() -> Any:
    """python-escpos's in-memory printer (escpos.printer.Dummy), profile TM-T88V."""
    return dummy_class()(profile="TM-T88V")


def feed(dev: PrinterEmulator, data: bytes, seed: int, max_chunk: int = 97) -> None:
    """Offer ``data`` in random chunk sizes, the way a transport would."""
    rng = random.Random(seed)
    i = 0
    while i < len(data):
        n = rng.randint(1, max_chunk)
        taken = dev.accept(data[i : i + n])
        assert taken == len(data[i : i + n]), "an online printer takes everything"
        i += n


def print_one(data: bytes, seed: int) -> Receipt:
    dev = PrinterEmulator()
    feed(dev, data, seed)
    assert dev.wait_for_receipts(1, timeout=1)
    assert len(dev.receipts) == 1
    return dev.receipts[0]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_text_styles_codepage_barcode_qr_cut_and_drawer(seed: int) -> None:
    p = escpos()
    p.set(align="center", bold=True, double_height=True, double_width=True)
    p.textln("GRAND HOTEL")
    p.set_with_default()
    p.textln("Café crème")
    p.set_with_default(align="right")
    p.textln("Total EUR 12.00")
    p.set_with_default(underline=1)
    p.textln("Room 8808")
    p.set_with_default()
    with quiet():
        p.barcode("4006381333931", "EAN13")
    p.qr("https://example.com/r/8808", native=True, size=4)
    p.cut()
    p.cashdraw(2)
    dev = PrinterEmulator()
    feed(dev, bytes(p.output), seed)
    assert dev.wait_for_receipts(1, timeout=1)
    receipt = dev.receipts[0]
    lines = receipt.text.splitlines()
    # double width: 21 columns of 24 dots, centred
    assert lines[0] == " " * 5 + "GRAND HOTEL" + " " * 5
    assert lines[1] == "Café crème".ljust(42)
    assert lines[2] == "Total EUR 12.00".rjust(42)
    assert lines[3] == "Room 8808".ljust(42)
    assert "[barcode EAN13 4006381333931]" in lines[4]
    assert lines[5].strip() == "4006381333931"  # HRI below (python-escpos's default)
    assert lines[6].strip() == "[qr https://example.com/r/8808]"
    assert all(not line.strip() for line in lines[7:])  # the feed before the cut
    assert len(lines) == 7 + 6
    title, cafe = receipt.lines[0], receipt.lines[1]
    assert all(g.bold and g.scale_w == 2 and g.scale_h == 2 for g in title.glyphs)
    assert not any(g.bold for g in cafe.glyphs)
    assert all(g.underline == 1 for g in receipt.lines[3].glyphs)
    assert title.height == 60  # double height: twice the 1/6-inch line
    assert dev.state()["drawer_kicks"] == 1
    assert not receipt.interrupted and receipt.index == 0


def test_code_pages_and_international_sets() -> None:
    p = escpos()
    p.textln("Ærø Œuvre €5")  # python-escpos switches code pages (ESC t) as needed
    data = bytes(p.output)
    data += b"\x1bR\x02[\\]{|}~\n"  # Germany
    data += b"\x1bR\x00\x1bt\x01\x95\x95\x95\x96\n"  # Katakana page box drawing
    data += b"\x1bt\x10\x80 \x1bt\x11\x80\x81\n"  # WPC1252 euro, PC866 Cyrillic
    data += b"\x1bt\x63\x82\n"  # a page this model lacks prints through PC437
    data += b"\x1dV\x00"
    dev = PrinterEmulator()
    feed(dev, data, seed=5)
    text = dev.receipts[0].text.splitlines()
    assert text[0].rstrip() == "Ærø Œuvre €5"
    assert text[1].rstrip() == "ÄÖÜäöüß"
    assert text[2].rstrip() == "───│"
    assert text[3].rstrip() == "€ АБ"
    assert text[4].rstrip() == "é"
    assert dev.counters["unknown_code_page"] == 1


def _picture(width: int, height: int) -> Image.Image:
    im = Image.new("1", (width, height), 1)
    draw = ImageDraw.Draw(im)
    draw.rectangle((0, 0, width - 1, height - 1), outline=0)
    draw.line((0, 0, width - 1, height - 1), fill=0)
    draw.ellipse((width // 4, height // 4, width // 2, height // 2), fill=0)
    return im


@pytest.mark.parametrize(
    ("impl", "marker"),
    [
        ("bitImageRaster", "[image 64x40]"),
        ("graphics", "[image 64x40]"),
        ("bitImageColumn", "[image 64x48]"),  # 24-dot bands: 40 rows take two
    ],
)
def test_images_in_all_three_implementations(impl: str, marker: str) -> None:
    picture = _picture(64, 40)
    p = escpos()
    p.set_with_default(align="center")
    p.textln("logo")
    with quiet():
        p.image(picture, impl=impl)
    p.cut()
    receipt = print_one(bytes(p.output), seed=11)
    images = [line for line in receipt.lines if line.kind == "image"]
    assert len(images) == 1
    image = images[0]
    assert image.text.strip() == marker
    assert image.bitmap is not None
    # the dots are the picture's dots (column bands add white rows at the bottom)
    for y in range(40):
        for x in range(64):
            assert image.bitmap.pixel(x, y) == (picture.getpixel((x, y)) == 0), (x, y)
    assert not any(
        image.bitmap.pixel(x, y) for y in range(40, image.bitmap.height) for x in range(64)
    )
    assert image.x == (512 - 64) // 2  # ESC a centres images of every kind


def test_tall_image_fragments_read_as_one_picture() -> None:
    p = escpos()
    with quiet():
        p.image(_picture(96, 1000), impl="bitImageRaster", fragment_height=400)
    p.cut()
    receipt = print_one(bytes(p.output), seed=3)
    assert "[image 96x1000]" in receipt.text


def test_png_preview_has_the_pictures_dots() -> None:
    p = escpos()
    p.set_with_default(align="center")
    p.textln("PREVIEW")
    with quiet():
        p.image(_picture(64, 40), impl="bitImageRaster")
    p.qr("posdriver", native=True, size=4)
    p.cut()
    receipt = print_one(bytes(p.output), seed=4)
    png = receipt.png()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert receipt.png() is png  # rendered once
    image = Image.open(io.BytesIO(png)).convert("L")
    assert image.width == 512
    assert image.height == sum(line.height for line in receipt.lines)
    text_line, picture_line = receipt.lines[0], receipt.lines[1]
    top = text_line.height
    left = picture_line.x
    # the picture's frame is black, its inside near the right edge white
    assert image.getpixel((left, top)) == 0
    assert image.getpixel((left + 63, top + 39)) == 0
    assert image.getpixel((left + 60, top + 5)) == 255
    # something dark was drawn for the text line and the QR code
    assert image.crop((0, 0, 512, top)).getextrema()[0] == 0
    qr_top = top + picture_line.height
    qr_box = image.crop((0, qr_top, 512, qr_top + receipt.lines[2].height))
    assert qr_box.getextrema()[0] == 0


CHINESE = "欢迎光临 房间 8808 合计 ¥128.00"


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_chinese_double_byte_text(seed: int) -> None:
    data = (
        b"\x1b@\x1c&"
        + CHINESE.encode("gb18030")
        + b"\n\x1c!\x0c"
        + "大酒店".encode("gb18030")
        + b"\n\x1c.\x1c!\x00Caf\x82\n\x1dV\x00"
    )
    assert b"\x81\x30\x84\x36" in data  # ¥ is a four-byte GB18030 character
    receipt = print_one(data, seed)
    lines = receipt.text.splitlines()
    assert lines[0].rstrip() == CHINESE
    # CJK glyphs are 24 dots: two Font A columns, so the line is 42 columns wide
    glyphs = receipt.lines[0].glyphs
    assert [g.char for g in glyphs if g.font == "K"] == list("欢迎光临房间合计¥")
    assert all(g.width == 24 for g in glyphs if g.font == "K")
    assert glyphs[-1].x == sum(g.width for g in glyphs[:-1])
    # FS ! double width and height: 48 dots each, 21 columns of 24 dots
    big = receipt.lines[1]
    assert big.text.rstrip() == "大酒店" and len(big.text) == 21 - 3
    assert all(g.width == 48 and g.height == 48 for g in big.glyphs)
    assert lines[2].rstrip() == "Café"  # after FS . bytes >= 0x80 are code page again


def test_gb18030_split_inside_a_character() -> None:
    dev = PrinterEmulator()
    encoded = "合计¥".encode("gb18030")
    dev.accept(b"\x1c&")
    for byte in encoded:
        dev.accept(bytes([byte]))
    dev.accept(b"\n\x1dV\x00")
    assert dev.receipts[0].text.rstrip() == "合计¥"


def test_python_escpos_chinese_through_posdriver_encoder() -> None:
    from posdriver.printer.receipt import encode, sample_receipt

    receipt = print_one(encode(sample_receipt()), seed=9)
    for expected in ("GRAND HOTEL", "大酒店", "Café", "合计", "EUR 273.30", "谢谢光临"):
        assert expected in receipt.text
    room = next(line for line in receipt.text.splitlines() if line.startswith("Room 房间"))
    assert room.endswith("8808")


def test_a_60_kb_raster_image_streams_through_the_4_kb_buffer() -> None:
    picture = _picture(512, 960)
    p = escpos()
    with quiet():
        p.image(picture, impl="bitImageRaster")
    p.cut()
    data = bytes(p.output)
    assert len(data) > 60_000
    dev = PrinterEmulator()
    pos = calls = 0
    while pos < len(data):
        taken = dev.accept(data[pos:])  # offered everything; a 4 KB buffer takes 4 KB
        assert 0 < taken <= 4096
        assert dev.state()["buffer_used"] == 0  # image data goes on to the print buffer
        pos += taken
        calls += 1
    assert calls >= 15
    receipt = dev.receipts[0]
    assert receipt.text.strip() == "[image 512x960]"
    bitmap = receipt.lines[0].bitmap
    assert bitmap is not None
    assert bitmap.data == bytes(data[8 : 8 + 64 * 960])
