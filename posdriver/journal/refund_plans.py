"""Split refunds: the ``refund_plans`` table.

A refund larger than the terminal's per-refund limit is planned as parts, each within
it, before the first part goes to a terminal; each part is an ordinary refund operation
linked to the plan (``plan_id``, ``plan_part``), so a plan interrupted half-way says
what is left.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ..money import Money
from .errors import UnknownTransaction
from .operations import record_event, require_operation
from .records import RefundPlan
from .store import Store


class RefundPlans(Store):
    """The refund plans family of the journal."""

    def create_plan(self, sale_id: int, parts: Sequence[Money], actor: str | None) -> RefundPlan:
        if not parts:
            raise ValueError("a refund plan needs at least one part")
        if any(not isinstance(p, Money) or p.minor <= 0 for p in parts):
            raise ValueError(f"every part of a refund plan must be a positive Money: {parts!r}")
        with self.atomic() as conn:
            sale = require_operation(conn, sale_id)
            # Parts are stored as minor units in one currency: a part in another currency
            # would silently become an amount of the sale's currency.
            if any(p.currency != sale.currency for p in parts):
                raise ValueError(
                    f"a refund plan for operation {sale_id} must be in {sale.currency}; got "
                    + ", ".join(p.format() for p in parts)
                )
            row = conn.execute(
                """INSERT INTO refund_plans (sale_id, currency, parts, state, created_at, actor)
                   VALUES (?, ?, ?, 'open', ?, ?) RETURNING id""",
                (
                    sale_id,
                    parts[0].currency,
                    json.dumps([p.minor for p in parts]),
                    self._now(),
                    actor,
                ),
            ).fetchone()
            record_event(
                conn,
                self._now(),
                sale_id,
                "refund_plan",
                None,
                None,
                actor,
                f"plan {row[0]}: " + " + ".join(p.format() for p in parts),
            )
        return self.plan(row[0])

    def plan(self, plan_id: int) -> RefundPlan:
        rows = self._read("SELECT * FROM refund_plans WHERE id = ?", (plan_id,))
        if not rows:
            raise UnknownTransaction(f"no refund plan {plan_id}")
        return RefundPlan.from_row(rows[0])

    def plans_of(self, sale_id: int) -> list[RefundPlan]:
        rows = self._read("SELECT * FROM refund_plans WHERE sale_id = ? ORDER BY id", (sale_id,))
        return [RefundPlan.from_row(r) for r in rows]

    def open_plans(self) -> list[RefundPlan]:
        rows = self._read("SELECT * FROM refund_plans WHERE state = 'open' ORDER BY id")
        return [RefundPlan.from_row(r) for r in rows]

    def set_plan_state(self, plan_id: int, state: str) -> RefundPlan:
        with self.atomic() as conn:
            conn.execute("UPDATE refund_plans SET state = ? WHERE id = ?", (state, plan_id))
        return self.plan(plan_id)
