"""Journal rows as values. Times are timezone-aware datetimes (stored as UTC ISO text);
amounts are :class:`~posdriver.money.Money`. A card is at most its brand and last four.

Each record's dataclass fields are its one declaration: reading a row
(:meth:`Record.from_row`), the answer the API and the CLI give (:meth:`Record.as_dict`),
the CSV export's columns and the facts a transition may record all follow from them
and from what a field's :func:`stored` metadata says. How a value is kept follows from its
type: a datetime as ISO text, an enum as its value, a :class:`Money` as minor units
beside the row's ``currency``, a tuple as a JSON list. :func:`columns` lists a record's
fields with all of that, for whatever else describes the records: the API's document
takes each answered field's schema from its type and from what :func:`stored` adds
(the values a text may take, its pattern, a description, examples).
"""

from __future__ import annotations

import dataclasses
import json
import operator
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Protocol, Self

from ..card import LAST4_PATTERN
from ..money import Money
from .states import Kind, State

_STORED = "posdriver.journal"

# the texts some fields hold, one of these (the API's document lists them)
CURRENCY_PATTERN = "^[A-Z]{3}$"  # an ISO 4217 code, as the journal keeps it
RECEIPT_COPIES = ("customer", "merchant")
RECEIPT_SOURCES = ("terminal", "built", "repeat_receipt")
JOB_PURPOSES = ("original", "reprint")
JOB_STATES = ("queued", "printing", "done", "failed", "cancelled")
PLAN_STATES = ("open", "done", "cancelled")
INCIDENT_CATEGORIES = (
    "device_fault",
    "failover",
    "in_doubt",
    "resolution",
    "recovered",
    "manual",
    "note",
)

Values = type[Enum] | tuple[str, ...]  # an enum's values, or these texts


class Row(Protocol):
    """A row as a store hands it over: its columns by name (and by position)."""

    def __getitem__(self, key: int | str, /) -> Any: ...


Load = Callable[[Any, Row], Any]  # a column's value (and its row) -> the field's value
Dump = Callable[[Any], Any]  # the field's value -> its value in an answer


@dataclass(frozen=True)
class Stored:
    """What a field's type does not say about it."""

    column: str | None = None  # the table's column, when it is not the field's name
    key: str | None = None  # the answer's key, when it is not the field's name
    answered: bool = True  # in the API's and the CLI's answers (``as_dict``)
    exported: bool = True  # in the CSV export (operations)
    fact: bool = False  # a transition may record it (operations)
    # what an answer's value is beyond its type (the API's document says it)
    values: Values | None = None  # a text that is one of these
    pattern: str | None = None  # a text of this shape (JSON Schema's pattern)
    description: str | None = None
    examples: tuple[Any, ...] = ()


def stored(
    *,
    column: str | None = None,
    key: str | None = None,
    answered: bool = True,
    exported: bool = True,
    fact: bool = False,
    values: Values | None = None,
    pattern: str | None = None,
    description: str | None = None,
    examples: tuple[Any, ...] = (),
) -> dict[str, Stored]:
    """A field's metadata saying what :class:`Stored` says about it:
    ``field(metadata=stored(fact=True))``."""
    how = Stored(
        column=column,
        key=key,
        answered=answered,
        exported=exported,
        fact=fact,
        values=values,
        pattern=pattern,
        description=description,
        examples=examples,
    )
    return {_STORED: how}


@dataclass(frozen=True)
class Column:
    """One field of a record: where it is kept, how it is shown, and its type."""

    name: str  # the dataclass field
    type: Any  # its type, resolved (``int | None``, ``Money | None``, ``Kind``...)
    column: str  # the table's column it is read from
    key: str  # its key in an answer
    answered: bool
    exported: bool
    fact: bool
    load: Load | None  # None: the column's value is the field's
    dump: Dump | None  # None: the field's value is the answer's
    about: Stored = Stored()  # what the type does not say (values, pattern, description)


def columns(record: type) -> tuple[Column, ...]:
    """A record's fields in declaration order (which is the answers' key order), worked
    out once per record: every row read goes through them."""
    known = _COLUMNS.get(record)
    if known is None:
        known = _COLUMNS[record] = _columns(record)
    return known


_COLUMNS: dict[type, tuple[Column, ...]] = {}


def _columns(record: type) -> tuple[Column, ...]:
    hints = typing.get_type_hints(record)
    out = []
    for f in dataclasses.fields(record):
        how = f.metadata.get(_STORED, Stored())
        load, dump = _conversions(hints[f.name])
        out.append(
            Column(
                name=f.name,
                type=hints[f.name],
                column=how.column or f.name,
                key=how.key or f.name,
                answered=how.answered,
                exported=how.exported,
                fact=how.fact,
                load=load,
                dump=dump,
                about=how,
            )
        )
    return tuple(out)


def _conversions(hint: Any) -> tuple[Load | None, Dump | None]:
    """How a value of this type is read from its column and shown in an answer (``None``
    when it is taken as it is, as most columns are)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (types.UnionType, typing.Union) and type(None) in args:
        (inner,) = (a for a in args if a is not type(None))
        load, dump = _conversions(inner)
        return _or_none_load(load), _or_none(dump)
    if hint is Money:
        return _money, Money.decimal
    if typing.get_origin(hint) is tuple:  # tuple[X, ...], kept as a JSON list
        item_load, item_dump = _conversions(args[0])
        return _json_list_load(item_load), _list_dump(item_dump)
    if hint is datetime:
        return _reading(datetime.fromisoformat), datetime.isoformat
    if isinstance(hint, type) and issubclass(hint, Enum):
        return _reading(hint), operator.attrgetter("value")
    if hint is bool:
        return _reading(bool), None
    return None, None


def _money(minor: int, row: Row) -> Money:
    """An amount kept as minor units beside its row's ``currency``."""
    return Money(minor, row["currency"])


def _reading(read: Callable[[Any], Any]) -> Load:
    return lambda value, _row: read(value)


def _or_none_load(load: Load | None) -> Load | None:
    if load is None:
        return None
    return lambda value, row: None if value is None else load(value, row)


def _or_none(dump: Dump | None) -> Dump | None:
    if dump is None:
        return None
    return lambda value: None if value is None else dump(value)


def _json_list_load(item: Load | None) -> Load:
    if item is None:
        return lambda text, _row: tuple(json.loads(text))
    return lambda text, row: tuple(item(x, row) for x in json.loads(text))


def _list_dump(item: Dump | None) -> Dump:
    if item is None:
        return list
    return lambda values: [item(x) for x in values]


@dataclass(frozen=True)
class _Codec:
    """A record's columns laid out for the two things done with every row: reading it,
    and answering with it."""

    copied: tuple[tuple[str, str], ...]  # (field, column) taken as they are
    loaded: tuple[tuple[str, str, Load], ...]  # (field, column, conversion)
    answers: tuple[tuple[str, str, Dump | None], ...]  # (field, key, conversion), in order


def _codec(record: type) -> _Codec:
    known = _CODECS.get(record)
    if known is None:
        cols = columns(record)
        known = _CODECS[record] = _Codec(
            copied=tuple((c.name, c.column) for c in cols if c.load is None),
            loaded=tuple((c.name, c.column, c.load) for c in cols if c.load is not None),
            answers=tuple((c.name, c.key, c.dump) for c in cols if c.answered),
        )
    return known


_CODECS: dict[type, _Codec] = {}


class Record:
    """A journal record: read from a row and answered as its fields declare."""

    @classmethod
    def from_row(cls, row: Row) -> Self:
        codec = _codec(cls)
        values = {name: row[column] for name, column in codec.copied}
        for name, column, load in codec.loaded:
            values[name] = load(row[column], row)
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        values = vars(self)
        return {
            key: values[name] if dump is None else dump(values[name])
            for name, key, dump in _codec(type(self)).answers
        }


@dataclass(frozen=True)
class Operation(Record):
    """One money operation and everything the terminal said about it."""

    id: int = field(metadata=stored(description="journal id (ref. id:N on receipts)"))
    kind: Kind
    state: State
    amount: Money | None = field(metadata=stored(column="amount_minor", fact=True))
    currency: str = field(metadata=stored(pattern=CURRENCY_PATTERN))
    terminal: str | None
    created_at: datetime
    updated_at: datetime
    parent_id: int | None = None
    plan_id: int | None = None
    plan_part: int | None = None
    ref_receipt_no: int | None = field(default=None, metadata=stored(exported=False))
    trace: int | None = field(default=None, metadata=stored(fact=True))
    receipt_no: int | None = field(default=None, metadata=stored(fact=True))
    # how the terminal addresses the transaction (opaque: only its protocol reads it),
    # and the one a reversal or booking refers to; kept, not shown (answers are as before)
    reference: str | None = field(
        default=None, metadata=stored(fact=True, answered=False, exported=False)
    )
    ref_reference: str | None = field(default=None, metadata=stored(answered=False, exported=False))
    approval_code: str | None = field(default=None, metadata=stored(fact=True))
    terminal_id: str | None = field(default=None, metadata=stored(fact=True))
    card_brand: str | None = field(default=None, metadata=stored(fact=True))
    card_last4: str | None = field(default=None, metadata=stored(fact=True, pattern=LAST4_PATTERN))
    result_code: int | None = field(default=None, metadata=stored(fact=True))
    reason: str | None = field(default=None, metadata=stored(fact=True))
    doubt_stage: str | None = field(default=None, metadata=stored(fact=True))
    terminal_at: datetime | None = field(default=None, metadata=stored(fact=True, exported=False))
    idempotency_key: str | None = field(
        default=None, metadata=stored(answered=False, exported=False)
    )
    resolved_by: str | None = field(default=None, metadata=stored(fact=True))
    note: str | None = field(default=None, metadata=stored(fact=True))

    @property
    def card(self) -> str:
        if not self.card_last4:
            return self.card_brand or ""
        return f"{self.card_brand or 'card'} **** {self.card_last4}"


@dataclass(frozen=True)
class Event(Record):
    """One line of an operation's history: a state change, a failover, a print, a
    reprint, a person's decision."""

    id: int = field(metadata=stored(answered=False))
    operation_id: int = field(metadata=stored(answered=False))
    at: datetime
    event: str = field(metadata=stored(examples=("state", "attempt", "reprint", "printed")))
    from_state: str | None = field(metadata=stored(key="from", values=State))
    to_state: str | None = field(metadata=stored(key="to", values=State))
    actor: str | None
    detail: str | None


@dataclass(frozen=True)
class StoredReceipt(Record):
    """A receipt exactly as printed (one copy of one operation)."""

    id: int
    operation_id: int = field(metadata=stored(answered=False))
    copy: str = field(metadata=stored(values=RECEIPT_COPIES))
    source: str = field(metadata=stored(values=RECEIPT_SOURCES))
    lines: tuple[str, ...]
    created_at: datetime
    reprints: int


@dataclass(frozen=True)
class PrintJob(Record):
    """A receipt waiting for (or done with) a printer."""

    id: int
    operation_id: int  # the receipt's operation (a join, not a column of print_jobs)
    receipt_id: int
    printer: str | None
    purpose: str = field(metadata=stored(values=JOB_PURPOSES))
    reprint_no: int | None
    state: str = field(metadata=stored(values=JOB_STATES))
    continuation: bool
    attempts: int
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class Incident(Record):
    """One line of the hotel's fault record: when, where, what, what was done, result."""

    id: int
    at: datetime
    place: str
    device: str | None
    category: str = field(metadata=stored(values=INCIDENT_CATEGORIES))
    fault: str
    action: str
    result: str
    notes: str | None
    operation_id: int | None
    actor: str | None


@dataclass(frozen=True)
class RefundPlan(Record):
    """A refund split into parts within the terminal's per-refund limit."""

    id: int
    sale_id: int
    parts: tuple[Money, ...]  # in the row's currency
    state: str = field(metadata=stored(values=PLAN_STATES))
    created_at: datetime
    actor: str | None

    def as_dict(self) -> dict[str, Any]:
        """The fields, and after the parts their one currency (the table's column; the
        parts' decimals do not say it)."""
        out: dict[str, Any] = {}
        for key, value in super().as_dict().items():
            out[key] = value
            if key == "parts":
                out["currency"] = self.parts[0].currency if self.parts else None
        return out
