"""Starting a money operation over the journal (:meth:`.local.LocalDesk.start`): each
check the request meets before anything is journaled, in the order they have always
been made. An idempotency key used before is looked for first, so a repeat is answered
with what the first request started however the rest of it is written; only then are
the amount, currency, terminal and operator read, and what a refund, reversal or
booking refers to checked (:func:`check_parent`). Each refusal is one of the desk's
errors, worded as the API has always answered it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..config import ConfigError
from ..journal import Journal, JournalError, Kind, Operation, State, UnknownTransaction
from ..money import AmountError, Money
from .errors import BadInput, Conflict, DeskError, NotFound
from .times import shown

if TYPE_CHECKING:
    from .models import Order

NEEDS_PARENT = (Kind.REFUND, Kind.REVERSAL, Kind.BOOKING)
NEEDS_AMOUNT = (Kind.SALE, Kind.PRE_AUTH, Kind.BOOKING)
RESERVES = (Kind.PRE_AUTH, Kind.BOOKING)  # a terminal able to pre-authorise does these
_LONGEST_OPERATOR = 200
_NOT_TAKEN = (State.DECLINED, State.ABORTED)


@contextmanager
def read_as_input() -> Iterator[None]:
    """An amount, currency or terminal name that cannot be used, as the desk's
    :class:`BadInput` (its message as it is)."""
    try:
        yield
    except (AmountError, ConfigError) as exc:
        raise BadInput(str(exc)) from None


def text(value: Any, name: str) -> str | None:
    """A text the request gives: absent is None; not a string, or blank, is refused."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadInput(f"{name} must be a string, got {json.dumps(value)}")
    if not value.strip():
        raise BadInput(f"{name} must not be empty")
    return value.strip()


def operator(value: Any) -> str:
    """Who asks, for the journal ("api" when the request does not say)."""
    who = text(value, "operator")
    if who is not None and len(who) > _LONGEST_OPERATOR:
        raise BadInput(f"operator must be at most {_LONGEST_OPERATOR} characters")
    return who or "api"


def currency(value: Any, default: str) -> str:
    """The currency a request names (an ISO 4217 code in any case), else ``default``."""
    if value is None:
        return default
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]{3}", value):
        quoted = shown(value) if isinstance(value, str) else json.dumps(value)
        raise BadInput(f"currency must be an ISO 4217 code such as EUR, got {quoted}")
    code = value.upper()
    with read_as_input():
        Money(0, code).numeric_code  # noqa: B018 -- an unknown code is refused
    return code


def referred(journal: Journal, ref: Any) -> Operation:
    """The operation a request's ``txn`` names: an integer is a journal id, a string is
    read as the CLI reads TXN."""
    if isinstance(ref, bool) or not isinstance(ref, str | int):
        raise BadInput(f"txn must be a journal id or a string such as 'id:17', got {ref!r}")
    try:
        return journal.find(ref if isinstance(ref, str) else f"id:{ref}")
    except UnknownTransaction as exc:
        raise NotFound(str(exc)) from None


# -- the idempotency key -----------------------------------------------------------------
def asks(journal: Journal, order: Order, default_currency: str) -> dict[str, Any]:
    """What a money request asks for, written as the first request and a repeat of it
    are compared: the same amount however written (``"12.5"``, ``"12.50"``), the same
    currency in any case, the same transaction however named (``17``, ``"id:17"``). A
    value that cannot be read stays as it is, and differs."""
    code: Any = order.currency
    if code is None:
        code = default_currency
    elif isinstance(code, str):
        code = code.strip().upper()
    amount: Any = order.amount
    if isinstance(amount, str) and isinstance(code, str):
        try:
            amount = Money.parse(amount, code).minor
        except AmountError:
            pass
    txn: Any = order.txn
    if txn is not None:
        try:
            txn = referred(journal, txn).id
        except (DeskError, JournalError):
            pass
    return {
        "kind": order.kind.value,
        "amount": amount,
        "currency": code,
        "terminal": order.terminal,
        "txn": txn,
    }


def differs(
    asked: dict[str, Any], first: dict[str, Any] | None, order: Order, earlier: Operation
) -> list[str]:
    """What this request asks differently from the one that used its key first: all of
    it when this daemon took that request (``first``); otherwise (a key from before a
    restart, or from the CLI) what the journal holds of it: the kind, and the amount,
    currency and transaction where this request names them (the journal has the
    terminal an operation ran on, which failover may have chosen, not the one it was
    asked to start on)."""
    if first is not None:
        return [name for name in asked if asked[name] != first[name]]
    journal = {
        "kind": earlier.kind.value,
        "amount": None if earlier.amount is None else earlier.amount.minor,
        "currency": earlier.currency,
        "txn": earlier.parent_id,
    }
    named = {"amount": order.amount, "currency": order.currency, "txn": order.txn}
    return [
        name
        for name, value in journal.items()
        if (name == "kind" or named[name] is not None) and asked[name] != value
    ]


def key_conflict(key: str, earlier: Operation, differ: list[str]) -> Conflict:
    return Conflict(
        f"idempotency key {key!r} was used for id:{earlier.id} "
        f"({earlier.kind.value} of {earlier.amount or '-'}), not for this "
        f"request (its {' and '.join(differ)} "
        f"{'differs' if len(differ) == 1 else 'differ'}); use a new key"
    )


# -- what an operation refers to ---------------------------------------------------------
def check_parent(journal: Journal, kind: Kind, parent: Operation) -> None:
    """What a refund, reversal or booking refers to must be able to take it: say so
    now, not after the operation was started."""
    what = f"id:{parent.id} is {parent.state.value.replace('_', ' ')} ({parent.kind.value})"
    if kind is Kind.BOOKING and (
        parent.kind is not Kind.PRE_AUTH or parent.state is not State.APPROVED
    ):
        raise Conflict(f"{what}: only an approved pre-authorisation can be booked")
    if kind is Kind.REVERSAL:
        if parent.kind is not Kind.SALE or parent.state is not State.APPROVED:
            raise Conflict(f"{what}: only an approved sale can be reversed")
        if parent.reference is None:  # nothing the terminal would know it by
            raise Conflict(f"id:{parent.id} has no terminal receipt number")
        for child in journal.children(parent.id):
            if child.kind is Kind.REVERSAL and child.state not in _NOT_TAKEN:
                raise Conflict(
                    f"id:{parent.id} already has a reversal (id:{child.id}, {child.state.value})"
                )
        from ..cashier.refunds import reversal_over_refunds, taken_back

        refunded = taken_back(journal, parent)
        if refunded:  # the terminal would pay the whole sale back on top of them
            raise Conflict(reversal_over_refunds(parent, refunded))
