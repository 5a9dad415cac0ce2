"""The API's HTTP plumbing: routes, requests, field checks, errors and the server.

Kept apart from the request logic (:mod:`.api_desk`, :mod:`.api_records`) so that those
read as what each endpoint does, and so that what every request goes through (the body
read whole before anything can fail, the bearer token, unknown fields and query
parameters refused against the OpenAPI document, exceptions turned into JSON errors) is
in one place. :mod:`.api` puts the halves together and is what the rest imports.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from .http_server import BoundedHandler, BoundedHTTPServer, ClientGone
from .openapi import accepted_fields, accepted_query, request_fields, resolve

if TYPE_CHECKING:
    from ..cashier.cashier import Cashier
    from ..config import Address, ServiceConfig
    from ..desk import LocalDesk
    from ..journal import Journal, Operation
    from .api import Api
    from .daemon import Daemon

# one logger for the whole API, under the name it had before the modules were split
log = logging.getLogger("posdriver.service.api")

MAX_BODY = 64 * 1024
MAX_WAIT = 300.0
MAX_ID = 2**63 - 1  # SQLite's largest integer: a larger id names nothing
_WHOLE = re.compile(r"[0-9]{1,19}")  # int() would take " 5", "+5", "5_0" and "٥" too
_NUMBER = re.compile(r"[0-9]{1,19}(?:\.[0-9]{1,19})?")
START_TIMEOUT = 5.0  # how long a 202 waits for the operation to be in the journal

Answer = tuple[int, Any]


class ApiError(Exception):
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


# -- routes ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Route:
    """One endpoint: its method, its path as the OpenAPI document writes it (``{name}``
    is one path segment, handed to the handler) and the :class:`Api` method answering."""

    method: str
    path: str
    handler: str

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(p for p in self.path.split("/") if p)

    def match(self, parts: list[str]) -> dict[str, str] | None:
        if len(parts) != len(self.segments):
            return None
        params: dict[str, str] = {}
        for want, got in zip(self.segments, parts, strict=True):
            if want.startswith("{"):
                params[want[1:-1]] = got
            elif want != got:
                return None
        return params

    @property
    def wildcards(self) -> int:
        return sum(1 for s in self.segments if s.startswith("{"))


ROUTES: tuple[Route, ...] = (
    Route("GET", "/openapi.json", "openapi"),
    Route("POST", "/v1/operations", "start_operation"),
    Route("GET", "/v1/operations/{id}", "operation"),
    Route("POST", "/v1/operations/{id}/reprint", "reprint"),
    Route("POST", "/v1/operations/{id}/resolve", "resolve"),
    Route("GET", "/v1/transactions", "transactions"),
    Route("GET", "/v1/transactions/{txn}", "transaction"),
    Route("GET", "/v1/transactions/{txn}/refund-guard", "refund_guard"),
    Route("GET", "/v1/pending", "pending"),
    Route("POST", "/v1/recover", "recover"),
    Route("GET", "/v1/incidents", "incidents"),
    Route("POST", "/v1/incidents", "add_incident"),
    Route("GET", "/v1/print-jobs", "print_jobs"),
    Route("POST", "/v1/print-jobs/run", "run_print_jobs"),
    Route("GET", "/v1/print-jobs/{id}", "print_job"),
    Route("POST", "/v1/print-jobs/{id}/cancel", "cancel_print_job"),
    Route("POST", "/v1/refund-plans", "create_plan"),
    Route("GET", "/v1/refund-plans/{id}", "refund_plan"),
    Route("POST", "/v1/refund-plans/{id}/run", "run_plan"),
    Route("POST", "/v1/refund-plans/{id}/cancel", "cancel_plan"),
    Route("GET", "/v1/devices", "devices"),
    Route("GET", "/v1/health", "health"),
)


def find_route(method: str, path: str) -> tuple[Route, dict[str, str]]:
    """The route for ``method`` and ``path``: the most specific template that matches
    (``/v1/print-jobs/run`` before ``/v1/print-jobs/{id}``), else a 404 or 405."""
    parts = [unquote(p) for p in path.split("/") if p]
    matching = [(r, p) for r in ROUTES if (p := r.match(parts)) is not None]
    if not matching:
        raise ApiError(HTTPStatus.NOT_FOUND, f"no such endpoint: {path}")
    best = min(r.wildcards for r, _ in matching)
    same = [(r, p) for r, p in matching if r.wildcards == best]
    for route, params in same:
        if route.method == method:
            return route, params
    allowed = sorted({r.method for r, _ in same})
    raise ApiError(
        HTTPStatus.METHOD_NOT_ALLOWED,
        f"{method} is not served on {path}; use {' or '.join(allowed)}",
        headers={"Allow": ", ".join(allowed)},
    )


@dataclass
class Request:
    """What a handler gets: path parameters, query, headers and the body, read (and its
    fields checked against the OpenAPI document) only when the handler asks for it."""

    route: Route
    params: dict[str, str]
    query: dict[str, list[str]]
    headers: Any  # the request's headers (case-insensitive)
    read_body: Callable[[], dict[str, Any]] = field(repr=False)
    _body: dict[str, Any] | None = field(default=None, repr=False)

    def body(self) -> dict[str, Any]:
        if self._body is None:
            body = self.read_body()
            known = accepted_fields(self.route.path, self.route.method) or frozenset()
            unknown = sorted(set(body) - known)
            if unknown:
                raise bad_request(
                    f"unknown field{'s' if len(unknown) > 1 else ''} "
                    f"{', '.join(repr(u) for u in unknown)} for {self.route.method} "
                    f"{self.route.path}; it takes {', '.join(sorted(known)) or 'no fields'}"
                )
            check_fields(body, request_fields(self.route.path, self.route.method))
            self._body = body
        return self._body

    def one(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def many(self, name: str) -> list[str]:
        return [s.strip() for v in self.query.get(name, []) for s in v.split(",") if s.strip()]


# -- the body ----------------------------------------------------------------------------
class _NotOurJson(ValueError):
    """JSON that Python's parser takes and RFC 8259 or this API does not."""


def _constant(name: str) -> Any:
    raise _NotOurJson(f"{name} is not a JSON value")


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
    thousands of digits, no nesting too deep to parse, no text that is not Unicode (a
    lone surrogate, which no journal or answer could store). Each is a 400 saying so."""
    try:
        text = raw.decode("utf-8") if raw else "{}"
        body = json.loads(text, parse_constant=_constant, parse_float=_finite, parse_int=_whole)
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
    from ..money import Money

    if value is None:
        return default
    if not re.fullmatch(r"[A-Za-z]{3}", value):
        raise bad_request(f"currency must be an ISO 4217 code such as EUR, got {shown(value)}")
    code = value.upper()
    Money(0, code).numeric_code  # noqa: B018 -- an unknown code is an AmountError (400)
    return code


def wait_field(req: Request) -> float:
    """``wait``: seconds to wait for an end (default none); present, it must be one."""
    text = req.one("wait")
    return 0.0 if text is None else seconds_field(text, "wait")


# -- body fields -------------------------------------------------------------------------
def text_field(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    """A string field: absent or null is None (or a 400 when required); not a string,
    or blank, is a 400 naming the field."""
    value = body.get(name)
    if value is None:
        if required:
            raise bad_request(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise bad_request(f"{name} must be a string, got {json.dumps(value)}")
    if not value.strip():
        raise bad_request(f"{name} must not be empty")
    return value.strip()


def operator_field(body: dict[str, Any], *, required: bool = False) -> str:
    who = text_field(body, "operator", required=required)
    if who is not None and len(who) > 200:
        raise bad_request("operator must be at most 200 characters")
    return who or "api"


def shown(text: str) -> str:
    """A value as an error message quotes it: whole unless it is long."""
    return repr(text) if len(text) <= 40 else f"{text[:32]!r}... ({len(text)} characters)"


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


def when_field(name: str, text: str, *, end: bool = False, hint: str = "") -> datetime:
    """An ISO date (a local day: its start, or with ``end`` the next day's start) or an
    ISO time (local when it has no offset). One that cannot be counted in local time or
    UTC (around the years 1 and 9999) is refused, naming ``name``, like a malformed one."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise bad_request(f"{name}: {shown(text)} is not an ISO date or time{hint}") from None
    try:
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            value = (value + timedelta(days=1) if end else value).astimezone()
        elif value.tzinfo is None:
            value = value.astimezone()
        value.astimezone(UTC)  # as the journal compares it
    except (OverflowError, ValueError):
        raise bad_request(
            f"{name}: {shown(text)} is too far in the past or future to compare with"
        ) from None
    return value


class ApiBase:
    """What both halves of the request logic stand on: the daemon and its journal, how a
    request names an operation, a terminal or an idempotency key, and money work run on
    beyond the request that started it (joined when the daemon stops)."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.running: list[threading.Thread] = []  # money work in flight (joined at stop)
        self.plan_runs: dict[int, threading.Thread] = {}  # refund plan runs, while alive
        self.asked: dict[str, dict[str, Any]] = {}  # idempotency key -> what was asked
        self._plans = threading.Lock()  # one decision at a time about starting a plan
        self._threads = threading.Lock()  # guards ``running``

    @property
    def journal(self) -> Journal:
        journal = self.daemon.journal
        assert journal is not None
        return journal

    @property
    def desk(self) -> LocalDesk:
        """The desk's work over the daemon's journal, with the daemon's plan runs."""
        from ..desk import LocalDesk
        from .api_devices import DaemonDevices

        return LocalDesk(
            self.journal,
            self.daemon.config.state_dir,
            devices=DaemonDevices(self.daemon),
            plan_run=lambda p: self.plan_runs.get(p),
        )

    def _not_stopping(self) -> None:
        if self.daemon.stopping:
            raise ApiError(HTTPStatus.SERVICE_UNAVAILABLE, "the daemon is stopping")

    def _op(self, ref: str) -> Operation:
        """An operation named in a path: a bare number is a journal id."""
        return self.journal.find(f"id:{ref}" if ref.isascii() and ref.isdigit() else ref)

    def _txn(self, ref: Any) -> Operation:
        """An operation named in a body: an integer is a journal id, a string is read as
        the CLI reads TXN."""
        if isinstance(ref, bool) or not isinstance(ref, str | int):
            raise bad_request(f"txn must be a journal id or a string such as 'id:17', got {ref!r}")
        return self.journal.find(ref if isinstance(ref, str) else f"id:{ref}")

    def _terminal(self, body: dict[str, Any]) -> str | None:
        name = text_field(body, "terminal")
        if name is not None:
            self.daemon.config.terminal(name)  # a wrong name is a 400 listing the real ones
        return name

    def _key(self, req: Request, body: dict[str, Any], longest: int = 128) -> str | None:
        key = req.headers.get("Idempotency-Key") or body.get("idempotency_key")
        if key is not None and (not isinstance(key, str) or not 1 <= len(key) <= longest):
            raise bad_request(f"idempotency_key must be 1..{longest} characters")
        return key

    def _started(self, thread: Work, what: str) -> Operation:
        """The first operation ``thread`` journaled, as soon as its cashier says so.
        When the thread ended without one, its intent (PENDING) was never written, so
        nothing reached a terminal: a journal or state directory that cannot be written
        is a 503 saying so in the journal's own words."""
        op = thread.first_operation(START_TIMEOUT)
        if op is not None:
            return op
        raise _not_started(thread.error, what, self.daemon.config.state_dir)

    def _background(
        self, target: Callable[[], None], name: str, cashier: Cashier | None = None
    ) -> Work:
        """``target`` on a thread of its own; with ``cashier``, the thread hears of the
        operations it journals (see :meth:`_started`)."""
        thread = Work(target, name)
        if cashier is not None:
            cashier.on_begun = thread.begun
        with self._threads:
            self.running = [t for t in self.running if t.is_alive()] + [thread]
        thread.start()
        return thread


class Work(threading.Thread):
    """Money work run beyond the request that started it; ``error`` is what ended it,
    if anything did (logged here, once)."""

    def __init__(self, target: Callable[[], None], name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._work = target
        self.error: Exception | None = None
        self._first: Operation | None = None
        self._news = threading.Event()  # an operation journaled, or the work ended

    def begun(self, op: Operation) -> None:
        """Its cashier's ``on_begun``: the first operation journaled is the answer."""
        if self._first is None:
            self._first = op
            self._news.set()

    def first_operation(self, timeout: float) -> Operation | None:
        """The first operation journaled, waiting up to ``timeout`` for it; None when
        the work ended (or the wait did) without one."""
        self._news.wait(timeout)
        return self._first

    def run(self) -> None:
        from ..journal import JournalError

        try:
            self._work()
        except (JournalError, OSError) as exc:  # said in full by the answer and here
            self.error = exc
            log.error("%s: %s", self.name, exc)
        except Exception as exc:
            self.error = exc
            log.exception("%s failed", self.name)
        finally:
            self._news.set()


NOT_SENT = "nothing was sent to the terminal and no money moved"


def _not_started(error: Exception | None, what: str, state_dir: Any) -> Exception:
    """What to answer for money work that ended before its operation was journaled."""
    from ..journal import InvalidTransition, JournalError, UnknownTransaction

    if isinstance(error, UnknownTransaction | InvalidTransition):
        return error  # a 404 or 409, as anywhere else
    if isinstance(error, JournalError):
        return ApiError(
            HTTPStatus.SERVICE_UNAVAILABLE, f"{error}. The {what} was not started: {NOT_SENT}"
        )
    if isinstance(error, OSError):
        return ApiError(
            HTTPStatus.SERVICE_UNAVAILABLE,
            f"{state_dir}: cannot write in the state directory "
            f"({error.strerror or error}). The {what} was not started: {NOT_SENT}",
        )
    return ApiError(HTTPStatus.INTERNAL_SERVER_ERROR, f"the {what} could not be started")


def _handler(api: Api, token: str | None) -> type[BoundedHandler]:
    class Handler(BoundedHandler):
        server_version = "posdriver"
        protocol_version = "HTTP/1.1"
        _raw = b""

        def log_message(self, fmt: str, *args: Any) -> None:
            log.debug("api: " + fmt, *args)

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PUT(self) -> None:
            self._dispatch("PUT")

        def do_PATCH(self) -> None:
            self._dispatch("PATCH")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

        def _dispatch(self, method: str) -> None:
            headers: dict[str, str] = {}
            try:
                self._raw = self._read_body()
                self._authorise()
                status, body = self._route(method)
                if (
                    status == HTTPStatus.CREATED
                    and isinstance(body, dict)
                    and "refund_plan" in body
                ):
                    headers["Location"] = f"/v1/refund-plans/{body['refund_plan']['id']}"
            except ClientGone as exc:  # nothing was acted on, and no one reads an answer
                log.debug("api: %s went away: %s", self.address_string(), exc)
                self.close_connection = True
                return
            except ApiError as exc:
                status, body = exc.status, {"error": str(exc)} | exc.extra
                headers = exc.headers
            except Exception as exc:
                status, body = _classify(exc)
            self._send(status, body, headers)

        def _read_body(self) -> bytes:
            """The whole body, read before anything can fail, so that an error answer
            leaves the connection (HTTP/1.1 keep-alive) in step for the next request;
            within the request's deadline (a body that stops coming is a 408)."""
            if self.headers.get("Transfer-Encoding") is not None:
                self.close_connection = True  # the body's end is unknown: cannot go on
                raise bad_request("send the body with a Content-Length (no Transfer-Encoding)")
            text = self.headers.get("Content-Length") or "0"
            if not (text.isascii() and text.isdigit()):
                self.close_connection = True
                raise bad_request("Content-Length is not a number")
            length = int(text) if len(text) < 20 else MAX_BODY + 1
            if length > MAX_BODY:
                self.close_connection = True  # not read: the connection cannot go on
                raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request body too large")
            try:
                data = self.rfile.read(length) if length > 0 else b""
            except TimeoutError:
                self.close_connection = True
                raise ApiError(
                    HTTPStatus.REQUEST_TIMEOUT,
                    f"the request did not arrive within {self.server.connection_timeout:g} s "
                    "(service.connection_timeout)",
                ) from None
            except ConnectionError as exc:
                raise ClientGone(str(exc)) from exc
            if len(data) < length:
                raise ClientGone(f"the body ended after {len(data)} of {length} bytes")
            self.request_read()
            return data

        def _authorise(self) -> None:
            if token is None:
                return
            given = self.headers.get("Authorization", "")
            expected = f"Bearer {token}"
            if not hmac.compare_digest(given.encode(), expected.encode()):
                raise ApiError(HTTPStatus.UNAUTHORIZED, "missing or wrong bearer token")

        def _body(self) -> dict[str, Any]:
            return parse_body(self._raw)

        def _route(self, method: str) -> Answer:
            url = urlsplit(self.path)
            route, params = find_route(method, url.path)
            query = parse_qs(url.query, keep_blank_values=True)
            known = accepted_query(route.path, route.method)
            unknown = sorted(set(query) - known)
            if unknown:
                raise bad_request(
                    f"unknown query parameter{'s' if len(unknown) > 1 else ''} "
                    f"{', '.join(repr(u) for u in unknown)} for {route.method} {route.path}"
                    + (f"; it takes {', '.join(sorted(known))}" if known else "")
                )
            request = Request(route, params, query, self.headers, self._body)
            answer: Answer = getattr(api, route.handler)(request)
            return answer

        def _send(self, status: int, body: Any, headers: dict[str, str]) -> None:
            self.end_deadline()
            data = json.dumps(body, ensure_ascii=False, indent=1).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            if self.close_connection:  # the client learns it, rather than meets it
                self.send_header("Connection", "close")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _statuses() -> dict[type[Exception], HTTPStatus]:
    """The desk's errors as HTTP statuses (the CLI's exit codes for them are in
    ``posdriver.cashier.cli``)."""
    from ..desk import errors

    return {
        errors.NotFound: HTTPStatus.NOT_FOUND,
        errors.Conflict: HTTPStatus.CONFLICT,
        errors.BadInput: HTTPStatus.BAD_REQUEST,
        errors.NotAllowed: HTTPStatus.UNAUTHORIZED,
        errors.NotOffered: HTTPStatus.NOT_FOUND,
        errors.Unreachable: HTTPStatus.BAD_GATEWAY,
        errors.Failed: HTTPStatus.INTERNAL_SERVER_ERROR,
        errors.DeskError: HTTPStatus.INTERNAL_SERVER_ERROR,
    }


def _classify(exc: Exception) -> tuple[int, dict[str, Any]]:
    from ..config import ConfigError
    from ..desk import DeskError
    from ..journal import InvalidTransition, JournalError, UnknownTransaction
    from ..money import AmountError

    if isinstance(exc, DeskError):
        table = _statuses()
        status = next(table[k] for k in type(exc).__mro__ if k in table)
        return status, {"error": str(exc)} | exc.extra
    if isinstance(exc, UnknownTransaction):
        return HTTPStatus.NOT_FOUND, {"error": str(exc)}
    if isinstance(exc, InvalidTransition):  # another request changed it a moment before
        return HTTPStatus.CONFLICT, {"error": str(exc)}
    if isinstance(exc, AmountError | ConfigError | ValueError):
        return HTTPStatus.BAD_REQUEST, {"error": str(exc)}
    if isinstance(exc, JournalError):
        return HTTPStatus.INTERNAL_SERVER_ERROR, {"error": str(exc)}
    log.exception("api request failed")
    return HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"internal error: {type(exc).__name__}"}


def serve(
    api: Api, address: Address, token: str | None, service: ServiceConfig
) -> tuple[BoundedHTTPServer, int]:
    """Serve ``api`` on ``address`` from a thread of its own, within the connection
    timeout and limit of ``service``; returns the server and the port it got
    (``address`` may ask for port 0)."""
    server = BoundedHTTPServer(
        (address.host, address.port),
        _handler(api, token),
        name="api",
        connection_timeout=service.connection_timeout,
        limit=service.max_connections,
    )
    threading.Thread(target=server.serve_forever, name="api", daemon=True).start()
    return server, int(server.server_address[1])
