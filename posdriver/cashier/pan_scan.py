"""A scanner for card numbers (PANs) in text and files: the check behind "no card data
at rest".

posdriver never keeps more of a card than its brand and last four digits. Tests hold it
to that by scanning everything it leaves behind (the journal's database file, logs, CLI
output) with :func:`luhn_runs`, which reports each run of 13 to 19 digits that passes the
Luhn check, as a card number would.

Card numbers are written in groups ("4111 1111 1111 1111", "4111-1111-1111-1111"), so
digit groups joined by a single space or dash count as one run. Because a printed number
is often followed by more digits after a single space (an expiry date, an amount), the
groups of a run are also tried in consecutive stretches, whole groups at a time; a
stretch is only reported when it is 13 to 19 digits long and passes the check. A run of
digits with no separators is taken as it stands: 20 digits in a row are not a card
number, whatever 16 of them might be.

Only ASCII digits count. Bytes (a database file) are read as Latin-1, which maps each
byte to one character and leaves ASCII digits as they are.
"""

from __future__ import annotations

import re

PAN_MIN = 13
PAN_MAX = 19

# Digit groups joined by single spaces or dashes, not touching another digit.
_RUN = re.compile(r"(?<![0-9])[0-9]+(?:[ -][0-9]+)*(?![0-9])")
_GROUP = re.compile(r"[0-9]+")


def luhn_valid(digits: str) -> bool:
    """Whether a string of ASCII digits passes the Luhn (mod 10) check."""
    if not digits or not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def luhn_runs(text: str) -> list[str]:
    """Every card-number-like run in ``text``, as its digits alone, in order of
    appearance: 13 to 19 digits (groups joined by single spaces or dashes allowed)
    passing the Luhn check."""
    found: list[str] = []
    for run in _RUN.finditer(text):
        groups = _GROUP.findall(run.group())
        found.extend(_stretches(groups))
    return found


def luhn_runs_bytes(data: bytes) -> list[str]:
    """:func:`luhn_runs` over raw bytes (a database file, a log), scanning ASCII digits."""
    return luhn_runs(data.decode("latin-1"))


def _stretches(groups: list[str]) -> list[str]:
    """The Luhn-valid stretches of consecutive whole groups, 13 to 19 digits long, not
    overlapping; from each starting group the longest one is taken."""
    found: list[str] = []
    start = 0
    while start < len(groups):
        best: tuple[int, str] | None = None
        digits = ""
        for end in range(start, len(groups)):
            digits += groups[end]
            if len(digits) > PAN_MAX:
                break
            if len(digits) >= PAN_MIN and luhn_valid(digits):
                best = (end, digits)
        if best is None:
            start += 1
        else:
            found.append(best[1])
            start = best[0] + 1
    return found


_CANDIDATE = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")


def mask_pans(text: str) -> str:
    """``text`` with every card number in it masked to its first six and last four digits.

    A terminal is supposed to print masked numbers only, but some print the whole number
    on the merchant copy; receipts are stored, so they are masked on the way in.
    """

    def mask(match: re.Match[str]) -> str:
        digits = re.sub(r"[ -]", "", match.group(0))
        if not PAN_MIN <= len(digits) <= PAN_MAX or not luhn_valid(digits):
            return match.group(0)
        return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]

    return _CANDIDATE.sub(mask, text)
