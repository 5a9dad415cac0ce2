"""``posdriver demo``: the product on an emulated printer, from a fresh install.

Starts the emulated printer on a real pseudo-terminal (paced at 115200 bit/s, like a
real serial printer), then does what the front desk does: asks the printer's status and
identity, prints the sample receipt through the normal driver, and shows what came out
of the printer, with the path of a PNG preview. The printer comes from the installed
emulator's entry point (:func:`posdriver.plugins.emulators`); without one the demo says
so and exits 2.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from .links import open_link
from .plugins import PluginMissing, emulators
from .printer.driver import Printer
from .printer.receipt import display_width, sample_receipt


def run_demo(as_json: bool = False) -> int:
    try:
        emulated = emulators()
    except PluginMissing as exc:
        print(f"posdriver demo: {exc}", file=sys.stderr)
        return 2
    emu = emulated.printer(link="pty", baudrate=115200)
    try:
        with open_link(emu.url) as link:
            printer = Printer(link)
            before = printer.query_status()
            identity = printer.identify()
            result = printer.print_receipt(sample_receipt())
            after = printer.query_status()
        receipt = emu.last_receipt(timeout=5)
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
    finally:
        emu.stop()
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
