"""A sale whose intent cannot be journaled, under a running ``posdriver serve --emulate``
whose state directory is on a small tmpfs that fills up for real (root only, as in
tests/journal/test_journal_failures.py). The journal's rule is write ahead: a sale whose
PENDING could not be written never reaches the terminal, and the front desk is told so
(503, in the journal's own words), not "could not be started".

A read-only journal cannot be made under a running daemon: the kernel refuses to remount
read-only a file system on which the daemon holds the journal open for writing (EBUSY),
and file permissions do not bind an open descriptor. A full disk is the failure a
running daemon meets."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from posdriver.journal.journal import JOURNAL_FILE
from tests.support.served import SERVED_CONFIG, Served, serve_process

PAGE = 4096


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A fresh 8 MB tmpfs, unmounted after the test whatever happened."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    if shutil.which("mount") is None:
        pytest.skip("no mount command on this machine")
    where = tmp_path / "disk"
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs at {where}: {done.stderr.strip()}")
    try:
        yield where
    finally:
        if subprocess.run(["umount", str(where)], check=False).returncode:
            subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path, leave_pages: int) -> Path:
    """Fill ``disk`` until writing fails for want of space, then free pages until
    ``leave_pages`` are free; the filler file, to delete for the space back."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * (64 * PAGE))
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    size = filler.stat().st_size // PAGE * PAGE
    while os.statvfs(disk).f_bavail < leave_pages:
        size -= PAGE
        os.truncate(filler, size)
    assert os.statvfs(disk).f_bavail == leave_pages
    return filler


def ledger(served: Served) -> list[object]:
    with urllib.request.urlopen(served.terminal_control + "/ledger", timeout=5) as answer:
        entries: list[object] = json.loads(answer.read())
    return entries


@contextlib.contextmanager
def desk_on(disk: Path, tmp_path: Path) -> Iterator[tuple[Served, Path]]:
    """The daemon with its state on ``disk``, one sale approved; and its log."""
    config = tmp_path / "posdriver.toml"
    config.write_text(SERVED_CONFIG)
    log_path = tmp_path / "serve.log"
    with (
        log_path.open("w") as log,
        serve_process(config, disk / "state", emulate=True, log=log) as (process, by),
    ):
        served = Served(
            process,
            by["api"]["url"],
            by["metrics"]["url"],
            by["printer"]["control"],
            by["terminal"]["control"],
            disk / "state",
        )
        first = served.sale("10.00")
        assert served.get(f"/v1/operations/{first}?wait=20")[1]["operation"]["state"] == (
            "approved"
        )
        yield served, log_path


@pytest.mark.parametrize(
    ("leave_pages", "words"),
    [
        # a page left: the sale's claim file takes it, the journal's commit finds none
        (1, ["no space left to write the journal", JOURNAL_FILE]),
        # none: the claim file in the state directory cannot be written first
        (0, ["cannot claim operation", "No space left on device"]),
    ],
)
def test_a_sale_the_journal_cannot_take_is_a_503_and_never_reaches_the_terminal(
    small_disk: Path, tmp_path: Path, leave_pages: int, words: list[str]
) -> None:
    with desk_on(small_disk, tmp_path) as (served, log_path):
        before = served.get("/v1/transactions")[1]
        charged = ledger(served)
        filler = fill(small_disk, leave_pages)

        status, answer = served.post("/v1/operations", {"kind": "sale", "amount": "20.00"})
        assert status == 503, answer
        error = answer["error"]
        assert all(w in error for w in words) and str(served.state) in error, error
        assert error.endswith(
            "The sale was not started: nothing was sent to the terminal and no money moved"
        )
        assert ledger(served) == charged  # the terminal saw nothing
        filler.unlink()
        assert served.get("/v1/transactions")[1] == before  # nor did the journal
        text = log_path.read_text()
        assert "Traceback" not in text and "api-sale: " in text


def test_after_a_full_disk_has_room_again_sales_go_through(
    small_disk: Path, tmp_path: Path
) -> None:
    with desk_on(small_disk, tmp_path) as (served, _):
        filler = fill(small_disk, 1)
        assert served.post("/v1/operations", {"kind": "sale", "amount": "20.00"})[0] == 503
        filler.unlink()
        status, answer = served.post("/v1/operations", {"kind": "sale", "amount": "20.00"})
        assert status == 202, answer
