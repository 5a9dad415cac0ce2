"""Line-rate pacing keeps an absolute schedule: sleep overshoot is made up, idle is not."""

from __future__ import annotations

import pytest

from posdriver_emulator.pacing import IDLE, Pacer


class FakeTime:
    """A clock whose sleeps overshoot by a fixed amount, as a loaded machine's do."""

    def __init__(self, overshoot: float) -> None:
        self.now = 100.0
        self.overshoot = overshoot

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds + self.overshoot


def test_overshoot_does_not_accumulate() -> None:
    fake = FakeTime(overshoot=0.001)
    pacer = Pacer(9600, clock=fake.clock, sleep=fake.sleep)
    start = fake.now
    for _ in range(1000):
        pacer.transmit(3)  # 3 characters = 3.125 ms at 9600 8N1
    elapsed = fake.now - start
    ideal = 3000 * 10 / 9600
    assert elapsed == pytest.approx(ideal, abs=0.002)  # one overshoot, not a thousand


def test_idle_line_restarts_the_schedule() -> None:
    fake = FakeTime(overshoot=0.0)
    pacer = Pacer(9600, clock=fake.clock, sleep=fake.sleep)
    pacer.transmit(96)  # 0.1 s
    fake.now += 5.0  # nothing to send for five seconds
    before = fake.now
    pacer.transmit(96)
    assert fake.now - before == pytest.approx(0.1)  # no burst to "catch up" the idle time
    assert IDLE < 5.0


def test_short_idle_gap_is_not_credited() -> None:
    """A status query on a quiet line takes its full wire time, however short the gap."""
    fake = FakeTime(overshoot=0.0)
    pacer = Pacer(9600, clock=fake.clock, sleep=fake.sleep)
    for _ in range(50):
        pacer.transmit(3)  # DLE EOT n
        fake.now += 0.002  # the host thinks for 2 ms, then sends the next query
        before = fake.now
        pacer.transmit(3, queued=False)
        assert fake.now - before == pytest.approx(3 * 10 / 9600)


def test_unpaced_never_sleeps() -> None:
    fake = FakeTime(overshoot=1.0)
    pacer = Pacer(None, clock=fake.clock, sleep=fake.sleep)
    pacer.transmit(10_000)
    assert fake.now == 100.0
    assert pacer.chunk_size() == 65536


def test_chunk_size_follows_rate() -> None:
    assert Pacer(9600).chunk_size(0.004) == 3
    assert Pacer(115200).chunk_size(0.004) == 46
    assert Pacer(300).chunk_size(0.004) == 1
