"""Decoding ESC/POS real-time status into a :class:`PrinterStatus`.

Every field can be *unknown* (``None``, or ``PaperState.UNKNOWN``): a query that got
no answer, a byte that does not have the fixed bits of its reply kind, or a reply that
may be stale leaves its fields unknown, and an unknown field never reads as healthy.

Byte layouts (Epson TM family; fixed bits make replies self-identifying):

* DLE EOT n reply ``0xx1xx10``: n=1 printer (0x04 drawer pin 3 high, 0x08 offline,
  0x20 waiting for online recovery, 0x40 feed button pressed); n=2 offline cause (0x04
  cover open, 0x08 feeding by button, 0x20 stopped by paper end, 0x40 error); n=3 error
  cause (0x04 mechanical, 0x08 autocutter, 0x20 unrecoverable, 0x40 auto-recoverable);
  n=4 roll paper (0x0C near end, 0x60 paper end).
* Automatic Status Back: four bytes, the first ``0xx1xx00``, the rest ``0xx0xxxx``:
  byte 1 (0x04 drawer, 0x08 offline, 0x20 cover open, 0x40 feeding by button); byte 2
  (0x01 waiting for recovery, 0x04 mechanical, 0x08 autocutter, 0x20 unrecoverable,
  0x40 auto-recoverable); byte 3 (0x03 near end, 0x0C paper end); byte 4 reserved.
* GS r 1 reply ``0xx0xxxx``: 0x03 near end, 0x0C paper end.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace


class PaperState(enum.Enum):
    OK = "ok"
    NEAR_END = "near_end"
    OUT = "out"
    UNKNOWN = "unknown"


class Severity(enum.IntEnum):
    """Nagios plugin exit codes, which ``posdriver printer status`` returns."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


def is_realtime_reply(byte: int) -> bool:
    """True when ``byte`` has the fixed bits of a DLE EOT reply (0xx1xx10)."""
    return byte & 0x93 == 0x12


def is_asb_header(byte: int) -> bool:
    """True when ``byte`` can start an Automatic Status Back block (0xx1xx00)."""
    return byte & 0x93 == 0x10


def is_buffered_reply(byte: int) -> bool:
    """True for the 0xx0xxxx shape shared by ASB bytes 2-4, GS r and GS I replies."""
    return byte & 0x90 == 0


@dataclass(frozen=True)
class PrinterStatus:
    """What a printer said about itself, field by field; ``None`` means unknown."""

    online: bool | None = None
    cover_open: bool | None = None
    paper: PaperState = PaperState.UNKNOWN
    drawer_pin_high: bool | None = None
    feed_button: bool | None = None
    feeding_by_button: bool | None = None
    waiting_for_recovery: bool | None = None
    stopped_by_paper_end: bool | None = None
    error: bool | None = None
    mechanical_error: bool | None = None
    autocutter_error: bool | None = None
    unrecoverable_error: bool | None = None
    auto_recoverable_error: bool | None = None
    source: str = "query"
    raw: Mapping[str, int | None] = field(default_factory=dict)
    read_at: float = field(default_factory=time.time)

    # -- interpretation --------------------------------------------------------------
    @property
    def errors(self) -> list[str]:
        """Names of the error flags that are known to be set."""
        names = (
            "mechanical_error",
            "autocutter_error",
            "unrecoverable_error",
            "auto_recoverable_error",
        )
        return [n for n in names if getattr(self, n) is True]

    @property
    def severity(self) -> Severity:
        """Critical beats unknown beats warning: a known fault is always reported."""
        critical = (
            self.online is False
            or self.cover_open is True
            or self.paper is PaperState.OUT
            or bool(self.errors)
        )
        if critical:
            return Severity.CRITICAL
        unknown = (
            self.online is None
            or self.paper is PaperState.UNKNOWN
            or self.cover_open is None
            or any(getattr(self, n) is None for n in _ERROR_FIELDS)
        )
        if unknown:
            return Severity.UNKNOWN
        if self.paper is PaperState.NEAR_END:
            return Severity.WARNING
        return Severity.OK

    def drawer_open(self, open_when_pin_high: bool = True) -> bool | None:
        """Drawer state; the pin's polarity depends on the drawer's wiring."""
        if self.drawer_pin_high is None:
            return None
        return self.drawer_pin_high == open_when_pin_high

    def summary(self) -> str:
        """One line a front-desk person can act on."""
        if self.online is None and self.paper is PaperState.UNKNOWN:
            return "no answer from the printer (status unknown)"
        parts: list[str] = []
        if self.online is False:
            parts.append("offline")
        if self.cover_open:
            parts.append("cover open")
        if self.paper is PaperState.OUT:
            parts.append("paper out")
        elif self.paper is PaperState.NEAR_END:
            parts.append("paper near end")
        parts.extend(e.replace("_", " ") for e in self.errors)
        unknown = [f.name for f in fields(self) if f.name in _CORE and _is_unknown(self, f.name)]
        if unknown:
            parts.append("unknown: " + ", ".join(unknown))
        return ", ".join(parts) if parts else "ready"

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, enum.Enum):
                value = value.value
            elif f.name == "raw":
                value = {k: (None if v is None else f"0x{v:02x}") for k, v in value.items()}
            out[f.name] = value
        out["severity"] = self.severity.name.lower()
        out["summary"] = self.summary()
        return out

    def merged(self, newer: PrinterStatus) -> PrinterStatus:
        """This status updated by the known fields of ``newer``."""
        changes = {
            f.name: getattr(newer, f.name)
            for f in fields(newer)
            if f.name not in ("raw", "source", "read_at") and not _is_unknown(newer, f.name)
        }
        raw = {**self.raw, **newer.raw}
        return replace(self, **changes, raw=raw, source=newer.source, read_at=newer.read_at)


_ERROR_FIELDS = (
    "mechanical_error",
    "autocutter_error",
    "unrecoverable_error",
    "auto_recoverable_error",
)
_CORE = ("online", "cover_open", "paper", *_ERROR_FIELDS)


def _is_unknown(status: PrinterStatus, name: str) -> bool:
    value = getattr(status, name)
    return value is None or value is PaperState.UNKNOWN


def _bit(byte: int, mask: int) -> bool:
    return byte & mask == mask


def decode_realtime(replies: Mapping[int, int | None]) -> PrinterStatus:
    """Status from DLE EOT replies keyed by n (1-4); absent or malformed -> unknown."""
    values: dict[str, object] = {}
    raw: dict[str, int | None] = {}
    for n in (1, 2, 3, 4):
        byte = replies.get(n)
        raw[f"dle_eot_{n}"] = byte
        if byte is None or not 0 <= byte <= 0xFF or not is_realtime_reply(byte):
            continue
        if n == 1:
            values.update(
                drawer_pin_high=_bit(byte, 0x04),
                online=not _bit(byte, 0x08),
                waiting_for_recovery=_bit(byte, 0x20),
                feed_button=_bit(byte, 0x40),
            )
        elif n == 2:
            values.update(
                cover_open=_bit(byte, 0x04),
                feeding_by_button=_bit(byte, 0x08),
                stopped_by_paper_end=_bit(byte, 0x20),
                error=_bit(byte, 0x40),
            )
        elif n == 3:
            values.update(
                mechanical_error=_bit(byte, 0x04),
                autocutter_error=_bit(byte, 0x08),
                unrecoverable_error=_bit(byte, 0x20),
                auto_recoverable_error=_bit(byte, 0x40),
            )
        else:
            values["paper"] = _paper(
                end=byte & 0x60, near=byte & 0x0C, end_mask=0x60, near_mask=0x0C
            )
    return PrinterStatus(**values, raw=raw, source="query")  # type: ignore[arg-type]


def _paper(end: int, near: int, end_mask: int, near_mask: int) -> PaperState:
    """Paper state from a two-bit field pair; the pair's bits are set together.

    A half-set pair is not something a conforming printer sends: read it as unknown
    rather than guess which half is right.
    """
    if end not in (0, end_mask) or near not in (0, near_mask):
        return PaperState.UNKNOWN
    if end:
        return PaperState.OUT
    if near:
        return PaperState.NEAR_END
    return PaperState.OK


def decode_asb(block: bytes) -> PrinterStatus:
    """Status from a four-byte Automatic Status Back block; malformed -> all unknown."""
    raw = {f"asb_{i + 1}": (block[i] if i < len(block) else None) for i in range(4)}
    if (
        len(block) != 4
        or not is_asb_header(block[0])
        or not all(is_buffered_reply(b) for b in block[1:])
    ):
        return PrinterStatus(raw=raw, source="asb")
    b1, b2, b3 = block[0], block[1], block[2]
    paper = _paper(end=b3 & 0x0C, near=b3 & 0x03, end_mask=0x0C, near_mask=0x03)
    return PrinterStatus(
        drawer_pin_high=_bit(b1, 0x04),
        online=not _bit(b1, 0x08),
        cover_open=_bit(b1, 0x20),
        feeding_by_button=_bit(b1, 0x40),
        waiting_for_recovery=_bit(b2, 0x01),
        mechanical_error=_bit(b2, 0x04),
        autocutter_error=_bit(b2, 0x08),
        unrecoverable_error=_bit(b2, 0x20),
        auto_recoverable_error=_bit(b2, 0x40),
        error=bool(b2 & 0x6C),
        paper=paper,
        raw=raw,
        source="asb",
    )


def decode_transmit_paper(byte: int | None) -> PaperState:
    """Paper state from a GS r 1 reply."""
    if byte is None or not is_buffered_reply(byte):
        return PaperState.UNKNOWN
    return _paper(end=byte & 0x0C, near=byte & 0x03, end_mask=0x0C, near_mask=0x03)
