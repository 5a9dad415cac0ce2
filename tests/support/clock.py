"""A clock the code under test reads and the test moves: times in a journal are then
exact, and nothing waits for them to pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

START = datetime(2024, 5, 17, 9, 30, tzinfo=UTC)


class Clock:
    """A clock the journal reads and the test moves."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 1.0) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now

    def set(self, when: datetime) -> datetime:
        self.now = when
        return self.now
