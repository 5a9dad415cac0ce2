"""Line-rate pacing: makes an emulated serial line take as long as a real one.

A real RS-232 line at 9600 bit/s 8N1 carries 960 characters a second. Without pacing a
pty moves megabytes a second, and a driver that would be far too slow on a real counter
passes every test. The pacer keeps an absolute schedule (when the line is next free)
rather than sleeping per chunk, so scheduling jitter does not accumulate.
"""

from __future__ import annotations

import time
from collections.abc import Callable

IDLE = 0.02  # a backlog this far behind (seconds) is a stall, not sleep overshoot


class Pacer:
    """Time budget for one direction of a paced line; ``baudrate=None`` = unpaced."""

    def __init__(
        self,
        baudrate: int | None,
        bits_per_char: int = 10,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.char_time = bits_per_char / baudrate if baudrate else 0.0
        self._clock = clock
        self._sleep = sleep
        self._free_at = 0.0

    @property
    def paced(self) -> bool:
        return self.char_time > 0

    def chunk_size(self, granularity: float = 0.004) -> int:
        """Bytes per step so one step lasts about ``granularity`` seconds."""
        if not self.paced:
            return 65536
        return max(1, int(granularity / self.char_time))

    def transmit(self, count: int, *, queued: bool = True) -> None:
        """Block until ``count`` characters would have crossed the line.

        ``queued`` says the bytes were already waiting when the line became free (a
        backlog): they follow the previous ones back to back, scheduled from
        ``_free_at`` even if a sleep overshot and that is slightly past, so overshoot is
        made up instead of accumulating. Bytes that arrived on an idle line
        (``queued=False``) start crossing now: idle time is never credited. A backlog
        more than ``IDLE`` behind (the process was descheduled) restarts at now too,
        rather than bursting.
        """
        if not self.paced or count <= 0:
            return
        now = self._clock()
        behind = now - self._free_at
        start = self._free_at if queued and 0 <= behind < IDLE else max(now, self._free_at)
        self._free_at = start + count * self.char_time
        delay = self._free_at - now
        if delay > 0:
            self._sleep(delay)
