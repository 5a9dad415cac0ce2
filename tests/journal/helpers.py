"""What the journal's tests share: money, an approved sale, receipt lines that test
the text round trip, a filled journal, and a process that dies after a sale."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from posdriver.journal import Journal, Kind, Operation, State
from posdriver.journal.journal import Filters
from posdriver.money import Money


def eur(text: str) -> Money:
    return Money.parse(text, "EUR")


def approved(journal: Journal, amount: Money, **facts: Any) -> Operation:
    op = journal.begin(Kind.SALE, amount, terminal=str(facts.pop("terminal", "t1")))
    journal.transition(op.id, State.SENT)
    return journal.transition(op.id, State.APPROVED, **facts)


def count_rows(journal: Journal, table: str) -> int:
    raw = sqlite3.connect(journal.path)
    try:
        return int(raw.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        raw.close()


LINES = (
    "HOTEL ZUR POST",
    "",
    "Kartenzahlung        12,50 EUR",
    "  trailing spaces kept  ",
    "重印 / DUPLICATE 2024-05-17 11:31",
    "谢谢惠顾，欢迎再次光临",
    'quotes " and \\ backslash, tab\tend',
    "emoji 🧾 and ÄÖÜ ß",
)


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


def crash_after_a_sale(state: Path) -> None:
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
