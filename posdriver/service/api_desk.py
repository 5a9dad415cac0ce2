"""The API's requests about money and the devices: starting and following operations,
reprints, a person's decision on an operation in doubt, the devices and their health.

These are the requests the front desk makes while a guest is at the counter; the
journal's history, incidents, print jobs and split refunds are in :mod:`.api_records`.
"""

from __future__ import annotations

import json
import uuid
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from ..card import is_last4
from ..terminal.protocol import Capability, CapabilityMissing
from .api_fields import (
    ApiError,
    bad_request,
    conflict,
    currency_field,
    operator_field,
    text_field,
    wait_field,
)
from .api_http import Answer, ApiBase, Request

if TYPE_CHECKING:
    from ..journal import Operation

MONEY_KINDS = ("sale", "refund", "reversal", "pre_auth", "booking")
_NOT_LOOKED: dict[str, Any] = {
    "status": "unknown",
    "text": "the journal has not been looked at yet",
    "writable": False,
    "free_bytes": None,
    "write_errors": 0,
    "at": None,
    "since": None,
}
ASKED_KEPT = 4096  # requests whose idempotency key is remembered with what they asked
# the largest terminal receipt number a person may give (nine digits, as receipt:N takes)
MAX_RECEIPT_NO = 999_999_999

# How long GET /v1/health?refresh= waits for the checks it asked for: a status read is
# quick unless a device is silent; a diagnosis dials the acquirer (seconds, more over a
# serial line). `posdriver check` waits a little longer than these.
REFRESH_WAIT = 10.0
REFRESH_ALL_WAIT = 60.0


class DeskApi(ApiBase):
    """Money, operations and devices (see the module docstring)."""

    # -- money ---------------------------------------------------------------------------
    def start_operation(self, req: Request) -> Answer:
        from ..money import Money

        self._not_stopping()
        body = req.body()
        kind = body.get("kind")
        if kind not in MONEY_KINDS:
            raise bad_request(f"kind must be one of {', '.join(MONEY_KINDS)}; got {kind!r}")
        key = self._key(req, body)
        asks = self._asks(body)
        if key is not None:
            earlier = self.journal.by_idempotency_key(key)
            if earlier is not None:
                differs = self._differs(key, asks, body, earlier)
                if differs:
                    raise conflict(
                        f"idempotency key {key!r} was used for id:{earlier.id} "
                        f"({earlier.kind.value} of {earlier.amount or '-'}), not for this "
                        f"request (its {' and '.join(differs)} "
                        f"{'differs' if len(differs) == 1 else 'differ'}); use a new key"
                    )
                return HTTPStatus.OK, {"operation": earlier.as_dict(), "repeated": True}
        currency = currency_field(body.get("currency"), self.daemon.config.currency)
        amount = None
        if body.get("amount") is not None:
            if not isinstance(body["amount"], str):
                raise bad_request(
                    'amount must be a decimal string such as "12.50" (not a JSON number)'
                )
            amount = Money.parse(body["amount"], currency)
        terminal = self._terminal(body)
        cashier = self.daemon.cashier(actor=operator_field(body))
        parent = None
        if kind in ("refund", "reversal", "booking"):
            ref = body.get("txn")
            if ref is None:
                raise bad_request(f"a {kind} needs txn: the journal id it refers to")
            parent = self._txn(ref)
            self._check_parent(kind, parent)
        if kind in ("sale", "pre_auth", "booking") and amount is None:
            raise bad_request(f"a {kind} needs an amount")
        if kind in ("pre_auth", "booking"):  # a terminal that has none: 409, up front
            on = parent.terminal if parent is not None else terminal
            try:
                cashier.terminals_able(Capability.PRE_AUTHORISATION, on=on)
            except CapabilityMissing as exc:
                raise conflict(str(exc)) from None
        if kind == "refund":
            decision = cashier.refund_decision(parent, amount, on=terminal)
            if not decision.allowed:
                raise conflict(decision.explain(), {"refund_guard": decision.as_dict()})
            amount = decision.amount
        key = key or f"api-{uuid.uuid4()}"
        self._asked(key, asks)

        def run() -> None:  # what ends it is logged and answered by Work and _started
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

        thread = self._background(run, f"api-{kind}", cashier)
        op = self._started(thread, kind)
        return HTTPStatus.ACCEPTED, {"operation": op.as_dict(), "repeated": False}

    # -- what a request asks, for its idempotency key ----------------------------------
    def _asks(self, body: dict[str, Any]) -> dict[str, Any]:
        """What a money request asks for, written as the first request and a repeat of it
        are compared: the same amount however written (``"12.5"``, ``"12.50"``), the
        same currency in any case, the same transaction however named (``17``,
        ``"id:17"``). A value that cannot be read stays as it is, and differs."""
        from ..journal import JournalError
        from ..money import AmountError, Money

        currency = body.get("currency")
        if currency is None:
            currency = self.daemon.config.currency
        elif isinstance(currency, str):
            currency = currency.strip().upper()
        amount = body.get("amount")
        if isinstance(amount, str) and isinstance(currency, str):
            try:
                amount = Money.parse(amount, currency).minor
            except AmountError:
                pass
        txn = body.get("txn")
        if txn is not None:
            try:
                txn = self._txn(txn).id
            except (ApiError, JournalError):
                pass
        return {
            "kind": body.get("kind"),
            "amount": amount,
            "currency": currency,
            "terminal": body.get("terminal"),
            "txn": txn,
        }

    def _asked(self, key: str, asks: dict[str, Any]) -> None:
        """Remember what the request under ``key`` asked (the newest few thousand)."""
        with self._threads:
            self.asked[key] = asks
            while len(self.asked) > ASKED_KEPT:
                self.asked.pop(next(iter(self.asked)))

    def _differs(
        self, key: str, asks: dict[str, Any], body: dict[str, Any], earlier: Operation
    ) -> list[str]:
        """What this request asks differently from the one that used ``key`` first: all
        of it when this daemon took that request; otherwise (a key from before a
        restart, or from the CLI) what the journal holds of it: the kind, and the
        amount, currency and transaction where this request names them (the journal
        has the terminal an operation ran on, which failover may have chosen, not the
        one it was asked to start on)."""
        first = self.asked.get(key)
        if first is not None:
            return [name for name in asks if asks[name] != first[name]]
        journal = {
            "kind": earlier.kind.value,
            "amount": None if earlier.amount is None else earlier.amount.minor,
            "currency": earlier.currency,
            "txn": earlier.parent_id,
        }
        return [
            name
            for name, value in journal.items()
            if (name == "kind" or body.get(name) is not None) and asks[name] != value
        ]

    def _check_parent(self, kind: str, parent: Any) -> None:
        """What a refund, reversal or booking refers to must be able to take it: say so
        now (409), not after the request was accepted."""
        from ..journal import Kind, State

        what = f"id:{parent.id} is {parent.state.value.replace('_', ' ')} ({parent.kind.value})"
        if kind == "booking" and (
            parent.kind is not Kind.PRE_AUTH or parent.state is not State.APPROVED
        ):
            raise conflict(f"{what}: only an approved pre-authorisation can be booked")
        if kind == "reversal":
            if parent.kind is not Kind.SALE or parent.state is not State.APPROVED:
                raise conflict(f"{what}: only an approved sale can be reversed")
            if parent.receipt_no is None:
                raise conflict(f"id:{parent.id} has no terminal receipt number")
            for child in self.journal.children(parent.id):
                if child.kind is Kind.REVERSAL and child.state not in (
                    State.DECLINED,
                    State.ABORTED,
                ):
                    raise conflict(
                        f"id:{parent.id} already has a reversal "
                        f"(id:{child.id}, {child.state.value})"
                    )

    def operation(self, req: Request) -> Answer:
        wait = wait_field(req)
        op = self._op(req.params["id"])
        return HTTPStatus.OK, self.desk.settled(op.id, wait).as_dict()

    def reprint(self, req: Request) -> Answer:
        """A copy goes to the printer of the terminal that made the operation (its
        ``printer`` in the config), unless the request names one. While the original
        has not printed yet, the guest gets that and no copy is queued."""

        op = self._op(req.params["id"])
        body = req.body()
        copy = body.get("copy", "customer")
        if copy not in ("customer", "merchant"):
            raise bad_request(f"copy must be customer or merchant, got {copy!r}")
        named = text_field(body, "printer")
        if named is not None:
            self.daemon.config.printer(named)  # a wrong name is a 400 listing the real ones
        # the operator is read when a copy is queued (a waiting original is answered first)
        reprinted = self.desk.reprint(op.id, copy, lambda: operator_field(body), named)
        return HTTPStatus.ACCEPTED, reprinted.as_dict()

    def resolve(self, req: Request) -> Answer:
        """A person's decision on an operation in doubt, with the CLI's rules: a note
        saying why, who decided, a receipt built and queued for an approval, an
        incident in the fault record (``Cashier.resolve``, which ``posdriver resolve``
        uses too)."""
        from ..desk.models import Decision
        from ..journal import State

        op = self._op(req.params["id"])
        body = req.body()
        verdict = body.get("state")
        if verdict not in ("approved", "declined"):
            raise bad_request(f"state must be approved or declined, got {verdict!r}")
        note = text_field(body, "note", required=True)
        assert note is not None
        who = operator_field(body, required=True)
        receipt_no = body.get("receipt_no")
        if receipt_no is not None and (
            isinstance(receipt_no, bool)
            or not isinstance(receipt_no, int)
            or not 0 <= receipt_no <= MAX_RECEIPT_NO
        ):
            raise bad_request(
                f"receipt_no must be a whole number 0..{MAX_RECEIPT_NO}, "
                f"got {json.dumps(receipt_no)}"
            )
        last4 = body.get("last4")
        if last4 is not None and not is_last4(last4):
            raise bad_request(f"last4 takes exactly four digits, got {json.dumps(last4)}")
        decision = Decision(State(verdict), note, who, receipt_no, last4)
        return HTTPStatus.OK, self.desk.resolve(op.id, decision).as_dict()

    # -- devices -------------------------------------------------------------------------
    def devices(self, req: Request) -> Answer:
        return HTTPStatus.OK, [d.as_dict() for d in self.daemon.snapshot().devices]

    def health(self, req: Request) -> Answer:
        from .snapshot import NAGIOS

        refresh = req.one("refresh")
        late: list[str] = []
        if refresh is not None:
            if refresh not in ("status", "all"):
                raise bad_request(f"refresh must be status or all, got {refresh!r}")
            dial = refresh == "all"
            late = self.daemon.check_now(
                connectivity=dial, timeout=REFRESH_ALL_WAIT if dial else REFRESH_WAIT
            )
        self.daemon.look_at_journal()
        snap = self.daemon.snapshot()
        worst = "ok"
        for device in snap.devices:
            statuses = [c.status for c in device.checks.values()] or ["unknown"]
            if not device.up:
                statuses.append("critical")
            for status in statuses:
                if NAGIOS[status] > NAGIOS[worst]:
                    worst = status
        # no payment goes out unless the journal takes it first: its check counts as
        # much as any device's (not looked at yet is unknown, which is not OK)
        journal = snap.journal.as_dict() if snap.journal else _NOT_LOOKED
        if NAGIOS[journal["status"]] > NAGIOS[worst]:
            worst = journal["status"]
        body = {
            "status": worst,
            "devices": [d.as_dict() for d in snap.devices],
            "journal": journal,
            "in_doubt": snap.in_doubt,
            "needs_review": snap.needs_review,
            "print_jobs": snap.print_jobs,
        }
        if refresh is not None:
            body["late"] = late
        return (
            HTTPStatus.OK if worst in ("ok", "warning") else HTTPStatus.SERVICE_UNAVAILABLE
        ), body

    def openapi(self, req: Request) -> Answer:
        from .openapi import OPENAPI

        return HTTPStatus.OK, OPENAPI
