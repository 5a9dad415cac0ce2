"""Fuzzing the HTTP API of a real ``posdriver serve --emulate``.

Two halves. :func:`fuzz_schema` lets schemathesis draw requests for every operation of
the daemon's own OpenAPI document (``GET /openapi.json``), schema-valid and
schema-invalid, and holds each answer to that document: its status is one the
operation declares, its body matches the declared schema, and it is no 5xx other than
the documented ones (``GET /v1/health``'s verdict, and the full house of
``service.max_connections``). :func:`hostile` sends what no generator from a schema
makes, on raw sockets: broken JSON, a 10 MB body, huge numbers, unicode and NUL,
path tricks, broken headers, 200 clients at once, clients that trickle their request
or never read the answer. Each must get a 4xx, or be closed within the documented
limits (``service.connection_timeout``), while the daemon keeps answering others.

``python -m tests.fuzz.api --examples N --seed S`` is the long run (both halves, with
and without a ``[service] token``); tests/fuzz/test_api_fuzz.py is the short one.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.support.served import Served, serve

TOKEN = "fuzz-token-0123456789abcdef"
# Short limits, so that a slow client is cut off in seconds, not in the default ten.
CONNECTION_TIMEOUT = 2.0
MAX_WAIT = 1.0  # a drawn ?wait= longer than this is shortened: the run stays bounded
CLOSE_SLACK = 2.0  # seconds past connection_timeout within which a slow client is closed


def served_config(token: str | None, max_connections: int = 64) -> str:
    lines = [
        "[service]",
        "poll_interval = 0.2",
        "terminal_poll_interval = 1.0",
        f"connection_timeout = {CONNECTION_TIMEOUT}",
        f"max_connections = {max_connections}",
    ]
    if token is not None:
        lines.append(f'token = "{token}"')
    return "\n".join(lines) + "\n"


@dataclass
class Tally:
    """What one run sent and what came back; ``faults`` are the answers that break a
    promise (a 5xx that is not documented, an answer off its schema, a client not cut
    off in time, the daemon not answering)."""

    requests: int = 0
    statuses: Counter[int | str] = field(default_factory=Counter)
    faults: list[str] = field(default_factory=list)

    @property
    def server_errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if isinstance(s, int) and s >= 500)

    def add(self, other: Tally) -> None:
        self.requests += other.requests
        self.statuses.update(other.statuses)
        self.faults += other.faults

    def line(self, name: str) -> str:
        shown = ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses.items(), key=str))
        return (
            f"{name}: {self.requests} requests, {self.server_errors} 5xx, "
            f"{len(self.faults)} faults ({shown})"
        )


def documented_5xx(method: str, path: str, status: int, body: bytes) -> bool:
    """The 5xx answers docs/api.md promises: the health verdict, and the full house."""
    if status == 503 and method == "GET" and path.rstrip("/") == "/v1/health":
        return True
    return status == 503 and b"max_connections" in body


# -- schemathesis --------------------------------------------------------------------------
def fuzz_schema(served: Served, token: str | None, examples: int, seed: int) -> Tally:
    """Every operation of the daemon's document, ``examples`` positive and as many
    negative cases each."""
    import schemathesis
    from schemathesis.core.result import Err

    auth = {"Authorization": f"Bearer {token}"} if token else {}
    schema = schemathesis.openapi.from_url(served.api + "/openapi.json", headers=auth)
    tally = Tally()
    for result in schema.get_all_operations():
        if isinstance(result, Err):  # a part of the document schemathesis cannot read
            tally.faults.append(f"the OpenAPI document: {result.err()}")
            continue
        for mode in schemathesis.GenerationMode:
            _fuzz_operation(served, auth, result.ok(), mode, examples, seed, tally)
    return tally


def _fuzz_operation(
    served: Served,
    auth: dict[str, str],
    operation: Any,
    mode: Any,
    examples: int,
    seed: int,
    tally: Tally,
) -> None:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis.errors import Unsatisfiable
    from schemathesis.checks import (
        content_type_conformance,
        negative_data_rejection,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    # Not positive_data_acceptance: one body schema serves every kind of operation, so
    # a sale without an amount is schema-valid and still (rightly) a 400.
    checks = [
        status_code_conformance,
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        negative_data_rejection,
    ]

    @hypothesis_seed(seed)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(operation.as_strategy(generation_mode=mode))
    def one(case: Any) -> None:
        _bound_wait(case)
        where = f"{case.method} {case.formatted_path}"
        tally.requests += 1
        try:
            response = case.call(base_url=served.api, headers=auth, timeout=30)
        except Exception as exc:  # no answer at all is a fault of its own
            tally.statuses["no answer"] += 1
            tally.faults.append(f"{where}: {exc}")
            return
        status = response.status_code
        tally.statuses[status] += 1
        if status >= 500 and not documented_5xx(
            case.method, case.formatted_path, status, response.content
        ):
            tally.faults.append(f"{where}: {status} {response.text[:300]}")
            return
        try:
            case.validate_response(response, checks=checks)
        except Exception as exc:  # schemathesis's failure group, in its words
            tally.faults.append(f"{where} ({mode.value}): {str(exc)[:600]}")

    try:
        one()
    except Unsatisfiable:  # nothing in this operation can be made schema-invalid
        pass
    except Exception as exc:  # a failure schemathesis raised through hypothesis itself
        tally.faults.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:600]}")


def _bound_wait(case: Any) -> None:
    query = case.query
    if isinstance(query, dict) and isinstance(query.get("wait"), int | float):
        query["wait"] = min(query["wait"], MAX_WAIT)


# -- raw requests ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Answer:
    status: int | None  # None: closed without an answer
    body: bytes
    seconds: float


def raw_request(
    address: tuple[str, int],
    data: bytes,
    *,
    timeout: float = 20.0,
    trickle: float = 0.0,
    read: bool = True,
) -> Answer:
    """Send ``data`` as it is (byte by byte, ``trickle`` seconds apart, when asked) and
    read one answer; a connection closed or reset without one is ``status=None``."""
    started = time.monotonic()
    with socket.create_connection(address, timeout=timeout) as sock:
        try:
            if trickle:
                for index in range(len(data)):
                    sock.sendall(data[index : index + 1])
                    time.sleep(trickle)
            else:
                sock.sendall(data)
        except OSError:
            pass  # the daemon closed it while we sent: read what it said, if anything
        if not read:
            time.sleep(timeout)
            return Answer(None, b"", time.monotonic() - started)
        response = http.client.HTTPResponse(sock)
        try:
            response.begin()
            body = response.read()
        except (OSError, http.client.HTTPException):
            return Answer(None, b"", time.monotonic() - started)
        return Answer(response.status, body, time.monotonic() - started)


def request_bytes(
    method: str,
    target: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    length: int | None = None,
) -> bytes:
    head = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    for name, value in (headers or {}).items():
        head.append(f"{name}: {value}")
    if body or length is not None:
        head.append(f"Content-Length: {len(body) if length is None else length}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


POST_ROUTES = (
    "/v1/operations",
    "/v1/operations/1/reprint",
    "/v1/operations/1/resolve",
    "/v1/recover",
    "/v1/incidents",
    "/v1/print-jobs/run",
    "/v1/print-jobs/1/cancel",
    "/v1/refund-plans",
    "/v1/refund-plans/1/run",
    "/v1/refund-plans/1/cancel",
)
BAD_BODIES = (
    b"{",
    b"[]",
    b"null",
    b"12",
    b'"sale"',
    b'{"kind": "sale", "amount": }',
    b'{"kind": "sale", "amount": NaN}',
    b'{"kind": "sale", "amount": Infinity}',
    b'{"kind": "sale", "amount": 1e999}',
    b'{"kind": "sale", "amount": 1' + b"0" * 5000 + b"}",
    b'{"kind": "sale", "amount": "1' + b"0" * 400 + b'.00"}',
    b'{"kind": "sale", "amount": "-0.00"}',
    b'{"kind": "sale", "amount": "0x10"}',
    b'{"kind": "refund", "sale": 99999999999999999999999999999, "amount": "1.00"}',
    b'{"kind": "sale", "amount": "10.00", "operator": "\\ud800"}',
    b'{"kind": "sale", "amount": "10.00", "operator": "\xff\xfe"}',
    b'{"kind": "sale", "amount": "10.00", "idempotency_key": "' + b"k" * 100_000 + b'"}',
    b'{"kind": "sale", "amount": {"amount": "10.00"}}',
    b'{"kind": ["sale"], "amount": "10.00"}',
    b"[" * 10_000 + b"]" * 10_000,
    b'{"a":' * 5000 + b"1" + b"}" * 5000,
    b"\xef\xbb\xbf{}",
    b"\x00" * 100,
)
# Odd but well-formed: each may be taken (the last of two equal keys counts, as in
# every JSON reader the desk software is likely to use); none may be a 5xx.
ODD_BODIES = (
    b'{"kind": "sale", "amount": "10.00", "amount": "20.00"}',
    b'{"kind": "sale", "amount": "10.00", "operator": "\\u0000"}',
    '{"kind": "sale", "amount": "10.00", "operator": "名前\u202e\U0001f600"}'.encode(),
)
PATH_TRICKS = (
    "/../v1/health",
    "/v1/../../../etc/passwd",
    "/v1/%2e%2e/%2e%2e/etc/passwd",
    "/v1/operations/%2e%2e",
    "/v1/operations/..%2f..%2fopenapi.json",
    "/v1/operations/%00",
    "/v1/operations/1%00",
    "/v1/transactions/%ff%fe",
    "/v1/transactions/" + "%C0%AE" * 10,
    "/v1/operations/99999999999999999999999999999999",
    "/v1/operations/-1",
    "/v1/operations/1e9",
    "/v1/transactions/id:" + "9" * 400,
    "/v1/transactions/receipt:-0",
    "//v1//health",
    "/v1/health/",
    "/v1/health?wait=1&wait=2",
    "/v1/transactions?limit=99999999999999999999999",
    "/v1/transactions?limit=-1&limit=1",
    "/v1/operations/1?wait=1e400",
    "/v1/operations/1?wait=nan",
    "/v1/incidents?since=99999999999d",
    "/v1/%E5%90%8D%E5%89%8D",
    "/v1/" + "a" * 60_000,
    "http://127.0.0.1/v1/health",
    "*",
    "v1/health",
)
BROKEN_HEADERS: tuple[bytes, ...] = (
    b"GET /v1/devices HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 200 + b"\r\n",
    b"GET /v1/devices HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n",
    b"POST /v1/operations HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
    b"POST /v1/operations HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n",
    b"POST /v1/operations HTTP/1.1\r\nContent-Length: \xd9\xa3\r\n\r\n{}",
    b"POST /v1/operations HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    b"POST /v1/operations HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    b"POST /v1/operations HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    b"POST /v1/operations HTTP/1.1\r\nContent-Length: 20\r\n\r\n{}",  # body cut short
    b"GET /v1/devices HTTP/1.1\r\nAuthorization: Bearer " + b"\xff" * 40 + b"\r\n\r\n",
    b"GET /v1/devices HTTP/9.9\r\n\r\n",
    b"GET /v1/devices\r\n\r\n",
    b"GET\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64),  # a TLS hello
    b"\r\n\r\n\r\n",
    b"BREW /v1/devices HTTP/1.1\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\n\r\n",
    b"HEAD /v1/devices HTTP/1.1\r\n\r\n",
    b"DELETE /v1/operations/1 HTTP/1.1\r\n\r\n",
    b"PUT /v1/operations HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
    b"GET /v1/devices HTTP/1.1\r\nHost: x\r\n\tfolded: header\r\n\r\n",
    b"GET /v1/dev\x00ices HTTP/1.1\r\n\r\n",
)


def takes_body(path: str) -> bool:
    """Whether the daemon's document gives ``POST path`` a request body."""
    from posdriver.service.api_http import find_route
    from posdriver.service.openapi import accepted_fields

    route, _ = find_route("POST", path)
    return accepted_fields(route.path, "POST") is not None


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


class Hostile:
    """The hand-made requests of the module docstring, against one daemon."""

    def __init__(self, served: Served, token: str | None) -> None:
        parts = urlsplit(served.api)
        self.served = served
        self.address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.token = token
        self.tally = Tally()

    def check(self, what: str, answer: Answer, *, closed_ok: bool = True) -> None:
        """A 4xx (or 2xx), or a close when ``closed_ok``; never an undocumented 5xx."""
        self.tally.requests += 1
        self.tally.statuses[answer.status if answer.status is not None else "closed"] += 1
        if answer.status is None:
            if not closed_ok:
                self.tally.faults.append(f"{what}: closed without an answer")
        elif answer.status >= 500 and not documented_5xx("", "", answer.status, answer.body):
            self.tally.faults.append(f"{what}: {answer.status} {answer.body[:300]!r}")

    def send(self, what: str, data: bytes, **kwargs: Any) -> Answer:
        answer = raw_request(self.address, data, **kwargs)
        self.check(what, answer)
        return answer

    def alive(self, what: str) -> None:
        """The daemon still runs and answers a plain request at once."""
        self.tally.requests += 1
        answer = raw_request(
            self.address,
            request_bytes("GET", "/v1/devices", headers=_auth(self.token)),
            timeout=5,
        )
        self.tally.statuses[answer.status if answer.status is not None else "closed"] += 1
        if self.served.process.poll() is not None:
            self.tally.faults.append(
                f"after {what}: the daemon exited ({self.served.process.returncode})"
            )
        elif answer.status != 200 or answer.seconds > 2.0:
            self.tally.faults.append(
                f"after {what}: GET /v1/devices answered {answer.status} in {answer.seconds:.2f} s"
            )

    # -- the kinds of request -------------------------------------------------------------
    def bad_bodies(self) -> None:
        """Broken bodies on every POST: refused where the route reads a body (a route
        that takes none, such as /v1/recover, does not look at it)."""
        headers = {"Content-Type": "application/json", **_auth(self.token)}
        for route in POST_ROUTES:
            reads_body = takes_body(route)
            for body in BAD_BODIES:
                what = f"POST {route} {body[:40]!r}"
                answer = self.send(what, request_bytes("POST", route, body, headers))
                taken = answer.status is not None and 200 <= answer.status < 300
                if reads_body and taken:
                    self.tally.faults.append(f"{what}: taken ({answer.status})")
        for body in ODD_BODIES:
            self.send(
                f"POST /v1/operations {body[:40]!r}",
                request_bytes("POST", "/v1/operations", body, headers),
            )
        self.alive("bad bodies")

    def big_bodies(self) -> None:
        headers = {"Content-Type": "application/json", **_auth(self.token)}
        ten_mb = b'{"kind": "sale", "amount": "10.00", "x": "' + b"x" * (10 << 20) + b'"}'
        for route in ("/v1/operations", "/v1/incidents", "/v1/devices"):
            method = "GET" if route == "/v1/devices" else "POST"
            answer = self.send(
                f"{method} {route} 10 MB", request_bytes(method, route, ten_mb, headers)
            )
            if answer.status not in (None, 413):
                self.tally.faults.append(f"{method} {route} 10 MB: {answer.status}")
        # a 10 MB length announced and never sent: refused before the body is awaited
        answer = self.send(
            "announced 10 MB",
            request_bytes("POST", "/v1/operations", b"", headers, length=10 << 20),
        )
        if answer.status != 413:
            self.tally.faults.append(f"announced 10 MB: {answer.status}, not 413")
        self.alive("10 MB bodies")

    def paths(self) -> None:
        for method in ("GET", "POST"):
            for target in PATH_TRICKS:
                body = b"{}" if method == "POST" else b""
                answer = self.send(
                    f"{method} {target[:60]}",
                    request_bytes(method, target, body, _auth(self.token)),
                )
                text = answer.body.decode("utf-8", "replace")
                if "root:" in text or "/bin/" in text:
                    self.tally.faults.append(f"{method} {target[:60]}: served a file")
        self.alive("path tricks")

    def headers(self) -> None:
        for data in BROKEN_HEADERS:
            self.send(f"raw {data[:40]!r}", data, timeout=CONNECTION_TIMEOUT + 10)
        self.alive("broken headers")

    def tokens(self) -> None:
        """Without the token, every route is a 401 (and with a wrong one)."""
        if self.token is None:
            return
        for target in ("/openapi.json", "/v1/devices", "/v1/health", "/v1/transactions"):
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": self.token}):
                answer = self.send(
                    f"GET {target} {headers}", request_bytes("GET", target, b"", headers)
                )
                if answer.status != 401:
                    self.tally.faults.append(f"GET {target} {headers}: {answer.status}, not 401")
        body = b'{"kind": "sale", "amount": "10.00"}'
        answer = self.send("POST sale without token", request_bytes("POST", "/v1/operations", body))
        if answer.status != 401:
            self.tally.faults.append(f"POST sale without token: {answer.status}, not 401")

    def crowd(self, clients: int = 200, *, full_house_ok: bool = False) -> None:
        """``clients`` at once, each with a few requests on its own connection."""
        answers: list[Answer] = []
        lock = threading.Lock()
        start = threading.Barrier(clients)

        def client(index: int) -> None:
            start.wait()
            targets = ("/v1/devices", "/v1/pending", "/openapi.json", "/v1/transactions?limit=5")
            for target in targets[index % 2 :: 2]:
                got = raw_request(
                    self.address, request_bytes("GET", target, b"", _auth(self.token)), timeout=30
                )
                with lock:
                    answers.append(got)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for answer in answers:
            refused = answer.status == 503 and b"max_connections" in answer.body
            if refused and not full_house_ok:
                self.tally.faults.append(f"{clients} clients: refused at the connection limit")
            self.check(f"{clients} clients", answer, closed_ok=False)
        self.alive(f"{clients} clients")

    def slow_clients(self, clients: int = 20) -> None:
        """Requests trickled a byte every 0.2 s, and clients that never read their
        answer: each is cut off within connection_timeout, and others are served
        meanwhile."""
        data = request_bytes(
            "POST",
            "/v1/operations",
            b'{"kind": "sale", "amount": "1.00"}',
            {"Content-Type": "application/json", **_auth(self.token)},
        )
        answers: list[Answer] = []
        lock = threading.Lock()

        def trickler() -> None:
            got = raw_request(self.address, data, trickle=0.2, timeout=CONNECTION_TIMEOUT + 30)
            with lock:
                answers.append(got)

        def non_reader() -> None:
            with contextlib.suppress(OSError):
                raw_request(
                    self.address,
                    request_bytes("GET", "/openapi.json", b"", _auth(self.token)) * 50,
                    read=False,
                    timeout=CONNECTION_TIMEOUT + CLOSE_SLACK,
                )

        threads = [threading.Thread(target=trickler) for _ in range(clients)]
        threads += [threading.Thread(target=non_reader) for _ in range(clients // 4)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        while any(t.is_alive() for t in threads[:clients]):
            self.alive("slow clients, meanwhile")
            time.sleep(0.5)
        for thread in threads:
            thread.join()
        for answer in answers:
            self.check("trickled request", answer)
            if answer.seconds > CONNECTION_TIMEOUT + CLOSE_SLACK:
                self.tally.faults.append(
                    f"trickled request: cut off after {answer.seconds:.1f} s, not within "
                    f"{CONNECTION_TIMEOUT:g} s (connection_timeout)"
                )
            if answer.status not in (None, 408, 400):
                self.tally.faults.append(f"trickled request: answered {answer.status}")
        self.alive("slow clients")

    def all(self, *, crowd: int = 200) -> Tally:
        for step in (self.tokens, self.bad_bodies, self.big_bodies, self.paths, self.headers):
            step()
        self.crowd(crowd, full_house_ok=True)
        self.slow_clients()
        return self.tally


def hostile(served: Served, token: str | None, *, crowd: int = 200) -> Tally:
    return Hostile(served, token).all(crowd=crowd)


@contextlib.contextmanager
def daemon(token: str | None, max_connections: int = 64) -> Iterator[Served]:
    with (
        tempfile.TemporaryDirectory(prefix="posdriver-fuzz-api-") as folder,
        serve(Path(folder), served_config(token, max_connections)) as served,
    ):
        yield served


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz.api", description=__doc__)
    parser.add_argument("--examples", type=int, default=100, help="per operation and mode")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    total = Tally()
    started = time.monotonic()
    for token in (None, TOKEN):
        name = "with token" if token else "without token"
        with daemon(token) as served:
            schema = fuzz_schema(served, token, args.examples, args.seed)
            print(schema.line(f"schemathesis, {name}"), flush=True)
            rough = hostile(served, token)
            print(rough.line(f"hostile requests, {name}"), flush=True)
            alive = served.process.poll() is None
            print(f"daemon {name}: {'alive' if alive else 'EXITED'}", flush=True)
            for tally in (schema, rough):
                total.add(tally)
            if not alive:
                total.faults.append(f"the daemon {name} exited")
    with daemon(None, max_connections=256) as served:
        crowd = Hostile(served, None)
        crowd.crowd(200)
        print(crowd.tally.line("200 clients within max_connections = 256"), flush=True)
        total.add(crowd.tally)
    for fault in total.faults[:50]:
        print(f"  fault: {fault}")
    print(total.line(f"total ({time.monotonic() - started:.0f} s, seed {args.seed})"))
    return 1 if total.faults else 0


if __name__ == "__main__":
    sys.exit(main())
