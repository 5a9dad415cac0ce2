"""The API's requests about the record: transactions and what the refund guard says of
them, what needs attention, recovery, incidents, print jobs and split refund plans.

Apart from :mod:`.api_desk` (money at the counter) because these read and tidy the
journal: everything the CLI's journal commands do has an endpoint here, so that while the
daemon owns the devices the CLI asks it instead of opening them.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from ..card import is_last4
from ..desk.models import WAITING_JOBS, IncidentNote
from ..desk.times import point_in_time
from ..journal.records import JOB_STATES
from .api_fields import (
    bad_request,
    conflict,
    currency_field,
    operator_field,
    record_id,
    shown,
    text_field,
    wait_field,
    whole_field,
)
from .api_http import Answer, ApiBase, Request

if TYPE_CHECKING:
    from ..journal.records import RefundPlan


class RecordsApi(ApiBase):
    """The journal, incidents, print jobs and refund plans (see the module docstring)."""

    # -- the journal ---------------------------------------------------------------------
    def transactions(self, req: Request) -> Answer:
        from ..journal import Kind, State
        from ..journal.journal import Filters
        from ..money import Money

        limit = whole_field(req.one("limit"), "limit", 1, 1000, 50)
        try:
            states = tuple(State(s) for s in req.many("state"))
            kinds = tuple(Kind(k) for k in req.many("kind"))
        except ValueError as exc:
            raise bad_request(
                f"{exc}; states: {', '.join(s.value for s in State)}; kinds: "
                f"{', '.join(k.value for k in Kind)}"
            ) from None
        last4 = req.one("last4")
        if last4 is not None and not is_last4(last4):
            raise bad_request(f"last4 must be the card's last four digits, got {shown(last4)}")
        amount = req.one("amount")
        currency = currency_field(req.one("currency"), self.daemon.config.currency)
        since, until = req.one("since"), req.one("until")
        filters = Filters(
            since=None if since is None else point_in_time("since", since),
            until=None if until is None else point_in_time("until", until, end=True),
            amount=None if amount is None else Money.parse(amount, currency),
            last4=last4,
            states=states,
            kinds=kinds,
            terminal=req.one("terminal"),
            limit=limit,
        )
        return HTTPStatus.OK, [op.as_dict() for op in self.desk.transactions(filters)]

    def transaction(self, req: Request) -> Answer:
        """Everything ``posdriver txn show`` prints about one transaction."""
        return HTTPStatus.OK, self.desk.transaction(req.params["txn"]).as_dict()

    def refund_guard(self, req: Request) -> Answer:
        from ..money import Money

        sale = self.desk.find(req.params["txn"])
        text = req.one("amount")
        amount = None if text is None else Money.parse(text, sale.currency)
        terminal = self._terminal({"terminal": req.one("terminal")})
        return HTTPStatus.OK, self.desk.refund_guard(sale.id, amount, terminal).answer

    def pending(self, req: Request) -> Answer:
        return HTTPStatus.OK, self.desk.pending().as_dict()

    def recover(self, req: Request) -> Answer:
        return HTTPStatus.OK, self.desk.recover().as_dict()

    def incidents(self, req: Request) -> Answer:
        since_text = req.one("since")
        since = None if since_text is None else point_in_time("since", since_text)
        limit = whole_field(req.one("limit"), "limit", 1, 10000, 1000)
        return HTTPStatus.OK, [i.as_dict() for i in self.desk.incidents(since, limit)]

    def add_incident(self, req: Request) -> Answer:
        body = req.body()
        fault = text_field(body, "fault", required=True)
        action = text_field(body, "action", required=True)
        result = text_field(body, "result", required=True)
        assert fault is not None and action is not None and result is not None
        linked = None if body.get("txn") is None else self._txn(body["txn"])
        device, notes = text_field(body, "device"), text_field(body, "notes")
        note = IncidentNote(
            fault=fault,
            action=action,
            result=result,
            operator=operator_field(body),
            device=device,
            notes=notes,
            txn=None if linked is None else linked.id,
        )
        incident = self.desk.add_incident(note)
        return HTTPStatus.CREATED, incident.as_dict()

    # -- print jobs ----------------------------------------------------------------------
    def print_jobs(self, req: Request) -> Answer:
        states = req.many("state") or list(WAITING_JOBS)
        wrong = [s for s in states if s not in JOB_STATES]
        if wrong:
            raise bad_request(
                f"state {wrong[0]!r} is not a print job state; states: {', '.join(JOB_STATES)}"
            )
        limit = whole_field(req.one("limit"), "limit", 1, 1000, 100)
        jobs = self.desk.print_jobs(states, limit)
        return HTTPStatus.OK, [j.as_dict() for j in jobs]

    def print_job(self, req: Request) -> Answer:
        job = self.desk.print_job(record_id(req.params["id"], "print job"))
        return HTTPStatus.OK, job.as_dict()

    def run_print_jobs(self, req: Request) -> Answer:
        """Print what waits now. The printing is done by each printer's worker, which
        owns the printer (the daemon's ``spool_now``); a printer that cannot print now
        leaves its jobs waiting, with the reason, and the daemon prints them later."""
        printer = text_field(req.body(), "printer")
        if not self.daemon.config.printers:
            raise conflict("no receipt printer is configured")
        if printer is not None:
            self.daemon.config.printer(printer)  # a wrong name is a 400 listing the real ones
        self._not_stopping()
        return HTTPStatus.OK, self.desk.run_print_jobs(printer, 0.0).as_dict()

    def cancel_print_job(self, req: Request) -> Answer:
        job_id = record_id(req.params["id"], "print job")
        who = operator_field(req.body())
        return HTTPStatus.OK, self.desk.cancel_print_job(job_id, who).as_dict()

    # -- split refunds -------------------------------------------------------------------
    def _plan_view(self, plan: RefundPlan) -> dict[str, Any]:
        return self.desk.view(plan).as_dict()

    def _plan(self, req: Request) -> RefundPlan:
        return self.journal.plan(record_id(req.params["id"], "refund plan"))

    def create_plan(self, req: Request) -> Answer:
        """A split plan, made only when the terminal's per-refund limit is all that
        stops the refund (the guard decides, as for ``posdriver refund --split``)."""
        from ..money import Money
        from .api_devices import money_desk

        body = req.body()
        if body.get("txn") is None:
            raise bad_request("txn is required: the sale to refund")
        sale = self._txn(body["txn"])
        amount = None
        if body.get("amount") is not None:
            if not isinstance(body["amount"], str):
                raise bad_request(
                    'amount must be a decimal string such as "12.50" (not a JSON number)'
                )
            amount = Money.parse(body["amount"], sale.currency)
        terminal = self._terminal(body)
        made = money_desk(self).make_plan(sale.id, amount, terminal, operator_field(body))
        return HTTPStatus.CREATED, made.as_dict()

    def refund_plan(self, req: Request) -> Answer:
        wait = wait_field(req)
        plan_id = record_id(req.params["id"], "refund plan")
        return HTTPStatus.OK, self.desk.refund_plan(plan_id, wait).as_dict()

    def run_plan(self, req: Request) -> Answer:
        """Carry out a plan's remaining parts, one refund after another, each journaled
        and linked to the sale and the plan; the first that does not go through stops the
        run and the rest stays listed. Each part's idempotency key is the run's key with
        ``#PART``, so a repeated request finds the run it started."""
        from .api_devices import money_desk

        self._not_stopping()
        plan = self._plan(req)
        body = req.body()
        key = self._key(req, body, longest=120)
        terminal = self._terminal(body)
        started = money_desk(self).start_plan(plan.id, terminal, operator_field(body), key)
        return (HTTPStatus.OK if started.repeated else HTTPStatus.ACCEPTED), started.as_dict()

    def cancel_plan(self, req: Request) -> Answer:
        plan = self._plan(req)
        body = req.body()
        reason = text_field(body, "reason", required=True)
        assert reason is not None
        who = operator_field(body)
        with self._plans:
            if self.desk.plan_running(plan.id):
                raise conflict(
                    f"refund plan {plan.id} is being carried out now; cancel it when the "
                    "refund in progress has ended"
                )
            plan = self.journal.plan(plan.id)
            if plan.state != "open":
                raise conflict(f"refund plan {plan.id} is {plan.state} already")
            left = [m.decimal() for m in self.desk.cancel_plan(plan.id, reason, who)]
        return HTTPStatus.OK, {
            "refund_plan": self._plan_view(self.journal.plan(plan.id)),
            "not_refunded": left,
        }
