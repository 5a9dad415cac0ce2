"""The journal records' schemas in the API's document, made from the records'
declarations (:mod:`posdriver.journal.records`): each answered field's key, its type
(with null where it may be unknown) and what its metadata adds (the values a text takes,
its pattern, a description, examples). A field added to a record is in the document
with no edit here.

A value set or a pattern that the document names (an operation's state, a currency) is
referred to by its name rather than written out again.
"""

from __future__ import annotations

import types
import typing
from datetime import datetime
from enum import Enum
from typing import Any

from ..journal.records import (
    CURRENCY_PATTERN,
    JOB_STATES,
    PLAN_STATES,
    Column,
    Values,
    columns,
)
from ..journal.states import Kind, State
from ..money import Money
from .openapi_parts import TIME, array, nullable, obj, ref

# the value schemas the document names, by what a field's declaration says
NAMED: dict[Any, str] = {
    Kind: "OperationKind",
    State: "OperationState",
    JOB_STATES: "JobState",
    PLAN_STATES: "PlanState",
    CURRENCY_PATTERN: "Currency",
}
_PRIMITIVES: dict[Any, str] = {str: "string", int: "integer", bool: "boolean", float: "number"}


def record_schema(
    record: type,
    *,
    after: dict[str, dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """A record's answer as a schema: every answered field, in the answer's order, each
    required (an answer carries every key, null when unknown). ``after`` names keys an
    answer adds behind a field's (a plan's currency behind its parts); ``extra``, the
    keys the API adds at the end."""
    properties: dict[str, Any] = {}
    for col in columns(record):
        if col.answered:
            properties[col.key] = field_schema(col)
            properties.update((after or {}).get(col.key, {}))
    properties.update(extra or {})
    return obj(properties, description=description)


def field_schema(col: Column) -> dict[str, Any]:
    """One answered field's schema: its type's, then what its declaration adds."""
    hint, optional = _unwrapped(col.type)
    schema = _value(hint, col.about.values, col.about.pattern)
    if optional:
        schema = _or_null(schema)
    if col.about.description:
        schema["description"] = col.about.description
    if col.about.examples:
        schema["examples"] = list(col.about.examples)
    return schema


def _unwrapped(hint: Any) -> tuple[Any, bool]:
    """The type inside ``X | None``, and whether it was one."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (types.UnionType, typing.Union) and type(None) in args:
        (inner,) = (a for a in args if a is not type(None))
        return inner, True
    return hint, False


def _value(hint: Any, values: Values | None, pattern: str | None) -> dict[str, Any]:
    """A (not null) value's schema: a named one where the document has it."""
    for said in (values, pattern, hint):
        if said is not None and said in NAMED:
            return ref(NAMED[said])
    if hint is Money:
        return ref("DecimalAmount")
    if typing.get_origin(hint) is tuple:  # tuple[X, ...], answered as a list
        return array(_value(typing.get_args(hint)[0], None, None))
    if hint is datetime:
        return dict(TIME)
    if isinstance(values, tuple):
        return {"enum": list(values)}
    if values is not None:
        return {"enum": [v.value for v in values]}
    if isinstance(hint, type) and issubclass(hint, Enum):
        return {"enum": [v.value for v in hint]}
    schema: dict[str, Any] = {"type": _PRIMITIVES[hint]}
    if pattern is not None:
        schema["pattern"] = pattern
    return schema


def _or_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` or null: a type list where it has a type, one of the two otherwise."""
    if "type" in schema and isinstance(schema["type"], str) and "items" not in schema:
        return schema | {"type": [schema["type"], "null"]}
    return nullable(schema)
