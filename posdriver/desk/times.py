"""A point in time as the desk is asked for one: ``txn list --since/--until``,
``incidents --since`` and the API's ``since``/``until`` all read it here, so a form one
of them takes the others take too, and a refusal names the value and every accepted form
in the same words.

Accepted: a day (``2026-11-23``: its start, or for an end the next day's start, in local
time), an ISO 8601 time (``2026-11-23T14:00``, local unless it has an offset) or a span
back from now (``30m``, ``24h``, ``7d``, ``2w``).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from .errors import BadInput

FORMS = (
    "a day (2026-11-23), a time (2026-11-23T14:00, ISO 8601, local unless it has an "
    "offset) or a span back from now (30m, 24h, 7d, 2w)"
)
# A span reaching back before the calendar starts: everything recorded is younger.
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)

_SPAN = re.compile(r"([0-9]{1,7})\s*([mhdw])")
_MINUTES = {"m": 1, "h": 60, "d": 24 * 60, "w": 7 * 24 * 60}
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def shown(text: str) -> str:
    """A value as a refusal quotes it: whole unless it is long."""
    return repr(text) if len(text) <= 40 else f"{text[:32]!r}... ({len(text)} characters)"


def point_in_time(name: str, text: str, *, end: bool = False) -> datetime:
    """``text`` as an aware time; ``end`` reads a day as the start of the next one (an
    ``until`` includes the day it names). A value that is none of :data:`FORMS`, or
    cannot be compared with the journal's times (around the years 1 and 9999), is
    :class:`BadInput` naming ``name``, the value and the accepted forms."""
    value = text.strip()
    span = _SPAN.fullmatch(value)
    if span:
        return _ago(int(span.group(1)) * _MINUTES[span.group(2)])
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        why = f" (not a date: {exc})" if _DAY.fullmatch(value) else ""
        raise BadInput(
            f"{name}: {shown(text)} is not an ISO date or time, nor a span back from now"
            f"{why}; write {FORMS}"
        ) from None
    try:
        if _DAY.fullmatch(value):
            day = date.fromisoformat(value)
            moment = datetime.combine(day + timedelta(days=1) if end else day, moment.time())
            moment = moment.astimezone()
        elif moment.tzinfo is None:
            moment = moment.astimezone()
        moment.astimezone(UTC)  # as the journal compares it
    except (OverflowError, ValueError):
        raise BadInput(
            f"{name}: {shown(text)} is too far in the past or future to compare with"
        ) from None
    return moment


def _ago(minutes: int) -> datetime:
    """Now, ``minutes`` back (local time); a span longer than the calendar is
    :data:`EARLIEST`."""
    try:
        return datetime.now().astimezone() - timedelta(minutes=minutes)
    except OverflowError:
        return EARLIEST
