"""The API's OpenAPI document against the code and a running daemon: it is valid OpenAPI
3.1 (openapi-spec-validator), every route the handler dispatches is in it and nothing
else is, and on a real ``posdriver serve --emulate`` every documented operation answers
(never "no such endpoint") with a status it documents and a body its schema accepts.

:func:`conforms` is the check the other API tests use on every answer they get."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from posdriver.journal import Kind, open_journal
from posdriver.money import Money
from posdriver.service.api import ROUTES, find_route
from posdriver.service.openapi import OPENAPI, PATHS, SCHEMAS
from tests.support.api_answers import call, conforms
from tests.support.served import Served

METHODS = ("get", "post", "put", "patch", "delete")


def test_the_document_is_valid_openapi_and_describes_every_body() -> None:
    validate(OPENAPI)  # raises with the offending place
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(OPENAPI)
    for ref in refs:  # every reference lands somewhere
        target: Any = OPENAPI
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
    for path, item in PATHS.items():
        for method, spec in item.items():
            where = f"{method.upper()} {path}"
            assert spec.get("summary") and spec.get("operationId"), where
            for status, response in spec["responses"].items():
                if "$ref" not in response:
                    assert "application/json" in response["content"], (where, status)
                if (
                    status.startswith(("4", "5"))
                    and "$ref" not in response
                    and path != "/v1/health"
                ):
                    schema = response["content"]["application/json"]["schema"]
                    names = [s["$ref"] for s in schema.get("oneOf", [schema])]
                    assert all(
                        n.endswith(("/Error", "/RefundRefused", "/PlanExists")) for n in names
                    )
            if "requestBody" in spec:
                name = spec["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                request = SCHEMAS[name.rsplit("/", 1)[1]]
                assert request["additionalProperties"] is False, where
                assert "413" in spec["responses"], where
            for parameter in spec.get("parameters", []):
                if parameter["in"] == "path":
                    assert "{" + parameter["name"] + "}" in path, where
    # amounts are decimal strings, shown as such
    assert SCHEMAS["DecimalAmount"]["type"] == "string"
    assert SCHEMAS["DecimalAmount"]["examples"] == ["12.50"]


def test_every_route_is_documented_and_every_documented_operation_is_routed() -> None:
    routed = {(r.method, r.path) for r in ROUTES}
    documented = {(m.upper(), p) for p, item in PATHS.items() for m in item if m in METHODS}
    assert routed == documented
    for method, path in routed:  # and each template finds its own route
        concrete = path.replace("{id}", "7").replace("{txn}", "id:7")
        route, _ = find_route(method, concrete)
        assert (route.method, route.path) == (method, path)


def _seed(served: Served) -> None:
    """Something behind every id the walk below uses: a sale (id 1, its receipt's print
    job 1) and a split refund plan (1), made in the journal beside the daemon (the
    emulated terminal has no refund limit to make one through the API)."""
    sale = served.sale("10.00")
    assert served.get(f"/v1/operations/{sale}?wait=20")[1]["operation"]["state"] == "approved"
    with open_journal(served.state) as journal:
        journal.create_plan(sale, [Money.parse("5.00", "EUR")] * 2, "test")
        assert journal.get(sale).kind is Kind.SALE


def test_every_documented_operation_answers_as_documented(served: Served) -> None:
    _seed(served)
    for path, item in PATHS.items():
        concrete = path.replace("{id}", "1").replace("{txn}", "id:1")
        for method in item:
            # a POST gets a field no operation takes, so it is refused before it does
            # anything (no money moves here); a GET is asked plainly
            body = {"not_a_field": 1} if method == "post" else None
            status, headers, answer = call(served.api, method.upper(), concrete, body)
            where = f"{method.upper()} {concrete}"
            assert status != 404, (where, answer)
            assert headers["Content-Type"] == "application/json; charset=utf-8", where
            conforms(path, method, status, answer)
            if method == "post" and "requestBody" in item[method]:
                assert status == 400 and "not_a_field" in answer["error"], (where, answer)
    # the document served is the one in the code
    assert call(served.api, "GET", "/openapi.json")[2] == json.loads(json.dumps(OPENAPI))


def test_wrong_paths_methods_parameters_and_bodies_are_named(served: Served) -> None:
    status, _, body = call(served.api, "GET", "/v1/nothing")
    assert status == 404 and body == {"error": "no such endpoint: /v1/nothing"}
    status, headers, body = call(served.api, "DELETE", "/v1/pending")
    assert status == 405 and headers["Allow"] == "GET" and "use GET" in body["error"]
    status, headers, body = call(served.api, "GET", "/v1/print-jobs/run")
    assert status == 405 and headers["Allow"] == "POST"
    status, _, body = call(served.api, "GET", "/v1/transactions?sate=approved")
    assert status == 400 and "unknown query parameter 'sate'" in body["error"]
    assert "state" in body["error"]  # it lists what it takes
    status, _, body = call(served.api, "GET", "/v1/operations/1?wait=soon")
    assert status == 400 and "wait must be a number of seconds" in body["error"]
    status, _, body = call(served.api, "POST", "/v1/operations", raw=b"[1, 2]")
    assert status == 400 and body["error"] == "the body must be a JSON object"
    status, _, body = call(served.api, "POST", "/v1/operations", raw=b"{kind")
    assert status == 400 and "the body is not JSON" in body["error"]
    status, _, body = call(
        served.api, "POST", "/v1/operations", {"kind": "refund", "txn": 1, "ammount": "5.00"}
    )
    # a misspelt amount must not mean "refund everything that is left"
    assert status == 400 and "unknown field 'ammount'" in body["error"]
    status, _, body = call(served.api, "GET", "/v1/print-jobs/abc")
    assert status == 400 and body["error"] == "a print job id is a whole number, got 'abc'"
    conforms("/v1/print-jobs/{id}", "get", 400, body)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_schema_is_a_valid_json_schema(name: str) -> None:
    OAS31Validator.check_schema({"components": OPENAPI["components"], **SCHEMAS[name]})
