"""What a request's fields must be, and the errors that say so: the body read as JSON
this API takes, each field against the OpenAPI document, and the readings every handler
shares (a currency, seconds to wait, a text, an operator, a whole number, a record id, a
time). A fault is an :class:`ApiError` naming the field, raised where it is found and
answered in one place (:mod:`.api_http`'s handler).
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Iterator
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from ..desk import starting
from ..desk.errors import BadInput
from ..desk.starting import shown
from ..errors import PosdriverError
from .openapi import resolve

if TYPE_CHECKING:
    from .api_http import Request

MAX_WAIT = 300.0
MAX_ID = 2**63 - 1  # SQLite's largest integer: a larger id names nothing
_WHOLE = re.compile(r"[0-9]{1,19}")  # int() would take " 5", "+5", "5_0" and "٥" too
_NUMBER = re.compile(r"[0-9]{1,19}(?:\.[0-9]{1,19})?")


class ApiError(PosdriverError):
    """A request refused, with the status that says why and any fields the answer carries
    besides its sentence: raised wherever the request logic finds the fault, and turned
    into the JSON answer in one place (the handler)."""

    def __init__(
        self,
        status: HTTPStatus,
        message: str,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.extra = extra or {}
        self.headers = headers or {}


def bad_request(message: str) -> ApiError:
    """400: the request itself is wrong (a field, a parameter, a value)."""
    return ApiError(HTTPStatus.BAD_REQUEST, message)


def conflict(message: str, extra: dict[str, Any] | None = None) -> ApiError:
    """409: a sound request, refused in the state things are in (the guard, an
    operation not in doubt, a plan being carried out)."""
    return ApiError(HTTPStatus.CONFLICT, message, extra)


# -- the body ----------------------------------------------------------------------------
class _NotOurJson(PosdriverError, ValueError):
    """JSON that Python's parser takes and RFC 8259 or this API does not."""


def _constant(name: str) -> Any:
    raise _NotOurJson(f"{name} is not a JSON value")


def _no_twice(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose names are each given once: with a name given twice (two amounts
    in one sale) which one was meant is a guess, and money is never guessed."""
    body: dict[str, Any] = {}
    for name, value in pairs:
        if name in body:
            raise _NotOurJson(f"{name!r} is given twice")
        body[name] = value
    return body


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotOurJson(f"the number {shown(text)} is too large")
    return value


def _whole(text: str) -> int:
    if len(text.lstrip("-")) > 30:  # int() would refuse beyond 4300 digits, slowly
        raise _NotOurJson(
            f"the number {shown(text)} has {len(text)} digits; no field takes more than 30"
        )
    return int(text)


def parse_body(raw: bytes) -> dict[str, Any]:
    """A request body: a JSON object in UTF-8 (RFC 8259), and nothing Python's parser
    would take besides: no NaN or Infinity, no number too large for a float or of
    thousands of digits, no nesting too deep to parse, no name given twice in an object,
    no text that is not Unicode (a lone surrogate, which no journal or answer could
    store). Each is a 400 saying so."""
    try:
        text = raw.decode("utf-8") if raw else "{}"
        body = json.loads(
            text,
            parse_constant=_constant,
            parse_float=_finite,
            parse_int=_whole,
            object_pairs_hook=_no_twice,
        )
    except RecursionError:
        raise bad_request("the body is not JSON we take: it is nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise bad_request(f"the body is not UTF-8: {exc.reason} at byte {exc.start}") from None
    except ValueError as exc:  # JSONDecodeError and _NotOurJson
        raise bad_request(f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    _unicode(body)
    return body


def _unicode(body: dict[str, Any]) -> None:
    """Every name and string in ``body`` (at any depth) is Unicode that UTF-8 can hold;
    the error names the field it is in."""
    for name, value in body.items():
        where = name if _encodable(name) else "a name"
        stack: list[Any] = [name, value]  # a list, not recursion: the depth is the client's
        while stack:
            node = stack.pop()
            if isinstance(node, str) and not _encodable(node):
                raise bad_request(
                    f"{where}: the body holds text that is not Unicode (a lone surrogate "
                    "such as \\ud800)"
                )
            if isinstance(node, dict):
                stack.extend(node.keys())
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# -- body fields against the document ----------------------------------------------------
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}
_TYPE_WORDS = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "an object",
}
_NAMED_TYPE_WORDS = {"DecimalAmount": 'a decimal string such as "12.50" (not a JSON number)'}


def check_fields(body: dict[str, Any], fields: dict[str, dict[str, Any]]) -> None:
    """Every field of ``body`` as the OpenAPI document describes it: its JSON type (null
    only where the document allows it: an optional field is left out, not null), enum,
    length and range. Patterns are checked where the value is read (an amount by
    ``Money.parse``, a currency by its code), which can say more than "does not match".
    A field the request logic never reads for this kind of request is checked too."""
    for name, value in body.items():
        problem = _problem(value, fields[name])
        if problem is not None:
            raise bad_request(f"{name} {problem}")


def _quoted(value: Any) -> str:
    return shown(value) if isinstance(value, str) else json.dumps(value)


def _problem(value: Any, schema: dict[str, Any]) -> str | None:
    schema, ref_name = resolve(schema)
    if "enum" in schema:
        options = [v for v in schema["enum"] if v is not None]
        if value in options and not isinstance(value, bool):
            return None
        if len(options) == 2:
            return f"must be {options[0]} or {options[1]}, got {_quoted(value)}"
        return f"must be one of {', '.join(options)}; got {_quoted(value)}"
    declared = schema.get("type", [])
    types = [declared] if isinstance(declared, str) else list(declared)
    if value is None:
        return None if "null" in types else "must not be null (leave it out instead)"
    if not any(
        isinstance(value, _JSON_TYPES[t]) and (t == "boolean" or not isinstance(value, bool))
        for t in types
        if t != "null"
    ):
        words = _NAMED_TYPE_WORDS.get(ref_name or "") or " or ".join(
            _TYPE_WORDS[t] for t in types if t != "null"
        )
        return f"must be {words}, got {json.dumps(value)}"
    if isinstance(value, str):
        return _length_problem(value, schema)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _range_problem(value, schema)
    return None


def _length_problem(value: str, schema: dict[str, Any]) -> str | None:
    shortest, longest = schema.get("minLength", 0), schema.get("maxLength")
    if len(value) < shortest:
        return "must not be empty" if not value else f"must be at least {shortest} characters"
    if longest is not None and len(value) > longest:
        return f"must be at most {longest} characters"
    return None


def _range_problem(value: float, schema: dict[str, Any]) -> str | None:
    low, high = schema.get("minimum"), schema.get("maximum")
    if (low is None or value >= low) and (high is None or value <= high):
        return None
    what = "a whole number" if schema.get("type") == "integer" else "a number"
    if low is not None and high is not None:
        return f"must be {what} {low}..{high}, got {json.dumps(value)}"
    if low is not None:
        return f"must be {what} of at least {low}, got {json.dumps(value)}"
    return f"must be {what} of at most {high}, got {json.dumps(value)}"


def currency_field(value: str | None, default: str) -> str:
    """A currency a request names (an ISO 4217 code in any case), else ``default``."""
    with _as_bad_request():
        return starting.currency(value, default)


def wait_field(req: Request) -> float:
    """``wait``: seconds to wait for an end (default none); present, it must be one."""
    text = req.one("wait")
    return 0.0 if text is None else seconds_field(text, "wait")


# -- body fields -------------------------------------------------------------------------
def text_field(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    """A string field: absent or null is None (or a 400 when required); not a string,
    or blank, is a 400 naming the field (the desk's rule, :func:`starting.text`)."""
    if body.get(name) is None and required:
        raise bad_request(f"{name} is required")
    with _as_bad_request():
        return starting.text(body.get(name), name)


def operator_field(body: dict[str, Any], *, required: bool = False) -> str:
    if required and body.get("operator") is None:
        raise bad_request("operator is required")
    with _as_bad_request():
        return starting.operator(body.get("operator"))


@contextlib.contextmanager
def _as_bad_request() -> Iterator[None]:
    """The desk's :class:`BadInput` as this module's 400, its sentence as it is."""
    try:
        yield
    except BadInput as exc:
        raise bad_request(str(exc)) from None


def seconds_field(value: Any, name: str) -> float:
    """A number of seconds, 0..MAX_WAIT, from a query string (digits with an optional
    decimal part, as the schema's number is written) or a JSON number."""
    if isinstance(value, str):
        if not _NUMBER.fullmatch(value):
            raise bad_request(f"{name} must be a number of seconds, got {shown(value)}")
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_request(f"{name} must be a number of seconds, got {json.dumps(value)}")
    seconds = float(value)
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_WAIT:
        raise bad_request(f"{name} must be 0..{MAX_WAIT:g} seconds, got {value!r}")
    return seconds


def whole_field(text: str | None, name: str, low: int, high: int, default: int) -> int:
    if text is None:
        return default
    if not _WHOLE.fullmatch(text):
        raise bad_request(f"{name} must be a whole number, got {shown(text)}")
    number = int(text)
    if not low <= number <= high:
        raise bad_request(f"{name} must be {low}..{high}, got {number}")
    return number


def record_id(text: str, what: str) -> int:
    """A print job's or refund plan's id from a path: a 400 when it is not a number, a
    404 when it is one no record can have (beyond what SQLite holds)."""
    if not (text.isascii() and text.isdigit()):
        raise bad_request(f"a {what} id is a whole number, got {shown(text)}")
    if len(text) > 19 or int(text) > MAX_ID:
        raise ApiError(HTTPStatus.NOT_FOUND, f"no {what} {shown(text)}")
    return int(text)
