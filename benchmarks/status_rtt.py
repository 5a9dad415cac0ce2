"""Status query round-trip time over pty and TCP: one DLE EOT, and a full 1-4 status.

Prints median and p99 per link and line rate.
"""

from __future__ import annotations

import time

import _common  # noqa: F401  (puts the repository on sys.path)
from _common import describe_ms

from posdriver.links import open_link
from posdriver.printer.driver import Printer
from posdriver_emulator.controller import Controller

ROUNDS = 300


def measure(link_kind: str, baudrate: int | None) -> None:
    emu = Controller.printer(link=link_kind, baudrate=baudrate, control=False)
    with emu, open_link(emu.url) as link:
        printer = Printer(link)
        single: list[float] = []
        full: list[float] = []
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            assert printer._realtime(1)[0] is not None
            single.append(time.perf_counter() - t0)
        for _ in range(ROUNDS // 3):
            t0 = time.perf_counter()
            status = printer.query_status()
            full.append(time.perf_counter() - t0)
            assert status.online is True
    rate = f"{baudrate} bit/s" if baudrate else "unpaced"
    print(f"{link_kind:4} {rate:>14}  DLE EOT 1:     {describe_ms(single)}")
    print(f"{link_kind:4} {rate:>14}  status (1..4): {describe_ms(full)}")


def main() -> None:
    print("status query round trip")
    for kind, rate in (("pty", None), ("pty", 115200), ("pty", 9600), ("tcp", None)):
        measure(kind, rate)


if __name__ == "__main__":
    main()
