"""Status bytes an Epson TM printer sends, composed from one snapshot of its condition.

Three ways out, each with fixed bits so a host can tell them apart in one stream:

* ``DLE EOT n`` (real-time, answered on receipt): one byte ``0xx1xx10``.
  n=1 printer: 0x04 drawer pin 3 high, 0x08 offline, 0x20 waiting for online recovery,
  0x40 feed button pressed. n=2 offline cause: 0x04 cover open, 0x08 feeding by the
  FEED button, 0x20 printing stopped by paper end, 0x40 an error occurred. n=3 error
  cause: 0x04 recoverable (mechanical) error, 0x08 autocutter error, 0x20 unrecoverable
  error, 0x40 auto-recoverable error (head too hot, or the cover opened mid-print).
  n=4 roll paper: 0x0C near end, 0x60 paper end.
* Automatic Status Back (``GS a``): four bytes, the first ``0xx1xx00``, the others
  ``0xx0xxxx``. Byte 1: 0x04 drawer, 0x08 offline, 0x20 cover open, 0x40 feeding by
  button; byte 2: 0x01 waiting for online recovery, 0x04 mechanical, 0x08 autocutter,
  0x20 unrecoverable, 0x40 auto-recoverable; byte 3: 0x03 near end, 0x0C paper end;
  byte 4: reserved (0).
* ``GS r n`` (buffered): ``0xx0xxxx``. n=1 paper: 0x03 near end, 0x0C paper end;
  n=2 drawer: 0x01 pin 3 high.

When the roll is empty the near-end sensor sees no paper either, so "out" always
carries the near-end bits too (DLE EOT 4 = 0x7E, not 0x72) on a printer that has a
near-end sensor.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Condition:
    """Everything the status bytes are made of, read at one instant."""

    drawer_pin_high: bool = False
    offline: bool = False
    waiting_for_recovery: bool = False
    feed_button: bool = False
    cover_open: bool = False
    feeding_by_button: bool = False
    paper_end_stop: bool = False
    mechanical_error: bool = False
    autocutter_error: bool = False
    unrecoverable_error: bool = False
    auto_recoverable_error: bool = False
    near_end: bool = False
    paper_out: bool = False

    @property
    def error(self) -> bool:
        return (
            self.mechanical_error
            or self.autocutter_error
            or self.unrecoverable_error
            or self.auto_recoverable_error
        )


def _bits(*pairs: tuple[bool, int]) -> int:
    value = 0
    for on, mask in pairs:
        if on:
            value |= mask
    return value


def realtime_status(c: Condition, n: int) -> int | None:
    """The DLE EOT ``n`` reply byte, or None for an ``n`` the printer ignores."""
    if n == 1:
        return 0x12 | _bits(
            (c.drawer_pin_high, 0x04),
            (c.offline, 0x08),
            (c.waiting_for_recovery, 0x20),
            (c.feed_button, 0x40),
        )
    if n == 2:
        return 0x12 | _bits(
            (c.cover_open, 0x04),
            (c.feeding_by_button, 0x08),
            (c.paper_end_stop, 0x20),
            (c.error, 0x40),
        )
    if n == 3:
        return 0x12 | _bits(
            (c.mechanical_error, 0x04),
            (c.autocutter_error, 0x08),
            (c.unrecoverable_error, 0x20),
            (c.auto_recoverable_error, 0x40),
        )
    if n == 4:
        return 0x12 | _bits((c.near_end, 0x0C), (c.paper_out, 0x60))
    return None


def asb_block(c: Condition) -> bytes:
    """The four-byte Automatic Status Back block."""
    first = 0x10 | _bits(
        (c.drawer_pin_high, 0x04),
        (c.offline, 0x08),
        (c.cover_open, 0x20),
        (c.feeding_by_button, 0x40),
    )
    second = _bits(
        (c.waiting_for_recovery, 0x01),
        (c.mechanical_error, 0x04),
        (c.autocutter_error, 0x08),
        (c.unrecoverable_error, 0x20),
        (c.auto_recoverable_error, 0x40),
    )
    third = _bits((c.near_end, 0x03), (c.paper_out, 0x0C))
    return bytes((first, second, third, 0))


#: ``GS a`` item bit -> the ASB bits (as a 4-byte mask) that item watches.
_ASB_ITEMS: dict[int, bytes] = {
    0x01: bytes((0x04, 0, 0, 0)),  # drawer kick-out connector
    0x02: bytes((0x28, 0x01, 0, 0)),  # online/offline: offline, cover, waiting
    0x04: bytes((0, 0x6C, 0, 0)),  # errors
    0x08: bytes((0, 0, 0x0F, 0)),  # roll paper sensors
    0x40: bytes((0x40, 0, 0, 0)),  # panel switch (FEED)
}


def asb_watched(block: bytes, enabled: int) -> bytes:
    """The part of ``block`` that the items enabled in ``enabled`` watch.

    A new block is pushed when this part changes; the block itself always carries the
    whole current status, as the manual says.
    """
    mask = [0, 0, 0, 0]
    for item, bits in _ASB_ITEMS.items():
        if enabled & item:
            mask = [m | b for m, b in zip(mask, bits, strict=True)]
    return bytes(b & m for b, m in zip(block, mask, strict=True))


def transmit_status(c: Condition, n: int) -> int | None:
    """The GS r ``n`` reply byte, or None for an ``n`` this printer does not answer."""
    if n in (1, 49):
        return _bits((c.near_end, 0x03), (c.paper_out, 0x0C))
    if n in (2, 50):
        return _bits((c.drawer_pin_high, 0x01))
    return None
