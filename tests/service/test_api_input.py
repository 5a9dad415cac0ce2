"""Hostile input to a real ``posdriver serve --emulate`` over real HTTP: ids too large for
SQLite, dates beyond the calendar, bodies nested thousands deep, NaN and Infinity, bytes
that are not UTF-8, lone surrogates, null bytes, amounts in other scripts' digits. Each
must be refused with a 400 naming what is wrong (a 404 where the thing cannot exist),
never a 500, and the daemon must serve on as before."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.service.test_api_openapi import conforms
from tests.service.test_daemon import Served, serve

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


PATHS: list[tuple[str, str, dict[str, Any] | None, int, str]] = [
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


@pytest.mark.parametrize(("method", "path", "body", "status", "words"), PATHS)
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
    would be garbage or, worse, another request."""
    host, port = daemon.api.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=15)
    try:
        connection.request(
            "POST", "/v1/incidents", body=iter([b'{"fault": "f"}']), encode_chunked=True
        )
        answer = connection.getresponse()
        assert answer.status == 400 and answer.headers["Connection"] == "close"
        assert "Content-Length" in json.loads(answer.read())["error"]
    finally:
        connection.close()
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
