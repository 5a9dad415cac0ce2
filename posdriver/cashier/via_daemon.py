"""The journal commands, sent to the running daemon.

While ``posdriver serve`` runs, it owns every configured device (and holds their locks),
so the desk's commands (``sale``, ``refund``, ``txn``, ``reprint``, ``pending``,
``recover``, ``resolve``, ``incidents``, ``jobs``) ask its API instead of opening the
devices or the journal themselves; the daemon is found at the config's ``service.api``.
Commands given explicit devices (``--terminal``/``--printer``) never use it: they name
the devices to talk to.

The answers are turned back into the journal's own records (:func:`operation`,
:func:`job`, ...), so that the CLI prints exactly what it prints when it reads the
journal itself.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from ..config import Config
from ..errors import PosdriverError
from ..journal import (
    Event,
    Incident,
    Kind,
    Operation,
    PrintJob,
    State,
    StoredReceipt,
    UnknownTransaction,
)
from ..journal.records import RefundPlan
from ..money import Money

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

    def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        timeout: float = 10,
        headers: dict[str, str] | None = None,
    ) -> Any:
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
            return operation(rows[0])
        return operation(self.transaction(ref)["operation"])


def find(config: Config, explicit_devices: bool) -> Daemon | None:
    """The running daemon, when one answers at the configured API address."""
    if explicit_devices:
        return None
    url = f"http://{config.service.api}"
    daemon = Daemon(url, config.service.token)
    try:
        daemon._request("GET", "/v1/health", timeout=0.5)
    except DaemonUnreachable:
        return None
    except DaemonError:
        return daemon  # it answered (503 is an answer: something is down; 401 too)
    return daemon


# -- answers back into journal records ---------------------------------------------------
def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _money(text: str | None, currency: str) -> Money | None:
    return None if text is None else Money.parse(text, currency, allow_zero=True)


def operation(d: dict[str, Any]) -> Operation:
    created = _time(d["created_at"])
    updated = _time(d["updated_at"])
    assert created is not None and updated is not None
    return Operation(
        id=d["id"],
        kind=Kind(d["kind"]),
        state=State(d["state"]),
        amount=_money(d["amount"], d["currency"]),
        currency=d["currency"],
        terminal=d["terminal"],
        created_at=created,
        updated_at=updated,
        parent_id=d["parent_id"],
        plan_id=d["plan_id"],
        plan_part=d["plan_part"],
        ref_receipt_no=d["ref_receipt_no"],
        trace=d["trace"],
        receipt_no=d["receipt_no"],
        approval_code=d["approval_code"],
        terminal_id=d["terminal_id"],
        card_brand=d["card_brand"],
        card_last4=d["card_last4"],
        result_code=d["result_code"],
        reason=d["reason"],
        doubt_stage=d["doubt_stage"],
        terminal_at=_time(d["terminal_at"]),
        resolved_by=d["resolved_by"],
        note=d["note"],
    )


def event(d: dict[str, Any], op_id: int) -> Event:
    at = _time(d["at"])
    assert at is not None
    return Event(0, op_id, at, d["event"], d["from"], d["to"], d["actor"], d["detail"])


def receipt(d: dict[str, Any], op_id: int) -> StoredReceipt:
    created = _time(d["created_at"])
    assert created is not None
    return StoredReceipt(
        d["id"], op_id, d["copy"], d["source"], tuple(d["lines"]), created, d["reprints"]
    )


def job(d: dict[str, Any]) -> PrintJob:
    created, updated = _time(d["created_at"]), _time(d["updated_at"])
    assert created is not None and updated is not None
    return PrintJob(
        id=d["id"],
        receipt_id=d["receipt_id"],
        printer=d["printer"],
        purpose=d["purpose"],
        reprint_no=d["reprint_no"],
        state=d["state"],
        continuation=d["continuation"],
        attempts=d["attempts"],
        created_at=created,
        updated_at=updated,
        finished_at=_time(d["finished_at"]),
        last_error=d["last_error"],
        operation_id=d["operation_id"],
    )


def incident(d: dict[str, Any]) -> Incident:
    at = _time(d["at"])
    assert at is not None
    return Incident(
        id=d["id"],
        at=at,
        place=d["place"],
        device=d["device"],
        category=d["category"],
        fault=d["fault"],
        action=d["action"],
        result=d["result"],
        notes=d["notes"],
        operation_id=d["operation_id"],
        actor=d["actor"],
    )


def plan(d: dict[str, Any]) -> RefundPlan:
    created = _time(d["created_at"])
    assert created is not None
    return RefundPlan(
        id=d["id"],
        sale_id=d["sale_id"],
        parts=tuple(Money.parse(p, d["currency"], allow_zero=True) for p in d["parts"]),
        state=d["state"],
        created_at=created,
        actor=d["actor"],
    )


def spool_report(jobs: Sequence[dict[str, Any]]) -> Any:
    """Print jobs as the daemon last saw them, as the report a spooler run gives: each
    printed, or still waiting with the reason it gave."""
    from .spooler import JobOutcome, SpoolReport

    return SpoolReport(
        tuple(
            JobOutcome(
                job(j),
                j["state"] == "done",
                None if j["state"] == "done" else (j["last_error"] or _waiting(j["state"])),
            )
            for j in jobs
        )
    )


def run_report(answer: dict[str, Any]) -> Any:
    """``POST /v1/print-jobs/run``'s answer as the spooler's own report."""
    from .spooler import JobOutcome, SpoolReport

    return SpoolReport(tuple(JobOutcome(job(j), j["printed"], j["reason"]) for j in answer["jobs"]))


def _waiting(state: str) -> str:
    return {"cancelled": "the job was cancelled", "failed": "printing failed"}.get(
        state, "waiting for the printer"
    )
