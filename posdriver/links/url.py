"""Parsing of link URLs into validated options, before any device is touched.

Every scheme declares its options as :class:`Option` rows; unknown options, wrong types
and out-of-range values are rejected with a message that names the option and repeats
the scheme's grammar, so a typo in a config file is found at load time, not at 3 a.m.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .errors import LinkURLError


@dataclass(frozen=True)
class Option:
    """One query option: its name, parser, default and a short help for the grammar."""

    name: str
    parse: Callable[[str], Any]
    default: Any
    help: str


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected 0/1/true/false, got {text!r}")


def parse_seconds(text: str) -> float:
    value = float(text)
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError(f"expected a positive number of seconds, got {text!r}")
    return value


def parse_int_auto(text: str) -> int:
    """Decimal or 0x-prefixed hexadecimal (endpoint addresses are written in hex)."""
    return int(text, 0)


def choice(*allowed: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}, got {text!r}")
        return text

    return parse


def int_in(values: Sequence[int]) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if value not in values:
            raise ValueError(f"expected one of {', '.join(map(str, values))}, got {text!r}")
        return value

    return parse


def parse_query(url: str, query: str, options: Sequence[Option], grammar: str) -> dict[str, Any]:
    """Turn ``a=1&b=2`` into typed values with defaults filled in."""
    known = {opt.name: opt for opt in options}
    values: dict[str, Any] = {opt.name: opt.default for opt in options}
    seen: set[str] = set()
    for key, raw in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
        if key not in known:
            raise LinkURLError(f"unknown option {key!r}; {grammar}", url)
        if key in seen:
            raise LinkURLError(f"option {key!r} given twice; {grammar}", url)
        seen.add(key)
        try:
            values[key] = known[key].parse(raw)
        except ValueError as exc:
            raise LinkURLError(f"bad value for {key!r}: {exc}; {grammar}", url) from exc
    return values


def split(url: str) -> tuple[str, str, str, str]:
    """(scheme, netloc, path, query) of a URL, refusing fragments."""
    if not isinstance(url, str) or "://" not in url:
        raise LinkURLError(f"not a link URL: {url!r}; expected SCHEME://...")
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # a '[' or ']' out of place around the host
        raise LinkURLError(f"not a link URL ({exc}); expected SCHEME://...", url) from None
    if parts.fragment:
        raise LinkURLError("a link URL has no #fragment", url)
    return parts.scheme.lower(), parts.netloc, parts.path, parts.query


def grammar_of(head: str, options: Sequence[Option]) -> str:
    """The grammar string that bad-URL errors repeat."""
    opts = "&".join(f"{o.name}=" for o in options)
    lines = "; ".join(f"{o.name}: {o.help} (default {o.default!r})" for o in options)
    return f"expected {head}?{opts} ({lines})"


def describe(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in values.items())
