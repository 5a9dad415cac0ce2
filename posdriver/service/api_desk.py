"""The API's requests about money and the devices: starting and following operations,
reprints, a person's decision on an operation in doubt, the devices and their health.

These are the requests the front desk makes while a guest is at the counter; the
journal's history, incidents, print jobs and split refunds are in :mod:`.api_records`.
"""

from __future__ import annotations

import json
import os
import time
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from ..card import is_last4
from ..journal.states import FINAL, NEEDS_ATTENTION, Kind
from .api_fields import (
    bad_request,
    operator_field,
    text_field,
    wait_field,
    whole_field,
)
from .api_http import Answer, ApiBase, Request
from .progress import LONGEST

if TYPE_CHECKING:
    from ..desk import LocalDesk
    from ..desk.models import Settled

MONEY_KINDS = tuple(kind.value for kind in Kind)  # as the journal names them
SETTLED = FINAL | NEEDS_ATTENTION  # where a wait for an operation's end stops
_NOT_LOOKED: dict[str, Any] = {
    "status": "unknown",
    "text": "the journal has not been looked at yet",
    "writable": False,
    "free_bytes": None,
    "write_errors": 0,
    "at": None,
    "since": None,
}
# the largest terminal receipt number a person may give (nine digits, as receipt:N takes)
MAX_RECEIPT_NO = 999_999_999

# How long GET /v1/health?refresh= waits for the checks it asked for: a status read is
# quick unless a device is silent; a diagnosis dials the acquirer (seconds, more over a
# serial line). `posdriver check` waits a little longer than these.
REFRESH_WAIT = 10.0
PROGRESS_RECHECK = 1.0  # seconds: the journal is looked at again while progress is awaited
REFRESH_ALL_WAIT = 60.0


class DeskApi(ApiBase):
    """Money, operations and devices (see the module docstring)."""

    # -- money ---------------------------------------------------------------------------
    def start_operation(self, req: Request) -> Answer:
        """Any money operation, started by the daemon's desk and answered once it is
        journaled (202), or the one its idempotency key stands for (200)."""
        from ..desk.models import Order
        from ..journal import Kind

        self._not_stopping()
        body = req.body()
        kind = body.get("kind")
        if kind not in MONEY_KINDS:
            raise bad_request(f"kind must be one of {', '.join(MONEY_KINDS)}; got {kind!r}")
        order = Order(
            Kind(kind),
            amount=body.get("amount"),
            currency=body.get("currency"),
            terminal=body.get("terminal"),
            txn=body.get("txn"),
            idempotency_key=self._key(req, body),
            operator=body.get("operator"),
        )
        started = self.money_desk().start(order)
        return (HTTPStatus.OK if started.repeated else HTTPStatus.ACCEPTED), started.as_dict()

    def money_desk(self) -> LocalDesk:
        """The daemon's desk, starting money work on the API's threads."""
        from .api_devices import money_desk

        return money_desk(self)

    def operation(self, req: Request) -> Answer:
        wait = wait_field(req)
        op = self._op(req.params["id"])
        seen = req.one("progress")
        if seen is None:
            settled = self.desk.settled(op.id, wait)
        else:
            settled = self._progressed(op.id, whole_field(seen, "progress", 0, LONGEST, 0), wait)
        return HTTPStatus.OK, settled.as_dict() | {"progress": self.progress.texts(op.id)}

    def _progressed(self, op_id: int, seen: int, wait: float) -> Settled:
        """The operation once it settles, once its terminal says more than the ``seen``
        texts, or once ``wait`` is up. The texts wake the wait; so does the end of the
        terminal's work on it, and the journal is looked at again at least every
        :data:`PROGRESS_RECHECK` (what ended it may have been another's doing)."""
        deadline = time.monotonic() + wait
        while True:
            settled = self.desk.settled(op_id)
            left = deadline - time.monotonic()
            if settled.operation.state in SETTLED or len(self.progress.texts(op_id)) > seen:
                return settled
            if left <= 0:
                return settled
            if not self.progress.running(op_id):  # nothing more to hear: the journal's wait
                return self.desk.settled(op_id, left)
            self.progress.wait(op_id, seen, min(left, PROGRESS_RECHECK))

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
            "state_dir": os.path.realpath(self.daemon.config.state_dir),
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
