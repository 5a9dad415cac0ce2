"""The root of every error posdriver raises on purpose.

Each layer has its own tree under it, so a caller that must never let a posdriver fault
escape (the daemon's API, a CLI command) can catch them all as one, and tell them from a
bug::

    PosdriverError
     +-- ConfigError                       config: a setting is wrong or missing
     +-- AmountError (ValueError)          money: an amount that is not one
     +-- PluginMissing (LookupError)       plugins: no such entry point installed
     +-- LinkError                         links: URL, open, I/O, timeout (TimeoutError)
     +-- PrinterError                      printer: not responding, not ready, incomplete
     +-- TerminalError                     terminal: not reached (busy, DeviceInUse),
     |                                     refused, lost
     +-- CapabilityMissing (ValueError)    terminal: its protocol cannot do that
     +-- UnknownProtocol (ValueError)      terminal: no protocol of that name
     +-- ZvtCodecError (ValueError)        ZVT: bytes that do not decode
     +-- InputError (ValueError)           ``posdriver terminal``: a bad argument
     +-- JournalError                      journal: storage (corrupt, read-only, full,
     |                                     locked), unknown transaction, bad transition
     +-- RefundRefused, OutcomeNotRecorded cashier: refused by the guard; answered and
     +-- NotResolvable (ValueError)        not recorded; not for a person to settle
     +-- CommandError, MoneyStopped        cashier's CLI
     +-- DaemonError                       the daemon's client: an error answer, or none
     +-- DeskError                         the desk: not found, conflict, refused, bad
                                           input, not allowed, not offered, unreachable

A tree keeps the standard type its callers already catch (``ValueError``,
``TimeoutError``, ``LookupError``) as a second base. tests/unit/test_errors.py walks every
exception class in posdriver and holds each to this, or to its listed reason not to.
"""

from __future__ import annotations


class PosdriverError(Exception):
    """A failure posdriver knows how to describe: its message is for a person."""
