"""``python -m tests.support.shifted_clock FILE ARGS...``: ``python -m posdriver ARGS``
with its wall clock moved while it runs, as NTP, a person or a PC booting on a dead RTC
battery moves a real one.

FILE holds the seconds to add to the real time (``0`` to start with); a test writes
another number into it to step the clock, and the next reading of ``time.time()`` in the
process has it. Only the wall clock moves: the monotonic clock, like the kernel's, does
not. (libfaketime cannot step the one without breaking the other's sleeps under Python:
``time.sleep`` fails with EINVAL after a step.) ``datetime.now()`` is not moved, so the
journal's timestamps keep the real time; what the daemon computes ages from is moved.
"""

from __future__ import annotations

import os
import runpy
import sys
import time

_real_time, _real_time_ns = time.time, time.time_ns


class _Offset:
    def __init__(self, path: str) -> None:
        self.path = path
        self.stamp = -1
        self.seconds = 0.0

    def __call__(self) -> float:
        stamp = os.stat(self.path).st_mtime_ns
        if stamp != self.stamp:  # re-read only when the test wrote a new step
            text = open(self.path, encoding="ascii").read().strip()  # noqa: SIM115
            self.seconds, self.stamp = float(text or 0), stamp
        return self.seconds


def main() -> None:
    offset = _Offset(sys.argv[1])
    time.time = lambda: _real_time() + offset()
    time.time_ns = lambda: _real_time_ns() + int(offset() * 1e9)
    sys.argv = ["posdriver", *sys.argv[2:]]
    runpy.run_module("posdriver", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
