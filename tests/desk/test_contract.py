"""The desk's contract: the same behaviour tests, run against the desk over a journal
(:class:`LocalDesk`, here over the journal of a running daemon, which SQLite lets a
second process read and write) and through the daemon's API (:class:`RemoteDesk`, to a
real ``posdriver serve --emulate`` process). Whichever desk a command or an endpoint
has, it must see the same records and meet the same errors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from posdriver.desk import (
    Conflict,
    Desk,
    IncidentNote,
    LocalDesk,
    NotFound,
    RemoteDesk,
)
from posdriver.desk.client import Daemon
from posdriver.journal import Journal, Kind, State, open_journal
from posdriver.journal.journal import Filters
from posdriver.money import Money
from tests.support.served import Served, serve
from tests.support.timing import wait_until


@dataclass
class Rig:
    """A running daemon, a sale it approved and printed, and both desks on it."""

    served: Served
    journal: Journal
    sale: int

    def desk(self, kind: str) -> Desk:
        if kind == "local":
            return LocalDesk(self.journal, self.served.state)
        return RemoteDesk(Daemon(self.served.api, None))


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    tmp = tmp_path_factory.mktemp("desk")
    with serve(tmp) as served:
        sale = served.sale("12.50")
        wait_until(
            lambda: all(
                j["state"] == "done"
                for j in served.get(f"/v1/operations/{sale}?wait=20")[1]["print_jobs"]
            ),
            30,
            "the sale approved and its receipt printed",
        )
        journal = open_journal(served.state)
        try:
            yield Rig(served, journal, sale)
        finally:
            journal.close()


@pytest.fixture(params=["local", "remote"])
def desk(request: pytest.FixtureRequest, rig: Rig) -> Desk:
    return rig.desk(request.param)


def test_transactions_are_found_by_the_filters_txn_list_takes(desk: Desk, rig: Rig) -> None:
    found = desk.transactions(Filters(kinds=(Kind.SALE,), amount=Money.parse("12.50", "EUR")))
    assert [op.id for op in found] == [rig.sale]
    assert found[0].state is State.APPROVED and found[0].amount == Money.parse("12.50", "EUR")
    assert desk.transactions(Filters(amount=Money.parse("99.99", "EUR"))) == []
    since = datetime.now().astimezone() + timedelta(days=1)
    assert desk.transactions(Filters(since=since)) == []


def test_one_transaction_is_shown_whole(desk: Desk, rig: Rig) -> None:
    shown = desk.transaction(f"id:{rig.sale}")
    assert shown.operation.id == rig.sale and shown.final
    assert [e.to_state for e in shown.events if e.to_state][-2:] == ["sent", "approved"]
    assert [r.copy for r in shown.receipts] == ["customer", "merchant"]
    assert all(r.operation_id == rig.sale for r in shown.receipts)
    assert shown.linked == () and shown.refund_plans == ()
    assert desk.find("last", last_kinds=(Kind.SALE,)).id == rig.sale


def test_both_desks_read_the_same_records(rig: Rig) -> None:
    """What the API answers is read back into exactly the journal's records (fields the
    answers leave out aside: an event's own id)."""
    local, remote = rig.desk("local"), rig.desk("remote")
    mine, theirs = local.transaction(f"id:{rig.sale}"), remote.transaction(f"id:{rig.sale}")
    assert theirs.operation.as_dict() == mine.operation.as_dict()
    assert theirs.operation == replace(mine.operation, reference=None, idempotency_key=None)
    assert theirs.receipts == mine.receipts and theirs.print_jobs == mine.print_jobs
    assert [(e.at, e.event, e.to_state) for e in theirs.events] == [
        (e.at, e.event, e.to_state) for e in mine.events
    ]
    assert remote.print_jobs(("done",)) == local.print_jobs(("done",))
    assert remote.pending() == local.pending()


def test_an_unknown_name_is_not_found_in_the_journals_words(desk: Desk) -> None:
    with pytest.raises(NotFound, match="no transaction with journal id 99999"):
        desk.transaction("id:99999")
    with pytest.raises(NotFound, match="no print job 99999 in the journal"):
        desk.print_job(99999)
    with pytest.raises(NotFound, match="no refund plan 99999"):
        desk.refund_plan(99999)
    with pytest.raises(NotFound, match="the journal has no pre_auth yet"):
        desk.find("last", last_kinds=(Kind.PRE_AUTH,))


def test_a_settled_operation_is_answered_at_once(desk: Desk, rig: Rig) -> None:
    settled = desk.settled(rig.sale, wait=30)
    assert settled.final and settled.operation.state is State.APPROVED
    assert [r.copy for r in settled.receipts] == ["customer", "merchant"]
    assert {j.state for j in settled.print_jobs} == {"done"}


def test_a_staff_note_goes_into_the_fault_record_linked_to_its_sale(
    desk: Desk, rig: Rig, request: pytest.FixtureRequest
) -> None:
    before = datetime.now().astimezone() - timedelta(seconds=1)
    added = desk.add_incident(
        IncidentNote(
            fault=f"guest asked twice ({request.node.callspec.id})",
            action="checked the journal",
            result="charged once",
            operator="desk-anna",
            txn=f"id:{rig.sale}",
        )
    )
    assert (added.category, added.operation_id, added.actor) == ("note", rig.sale, "desk-anna")
    assert added in desk.incidents(since=before)
    with pytest.raises(NotFound):
        desk.add_incident(IncidentNote("f", "a", "r", operator="x", txn="id:99999"))


def test_a_printed_job_cannot_be_cancelled(desk: Desk, rig: Rig) -> None:
    [job, *_] = desk.settled(rig.sale).print_jobs
    with pytest.raises(Conflict, match=f"print job {job.id} is done; nothing to cancel"):
        desk.cancel_print_job(job.id, "desk-anna")
    assert desk.print_job(job.id).state == "done"
    assert desk.print_jobs() == []  # nothing waits


def test_nothing_is_pending_when_everything_settled_and_printed(desk: Desk) -> None:
    pending = desk.pending()
    assert not pending.anything
    assert pending.as_dict() == {
        "operations": [],
        "in_flight": [],
        "refund_plans": [],
        "print_jobs_waiting": 0,
    }


def test_a_split_refund_plan_reads_the_same_through_both(tmp_path: Path) -> None:
    """A plan with a part refunded, read through each desk: its parts in the sale's
    currency, what is left, its refunds; and in what is pending."""
    with serve(tmp_path) as served:
        sale = served.sale("30.00")
        served.await_state(sale, "approved", 20, "the sale approved")
        with open_journal(served.state) as journal:
            plan = journal.create_plan(sale, [Money.parse("10.00", "EUR")] * 3, "anna")
            local = LocalDesk(journal, served.state)
            remote = RemoteDesk(Daemon(served.api, None))
            seen = remote.refund_plan(plan.id, wait=1)
            assert seen == local.refund_plan(plan.id)
            assert seen.plan == plan and seen.left == plan.parts and not seen.running
            assert remote.pending().refund_plans == local.pending().refund_plans == (seen,)
