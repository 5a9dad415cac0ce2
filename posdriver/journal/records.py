"""Journal rows as values. Times are timezone-aware datetimes (stored as UTC ISO text);
amounts are :class:`~posdriver.money.Money`. A card is at most its brand and last four."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from ..money import Money
from .states import Kind, State


class Row(Protocol):
    """A row as a store hands it over: its columns by name (and by position)."""

    def __getitem__(self, key: int | str, /) -> Any: ...


def parse_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


@dataclass(frozen=True)
class Operation:
    """One money operation and everything the terminal said about it."""

    id: int
    kind: Kind
    state: State
    amount: Money | None
    currency: str
    terminal: str | None
    created_at: datetime
    updated_at: datetime
    parent_id: int | None = None
    plan_id: int | None = None
    plan_part: int | None = None
    ref_receipt_no: int | None = None
    trace: int | None = None
    receipt_no: int | None = None
    approval_code: str | None = None
    terminal_id: str | None = None
    card_brand: str | None = None
    card_last4: str | None = None
    result_code: int | None = None
    reason: str | None = None
    doubt_stage: str | None = None
    terminal_at: datetime | None = None
    idempotency_key: str | None = None
    resolved_by: str | None = None
    note: str | None = None

    @classmethod
    def from_row(cls, row: Row) -> Operation:
        minor = row["amount_minor"]
        return cls(
            id=row["id"],
            kind=Kind(row["kind"]),
            state=State(row["state"]),
            amount=None if minor is None else Money(minor, row["currency"]),
            currency=row["currency"],
            terminal=row["terminal"],
            created_at=datetime.fromisoformat(row["created_at"]),
            updated_at=datetime.fromisoformat(row["updated_at"]),
            parent_id=row["parent_id"],
            plan_id=row["plan_id"],
            plan_part=row["plan_part"],
            ref_receipt_no=row["ref_receipt_no"],
            trace=row["trace"],
            receipt_no=row["receipt_no"],
            approval_code=row["approval_code"],
            terminal_id=row["terminal_id"],
            card_brand=row["card_brand"],
            card_last4=row["card_last4"],
            result_code=row["result_code"],
            reason=row["reason"],
            doubt_stage=row["doubt_stage"],
            terminal_at=parse_time(row["terminal_at"]),
            idempotency_key=row["idempotency_key"],
            resolved_by=row["resolved_by"],
            note=row["note"],
        )

    @property
    def card(self) -> str:
        if not self.card_last4:
            return self.card_brand or ""
        return f"{self.card_brand or 'card'} **** {self.card_last4}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "state": self.state.value,
            "amount": None if self.amount is None else self.amount.decimal(),
            "currency": self.currency,
            "terminal": self.terminal,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "parent_id": self.parent_id,
            "plan_id": self.plan_id,
            "plan_part": self.plan_part,
            "ref_receipt_no": self.ref_receipt_no,
            "trace": self.trace,
            "receipt_no": self.receipt_no,
            "approval_code": self.approval_code,
            "terminal_id": self.terminal_id,
            "card_brand": self.card_brand,
            "card_last4": self.card_last4,
            "result_code": self.result_code,
            "reason": self.reason,
            "doubt_stage": self.doubt_stage,
            "terminal_at": None if self.terminal_at is None else self.terminal_at.isoformat(),
            "resolved_by": self.resolved_by,
            "note": self.note,
        }


@dataclass(frozen=True)
class Event:
    """One line of an operation's history: a state change, a failover, a print, a
    reprint, a person's decision."""

    id: int
    operation_id: int
    at: datetime
    event: str
    from_state: str | None
    to_state: str | None
    actor: str | None
    detail: str | None

    @classmethod
    def from_row(cls, row: Row) -> Event:
        return cls(
            id=row["id"],
            operation_id=row["operation_id"],
            at=datetime.fromisoformat(row["at"]),
            event=row["event"],
            from_state=row["from_state"],
            to_state=row["to_state"],
            actor=row["actor"],
            detail=row["detail"],
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "event": self.event,
            "from": self.from_state,
            "to": self.to_state,
            "actor": self.actor,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class StoredReceipt:
    """A receipt exactly as printed (one copy of one operation)."""

    id: int
    operation_id: int
    copy: str  # customer | merchant
    source: str  # terminal | built | repeat_receipt
    lines: tuple[str, ...]
    created_at: datetime
    reprints: int

    @classmethod
    def from_row(cls, row: Row) -> StoredReceipt:
        return cls(
            id=row["id"],
            operation_id=row["operation_id"],
            copy=row["copy"],
            source=row["source"],
            lines=tuple(json.loads(row["lines"])),
            created_at=datetime.fromisoformat(row["created_at"]),
            reprints=row["reprints"],
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "copy": self.copy,
            "source": self.source,
            "lines": list(self.lines),
            "created_at": self.created_at.isoformat(),
            "reprints": self.reprints,
        }


@dataclass(frozen=True)
class PrintJob:
    """A receipt waiting for (or done with) a printer."""

    id: int
    receipt_id: int
    printer: str | None
    purpose: str  # original | reprint
    reprint_no: int | None
    state: str  # queued | printing | done | failed | cancelled
    continuation: bool
    attempts: int
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    last_error: str | None
    operation_id: int

    @classmethod
    def from_row(cls, row: Row) -> PrintJob:
        return cls(
            id=row["id"],
            receipt_id=row["receipt_id"],
            printer=row["printer"],
            purpose=row["purpose"],
            reprint_no=row["reprint_no"],
            state=row["state"],
            continuation=bool(row["continuation"]),
            attempts=row["attempts"],
            created_at=datetime.fromisoformat(row["created_at"]),
            updated_at=datetime.fromisoformat(row["updated_at"]),
            finished_at=parse_time(row["finished_at"]),
            last_error=row["last_error"],
            operation_id=row["operation_id"],
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "operation_id": self.operation_id,
            "receipt_id": self.receipt_id,
            "printer": self.printer,
            "purpose": self.purpose,
            "reprint_no": self.reprint_no,
            "state": self.state,
            "continuation": self.continuation,
            "attempts": self.attempts,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "finished_at": None if self.finished_at is None else self.finished_at.isoformat(),
            "last_error": self.last_error,
        }


@dataclass(frozen=True)
class Incident:
    """One line of the hotel's fault record: when, where, what, what was done, result."""

    id: int
    at: datetime
    place: str
    device: str | None
    category: str  # device_fault | failover | in_doubt | resolution | manual | note
    fault: str
    action: str
    result: str
    notes: str | None
    operation_id: int | None
    actor: str | None

    @classmethod
    def from_row(cls, row: Row) -> Incident:
        return cls(
            id=row["id"],
            at=datetime.fromisoformat(row["at"]),
            place=row["place"],
            device=row["device"],
            category=row["category"],
            fault=row["fault"],
            action=row["action"],
            result=row["result"],
            notes=row["notes"],
            operation_id=row["operation_id"],
            actor=row["actor"],
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "place": self.place,
            "device": self.device,
            "category": self.category,
            "fault": self.fault,
            "action": self.action,
            "result": self.result,
            "notes": self.notes,
            "operation_id": self.operation_id,
            "actor": self.actor,
        }


@dataclass(frozen=True)
class RefundPlan:
    """A refund split into parts within the terminal's per-refund limit."""

    id: int
    sale_id: int
    parts: tuple[Money, ...]
    state: str  # open | done | cancelled
    created_at: datetime
    actor: str | None

    @classmethod
    def from_row(cls, row: Row) -> RefundPlan:
        currency = row["currency"]
        return cls(
            id=row["id"],
            sale_id=row["sale_id"],
            parts=tuple(Money(m, currency) for m in json.loads(row["parts"])),
            state=row["state"],
            created_at=datetime.fromisoformat(row["created_at"]),
            actor=row["actor"],
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sale_id": self.sale_id,
            "parts": [p.decimal() for p in self.parts],
            "currency": self.parts[0].currency if self.parts else None,
            "state": self.state,
            "created_at": self.created_at.isoformat(),
            "actor": self.actor,
        }
