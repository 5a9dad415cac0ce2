"""The local HTTP+JSON API for the front-desk software (described by ``/openapi.json``).

Money requests return at once with the operation's journal id (``202``); the result is
polled or awaited (``GET /v1/operations/{id}?wait=SECONDS``). Amounts are decimal
strings. An ``Idempotency-Key`` (header or ``idempotency_key`` field) makes a retried
request return the first one's operation instead of charging again. Errors are JSON
``{"error": "..."}`` naming what is wrong: 400 bad input, 401 no or wrong token, 404
unknown, 409 refused by the refund guard, 503 stopping.

Served by the standard library's threading HTTP server: the API is small, local and
low-traffic, and every request is a few journal reads or a queued device operation.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from ..config import Address

if TYPE_CHECKING:
    from .daemon import Daemon

log = logging.getLogger(__name__)

MONEY_KINDS = ("sale", "refund", "reversal", "pre_auth", "booking")
MAX_BODY = 64 * 1024
MAX_WAIT = 300.0


class ApiError(Exception):
    def __init__(self, status: HTTPStatus, message: str, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.extra = extra or {}


class Api:
    """The request logic, apart from HTTP plumbing (so it reads as what it does)."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.running: list[threading.Thread] = []  # money operations in flight

    @property
    def journal(self) -> Any:
        return self.daemon.journal

    # -- money ---------------------------------------------------------------------------
    def start_operation(self, body: dict[str, Any], key: str | None) -> tuple[int, dict[str, Any]]:
        from ..money import Money

        kind = body.get("kind")
        if kind not in MONEY_KINDS:
            raise ApiError(
                HTTPStatus.BAD_REQUEST,
                f"kind must be one of {', '.join(MONEY_KINDS)}; got {kind!r}",
            )
        key = key or body.get("idempotency_key")
        if key is not None and (not isinstance(key, str) or not 1 <= len(key) <= 128):
            raise ApiError(HTTPStatus.BAD_REQUEST, "idempotency_key must be 1..128 characters")
        if key is not None:
            earlier = self.journal.by_idempotency_key(key)
            if earlier is not None:
                asked = body.get("amount")
                if earlier.kind.value != kind or (
                    isinstance(asked, str)
                    and earlier.amount is not None
                    and asked.strip() != earlier.amount.decimal()
                ):
                    raise ApiError(
                        HTTPStatus.CONFLICT,
                        f"idempotency key {key!r} was used for id:{earlier.id} "
                        f"({earlier.kind.value} of {earlier.amount or '-'}), not for this "
                        "request; use a new key",
                    )
                return HTTPStatus.OK, {"operation": earlier.as_dict(), "repeated": True}
        currency = body.get("currency") or self.daemon.config.currency
        amount = None
        if "amount" in body and body["amount"] is not None:
            if not isinstance(body["amount"], str):
                raise ApiError(
                    HTTPStatus.BAD_REQUEST,
                    'amount must be a decimal string such as "12.50" (not a JSON number)',
                )
            amount = Money.parse(body["amount"], str(currency))
        terminal = body.get("terminal")
        if terminal is not None:
            self.daemon.config.terminal(str(terminal))  # a wrong name is a 400
        cashier = self.daemon.cashier(actor=str(body.get("operator") or "api"))
        parent = None
        if kind in ("refund", "reversal", "booking"):
            ref = body.get("txn")
            if not isinstance(ref, str | int):
                raise ApiError(
                    HTTPStatus.BAD_REQUEST, f"a {kind} needs txn: the journal id it refers to"
                )
            parent = self.journal.find(str(ref) if isinstance(ref, str) else f"id:{ref}")
            self._check_parent(kind, parent)
        if kind in ("sale", "pre_auth", "booking") and amount is None:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"a {kind} needs an amount")
        if kind == "refund":
            decision = cashier.refund_decision(parent, amount, on=terminal)
            if not decision.allowed:
                raise ApiError(
                    HTTPStatus.CONFLICT, decision.explain(), {"refund_guard": decision.as_dict()}
                )
            amount = decision.amount
        key = key or f"api-{uuid.uuid4()}"

        def run() -> None:
            try:
                if kind == "sale":
                    result = cashier.sale(amount, on=terminal, idempotency_key=key)
                elif kind == "pre_auth":
                    result = cashier.pre_authorise(amount, on=terminal, idempotency_key=key)
                elif kind == "refund":
                    result = cashier.refund(
                        parent, amount, on=terminal, checked=True, idempotency_key=key
                    )
                elif kind == "reversal":
                    result = cashier.reverse(parent, on=terminal, idempotency_key=key)
                else:
                    result = cashier.book(parent, amount, idempotency_key=key)
                self.daemon.count_outcome(kind, result.operation.state)
            except Exception:
                log.exception("%s failed", kind)

        thread = threading.Thread(target=run, name=f"api-{kind}", daemon=True)
        self.running = [t for t in self.running if t.is_alive()] + [thread]
        thread.start()
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            op = self.journal.by_idempotency_key(key)
            if op is not None:
                return HTTPStatus.ACCEPTED, {"operation": op.as_dict(), "repeated": False}
            if not thread.is_alive():
                break
            time.sleep(0.005)
        raise ApiError(HTTPStatus.INTERNAL_SERVER_ERROR, f"the {kind} could not be started")

    def _check_parent(self, kind: str, parent: Any) -> None:
        """What a refund, reversal or booking refers to must be able to take it: say so
        now (409), not after the request was accepted."""
        from ..journal import Kind, State

        what = f"id:{parent.id} is {parent.state.value.replace('_', ' ')} ({parent.kind.value})"
        if kind == "booking" and (
            parent.kind is not Kind.PRE_AUTH or parent.state is not State.APPROVED
        ):
            raise ApiError(
                HTTPStatus.CONFLICT, f"{what}: only an approved pre-authorisation can be booked"
            )
        if kind == "reversal":
            if parent.kind is not Kind.SALE or parent.state is not State.APPROVED:
                raise ApiError(
                    HTTPStatus.CONFLICT, f"{what}: only an approved sale can be reversed"
                )
            if parent.receipt_no is None:
                raise ApiError(
                    HTTPStatus.CONFLICT, f"id:{parent.id} has no terminal receipt number"
                )
            for child in self.journal.children(parent.id):
                if child.kind is Kind.REVERSAL and child.state not in (
                    State.DECLINED,
                    State.ABORTED,
                ):
                    raise ApiError(
                        HTTPStatus.CONFLICT,
                        f"id:{parent.id} already has a reversal "
                        f"(id:{child.id}, {child.state.value})",
                    )

    def operation(self, ref: str, wait: float) -> dict[str, Any]:
        from ..journal.states import FINAL, NEEDS_ATTENTION

        op = self.journal.find(ref if not ref.isdigit() else f"id:{ref}")
        deadline = time.monotonic() + min(max(wait, 0.0), MAX_WAIT)
        settled = FINAL | NEEDS_ATTENTION
        while op.state not in settled and time.monotonic() < deadline:
            time.sleep(0.02)
            op = self.journal.get(op.id)
        return {
            "operation": op.as_dict(),
            "final": op.state in FINAL,
            "receipts": [r.as_dict() for r in self.journal.receipts(op.id)],
            "print_jobs": [j.as_dict() for j in self.journal.jobs_of(op.id)],
        }

    def reprint(self, ref: str, body: dict[str, Any]) -> dict[str, Any]:
        from ..journal import State

        op = self.journal.find(ref if not ref.isdigit() else f"id:{ref}")
        copy = body.get("copy", "customer")
        if copy not in ("customer", "merchant"):
            raise ApiError(HTTPStatus.BAD_REQUEST, "copy must be customer or merchant")
        if op.state is not State.APPROVED or self.journal.receipt(op.id, copy) is None:
            raise ApiError(HTTPStatus.CONFLICT, f"id:{op.id} has no stored {copy} receipt")
        printer = self.daemon.config.printers[0].name if self.daemon.config.printers else None
        job = self.journal.reprint(op.id, copy, printer, str(body.get("operator") or "api"))
        return {"job": job.as_dict()}

    def transactions(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        from ..journal import Kind, State
        from ..journal.journal import Filters

        def one(name: str) -> str | None:
            values = query.get(name)
            return values[-1] if values else None

        try:
            limit = int(one("limit") or 50)
        except ValueError:
            raise ApiError(
                HTTPStatus.BAD_REQUEST, f"limit must be a whole number, got {one('limit')!r}"
            ) from None
        try:
            states = tuple(State(s) for v in query.get("state", []) for s in v.split(","))
            kinds = tuple(Kind(k) for v in query.get("kind", []) for k in v.split(","))
        except ValueError as exc:
            raise ApiError(HTTPStatus.BAD_REQUEST, str(exc)) from None
        if not 1 <= limit <= 1000:
            raise ApiError(HTTPStatus.BAD_REQUEST, "limit must be 1..1000")
        from datetime import datetime

        def when(name: str) -> datetime | None:
            text = one(name)
            if text is None:
                return None
            try:
                if name == "until" and len(text) == 10:  # a day: up to and including it
                    from datetime import timedelta

                    return (datetime.fromisoformat(text) + timedelta(days=1)).astimezone()
                value = datetime.fromisoformat(text)
            except ValueError:
                raise ApiError(
                    HTTPStatus.BAD_REQUEST, f"{name}: {text!r} is not an ISO date or time"
                ) from None
            return value if value.tzinfo else value.astimezone()

        filters = Filters(
            since=when("since"),
            until=when("until"),
            last4=one("last4"),
            states=states,
            kinds=kinds,
            terminal=one("terminal"),
            limit=limit,
        )
        return [op.as_dict() for op in self.journal.search(filters)]

    def pending(self) -> dict[str, Any]:
        return {
            "operations": [op.as_dict() for op in self.journal.needing_attention()],
            "print_jobs_waiting": len(self.journal.open_jobs()),
        }

    def devices(self) -> list[dict[str, Any]]:
        return [d.as_dict() for d in self.daemon.snapshot().devices]

    def health(self) -> tuple[int, dict[str, Any]]:
        from .snapshot import NAGIOS

        snap = self.daemon.snapshot()
        worst = "ok"
        for device in snap.devices:
            statuses = [c.status for c in device.checks.values()] or ["unknown"]
            if not device.up:
                statuses.append("critical")
            for status in statuses:
                if NAGIOS[status] > NAGIOS[worst]:
                    worst = status
        body = {
            "status": worst,
            "devices": [d.as_dict() for d in snap.devices],
            "in_doubt": snap.in_doubt,
            "needs_review": snap.needs_review,
            "print_jobs": snap.print_jobs,
        }
        return (
            HTTPStatus.OK if worst in ("ok", "warning") else HTTPStatus.SERVICE_UNAVAILABLE
        ), body


def _handler(api: Api, token: str | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "posdriver"
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt: str, *args: Any) -> None:
            log.debug("api: " + fmt, *args)

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def _dispatch(self, method: str) -> None:
            try:
                self._authorise()
                status, body = self._route(method)
            except ApiError as exc:
                status, body = exc.status, {"error": str(exc)} | exc.extra
            except Exception as exc:
                status, body = _classify(exc)
            self._send(status, body)

        def _authorise(self) -> None:
            if token is None:
                return
            given = self.headers.get("Authorization", "")
            expected = f"Bearer {token}"
            if not hmac.compare_digest(given.encode(), expected.encode()):
                raise ApiError(HTTPStatus.UNAUTHORIZED, "missing or wrong bearer token")

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request body too large")
            raw = self.rfile.read(length) if length else b"{}"
            try:
                body = json.loads(raw or b"{}")
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ApiError(HTTPStatus.BAD_REQUEST, f"the body is not JSON: {exc}") from None
            if not isinstance(body, dict):
                raise ApiError(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
            return body

        def _route(self, method: str) -> tuple[int, Any]:
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            parts = [p for p in url.path.split("/") if p]
            if method == "GET" and parts == ["openapi.json"]:
                from .openapi import OPENAPI

                return HTTPStatus.OK, OPENAPI
            if parts[:1] != ["v1"]:
                raise ApiError(HTTPStatus.NOT_FOUND, f"no such endpoint: {url.path}")
            rest = parts[1:]
            if method == "POST" and rest == ["operations"]:
                if api.daemon._stopping.is_set():
                    raise ApiError(HTTPStatus.SERVICE_UNAVAILABLE, "the daemon is stopping")
                return api.start_operation(self._body(), self.headers.get("Idempotency-Key"))
            if method == "GET" and len(rest) == 2 and rest[0] == "operations":
                try:
                    wait = float((query.get("wait") or ["0"])[-1] or 0)
                except ValueError:
                    raise ApiError(
                        HTTPStatus.BAD_REQUEST, "wait must be a number of seconds"
                    ) from None
                return HTTPStatus.OK, api.operation(rest[1], wait)
            if (
                method == "POST"
                and len(rest) == 3
                and rest[0] == "operations"
                and rest[2] == "reprint"
            ):
                return HTTPStatus.ACCEPTED, api.reprint(rest[1], self._body())
            if method == "GET" and rest == ["transactions"]:
                return HTTPStatus.OK, api.transactions(query)
            if method == "POST" and rest == ["recover"]:
                report = api.daemon._recover(attempts=1)
                if report is None:
                    raise ApiError(HTTPStatus.INTERNAL_SERVER_ERROR, "recovery failed; see the log")
                return HTTPStatus.OK, report.as_dict()
            if method == "GET" and rest == ["pending"]:
                return HTTPStatus.OK, api.pending()
            if method == "GET" and rest == ["devices"]:
                return HTTPStatus.OK, api.devices()
            if method == "GET" and rest == ["health"]:
                return api.health()
            raise ApiError(HTTPStatus.NOT_FOUND, f"no such endpoint: {method} {url.path}")

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body, ensure_ascii=False, indent=1).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _classify(exc: Exception) -> tuple[int, dict[str, Any]]:
    from ..config import ConfigError
    from ..journal import JournalError, UnknownTransaction
    from ..money import AmountError

    if isinstance(exc, UnknownTransaction):
        return HTTPStatus.NOT_FOUND, {"error": str(exc)}
    if isinstance(exc, AmountError | ConfigError | ValueError):
        return HTTPStatus.BAD_REQUEST, {"error": str(exc)}
    if isinstance(exc, JournalError):
        return HTTPStatus.INTERNAL_SERVER_ERROR, {"error": str(exc)}
    log.exception("api request failed")
    return HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"internal error: {type(exc).__name__}"}


def start_api(daemon: Daemon, address: Address) -> tuple[ThreadingHTTPServer, int]:
    token = daemon.config.service.token
    if not address.loopback and token is None:
        raise ValueError(f"the API on {address} is beyond this machine: a token is required")
    api = Api(daemon)
    server = ThreadingHTTPServer((address.host, address.port), _handler(api, token))
    server.daemon_threads = True
    daemon.api = api
    threading.Thread(target=server.serve_forever, name="api", daemon=True).start()
    return server, int(server.server_address[1])
