"""The root of every error posdriver raises on purpose.

Each layer has its own tree under it (the configuration's :class:`ConfigError`, the
journal's ``JournalError``, the terminals' ``TerminalError``, the printers'
``PrinterError``), so a caller that must never let a posdriver fault escape (the
daemon's API, a CLI command) can catch them all as one, and tell them from a bug.
"""

from __future__ import annotations


class PosdriverError(Exception):
    """A failure posdriver knows how to describe: its message is for a person."""
