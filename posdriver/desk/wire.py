"""Journal records back from the answers they were given as (``Record.as_dict``): the
daemon's API answers with them, and a desk that asks it (:mod:`.remote`) hands its
caller the same records a desk over the journal does (:mod:`.local`).

Written once, from each record's declared fields (:func:`posdriver.journal.records.
columns`), so a field added to a record is read back without touching this module: a
field's key and type say how its value was written, and so how it is read. A field the
answers leave out (an event's own id, the operation a receipt belongs to) is given by
the caller, or takes its default.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar

from ..journal.records import Column, Record, columns
from ..money import Money

R = TypeVar("R", bound=Record)

Read = Callable[[Any, Mapping[str, Any]], Any]  # (the answer's value, the answer) -> field's


def decode(record: type[R], answer: Mapping[str, Any], **given: Any) -> R:
    """The ``record`` an answer holds; ``given`` names the fields it leaves out."""
    values = dict(given)
    for col in columns(record):
        if not col.answered or col.name in values:
            continue
        values[col.name] = _reader(col)(answer[col.key], answer)
    return record(**values)


def _reader(col: Column) -> Read:
    known = _READERS.get((col.type, col.key))
    if known is None:
        known = _READERS[(col.type, col.key)] = _read_as(col.type)
    return known


_READERS: dict[tuple[Any, str], Read] = {}


def _read_as(hint: Any) -> Read:
    """How a value of this type is read back from what ``as_dict`` made of it."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (types.UnionType, typing.Union) and type(None) in args:
        (inner,) = (a for a in args if a is not type(None))
        read = _read_as(inner)
        return lambda value, answer: None if value is None else read(value, answer)
    if hint is Money:  # a decimal in the answer's currency (an amount may be zero there)
        return lambda value, answer: Money.parse(value, answer["currency"], allow_zero=True)
    if typing.get_origin(hint) is tuple:
        item = _read_as(args[0])
        return lambda values, answer: tuple(item(v, answer) for v in values)
    if hint is datetime:
        return lambda value, _answer: datetime.fromisoformat(value)
    if isinstance(hint, type) and issubclass(hint, Enum):
        enum: type[Enum] = hint
        return lambda value, _answer: enum(value)
    return lambda value, _answer: value
