"""What a terminal has said while a money operation runs on it ("insert card", "PIN
entry"), kept in memory for ``GET /v1/operations/{id}?progress=N`` (see docs/api.md): the
same lines the CLI prints when it runs a sale itself.

Only this daemon's money work has any (what another process or a run before a restart
did has none), and only the latest :data:`KEPT` operations are remembered: the texts are
for whoever waits at the counter now, not a record (the journal is that).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

KEPT = 64  # operations whose texts are remembered
LONGEST = 100  # texts remembered of one operation (a terminal says a handful)


class Progress:
    """The terminals' texts by operation id, and a wait for the next one."""

    def __init__(self) -> None:
        self._texts: OrderedDict[int, list[str]] = OrderedDict()
        self._ended: set[int] = set()
        self._changed = threading.Condition()

    def begin(self, op_id: int) -> None:
        """``op_id`` is running here: its texts are kept from now on."""
        with self._changed:
            self._texts.setdefault(op_id, [])
            while len(self._texts) > KEPT:
                gone, _ = self._texts.popitem(last=False)
                self._ended.discard(gone)

    def say(self, op_id: int, text: str) -> None:
        with self._changed:
            texts = self._texts.get(op_id)
            if texts is not None and len(texts) < LONGEST:
                texts.append(text)
                self._changed.notify_all()

    def end(self, op_id: int) -> None:
        """The terminal has finished with ``op_id``: it will say nothing more of it."""
        with self._changed:
            if op_id in self._texts:
                self._ended.add(op_id)
                self._changed.notify_all()

    def running(self, op_id: int) -> bool:
        """Whether the terminal may yet say something of ``op_id`` here."""
        with self._changed:
            return op_id in self._texts and op_id not in self._ended

    def texts(self, op_id: int) -> list[str]:
        with self._changed:
            return list(self._texts.get(op_id, ()))

    def wait(self, op_id: int, seen: int, timeout: float) -> None:
        """Wait up to ``timeout`` for a text of ``op_id`` beyond the first ``seen``, or
        its end; at once for an operation that is not running here."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while op_id in self._texts and op_id not in self._ended:
                if len(self._texts[op_id]) > seen:
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._changed.wait(left)
