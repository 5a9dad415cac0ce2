"""Cashier is the facade the CLI, the API and recovery are written against.

Its work lives in one module per job (writeahead, refunds, resolution, handoff); what
callers hold stays where it was: the same public methods, taking the same arguments, and
the names they import from posdriver.cashier.cashier, which are the very objects the
rooms define (an ``except RefundRefused`` must catch what refunds.py raises).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import posdriver.cashier.cashier as facade
from posdriver.cashier import refunds, resolution, writeahead
from posdriver.cashier.cashier import Cashier
from posdriver.cashier.terminals import make_terminal

# method -> its parameters after self: name, kind, default ("-" for none)
PUBLIC = {
    "book": "pre_auth, amount, *idempotency_key=None",
    "cancel_plan": "plan_id, reason",
    "carry_out_plan": (
        "sale, plan_id, *on=None, *idempotency_key=None, *should_stop=None, *on_part=None, "
        "*checked=False"
    ),
    "open_terminal": "cfg, *on_start=None",
    "parts_left": "plan_id",
    "pre_authorise": "amount, *on=None, *idempotency_key=None",
    "print_jobs": "job_ids=None",
    "refund": (
        "sale, amount, *on=None, *failover=True, *plan_id=None, *plan_part=None, "
        "*checked=False, *idempotency_key=None"
    ),
    "refund_decision": "sale, amount, *on=None",
    "refund_plan": "sale, decision",
    "resolve": "op, new, *note, *by=None, *receipt_no=None, *last4=None",
    "reverse": "sale, *on=None, *idempotency_key=None",
    "run": (
        "kind, amount, call, *terminals, *currency=None, *parent_id=None, "
        "*ref_receipt_no=None, *ref_reference=None, *plan_id=None, *plan_part=None, "
        "*idempotency_key=None"
    ),
    "sale": "amount, *on=None, *failover=True, *idempotency_key=None",
    "store_receipts": "op, customer, merchant=(), *source",
    "terminals_able": "capability, *on",
    "__init__": (
        "journal, config, *terminal_factory=make_terminal, *spooler=None, *actor=None, "
        "*progress=None, *print_wait=None, *opener=None"
    ),
}


def parameters(method: Callable[..., object]) -> str:
    """A method's parameters after ``self`` as PUBLIC writes them."""
    shown = []
    for p in list(inspect.signature(method).parameters.values())[1:]:
        star = "*" if p.kind is inspect.Parameter.KEYWORD_ONLY else ""
        if p.default is inspect.Parameter.empty:
            default = ""
        elif p.default is make_terminal:
            default = "=make_terminal"
        else:
            default = f"={p.default!r}"
        shown.append(f"{star}{p.name}{default}")
    return ", ".join(shown)


def test_the_public_methods_take_what_they_took() -> None:
    public = {
        name: member
        for name, member in vars(Cashier).items()
        if callable(member) and (not name.startswith("_") or name == "__init__")
    }
    assert {name: parameters(m) for name, m in public.items()} == PUBLIC
    assert isinstance(vars(Cashier)["state_dir"], property)


def test_callers_import_the_rooms_names_from_the_facade() -> None:
    assert facade.RefundRefused is refunds.RefundRefused
    assert facade.PlanResult is refunds.PlanResult
    assert facade.NotResolvable is resolution.NotResolvable
    assert facade.check_resolvable is resolution.check_resolvable
    assert facade.Resolution is resolution.Resolution
    assert facade.RESOLVABLE is resolution.RESOLVABLE
    assert facade.MoneyResult is writeahead.MoneyResult
    assert facade.Attempt is writeahead.Attempt
    assert facade.OutcomeNotRecorded is writeahead.OutcomeNotRecorded
    assert callable(facade.current_actor)
    assert set(facade.__all__) <= set(vars(facade))


def test_the_write_ahead_path_still_logs_as_the_cashier() -> None:
    # operators filter the daemon's log by logger name; the path moving module kept it
    assert writeahead.log.name == "posdriver.cashier.cashier"
