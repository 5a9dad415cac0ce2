"""The journal check: what makes it critical, and that it comes back by itself.

Real failures only: a tmpfs filled to the last byte or remounted read-only, a journal
file deleted under its open connection (the full-disk and read-only cases need root)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from posdriver.journal import Journal, JournalFull, JournalReplaced, Kind, open_journal
from posdriver.journal.journal import JOURNAL_FILE
from posdriver.journal.watch import MIB, JournalWatch
from posdriver.money import Money
from tests.support.mounts import IS_ROOT, fill_up, remount

needs_root = pytest.mark.skipif(not IS_ROOT, reason="a tmpfs to fill or remount needs root")


class Ticks:
    """A monotonic clock the test moves, for the watch's probe schedule."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_healthy_journal_is_ok_and_says_how_much_room_is_left(tmp_path: Path) -> None:
    with open_journal(tmp_path / "state") as journal:
        check = JournalWatch(journal, free_warning=0, free_critical=0).look()
    assert (check.status, check.writable, check.write_errors) == ("ok", True, 0)
    assert check.text.startswith("writable; ") and "MiB free" in check.text
    assert check.free_bytes is not None and check.free_bytes > 0


def test_little_room_warns_then_fails_before_the_disk_is_full(tmp_path: Path) -> None:
    with open_journal(tmp_path / "state") as journal:
        free = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize
        warn = JournalWatch(journal, free_warning=free + 100 * MIB, free_critical=0).look()
        crit = JournalWatch(journal, free_warning=free + 100 * MIB, free_critical=free + MIB)
        result = crit.look()
    assert warn.status == "warning" and warn.writable
    assert result.status == "critical" and "payments stop when it is full" in result.text


@needs_root
def test_a_failed_write_is_critical_until_a_probe_finds_room_again(
    tmpfs: Callable[[str], Path],
) -> None:
    state = tmpfs("2m") / "state"
    ticks = Ticks()
    with open_journal(state) as journal:
        watch = JournalWatch(journal, free_warning=0, free_critical=0, clock=ticks)
        assert watch.look().status == "ok"
        filler = fill_up(state.parent)
        with pytest.raises(JournalFull):
            for n in range(1000):  # the WAL may still have room for a few
                journal.begin(Kind.SALE, Money(100 + n, "EUR"))
        failed = watch.look()
        assert failed.status == "critical" and not failed.writable
        assert "the last write failed" in failed.text and str(state) in failed.text
        assert failed.write_errors >= 1

        filler.unlink()
        ticks.now += 1.0  # too soon for another probe: still critical
        assert watch.look().status == "critical"
        ticks.now += 5.0  # the probe is due, and the write goes through
        again = watch.look()
        assert (again.status, again.writable) == ("ok", True), again.text
        assert again.since > failed.since


@needs_root
def test_a_read_only_file_system_is_critical_at_once(tmpfs: Callable[[str], Path]) -> None:
    """The kernel remounts a failing disk read-only under open files; a test cannot (the
    mount is busy while the journal is open for writing), so the journal is closed
    first: the file system's flag is looked at before the journal is touched."""
    mnt = tmpfs("4m")
    journal = open_journal(mnt / "state")
    watch = JournalWatch(journal, free_warning=0, free_critical=0)
    assert watch.look().status == "ok"
    journal.close()
    remount(mnt, "ro")
    try:
        check = watch.look()
    finally:
        remount(mnt, "rw")
    assert check.status == "critical" and not check.writable
    assert "mounted read-only" in check.text


def test_a_journal_file_deleted_under_the_daemon_is_critical(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with open_journal(state) as journal:
        kept = journal.begin(Kind.SALE, Money(250, "EUR"))
        (state / JOURNAL_FILE).unlink()
        with pytest.raises(JournalReplaced):  # not into a lost file: see test_store.py
            journal.begin(Kind.SALE, Money(100, "EUR"))
        watch = JournalWatch(journal, free_warning=0, free_critical=0)
        check = watch.look()
        again = watch.look()
    assert check.status == "critical" and not check.writable
    assert "deleted or replaced" in check.text
    # what the daemon still held open is saved once, beside it, and is a journal
    (rescued,) = state.glob(f"{JOURNAL_FILE}.rescued-*")
    assert str(rescued) in check.text and again.text == check.text
    with Journal(rescued) as copy:
        assert copy.get(kept.id).amount == Money(250, "EUR")


def test_a_quiet_journal_is_probed_once_a_minute_and_a_busy_one_not_at_all(
    tmp_path: Path,
) -> None:
    ticks = Ticks()
    with open_journal(tmp_path / "state") as journal:
        probes: list[float] = []
        real_probe = journal.probe

        def counted() -> None:
            probes.append(ticks.now)
            real_probe()

        journal.probe = counted  # type: ignore[method-assign]
        watch = JournalWatch(journal, free_warning=0, free_critical=0, clock=ticks)
        watch.look()
        assert probes == [1000.0]  # the first look writes once
        for _ in range(5):
            ticks.now += 30.0
            journal.begin(Kind.SALE, Money(100, "EUR"))  # the journal is written anyway
            watch.look()
        assert probes == [1000.0]
        ticks.now += 61.0
        watch.look()
        assert probes == [1000.0, ticks.now]
