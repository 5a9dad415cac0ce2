"""What the emulated terminal really did with money: the ground truth tests compare with.

Every financial transaction the terminal ran is one :class:`Entry`, appended when its
status information (04 0F) goes out, whatever happens afterwards. Its ``state`` then
follows the transaction: a payment is ``charged`` and may become ``reversed`` (a
Reversal referring to its receipt number) or ``auto_reversed`` (the commit rule: the
ECR never acknowledged the status information). The states:

=====================  ==========================================================
``charged``            a payment that stands
``refunded``           a refund that stands
``reversed``           a payment undone by a Reversal, or the Reversal itself
``auto_reversed``      undone by the terminal because the ECR did not acknowledge it
``declined``           refused by the issuer or by a terminal limit; nothing moved
``pre_authorised``     a reservation that is still open
``booked``             a reservation that was booked (06 23 / 06 24), or the booking
``pre_auth_reversed``  a reservation released (06 25), or the release itself
=====================  ==========================================================

Amounts are integer minor units. Card numbers are only ever the masked form.

What is kept is bounded, as a real terminal's memory is: the open batch whole (reversal,
booking, the daily refund cap and the end-of-day totals all work on it) up to
``capacity`` transactions, after which the terminal takes no more until End-of-Day; the
newest ``history`` entries of closed batches (for ``GET /ledger`` and tests); and the
status information as sent of the last transaction only, which is all Repeat Receipt
repeats.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

# kinds of entry
PAYMENT = "payment"
REFUND = "refund"
REVERSAL = "reversal"
PRE_AUTH = "pre_auth"
BOOKING = "booking"
PRE_AUTH_REVERSAL = "pre_auth_reversal"

# what state an entry of each kind takes when it goes through
STANDING_STATE = {
    PAYMENT: "charged",
    REFUND: "refunded",
    REVERSAL: "reversed",
    PRE_AUTH: "pre_authorised",
    BOOKING: "booked",
    PRE_AUTH_REVERSAL: "pre_auth_reversed",
}
# what a referring transaction does to the entry it refers to
UNDOES = {REVERSAL: "reversed", BOOKING: "booked", PRE_AUTH_REVERSAL: "pre_auth_reversed"}


BATCH_CAPACITY = 9999  # a batch's receipt numbers (1..9999) stay unique within it
HISTORY = 1000  # entries of closed batches kept (at least the last, for Repeat Receipt)


@dataclass(slots=True)  # one per transaction, kept until its batch is long closed
class Entry:
    kind: str
    amount: int
    currency: str
    trace: int
    receipt_no: int
    state: str
    card: str  # masked PAN
    at: str  # ISO 8601 with offset
    result_code: int
    original_receipt_no: int | None = None  # what a reversal / booking refers to
    batch: int = 1
    brand: str = ""
    card_type: int = 0
    approval_code: str = ""
    # the state the referred-to entry had before this one changed it (undone on reversal)
    _previous_state: str | None = field(default=None, repr=False)
    # the status information (04 0F fields) as sent, for Repeat Receipt
    _status: list[tuple[int, Any]] = field(default_factory=list, repr=False)
    _card: Any = field(default=None, repr=False)  # the Card, for referring transactions

    @property
    def stands(self) -> bool:
        """True while the transaction is in force (not declined, not undone)."""
        return self.state == STANDING_STATE[self.kind] and self.result_code == 0

    def public(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}


class Ledger:
    """The terminal's journal; the model calls it under its own lock."""

    def __init__(self, capacity: int = BATCH_CAPACITY, history: int = HISTORY) -> None:
        if capacity < 1:
            raise ValueError(f"batch_capacity must be at least 1, got {capacity!r}")
        if history < 1:
            raise ValueError(
                "ledger_history must be at least 1 (Repeat Receipt repeats the last "
                f"transaction), got {history!r}"
            )
        self.capacity = capacity
        self.history = history
        self._entries: list[Entry] = []  # closed batches' entries first, then the open one's
        self._open = 0  # entries of the open batch
        self.batch = 1

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def open_entries(self) -> int:
        """Transactions in the open batch."""
        return self._open

    @property
    def full(self) -> bool:
        """The open batch holds ``capacity`` transactions: End-of-Day before the next."""
        return self._open >= self.capacity

    def add(self, entry: Entry) -> Entry:
        entry.batch = self.batch
        previous = self.last()
        if previous is not None:
            previous._status = []  # Repeat Receipt repeats the last transaction only
        self._entries.append(entry)
        self._open += 1
        return entry

    def last(self) -> Entry | None:
        return self._entries[-1] if self._entries else None

    def by_receipt(self, receipt_no: int, kinds: tuple[str, ...]) -> Entry | None:
        """The newest entry of the open batch with that receipt number and kind."""
        for entry in reversed(self._entries):
            if entry.batch == self.batch and entry.receipt_no == receipt_no and entry.kind in kinds:
                return entry
        return None

    def apply(self, entry: Entry) -> None:
        """A referring transaction went out: change what it refers to (reversal etc.)."""
        target = self._target(entry)
        if target is not None and entry.kind in UNDOES:
            entry._previous_state = target.state
            target.state = UNDOES[entry.kind]

    def auto_reverse(self, entry: Entry) -> None:
        """The commit rule: the ECR did not acknowledge ``entry``; undo it."""
        entry.state = "auto_reversed"
        target = self._target(entry)
        if target is not None and entry._previous_state is not None:
            target.state = entry._previous_state

    def _target(self, entry: Entry) -> Entry | None:
        if entry.original_receipt_no is None:
            return None
        kinds = (PAYMENT,) if entry.kind == REVERSAL else (PRE_AUTH,)
        for other in reversed(self._entries):
            same = other.receipt_no == entry.original_receipt_no and other.batch == entry.batch
            if other is not entry and same and other.kind in kinds:
                return other
        return None

    def open_pre_auths(self) -> list[Entry]:
        return [e for e in self._entries if e.kind == PRE_AUTH and e.state == "pre_authorised"]

    def refunded_today(self, today: str) -> int:
        """Refunds that stand in the open batch on ``today`` (YYYY-MM-DD)."""
        return sum(
            e.amount
            for e in self._entries
            if e.kind == REFUND and e.stands and e.batch == self.batch and e.at[:10] == today
        )

    def batch_entries(self) -> list[Entry]:
        return [e for e in self._entries if e.batch == self.batch]

    def close_batch(self) -> None:
        self.batch += 1
        self._open = 0
        excess = len(self._entries) - self.history  # every entry is of a closed batch now
        if excess > 0:
            del self._entries[:excess]

    def public(self) -> list[dict[str, Any]]:
        return [e.public() for e in self._entries]


def now_iso() -> str:
    return datetime.now().astimezone().isoformat(timespec="milliseconds")
