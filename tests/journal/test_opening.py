"""Opening the journal: a private state directory, the schema version, journals
opened together, and files refused rather than taken for a new journal (empty, a -wal
without its journal) or left half-made by a crash."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from posdriver.journal import Journal, JournalCorrupt, JournalError, Kind, open_journal
from posdriver.journal.journal import JOURNAL_FILE
from posdriver.journal.schema import CURRENT_VERSION
from posdriver.money import Money
from tests.support.clock import Clock

from .helpers import LINES, approved, crash_after_a_sale, digest, eur, fill


def test_state_dir_and_files_are_private_even_under_umask_022(tmp_dir: Path) -> None:
    old = os.umask(0o022)
    try:
        j = open_journal(tmp_dir / "deep" / "state")
        try:
            j.begin(Kind.SALE, eur("1.00"))
            state = tmp_dir / "deep" / "state"
            assert stat.S_IMODE(state.stat().st_mode) == 0o700
            for name in (JOURNAL_FILE, f"{JOURNAL_FILE}-wal", f"{JOURNAL_FILE}-shm"):
                assert stat.S_IMODE((state / name).stat().st_mode) == 0o600, name
            backup = j.backup(tmp_dir / "copy.sqlite3")
            assert stat.S_IMODE(backup.stat().st_mode) == 0o600
        finally:
            j.close()
        # A state directory others can read is closed up when the journal opens.
        open_dir = tmp_dir / "loose"
        open_dir.mkdir(mode=0o755)
        assert stat.S_IMODE(open_dir.stat().st_mode) == 0o755
        open_journal(open_dir).close()
        assert stat.S_IMODE(open_dir.stat().st_mode) == 0o700
    finally:
        os.umask(old)


# -- migrations ----------------------------------------------------------------------------


def _user_version(path: Path) -> int:
    raw = sqlite3.connect(path)
    try:
        return int(raw.execute("PRAGMA user_version").fetchone()[0])
    finally:
        raw.close()


def test_a_fresh_journal_has_the_current_schema_version(tmp_dir: Path) -> None:
    open_journal(tmp_dir / "state").close()
    assert _user_version(tmp_dir / "state" / JOURNAL_FILE) == CURRENT_VERSION


def test_a_journal_from_a_newer_posdriver_is_refused_untouched(tmp_dir: Path) -> None:
    open_journal(tmp_dir / "state").close()
    path = tmp_dir / "state" / JOURNAL_FILE
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {CURRENT_VERSION + 1}")
    raw.close()
    before = path.read_bytes()
    with pytest.raises(JournalError) as raised:
        open_journal(tmp_dir / "state")
    assert type(raised.value) is JournalError
    text = str(raised.value)
    assert text.startswith(str(path))
    assert f"version {CURRENT_VERSION + 1} is newer" in text
    assert path.read_bytes() == before


def test_another_sqlite_database_is_not_taken_for_a_journal(tmp_dir: Path) -> None:
    state = tmp_dir / "state"
    state.mkdir()
    path = state / JOURNAL_FILE
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE guests (name TEXT)")
    raw.execute("INSERT INTO guests VALUES ('Ms Li')")
    raw.commit()
    raw.close()
    before = path.read_bytes()
    with pytest.raises(JournalCorrupt) as raised:
        open_journal(state)
    assert str(raised.value).startswith(f"{path}: is an SQLite database but not a posdriver")
    assert path.read_bytes() == before  # not even switched to WAL
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert raw.execute("SELECT name FROM guests").fetchall() == [("Ms Li",)]
    finally:
        raw.close()


def test_reopening_keeps_everything(tmp_dir: Path, clock: Clock) -> None:
    with open_journal(tmp_dir / "state", clock=clock) as j:
        op = approved(j, eur("12.50"), receipt_no=9, card_last4="4242")
        stored = j.add_receipt(op.id, "customer", LINES, "terminal")
        job = j.enqueue_print(stored.id, "p1")
        inc = j.add_incident(category="note", fault="f", action="a", result="r")
        plan = j.create_plan(op.id, [eur("2.50")], "anna")
        events = j.events(op.id)
    with open_journal(tmp_dir / "state", clock=clock) as j:
        assert j.get(op.id) == op
        assert j.events(op.id) == events
        assert j.receipt(op.id) == stored
        assert j.job(job.id) == job
        assert j.incidents() == [inc]
        assert j.plan(plan.id) == plan
        assert j.find("receipt:9") == op
        assert _user_version(j.path) == CURRENT_VERSION


def _open_together(path: Path, count: int) -> list[Journal]:
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []
    opened: list[Journal] = []

    def open_one() -> None:
        barrier.wait()
        try:
            opened.append(Journal(path))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    if errors:
        for j in opened:
            j.close()
        raise errors[0]
    return opened


@pytest.mark.parametrize("round_no", range(6))
def test_journals_opened_together_on_a_fresh_file_all_work(tmp_dir: Path, round_no: int) -> None:
    """The daemon and a CLI command started together on a fresh install: one migrates,
    the others wait for it and find the schema in place (a race, so several rounds)."""
    path = tmp_dir / JOURNAL_FILE
    opened = _open_together(path, 4)
    try:
        assert len(opened) == 4
        ops = [j.begin(Kind.SALE, eur("1.00")) for j in opened]
        assert [o.id for o in opened[0].search()] == [o.id for o in reversed(ops)]
    finally:
        for j in opened:
            j.close()
    assert _user_version(path) == CURRENT_VERSION


# -- lost contents: an empty journal, a -wal without its journal ---------------------------


def test_an_empty_journal_is_refused_not_taken_as_new(tmp_dir: Path) -> None:
    state = tmp_dir / "state"
    state.mkdir(mode=0o700)
    path = state / JOURNAL_FILE
    path.write_bytes(b"")
    with pytest.raises(JournalCorrupt) as raised:
        open_journal(state)
    assert str(raised.value) == (
        f"{path}: the journal file is empty: possibly truncated; if this is a new install, "
        "remove it (posdriver then creates a new journal), otherwise restore it from a "
        "backup and keep the empty file for IT"
    )
    assert path.stat().st_size == 0  # left as it was
    assert sorted(p.name for p in state.iterdir()) == [JOURNAL_FILE]
    path.unlink()  # "a new install: remove it"
    with open_journal(state) as j:
        assert j.search() == [] and j.check() == []


def test_an_empty_journal_with_a_wal_beside_it_is_refused_and_the_wal_kept(
    tmp_dir: Path, clock: Clock
) -> None:
    """SQLite deletes the -wal of an empty database when it opens it: the newest changes
    would be gone. So the pair is refused untouched, for a person to take aside."""
    state = tmp_dir / "state"
    with open_journal(state, clock=clock) as j:
        fill(j, 2)
    crash_after_a_sale(state)
    path = state / JOURNAL_FILE
    wal = Path(f"{path}-wal")
    path.write_bytes(b"")  # truncated
    kept = digest(wal)
    with pytest.raises(JournalCorrupt) as raised:
        open_journal(state)
    text = str(raised.value)
    assert text.startswith(f"{path}: the journal file is empty (truncated), and {wal} beside it")
    assert f"holds {wal.stat().st_size} bytes of its newest changes" in text
    assert "Do not remove either file" in text and "restore the journal from a backup" in text
    assert digest(wal) == kept and path.stat().st_size == 0


def test_a_wal_without_its_journal_is_refused(tmp_dir: Path, clock: Clock) -> None:
    state = tmp_dir / "state"
    with open_journal(state, clock=clock) as j:
        fill(j, 1)
    crash_after_a_sale(state)
    path = state / JOURNAL_FILE
    path.rename(tmp_dir / "moved.sqlite3")  # moved by hand, without its -wal
    wal = Path(f"{path}-wal")
    kept = digest(wal)
    with pytest.raises(JournalCorrupt) as raised:
        open_journal(state)
    assert str(raised.value).startswith(f"{path}: the journal file is missing but {wal} (")
    assert "Put the journal back beside it" in str(raised.value)
    assert not path.exists() and digest(wal) == kept
    (tmp_dir / "moved.sqlite3").rename(path)  # put back: the crashed sale is there
    with open_journal(state) as j:
        assert j.by_idempotency_key("crashed") is not None


def test_a_crash_while_a_new_journal_is_made_leaves_no_journal_file(tmp_dir: Path) -> None:
    """The new journal is set up under a temporary name and linked into place whole: a
    process killed half-way leaves no empty journal.sqlite3 for the next start to refuse."""
    state = tmp_dir / "state"
    code = (
        "import os, sys\n"
        "from posdriver.journal import journal\n"
        "def die(self, conn):\n"
        "    os.kill(os.getpid(), 9)\n"
        "journal.Journal._migrate = die\n"
        "journal.open_journal(sys.argv[1])\n"
    )
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    done = subprocess.run([sys.executable, "-c", code, str(state)], env=env, timeout=60)
    assert done.returncode == -9
    assert not (state / JOURNAL_FILE).exists()
    left = [p.name for p in state.iterdir()]
    assert all(name.startswith(f".{JOURNAL_FILE}.new-") for name in left), left
    with open_journal(state) as j:  # the next start makes it afresh
        assert j.search() == [] and j.check() == []
    assert stat.S_IMODE((state / JOURNAL_FILE).stat().st_mode) == 0o600


@pytest.mark.parametrize("round_no", range(4))
def test_commands_opening_a_fresh_state_directory_together_share_one_journal(
    tmp_dir: Path, round_no: int
) -> None:
    """The daemon and a CLI command started together on a fresh install both make a new
    journal; one is linked into place, the other finds it there and uses it."""
    state = tmp_dir / "state"
    barrier = threading.Barrier(4)
    opened: list[Journal] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        barrier.wait()
        try:
            opened.append(open_journal(state))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    try:
        assert not errors, errors
        ops = [j.begin(Kind.SALE, Money(100, "EUR")) for j in opened]
        assert {op.id for op in opened[0].search()} == {op.id for op in ops}
    finally:
        for j in opened:
            j.close()
    assert [p.name for p in state.iterdir() if p.name.startswith(".")] == []
