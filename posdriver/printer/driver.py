"""The ESC/POS printer driver: status, identification and print jobs over one link.

The driver owns the link's input. Everything the printer sends is read through one
small parser that tells the kinds of bytes apart by their fixed bits (see
:mod:`.status`): DLE EOT replies, Automatic Status Back blocks, and buffered replies
(GS r, GS I). Anything else is noise, counted and never taken for an answer.

Status is read one query at a time (some printers mishandle pipelined DLE EOT). Input
that is waiting before a query is stale: it is drained first, and if it turns up right
after a reply, that reply is treated as unknown, because it may have answered an earlier
query. The deadline of a query is the wire time of the query and its answer (plus any
print data still crossing the line) and a small tolerance, not a blanket second.

A query that timed out or came back unclean is followed by a resync pause: its answer
may still be on the way, and must not be taken for the next query's.

A print job is refused before its first byte if the printer is not known to be ready.
It is sent in windows that end on command boundaries (the segments the caller gives;
raw bytes are one segment), each followed by GS r 1, which the printer answers only once
it has printed everything before it. Those answers are checkpoints: at most
``max_outstanding`` windows are in flight, so the driver never runs further ahead of the
paper than the printer's buffer holds, and on failure it knows how much was *printed*,
not just sent. While it waits for a checkpoint it polls DLE EOT 1 (only ever at a
command boundary, never inside another command's parameters) and watches ASB pushes, so
paper running out mid-receipt is reported in about a second, not at a timeout.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..links import Link, LinkIOError, LinkTimeout
from .errors import PrinterNotReady, PrinterNotResponding, PrintIncomplete
from .status import (
    PaperState,
    PrinterStatus,
    Severity,
    decode_asb,
    decode_realtime,
    decode_transmit_paper,
    is_asb_header,
    is_buffered_reply,
    is_realtime_reply,
)

log = logging.getLogger(__name__)

DLE_EOT = b"\x10\x04"
GS_R_PAPER = b"\x1d\x72\x01"
# DLE DC4 8: clear the receive and print buffers (a real-time command: the printer takes
# it while offline with paper out, which is exactly when it is needed)
DLE_DC4_CLEAR = bytes((0x10, 0x14, 0x08, 0x01, 0x03, 0x14, 0x01, 0x06, 0x02, 0x08))
CLEAR_WRITE_TIMEOUT = 0.5
# status polls in a row left unanswered while a job prints before the printer counts as
# gone: with the 0.5 s poll interval, about 1.5 s instead of the whole confirm timeout
SILENT_POLLS = 3
CLEAR_SETTLE = 0.1  # lets the printer's "buffers cleared" reply arrive and be dropped
ASB_DEFAULT_MASK = 0x0F  # drawer, online/offline, error, roll paper sensor
GS_I_TEXT = {65: "firmware", 66: "maker", 67: "model", 68: "serial", 69: "font_language"}


@dataclass(frozen=True)
class PrinterIdentity:
    """What GS I told us; ``None`` where the printer did not answer."""

    model_id: int | None = None
    type_id: int | None = None
    rom_id: int | None = None
    firmware: str | None = None
    maker: str | None = None
    model: str | None = None
    serial: str | None = None
    font_language: str | None = None

    @property
    def has_autocutter(self) -> bool | None:
        return None if self.type_id is None else bool(self.type_id & 0x02)

    def as_dict(self) -> dict[str, object]:
        return {**self.__dict__, "has_autocutter": self.has_autocutter}


@dataclass(frozen=True)
class PrintResult:
    """A finished job: ``printed`` bytes were confirmed by the printer (GS r)."""

    total: int
    sent: int
    printed: int
    confirmed: bool
    status: PrinterStatus
    seconds: float
    pushes: list[PrinterStatus] = field(default_factory=list)


@dataclass
class _JobState:
    total: int
    sent: int = 0
    printed: int = 0
    pending: deque[int] = field(default_factory=deque)
    pushes: list[PrinterStatus] = field(default_factory=list)


class Printer:
    """An ESC/POS printer behind an open :class:`~posdriver.links.Link`."""

    def __init__(
        self,
        link: Link,
        *,
        reply_tolerance: float = 0.05,
        confirm_timeout: float = 10.0,
        write_grace: float = 2.0,
        window: int = 1024,
        max_outstanding: int = 2,
        poll_interval: float = 0.5,
        chunk_size: int = 512,
    ) -> None:
        self.link = link
        self.reply_tolerance = reply_tolerance
        self.confirm_timeout = confirm_timeout
        self.write_grace = write_grace
        self.window = window
        self.max_outstanding = max_outstanding
        self.poll_interval = poll_interval
        self.chunk_size = chunk_size
        self.counters: Counter[str] = Counter()
        self.last_status = PrinterStatus()
        self.asb_enabled = False
        self._rx = bytearray()
        self._pushes: list[PrinterStatus] = []
        self._wire_free_at = 0.0

    # -- low-level input ---------------------------------------------------------------
    def _read_into_buffer(self, timeout: float) -> bool:
        data = self.link.read(256, timeout=max(0.0, timeout))
        if data:
            self._rx += data
        return bool(data)

    def _take_pushes(self) -> None:
        """Decode complete ASB blocks at the head of the input buffer."""
        while self.asb_enabled and len(self._rx) >= 4 and is_asb_header(self._rx[0]):
            block = bytes(self._rx[:4])
            status = decode_asb(block)
            if status.online is None:  # header-shaped noise: drop one byte, resync
                self._noise(1)
                continue
            del self._rx[:4]
            self.counters["asb_blocks"] += 1
            self._pushes.append(status)
            self.last_status = self.last_status.merged(status)

    def _head_is_partial_push(self) -> bool:
        return self.asb_enabled and 0 < len(self._rx) < 4 and is_asb_header(self._rx[0])

    def _noise(self, count: int) -> None:
        del self._rx[:count]
        self.counters["noise_bytes"] += count

    def _drain(self, wait: float = 0.0) -> bool:
        """Read what is waiting; keep pushes, discard the rest. True if any was stale."""
        stale = False
        deadline = time.monotonic() + wait
        while True:
            got = self._read_into_buffer(max(0.0, deadline - time.monotonic()))
            self._take_pushes()
            if self._rx and not self._head_is_partial_push():
                self.counters["stale_bytes"] += len(self._rx)
                self._rx.clear()
                stale = True
            if not got and time.monotonic() >= deadline:
                return stale

    def _reply_deadline(self, out_bytes: int, in_bytes: int, extra: float = 0.0) -> float:
        now = time.monotonic()
        backlog = max(0.0, self._wire_free_at - now)
        wire = (out_bytes + in_bytes) * self.link.char_time
        return now + backlog + wire + self.reply_tolerance + extra

    def _wire_clear(self) -> None:
        """A reply to the last thing sent came back: everything sent before it has
        crossed the wire (it is first in, first out), whatever the estimate from the
        baud rate said. Without this the estimate runs ahead of the clock whenever the
        link takes bytes faster than its nominal rate (a USB or network printer, a
        serial adapter's buffer), and every later reply deadline carries that phantom
        backlog: a printer switched off after a dozen receipts went unnoticed for the
        8 s the estimate claimed the wire was still busy."""
        self._wire_free_at = min(self._wire_free_at, time.monotonic())

    def _send(self, data: bytes, timeout: float) -> None:
        self.link.write(data, timeout=timeout)
        now = time.monotonic()
        self._wire_free_at = max(now, self._wire_free_at) + len(data) * self.link.char_time

    def _await_byte(self, accept: str, deadline: float) -> tuple[int | None, bool]:
        """Wait for one reply byte of a kind; returns (byte or None, clean)."""
        clean = True
        while True:
            self._take_pushes()
            while self._rx and not self._head_is_partial_push():
                head = self._rx[0]
                fits = (
                    is_realtime_reply(head) if accept == "realtime" else (is_buffered_reply(head))
                )
                if fits:
                    del self._rx[0]
                    self._take_pushes()
                    if self._rx and not self._head_is_partial_push():
                        clean = False  # more bytes right behind: which one answered us?
                    return head, clean
                self._noise(1)
                self.counters["malformed_replies"] += 1
                clean = False
            left = deadline - time.monotonic()
            if left <= 0:
                return None, clean
            self._read_into_buffer(left)

    # -- status ------------------------------------------------------------------------
    def _realtime(self, n: int) -> tuple[int | None, bool]:
        """One DLE EOT query: (reply or None, whether the printer is silent altogether)."""
        try:
            self._send(DLE_EOT + bytes([n]), timeout=self._reply_deadline(3, 0) - time.monotonic())
        except LinkTimeout:
            return None, True  # the printer is not reading: no answer
        byte, clean = self._await_byte("realtime", self._reply_deadline(0, 1))
        if byte is None or not clean:
            # Its answer may still be on the way: let it arrive and drop it, so that it
            # is not taken for the next query's.
            late = self._drain(wait=self._resync_time())
            if late:
                self.counters["late_replies"] += 1
            return None, byte is None and not late
        self._wire_clear()  # the query was the last thing sent
        return byte, False

    def _resync_time(self) -> float:
        return max(0.1, 2 * self.reply_tolerance) + 8 * self.link.char_time

    def query_status(self) -> PrinterStatus:
        """Ask DLE EOT 1-4, one at a time; raises ``LinkIOError`` only if the link died."""
        self.counters["status_queries"] += 1
        replies: dict[int, int | None] = {}
        previous: int | None = None
        for n in (1, 2, 3, 4):
            if self._drain() and previous is not None:
                replies[previous] = None
                self.counters["stale_replies"] += 1
            replies[n], silent = self._realtime(n)
            if silent:
                # Nothing came back, not even late: the rest would only time out too.
                self.counters["no_answer"] += 1
                break
            previous = n
        if self._drain(wait=3 * self.link.char_time + 0.002):
            replies[4] = None
            self.counters["stale_replies"] += 1
        status = decode_realtime(replies)
        if status.severity is Severity.UNKNOWN:
            self.counters["status_unknown"] += 1
        self.last_status = status
        return status

    def enable_asb(self, mask: int = ASB_DEFAULT_MASK) -> PrinterStatus | None:
        """Turn on Automatic Status Back; returns the first pushed status, if it came."""
        if not 0 < mask <= 0xFF:
            raise ValueError(f"ASB mask must be 1..255, got {mask}")
        self._drain()
        self.asb_enabled = True
        before = len(self._pushes)
        self._send(b"\x1d\x61" + bytes([mask]), timeout=self.write_grace)
        deadline = self._reply_deadline(3, 4)
        while len(self._pushes) == before:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._read_into_buffer(left)
            self._take_pushes()
        return self._pushes[-1]

    def disable_asb(self) -> None:
        self._send(b"\x1d\x61\x00", timeout=self.write_grace)
        self._drain(wait=4 * self.link.char_time + 0.01)
        self.asb_enabled = False

    def poll(self, timeout: float = 0.0) -> list[PrinterStatus]:
        """Statuses the printer pushed (ASB) since the last call, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            got = self._read_into_buffer(max(0.0, deadline - time.monotonic()))
            self._take_pushes()
            if self._rx and not self._head_is_partial_push():
                self._noise(len(self._rx))
            if self._pushes or (not got and time.monotonic() >= deadline):
                break
        pushes, self._pushes = self._pushes, []
        return pushes

    # -- identification ----------------------------------------------------------------
    def identify(self) -> PrinterIdentity:
        """GS I: one-byte ids and text fields; ``None`` for what got no answer."""
        self._drain()
        values: dict[str, object] = {}
        for n, name in ((1, "model_id"), (2, "type_id"), (3, "rom_id")):
            self._send(b"\x1d\x49" + bytes([n]), timeout=self.write_grace)
            byte, clean = self._await_byte("buffered", self._reply_deadline(0, 1))
            values[name] = byte if clean else None
        for n, name in GS_I_TEXT.items():
            self._send(b"\x1d\x49" + bytes([n]), timeout=self.write_grace)
            values[name] = self._await_text(self._reply_deadline(0, 82))
        return PrinterIdentity(**values)  # type: ignore[arg-type]

    def _await_text(self, deadline: float) -> str | None:
        """A ``5F <text> 00`` block, or None."""
        while True:
            self._take_pushes()
            if self._rx and self._rx[0] != 0x5F and not self._head_is_partial_push():
                self._noise(1)
                continue
            end = self._rx.find(b"\x00")
            if self._rx[:1] == b"\x5f" and end > 0:
                text = bytes(self._rx[1:end])
                del self._rx[: end + 1]
                return text.decode("ascii", "replace").strip()
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._read_into_buffer(left)

    # -- printing ----------------------------------------------------------------------
    def print_receipt(self, receipt: object) -> PrintResult:
        """Encode a :class:`~posdriver.printer.receipt.Receipt` and print it."""
        from .receipt import Receipt, encode_segments

        if not isinstance(receipt, Receipt):
            raise TypeError(f"expected a Receipt, got {type(receipt).__name__}")
        return self.print_job(encode_segments(receipt))

    def print_job(self, job: bytes | Sequence[bytes], *, confirm: bool = True) -> PrintResult:
        """Print ``job``; raise a :class:`PrinterError` saying how far it got if it fails.

        ``job`` is raw bytes, or segments that each end on a command boundary (see
        :func:`~posdriver.printer.receipt.encode_segments`); checkpoints go only there.
        With ``confirm=False`` the last window is not waited for.
        """
        started = time.monotonic()
        segments = [bytes(job)] if isinstance(job, bytes | bytearray) else [bytes(s) for s in job]
        total = sum(len(s) for s in segments)
        self._check_ready()
        self._pushes.clear()
        job_state = _JobState(total=total)
        windows = list(self._windows(segments))
        for index, window in enumerate(windows):
            while len(job_state.pending) >= self.max_outstanding:
                self._await_checkpoint(job_state)
            self._send_window(window, job_state)
            if confirm or index < len(windows) - 1:
                self._send(GS_R_PAPER, timeout=self.write_grace)
                job_state.pending.append(job_state.sent)
        while job_state.pending:
            self._await_checkpoint(job_state)
        return PrintResult(
            total=total,
            sent=job_state.sent,
            printed=job_state.printed,
            confirmed=confirm and job_state.printed == total,
            status=self.last_status,
            seconds=time.monotonic() - started,
            pushes=job_state.pushes,
        )

    def _windows(self, segments: list[bytes]) -> list[bytes]:
        """Group segments into windows of at least ``self.window`` bytes."""
        windows: list[bytes] = []
        current = bytearray()
        for segment in segments:
            current += segment
            if len(current) >= self.window:
                windows.append(bytes(current))
                current.clear()
        if current or not windows:
            windows.append(bytes(current))
        return windows

    def _send_window(self, window: bytes, job: _JobState) -> None:
        for start in range(0, len(window), self.chunk_size):
            chunk = window[start : start + self.chunk_size]
            try:
                self._send(chunk, timeout=len(chunk) * self.link.char_time * 2 + self.write_grace)
            except LinkTimeout as exc:
                job.sent += exc.done
                raise self._incomplete(
                    "the printer stopped taking data (busy, or its buffer is full)", job
                ) from exc
            except LinkIOError as exc:
                raise PrintIncomplete(
                    f"the link to the printer failed after {job.sent} of {job.total} bytes "
                    f"({job.printed} confirmed printed): {exc}",
                    sent=job.sent,
                    printed=job.printed,
                    total=job.total,
                    status=self.last_status,
                ) from exc
            job.sent += len(chunk)
            self._check_pushes(job)

    def _check_pushes(self, job: _JobState) -> None:
        """Stop at once if the printer pushed (ASB) that it cannot go on."""
        if not self.asb_enabled:
            return
        self._read_into_buffer(0)
        self._take_pushes()
        job.pushes += self._pushes
        self._pushes.clear()
        stop = next((p for p in job.pushes if p.severity is Severity.CRITICAL), None)
        if stop is not None:
            raise self._incomplete(f"the printer reported {stop.summary()}", job)

    def _await_checkpoint(self, job: _JobState) -> None:
        """Wait for the oldest GS r answer, polling DLE EOT 1 while it does not come."""
        deadline = self._reply_deadline(0, 1, self.confirm_timeout)
        # Poll only once the answer is overdue: before the data has crossed the wire the
        # checkpoint cannot have come, and polls would only take wire time from the job.
        next_poll = max(time.monotonic(), self._wire_free_at) + self.poll_interval
        polling = False
        silent = 0  # polls in a row the printer let pass without a word
        while True:
            self._check_pushes(job)
            self._take_pushes()
            while self._rx and not self._head_is_partial_push():
                head = self._rx.pop(0)
                if is_buffered_reply(head):
                    job.printed = job.pending.popleft()
                    if not job.pending:  # the job's last checkpoint: nothing sent after
                        self._wire_clear()
                    paper = decode_transmit_paper(head)
                    if paper is not PaperState.UNKNOWN:
                        self.last_status = self.last_status.merged(
                            PrinterStatus(paper=paper, source="gs_r", raw={"gs_r_1": head})
                        )
                    if polling:  # collect our poll's answer, or it turns up as stale later
                        self._await_byte("realtime", self._reply_deadline(0, 1))
                    return
                if is_realtime_reply(head) and polling:
                    polling, silent = False, 0
                    self._wire_clear()  # the poll was the last thing sent
                    if head & 0x08:  # offline: find out why, and stop here
                        raise self._incomplete("the printer went offline", job)
                    continue
                self.counters["noise_bytes"] += 1
            now = time.monotonic()
            if now >= deadline:
                raise self._incomplete("the printer did not confirm printing", job)
            if now >= next_poll:
                if polling:
                    # DLE EOT is answered on receipt, even while printing, offline or
                    # with a full buffer: a printer silent to it is gone (power, cable),
                    # and waiting out the whole confirm timeout would only keep the
                    # desk from learning so
                    silent += 1
                    if silent >= SILENT_POLLS:
                        raise self._incomplete(
                            f"the printer stopped answering ({silent} status polls unanswered)",
                            job,
                        )
                self._send(DLE_EOT + b"\x01", timeout=self.write_grace)
                polling = True
                next_poll = now + self.poll_interval
            self._read_into_buffer(min(deadline, next_poll) - now)

    def _check_ready(self) -> None:
        """One DLE EOT 1 before a job: "online" already rules out every reason not to
        print (paper end, cover open, any error takes a TM printer offline). Only a
        refusal needs the full status, to say why. Each query is a round trip of wire
        time the job waits for, so a ready printer costs one, not four."""
        self._drain()
        byte, _ = self._realtime(1)
        if byte is not None and not byte & 0x08:
            self.last_status = self.last_status.merged(decode_realtime({1: byte}))
            return
        self._refuse_unless_ready(self.query_status())

    def _refuse_unless_ready(self, status: PrinterStatus) -> None:
        severity = status.severity
        if severity is Severity.CRITICAL:
            raise PrinterNotReady(
                f"printer cannot print: {status.summary()}; nothing was sent", status
            )
        if severity is Severity.UNKNOWN:
            raise PrinterNotResponding(
                f"printer status is not known ({status.summary()}); nothing was sent", status
            )

    def _incomplete(self, why: str, job: _JobState) -> PrintIncomplete:
        try:
            status = self.query_status()
        except LinkIOError:
            status = PrinterStatus()
        held = job.sent - job.printed
        rest = (
            f"; the printer may still hold up to {held} unprinted bytes and print them when "
            "it recovers"
            if held
            else ""
        )
        return PrintIncomplete(
            f"print job incomplete: {why}; {job.printed} of {job.total} bytes confirmed "
            f"printed ({100 * job.printed // max(job.total, 1)}%), {job.sent} sent{rest}; "
            f"printer: {status.summary()}",
            sent=job.sent,
            printed=job.printed,
            total=job.total,
            status=status,
        )

    # -- small real-time actions ---------------------------------------------------------
    def recover(self, clear_buffer: bool = False) -> None:
        """DLE ENQ: recover from a recoverable error (after its cause is removed)."""
        self._send(b"\x10\x05" + (b"\x02" if clear_buffer else b"\x01"), self.write_grace)

    def clear_buffers(
        self, *, timeout: float = CLEAR_WRITE_TIMEOUT, settle: float = CLEAR_SETTLE
    ) -> list[PrinterStatus]:
        """DLE DC4 8: drop everything the printer holds, received or waiting to print.

        For after a job was cut off part-way (paper out, cover opened, link lost): the
        tail of the torn receipt must not come out on the new roll in front of its
        reprint. Safe only when nothing of value is in flight, that is between jobs and
        never while another job's bytes are on their way, since whatever the printer
        holds is lost. Being a real-time command it is taken while the printer is
        offline, out of paper or with the cover open. Its "buffers cleared" reply is
        read for ``settle`` seconds and dropped (not counted as an answer); pushed
        statuses that came meanwhile are returned. Raises ``LinkError`` when the link
        fails."""
        self._send(DLE_DC4_CLEAR, timeout)
        return self.poll(timeout=settle)

    def pulse_drawer(self, pin: int = 2, pulse_ms: int = 100) -> None:
        """DLE DC4 1: open the cash drawer now, even while the printer is busy printing."""
        if pin not in (2, 5):
            raise ValueError(f"drawer pin must be 2 or 5, got {pin}")
        units = max(1, min(8, round(pulse_ms / 100)))
        self._send(bytes([0x10, 0x14, 0x01, 0 if pin == 2 else 1, units]), self.write_grace)
