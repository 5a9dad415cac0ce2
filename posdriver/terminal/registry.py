"""The terminal protocols posdriver knows, by the name a config file gives them.

A protocol is loaded on first use (``import posdriver.terminal`` stays cheap, and a
command that never talks to a terminal never loads one). The first built-in protocol is
the default, for a terminal whose table names none. :func:`register` adds one at run
time (the contract suite registers its in-process terminal so).
"""

from __future__ import annotations

import difflib
import importlib

from ..errors import PosdriverError
from .protocol import Protocol

# name -> "module:attribute" of its Protocol; the first is the default
_BUILT_IN: dict[str, str] = {
    "zvt": "posdriver.terminal.zvt.protocol:PROTOCOL",
}
DEFAULT = next(iter(_BUILT_IN))
_loaded: dict[str, Protocol] = {}


class UnknownProtocol(PosdriverError, ValueError):
    """A protocol name no registered protocol has."""


def names() -> list[str]:
    """Every protocol name, built-in first, then those registered at run time."""
    return [*_BUILT_IN, *(name for name in _loaded if name not in _BUILT_IN)]


def get(name: str) -> Protocol:
    """The protocol called ``name``; :class:`UnknownProtocol` lists the known ones."""
    found = _loaded.get(name)
    if found is not None:
        return found
    where = _BUILT_IN.get(name)
    if where is None:
        known = names()
        hint = difflib.get_close_matches(name, known, n=1)
        mean = f"did you mean {hint[0]!r}? " if hint else ""
        raise UnknownProtocol(f"unknown protocol {name!r}; {mean}known: {', '.join(known)}")
    module, _, attribute = where.partition(":")
    protocol: Protocol = getattr(importlib.import_module(module), attribute)
    _loaded[name] = protocol
    return protocol


def register(protocol: Protocol) -> None:
    """Make ``protocol`` known under its name (replacing one of that name)."""
    _loaded[protocol.name] = protocol


def unregister(name: str) -> None:
    """Forget a protocol registered at run time (built-in ones come back on next use)."""
    _loaded.pop(name, None)
