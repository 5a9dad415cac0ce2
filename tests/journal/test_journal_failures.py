"""The journal when its file or disk fails: damaged, read-only, full.

Each failure must be a precise error that names the file, and must lose nothing that a
returned call had recorded: a front desk that was told "approved" must still find that
sale after the disk filled up. The read-only and full-disk cases use a real tmpfs
(root only: root ignores file permissions, so only a read-only mount stops it writing).
"""

from __future__ import annotations

import os
import random
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from posdriver.journal import (
    Journal,
    JournalCorrupt,
    JournalFull,
    JournalReadOnly,
    Kind,
    Operation,
    State,
    open_journal,
)
from posdriver.journal.journal import JOURNAL_FILE, Filters
from posdriver.money import Money
from tests.support.clock import Clock
from tests.support.mounts import IS_ROOT, remount

from .helpers import crash_after_a_sale, digest, fill, read_everything


def _permissions_bind() -> bool:
    """Whether a 0400 file stops this process writing it (not for root, as a rule)."""
    with tempfile.TemporaryDirectory() as where:
        probe = Path(where) / "probe"
        probe.write_bytes(b"")
        probe.chmod(0o400)
        try:
            probe.open("ab").close()
        except PermissionError:
            return True
        return False


PERMISSIONS_BIND = _permissions_bind()


# -- corruption --------------------------------------------------------------------------


def test_a_file_of_random_bytes_is_corrupt_and_left_alone(tmp_dir: Path) -> None:
    state = tmp_dir / "state"
    state.mkdir(mode=0o700)
    path = state / JOURNAL_FILE
    path.write_bytes(random.Random(7).randbytes(64 * 1024))
    before = digest(path)
    for opener in (lambda: open_journal(state), lambda: Journal(path)):
        with pytest.raises(JournalCorrupt) as raised:
            opener()
        text = str(raised.value)
        assert text.startswith(f"{path}: the journal file is damaged or not a journal")
        assert "file is not a database" in text
        assert "restore it from a backup" in text
    assert digest(path) == before  # the damaged copy is kept as it was


def _damaged_journal(tmp_dir: Path, clock: Clock, where: str) -> tuple[Path, list[Operation]]:
    """A closed journal of about 60 pages, then bytes overwritten ``where``: ``random``
    (two pages' worth from the middle of a page of receipts), ``zeros`` (one whole page in the
    middle), or ``header`` (page 1's first 100 bytes)."""
    with open_journal(tmp_dir / "state", clock=clock) as j:
        made = fill(j, 60)
        j.backup(tmp_dir / "before-damage.sqlite3")
    path = tmp_dir / "state" / JOURNAL_FILE
    assert not Path(f"{path}-wal").exists()  # all of it is in the main file
    size = path.stat().st_size
    assert size > 40 * 4096
    with path.open("r+b") as f:
        if where == "random":
            # from the middle of a page of receipt lines (found by its text, so the
            # damage lands in the same kind of page whatever the schema's own pages)
            page = path.read_bytes().find(b"30 line 10 ") // 4096
            assert page > 0
            f.seek(page * 4096 + 2048)
            f.write(random.Random(11).randbytes(2 * 4096))
        elif where == "zeros":
            f.seek(size // 4096 // 2 * 4096)
            f.write(b"\0" * 4096)
        else:
            f.seek(0)
            f.write(b"\0" * 100)
    return path, made


@pytest.mark.parametrize("damage", ["random", "zeros"])
def test_damaged_pages_are_reported_on_read_and_by_check(
    tmp_dir: Path, clock: Clock, damage: str
) -> None:
    path, made = _damaged_journal(tmp_dir, clock, damage)
    damaged = digest(path)
    j = Journal(path)  # page 1 and the schema are intact: it opens
    try:
        with pytest.raises(JournalCorrupt) as raised:
            read_everything(j)
        text = str(raised.value)
        assert text.startswith(f"{path}: the journal file is damaged or not a journal")
        assert "database disk image is malformed" in text
        # SQLite's check lists what it finds; where it cannot read on (the zeroed pages),
        # check() says so instead of raising: either way the damage is reported.
        problems = j.check()
        assert problems, "check() called a damaged journal sound"
        if damage == "random":
            assert "btreeInitPage() returns error code 11" in problems[0]
        else:
            assert problems == [
                "the integrity check stopped at damage it cannot read "
                "(database disk image is malformed)"
            ]
    finally:
        j.close()
    assert digest(path) == damaged  # reading a damaged journal does not change it
    # What was recorded before the damage is all in the backup.
    backup = Journal(tmp_dir / "before-damage.sqlite3")
    try:
        assert backup.search(Filters(limit=None)) == list(reversed(made))
        assert backup.check() == []
    finally:
        backup.close()


def test_a_damaged_header_is_corrupt_on_open(tmp_dir: Path, clock: Clock) -> None:
    path, _ = _damaged_journal(tmp_dir, clock, "header")
    damaged = digest(path)
    with pytest.raises(JournalCorrupt) as raised:
        open_journal(tmp_dir / "state")
    assert str(raised.value).startswith(f"{path}: the journal file is damaged")
    assert digest(path) == damaged


def test_a_sound_journal_checks_clean(journal: Journal) -> None:
    fill(journal, 3)
    assert journal.check() == []


def test_quick_check_finds_a_zeroed_page_and_passes_a_sound_journal(
    tmp_dir: Path, clock: Clock, journal: Journal
) -> None:
    fill(journal, 3)
    assert journal.quick_check(budget=30.0) == ([], True)
    path, _ = _damaged_journal(tmp_dir / "damaged", clock, "zeros")
    j = Journal(path)
    try:
        problems, finished = j.quick_check(budget=30.0)
    finally:
        j.close()
    assert finished
    assert problems == [
        "the integrity check stopped at damage it cannot read (database disk image is malformed)"
    ]


def test_quick_check_gives_up_after_its_budget(journal: Journal) -> None:
    fill(journal, 50)
    problems, finished = journal.quick_check(budget=-1.0)  # already over: stops at once
    assert (problems, finished) == ([], False)
    assert journal.quick_check(budget=30.0) == ([], True)  # and the connection works on
    assert len(journal.search()) == 50


# -- read-only ---------------------------------------------------------------------------


@pytest.mark.skipif(not IS_ROOT, reason="a read-only mount needs root; see the chmod test")
def test_a_read_only_file_system(tmpfs: Callable[[str], Path], clock: Clock) -> None:
    mnt = tmpfs("4m")
    state = mnt / "state"
    path = state / JOURNAL_FILE
    with open_journal(state, clock=clock) as j:
        made = fill(j, 3)
    remount(mnt, "ro")

    # Opening for work is refused up front, saying why.
    with pytest.raises(JournalReadOnly) as raised:
        open_journal(state)
    text = str(raised.value)
    assert text.startswith(f"{path}: the journal (or its directory) is not writable")
    assert f"the file system holding {state} is mounted read-only" in text
    # Reading is not possible either: SQLite reads a WAL journal on read-only media only
    # when its -shm file exists, and a cleanly closed journal has none.
    with pytest.raises(JournalReadOnly) as raised:
        Journal(path)
    assert str(raised.value).startswith(f"{path}: cannot open the journal")
    assert "mounted read-only" in str(raised.value)

    remount(mnt, "rw")
    with open_journal(state) as j:
        assert j.search() == list(reversed(made))


@pytest.mark.skipif(not IS_ROOT, reason="a read-only mount needs root; see the chmod test")
def test_a_read_only_file_system_after_a_crash(tmpfs: Callable[[str], Path], clock: Clock) -> None:
    """A crash leaves the -wal and -shm files; then SQLite can read the journal on a
    read-only file system (including the crashed process's last commit), and every
    write is refused whole."""
    mnt = tmpfs("4m")
    state = mnt / "state"
    path = state / JOURNAL_FILE
    with open_journal(state, clock=clock) as j:
        made = fill(j, 2)
    crash_after_a_sale(state)
    assert Path(f"{path}-wal").exists() and Path(f"{path}-shm").exists()
    remount(mnt, "ro")

    with pytest.raises(JournalReadOnly, match="mounted read-only"):
        open_journal(state)
    j = Journal(path, clock=clock)
    try:
        crashed = j.by_idempotency_key("crashed")
        assert crashed is not None and crashed.amount == Money(4200, "EUR")
        assert j.search() == [crashed, *reversed(made)]
        for write in (
            lambda: j.begin(Kind.SALE, Money(1, "EUR")),
            lambda: j.transition(crashed.id, State.IN_DOUBT),
            lambda: j.add_incident(category="note", fault="f", action="a", result="r"),
        ):
            with pytest.raises(JournalReadOnly) as raised:
                write()
            text = str(raised.value)
            assert text.startswith(f"{path}: the journal cannot be written")
            assert "attempt to write a readonly database" in text
            assert f"the file system holding {state} is mounted read-only" in text
        assert j.search() == [crashed, *reversed(made)]
        assert j.get(crashed.id).state is State.PENDING
        assert j.incidents() == []
    finally:
        j.close()


@pytest.mark.skipif(
    not PERMISSIONS_BIND, reason="file permissions do not bind root; the tmpfs tests cover it"
)
def test_a_journal_this_user_may_not_write(tmp_dir: Path, clock: Clock) -> None:
    state = tmp_dir / "state"
    path = state / JOURNAL_FILE
    with open_journal(state, clock=clock) as j:
        made = fill(j, 2)
    os.chmod(path, 0o400)
    os.chmod(state, 0o500)
    try:
        with pytest.raises(JournalReadOnly) as raised:
            open_journal(state)
        text = str(raised.value)
        assert text.startswith(f"{path}: the journal (or its directory) is not writable")
        assert "check the file's and its directory's owner and permissions" in text
        # No -shm file, and none can be made in a 0500 directory: SQLite cannot even
        # read it (it fails setting the journal up for WAL).
        with pytest.raises(JournalReadOnly) as raised:
            Journal(path)
        text = str(raised.value)
        assert text.startswith(f"{path}: the journal cannot be written (attempt to write a")
        assert text.endswith("check the file's and its directory's owner and permissions")
    finally:
        os.chmod(state, 0o700)
        os.chmod(path, 0o600)
    with open_journal(state) as j:
        assert j.search() == list(reversed(made))


# -- full disk ---------------------------------------------------------------------------


@pytest.mark.skipif(not IS_ROOT, reason="a small tmpfs to fill needs root to mount")
def test_a_full_disk_loses_nothing_recorded(tmpfs: Callable[[str], Path], clock: Clock) -> None:
    mnt = tmpfs("512k")
    filler = mnt / "filler"
    filler.write_bytes(b"\0" * 64 * 1024)  # made first, freed later: the way out
    state = mnt / "state"
    path = state / JOURNAL_FILE
    lines = [f"line {i} " + "重印 DUPLICATE " * 8 for i in range(30)]

    # progress[op_id] = the last step that returned; a failed step must leave no trace.
    progress: dict[int, str] = {}
    failed_step: tuple[str, int | None] | None = None
    j = open_journal(state, clock=clock)
    try:
        for n in range(1000):
            op_id: int | None = None
            step = "begin"
            try:
                op_id = j.begin(Kind.SALE, Money(100 + n, "EUR"), terminal="t1").id
                progress[op_id] = step
                step = "sent"
                j.transition(op_id, State.SENT, trace=n)
                progress[op_id] = step
                step = "receipt"
                j.add_receipt(op_id, "customer", [f"sale {n}", *lines], "terminal")
                progress[op_id] = step
                step = "approved"
                j.transition(op_id, State.APPROVED, receipt_no=5000 + n, card_last4="4242")
                progress[op_id] = step
            except JournalFull as exc:
                failed_step = (step, op_id)
                text = str(exc)
                assert text.startswith(f"{path}: no space left to write the journal")
                assert "the last change was NOT recorded" in text
                break
            clock.advance(1)
        assert failed_step is not None, "the tmpfs never filled up"
        assert len(progress) >= 2, "too small a tmpfs to show anything was kept"
        # Still full: a write bigger than what is left is refused the same way. (A small
        # one may fit: the failed commit's space in the WAL file is reused.)
        with pytest.raises(JournalFull, match="NOT recorded"):
            j.add_incident(category="note", fault="disk full", action="x" * 200_000, result="-")
    finally:
        j.close()

    def check_intact(j: Journal) -> None:
        ops = {op.id: op for op in j.search(Filters(limit=None))}
        assert set(ops) == set(progress)  # a failed begin left no operation behind
        for n, (op_id, done) in enumerate(sorted(progress.items())):
            op = ops[op_id]
            assert op.amount == Money(100 + n, "EUR")
            expected = {"begin": State.PENDING, "approved": State.APPROVED}.get(done, State.SENT)
            assert op.state is expected, (op_id, done)
            assert op.trace == (None if done == "begin" else n)
            assert op.receipt_no == (5000 + n if done == "approved" else None)
            receipt = j.receipt(op_id)
            if done in ("receipt", "approved"):
                assert receipt is not None and receipt.lines == (f"sale {n}", *lines)
            else:
                assert receipt is None
            assert [e.to_state for e in j.events(op_id) if e.event == "state"] == {
                "begin": [],
                "sent": ["sent"],
                "receipt": ["sent"],
                "approved": ["sent", "approved"],
            }[done]
        assert j.incidents() == []

    # Reopened while the disk is still full: everything recorded is there.
    with open_journal(state, clock=clock) as j:
        check_intact(j)

    filler.unlink()
    with open_journal(state, clock=clock) as j:
        check_intact(j)
        later = j.begin(Kind.SALE, Money(99, "EUR"))
        j.add_incident(category="device_fault", fault="disk full", action="freed", result="ok")
        assert j.check() == []
    with open_journal(state, clock=clock) as j:
        assert j.get(later.id).state is State.PENDING
        assert len(j.incidents()) == 1
