"""Receipts as data: encoding through python-escpos, and its import side effects tamed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from PIL import Image as PILImage

from posdriver.links import open_link
from posdriver.printer.driver import Printer
from posdriver.printer.receipt import (
    Cut,
    Drawer,
    Image,
    Receipt,
    display_width,
    encode,
    encode_segments,
    sample_receipt,
)
from posdriver_emulator.controller import Controller
from tests.support.timing import REPLY_TOLERANCE, wait_until


def test_segments_join_to_the_whole_and_start_with_init() -> None:
    segments = encode_segments(sample_receipt())
    assert segments[0] == b"\x1b\x40"
    assert b"".join(segments) == encode(sample_receipt())
    assert len(segments) == len(sample_receipt().elements) + 1


def test_chinese_goes_out_as_gb18030_in_double_byte_mode() -> None:
    data = encode(Receipt().line("合计 total"))
    assert b"\x1c\x26\x1c\x21\x00" + "合计".encode("gb18030") + b"\x1c\x2e" in data
    assert b"?" not in data  # python-escpos would have printed ? for what it cannot encode


def test_pair_counts_cjk_as_two_columns() -> None:
    text = Receipt(columns=42).pair("合计", "EUR 1.00").as_text()
    assert display_width(text) == 42


def test_image_and_drawer_reach_the_printer(tmp_path) -> None:
    picture = PILImage.new("1", (128, 48), 1)
    for x in range(0, 128, 4):
        for y in range(48):
            picture.putpixel((x, y), 0)
    receipt = Receipt().line("logo:").add(Image(picture)).add(Drawer(2)).add(Cut())
    with Controller.printer(link="pty", link_dir=tmp_path) as emu:
        with open_link(emu.url) as link:
            Printer(link, reply_tolerance=REPLY_TOLERANCE).print_receipt(receipt)
        assert emu.device.wait_for_receipts(1, timeout=5)
        text = emu.device.receipts[0].text
        wait_until(lambda: emu.device.state()["drawer_kicks"] == 1, what="drawer kick")
    assert "logo:" in text and "[image 128x48]" in text


def test_python_escpos_import_leaves_no_trace(tmp_path) -> None:
    """3.1 configures the root logger, leaves a temp dir per import and prints to stdout."""
    code = """
import json, logging, os, tempfile
from posdriver.printer.escpos_compat import dummy_class, quiet
printer = dummy_class()(profile="TM-T88V")
with quiet():
    printer.barcode("4006381333931", "EAN13")
print(json.dumps({
    "handlers": len(logging.getLogger().handlers),
    "tmp": sorted(os.listdir(tempfile.gettempdir())),
    "pickle_dir": os.environ.get("ESCPOS_CAPABILITIES_PICKLE_DIR"),
}))
"""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    cache = tmp_path / "cache"
    env = dict(os.environ, TMPDIR=str(tmp), XDG_CACHE_HOME=str(cache))
    env.pop("ESCPOS_CAPABILITIES_PICKLE_DIR", None)
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    report = json.loads(out.stdout)  # stdout holds only our JSON: barcode() printed nothing
    assert report["handlers"] == 0
    assert report["tmp"] == []
    assert report["pickle_dir"] == str(cache / "posdriver" / "escpos")
    assert any(cache.rglob("*.capabilities.pickle"))
