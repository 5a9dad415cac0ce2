"""The money operation state machine.

::

    PENDING --> SENT --> APPROVED | DECLINED | ABORTED | IN_DOUBT
       |                                                  |
       +--> ABORTED  (no terminal reached)                +--> APPROVED | DECLINED
       +--> IN_DOUBT (crash: it may have reached one)     +--> NEEDS_REVIEW --> APPROVED | DECLINED

PENDING is written (and fsynced) before the first byte goes to a terminal; SENT when the
terminal accepted the command. From SENT on, a lost answer is IN_DOUBT: the card may have
been charged, so the operation is never sent again; it is resolved by asking the terminal,
or by a person (NEEDS_REVIEW). Nothing is guessed.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    APPROVED = "approved"
    DECLINED = "declined"
    ABORTED = "aborted"
    IN_DOUBT = "in_doubt"
    NEEDS_REVIEW = "needs_review"


class Kind(StrEnum):
    SALE = "sale"
    REFUND = "refund"
    REVERSAL = "reversal"
    PRE_AUTH = "pre_auth"
    BOOKING = "booking"


TRANSITIONS: dict[State, frozenset[State]] = {
    State.PENDING: frozenset({State.SENT, State.ABORTED, State.IN_DOUBT}),
    State.SENT: frozenset({State.APPROVED, State.DECLINED, State.ABORTED, State.IN_DOUBT}),
    State.IN_DOUBT: frozenset({State.APPROVED, State.DECLINED, State.NEEDS_REVIEW}),
    State.NEEDS_REVIEW: frozenset({State.APPROVED, State.DECLINED}),
    State.APPROVED: frozenset(),
    State.DECLINED: frozenset(),
    State.ABORTED: frozenset(),
}
# A terminal that was not reached (link down, busy) never accepted the command, so the
# operation stays PENDING while it goes to a standby terminal; that attempt is an event,
# not a state change.

FINAL = frozenset({State.APPROVED, State.DECLINED, State.ABORTED})
UNRESOLVED = frozenset({State.PENDING, State.SENT, State.IN_DOUBT, State.NEEDS_REVIEW})
NEEDS_ATTENTION = frozenset({State.IN_DOUBT, State.NEEDS_REVIEW})


def allowed(old: State, new: State) -> bool:
    return new in TRANSITIONS[old]
