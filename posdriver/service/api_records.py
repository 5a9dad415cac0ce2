"""The API's requests about the record: transactions and what the refund guard says of
them, what needs attention, recovery, incidents, print jobs and split refund plans.

Apart from :mod:`.api_desk` (money at the counter) because these read and tidy the
journal: everything the CLI's journal commands do has an endpoint here, so that while the
daemon owns the devices the CLI asks it instead of opening them.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from ..card import is_last4
from ..desk.models import WAITING_JOBS, IncidentNote
from .api_fields import (
    bad_request,
    conflict,
    currency_field,
    operator_field,
    record_id,
    shown,
    text_field,
    wait_field,
    when_field,
    whole_field,
)
from .api_http import Answer, ApiBase, Request

if TYPE_CHECKING:
    from ..journal.records import RefundPlan

JOB_STATES = ("queued", "printing", "done", "failed", "cancelled")


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
            since=None if since is None else when_field("since", since),
            until=None if until is None else when_field("until", until, end=True),
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
        since = None
        if since_text is not None:
            span = re.fullmatch(r"([0-9]{1,7})\s*([hdw])", since_text.strip())
            if span:
                hours = int(span.group(1)) * {"h": 1, "d": 24, "w": 168}[span.group(2)]
                try:
                    since = datetime.now().astimezone() - timedelta(hours=hours)
                except OverflowError:  # before the year 1: every incident is younger
                    since = None
            else:
                since = when_field(
                    "since", since_text, hint=", nor a span back from now such as 24h, 7d or 2w"
                )
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
        cashier = self.daemon.cashier(actor=operator_field(body))
        with self._plans:
            for plan in self.journal.plans_of(sale.id):
                view = self._plan_view(plan)
                if plan.state == "open" and view["left"]:
                    raise conflict(
                        f"sale {sale.id} already has refund plan {plan.id} open (still to "
                        f"refund {' + '.join(view['left'])} {plan.parts[0].currency}): run "
                        "or cancel it",
                        {"refund_plan": view},
                    )
            decision = cashier.refund_decision(sale, amount, on=terminal)
            guard = {"refund_guard": decision.as_dict()}
            if decision.allowed:
                raise conflict(
                    f"Refund {decision.amount} can go as one refund; no plan is needed "
                    "(POST /v1/operations with kind refund)",
                    guard,
                )
            if not decision.plan:
                raise conflict(decision.explain(), guard)
            plan_id, _ = cashier.refund_plan(sale, decision)
        view = self._plan_view(self.journal.plan(plan_id))
        return HTTPStatus.CREATED, {"refund_plan": view} | guard

    def refund_plan(self, req: Request) -> Answer:
        wait = wait_field(req)
        plan_id = record_id(req.params["id"], "refund plan")
        return HTTPStatus.OK, self.desk.refund_plan(plan_id, wait).as_dict()

    def run_plan(self, req: Request) -> Answer:
        """Carry out a plan's remaining parts, one refund after another, each journaled
        and linked to the sale and the plan; the first that does not go through stops the
        run and the rest stays listed. Each part's idempotency key is the run's key with
        ``#PART``, so a repeated request finds the run it started."""
        from ..journal import State
        from ..money import Money

        self._not_stopping()
        plan = self._plan(req)
        body = req.body()
        key = self._key(req, body, longest=120)
        terminal = self._terminal(body)
        cashier = self.daemon.cashier(actor=operator_field(body))
        sale = self.journal.get(plan.sale_id)
        with self._plans:
            plan = self.journal.plan(plan.id)  # as it is now, not as it was before the lock
            refunds = self.desk.plan_refunds(plan)
            if key is not None:
                earlier = [r for r in refunds if (r.idempotency_key or "").startswith(f"{key}#")]
                if earlier:
                    return HTTPStatus.OK, {
                        "refund_plan": self._plan_view(plan),
                        "operations": [op.as_dict() for op in earlier],
                        "repeated": True,
                    }
                for name in (key, *(f"{key}#{part}" for part in range(1, len(plan.parts) + 1))):
                    other = self.journal.by_idempotency_key(name)
                    if other is not None:
                        raise conflict(
                            f"idempotency key {key!r} was used for id:{other.id}, not for "
                            f"refund plan {plan.id}; use a new key"
                        )
            if self.desk.plan_running(plan.id):
                raise conflict(
                    f"refund plan {plan.id} is being carried out now; follow it with "
                    f"GET /v1/refund-plans/{plan.id}?wait=60"
                )
            if plan.state != "open":
                raise conflict(f"refund plan {plan.id} is {plan.state}; nothing is carried out")
            for op in refunds:
                if op.state in (State.PENDING, State.SENT, State.IN_DOUBT, State.NEEDS_REVIEW):
                    raise conflict(
                        f"refund plan {plan.id}: part {op.plan_part} (transaction {op.id}) is "
                        f"{op.state.value}; resolve it first"
                    )
            missing = self.desk.missing_parts(plan, refunds)
            if not missing:
                raise conflict(f"refund plan {plan.id} has nothing left to refund")
            # the guard again, on what is left: since the plan was made, part of the sale
            # may have been refunded another way, or it may be another day (daily cap)
            left = Money(sum(plan.parts[i - 1].minor for i in missing), sale.currency)
            decision = cashier.refund_decision(sale, left, on=terminal)
            if not decision.allowed and not decision.plan:
                raise conflict(decision.explain(), {"refund_guard": decision.as_dict()})
            key = key or f"api-{uuid.uuid4()}"
            run_key, plan_id = key, plan.id

            def carry_out() -> None:  # what ends it is logged and answered by Work
                cashier.carry_out_plan(
                    sale,
                    plan_id,
                    on=terminal,
                    idempotency_key=run_key,
                    should_stop=lambda: self.daemon.stopping,
                    on_part=lambda r: self.daemon.count_outcome("refund", r.operation.state),
                    checked=True,  # just now, under the lock, with the API's answers
                )

            thread = self._background(carry_out, f"api-refund-plan-{plan.id}", cashier)
            # only whether a run is alive is ever asked: finished ones are let go
            alive = {pid: t for pid, t in self.plan_runs.items() if t.is_alive()}
            self.plan_runs = alive | {plan.id: thread}
        first = self._started(thread, f"refund plan {plan.id}")
        return HTTPStatus.ACCEPTED, {
            "refund_plan": self._plan_view(self.journal.plan(plan.id)),
            "operations": [first.as_dict()],
            "repeated": False,
        }

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
