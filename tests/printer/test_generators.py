"""Receipts from other generators than python-escpos, fed to the emulator over a real link.

receiptline (Node) lays out columns with ESC $ / ESC \\ positioning, prints QR codes as
raster graphics (GS 8 L), uses FS ( A, GS a 0 and ends with GS r 1 and waits for the
answer: quite unlike python-escpos, which is why it is here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from posdriver.links import open_link
from posdriver.printer.driver import Printer
from posdriver_emulator.controller import Controller
from tests.support.timing import REPLY_TOLERANCE

GENERATORS = Path(__file__).resolve().parent.parent / "generators"


def receiptline(doc: str, **options: object) -> bytes:
    node = shutil.which("node")
    if node is None or not (GENERATORS / "node_modules" / "receiptline").is_dir():
        pytest.skip("receiptline needs node and `npm ci` in tests/generators (make test does it)")
    return subprocess.run(
        [node, str(GENERATORS / "receiptline_escpos.js"), json.dumps(options)],
        input=doc.encode(),
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout


def print_raw(emu: Controller, data: bytes) -> str:
    """Send a generator's bytes as they are, then wait for the job like receiptline does."""
    with open_link(emu.url) as link:
        link.write(data, timeout=10)
        reply = link.read_exactly(1, timeout=10)  # receiptline's closing GS r 1
        assert reply[0] & 0x90 == 0
    assert emu.device.wait_for_receipts(1, timeout=5)
    return emu.device.receipts[0].text


def test_receiptline_columns_and_qr(pty_emu: Controller) -> None:
    doc = "\n".join(
        [
            "^^^GRAND HOTEL",
            "Room | 8808",
            "Minibar | EUR 12.50",
            "---",
            "^TOTAL | ^EUR 273.30",
            "{code:https://example.com/r/1; option:qrcode,4,L}",
        ]
    )
    text = print_raw(pty_emu, receiptline(doc))
    lines = text.splitlines()
    assert any("GRAND HOTEL" in line for line in lines)
    room = next(line for line in lines if "Room" in line)
    # receiptline puts the second column flush right with ESC $: 42 columns wide
    assert room.rstrip().endswith("8808") and len(room.rstrip()) == 42, repr(room)
    assert any("EUR 273.30" in line for line in lines)
    assert "[image" in text  # QR as raster graphics


def test_receiptline_chinese_gb18030(pty_emu: Controller) -> None:
    doc = "欢迎光临 | ¥128.00\n房间 | 8808\n"
    text = print_raw(pty_emu, receiptline(doc, encoding="gb18030"))
    assert "欢迎光临" in text and "¥128.00" in text and "房间" in text


def test_receiptline_output_through_the_driver(pty_emu: Controller) -> None:
    """Any generator's bytes print through the driver's guarded job path too."""
    data = receiptline("Hello | World\n")
    with open_link(pty_emu.url) as link:
        result = Printer(link, reply_tolerance=REPLY_TOLERANCE).print_job(data)
    assert result.confirmed
    assert pty_emu.device.wait_for_receipts(1, timeout=5)
    assert "Hello" in pty_emu.device.receipts[0].text
