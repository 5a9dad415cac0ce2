"""Printer failures, each carrying what the printer last said about itself.

::

    PrinterError
     +-- PrinterNotResponding   no status answer: nothing was printed
     +-- PrinterNotReady        the printer said it cannot print now: nothing was printed
     +-- PrintIncomplete        the job started but did not finish: ``printed`` of
                                ``total`` bytes were confirmed printed, ``sent`` left

Link failures underneath are chained as ``__cause__``.
"""

from __future__ import annotations

from ..errors import PosdriverError
from .status import PrinterStatus


class PrinterError(PosdriverError):
    def __init__(self, message: str, status: PrinterStatus | None = None) -> None:
        super().__init__(message)
        self.status = status


class PrinterNotResponding(PrinterError):
    """The printer did not answer a status query: off, unplugged, busy or wrong port."""


class PrinterNotReady(PrinterError):
    """The printer answered and cannot print (paper out, cover open, offline, error)."""


class PrintIncomplete(PrinterError):
    """A job that started and did not finish; says how far it got."""

    def __init__(
        self,
        message: str,
        *,
        sent: int,
        printed: int,
        total: int,
        status: PrinterStatus | None = None,
    ) -> None:
        super().__init__(message, status)
        self.sent = sent
        self.printed = printed
        self.total = total
