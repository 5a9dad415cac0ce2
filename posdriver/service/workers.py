"""Device workers: one thread per device owns its link, and everything done to the device
goes through the worker's queue, money first, then printing, then health polls.

The worker base (queue, lifecycle, reconnecting, recording health checks) is in
:mod:`.worker_base`, the printer's worker in :mod:`.worker_printer`, the terminal's in
:mod:`.worker_terminal`; this module names them all in one place for their users.
"""

from __future__ import annotations

from .worker_base import (
    HEALTH,
    MAX_TASK_SECONDS,
    MONEY,
    PRINT,
    CheckListener,
    DeviceWorker,
    WorkerStopped,
)
from .worker_printer import ASB_WAIT, PrinterWorker
from .worker_terminal import TerminalWorker

__all__ = [
    "ASB_WAIT",
    "HEALTH",
    "MAX_TASK_SECONDS",
    "MONEY",
    "PRINT",
    "CheckListener",
    "DeviceWorker",
    "PrinterWorker",
    "TerminalWorker",
    "WorkerStopped",
]
