"""One command from the ECR, run by the terminal while it holds master rights.

A :class:`Session` gives the command handlers the steps of ZVT's application protocol
(PA00P015 §2): accept (80 00) or refuse (84 xx), send a message and wait for the ECR's
answer (80 00 00 to every 04 FF, 04 0F, 06 D1, 06 D3, 06 0F and 06 1E), intermediate
status when the config byte asks for it, receipts, and the commit rule for status
information.

The session ends early by exception (:class:`SessionEnded` and subclasses): the link went
away (:class:`LinkLost`), the ECR stopped answering (:class:`NoAnswer`), the ECR sent a
new command instead of an answer and so took master rights back (:class:`EcrGaveUp`; the
command is put back for the terminal to run next), the ECR aborted (:class:`EcrAbort`,
only while the transaction may still be aborted) or the terminal dropped the line itself
(:class:`Dropped`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .zvt.apdu import ACK, Apdu, CodecError, nack
from .zvt.fields import decode_fields
from .zvt.messages import (
    CFG_INTERMEDIATE_STATUS,
    CFG_PRINT_LINES,
    COMMANDS,
    PRINT_TEXT_BLOCK,
    Command,
    abort_message,
    completion,
    intermediate_status,
    print_line,
    status_information,
    text_block,
    vendor_error,
)

if TYPE_CHECKING:
    from .ledger import Entry
    from .model import TerminalEmulator

ABORT_CODE = COMMANDS["abort"].code
RESULT_TIMEOUT_ABORT = 0x6C  # abort via timeout or abort key
PARTIAL_ISSUE = 0x9D  # the ECR's 84 9D: goods issued for part of the amount (BMP 04)


class SessionEnded(Exception):
    """The command's exchange ended before its normal end."""


class LinkLost(SessionEnded):
    """The connection went away, power went off, or a frame could not be delivered."""


class NoAnswer(SessionEnded):
    """The ECR did not answer within the timeout."""


class EcrGaveUp(SessionEnded):
    """The ECR sent a new command where an answer was due: it took master rights back."""


class EcrAbort(SessionEnded):
    """The ECR sent Abort (06 B0) while the transaction could still be aborted."""


class Dropped(SessionEnded):
    """The terminal dropped the line itself (a ``drop_*`` fault)."""


class Session:
    """The running command; every method is called with the terminal's lock held."""

    def __init__(self, terminal: TerminalEmulator, command: Command) -> None:
        self.t = terminal
        self.command = command
        self.fields = command.fields
        self.abortable = False
        cfg = terminal.config
        timeout = self.fields.get(0x01)
        self.status_ack_timeout = float(timeout) if timeout else cfg.status_ack_timeout
        resends = self.fields.get(0x02)
        self.max_resends = int(resends) if resends else cfg.max_status_resends
        self.tlv_ok = terminal.tlv_allowed or 0x06 in self.fields

    # -- sending and answers -------------------------------------------------------------
    def send(self, apdu: Apdu, then_hang_up: bool = False) -> None:
        """Transmit ``apdu``; ``then_hang_up``: the terminal stops listening as soon as
        it is delivered (serial: its ACK arrived), so nothing the ECR sends after it is
        acknowledged or processed."""
        if not self.t.link_alive():  # never a byte for this ECR onto another's link
            raise LinkLost("the link to the ECR went away")
        if not self.t.wire.transmit(apdu, then_hang_up):
            raise LinkLost(f"{apdu} was never acknowledged")

    def accept(self) -> None:
        """``80 00 00``: the command is accepted; master rights go to the terminal.

        Under ``drop_before_accept`` a money command gets a hang-up instead.
        """
        if self.command.spec.money and "drop_before_accept" in self.t.active_faults:
            self.drop()
        self.send(ACK)

    def refuse(self, code: int) -> None:
        self.send(nack(code))

    def answer(self, timeout: float) -> Apdu | None:
        """The ECR's next answer (80 xx / 84 xx), or None after ``timeout`` seconds."""
        t = self.t
        if not t.wait_until(t.session_answers, time.monotonic() + timeout):
            return None
        epoch, apdu = t.inbox.popleft()
        if apdu.cls in (0x80, 0x84):
            return apdu
        if apdu.code == ABORT_CODE and self.abortable:
            t.counters["ecr_aborts"] += 1
            raise EcrAbort()
        t.inbox.appendleft((epoch, apdu))
        t.counters["ecr_took_master_back"] += 1
        raise EcrGaveUp(f"the ECR sent {apdu} instead of an answer")

    def exchange(self, apdu: Apdu, timeout: float | None = None) -> Apdu:
        """Send ``apdu`` and return the ECR's answer; :class:`NoAnswer` if none comes."""
        self.send(apdu)
        reply = self.answer(self.t.config.answer_timeout if timeout is None else timeout)
        if reply is None:
            self.t.counters["answers_missing"] += 1
            raise NoAnswer(f"no answer to {apdu}")
        return reply

    def pause(self, seconds: float) -> None:
        """Wait, watching the link and the ECR (an Abort may come meanwhile)."""
        t = self.t
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if t.wait_until(t.session_answers, deadline):
                apdu = t.inbox[0][1]
                if apdu.cls in (0x80, 0x84):
                    t.inbox.popleft()
                    t.counters["stray_answers"] += 1
                    continue
                self.answer(0)  # raises EcrAbort or EcrGaveUp

    # -- messages -------------------------------------------------------------------------
    def intermediate(self, status: int) -> None:
        """``04 FF`` when the config byte asked for intermediate status (bit 0x08)."""
        if self.t.ecr_config & CFG_INTERMEDIATE_STATUS:
            self.exchange(intermediate_status(status))

    def status_information(self, fields: list[tuple[int, Any]]) -> Apdu:
        return status_information(fields)

    def vendor_error(self, code: int, text: str) -> dict[int, Any]:
        """TLV 1F16 / 1F17, when the ECR allowed TLV (registration or this command)."""
        if not self.tlv_ok:
            return {}
        return {0x06: list(vendor_error(code, text))}

    def finish(self, apdu: Apdu) -> None:
        """Send the Completion or Abort that returns master rights; wait for 80 00 00."""
        try:
            self.exchange(apdu)
        except NoAnswer:
            pass  # master rights go back all the same

    def complete(self, data: bytes = b"") -> None:
        self.finish(completion(data))

    def abort(self, result: int, bmps: dict[int, Any] | None = None) -> None:
        self.t.counters["aborts_sent"] += 1
        self.finish(abort_message(result, bmps))

    def drop(self) -> None:
        """Hang up on the ECR (a ``drop_*`` fault) and end the session."""
        self.t.drop_link()
        raise Dropped()

    # -- receipts -------------------------------------------------------------------------
    def wants_receipts(self, admin: bool) -> bool:
        """Config 0x80 (print lines) and the ECR prints this kind of receipt (0x02 / 0x04)."""
        cfg = self.t.ecr_config
        kind_bit = 0x04 if admin else 0x02
        return bool(cfg & CFG_PRINT_LINES) and bool(cfg & kind_bit)

    def print_receipt(self, lines: list[str], receipt_type: int) -> None:
        """One receipt: a 06 D3 text block if the ECR permitted it (TLV 26), else 06 D1s."""
        t = self.t
        if t.permitted is not None and PRINT_TEXT_BLOCK in t.permitted:
            self._print(text_block(lines, receipt_type))
            return
        for index, line in enumerate(lines):
            last = index == len(lines) - 1
            self._print(print_line(line, 0x80 if last else 0x00))

    def _print(self, apdu: Apdu) -> None:
        reply = self.exchange(apdu)
        self.t.counters["receipt_messages"] += 1
        if not reply.is_ack:
            self.t.counters["receipt_refused"] += 1

    # -- the commit rule -------------------------------------------------------------------
    def commit(self, entry: Entry, fields: list[tuple[int, Any]]) -> bool:
        """Send the status information of ``entry``; True once the ECR acknowledged it.

        Anything else reverses the transaction (ledger state ``auto_reversed``): no answer
        within the status-ack timeout (BMP 01, else the configured default), a dropped link,
        a negative answer, or "not yet" (84 9C) more often than BMP 02 allows. After "not
        yet" the status information is sent again after the resend delay. "Partial issue
        of goods" (84 9D with BMP 04, PA00P015 §2.2.6) commits too, for the amount it
        names: a vending till that dispensed less than was authorised is charged only
        what it gave out, and the ledger, Repeat Receipt and the receipts say so.
        """
        t = self.t
        entry._status = fields
        resends = 0
        try:
            while True:
                dropping = "drop_after_status" in t.active_faults
                self.send(self.status_information(fields), then_hang_up=dropping)
                if dropping:
                    # hang up first, at once: the ECR's acknowledgement must find the
                    # terminal gone (over TCP, left unread), not racing the ledger's work
                    t.drop_link()
                    t.auto_reverse(entry, "link dropped before the acknowledgement")
                    raise Dropped()
                reply = self.answer(self.status_ack_timeout)
                if reply is None:
                    t.auto_reverse(entry, "status information not acknowledged in time")
                    self.abort(RESULT_TIMEOUT_ABORT)
                    return False
                if reply.is_ack:
                    t.counters["commits"] += 1
                    return True
                if reply.instr == PARTIAL_ISSUE and self._book_part(entry, reply):
                    t.counters["commits"] += 1
                    return True
                if reply.instr == 0x9C and resends < self.max_resends:
                    resends += 1
                    t.counters["status_resends"] += 1
                    self.pause(t.config.resend_delay)
                    continue
                t.auto_reverse(entry, f"the ECR answered {reply}")
                if reply.instr == 0x9C:  # "not yet" too often: say so, as the spec does
                    self.exchange(self.status_information([(0x27, RESULT_TIMEOUT_ABORT)]))
                self.abort(RESULT_TIMEOUT_ABORT)
                return False
        except (LinkLost, EcrGaveUp, NoAnswer):
            if entry.state != "auto_reversed":
                t.auto_reverse(entry, "the link failed before the acknowledgement")
            raise

    def _book_part(self, entry: Entry, reply: Apdu) -> bool:
        """Book the amount of an ``84 9D`` answer; False when it names none the terminal
        can book (none, nothing, more than authorised, or undecodable): that answer is
        then a negative one, and the payment is reversed."""
        try:
            amount = decode_fields(reply.data).get(0x04)
        except CodecError:
            amount = None
        if not isinstance(amount, int) or not 0 < amount <= entry.amount:
            self.t.counters["partial_issues_refused"] += 1
            return False
        entry.amount = amount
        entry._status = [(k, amount if k == 0x04 else v) for k, v in entry._status]
        self.t.counters["partial_issues"] += 1
        return True
