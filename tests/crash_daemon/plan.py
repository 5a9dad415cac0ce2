"""The plans of the daemon's points: what the front desk asks (a sale, a refund of part of
an approved sale, a reversal of one, a reprint of a receipt), with which card, and how
the daemon dies: at the K-th moment of the request's work (its write cut in the middle
or not), from outside after a random delay, or not at all.

As in the CLI harness (tests/crash/plan.py), each point's random choices come from
``random.Random(f"{seed}:{index}")``, and K is drawn over the moments of a run of the
same variant measured to the end (until one is measured, a point of that variant runs
to the end and is the measurement). The delay of an outside kill is drawn over the
measured run's length in seconds.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from posdriver.journal import Journal, Kind, Operation, State
from posdriver.journal.journal import Filters
from posdriver.journal.states import UNRESOLVED
from posdriver.money import Money
from tests.crash.plan import CURRENCY, DECLINED_SHARE, MAX_REFUND_MINOR, SPAN_MARGIN

REFUND_SHARE = 0.25
REVERSAL_SHARE = 0.12
REPRINT_SHARE = 0.12
OUTSIDE_KILL_SHARE = 0.15  # of points killed from outside after a random delay
NO_KILL_SHARE = 0.05  # of points left to run to the end, once measured
SPLIT_SHARE = 0.5  # of kills on a link write that let part of the write out first
AIM_SHARE = 0.4  # of hook kills aimed at one of the named instants, not anywhere
RESEND_SHARE = 0.6  # of desks that send the request again after any crash, not only
# after one that cost them the answer to it (its key makes that safe)

APPROVAL_TO_ACK = "between approval and acknowledgement"
# The instants the issue names, by the moments that are them (a measured run's trace
# says where they fall); "cut" ones kill in the middle of the write.
INSTANTS: dict[str, tuple[tuple[str, ...], bool]] = {
    "before a journal commit": (("commit-before",), False),
    "after a journal commit": (("commit-after",), False),
    "mid-frame on the terminal link": (("terminal-send",), True),
    APPROVAL_TO_ACK: (
        ("terminal-recv(status-info)", "terminal-send(ack)"),
        False,
    ),
    "mid-receipt": (("printer-send(receipt-data)",), True),
}


@dataclass(frozen=True)
class Plan:
    """One point: the request and how the daemon dies while it is served."""

    index: int
    kind: str  # sale | refund | reversal | reprint
    amount: int  # minor units (sale, refund)
    card: str
    how: str  # hook (K-th moment) | outside (after a delay) | none
    roll: float  # where K or the delay falls in the measured run
    split: float | None  # a write cut at this share, when the kill falls on one
    txn: int | None = None  # the sale refunded, reversed, the operation reprinted
    restart_roll: float = 1.0
    restart_k_roll: float = 0.0
    aim: str | None = None  # one of INSTANTS: K falls on such a moment
    resend: bool = False

    @property
    def variant(self) -> str:
        name = self.kind
        if self.card != "visa" and self.kind in ("sale", "refund"):
            name += f", {self.card} card"
        return name

    @property
    def key(self) -> str:
        """The front desk's idempotency key for this attempt (the folio and a counter)."""
        return f"folio-{self.index}-{self.kind}"

    def body(self) -> dict[str, object]:
        if self.kind == "reprint":
            return {"operator": "crash-desk"}
        body: dict[str, object] = {"kind": self.kind, "operator": "crash-desk"}
        if self.kind in ("sale", "refund"):
            body["amount"] = f"{self.amount // 100}.{self.amount % 100:02d}"
        if self.txn is not None:
            body["txn"] = self.txn
        return body

    def describe(self) -> str:
        what = self.kind
        if self.kind in ("sale", "refund"):
            what += f" {Money(self.amount, CURRENCY).format()}"
        if self.txn is not None:
            what += f" of txn {self.txn}"
        if self.card != "visa":
            what += f" with the {self.card} card"
        return f"point {self.index}: {what}"


class Planner:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.spans: dict[str, int] = {}  # moments of a measured run, by variant/situation
        self.seconds: dict[str, float] = {}  # how long a measured run took, by variant
        self.traces: dict[str, list[str]] = {}  # the moments of a measured run, in order

    def plan(self, index: int, journal_path: Path) -> Plan:
        rng = random.Random(f"{self.seed}:{index}")
        kind_roll, card_roll, how_roll, roll, split_roll, pick_roll, part_roll = (
            rng.random() for _ in range(7)
        )
        restart_roll, restart_k_roll = rng.random(), rng.random()
        aim_roll, instant_roll, resend_roll = rng.random(), rng.random(), rng.random()
        amount = rng.randint(100, 9_999)
        card = "declined" if card_roll < DECLINED_SHARE else "visa"
        kind, txn = "sale", None
        candidates = _candidates(journal_path)
        for name, share in (
            ("refund", REFUND_SHARE),
            ("reversal", REVERSAL_SHARE),
            ("reprint", REPRINT_SHARE),
        ):
            if kind_roll < share:
                found = candidates[name]
                if found:
                    txn, left = found[int(pick_roll * len(found))]
                    kind = name
                    if name == "refund":
                        amount = 1 + int(part_roll * min(left, MAX_REFUND_MINOR))
                break
            kind_roll -= share
        if kind in ("reversal", "reprint"):
            card = "visa"
        how = "hook"
        if how_roll < OUTSIDE_KILL_SHARE:
            how = "outside"
        elif how_roll > 1 - NO_KILL_SHARE:
            how = "none"
        split = split_roll / SPLIT_SHARE if split_roll < SPLIT_SHARE else None
        aim = None
        if how == "hook" and aim_roll < AIM_SHARE:
            aim = list(INSTANTS)[int(instant_roll * len(INSTANTS))]
            if INSTANTS[aim][1]:  # a cut write, somewhere between its first and last byte
                split = 0.05 + 0.9 * (split_roll % SPLIT_SHARE) / SPLIT_SHARE
        return Plan(
            index,
            kind,
            amount,
            card,
            how,
            roll,
            split,
            txn,
            restart_roll,
            restart_k_roll,
            aim,
            resend_roll < RESEND_SHARE,
        )

    def aimed(self, plan: Plan) -> int | None:
        """K on one of the moments that are the plan's instant, in its variant's
        measured run; None when the run has none (a reprint touches no terminal)."""
        if plan.aim is None:
            return None
        starts = INSTANTS[plan.aim][0]
        trace = self.traces.get(plan.variant, [])
        places = [n for n, event in enumerate(trace, 1) if event.startswith(starts)]
        if plan.aim == APPROVAL_TO_ACK:  # only the acknowledgement of the status information
            approvals = [n for n in places if trace[n - 1] == "terminal-recv(status-info)"]
            places = [*approvals, *(n + 1 for n in approvals if n + 1 in places)]
        return places[int(plan.roll * len(places))] if places else None

    def draw(self, what: str, roll: float) -> int | None:
        """K for a run of ``what``, or None while no run of it has been measured."""
        span = self.spans.get(what)
        if not span:
            return None
        return 1 + int(roll * math.ceil(span * SPAN_MARGIN))

    def delay(self, what: str, roll: float) -> float | None:
        seconds = self.seconds.get(what)
        return None if seconds is None else roll * seconds * SPAN_MARGIN


def _candidates(journal_path: Path) -> dict[str, list[tuple[int, int]]]:
    """What each kind of request can refer to now: sales with money left to refund
    (txn, minor units left), sales that can be reversed, operations with a receipt."""
    journal = Journal(journal_path)
    try:
        ops = journal.search(Filters(limit=None))
    finally:
        journal.close()
    taken: Counter[int] = Counter()
    touched: set[int] = set()  # reversed, or a reversal on its way
    for op in ops:
        counts = op.state is State.APPROVED or op.state in UNRESOLVED  # as the guard
        if op.parent_id is not None and counts:
            if op.kind is Kind.REFUND and op.amount:
                taken[op.parent_id] += op.amount.minor
            if op.kind is Kind.REVERSAL:
                touched.add(op.parent_id)
    refund, reversal, reprint = [], [], []
    for op in sorted(ops, key=lambda o: o.id):
        if op.state is not State.APPROVED:
            continue
        reprint.append((op.id, 0))
        if not _sale(op) or op.id in touched:
            continue
        left = op.amount.minor - taken[op.id] if op.amount else 0
        if left > 0:
            refund.append((op.id, left))
        reversal.append((op.id, 0))
    return {"refund": refund, "reversal": reversal, "reprint": reprint[-50:]}


def _sale(op: Operation) -> bool:
    return op.kind is Kind.SALE and op.amount is not None
