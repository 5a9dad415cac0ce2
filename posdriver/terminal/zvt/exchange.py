"""One ZVT command from start to end: the state machine every command goes through.

::

    flush stale input
    send the command                         link error -> TerminalNotReached
    wait T3 for 80 00 / 84 xx                silence or link error -> TerminalNotReached
      84 A0 / 84 9C                          -> TerminalBusy
      84 xx                                  -> refused (a value: nothing happened)
    80 00: the terminal has master rights; T4 runs, re-armed by every message
      04 FF  intermediate status             -> progress(text), answer 80 00
      04 0F  status information              -> decode, answer 80 00 (this COMMITS it;
                                                84 9D <amount> books part of it instead)
      06 D1 / 06 D3  receipt lines / block   -> collect, answer 80 00
      06 0F  completion                      -> answer 80 00, done
      06 1E  abort                           -> answer 80 00, aborted with its result
      anything else                          -> answer 84 83 00 ("not possible"), counted
    T4 expired                               -> send Abort (06 B0) once, wait T3 more
    link error or silence after acceptance   -> in doubt, with the stage it reached

The stages of doubt: ``after_accept`` (nothing seen yet), ``after_status`` (a 04 0F
arrived and our acknowledgement did not surely reach the terminal, which then reverses
it), ``before_completion`` (the 04 0F was acknowledged, so the payment stands, and the
completion never came).

The exchange knows nothing of money or outcomes: it returns an :class:`ExchangeResult`
that :mod:`.terminal` turns into outcome values. It never sends a command twice.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ...links import LinkError
from ..outcomes import (
    DoubtStage,
    TerminalBusy,
    TerminalNotReached,
)
from .apdu import ACK, Apdu, nack
from .bmp import encode_bmps
from .channel import Channel, describe
from .codes import intermediate_text, result_text
from .errors import ZvtCodecError
from .messages import (
    ABORT,
    COMPLETION,
    INTERMEDIATE_STATUS,
    PRINT_LINE,
    PRINT_TEXT_BLOCK,
    STATUS_INFORMATION,
    AbortMessage,
    build,
    parse_abort,
    parse_intermediate,
    parse_print_line,
    parse_text_block,
)
from .status_info import ReceiptCollector, StatusInfo, decode_status_info

log = logging.getLogger(__name__)

T3_DEFAULT = 5.0
T4_DEFAULT = 180.0
BUSY_CODES = (0xA0, 0x9C)  # receiver not ready, please wait
NOT_POSSIBLE = 0x83
PROTOCOL_ERROR = 0x9A
PARTIAL_ISSUE = 0x9D  # our 84 9D to a 04 0F: goods issued for the amount in BMP 04
POLL = 0.05  # how often a waiting exchange looks for an abort request
TERMINAL_MESSAGES = (
    INTERMEDIATE_STATUS,
    STATUS_INFORMATION,
    PRINT_LINE,
    PRINT_TEXT_BLOCK,
    COMPLETION,
    ABORT,
)


@dataclass
class ExchangeResult:
    """Everything one exchange saw, for the terminal to turn into an outcome."""

    command: str
    accepted: bool = False
    refused: int | None = None  # xx of 84 xx before acceptance
    completed: bool = False  # 06 0F (or 80 00 for a command without completion)
    completion: bytes = b""  # the 06 0F data
    aborted: AbortMessage | None = None  # 06 1E
    status: StatusInfo | None = None  # the last 04 0F
    # an approval we acknowledged, then a 04 0F with another verdict (or the reverse):
    # the acknowledged one stands by the spec, the later one says otherwise
    conflict: str | None = None
    committed: StatusInfo | None = None  # the first 04 0F we acknowledged
    status_unreadable: str | None = None  # a 04 0F that did not decode, and why
    status_acked: bool = False  # our 80 00 to it went out (serial: and was ACKed)
    status_confirmed: bool = False  # the terminal spoke again after that 80 00
    receipts: ReceiptCollector = field(default_factory=ReceiptCollector)
    intermediate: list[int] = field(default_factory=list)
    abort_sent: bool = False  # we sent 06 B0 (T4 expiry or an abort request)
    abort_answer: int | None = None  # 0 when the terminal took our abort, else its code
    stage: DoubtStage | None = None  # set when the result is in doubt
    reason: str = ""
    link_failed: bool = False
    accept_hook_failed: bool = False  # on_accepted raised; an abort was requested
    stale: int = 0  # endings of an earlier command seen before this one was accepted
    unexpected: int = 0

    @property
    def in_doubt(self) -> bool:
        return self.stage is not None

    def doubt_stage(self) -> DoubtStage:
        if self.status is None and self.status_unreadable is None:
            return DoubtStage.AFTER_ACCEPT
        return DoubtStage.BEFORE_COMPLETION if self.status_acked else DoubtStage.AFTER_STATUS


class Exchange:
    """Runs one command over a channel. Not reusable; one per command."""

    def __init__(
        self,
        channel: Channel,
        *,
        t3: float = T3_DEFAULT,
        t4: float = T4_DEFAULT,
        progress: Callable[[str], None] | None = None,
        on_accepted: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        partial: int | None = None,
    ) -> None:
        self.channel = channel
        self.partial = partial
        self.t3 = t3
        self.t4 = t4
        self.progress = progress
        self.on_accepted = on_accepted
        self.clock = clock
        self._abort_requested = threading.Event()

    def request_abort(self) -> None:
        """Ask the running exchange (from any thread) to send Abort to the terminal."""
        self._abort_requested.set()

    # -- the command -------------------------------------------------------------------
    def run(
        self, command: Apdu, *, name: str = "", requires_completion: bool = True
    ) -> ExchangeResult:
        result = ExchangeResult(name or describe(command))
        try:
            self.channel.flush_input()
            self.channel.send(command)
        except LinkError as exc:
            raise TerminalNotReached(
                f"{result.command}: could not send the command: {exc}"
            ) from exc
        first = self._await_acceptance(result)
        if result.refused is not None:
            return result
        if not requires_completion and first is None:
            result.completed = True
            return result
        return self._master_rights(result, first)

    def _await_acceptance(self, result: ExchangeResult) -> Apdu | None:
        """Wait T3 for 80 00 / 84 xx. Returns a terminal message that arrived instead of
        80 00 (taken as implicit acceptance, as some terminals do), else None."""
        deadline = self.clock() + self.t3
        while True:
            left = deadline - self.clock()
            if left <= 0:
                raise TerminalNotReached(
                    f"{result.command}: the terminal did not accept the command within "
                    f"{self.t3:g} s"
                )
            try:
                apdu = self.channel.receive(left)
            except LinkError as exc:
                raise TerminalNotReached(
                    f"{result.command}: the link failed before the terminal accepted the "
                    f"command: {exc}"
                ) from exc
            if apdu is None:
                continue
            if apdu.is_ack:
                result.accepted = True
                log.debug("%s accepted", result.command)
                self._accepted(result)
                return None
            if apdu.is_nack:
                code = apdu.instr
                if code in BUSY_CODES:
                    raise TerminalBusy(
                        f"{result.command}: the terminal is busy ({result_text(code)})", code
                    )
                result.refused = code
                log.debug("%s refused: 84 %02X (%s)", result.command, code, result_text(code))
                return None
            if apdu.code == COMPLETION and not apdu.data:
                # A bare completion before any acceptance is not an answer to this
                # command (a command answered at once, like a status enquiry, carries its
                # answer in the completion): it is an earlier command's completion the
                # terminal is still repeating because the till that sent that command died
                # before acknowledging it. Acknowledge it so the terminal lets go of it,
                # and keep waiting; if our command was lost meanwhile, T3 says so.
                result.stale += 1
                log.info(
                    "%s: acknowledged a stale %s from an earlier command",
                    result.command,
                    describe(apdu),
                )
                with contextlib.suppress(LinkError):
                    self.channel.send(ACK)
                continue
            if apdu.code in TERMINAL_MESSAGES:
                result.accepted = True
                log.debug("%s accepted implicitly by %s", result.command, describe(apdu))
                self._accepted(result)
                return apdu
            self._unexpected(result, apdu)

    def _accepted(self, result: ExchangeResult) -> None:
        """Tell the caller the terminal took the command (the journal records SENT). If
        that fails, the till cannot keep its record of this payment, so it asks the
        terminal to abort it; the outcome still says what the terminal did."""
        if self.on_accepted is None:
            return
        try:
            self.on_accepted()
        except Exception:
            log.exception(
                "%s: recording acceptance failed; asking the terminal to abort", result.command
            )
            result.accept_hook_failed = True
            self.request_abort()

    # -- master rights with the terminal -----------------------------------------------
    def _master_rights(self, result: ExchangeResult, first: Apdu | None) -> ExchangeResult:
        t4 = self.t4
        deadline = self.clock() + t4
        pending = first
        while True:
            if self._abort_requested.is_set() and not result.abort_sent:
                if not self._send_abort(result, "requested by the till"):
                    return result
                deadline = self.clock() + t4
            apdu: Apdu | None
            if pending is not None:
                apdu, pending = pending, None
            else:
                left = deadline - self.clock()
                if left <= 0:
                    if result.abort_sent:
                        self._doubt(result, "the terminal fell silent after our Abort")
                        return result
                    log.warning(
                        "%s: terminal silent for T4 (%g s); sending Abort", result.command, t4
                    )
                    if not self._send_abort(result, f"T4 ({t4:g} s) expired"):
                        return result
                    deadline = self.clock() + self.t3
                    continue
                try:
                    apdu = self.channel.receive(min(left, POLL))
                except LinkError as exc:
                    result.link_failed = True
                    if (
                        result.status_acked
                        and not result.status_confirmed
                        and self.channel.unread_by_peer(exc)
                    ):
                        result.status_acked = False  # our acknowledgement was never read
                    self._doubt(result, f"the link failed: {exc}")
                    return result
                if apdu is None:
                    continue
            assert apdu is not None
            if result.status_acked:
                # The terminal waits for our answer before it says more: anything now
                # proves it read our acknowledgement of the status information.
                result.status_confirmed = True
            rearm = self._handle(result, apdu)
            if result.in_doubt:
                return result
            if result.completed or result.aborted is not None:
                if result.status_unreadable is not None:
                    self._doubt(
                        result,
                        f"the terminal's result could not be read: {result.status_unreadable}",
                    )
                return result
            if rearm is not None:
                t4 = rearm
                deadline = self.clock() + (self.t3 if result.abort_sent else t4)

    def _handle(self, result: ExchangeResult, apdu: Apdu) -> float | None:
        """Act on one message; returns the (possibly new) T4 when it re-arms the timer."""
        code = apdu.code
        if code == INTERMEDIATE_STATUS:
            t4 = self.t4
            try:
                info = parse_intermediate(apdu.data)
            except ZvtCodecError as exc:
                log.debug("unreadable intermediate status: %s", exc)
            else:
                result.intermediate.append(info.status)
                if info.timeout_minutes:
                    t4 = info.timeout_minutes * 60.0
                self._report(intermediate_text(info.status))
            if not self._answer(result, ACK):
                return None
            return t4
        if code == STATUS_INFORMATION:
            return self._status_information(result, apdu)
        if code in (PRINT_LINE, PRINT_TEXT_BLOCK):
            try:
                if code == PRINT_LINE:
                    result.receipts.add_line(parse_print_line(apdu.data))
                else:
                    result.receipts.add_block(parse_text_block(apdu.data))
            except (ZvtCodecError, UnicodeDecodeError) as exc:
                log.debug("unreadable receipt text: %s", exc)
            if not self._answer(result, ACK):
                return None
            return self.t4
        if code == COMPLETION:
            result.completion = apdu.data
            result.completed = True
            self._answer(result, ACK, final=True)
            log.debug("%s completed", result.command)
            return None
        if code == ABORT:
            try:
                result.aborted = parse_abort(apdu.data)
            except ZvtCodecError as exc:
                log.debug("abort with unreadable fields: %s", exc)
                result.aborted = AbortMessage(apdu.data[0] if apdu.data else 0x6C)
            self._answer(result, ACK, final=True)
            log.debug(
                "%s aborted by the terminal: %02X (%s)",
                result.command,
                result.aborted.result_code,
                result_text(result.aborted.result_code),
            )
            return None
        if result.abort_sent and result.abort_answer is None and apdu.cls in (0x80, 0x84):
            result.abort_answer = 0 if apdu.is_ack else apdu.instr
            log.debug("terminal answered our Abort with %s", describe(apdu))
            return None
        self._unexpected(result, apdu)
        return None

    def _status_information(self, result: ExchangeResult, apdu: Apdu) -> float | None:
        try:
            info = decode_status_info(apdu.data)
        except (ZvtCodecError, UnicodeDecodeError) as exc:
            # Acknowledging what we cannot read would commit a payment we know nothing
            # about; refusing it makes the terminal reverse it. Either way the result is
            # for the journal to resolve.
            result.status_unreadable = str(exc)
            log.warning("%s: unreadable status information (%s); refusing it", result.command, exc)
            if not self._answer(result, nack(PROTOCOL_ERROR)):
                return None
            return self.t4
        earlier = result.committed
        if (
            earlier is not None
            and result.conflict is None
            and _approves(earlier) != _approves(info)
        ):
            result.conflict = (
                f"the terminal sent a result ({_verdict(earlier)}), which was acknowledged, "
                f"then another ({_verdict(info)})"
            )
            log.warning("%s: conflicting results: %s", result.command, result.conflict)
        result.status = info
        result.status_acked = result.status_confirmed = False
        log.debug("%s status information: %s", result.command, info.summary())
        if self.channel.peer_closed():
            result.link_failed = True
            self._doubt(result, "the terminal closed the link before our acknowledgement")
            return None
        answer, info = self._acknowledgement(info)
        result.status = info
        if self._answer(result, answer):
            result.status_acked = True
            if result.committed is None:
                result.committed = info
            return self.t4
        return None

    def _acknowledgement(self, info: StatusInfo) -> tuple[Apdu, StatusInfo]:
        """What commits ``info``: ``80 00 00``, or "partial issue of goods" (84 9D with
        BMP 04) when the till takes less than was approved. The partial answer books that
        amount, so the result carries it: what was booked is what is journaled."""
        part = self.partial
        if part is None or not _approves(info) or info.amount is None or part >= info.amount:
            return ACK, info
        log.info("partial issue: booking %d of the %d approved (minor units)", part, info.amount)
        return Apdu(0x84, PARTIAL_ISSUE, encode_bmps({0x04: part})), replace(info, amount=part)

    # -- helpers ---------------------------------------------------------------------
    def _answer(self, result: ExchangeResult, apdu: Apdu, *, final: bool = False) -> bool:
        """Send an answer; on a link failure the exchange is in doubt (unless the message
        answered was final: the terminal had already said how it ended)."""
        try:
            self.channel.send(apdu)
            return True
        except LinkError as exc:
            result.link_failed = True
            if not final:
                self._doubt(result, f"our acknowledgement did not reach the terminal: {exc}")
            return False

    def _send_abort(self, result: ExchangeResult, why: str) -> bool:
        result.abort_sent = True
        log.info("%s: sending Abort (%s)", result.command, why)
        try:
            self.channel.send(build("abort"))
        except LinkError as exc:
            result.link_failed = True
            self._doubt(result, f"{why}, and Abort could not be sent: {exc}")
            return False
        return True

    def _doubt(self, result: ExchangeResult, reason: str) -> None:
        result.stage = result.doubt_stage()
        result.reason = reason
        log.warning("%s in doubt (%s): %s", result.command, result.stage, reason)

    def _unexpected(self, result: ExchangeResult, apdu: Apdu) -> None:
        result.unexpected += 1
        log.debug("unexpected %s while running %s", describe(apdu), result.command)
        if apdu.cls not in (0x80, 0x84):  # a message wants an answer; answers do not
            self._answer(result, nack(NOT_POSSIBLE), final=True)

    def _report(self, text: str) -> None:
        if self.progress is None:
            return
        try:
            self.progress(text)
        except Exception:
            log.exception("progress callback failed (ignored)")


def _approves(info: StatusInfo) -> bool:
    """A status information's verdict: result 00 (or none given) approves."""
    return info.result_code in (0, None)


def _verdict(info: StatusInfo) -> str:
    if _approves(info):
        return f"approved, receipt {info.receipt_no or '-'}, trace {info.trace or '-'}"
    return f"{info.result_code:02X} {result_text(info.result_code or 0)}"
