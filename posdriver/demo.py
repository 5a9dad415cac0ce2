"""``posdriver demo``: the product on an emulated printer, from a fresh install.

Starts the emulated printer on a real pseudo-terminal (paced at 115200 bit/s, like a
real serial printer), then does what the front desk does: asks the printer's status and
identity, prints the sample receipt through the normal driver, and shows what came out
of the printer, with the path of a PNG preview.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from emulator.controller import Controller
from emulator.printer import PrinterEmulator

from .links import open_link
from .printer.driver import Printer
from .printer.receipt import display_width, sample_receipt


def run_demo(as_json: bool = False) -> int:
    device = PrinterEmulator()
    with Controller(device, link="pty", baudrate=115200) as emu:
        with open_link(emu.url) as link:
            printer = Printer(link)
            before = printer.query_status()
            identity = printer.identify()
            result = printer.print_receipt(sample_receipt())
            after = printer.query_status()
        device.wait_for_receipts(1, timeout=5)
        receipt = device.receipts[-1]
        preview = Path(tempfile.gettempdir()) / "posdriver-demo-receipt.png"
        preview.write_bytes(receipt.png())
        report = {
            "emulator": emu.describe(),
            "identity": identity.as_dict(),
            "status_before": before.as_dict(),
            "printed": {
                "bytes": result.sent,
                "seconds": round(result.seconds, 3),
                "confirmed": result.confirmed,
            },
            "status_after": after.as_dict(),
            "receipt_text": receipt.text,
            "preview_png": str(preview),
        }
    if as_json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return int(after.severity)
    print(f"emulated printer: {emu.url} (control API {emu.control_url})")
    print(
        f"identified:       {identity.maker} {identity.model}, firmware {identity.firmware}, "
        f"serial {identity.serial}"
    )
    print(f"status before:    {before.summary()}")
    print(
        f"printed:          {result.sent} bytes in {result.seconds:.2f} s, confirmed by the printer"
    )
    print(f"status after:     {after.summary()}")
    print("what came out of the printer:")
    width = max(display_width(line) for line in receipt.text.splitlines())
    print("    +" + "-" * (width + 2) + "+")
    for line in receipt.text.rstrip().splitlines():
        print(f"    | {line}{' ' * (width - display_width(line))} |")
    print("    +" + "-" * (width + 2) + "+")
    print(f"preview image:    {preview}")
    return int(after.severity)
