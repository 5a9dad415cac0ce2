"""Hostile input to a real ``posdriver serve --emulate`` over real HTTP: ids too large for
SQLite, dates beyond the calendar, bodies nested thousands deep, NaN and Infinity, bytes
that are not UTF-8, lone surrogates, null bytes, amounts in other scripts' digits. Each
must be refused with a 400 naming what is wrong (a 404 where the thing cannot exist),
never a 500, and the daemon must serve on as before."""

from __future__ import annotations

import http.client
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from posdriver.service.openapi import PATHS, SCHEMAS
from tests.support.api_answers import conforms
from tests.support.served import Served, serve

BIG = "9" * 23  # beyond SQLite's largest integer (19 digits)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One daemon for the module, with one approved sale (id 1): every request here is
    refused before it does anything, so they cannot disturb each other."""
    with serve(tmp_path_factory.mktemp("hostile")) as served:
        sale = served.sale("10.00")
        assert served.get(f"/v1/operations/{sale}?wait=20")[1]["operation"]["state"] == "approved"
        yield served


def send(served: Served, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
    """A request exactly as given (http.client quotes nothing): status and JSON body."""
    host, port = served.api.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=15)
    try:
        connection.request(method, path, body=body)
        answer = connection.getresponse()
        return answer.status, json.loads(answer.read())
    finally:
        connection.close()


HOSTILE: list[tuple[str, str, dict[str, Any] | None, int, str]] = [
    # (method, path, body, status, words of the error)
    ("GET", f"/v1/print-jobs/{BIG}", None, 404, f"no print job '{BIG}'"),
    ("POST", f"/v1/print-jobs/{BIG}/cancel", {}, 404, f"no print job '{BIG}'"),
    ("GET", f"/v1/refund-plans/{BIG}", None, 404, f"no refund plan '{BIG}'"),
    ("POST", f"/v1/refund-plans/{BIG}/run", {}, 404, f"no refund plan '{BIG}'"),
    ("POST", f"/v1/refund-plans/{BIG}/cancel", {"reason": "x"}, 404, "no refund plan"),
    ("GET", "/v1/print-jobs/9223372036854775808", None, 404, "no print job"),  # 2**63
    ("GET", "/v1/print-jobs/%C2%B2", None, 400, "a print job id is a whole number"),  # ²
    ("GET", f"/v1/operations/{BIG}", None, 404, "does not name a transaction"),
    ("GET", f"/v1/transactions/receipt:{BIG}", None, 404, "does not name a transaction"),
    ("GET", "/v1/transactions/id:1%00", None, 404, "does not name a transaction"),
    ("GET", "/v1/transactions/..%2F..%2Fetc%2Fpasswd", None, 404, "does not name"),
    ("POST", "/v1/operations", {"kind": "refund", "txn": int(BIG)}, 404, "does not name"),
    ("POST", "/v1/operations", {"kind": "refund", "txn": f"id:{BIG}"}, 404, "does not name"),
    ("POST", "/v1/refund-plans", {"txn": int(BIG)}, 404, "does not name a transaction"),
    (
        "POST",
        "/v1/operations/1/resolve",
        {"state": "declined", "note": "n", "operator": "a", "receipt_no": 10**20},
        400,
        "receipt_no must be a whole number 0..999999999",
    ),
    (
        "POST",
        "/v1/operations/1/resolve",
        {"state": "declined", "note": "n", "operator": "a", "last4": "\u0661\u0662\u0663\u0664"},
        400,
        "last4 takes exactly four digits",
    ),
    # dates: the journal compares in UTC, and the calendar ends at 9999-12-31
    ("GET", "/v1/transactions?until=9999-12-31", None, 400, "until: '9999-12-31' is too far"),
    ("GET", "/v1/transactions?since=9999-12-31T23:59:59-12:00", None, 400, "since: "),
    ("GET", "/v1/transactions?since=0001-01-01T00:00:00%2B14:00", None, 400, "too far"),
    ("GET", "/v1/incidents?since=0001-01-01T00:00:00%2B14:00", None, 400, "since: "),
    ("GET", "/v1/incidents?since=%D9%A1%D9%A2h", None, 400, "nor a span back from now"),
    ("GET", "/v1/transactions?last4=%D9%A1%D9%A2%D9%A3%D9%A4", None, 400, "four digits"),
    # numbers written as Python reads them, not as the schema does
    ("GET", "/v1/transactions?limit=5_0", None, 400, "limit must be a whole number"),
    ("GET", "/v1/transactions?limit=%D9%A5", None, 400, "limit must be a whole number"),
    ("GET", "/v1/transactions?limit=" + "9" * 5000, None, 400, "(5000 characters)"),
    ("GET", "/v1/operations/1?wait=1_0", None, 400, "wait must be a number of seconds"),
    ("GET", "/v1/operations/1?wait=%D9%A1", None, 400, "wait must be a number of seconds"),
    ("GET", "/v1/operations/1?wait=nan", None, 400, "wait must be a number of seconds"),
    ("GET", "/v1/operations/1?wait=1e308", None, 400, "wait must be a number of seconds"),
    # amounts: ASCII digits and one dot only (Money.parse, which the CLI uses too)
    (
        "POST",
        "/v1/operations",
        {"kind": "sale", "amount": "\u0661\u0662.\u0665\u0660"},
        400,
        "(write the digits 0-9)",
    ),
    (
        "POST",
        "/v1/operations",
        {"kind": "sale", "amount": "\uff11\uff12.\uff15\uff10"},
        400,
        "(write the digits 0-9)",
    ),
    ("POST", "/v1/operations", {"kind": "sale", "amount": " 12.50"}, 400, "(no spaces"),
    ("POST", "/v1/operations", {"kind": "sale", "amount": "12 .50"}, 400, "(no spaces"),
    ("GET", "/v1/transactions?amount=1%202.00", None, 400, "(no spaces"),
    ("GET", "/v1/transactions/id:1/refund-guard?amount=%EF%BC%95", None, 400, "digits 0-9"),
    ("GET", "/v1/transactions?amount=" + "9" * 5000, None, 400, "is too large"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "words"), HOSTILE)
def test_hostile_paths_queries_and_fields_are_named(
    daemon: Served,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    status: int,
    words: str,
) -> None:
    raw = None if body is None else json.dumps(body).encode()
    got, answer = send(daemon, method, path, raw)
    assert (got, words in answer.get("error", "")) == (status, True), answer


BODIES: list[tuple[bytes, str]] = [
    (
        b'{"kind": "sale", "amount": "1.00", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        "the body is not JSON we take: it is nested too deeply",
    ),
    (b"[" * 60_000, "nested too deeply"),
    (b'{"kind": NaN, "amount": "1.00"}', "NaN is not a JSON value"),
    (b'{"kind": "sale", "amount": Infinity}', "Infinity is not a JSON value"),
    (b'{"kind": "sale", "amount": -Infinity}', "-Infinity is not a JSON value"),
    (b'{"kind": "sale", "amount": 1e400}', "the number '1e400' is too large"),
    (b'{"kind": "refund", "txn": ' + b"9" * 5000 + b"}", "has 5000 digits"),
    (b"\xff\xfe{\x00}\x00", "the body is not UTF-8"),  # UTF-16, which json.loads would take
    (b'{"kind": "sale", "amount": "1.00", "operator": "\xff"}', "the body is not UTF-8"),
    (
        b'{"kind": "sale", "amount": "1.00", "operator": "\\ud800"}',
        "operator: the body holds text that is not Unicode",
    ),
    (b'{"\\udfff": 1}', "a name: the body holds text that is not Unicode"),
    (b'{"kind": "sale", "amount": "1.00", "x": [["\\ud800"]]}', "x: the body holds text"),
    # which amount was meant is a guess: never charged
    (b'{"kind": "sale", "amount": "1.00", "amount": "100.00"}', "'amount' is given twice"),
    (b'{"kind": "sale", "amount": "1.00", "x": {"a": 1, "a": 2}}', "'a' is given twice"),
]


@pytest.mark.parametrize(("raw", "words"), BODIES)
def test_hostile_bodies_are_refused_before_anything_is_done(
    daemon: Served, raw: bytes, words: str
) -> None:
    before = daemon.get("/v1/transactions")[1]
    status, answer = send(daemon, "POST", "/v1/operations", raw)
    conforms("/v1/operations", "post", status, answer)
    assert (status, words in answer["error"]) == (400, True), answer
    assert daemon.get("/v1/transactions")[1] == before


def test_an_incident_with_a_lone_surrogate_is_refused(daemon: Served) -> None:
    raw = b'{"fault": "\\ud800", "action": "a", "result": "r"}'
    status, answer = send(daemon, "POST", "/v1/incidents", raw)
    assert status == 400 and answer["error"].startswith("fault: the body holds text")


def test_a_chunked_body_is_refused_and_the_connection_closed(daemon: Served) -> None:
    """Without a Content-Length the body's end is unknown: read as the next request, it
    would be garbage or, worse, another request. The request goes out in one write (the
    server may answer and close as soon as it has read the headers, and a client still
    sending would then meet a broken pipe rather than the answer)."""
    host, port = daemon.api.removeprefix("http://").rsplit(":", 1)
    body = b'{"fault": "f"}'
    request = (
        b"POST /v1/incidents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
        + f"{len(body):x}".encode()
        + b"\r\n"
        + body
        + b"\r\n0\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=15) as sock:
        sock.sendall(request)
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        assert answer.status == 400 and answer.headers["Connection"] == "close"
        assert "Content-Length" in json.loads(answer.read())["error"]
    assert daemon.get("/v1/incidents")[1] == []


@pytest.mark.parametrize("length", ["-5", "\u0661\u0662", "1e3", "99999999999999999999999"])
def test_a_content_length_that_is_not_digits_is_refused(daemon: Served, length: str) -> None:
    host, port = daemon.api.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=15)
    try:
        connection.putrequest("POST", "/v1/incidents")
        connection.putheader("Content-Length", length.encode())
        connection.endheaders()
        answer = connection.getresponse()
        assert answer.status in (400, 413), answer.status
        assert answer.headers["Connection"] == "close"
    finally:
        connection.close()


# -- idempotency keys --------------------------------------------------------------------


def test_a_key_used_again_for_a_different_request_is_409(tmp_path: Path) -> None:
    """A repeat is the same request: the same kind, amount (however written), currency,
    terminal and transaction (however named). Anything else under the same key is a
    409 naming what differs, and nothing is charged."""
    with serve(tmp_path) as served:
        sale = {"kind": "sale", "amount": "5.00"}
        key = {"Idempotency-Key": "folio-1"}
        status, first = served.post("/v1/operations", sale, key)
        assert status == 202
        op_id = first["operation"]["id"]
        assert served.get(f"/v1/operations/{op_id}?wait=20")[1]["operation"]["state"] == (
            "approved"
        )
        for same in ({**sale, "amount": "5.0"}, {**sale, "currency": "eur"}):
            status, again = served.post("/v1/operations", same, key)
            assert (status, again["repeated"], again["operation"]["id"]) == (200, True, op_id)
        for other, what in [
            ({**sale, "currency": "CHF"}, "its currency differs"),
            ({**sale, "terminal": "desk"}, "its terminal differs"),
            ({**sale, "amount": "5.01"}, "its amount differs"),
            ({"kind": "pre_auth", "amount": "5.00"}, "its kind differs"),
            ({**sale, "currency": "USD", "amount": "6.00"}, "its amount and currency differ"),
        ]:
            status, answer = served.post("/v1/operations", other, key)
            assert status == 409, (other, answer)
            assert f"idempotency key 'folio-1' was used for id:{op_id}" in answer["error"]
            assert what in answer["error"] and "use a new key" in answer["error"]

        second = served.sale("7.00")
        assert served.get(f"/v1/operations/{second}?wait=20")[1]["operation"]["state"] == (
            "approved"
        )
        refund = {"kind": "refund", "txn": op_id, "amount": "1.00"}
        refund_key = {"Idempotency-Key": "folio-1-refund"}
        assert served.post("/v1/operations", refund, refund_key)[0] == 202
        status, again = served.post("/v1/operations", {**refund, "txn": f"id:{op_id}"}, refund_key)
        assert (status, again["repeated"]) == (200, True)
        status, answer = served.post("/v1/operations", {**refund, "txn": second}, refund_key)
        assert status == 409 and "its txn differs" in answer["error"]
        status, answer = served.post("/v1/operations", {"kind": "refund", "txn": op_id}, refund_key)
        assert status == 409 and "its amount differs" in answer["error"]
        ids = [op["id"] for op in served.get("/v1/transactions")[1]]
        assert len(ids) == 3  # two sales and one refund: no request under a used key ran


def test_after_a_restart_the_journal_tells_what_a_key_asked(tmp_path: Path) -> None:
    """A key from before a restart is compared with what the journal holds of its
    operation: the kind, amount, currency and transaction."""
    with serve(tmp_path) as served:
        status, first = served.post(
            "/v1/operations", {"kind": "sale", "amount": "8.00"}, {"Idempotency-Key": "k-8"}
        )
        assert status == 202
        op_id = first["operation"]["id"]
        served.await_state(op_id, "approved", 20, "the sale")
    with serve(tmp_path) as served:
        key = {"Idempotency-Key": "k-8"}
        status, answer = served.post(
            "/v1/operations", {"kind": "sale", "amount": "8.00", "currency": "CHF"}, key
        )
        assert status == 409 and "its currency differs" in answer["error"]
        status, answer = served.post("/v1/operations", {"kind": "sale", "amount": "8"}, key)
        assert (status, answer["operation"]["id"]) == (200, op_id)


# -- the API's checks are its OpenAPI document's -----------------------------------------

SAMPLES: dict[str, Any] = {
    "string": "x",
    "integer": 7,
    "number": 1.5,
    "boolean": True,
    "array": [],
    "object": {},
    "null": None,
}
# a body each operation takes (its required fields valid): one field at a time is made
# wrong, so the answer must be about that field; a request that went through instead
# does nothing lasting (a declined decision on an approved sale is refused, 409)
BASES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/v1/operations"): {"kind": "sale", "amount": "1.00"},
    ("post", "/v1/operations/{id}/reprint"): {},
    ("post", "/v1/operations/{id}/resolve"): {"state": "declined", "note": "n", "operator": "o"},
    ("post", "/v1/incidents"): {"fault": "f", "action": "a", "result": "r"},
    ("post", "/v1/print-jobs/run"): {},
    ("post", "/v1/print-jobs/{id}/cancel"): {},
    ("post", "/v1/refund-plans"): {"txn": 1},
    ("post", "/v1/refund-plans/{id}/run"): {},
    ("post", "/v1/refund-plans/{id}/cancel"): {"reason": "r"},
}


def resolved(schema: dict[str, Any]) -> dict[str, Any]:
    """A property's schema with its ``$ref`` (if any) followed, its own keys on top."""
    if "$ref" not in schema:
        return schema
    target = SCHEMAS[schema["$ref"].rsplit("/", 1)[1]]
    return resolved(target) | {k: v for k, v in schema.items() if k != "$ref"}


def _types(schema: dict[str, Any]) -> set[str]:
    """The JSON types ``schema`` takes (an integer is a number too)."""
    if "enum" in schema:
        return {"string"} if all(isinstance(v, str) for v in schema["enum"]) else set(SAMPLES)
    declared = schema.get("type", [])
    types = {declared} if isinstance(declared, str) else set(declared)
    return types | ({"integer"} if "number" in types else set())


def forbidden_body_values(schema: dict[str, Any]) -> list[Any]:
    """Values ``schema`` refuses: of each JSON type it does not take (null included),
    outside its enum, length or range, or not matching its pattern."""
    schema = resolved(schema)
    allowed = _types(schema)
    values = [sample for name, sample in SAMPLES.items() if name not in allowed]
    if "enum" in schema:
        values.append("not-one-of-them")
    if schema.get("minLength", 0) >= 1:
        values.append("")
    if "maxLength" in schema:
        values.append("a" * (schema["maxLength"] + 1))
    if "minimum" in schema:
        values.append(schema["minimum"] - 1)
    if "maximum" in schema:
        values.append(schema["maximum"] + 1)
    if "pattern" in schema:
        values += [v for v in ("x", "", " 1", "\u0661") if not re.search(schema["pattern"], v)]
    return values


def forbidden_query_values(schema: dict[str, Any]) -> list[str]:
    """What a query string may carry that ``schema`` refuses."""
    schema = resolved(schema)
    kind = schema.get("type")
    values: list[str] = []
    if kind in ("integer", "number"):
        values += ["", "x", "1_0", "\u0661"] + (["1.5"] if kind == "integer" else [])
        if "minimum" in schema:
            values.append(str(schema["minimum"] - 1))
        if "maximum" in schema:
            values.append(str(schema["maximum"] + 1))
    if "enum" in schema:
        values += ["", "not-one-of-them"]
    if schema.get("minLength", 0) >= 1:
        values.append("")
    if "pattern" in schema:
        values += [v for v in ("x", "", " 1", "\u0661") if not re.search(schema["pattern"], v)]
    return list(dict.fromkeys(values))


def _cases() -> Iterator[tuple[str, str, str, str, Any]]:
    """(method, path, "body" or "query", field, forbidden value) for every request body
    property and query parameter the document describes."""
    for path, item in PATHS.items():
        for method, spec in item.items():
            for parameter in spec.get("parameters", []):
                if parameter["in"] == "query":
                    for value in forbidden_query_values(parameter["schema"]):
                        yield method, path, "query", parameter["name"], value
            body = spec.get("requestBody")
            if body is not None:
                name = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
                for field, schema in SCHEMAS[name]["properties"].items():
                    for value in forbidden_body_values(schema):
                        yield method, path, "body", field, value


CASES = list(_cases())


def test_the_cases_cover_every_field_and_parameter() -> None:
    fields = {(m, p, where, f) for m, p, where, f, _ in CASES}
    assert len(fields) >= 40 and len(CASES) >= 150
    assert ("post", "/v1/operations/{id}/reprint", "body", "printer") in fields
    assert ("get", "/v1/transactions", "query", "currency") in fields
    assert ("get", "/v1/operations/{id}", "query", "wait") in fields


@pytest.fixture(scope="module")
def seeded(daemon: Served) -> Served:
    """Something behind every id the cases use: sale 1 (approved, its receipt's print
    job 1 done) and split refund plan 1, made in the journal beside the daemon."""
    from posdriver.journal import open_journal
    from posdriver.money import Money

    with open_journal(daemon.state) as journal:
        if not journal.plans_of(1):
            journal.create_plan(1, [Money.parse("5.00", "EUR")] * 2, "test")
    return daemon


def test_every_value_the_document_forbids_is_a_400_naming_the_field(seeded: Served) -> None:
    """For every request body property and query parameter in the OpenAPI document,
    each kind of value its schema forbids gets a 400 whose error names the field: the
    document and the checks cannot drift apart."""
    wrong: list[str] = []
    for method, path, where, field, value in CASES:
        concrete = path.replace("{id}", "1").replace("{txn}", "id:1")
        if where == "query":
            target, raw = f"{concrete}?{urlencode({field: value})}", None
            if method == "post":
                raw = json.dumps(BASES.get((method, path), {})).encode()
        else:
            target = concrete
            raw = json.dumps(BASES[(method, path)] | {field: value}).encode()
        status, answer = send(seeded, method.upper(), target, raw)
        error = answer.get("error", "") if isinstance(answer, dict) else ""
        if status != 400 or field not in error:
            wrong.append(f"{method.upper()} {path} {where} {field}={value!r}: {status} {error}")
    assert not wrong, f"{len(wrong)} of {len(CASES)}:\n" + "\n".join(wrong)


# -- what the HTTP layer refuses before the API sees it ----------------------------------


def _raw(served: Served, data: bytes, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    host, port = served.api.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=15) as sock:
        sock.sendall(data)
        answer = http.client.HTTPResponse(sock, method=method)
        answer.begin()
        return answer.status, dict(answer.headers), answer.read()


@pytest.mark.parametrize(
    ("request_line", "method"),
    [("BREW /v1/devices", "BREW"), ("OPTIONS *", "OPTIONS"), ("HEAD /v1/devices", "HEAD")],
)
def test_a_method_served_nowhere_is_a_405_in_json(
    daemon: Served, request_line: str, method: str
) -> None:
    status, headers, body = _raw(
        daemon, f"{request_line} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), method
    )
    assert (status, headers["Allow"], headers["Connection"]) == (405, "GET, POST", "close")
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    if method == "HEAD":
        assert body == b""
    else:
        assert json.loads(body) == {"error": f"{method} is not served here; use GET or POST"}
    assert daemon.get("/v1/devices")[0] == 200


def test_too_many_headers_are_a_431_in_json(daemon: Served) -> None:
    data = b"GET /v1/devices HTTP/1.1\r\n" + b"X-A: b\r\n" * 200 + b"\r\n"
    status, headers, body = _raw(daemon, data)
    assert status == 431 and headers["Content-Type"].startswith("application/json")
    assert "header" in json.loads(body)["error"].lower()


def test_an_http_version_past_1_1_is_refused_as_bad_input_not_a_server_fault(
    daemon: Served,
) -> None:
    host, port = daemon.api.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=15) as sock:
        sock.sendall(b"GET /v1/devices HTTP/2.0\r\n\r\n")
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    # the version could not be read, so the answer goes out as HTTP/0.9 does: the body alone
    assert json.loads(raw)["error"].endswith("use HTTP/1.1")


def test_an_empty_idempotency_key_header_is_refused_not_taken_for_none(daemon: Served) -> None:
    # taken for "no key", a retry of this sale would be a second charge
    before = daemon.get("/v1/transactions")[1]
    host, port = daemon.api.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=15)
    try:
        connection.request(
            "POST",
            "/v1/operations",
            body=b'{"kind": "sale", "amount": "10.00"}',
            headers={"Content-Type": "application/json", "Idempotency-Key": ""},
        )
        answer = connection.getresponse()
        assert answer.status == 400
        assert "idempotency_key must be 1..128 characters" in json.loads(answer.read())["error"]
    finally:
        connection.close()
    assert daemon.get("/v1/transactions")[1] == before
