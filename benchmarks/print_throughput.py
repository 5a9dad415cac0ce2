"""Print throughput of a 2 KB receipt as a fraction of line rate, posdriver vs python-escpos.

Both send the same bytes over the same paced pty; the clock runs from the first call
until the emulated printer has cut the receipt. posdriver's time includes its status
check before the job and its GS r confirmation after it; python-escpos does neither.
Target: posdriver >= 0.97 of line rate.
"""

from __future__ import annotations

import statistics
import time
from urllib.parse import urlsplit

import _common  # noqa: F401  (puts the repository on sys.path)

from posdriver.links import open_link
from posdriver.printer.driver import Printer
from posdriver.printer.escpos_compat import dummy_class
from posdriver.printer.receipt import Cut, Receipt, encode
from posdriver_emulator.controller import Controller

ROUNDS = 3


def receipt_2k() -> bytes:
    receipt = Receipt()
    i = 0
    while len(encode(receipt)) < 2048 - 60:
        receipt.pair(f"Item {i:03d} minibar", f"EUR {i * 1.25:8.2f}")
        i += 1
    receipt.add(Cut())
    return encode(receipt)


def run_posdriver(emu: Controller, data: bytes) -> float:
    with open_link(emu.url) as link:
        printer = Printer(link)
        before = len(emu.device.receipts)
        t0 = time.perf_counter()
        printer.print_job(data)
        assert emu.device.wait_for_receipts(before + 1, timeout=30)
        return time.perf_counter() - t0


def run_python_escpos(emu: Controller, data: bytes, baudrate: int) -> float:
    from escpos.printer import Serial

    dummy_class()  # import python-escpos once, quietly
    path = urlsplit(emu.url).path
    printer = Serial(devfile=path, baudrate=baudrate, timeout=1)
    printer.open()
    try:
        before = len(emu.device.receipts)
        t0 = time.perf_counter()
        printer._raw(data)
        assert emu.device.wait_for_receipts(before + 1, timeout=30)
        return time.perf_counter() - t0
    finally:
        printer.close()


def main() -> None:
    data = receipt_2k()
    print(
        f"print throughput, receipt of {len(data)} bytes, fraction of line rate "
        f"(median of {ROUNDS})"
    )
    for baudrate in (9600, 115200):
        line_time = len(data) * 10 / baudrate
        with Controller.printer(link="pty", baudrate=baudrate, control=False) as emu:
            ours = [run_posdriver(emu, data) for _ in range(ROUNDS)]
            theirs = [run_python_escpos(emu, data, baudrate) for _ in range(ROUNDS)]
        for name, times in (("posdriver", ours), ("python-escpos", theirs)):
            median = statistics.median(times)
            print(
                f"  {baudrate:>6} bit/s  {name:<14} {median:7.3f} s  "
                f"line time {line_time:6.3f} s  fraction {line_time / median:5.3f}"
            )


if __name__ == "__main__":
    main()
