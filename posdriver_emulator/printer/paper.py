"""The paper roll: how much is left, and what the two paper sensors see.

A TM-class printer has a *paper end* sensor at the head and, optionally, a *near-end*
sensor that trips while a few metres are still on the roll (its position is set by a
screw on the roll holder; here it is ``near_end_mm``). Paper is only consumed by
feeding: every printed line, blank line, image row and the feed before a cut moves the
roll by a distance in motion units (1/180 inch on the TM-T88V), converted to mm here.

The roll itself knows nothing of faults. The printer model overlays its ``paper_out``
and ``paper_near_end`` faults on what the roll reports, so a test can make a sensor lie
without moving the paper.
"""

from __future__ import annotations

from dataclasses import dataclass

MM_PER_INCH = 25.4


def units_to_mm(units: float, per_inch: int) -> float:
    """A distance in 1/``per_inch`` inch motion units, in millimetres."""
    return units * MM_PER_INCH / per_inch if per_inch > 0 else 0.0


@dataclass
class PaperRoll:
    """A roll of ``roll_mm`` with ``remaining_mm`` still on it."""

    roll_mm: float
    near_end_mm: float
    remaining_mm: float = -1.0

    def __post_init__(self) -> None:
        if self.remaining_mm < 0:
            self.remaining_mm = self.roll_mm

    @property
    def out(self) -> bool:
        """The paper-end sensor sees no paper."""
        return self.remaining_mm <= 0.0

    @property
    def near_end(self) -> bool:
        """Within ``near_end_mm`` of the end (or past it): the near-end sensor trips."""
        return self.remaining_mm <= self.near_end_mm

    def feed(self, mm: float) -> float:
        """Advance up to ``mm``; returns how far the paper really moved (less at the end)."""
        if mm <= 0 or self.out:
            return 0.0
        moved = min(mm, self.remaining_mm)
        self.remaining_mm -= moved
        if self.remaining_mm < 1e-9:
            self.remaining_mm = 0.0
        return moved

    def load(self, roll_mm: float | None = None) -> None:
        """Put a new full roll in (optionally of another length)."""
        if roll_mm is not None:
            self.roll_mm = roll_mm
        self.remaining_mm = self.roll_mm
