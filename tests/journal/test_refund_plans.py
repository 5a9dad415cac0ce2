"""Split refund plans."""

from __future__ import annotations

import pytest

from posdriver.journal import Journal, JournalError, UnknownTransaction
from posdriver.money import Money
from tests.support.clock import Clock

from .helpers import approved, eur

# -- refund plans --------------------------------------------------------------------------


def test_refund_plans(journal: Journal, clock: Clock) -> None:
    sale = approved(journal, eur("700.00"))
    plan = journal.create_plan(sale.id, [eur("500.00"), eur("200.00")], "anna")
    assert (plan.sale_id, plan.parts, plan.state, plan.actor, plan.created_at) == (
        sale.id,
        (eur("500.00"), eur("200.00")),
        "open",
        "anna",
        clock.now,
    )
    last = journal.events(sale.id)[-1]
    assert (last.event, last.detail) == ("refund_plan", f"plan {plan.id}: 500.00 EUR + 200.00 EUR")
    other = journal.create_plan(sale.id, [eur("1.00")], None)
    assert journal.plans_of(sale.id) == [plan, other]
    assert journal.open_plans() == [plan, other]
    assert journal.plan(plan.id) == plan
    done = journal.set_plan_state(plan.id, "done")
    assert done.state == "done"
    assert journal.open_plans() == [other]
    with pytest.raises(JournalError, match="CHECK constraint failed"):
        journal.set_plan_state(other.id, "finished")
    assert journal.plan(other.id).state == "open"
    with pytest.raises(UnknownTransaction, match="no refund plan 99"):
        journal.plan(99)
    with pytest.raises(UnknownTransaction, match="no refund plan 99"):
        journal.set_plan_state(99, "done")


def test_a_refund_plan_is_refused_unless_its_parts_fit_the_sale(journal: Journal) -> None:
    sale = approved(journal, eur("700.00"))
    with pytest.raises(ValueError, match="at least one part"):
        journal.create_plan(sale.id, [], "anna")
    with pytest.raises(ValueError, match="must be a positive Money"):
        journal.create_plan(sale.id, [eur("5.00"), Money(0, "EUR")], "anna")
    with pytest.raises(ValueError, match=f"operation {sale.id} must be in EUR"):
        journal.create_plan(sale.id, [eur("500.00"), Money(20000, "USD")], "anna")
    with pytest.raises(UnknownTransaction, match="no operation 99"):
        journal.create_plan(99, [eur("1.00")], "anna")
    assert journal.plans_of(sale.id) == []
    assert [e.event for e in journal.events(sale.id)] == ["created", "state", "state"]
