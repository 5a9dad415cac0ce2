"""The plans of points: what each point does (a sale, or a refund of part of an approved
sale; which card; a merchant copy or not) and at which event K it is killed.

Each point's random choices come from ``random.Random(f"{seed}:{index}")``, so a point is
the same in every run with that seed no matter what happened before it (only the sale a
refund takes its money back from depends on the journal). K is drawn over the events of
a run measured to the end with the same variant (or, for a restart, the same situation):
until one is measured, a point of that variant runs to the end and is the measurement.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from posdriver.journal import Journal, Kind, State
from posdriver.journal.journal import Filters
from posdriver.journal.states import UNRESOLVED
from posdriver.money import Money

CURRENCY = "EUR"
REFUND_SHARE = 0.4  # of points, when a sale with money left to refund exists
DECLINED_SHARE = 0.08  # of points run with a card the issuer declines
MERCHANT_COPY_SHARE = 0.25  # of points configured to print a merchant copy as well
SPAN_MARGIN = 1.15  # K is drawn up to this much past a measured run's last event
MAX_REFUND_MINOR = 300  # keeps a long run under the terminal's daily refund cap


@dataclass(frozen=True)
class Plan:
    """One point's work: a sale, or a refund of part of an approved sale, and where to
    kill it. The restart after it may be killed too, at a K drawn once what it will
    have to recover is known (``recovery_roll`` decides whether, ``recovery_k_roll``
    where)."""

    index: int
    kind: str  # sale | refund
    amount: int  # minor units
    card: str  # the emulator's card for this point
    merchant_copy: bool  # a second receipt (and print job) per approved operation
    kill_at: int | None  # None: a measuring run, to the end
    sale_id: int | None = None
    recovery_roll: float = 1.0
    recovery_k_roll: float = 0.0

    @property
    def variant(self) -> str:
        """The path through the code this point takes, as far as it is known in advance."""
        name = self.kind
        if self.card != "visa":
            name += f", {self.card} card"
        if self.merchant_copy:
            name += ", merchant copy"
        return name

    @property
    def expected(self) -> str:
        return "approved" if self.card == "visa" else "declined"

    def describe(self) -> str:
        what = f"{self.kind} {Money(self.amount, CURRENCY).format()}"
        if self.sale_id is not None:
            what += f" of txn {self.sale_id}"
        if self.card != "visa":
            what += f" with the {self.card} card"
        if self.merchant_copy:
            what += " (merchant copy too)"
        kill = (
            "no kill (measuring run)" if self.kill_at is None else f"kill at event {self.kill_at}"
        )
        return f"point {self.index}: {what}, {kill}"


class Planner:
    """Draws each point's plan from the seed, and K from the measured runs' lengths."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        # events of one measured run to the end, by variant or restart situation
        self.spans: dict[str, int] = {}

    def plan(self, index: int, refundable: Callable[[], list[tuple[int, int]]]) -> Plan:
        """The point's choices come from its own generator, so they do not depend on
        what earlier points did (only the refund's sale does, through the journal)."""
        rng = random.Random(f"{self.seed}:{index}")
        kind_roll, card_roll, copy_roll, k_roll = (rng.random() for _ in range(4))
        pick_roll, part_roll, recovery_roll, recovery_k_roll = (rng.random() for _ in range(4))
        amount = rng.randint(100, 9_999)
        card = "declined" if card_roll < DECLINED_SHARE else "visa"
        kind, sale_id = "sale", None
        if kind_roll < REFUND_SHARE:
            found = refundable()
            if found:
                sale_id, left = found[int(pick_roll * len(found))]
                kind = "refund"
                amount = 1 + int(part_roll * min(left, MAX_REFUND_MINOR))
        plan = Plan(
            index,
            kind,
            amount,
            card,
            copy_roll < MERCHANT_COPY_SHARE,
            None,
            sale_id,
            recovery_roll,
            recovery_k_roll,
        )
        return dataclasses.replace(plan, kill_at=self.draw(plan.variant, k_roll))

    def draw(self, what: str, roll: float) -> int | None:
        """K for a run of ``what``, or None while no run of it has been measured."""
        span = self.spans.get(what)
        if not span:
            return None
        return 1 + int(roll * math.ceil(span * SPAN_MARGIN))


def refundable(journal_path: Path) -> list[tuple[int, int]]:
    """Approved sales with money left to refund: (txn id, minor units left)."""
    journal = Journal(journal_path)
    try:
        ops = journal.search(Filters(limit=None))
    finally:
        journal.close()
    taken: Counter[int] = Counter()
    for op in ops:
        counts = op.state is State.APPROVED or op.state in UNRESOLVED  # as the guard
        if op.kind is Kind.REFUND and op.amount and op.parent_id is not None and counts:
            taken[op.parent_id] += op.amount.minor
    found = []
    for op in sorted(ops, key=lambda o: o.id):
        if op.kind is Kind.SALE and op.state is State.APPROVED and op.amount:
            left = op.amount.minor - taken[op.id]
            if left > 0:
                found.append((op.id, left))
    return found
