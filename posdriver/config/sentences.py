"""Turning pydantic's errors into sentences about the file: each names the key as the
file writes it and says what is wrong in a front-desk technician's words (never a
secret's value)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel

from .schema import DeviceModel, protocol_keys, table_model

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")

_EXPECTED = {
    "string_type": "a string in quotes",
    "int_type": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": 'an array of strings, such as ["Hotel Example", "Front desk"]',
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
}


def toml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return "a date or time"


def key_text(loc: Iterable[str | int]) -> str:
    """``devices.desk1.url`` / ``receipt.header[1]``, quoting keys TOML would quote."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        text = part if _BARE_KEY.fullmatch(part) else '"' + part.replace('"', '\\"') + '"'
        out += f".{text}" if out else text
    return out or "(top level)"


def _known_keys(loc: tuple[str | int, ...], model: type[BaseModel] | None) -> list[str]:
    """The keys allowed in the table that ``loc`` (an unknown key) sits in; a terminal's
    table also takes its protocols' keys."""
    if model is None:
        return []
    known = list(model.model_fields)
    if model is DeviceModel:
        known += [k for k in protocol_keys() if k not in known]
    return known


def _allowed(loc: tuple[str | int, ...], model: type[BaseModel] | None) -> str | None:
    """The whole range allowed for the key at ``loc`` (pydantic names only the bound that
    was crossed), such as ``more than 0, at most 60``; None for a key without bounds (our
    models use ``gt``, ``ge`` and ``le`` only)."""
    field = model.model_fields.get(str(loc[-1])) if model is not None else None
    if field is None:
        return None
    bounds: dict[str, float] = {}
    for rule in field.metadata:
        for name in ("gt", "ge", "le"):
            value = getattr(rule, name, None)
            if isinstance(value, int | float):
                bounds[name] = value
    ge, gt, le = bounds.get("ge"), bounds.get("gt"), bounds.get("le")
    if ge is not None:
        return f"{ge:g} to {le:g}" if le is not None else f"at least {ge:g}"
    if gt is not None:
        return f"more than {gt:g}, at most {le:g}" if le is not None else f"more than {gt:g}"
    return f"at most {le:g}" if le is not None else None


def explain(err: Any, model: type[BaseModel] | None = None, prefix: Sequence[str] = ()) -> str:
    """One pydantic error as a sentence about the file. ``model`` is the table's model
    when it is not the file's own (a protocol's options model), and ``prefix`` where that
    table sits (``devices.NAME``)."""
    kind, value = err["type"], err.get("input")
    loc = (*prefix, *err["loc"])
    if model is None:
        model = table_model(loc)
    if loc in _SECRET_KEYS:
        return _explain_secret(err)
    if kind == "extra_forbidden":
        known = _known_keys(loc, model)
        name = str(loc[-1])
        hint = difflib.get_close_matches(name, known, n=1)
        if hint:
            return f"unknown key {name!r}; did you mean {hint[0]!r}?"
        return f"unknown key {name!r}; expected one of: {', '.join(known)}"
    if kind == "missing":
        if loc[-1] == "kind":
            return 'required key is missing; expected "terminal" or "printer"'
        return "required key is missing"
    if kind == "literal_error":
        return f"expected {err['ctx']['expected']}, got {value!r}"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {toml_type(value)} ({value!r})"
    if kind == "value_error":
        return str(err["ctx"]["error"])
    message = str(err["msg"]).replace("Input should be", "must be")
    allowed = _allowed(loc, model) if kind in _RANGE_ERRORS else None
    return f"{message}, got {value!r}" + (f" (allowed: {allowed})" if allowed else "")


_RANGE_ERRORS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal"})


# Keys whose value is a secret: an error says what is wrong with it, never what it is
# (a message is read on a screen, in the system log, in a ticket).
_SECRET_KEYS = {("service", "token")}


def _explain_secret(err: Any) -> str:
    kind, value = err["type"], err.get("input")
    if kind == "string_too_short":
        return (
            f"is {len(value)} characters long; a token must be at least "
            f"{err['ctx']['min_length']} characters (its value is not shown)"
        )
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {toml_type(value)} (its value is not shown)"
    return f"{err['msg']} (its value is not shown)"
