"""From what one exchange saw to the outcome values of :mod:`posdriver.terminal.outcomes`.

Pure functions, no I/O: each takes an :class:`~.exchange.ExchangeResult` and returns the
value the interface promises, or raises the lifecycle exception (a command that was
refused, an administrative command whose answer was lost).

The rules for money (see :mod:`.terminal` for the table): a status information with a
non-zero result is ``Declined`` whatever followed it, since nothing was charged, unless
it contradicts one we acknowledged before it (then ``InDoubt``: which one holds is for
the terminal's record to say); a link failure or silence after acceptance is
``InDoubt``; an abort without a result seen is ``Aborted``; a completion is ``Approved``
with the fields of the status information, and ``InDoubt`` when there are none to tie it
to the terminal's transaction.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from ...money import Money
from ..outcomes import (
    Aborted,
    Approved,
    Connectivity,
    DayTotals,
    Declined,
    DoubtStage,
    InDoubt,
    LastTransaction,
    Outcome,
    TerminalLost,
    TerminalRefused,
    TerminalState,
)
from .bmp import decode_bmps
from .codes import TERMINAL_STATUS_REMEDY, result_text, terminal_status_text
from .errors import ZvtCodecError
from .exchange import ExchangeResult
from .messages import parse_status_completion
from .status_info import StatusInfo, receipt_from_status, status_from_fields

log = logging.getLogger(__name__)

NOTHING_TO_REPEAT = 0x83
PRE_AUTH_ENQUIRY = 0xB8
# Terminal states that still take payments but want attention soon (monitoring: WARNING).
WARNING_STATES = frozenset({0x62, 0x9C, 0x9D, 0xB1, 0xB2, 0xCC, 0xDC, 0xE0, 0xE1, 0xF0})


# -- money -------------------------------------------------------------------------------
# result codes that mean "the terminal could not reach its acquirer"
HOST_UNREACHABLE = frozenset({0x7D, 0xA3})


def money_outcome(
    result: ExchangeResult, requested: Money | None, name: str, currency: str, today: date
) -> Outcome:
    if result.refused is not None:
        refused = result.refused
        return Aborted(f"the terminal refused the {name}: {result_text(refused)}", refused)
    if result.conflict is not None:
        return _conflicting(result, requested, currency)
    info = result.status
    amount = (info.money(currency) if info else None) or requested
    if info is not None and info.result_code not in (0, None):
        return _declined(info, amount, result)
    trace = info.trace if info else None
    receipt_no = info.receipt_no if info else None
    code = info.result_code if info else None
    if result.in_doubt:
        assert result.stage is not None
        return InDoubt(amount, result.reason, result.stage, trace, receipt_no, code)
    if result.aborted is not None:
        aborted = result.aborted
        if info is not None and result.status_acked:
            # The spec says a payment stands once its status information was acknowledged;
            # an abort after that is a contradiction for the journal to resolve.
            return InDoubt(
                amount,
                "the terminal approved the payment, then aborted with "
                f"{aborted.result_code:02X} ({result_text(aborted.result_code)})",
                DoubtStage.BEFORE_COMPLETION,
                trace,
                receipt_no,
                code,
            )
        detail = status_from_fields(aborted.fields, aborted.result_code).vendor_text
        return Aborted(
            result_text(aborted.result_code),
            aborted.result_code,
            detail,
            host_unreachable=aborted.result_code in HOST_UNREACHABLE,
        )
    if info is None:
        info = status_from_fields(completion_fields(result.completion))
        if info.result_code not in (0, None):
            return _declined(info, amount, result)
        if info.receipt_no is None and info.trace is None:
            # A completion is "done", but of what? Without the transaction's numbers it
            # can be neither matched nor reversed: recovery asks the terminal's record.
            return InDoubt(
                amount,
                "the terminal completed the command without its result (no status "
                "information, no receipt or trace number)",
                DoubtStage.COMPLETED_WITHOUT_RESULT,
                result_code=info.result_code,
            )
    at = info.at(today)
    receipt, merchant = _receipts(result, info, name, amount, at)
    return Approved(
        amount=amount,
        trace=info.trace,
        receipt_no=info.receipt_no,
        approval_code=info.approval_code,
        card=info.card,
        terminal_id=info.terminal_id,
        at=at,
        receipt=receipt,
        merchant_receipt=merchant,
    )


def _conflicting(result: ExchangeResult, requested: Money | None, currency: str) -> InDoubt:
    """Two results for one payment: the one we acknowledged stands by the spec, and the
    terminal said otherwise after it. Neither is believed: in doubt, with the numbers of
    the acknowledged one, which is what the terminal's record is asked about."""
    committed = result.committed
    assert committed is not None and result.conflict is not None
    return InDoubt(
        committed.money(currency) or requested,
        result.conflict,
        DoubtStage.BEFORE_COMPLETION,
        committed.trace,
        committed.receipt_no,
        committed.result_code,
    )


def _declined(info: StatusInfo, amount: Money | None, result: ExchangeResult) -> Declined:
    code = info.result_code or 0
    detail = info.vendor_text
    if detail is None and result.aborted is not None:
        detail = status_from_fields(result.aborted.fields).vendor_text
    return Declined(
        amount,
        code,
        result_text(code),
        receipt=result.receipts.guest_copy(),
        detail=detail,
        trace=info.trace,
        receipt_no=info.receipt_no,
    )


def _receipts(
    result: ExchangeResult,
    info: StatusInfo,
    name: str,
    amount: Money | None,
    at: datetime | None,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The terminal's receipts, or one built from the status fields when it sent none."""
    if result.receipts:
        return result.receipts.guest_copy(), result.receipts.merchant_copy()
    return receipt_from_status(info, name, amount, at), ()


def describe(outcome: Outcome) -> str:
    """One card-safe line for the log."""
    if isinstance(outcome, Approved):
        return (
            f"approved {outcome.amount or ''} trace={outcome.trace} "
            f"receipt={outcome.receipt_no} {outcome.card}"
        )
    if isinstance(outcome, Declined):
        return f"declined {outcome.result_code:02X} ({outcome.meaning})"
    if isinstance(outcome, Aborted):
        return f"aborted ({outcome.reason})"
    return f"IN DOUBT at {outcome.stage}: {outcome.reason}"


# -- administration ----------------------------------------------------------------------
def require_answer(result: ExchangeResult, name: str) -> None:
    """Raise when the answer was lost (in doubt) or the command was refused (84 xx)."""
    if result.in_doubt:
        assert result.stage is not None
        raise TerminalLost(f"{name}: {result.reason}", result.stage)
    if result.refused is not None:
        raise TerminalRefused(f"{name} refused: {result_text(result.refused)}", result.refused)


def require_completion(result: ExchangeResult, name: str) -> None:
    """As :func:`require_answer`, and an abort (06 1E) is a refusal too."""
    require_answer(result, name)
    if result.aborted is not None:
        code = result.aborted.result_code
        raise TerminalRefused(f"{name} failed: {result_text(code)}", code)


def day_totals(result: ExchangeResult, currency: str, today: date) -> DayTotals:
    require_answer(result, "end of day")
    if result.aborted is not None:
        code = result.aborted.result_code
        return DayTotals(ok=False, result_code=code, meaning=result_text(code))
    info = result.status or status_from_fields(completion_fields(result.completion))
    if info.result_code not in (0, None):
        code = info.result_code or 0
        return DayTotals(ok=False, result_code=code, meaning=result_text(code))
    return DayTotals(
        ok=True,
        total=info.money(currency) or Money(0, currency),
        result_code=0,
        meaning=result_text(0),
        by_brand=info.brand_totals(currency),
        receipt_range=info.receipt_range(),
        at=info.at(today),
        receipt=result.receipts.guest_copy() or result.receipts.merchant_copy(),
    )


def last_transaction(result: ExchangeResult, currency: str, today: date) -> LastTransaction | None:
    require_answer(result, "repeat receipt")
    if result.aborted is not None:
        code = result.aborted.result_code
        if code == NOTHING_TO_REPEAT:
            return None
        raise TerminalRefused(f"repeat receipt failed: {result_text(code)}", code)
    info = result.status
    if info is None:
        # asked for with "send status" and completed without it: the answer is not the
        # terminal saying it has nothing (that is the abort above), so it proves nothing
        raise TerminalLost(
            "the terminal completed the repeat receipt without the transaction's status; "
            "its last transaction is unknown",
            DoubtStage.BEFORE_COMPLETION,
        )
    code = info.result_code or 0
    return LastTransaction(
        stands=code == 0,
        result_code=code,
        meaning=result_text(code),
        amount=info.money(currency),
        trace=info.trace,
        receipt_no=info.receipt_no,
        approval_code=info.approval_code,
        card=info.card,
        terminal_id=info.terminal_id,
        at=info.at(today),
        receipt=result.receipts.guest_copy(),
    )


def terminal_state(result: ExchangeResult) -> TerminalState:
    require_completion(result, "status enquiry")
    try:
        answer = parse_status_completion(result.completion)
    except ZvtCodecError as exc:
        raise TerminalRefused(f"unreadable status enquiry answer: {exc}") from exc
    code = answer.status
    severity = "ok" if code == 0 else "warning" if code in WARNING_STATES else "critical"
    return TerminalState(
        ready=code == 0,
        code=code,
        text=terminal_status_text(code),
        severity=severity,
        remedy=TERMINAL_STATUS_REMEDY.get(code),
        software=answer.software,
    )


def connectivity(result: ExchangeResult) -> Connectivity:
    require_answer(result, "diagnosis")
    if result.aborted is not None:
        code = result.aborted.result_code
        detail = status_from_fields(result.aborted.fields).vendor_text
        return Connectivity(False, code, result_text(code), detail)
    info = result.status or status_from_fields(completion_fields(result.completion))
    code = info.result_code or 0
    if code:
        return Connectivity(False, code, result_text(code), info.vendor_text)
    return Connectivity(True, 0, "the acquirer answered")


def open_pre_auths(result: ExchangeResult) -> tuple[str, ...]:
    """``06 23 03 87 FF FF`` is answered ``06 1E B8 87 <receipt>`` (FF FF: none)."""
    require_answer(result, "open pre-authorisation enquiry")
    if result.aborted is None:
        return ()
    code = result.aborted.result_code
    if code != PRE_AUTH_ENQUIRY:
        raise TerminalRefused(f"open pre-authorisation enquiry failed: {result_text(code)}", code)
    receipt = result.aborted.fields.get(0x87)
    return (str(receipt),) if isinstance(receipt, int) else ()


def completion_fields(data: bytes) -> dict[int, Any]:
    """BMPs of a completion; a completion we cannot read is an empty one."""
    if not data:
        return {}
    try:
        return decode_bmps(data)
    except ZvtCodecError as exc:
        log.debug("completion fields unreadable (%s); ignored", exc)
        return {}
