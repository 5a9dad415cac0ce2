"""The API's answers held to its OpenAPI document: :func:`conforms` is the check the API
tests make of every answer they get, :func:`call` sends any request (any method, any
body, raw bytes too) and returns what came back, errors included."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from openapi_schema_validator import OAS31Validator

from posdriver.service.openapi import OPENAPI, PATHS


def response_schema(path: str, method: str, status: int) -> dict[str, Any]:
    """The schema the document gives for this answer; fails when it gives none."""
    responses = PATHS[path][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {path} answered {status}, not documented"
    spec = responses[str(status)]
    if "$ref" in spec:
        spec = OPENAPI["components"]["responses"][spec["$ref"].rsplit("/", 1)[1]]
    schema: dict[str, Any] = spec["content"]["application/json"]["schema"]
    return schema


def conforms(path: str, method: str, status: int, body: Any) -> None:
    """``body`` is what the document says ``method path`` answers with ``status``."""
    schema = {"components": OPENAPI["components"], **response_schema(path, method, status)}
    OAS31Validator(schema).validate(body)


def call(
    api: str, method: str, path: str, body: dict[str, Any] | None = None, raw: bytes | None = None
) -> tuple[int, dict[str, str], Any]:
    """Any request: (status, headers, JSON body)."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(api + path, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())
