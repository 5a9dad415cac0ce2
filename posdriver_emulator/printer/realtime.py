"""Spotting real-time commands in the raw byte stream as it arrives.

A TM printer's interface looks at every received byte for ``DLE EOT n``,
``DLE ENQ n`` and ``DLE DC4 fn ...`` *before* the byte goes into the receive buffer,
so these commands work while the printer is offline or its buffer is full. The
interface does not know what the bytes mean in context: the same sequence inside
image data is executed too (the manuals warn about exactly this). The bytes still go
into the buffer; the command parser skips them later without executing them again.

The scanner keeps the start of a possible sequence across chunk boundaries, so
``10 04`` in one write and ``01`` in the next is still a status request.

Sequences (hex):

* ``10 04 n``, n = 1..4: transmit real-time status.
* ``10 05 n``, n = 1, 2: recover from a recoverable error (2: and clear buffers).
* ``10 14 01 m t``, m = 0/1 (pin 2/5), t = 1..8 (x 100 ms): drawer pulse.
* ``10 14 02 01 08``: power-off sequence.
* ``10 14 08 01 03 14 01 06 02 08``: clear buffers.
"""

from __future__ import annotations

from dataclasses import dataclass

DLE = 0x10
_POWER_OFF = bytes((0x10, 0x14, 0x02, 0x01, 0x08))
_CLEAR = bytes((0x10, 0x14, 0x08, 0x01, 0x03, 0x14, 0x01, 0x06, 0x02, 0x08))


@dataclass(frozen=True)
class RealTime:
    """One recognised real-time command; ``end`` is its end offset in the chunk."""

    end: int
    kind: str  # "status" | "recover" | "pulse" | "power_off" | "clear"
    n: int = 0
    m: int = 0
    t: int = 0


class RealTimeScanner:
    """Finds real-time commands in consecutive chunks of received bytes."""

    def __init__(self) -> None:
        self._partial = bytearray()

    def reset(self) -> None:
        self._partial.clear()

    def scan(self, chunk: bytes) -> list[RealTime]:
        """Commands completed within ``chunk``, in order, with their end offsets."""
        found: list[RealTime] = []
        i = 0
        size = len(chunk)
        while i < size:
            if not self._partial:
                start = chunk.find(DLE, i)
                if start < 0:
                    break
                self._partial.append(DLE)
                i = start + 1
                continue
            self._partial.append(chunk[i])
            i += 1
            verdict = _match(bytes(self._partial))
            if verdict is None:  # still a possible prefix
                continue
            self._partial.clear()
            if verdict is _NO_MATCH:
                # the byte that broke the pattern may itself start a new sequence
                if chunk[i - 1] == DLE:
                    self._partial.append(DLE)
                continue
            found.append(_command(verdict, i))
        return found


class _NoMatch:
    pass


_NO_MATCH = _NoMatch()


def _match(seq: bytes) -> bytes | _NoMatch | None:
    """The completed sequence, ``_NO_MATCH`` when it cannot be one, None if incomplete."""
    if len(seq) < 2:
        return None
    second = seq[1]
    if second in (0x04, 0x05):
        if len(seq) < 3:
            return None
        n = seq[2]
        ok = 1 <= n <= 4 if second == 0x04 else n in (1, 2)
        return seq if ok else _NO_MATCH
    if second != 0x14:
        return _NO_MATCH
    if len(seq) < 3:
        return None
    fn = seq[2]
    if fn == 0x01:
        if len(seq) < 4:
            return None
        if seq[3] not in (0, 1):
            return _NO_MATCH
        if len(seq) < 5:
            return None
        return seq if 1 <= seq[4] <= 8 else _NO_MATCH
    for pattern in (_POWER_OFF, _CLEAR):
        if pattern.startswith(seq):
            return seq if len(seq) == len(pattern) else None
    return _NO_MATCH


def _command(seq: bytes | _NoMatch, end: int) -> RealTime:
    assert isinstance(seq, bytes)
    if seq[1] == 0x04:
        return RealTime(end, "status", n=seq[2])
    if seq[1] == 0x05:
        return RealTime(end, "recover", n=seq[2])
    if seq[2] == 0x01:
        return RealTime(end, "pulse", m=seq[3], t=seq[4])
    return RealTime(end, "power_off" if seq == _POWER_OFF else "clear")
