"""Fixtures for the journal's tests: a real journal file in a temporary state directory,
and a clock the test sets, so times in the journal are exact and nothing waits."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from posdriver.journal import Journal, open_journal
from tests.support.clock import Clock

from .helpers import LINES, approved, eur


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tmp_dir(tmp_path: Path) -> Iterator[Path]:
    """A fresh directory, on a tmpfs when the machine has one (``/dev/shm``).

    Every journal commit is fsynced; on a disk that costs milliseconds per commit and
    these tests commit thousands of times. On a tmpfs an fsync is free and SQLite behaves
    the same otherwise (WAL, locks, permissions), so the tests stay quick and real."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK | os.X_OK)):
        yield tmp_path
        return
    path = Path(tempfile.mkdtemp(prefix="posdriver-journal-test-", dir=shm))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def journal(tmp_dir: Path, clock: Clock) -> Iterator[Journal]:
    j = open_journal(tmp_dir / "state", clock=clock, place="front desk 1")
    try:
        yield j
    finally:
        j.close()


@pytest.fixture
def receipt_id(journal: Journal) -> int:
    op = approved(journal, eur("12.50"), receipt_no=1)
    return journal.add_receipt(op.id, "customer", LINES, "terminal").id
