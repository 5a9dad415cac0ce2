"""The front desk's side of the API, as a careful front-desk program speaks it: JSON over
HTTP on 127.0.0.1, an ``Idempotency-Key`` on every money request, and a lost answer
(the daemon gone in the middle) reported as :class:`Lost` so that the caller can start
the daemon again and send the same request with the same key."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from typing import Any

ANSWER_TIMEOUT = 60.0  # past the longest ?wait= asked, so a slow answer is not a lost one


class Lost(Exception):
    """No answer: the connection was refused, reset or closed before the answer came."""


def call(url: str, body: dict[str, Any] | None = None, key: str | None = None) -> tuple[int, Any]:
    """GET ``url``, or POST ``body`` to it (with ``key`` as the Idempotency-Key)."""
    if not url.startswith("http://127.0.0.1:"):
        raise Lost(f"no daemon listening ({url or 'it died before it listened'})")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    request.add_header("Content-Type", "application/json")
    if key is not None:
        request.add_header("Idempotency-Key", key)
    try:
        with urllib.request.urlopen(request, timeout=ANSWER_TIMEOUT) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except (TimeoutError, urllib.error.URLError, http.client.HTTPException, ConnectionError) as exc:
        raise Lost(f"{url}: {exc}") from exc
