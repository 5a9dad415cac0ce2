"""The running daemon's API, as a client: requests with its token, answers as JSON, and
its error answers as :class:`DaemonError` (:class:`DaemonUnreachable` when nothing
answered). :mod:`.remote` reads the answers back into records; :func:`find` says whether a
daemon answers at the configured address, or at one given (``--api``).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urlencode

from ..config import Config
from ..errors import PosdriverError
from ..journal import Kind, Operation, UnknownTransaction
from .wire import decode

DONE_JOB_STATES = ("done", "failed", "cancelled")


class DaemonError(PosdriverError):
    """The daemon answered with an error; ``status`` is the HTTP status, ``body`` its
    JSON answer (``{"error": ...}`` and whatever goes with it)."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(str(body.get("error", body)))
        self.status = status
        self.body = body


class DaemonUnreachable(DaemonError):
    """No answer at all: nothing listens there, or it stopped answering."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(0, {"error": f"the daemon at {url} did not answer: {reason}"})


class Daemon:
    """A client of the local API."""

    def __init__(self, url: str, token: str | None) -> None:
        self.url = url
        self.token = token
        # the state directory whose journal it serves, as /v1/health says (None: it did
        # not say: an older posdriver, or one that refused to tell this caller)
        self.state_dir: str | None = None

    def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        timeout: float = 10,
        headers: dict[str, str] | None = None,
    ) -> Any:
        import urllib.error  # here: a command that finds no daemon never needs them
        import urllib.request

        sent = {"Content-Type": "application/json", **(headers or {})}
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, headers=sent, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read())
            except ValueError:
                detail = {"error": f"HTTP {exc.code}"}
            if not isinstance(detail, dict):
                detail = {"error": f"HTTP {exc.code}"}
            raise DaemonError(exc.code, detail) from None
        except (OSError, ValueError) as exc:  # refused, reset, timed out, not JSON
            reason = getattr(exc, "reason", None) or exc
            raise DaemonUnreachable(self.url, str(reason)) from None

    def get(self, path: str, timeout: float = 10, **query: Any) -> Any:
        params = {k: v for k, v in query.items() if v is not None}
        return self._request(
            "GET", path + (f"?{urlencode(params)}" if params else ""), None, timeout
        )

    def post(
        self, path: str, body: dict[str, Any], timeout: float = 10, key: str | None = None
    ) -> Any:
        clean = {k: v for k, v in body.items() if v is not None}
        headers = {"Idempotency-Key": key} if key else None
        return self._request("POST", path, clean, timeout, headers)

    # -- money ---------------------------------------------------------------------------
    def start(self, body: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = self.post("/v1/operations", body)
        return answer

    def operation(self, op_id: int, wait: float = 0.0) -> dict[str, Any]:
        answer: dict[str, Any] = self.get(
            f"/v1/operations/id:{op_id}", timeout=wait + 10, wait=f"{wait:g}"
        )
        return answer

    def reprint(self, op_id: int, copy: str, operator: str | None = None) -> dict[str, Any]:
        answer: dict[str, Any] = self.post(
            f"/v1/operations/id:{op_id}/reprint", {"copy": copy, "operator": operator}
        )
        return answer

    def printed(self, op_id: int, job_id: int, timeout: float) -> dict[str, Any] | None:
        """Wait for print job ``job_id`` to be done; the job as last seen (None: gone)."""
        jobs = self.await_jobs(op_id, [job_id], timeout)
        return jobs[0] if jobs else None

    def await_jobs(
        self, op_id: int, job_ids: Sequence[int], timeout: float
    ) -> list[dict[str, Any]]:
        """Wait up to ``timeout`` for the print jobs of ``op_id`` to end (printed,
        failed, cancelled); the jobs as last seen, in the order asked."""
        deadline = time.monotonic() + timeout
        while True:
            jobs = {j["id"]: j for j in self.operation(op_id)["print_jobs"]}
            seen = [jobs[i] for i in job_ids if i in jobs]
            if all(j["state"] in DONE_JOB_STATES for j in seen) or time.monotonic() >= deadline:
                return seen
            time.sleep(0.1)

    # -- the journal ---------------------------------------------------------------------
    def transaction(self, ref: str) -> dict[str, Any]:
        """``GET /v1/transactions/{txn}``; an unknown or ambiguous one is the journal's
        own error (as when the CLI reads the journal)."""
        try:
            answer: dict[str, Any] = self.get(f"/v1/transactions/{quote(ref.strip(), safe=':')}")
        except DaemonError as exc:
            if exc.status == 404 and "no such endpoint" not in str(exc):
                raise UnknownTransaction(str(exc)) from None
            raise
        return answer

    def find(self, ref: str, *, last_kinds: Sequence[Kind] = ()) -> Operation:
        """The operation ``ref`` names, as :meth:`Journal.find` reads it."""
        if ref.strip().lower() == "last" and last_kinds:
            rows = self.get("/v1/transactions", kind=",".join(k.value for k in last_kinds), limit=1)
            if not rows:
                raise UnknownTransaction(
                    f"the journal has no {'/'.join(k.value for k in last_kinds)} yet"
                )
            return decode(Operation, rows[0])
        return decode(Operation, self.transaction(ref)["operation"])


def find(config: Config, explicit_devices: bool, api: str | None = None) -> Daemon | None:
    """The running daemon, when one answers at the configured API address. An address
    given (``--api``, ``POSDRIVER_API``) is where the daemon must be: silence there is
    :class:`DaemonUnreachable`, not a reason to open the journal instead."""
    if explicit_devices:
        return None
    from ..config import parse_address

    address = config.service.api if api is None else parse_address(api)
    if api is None and not _listening(address.host, address.port, 0.5):
        return None  # nothing listens at the configured address: no daemon runs
    daemon = Daemon(f"http://{address}", config.service.token)
    try:
        health = daemon._request("GET", "/v1/health", timeout=0.5 if api is None else 5)
    except DaemonUnreachable:
        if api is not None:
            raise
        return None
    except DaemonError as exc:
        health = exc.body  # it answered (503 is an answer: something is down; 401 too)
    served = health.get("state_dir") if isinstance(health, dict) else None
    daemon.state_dir = served if isinstance(served, str) else None
    return daemon


def _listening(host: str, port: int, timeout: float) -> bool:
    """Whether something accepts connections at ``host:port``: a refused connect is the
    common answer when no daemon runs, and costs no HTTP client to learn."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
