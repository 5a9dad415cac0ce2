"""The API's HTTP plumbing: routes, requests, the handler and the server (what a field
must be, and the errors that say so, are in :mod:`.api_fields`).

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
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import page
from .api_fields import ApiError, bad_request, check_fields, parse_body, text_field
from .http_server import BoundedHandler, BoundedHTTPServer, ClientGone
from .openapi import accepted_fields, accepted_query, request_fields
from .progress import Progress

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
START_TIMEOUT = 5.0  # how long a 202 waits for the operation to be in the journal

Answer = tuple[int, Any]


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
        self.progress = Progress()  # what the terminals say while money work runs

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
        header = req.headers.get("Idempotency-Key")  # sent empty, it is wrong, not absent
        key = header if header is not None else body.get("idempotency_key")
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
        thread = Work(target, name, self.progress)
        if cashier is not None:
            cashier.on_begun = thread.begun
            cashier.progress = thread.said
        with self._threads:
            self.running = [t for t in self.running if t.is_alive()] + [thread]
        thread.start()
        return thread


class Work(threading.Thread):
    """Money work run beyond the request that started it; ``error`` is what ended it,
    if anything did (logged here, once)."""

    def __init__(
        self, target: Callable[[], None], name: str, progress: Progress | None = None
    ) -> None:
        super().__init__(name=name, daemon=True)
        self._work = target
        self.error: Exception | None = None
        self._first: Operation | None = None
        self._news = threading.Event()  # an operation journaled, or the work ended
        self._progress = progress
        self._current: int | None = None  # the operation its terminal is working on

    def begun(self, op: Operation) -> None:
        """Its cashier's ``on_begun``: the first operation journaled is the answer; each
        one begun (a standby's after the first's) is the one the terminal's texts are
        of, and the one before it is over."""
        if self._first is None:
            self._first = op
            self._news.set()
        if self._progress is not None and op.id != self._current:
            if self._current is not None:
                self._progress.end(self._current)
            self._current = op.id
            self._progress.begin(op.id)

    def said(self, text: str) -> None:
        """Its cashier's ``progress``: the terminal's text, of the operation running."""
        if self._progress is not None and self._current is not None:
            self._progress.say(self._current, text)

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
            if self._progress is not None and self._current is not None:
                self._progress.end(self._current)


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
        allowed_methods = ("GET", "POST")
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
            path = urlsplit(self.path).path
            try:
                self._raw = self._read_body()
                if page.is_page(path):
                    if page.needs_token(path):
                        self._authorise()
                    self._send_page(api.page.answer(method, path, self._query()))
                    return
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

        def _query(self) -> dict[str, list[str]]:
            return parse_qs(urlsplit(self.path).query, keep_blank_values=True)

        def _send_page(self, answer: page.PageAnswer) -> None:
            """A page answer: a whole file, or the change feed sent as it comes."""
            self.end_deadline()
            self.send_response(HTTPStatus.OK)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            if isinstance(answer, page.Content):
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.data)))
                self.end_headers()
                self.wfile.write(answer.data)
                return
            self.close_connection = True  # the stream ends with the connection
            try:
                self.send_header("Content-Type", "text/event-stream; charset=utf-8")
                self.send_header("Connection", "close")
                self.end_headers()
                for piece in answer.pieces:
                    self.wfile.write(piece)
                    self.wfile.flush()
            except (ConnectionError, TimeoutError) as exc:  # the page was closed
                log.debug("api: the change feed to %s ended: %s", self.address_string(), exc)
            finally:
                close = getattr(answer.pieces, "close", None)
                if close is not None:
                    close()
                answer.ended()

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
        errors.Refused: HTTPStatus.CONFLICT,
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
