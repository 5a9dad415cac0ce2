"""What the daemon's run adds to the CLI harness's audit (tests/crash/audit.py, used as
it is after every point): the front desk's idempotency keys, and at the end the paper
held to "printed exactly once, plus marked continuations and copies".

* Every key the desk sent stands for at most one operation, and every answer given under
  it named that one (a retry after a crash is the first request's operation, never a
  second charge; a retry whose first attempt never reached the journal starts it).
* On the paper, each approved operation's customer receipt is on exactly one cut
  receipt that is not marked (or, when its first print was cut off, on one marked as
  printed again in full), on no further unmarked one, and on a DUPLICATE for every
  reprint the journal printed.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from posdriver.journal import Journal, State
from posdriver.journal.journal import Filters

# posdriver's own marks (cashier/receipts.py: mark_copy, mark_continuation), not the
# word DUPLICATE, which the terminal's repeat receipt prints on its own text
COPY_MARK = re.compile(r"Reprint \d+ at")
CONTINUATION_MARK = "Printed again at"


def keys(
    journal_path: Path, answered: dict[str, set[int]], counts: Counter[str], problems: list[str]
) -> None:
    """``answered``: for each key the desk sent, the operation ids its answers named."""
    journal = Journal(journal_path)
    try:
        for key, ids in answered.items():
            op = journal.by_idempotency_key(key)
            if len(ids) > 1:
                problems.append(f"key {key!r} was answered with operations {sorted(ids)}")
            elif op is None and ids:
                problems.append(f"key {key!r} was answered with {ids} but the journal lacks it")
            elif op is not None and ids and op.id not in ids:
                problems.append(f"key {key!r} is id:{op.id} in the journal, answered {ids}")
            counts["keys sent"] += 1
    finally:
        journal.close()


def paper_once(
    journal_path: Path, paper: list[str], counts: Counter[str], problems: list[str]
) -> None:
    """Each approved operation's receipt printed exactly once, plus marked prints."""
    sheets = [(text, {line.strip() for line in text.splitlines()}) for text in paper]
    journal = Journal(journal_path)
    try:
        for op in journal.search(Filters(limit=None)):
            if op.state is not State.APPROVED:
                continue
            stored = journal.receipt(op.id, "customer")
            if stored is None:
                continue  # the per-point audit names it
            wanted = {line.strip() for line in stored.lines} - {""}
            on = [text for text, lines in sheets if wanted <= lines]
            copies = sum(bool(COPY_MARK.search(text)) for text in on)
            redone = sum(CONTINUATION_MARK in text and not COPY_MARK.search(text) for text in on)
            plain = len(on) - copies - redone
            reprints = sum(
                j.purpose == "reprint" and j.state == "done" and j.receipt_id == stored.id
                for j in journal.jobs_of(op.id)
            )
            counts["duplicates on paper"] += copies
            counts["continuations on paper"] += redone
            if plain > 1:
                problems.append(f"txn {op.id}: its receipt is on {plain} unmarked cut receipts")
            if plain + redone < 1:
                problems.append(f"txn {op.id}: its receipt was never printed but as a copy")
            if copies < reprints:
                problems.append(
                    f"txn {op.id}: {reprints} reprints done, {copies} DUPLICATE receipts cut"
                )
    finally:
        journal.close()
