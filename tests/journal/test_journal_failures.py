"""The journal when its file or disk fails: damaged, read-only, full; and its way out
(backup, CSV export).

Each failure must be a precise error that names the file, and must lose nothing that a
returned call had recorded: a front desk that was told "approved" must still find that
sale after the disk filled up. The read-only and full-disk cases use a real tmpfs
(root only: root ignores file permissions, so only a read-only mount stops it writing).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import random
import re
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from posdriver.journal import (
    Journal,
    JournalCorrupt,
    JournalError,
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


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fill(journal: Journal, count: int, line_length: int = 60) -> list[Operation]:
    """``count`` approved sales, each with a stored customer receipt of 20 lines."""
    made = []
    for n in range(count):
        op = journal.begin(Kind.SALE, Money(100 + n, "EUR"), terminal="t1")
        journal.transition(op.id, State.SENT)
        journal.add_receipt(
            op.id, "customer", [f"{n} line {i} " + "x" * line_length for i in range(20)], "built"
        )
        made.append(journal.transition(op.id, State.APPROVED, receipt_no=1000 + n))
    return made


def read_everything(journal: Journal) -> None:
    """Touch every row of every table the way the CLI would."""
    for op in journal.search(Filters(limit=None)):
        journal.events(op.id)
        journal.receipts(op.id)
        journal.jobs_of(op.id)
    journal.incidents()
    journal.open_plans()


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
    (two pages' worth from the middle of a page), ``zeros`` (one whole page in the
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
            f.seek(size // 2)
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
    _crash_after_a_sale(state)
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
    _crash_after_a_sale(state)
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


# -- read-only ---------------------------------------------------------------------------


def _crash_after_a_sale(state: Path) -> None:
    """A process that journals a sale and dies without closing (so the -wal and -shm
    files stay, as after a power cut)."""
    code = (
        "import os, sys\n"
        "from posdriver.journal import open_journal, Kind\n"
        "from posdriver.money import Money\n"
        "j = open_journal(sys.argv[1])\n"
        "j.begin(Kind.SALE, Money(4200, 'EUR'), idempotency_key='crashed')\n"
        "os._exit(0)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    subprocess.run([sys.executable, "-c", code, str(state)], check=True, env=env, timeout=60)


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
    _crash_after_a_sale(state)
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


# -- backup ------------------------------------------------------------------------------


def test_backup_is_a_journal_with_the_same_rows(journal: Journal, tmp_dir: Path) -> None:
    made = fill(journal, 5)
    jobs = [journal.enqueue_print(journal.receipts(op.id)[0].id, "p1") for op in made[:2]]
    journal.job_started(jobs[0].id)
    journal.add_incident(category="note", fault="f", action="a", result="r")
    journal.create_plan(made[0].id, [Money(50, "EUR"), Money(50, "EUR")], "anna")
    other = Journal(journal.path)  # a write by another process is in it too
    try:
        late = other.begin(Kind.REFUND, Money(50, "EUR"), parent_id=made[0].id)
    finally:
        other.close()

    target = journal.backup(tmp_dir / "backup.sqlite3")

    assert target == tmp_dir / "backup.sqlite3"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    raw = sqlite3.connect(target)
    try:  # a standalone file: no -wal needed beside it
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    finally:
        raw.close()
    copy = Journal(target)
    try:
        ops = journal.search(Filters(limit=None))
        assert late in ops
        assert copy.search(Filters(limit=None)) == ops
        for op in ops:
            assert copy.events(op.id) == journal.events(op.id)
            assert copy.receipts(op.id) == journal.receipts(op.id)
            assert copy.jobs_of(op.id) == journal.jobs_of(op.id)
        assert copy.incidents() == journal.incidents()
        assert copy.open_plans() == journal.open_plans()
        assert copy.counts() == journal.counts()
        assert copy.check() == []
    finally:
        copy.close()


def test_backup_refuses_an_existing_target(journal: Journal, tmp_dir: Path) -> None:
    fill(journal, 1)
    target = tmp_dir / "backup.sqlite3"
    target.write_text("yesterday's backup")
    with pytest.raises(JournalError) as raised:
        journal.backup(target)
    assert str(raised.value) == (f"{target}: already exists; choose a new file for the backup")
    assert target.read_text() == "yesterday's backup"
    with pytest.raises(JournalError, match="already exists"):
        journal.backup(tmp_dir)  # a directory is not overwritten either


def test_backup_into_a_missing_directory_names_it(journal: Journal, tmp_dir: Path) -> None:
    target = tmp_dir / "no" / "such" / "dir" / "backup.sqlite3"
    with pytest.raises(JournalError) as raised:
        journal.backup(target)
    assert str(raised.value).startswith(f"{target}: cannot create the backup")
    assert not target.exists()


# -- CSV export ----------------------------------------------------------------------------

COLUMNS = [
    "id",
    "kind",
    "state",
    "amount",
    "currency",
    "terminal",
    "created_at",
    "updated_at",
    "parent_id",
    "plan_id",
    "plan_part",
    "trace",
    "receipt_no",
    "approval_code",
    "terminal_id",
    "card_brand",
    "card_last4",
    "result_code",
    "reason",
    "doubt_stage",
    "resolved_by",
    "note",
]


def test_export_csv_one_row_per_operation_and_no_card_numbers(
    journal: Journal, clock: Clock
) -> None:
    sale = journal.begin(Kind.SALE, Money(1250, "EUR"), terminal="lobby")
    journal.transition(sale.id, State.SENT, trace=123456)
    journal.transition(
        sale.id,
        State.APPROVED,
        receipt_no=987654,
        card_brand="Mastercard",
        card_last4="0042",
        approval_code="123456",
    )
    cents = journal.begin(Kind.SALE, Money(5, "EUR"))
    yen = journal.begin(Kind.SALE, Money(500, "JPY"))
    booking = journal.begin(Kind.BOOKING, None, currency="EUR", parent_id=sale.id)
    for n in range(110):  # more than a screenful: the export has no default limit
        clock.advance(1)
        journal.begin(Kind.SALE, Money(100 + n, "EUR"))

    out = io.StringIO()
    count = journal.export_csv(out)

    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == COLUMNS
    assert count == len(rows) - 1 == 114
    records = [dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]]
    assert [int(r["id"]) for r in records] == sorted(int(r["id"]) for r in records)  # oldest 1st
    first = records[0]
    assert first["id"] == str(sale.id)
    assert (first["amount"], first["currency"], first["state"]) == ("12.50", "EUR", "approved")
    assert (first["card_brand"], first["card_last4"], first["receipt_no"]) == (
        "Mastercard",
        "0042",
        "987654",
    )
    by_id = {int(r["id"]): r for r in records}
    assert by_id[cents.id]["amount"] == "0.05"
    assert (by_id[yen.id]["amount"], by_id[yen.id]["currency"]) == ("500", "JPY")
    assert by_id[booking.id]["amount"] == ""
    assert by_id[booking.id]["parent_id"] == str(sale.id)
    for r in records:
        if r["amount"]:
            assert Decimal(r["amount"]) > 0
            assert re.fullmatch(r"[0-9]+(\.[0-9]+)?", r["amount"])
    # Card data: a brand and at most four digits, in the one column made for them.
    assert [c for c in COLUMNS if "card" in c or "pan" in c] == ["card_brand", "card_last4"]
    for r in records:
        assert r["card_last4"] == "" or re.fullmatch(r"[0-9]{4}", r["card_last4"])
        for value in r.values():
            assert not re.search(r"[0-9]{12,}", value), value


def test_export_csv_with_filters(journal: Journal) -> None:
    made = fill(journal, 3)
    journal.begin(Kind.SALE, Money(1, "EUR"))
    out = io.StringIO()
    assert journal.export_csv(out, Filters(states=(State.APPROVED,), limit=None)) == 3
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [int(r["id"]) for r in rows] == [op.id for op in made]
    assert [r["amount"] for r in rows] == ["1.00", "1.01", "1.02"]
