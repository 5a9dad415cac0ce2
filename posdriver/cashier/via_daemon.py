"""The paths through the running daemon that still speak to its API's client directly
(:mod:`.cli_daemon`: money, reprints, recovery, decisions), and their readings of its
answers. The client itself is :mod:`posdriver.desk.client`; the answers are read back
into records once, by :func:`posdriver.desk.wire.decode`, so that the CLI prints exactly
what it prints when it reads the journal itself. The record commands go through
:class:`posdriver.desk.RemoteDesk` instead.
"""

from __future__ import annotations

from typing import Any

from ..desk.client import (
    DONE_JOB_STATES,
    Daemon,
    DaemonError,
    DaemonUnreachable,
    find,
)
from ..desk.remote import run_report, spool_report
from ..desk.wire import decode
from ..journal import Event, Incident, Operation, PrintJob, StoredReceipt
from ..journal.records import RefundPlan

__all__ = [
    "DONE_JOB_STATES",
    "Daemon",
    "DaemonError",
    "DaemonUnreachable",
    "event",
    "find",
    "incident",
    "job",
    "operation",
    "plan",
    "receipt",
    "run_report",
    "spool_report",
]


# -- answers back into journal records (one reading for all: posdriver.desk.wire) -------
def operation(d: dict[str, Any]) -> Operation:
    return decode(Operation, d)


def event(d: dict[str, Any], op_id: int) -> Event:
    return decode(Event, d, id=0, operation_id=op_id)


def receipt(d: dict[str, Any], op_id: int) -> StoredReceipt:
    return decode(StoredReceipt, d, operation_id=op_id)


def job(d: dict[str, Any]) -> PrintJob:
    return decode(PrintJob, d)


def incident(d: dict[str, Any]) -> Incident:
    return decode(Incident, d)


def plan(d: dict[str, Any]) -> RefundPlan:
    return decode(RefundPlan, d)
