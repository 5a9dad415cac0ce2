"""A software ZVT payment terminal: the model behind the emulator's pty and TCP links.

:class:`TerminalEmulator` takes ECR bytes through
:meth:`~posdriver_emulator.device.EmulatedDevice.accept` and answers as a countertop terminal
does: serial framing with ACK/NAK and repeats (or raw APDUs over TCP), registration,
payments under the commit rule, refunds, reversals, reservations, end-of-day, repeat
receipt, receipts, and faults switched at run time.

Modules, one job each: :mod:`.model` (the device: state, worker thread, link loss,
faults), :mod:`.wire` (the transport layer: frames, ACK/NAK, T1, T2), :mod:`.session`
(the application protocol's steps and the commit rule), :mod:`.commands` (one handler
per command), :mod:`.cards` (cards, issuer answers, limits), :mod:`.ledger` (what really
happened to the money), :mod:`.receipts` (status information fields and receipt text),
and :mod:`.zvt`, the terminal's own ZVT codec (it shares no code with posdriver's, so
the two check each other on the same byte vectors).
"""

from .cards import DEFAULT_CARDS, Card, Limits
from .model import TERMINAL_FAULTS, TerminalConfig, TerminalEmulator

__all__ = [
    "DEFAULT_CARDS",
    "TERMINAL_FAULTS",
    "Card",
    "Limits",
    "TerminalConfig",
    "TerminalEmulator",
]
