"""Refund limits, checked before anything reaches a terminal, with a split plan.

A terminal that refuses a refund over its limit says little more than "declined", and a
refund that goes through when it should not (more than the sale, over the hotel's daily
cap) is money that has to be chased back. So every refund is checked here first, on the
figures the journal holds, and each limit that stops it is named in a sentence staff can
act on, with the figures that decide it:

>>> eur = lambda text: Money.parse(text, "EUR")
>>> decision = check(RefundRequest(
...     sale_id=17, sale_state="approved", sale_kind="sale", sale_amount=eur("500.00"),
...     refunded=Money(0, "EUR"), reserved=Money(0, "EUR"), amount=eur("300.00"),
...     per_refund_limit=eur("200.00"), daily_cap=eur("1000.00"),
...     refunded_today=Money(0, "EUR")))
>>> print(decision.explain())
Refund 300.00 EUR cannot go as one refund:
- Refund 300.00 EUR is over the terminal's per-refund limit of 200.00 EUR.
Split into 2 refunds: 150.00 EUR + 150.00 EUR
Afterwards 200.00 EUR stays refundable on sale 17.

When the terminal's per-refund limit is the only thing in the way, the refund can go in
parts; the plan keeps the parts as equal as possible so that none is an odd remnant. A
split never gets around the sale's remainder or the daily cap: those are checked on the
whole amount. Refunds whose result is unknown (pending, sent, in doubt, needing review)
count against the sale as if they went through, because the money may have moved.

Everything here is pure: no journal, no terminal, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from posdriver.money import AmountError, Money

REFUNDABLE_KINDS = frozenset({"sale", "booking"})

_KIND_WORDS = {
    "refund": "itself a refund",
    "reversal": "a reversal",
    "pre_auth": "a pre-authorisation",
}

# What staff are told about a sale that is not approved, by journal state.
_STATE_SENTENCES = {
    "declined": "Sale {id} was declined, so no money moved and there is nothing to refund.",
    "aborted": "Sale {id} was aborted, so no money moved and there is nothing to refund.",
    "in_doubt": (
        "Sale {id} is in doubt (its result is unknown); it must be resolved first, "
        "and refunded only if it turns out approved."
    ),
    "needs_review": (
        "Sale {id} needs review (its result is still unknown); it must be resolved first, "
        "and refunded only if it turns out approved."
    ),
    "pending": (
        "Sale {id} is still pending and its result is not known yet; "
        "it can be refunded once it is approved."
    ),
    "sent": (
        "Sale {id} has been sent to the terminal and its result is not known yet; "
        "it can be refunded once it is approved."
    ),
}


@dataclass(frozen=True)
class RefundRequest:
    """The figures a refund is checked against, as the journal and configuration hold them.

    ``refunded`` and ``reserved`` are sums over this sale's earlier refunds, so they must
    be in the sale's currency; a mismatch there is a journal inconsistency and is refused
    outright. The other figures are compared, and a mismatch is reported as a stop.
    """

    sale_id: int
    sale_state: str
    sale_kind: str
    sale_amount: Money
    refunded: Money
    reserved: Money
    amount: Money | None
    per_refund_limit: Money | None
    daily_cap: Money | None
    refunded_today: Money
    max_split_parts: int = 5

    def __post_init__(self) -> None:
        currency = self.sale_amount.currency
        for label, value in (("refunded", self.refunded), ("reserved", self.reserved)):
            if value.currency != currency:
                raise AmountError(
                    f"{label} {value} of sale {self.sale_id} is not in the sale's "
                    f"currency {currency}"
                )
        figures = {
            "sale amount": self.sale_amount,
            "refunded": self.refunded,
            "reserved": self.reserved,
            "per-refund limit": self.per_refund_limit,
            "daily cap": self.daily_cap,
            "refunded today": self.refunded_today,
        }
        for label, figure in figures.items():
            if figure is not None and figure.minor < 0:
                raise AmountError(f"{label} {figure} is negative")
        if self.amount is not None and self.amount.minor <= 0:
            raise AmountError(f"refund amount {self.amount} is not positive")
        if self.max_split_parts < 1:
            raise ValueError(f"max_split_parts is {self.max_split_parts}; it must be at least 1")


@dataclass(frozen=True)
class Limit:
    """One reason a refund is stopped, with the limit that decides it (if it is an amount)."""

    name: str
    limit: Money | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "limit": _money_dict(self.limit), "message": self.message}


@dataclass(frozen=True)
class RefundDecision:
    """What the guard found: whether the refund may go as one, what stops it, and a plan."""

    amount: Money
    allowed: bool
    stops: tuple[Limit, ...]
    plan: tuple[Money, ...]
    remainder_after: Money
    sale_id: int | None = None

    @property
    def stop_names(self) -> tuple[str, ...]:
        return tuple(stop.name for stop in self.stops)

    def explain(self) -> str:
        """Text for staff: the verdict, each stop on its own line, and the plan if any."""
        sale = f"sale {self.sale_id}" if self.sale_id is not None else "the sale"
        if self.allowed:
            return (
                f"Refund {self.amount} can go as one refund.\n"
                f"Afterwards {self.remainder_after} stays refundable on {sale}."
            )
        if self.amount.minor == 0:
            head = f"Nothing can be refunded on {sale}:"
        elif self.plan:
            head = f"Refund {self.amount} cannot go as one refund:"
        else:
            head = f"Refund {self.amount} is stopped:"
        lines = [head, *(f"- {stop.message}" for stop in self.stops)]
        if self.plan:
            parts = " + ".join(str(part) for part in self.plan)
            lines.append(f"Split into {len(self.plan)} refunds: {parts}")
            lines.append(f"Afterwards {self.remainder_after} stays refundable on {sale}.")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: amounts as ``{"amount": "12.50", "currency": "EUR"}``."""
        return {
            "sale_id": self.sale_id,
            "amount": _money_dict(self.amount),
            "allowed": self.allowed,
            "stops": [stop.as_dict() for stop in self.stops],
            "plan": [_money_dict(part) for part in self.plan],
            "remainder_after": _money_dict(self.remainder_after),
            "explanation": self.explain(),
        }


def _money_dict(value: Money | None) -> dict[str, str] | None:
    if value is None:
        return None
    return {"amount": value.decimal(), "currency": value.currency}


def plan_parts(amount: Money, limit: Money) -> tuple[Money, ...]:
    """Split ``amount`` into the fewest parts of at most ``limit``, as equal as possible.

    Equal parts rather than "limit, limit, rest" because a tiny last part looks like a
    mistake on the guest's statement. Parts differ by at most one minor unit, larger first,
    and sum exactly to ``amount``:

    >>> [str(p) for p in plan_parts(Money(50000, "EUR"), Money(20000, "EUR"))]
    ['166.67 EUR', '166.67 EUR', '166.66 EUR']
    """
    if amount.currency != limit.currency:
        raise AmountError(f"amount {amount} and limit {limit} are in different currencies")
    if amount.minor <= 0:
        raise AmountError(f"amount {amount} is not positive; there is nothing to split")
    if limit.minor <= 0:
        raise AmountError(f"limit {limit} is not positive; no part can fit under it")
    count = _parts_needed(amount, limit)
    base, extra = divmod(amount.minor, count)
    return tuple(
        Money(base + 1 if index < extra else base, amount.currency) for index in range(count)
    )


def _parts_needed(amount: Money, limit: Money) -> int:
    """The fewest parts of at most ``limit`` that make up ``amount``."""
    return -(-amount.minor // limit.minor)


def check(req: RefundRequest) -> RefundDecision:
    """Check a refund against every limit and report all that stop it, not just the first.

    Staff fixing one problem only to hit the next is the thing to avoid, so each check
    runs regardless of the others; a check that cannot compare its figures (another
    currency) is replaced by the ``currency`` stop.
    """
    currency = req.sale_amount.currency
    gross = req.sale_amount.minor - req.refunded.minor  # left if unresolved refunds fail
    net = gross - req.reserved.minor  # left while unresolved refunds count
    amount = req.amount if req.amount is not None else Money(max(net, 0), currency)
    amount_comparable = amount.currency == currency

    stops: list[Limit] = []
    refusal = _refundable(req)
    if refusal:
        stops.append(Limit("not_refundable", None, refusal))
    mismatch = _currency_mismatch(req, amount)
    if mismatch:
        stops.append(Limit("currency", None, mismatch))
    if amount_comparable:
        stops.extend(_remainder_stops(req, amount, gross, net))

    split: tuple[Money, ...] = ()
    limit = req.per_refund_limit
    if (
        amount_comparable
        and limit is not None
        and limit.currency == currency
        and amount.minor > limit.minor
    ):
        stops.append(Limit("per_refund_limit", limit, _over_limit(amount, limit)))
        if limit.minor > 0:
            # Counted before splitting: a tiny limit must not build a huge plan.
            needed = _parts_needed(amount, limit)
            if needed <= req.max_split_parts:
                split = plan_parts(amount, limit)
            else:
                stops.append(_too_many_parts(amount, limit, needed, req.max_split_parts))

    cap = req.daily_cap
    if (
        amount_comparable
        and amount.minor > 0
        and cap is not None
        and cap.currency == currency
        and req.refunded_today.currency == currency
        and req.refunded_today.minor + amount.minor > cap.minor
    ):
        stops.append(Limit("daily_cap", cap, _over_cap(amount, cap, req.refunded_today)))

    only_limit = [stop.name for stop in stops] == ["per_refund_limit"]
    taken = amount.minor if amount_comparable else 0
    return RefundDecision(
        amount=amount,
        allowed=not stops,
        stops=tuple(stops),
        plan=split if only_limit else (),
        remainder_after=Money(max(net - taken, 0), currency),
        sale_id=req.sale_id,
    )


def _refundable(req: RefundRequest) -> str:
    """Why the sale cannot be refunded at all, or "" when it can."""
    reasons = []
    kind = str(req.sale_kind).lower()
    if kind not in REFUNDABLE_KINDS:
        what = _KIND_WORDS.get(kind, f"of kind {kind!r}")
        reasons.append(
            f"Transaction {req.sale_id} is {what}; only sales and bookings can be refunded."
        )
    state = str(req.sale_state).lower()
    if state != "approved":
        sentence = _STATE_SENTENCES.get(
            state, "Sale {id} is in state {state!r}; only approved sales can be refunded."
        )
        reasons.append(sentence.format(id=req.sale_id, state=state))
    return " ".join(reasons)


def _currency_mismatch(req: RefundRequest, amount: Money) -> str:
    """A sentence naming every figure not in the sale's currency, or ""."""
    currency = req.sale_amount.currency
    figures = (
        ("the requested refund", amount),
        ("the terminal's per-refund limit", req.per_refund_limit),
        ("the hotel's daily refund cap", req.daily_cap),
        ("today's refund total", req.refunded_today),
    )
    wrong = [
        f"{label} is {value}"
        for label, value in figures
        if value is not None and value.currency != currency
    ]
    if not wrong:
        return ""
    return (
        f"Sale {req.sale_id} is in {currency}, but {' and '.join(wrong)}; "
        f"a refund is only checked in the sale's currency."
    )


def _remainder_stops(req: RefundRequest, amount: Money, gross: int, net: int) -> list[Limit]:
    """Stops for refunding more than the sale has left.

    ``sale_remainder`` whenever the amount is over what is left with unresolved refunds
    counted; ``unresolved_refunds`` in addition when those unresolved refunds are what
    makes the difference, because resolving them is then the way forward.
    """
    currency = req.sale_amount.currency
    left = Money(max(net, 0), currency)
    figures = f"{req.sale_amount} sold, {req.refunded} already refunded"
    if req.reserved.minor:
        figures += f", {req.reserved} in refunds with unknown result counted"
    stops: list[Limit] = []
    if gross <= 0:
        stops.append(
            Limit(
                "sale_remainder",
                left,
                f"Sale {req.sale_id} is already fully refunded ({figures}).",
            )
        )
        return stops
    over = amount.minor > net or amount.minor == 0  # zero: nothing was left to take
    if over:
        if req.amount is None:
            message = f"Nothing is left to refund on sale {req.sale_id} ({figures})."
        else:
            message = (
                f"Refund {amount} is more than the {left} left on sale {req.sale_id} ({figures})."
            )
        stops.append(Limit("sale_remainder", left, message))
    if over and req.reserved.minor and amount.minor <= gross:
        fits = Money(gross, currency)
        stops.append(
            Limit(
                "unresolved_refunds",
                left,
                f"Refunds of {req.reserved} on sale {req.sale_id} have an unknown result; "
                f"they must be resolved first, and if they did not go through, up to {fits} "
                f"can be refunded.",
            )
        )
    return stops


def _over_limit(amount: Money, limit: Money) -> str:
    if limit.minor == 0:
        return (
            f"Refund {amount} is over the terminal's per-refund limit of {limit}; "
            f"this terminal takes no refunds, not even in parts."
        )
    return f"Refund {amount} is over the terminal's per-refund limit of {limit}."


def _too_many_parts(amount: Money, limit: Money, needed: int, allowed: int) -> Limit:
    most = Money(limit.minor * allowed, limit.currency)
    return Limit(
        "max_split_parts",
        most,
        f"Splitting {amount} under the per-refund limit of {limit} would take {needed} "
        f"refunds, more than the {allowed} allowed (at most {most} in {allowed} parts).",
    )


def _over_cap(amount: Money, cap: Money, today: Money) -> str:
    total = Money(today.minor + amount.minor, cap.currency)
    left = cap.minor - today.minor
    left_text = (
        f"{Money(left, cap.currency)} is left today" if left > 0 else "nothing is left today"
    )
    return (
        f"Refund {amount} would take today's refunds to {total}, over the hotel's daily "
        f"refund cap of {cap}: {today} is already refunded or pending today, so {left_text}."
    )
