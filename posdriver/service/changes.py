"""What tells a reader that something it shows changed: the status page's feed.

The daemon learns of every change as it happens (a journal commit, a health check that
changed status, a device's lifecycle, the daemon draining), so a reader is told within
moments rather than looking again and again: each change adds one to a counter and wakes
whoever waits for the counter to move. What changed is said by topic (``journal``,
``devices``, ``daemon``), so that a reader fetches again only what may differ.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

TOPICS = ("journal", "devices", "daemon")


@dataclass(frozen=True)
class Change:
    """The counter after the latest change, and the topics changed since a reader's
    ``seen`` (empty when the wait ended with nothing new)."""

    seq: int
    topics: tuple[str, ...]


class Changes:
    """A change counter per topic, and a condition to wait on. Thread-safe; telling is
    cheap (a commit does it), so it never blocks on a reader."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._seq = 0
        self._last = dict.fromkeys(TOPICS, 0)  # topic -> seq of its latest change

    @property
    def seq(self) -> int:
        with self._cond:
            return self._seq

    def tell(self, topic: str) -> None:
        with self._cond:
            self._seq += 1
            self._last[topic] = self._seq
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> Change:
        """Until something changed after ``seen`` or ``timeout`` seconds passed; the
        topics changed since ``seen``. A burst of changes (a sale's five commits) is one
        answer when they come together."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq != seen, timeout)
            topics = tuple(t for t in TOPICS if self._last[t] > seen)
            return Change(self._seq, topics)
