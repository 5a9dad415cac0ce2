"""``posdriver serve`` on a journal it must not use: damaged, empty, read-only, not a
posdriver journal, from a newer posdriver, or with a page zeroed that opening does not
read. Each is refused at start, as a real process: one paragraph on stderr naming the
file and what to do, exit 2 (which the systemd unit does not restart on), no traceback,
the file left exactly as it was, and nothing the start had set up left behind."""

from __future__ import annotations

import hashlib
import json
import os
import random
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from posdriver.journal import Kind, State, open_journal
from posdriver.journal.journal import JOURNAL_FILE
from posdriver.journal.schema import CURRENT_VERSION
from posdriver.money import Money
from tests.support.mounts import remount


def serve_once(config: Path, state: Path) -> subprocess.CompletedProcess[str]:
    """``posdriver serve --emulate`` as tests/support/served.py starts it, expected
    to end by itself; killed (and the test failed) if it is still running after 60 s."""
    command = [sys.executable, "-m", "posdriver", "serve", "--config", str(config), "--emulate"]
    command += ["--state-dir", str(state), "--api", "127.0.0.1:0", "--metrics", "127.0.0.1:0"]
    try:
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=60,
            env=dict(os.environ, PYTHONPATH=os.getcwd()),
        )
    except subprocess.TimeoutExpired:
        pytest.fail("posdriver serve started on a journal it should have refused")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def refused(tmp_path: Path, state: Path) -> str:
    """Run serve on ``state``; check the refusal's form and return its message."""
    config = tmp_path / "posdriver.toml"
    config.write_text("")
    path = state / JOURNAL_FILE
    before = digest(path) if path.exists() else None
    done = serve_once(config, state)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr  # one paragraph, nothing else
    assert lines[0].startswith(f"posdriver serve: {path}: ")
    assert (digest(path) if path.exists() else None) == before
    # the emulated devices it had started are stopped and their directory removed
    for line in done.stdout.splitlines():
        url = json.loads(line)["url"]
        assert not Path(url.removeprefix("serial://").split("?")[0]).parent.exists(), url
    return lines[0]


def sound_journal(state: Path, sales: int = 40) -> Path:
    with open_journal(state) as journal:
        for n in range(sales):
            op = journal.begin(Kind.SALE, Money(100 + n, "EUR"), terminal="desk")
            journal.transition(op.id, State.SENT)
            journal.add_receipt(op.id, "customer", [f"{n} line {i}" for i in range(20)], "built")
            journal.transition(op.id, State.APPROVED, receipt_no=1000 + n)
    path = state / JOURNAL_FILE
    assert not Path(f"{path}-wal").exists()  # all of it in the file
    return path


def _random_bytes(path: Path) -> None:
    path.write_bytes(random.Random(3).randbytes(64 * 1024))


def _foreign(path: Path) -> None:
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE guests (name TEXT)")
    raw.commit()
    raw.close()


def _newer(path: Path) -> None:
    sound_journal(path.parent, sales=1)
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {CURRENT_VERSION + 1}")
    raw.close()


def _empty(path: Path) -> None:
    path.write_bytes(b"")


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (
            _random_bytes,
            ["the journal file is damaged or not a journal", "restore it from a backup"],
        ),
        (_foreign, ["is an SQLite database but not a posdriver journal", "check state_dir"]),
        (_newer, [f"schema version {CURRENT_VERSION + 1} is newer", "upgrade posdriver"]),
        (_empty, ["the journal file is empty: possibly truncated", "if this is a new install"]),
    ],
    ids=["damaged", "foreign", "newer", "empty"],
)
def test_serve_refuses_a_journal_it_must_not_use(
    tmp_path: Path, make: Callable[[Path], None], says: list[str]
) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    make(state / JOURNAL_FILE)
    message = refused(tmp_path, state)
    for words in says:
        assert words in message


def test_serve_refuses_a_journal_with_a_zeroed_page_and_journal_check_reports_it(
    tmp_path: Path,
) -> None:
    """Opening reads only page 1, so this journal opened, and the daemon answered healthy
    while every sale failed with a 500; the start-up check reads every page."""
    state = tmp_path / "state"
    path = sound_journal(state)
    with path.open("r+b") as f:
        f.seek(4096)
        f.write(b"\0" * 4096)
    message = refused(tmp_path, state)
    assert message == (
        f"posdriver serve: {path}: the journal is damaged (the integrity check stopped at "
        "damage it cannot read (database disk image is malformed)); posdriver serve will not "
        "run on it: 'posdriver journal check' lists the damage; stop every posdriver "
        "process, keep the damaged file for IT and restore the journal from a backup "
        "(docs/journal.md, Backup, export, check)"
    )
    check = subprocess.run(
        [sys.executable, "-m", "posdriver", "journal", "check", "--state-dir", str(state)],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(
            os.environ, PYTHONPATH=os.getcwd(), POSDRIVER_CONFIG=str(tmp_path / "posdriver.toml")
        ),
    )
    assert check.returncode == 3
    assert "database disk image is malformed" in check.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="a read-only mount needs root")
def test_serve_refuses_a_journal_on_a_read_only_file_system(
    tmp_path: Path, tmpfs: Callable[..., Path]
) -> None:
    mnt = tmpfs("4m")
    state = mnt / "state"
    sound_journal(state, sales=2)
    remount(mnt, "ro")
    message = refused(tmp_path, state)
    assert "is not writable by this user" in message
    assert f"the file system holding {state} is mounted read-only" in message


def test_serve_starts_on_a_sound_journal(tmp_path: Path) -> None:
    """The check passes a sound journal: the start goes on (the refusals above are the
    check's doing, not a start that fails anyway)."""
    from tests.support.served import serve_process

    state = tmp_path / "state"
    sound_journal(state, sales=3)
    config = tmp_path / "posdriver.toml"
    config.write_text("")
    with serve_process(config, state, emulate=True) as (process, said):
        assert process.poll() is None and "api" in said
