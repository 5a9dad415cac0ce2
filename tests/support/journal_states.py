"""Ways through the operation state machine, for tests that need an operation in a
given state and must get it there by allowed transitions only."""

from __future__ import annotations

from collections import deque

from posdriver.journal import State
from posdriver.journal.states import TRANSITIONS


def path_to(target: State) -> list[State]:
    """The shortest chain of allowed states from PENDING to ``target``."""
    previous: dict[State, State | None] = {State.PENDING: None}
    queue = deque([State.PENDING])
    while queue:
        state = queue.popleft()
        for nxt in sorted(TRANSITIONS[state]):
            if nxt not in previous:
                previous[nxt] = state
                queue.append(nxt)
    assert target in previous, f"{target} cannot be reached from pending"
    chain: list[State] = []
    node: State | None = target
    while node is not None:
        chain.append(node)
        node = previous[node]
    return chain[::-1]
