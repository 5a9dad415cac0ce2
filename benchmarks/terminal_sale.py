"""A sale's end-to-end time through the ZVT driver, minus the emulator's scripted host time.

The emulated acquirer takes a fixed ``HOST_DELAY``; everything above it is posdriver's
overhead plus the emulator's own handling and the OS transport. Unpaced pty and TCP show
the software overhead (target <= 5 ms); a pty paced at 9600 bit/s shows what a real serial
line adds in wire time. The driver runs in the calling thread, so that thread's CPU time
is posdriver's own share; the rest of the unpaced figure is the emulator's threads and
the kernel handing bytes across (a real terminal replaces both with wire time).
"""

from __future__ import annotations

import time

import _common  # noqa: F401  (puts the repository on sys.path)
from _common import describe_ms

from posdriver.links import open_link
from posdriver.money import Money
from posdriver.terminal.outcomes import Approved
from posdriver.terminal.zvt.terminal import ZvtTerminal
from posdriver_emulator.controller import Controller

HOST_DELAY = 0.05
ROUNDS = 60


def measure(link_kind: str, baudrate: int | None, rounds: int) -> None:
    emu = Controller.terminal(
        link=link_kind, baudrate=baudrate, control=False, host_delay=HOST_DELAY
    )
    amount = Money.parse("12.50", "EUR")
    overheads: list[float] = []
    driver_cpu: list[float] = []
    with emu, open_link(emu.url) as link:
        terminal = ZvtTerminal(link)
        terminal.register()
        for _ in range(rounds):
            t0, c0 = time.perf_counter(), time.thread_time()
            outcome = terminal.sale(amount)
            elapsed = time.perf_counter() - t0
            driver_cpu.append(time.thread_time() - c0)
            assert isinstance(outcome, Approved), outcome
            overheads.append(elapsed - HOST_DELAY)
    rate = f"{baudrate} bit/s" if baudrate else "unpaced"
    print(f"{link_kind:4} {rate:>14}  sale minus host time: {describe_ms(overheads)}")
    print(f"{link_kind:4} {rate:>14}  driver CPU per sale:  {describe_ms(driver_cpu)}")


def main() -> None:
    print(f"ZVT sale end to end, emulated host time {HOST_DELAY * 1000:.0f} ms subtracted")
    measure("pty", None, ROUNDS)
    measure("tcp", None, ROUNDS)
    measure("pty", 9600, ROUNDS // 6)


if __name__ == "__main__":
    main()
