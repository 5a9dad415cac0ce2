"""Money operations and their history: the ``operations`` and ``events`` tables.

An operation is written (PENDING, fsynced) before its first byte goes to a terminal, and
each later state change is checked against :mod:`.states` and journaled with the facts
the terminal gave, as an event, in the same commit. Besides the write side, this family
answers every question asked of operations: by id, by a person's reference
(:meth:`Operations.find`), by idempotency key, by filters, and the unresolved ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from ..card import is_last4
from ..money import Money
from .errors import InvalidTransition, JournalError, UnknownTransaction
from .records import Event, Operation, columns
from .states import NEEDS_ATTENTION, UNRESOLVED, Kind, State, allowed
from .store import Connection, Store, iso

# Facts a transition may record about an operation (columns of ``operations``).
FACT_COLUMNS = frozenset(c.column for c in columns(Operation) if c.fact)
_TXN_ID = re.compile(r"(?:id:|#)?([0-9]{1,18})", re.IGNORECASE)
_TXN_RECEIPT = re.compile(r"(?:receipt:|r)([0-9]{1,9})", re.IGNORECASE)


@dataclass(frozen=True)
class Filters:
    """``txn list`` filters; ``None`` means any."""

    since: datetime | None = None
    until: datetime | None = None
    amount: Money | None = None
    last4: str | None = None
    states: tuple[State, ...] = ()
    kinds: tuple[Kind, ...] = ()
    terminal: str | None = None
    limit: int | None = 100


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """A local calendar day as [start, end) aware datetimes."""
    start = datetime.combine(day, time.min).astimezone()
    return start, datetime.combine(day + timedelta(days=1), time.min).astimezone()


def record_event(
    conn: Connection,
    at: str,
    op_id: int,
    event: str,
    old: State | None,
    new: State | None,
    actor: str | None,
    detail: str | None,
) -> None:
    """One line of an operation's history, in the caller's transaction: every family
    that changes something about an operation (a receipt stored, a reprint, a refund
    plan) says so here."""
    conn.execute(
        """INSERT INTO events (operation_id, at, event, from_state, to_state, actor, detail)
           VALUES (?, ?, ?, ?, ?, ?, ?)""",
        (
            op_id,
            at,
            event,
            None if old is None else old.value,
            None if new is None else new.value,
            actor,
            detail,
        ),
    )


def require_operation(conn: Connection, op_id: int) -> Operation:
    """The operation, read in the caller's transaction; refuses one that is not there."""
    row = conn.execute("SELECT * FROM operations WHERE id = ?", (op_id,)).fetchone()
    if row is None:
        raise UnknownTransaction(f"no operation {op_id} in the journal")
    return Operation.from_row(row)


class Operations(Store):
    """The money operations family of the journal."""

    def begin(
        self,
        kind: Kind | str,
        amount: Money | None,
        *,
        currency: str | None = None,
        terminal: str | None = None,
        parent_id: int | None = None,
        ref_receipt_no: int | None = None,
        ref_reference: str | None = None,
        plan_id: int | None = None,
        plan_part: int | None = None,
        idempotency_key: str | None = None,
        actor: str | None = None,
        on_created: Callable[[int], None] | None = None,
    ) -> Operation:
        """Write the intent (PENDING) and fsync it, before anything goes to a terminal.

        ``on_created(id)`` runs inside the transaction, before the commit: the caller takes
        its claim on the operation there (see ``posdriver.locks.OperationClaim``), so
        no other process ever sees the operation without its owner.
        """
        kind = Kind(kind)
        if amount is not None and (not isinstance(amount, Money) or amount.minor <= 0):
            raise ValueError(f"an operation's amount must be a positive Money, got {amount!r}")
        cur = amount.currency if amount is not None else (currency or "").upper()
        if len(cur) != 3:
            raise ValueError("an operation without an amount needs its currency")
        with self.atomic() as conn:
            # the time is read under the write lock, so ids and times agree in order
            now = self._now()
            if parent_id is not None:
                require_operation(conn, parent_id)
            if idempotency_key is not None:
                earlier = conn.execute(
                    "SELECT id FROM operations WHERE idempotency_key = ?", (idempotency_key,)
                ).fetchone()
                if earlier is not None:
                    raise JournalError(
                        f"{self.path}: idempotency key {idempotency_key!r} already belongs to "
                        f"operation {earlier[0]}; nothing new was recorded"
                    )
            row = conn.execute(
                """INSERT INTO operations (kind, state, amount_minor, currency, terminal,
                       created_at, updated_at, parent_id, ref_receipt_no, ref_reference,
                       plan_id, plan_part, idempotency_key)
                   VALUES (?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
                (
                    kind.value,
                    None if amount is None else amount.minor,
                    cur,
                    terminal,
                    now,
                    now,
                    parent_id,
                    ref_receipt_no,
                    ref_reference,
                    plan_id,
                    plan_part,
                    idempotency_key,
                ),
            ).fetchone()
            op_id = row[0]
            record_event(conn, self._now(), op_id, "created", None, State.PENDING, actor, terminal)
            if on_created is not None:
                on_created(op_id)
        return self.get(op_id)

    def attempt(self, op_id: int, terminal: str, *, detail: str | None = None) -> Operation:
        """Record which terminal a PENDING operation is about to go to (before any byte
        does); a failover is a second attempt on another terminal."""
        with self.atomic() as conn:
            op = require_operation(conn, op_id)
            if op.state is not State.PENDING:
                raise InvalidTransition(
                    f"operation {op_id} is {op.state.value}; only a pending operation can go "
                    "to a terminal"
                )
            conn.execute(
                "UPDATE operations SET terminal = ?, updated_at = ? WHERE id = ?",
                (terminal, self._now(), op_id),
            )
            record_event(conn, self._now(), op_id, "attempt", None, None, None, detail or terminal)
        return self.get(op_id)

    def transition(
        self,
        op_id: int,
        new: State | str,
        *,
        actor: str | None = None,
        detail: str | None = None,
        **facts: Any,
    ) -> Operation:
        """Move an operation to ``new`` (checked against the state machine) and record
        ``facts`` (columns such as ``receipt_no``, ``card_last4``) in the same commit."""
        new = State(new)
        unknown = set(facts) - FACT_COLUMNS
        if unknown:
            raise ValueError(f"not journal facts: {', '.join(sorted(unknown))}")
        last4 = facts.get("card_last4")
        if last4 is not None and not is_last4(str(last4)):
            raise ValueError("card_last4 must be exactly four digits; no more of a card is kept")
        if isinstance(facts.get("terminal_at"), datetime):
            facts["terminal_at"] = iso(facts["terminal_at"])
        with self.atomic() as conn:
            op = require_operation(conn, op_id)
            if not allowed(op.state, new):
                raise InvalidTransition(
                    f"operation {op_id} is {op.state.value} and cannot become {new.value}"
                )
            now = self._now()
            changed = {k: v for k, v in facts.items() if v is not None}
            assignments = ", ".join(f"{k} = ?" for k in changed)
            sql = "UPDATE operations SET state = ?, updated_at = ?"
            if assignments:
                sql += ", " + assignments
            conn.execute(f"{sql} WHERE id = ?", (new.value, now, *changed.values(), op_id))
            record_event(conn, self._now(), op_id, "state", op.state, new, actor, detail)
        return self.get(op_id)

    def note_event(
        self, op_id: int, event: str, detail: str | None = None, actor: str | None = None
    ) -> None:
        """A line in an operation's history that is not a state change (print, reprint)."""
        with self.atomic() as conn:
            require_operation(conn, op_id)
            record_event(conn, self._now(), op_id, event, None, None, actor, detail)

    def get(self, op_id: int) -> Operation:
        rows = self._read("SELECT * FROM operations WHERE id = ?", (op_id,))
        if not rows:
            raise UnknownTransaction(f"no operation {op_id} in the journal")
        return Operation.from_row(rows[0])

    def by_idempotency_key(self, key: str) -> Operation | None:
        rows = self._read("SELECT * FROM operations WHERE idempotency_key = ?", (key,))
        return Operation.from_row(rows[0]) if rows else None

    def find(self, ref: str, *, last_kinds: Sequence[Kind] = ()) -> Operation:
        """The operation ``ref`` names: ``last``, a journal id (``17``, ``id:17``), or a
        terminal receipt number (``receipt:1234``; a bare number when it is not also a
        journal id). Ambiguity is an error that lists the candidates, never a guess."""
        text = (ref or "").strip()
        if text.lower() == "last":
            kinds = [k.value for k in last_kinds] or [
                k.value for k in Kind if k is not Kind.REVERSAL
            ]
            rows = self._read(
                f"SELECT * FROM operations WHERE kind IN ({', '.join('?' * len(kinds))}) "
                "ORDER BY id DESC LIMIT 1",
                kinds,
            )
            if not rows:
                what = "/".join(kinds) if last_kinds else "transactions"
                raise UnknownTransaction(f"the journal has no {what} yet")
            return Operation.from_row(rows[0])
        explicit_id = text.lower().startswith(("id:", "#"))
        match = _TXN_ID.fullmatch(text)
        if match:
            number = int(match.group(1))
            by_id = self._read("SELECT * FROM operations WHERE id = ?", (number,))
            if explicit_id:
                if not by_id:
                    raise UnknownTransaction(f"no transaction with journal id {number}")
                return Operation.from_row(by_id[0])
            by_receipt = self.by_receipt_no(number) if number <= 999_999_999 else []
            others = [op for op in by_receipt if not by_id or op.id != by_id[0]["id"]]
            if by_id and not others:
                return Operation.from_row(by_id[0])
            if not by_id and len(by_receipt) == 1:
                return by_receipt[0]
            if not by_id and not by_receipt:
                raise UnknownTransaction(
                    f"no transaction with journal id or terminal receipt number {number}"
                )
            candidates = [Operation.from_row(r) for r in by_id] + others
            raise UnknownTransaction(_ambiguous(text, candidates))
        match = _TXN_RECEIPT.fullmatch(text)
        if match:
            number = int(match.group(1))
            found = self.by_receipt_no(number)
            if not found:
                raise UnknownTransaction(f"no transaction with terminal receipt number {number}")
            if len(found) > 1:
                raise UnknownTransaction(_ambiguous(text, found))
            return found[0]
        raise UnknownTransaction(
            f"{ref!r} does not name a transaction; use a journal id (17 or id:17), a "
            "terminal receipt number (receipt:1234) or 'last'"
        )

    def by_reference(self, terminal: str, reference: str) -> list[Operation]:
        """The operations of ``terminal`` its protocol knows as ``reference``, newest
        first (references may repeat: a terminal's receipt numbers wrap, at 9999 for some)."""
        rows = self._read(
            "SELECT * FROM operations WHERE terminal = ? AND reference = ? "
            "ORDER BY id DESC LIMIT 20",
            (terminal, reference),
        )
        return [Operation.from_row(r) for r in rows]

    def by_receipt_no(self, number: int) -> list[Operation]:
        rows = self._read(
            "SELECT * FROM operations WHERE receipt_no = ? ORDER BY id DESC LIMIT 20", (number,)
        )
        return [Operation.from_row(r) for r in rows]

    def search(self, filters: Filters | None = None) -> list[Operation]:
        """Operations newest first, filtered."""
        f = filters or Filters()
        where: list[str] = []
        params: list[Any] = []
        if f.since is not None:
            where.append("created_at >= ?")
            params.append(iso(f.since))
        if f.until is not None:
            where.append("created_at < ?")
            params.append(iso(f.until))
        if f.amount is not None:
            where.append("amount_minor = ? AND currency = ?")
            params += [f.amount.minor, f.amount.currency]
        if f.last4 is not None:
            if not is_last4(f.last4):
                raise ValueError(f"last four digits must be four digits, got {f.last4!r}")
            where.append("card_last4 = ?")
            params.append(f.last4)
        if f.states:
            where.append(f"state IN ({', '.join('?' * len(f.states))})")
            params += [s.value for s in f.states]
        if f.kinds:
            where.append(f"kind IN ({', '.join('?' * len(f.kinds))})")
            params += [k.value for k in f.kinds]
        if f.terminal is not None:
            where.append("terminal = ?")
            params.append(f.terminal)
        sql = "SELECT * FROM operations"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if f.limit is not None:
            sql += f" LIMIT {int(f.limit)}"
        return [Operation.from_row(r) for r in self._read(sql, params)]

    def unresolved(self, states: frozenset[State] = UNRESOLVED) -> list[Operation]:
        marks = ", ".join("?" * len(states))
        rows = self._read(
            f"SELECT * FROM operations WHERE state IN ({marks}) ORDER BY id",
            [s.value for s in sorted(states)],
        )
        return [Operation.from_row(r) for r in rows]

    def needing_attention(self) -> list[Operation]:
        return self.unresolved(NEEDS_ATTENTION)

    def events(self, op_id: int) -> list[Event]:
        rows = self._read("SELECT * FROM events WHERE operation_id = ? ORDER BY id", (op_id,))
        return [Event.from_row(r) for r in rows]

    def children(self, op_id: int) -> list[Operation]:
        """Refunds, reversals and bookings linked to ``op_id``."""
        rows = self._read("SELECT * FROM operations WHERE parent_id = ? ORDER BY id", (op_id,))
        return [Operation.from_row(r) for r in rows]

    def refunds_between(self, start: datetime, end: datetime) -> list[Operation]:
        """Refunds created in [start, end) that moved money or may have (for the cap)."""
        states = [State.APPROVED.value, *(s.value for s in UNRESOLVED)]
        marks = ", ".join("?" * len(states))
        rows = self._read(
            f"""SELECT * FROM operations WHERE kind = 'refund' AND created_at >= ?
                AND created_at < ? AND state IN ({marks})""",
            [iso(start), iso(end), *states],
        )
        return [Operation.from_row(r) for r in rows]


def _ambiguous(ref: str, candidates: Sequence[Operation]) -> str:
    lines = [f"{ref!r} matches more than one transaction; name one by its journal id:"]
    for op in candidates:
        amount = op.amount.format() if op.amount else "-"
        lines.append(
            f"  id:{op.id}  {op.created_at.astimezone():%Y-%m-%d %H:%M}  {op.kind.value}  "
            f"{amount}  receipt {op.receipt_no or '-'}  {op.state.value}"
        )
    return "\n".join(lines)
