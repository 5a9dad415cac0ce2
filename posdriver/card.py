"""What posdriver may keep of a card: its brand and the last four digits of its number.

One rule, used wherever a last four is decoded, given or stored (a terminal's answer, a
person's resolution, a search, the journal, the API's schema): exactly four ASCII
digits. ``\\d`` would take other scripts' digits and ``$`` a trailing newline; neither
is a card's last four, and either let through here would be refused later, by the
journal, with a less useful message.
"""

from __future__ import annotations

import re

LAST4_PATTERN = "^[0-9]{4}$"  # as JSON Schema writes it (the API's document)
_LAST4 = re.compile("[0-9]{4}")


def is_last4(value: object) -> bool:
    """Whether ``value`` is exactly four ASCII digits (and nothing else)."""
    return isinstance(value, str) and _LAST4.fullmatch(value) is not None


def check_last4(value: object, what: str = "last4") -> str:
    """``value`` when it is a last four; a ValueError naming ``what`` otherwise."""
    if not is_last4(value):
        raise ValueError(f"{what} takes exactly four digits, got {value!r}")
    assert isinstance(value, str)
    return value
