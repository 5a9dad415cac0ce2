"""The fault record."""

from __future__ import annotations

from datetime import timedelta

import pytest

from posdriver.journal import Journal, Kind
from tests.support.clock import Clock

from .helpers import eur

# -- incidents -----------------------------------------------------------------------------


def test_add_incident(journal: Journal, clock: Clock) -> None:
    op = journal.begin(Kind.SALE, eur("1.00"))
    inc = journal.add_incident(
        category="device_fault",
        fault="  printer p1: paper out  ",
        action="loaded a new roll",
        result="receipt printed",
        device="p1",
        notes="second time today",
        operation_id=op.id,
        actor="anna",
    )
    assert (inc.at, inc.place, inc.device, inc.category) == (
        clock.now,
        "front desk 1",
        "p1",
        "device_fault",
    )
    assert (inc.fault, inc.action, inc.result) == (
        "printer p1: paper out",
        "loaded a new roll",
        "receipt printed",
    )
    assert (inc.notes, inc.operation_id, inc.actor) == ("second time today", op.id, "anna")
    assert (
        journal.add_incident(
            category="note", fault="f", action="a", result="r", place="back office"
        ).place
        == "back office"
    )


@pytest.mark.parametrize("field", ["fault", "action", "result"])
@pytest.mark.parametrize("blank", ["", "   ", "\n\t"], ids=repr)
def test_an_incident_needs_fault_action_and_result(
    journal: Journal, field: str, blank: str
) -> None:
    given = {"fault": "f", "action": "a", "result": "r", field: blank}
    with pytest.raises(ValueError, match=f"an incident needs a {field}"):
        journal.add_incident(
            category="manual", fault=given["fault"], action=given["action"], result=given["result"]
        )
    assert journal.incidents() == []


def test_incidents_since_and_limit(journal: Journal, clock: Clock) -> None:
    made = []
    for n in range(5):
        made.append(journal.add_incident(category="note", fault=f"f{n}", action="a", result="r"))
        clock.advance(60)
    assert journal.incidents() == made
    assert journal.incidents(since=made[2].at) == made[2:]
    assert journal.incidents(since=made[2].at + timedelta(microseconds=1)) == made[3:]
    assert journal.incidents(limit=2) == made[3:]  # the latest two, oldest first
    assert journal.incidents(since=made[1].at, limit=3) == made[2:]
    assert journal.incidents(since=made[4].at, limit=3) == made[4:]
    assert journal.incidents(since=clock.now) == []
