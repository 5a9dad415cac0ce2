"""The records are declared once, as dataclass fields: what is read from a row, what an
answer holds (and in which order), the CSV export's columns and the facts a transition
may record all follow from them. These pin what follows, and hold the declaration to
the tables it reads."""

from __future__ import annotations

from datetime import datetime

import pytest

from posdriver.journal import Event, Incident, Journal, Operation, PrintJob, StoredReceipt
from posdriver.journal.journal import FACT_COLUMNS
from posdriver.journal.maintenance import EXPORT_COLUMNS
from posdriver.journal.records import RefundPlan, columns
from posdriver.journal.states import Kind, State
from posdriver.money import Money

ANSWER_KEYS = {
    Operation: [
        "id",
        "kind",
        "state",
        "amount",
        "currency",
        "terminal",
        "created_at",
        "updated_at",
        "parent_id",
        "plan_id",
        "plan_part",
        "ref_receipt_no",
        "trace",
        "receipt_no",
        "approval_code",
        "terminal_id",
        "card_brand",
        "card_last4",
        "result_code",
        "reason",
        "doubt_stage",
        "terminal_at",
        "resolved_by",
        "note",
    ],
    Event: ["at", "event", "from", "to", "actor", "detail"],
    StoredReceipt: ["id", "copy", "source", "lines", "created_at", "reprints"],
    PrintJob: [
        "id",
        "operation_id",
        "receipt_id",
        "printer",
        "purpose",
        "reprint_no",
        "state",
        "continuation",
        "attempts",
        "created_at",
        "updated_at",
        "finished_at",
        "last_error",
    ],
    Incident: [
        "id",
        "at",
        "place",
        "device",
        "category",
        "fault",
        "action",
        "result",
        "notes",
        "operation_id",
        "actor",
    ],
    RefundPlan: ["id", "sale_id", "parts", "currency", "state", "created_at", "actor"],
}
TABLES = {
    Operation: "operations",
    Event: "events",
    StoredReceipt: "receipts",
    PrintJob: "print_jobs",
    Incident: "incidents",
    RefundPlan: "refund_plans",
}


FACTS = {
    "amount_minor",
    "trace",
    "receipt_no",
    "reference",
    "approval_code",
    "terminal_id",
    "card_brand",
    "card_last4",
    "result_code",
    "reason",
    "doubt_stage",
    "terminal_at",
    "resolved_by",
    "note",
}


def test_facts_are_the_columns_a_transition_may_set() -> None:
    assert frozenset(FACTS) == FACT_COLUMNS


def test_the_export_columns_are_the_answer_less_the_reference_terminal_time_and_key() -> None:
    left_out = {"ref_receipt_no", "terminal_at"}
    assert [k for k in ANSWER_KEYS[Operation] if k not in left_out] == list(EXPORT_COLUMNS)


def test_an_operation_never_answers_with_its_idempotency_key() -> None:
    (key,) = (c for c in columns(Operation) if c.name == "idempotency_key")
    assert (key.answered, key.exported, key.fact) == (False, False, False)


@pytest.mark.parametrize("record", list(TABLES), ids=lambda r: r.__name__)
def test_every_field_is_a_column_of_its_table_and_every_column_is_read(
    journal: Journal, record: type
) -> None:
    table = TABLES[record]
    in_table = {row[1] for row in journal._read(f"PRAGMA table_info({table})")}
    read = {c.column for c in columns(record)}
    joined = {"operation_id"} if record is PrintJob else set()  # from receipts
    assert read - joined <= in_table
    beside = {"currency"} if record is RefundPlan else set()  # the parts' currency
    assert in_table - read == beside


def _journal_with_one_of_each(journal: Journal) -> int:
    sale = journal.begin(Kind.SALE, Money(1250, "EUR"), terminal="lobby", idempotency_key="k")
    journal.transition(sale.id, State.SENT, trace=7)
    journal.transition(
        sale.id,
        State.APPROVED,
        receipt_no=12,
        card_brand="Visa",
        card_last4="0042",
        terminal_at=datetime(2024, 5, 17, 9, 31).astimezone(),
    )
    receipt = journal.add_receipt(sale.id, "customer", ["HOTEL", "Summe 12,50 €"], "terminal")
    job = journal.enqueue_print(receipt.id, "front")
    journal.job_done(journal.job_started(job.id).id)
    journal.add_incident(category="note", fault="f", action="a", result="r", operation_id=sale.id)
    journal.create_plan(sale.id, [Money(500, "EUR"), Money(750, "EUR")], "anna")
    return sale.id


def test_each_record_answers_with_its_keys_in_order(journal: Journal) -> None:
    sale_id = _journal_with_one_of_each(journal)
    found = {
        Operation: journal.get(sale_id),
        Event: journal.events(sale_id)[0],
        StoredReceipt: journal.receipts(sale_id)[0],
        PrintJob: journal.jobs_of(sale_id)[0],
        Incident: journal.incidents()[0],
        RefundPlan: journal.plans_of(sale_id)[0],
    }
    for record, keys in ANSWER_KEYS.items():
        assert list(found[record].as_dict()) == keys, record.__name__


def test_values_are_read_and_answered_by_their_type(journal: Journal) -> None:
    sale_id = _journal_with_one_of_each(journal)
    op = journal.get(sale_id)
    assert (op.kind, op.state, op.amount) == (Kind.SALE, State.APPROVED, Money(1250, "EUR"))
    assert op.idempotency_key == "k" and op.terminal_at is not None
    assert op.created_at.tzinfo is not None
    answer = op.as_dict()
    assert (answer["kind"], answer["state"], str(answer["amount"])) == ("sale", "approved", "12.50")
    assert answer["terminal_at"] == op.terminal_at.isoformat()
    booking = journal.begin(Kind.BOOKING, None, currency="EUR")
    assert journal.get(booking.id).as_dict()["amount"] is None
    receipt = journal.receipts(sale_id)[0]
    assert receipt.lines == ("HOTEL", "Summe 12,50 €")
    assert receipt.as_dict()["lines"] == ["HOTEL", "Summe 12,50 €"]
    job = journal.jobs_of(sale_id)[0]
    assert job.continuation is False and job.finished_at is not None
    plan = journal.plans_of(sale_id)[0]
    assert plan.parts == (Money(500, "EUR"), Money(750, "EUR"))
    assert [str(p) for p in plan.as_dict()["parts"]] == ["5.00", "7.50"]
    assert plan.as_dict()["currency"] == "EUR"


def test_columns_say_each_answer_key_and_its_type() -> None:
    """What a description of the answers (the OpenAPI document, the daemon's client)
    reads instead of writing the fields out again."""
    answered = [(c.key, c.type) for c in columns(Event) if c.answered]
    assert answered == [
        ("at", datetime),
        ("event", str),
        ("from", str | None),
        ("to", str | None),
        ("actor", str | None),
        ("detail", str | None),
    ]
    (amount,) = (c for c in columns(Operation) if c.key == "amount")
    assert (amount.column, amount.type) == ("amount_minor", Money | None)
