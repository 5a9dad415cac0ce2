"""The emulated Epson TM-class printer: receive buffer, status, faults and ASB.

Bytes from a transport arrive in :meth:`PrinterEmulator._receive` (under the device
lock). The path they take is the one a TM printer's firmware takes:

1. The interface scans them for real-time commands (:mod:`.realtime`) and executes
   those at once, even while offline or with a full buffer: ``DLE EOT`` answers, ``DLE
   ENQ`` recovers, ``DLE DC4`` pulses the drawer, clears buffers or shuts down.
2. All bytes (real-time ones too) go into the receive buffer of ``receive_buffer``
   bytes. With ``overflow=False`` (USB, TCP: flow control) the printer takes only what
   fits and the transport holds the rest, so the host's writes stall; with
   ``overflow=True`` (serial without flow control) what does not fit is lost and
   counted in ``overflow_bytes``.
3. While the printer is online the buffer is parsed and printed, synchronously and in
   order (:mod:`.parser`, :mod:`.engine`). Offline (cover open, paper out, an error,
   the ``offline`` fault, after the power-off sequence) it just fills. Buffered
   replies (``GS r``, ``GS I``, the first ASB block) are sent as their command is
   processed, so never while offline.

Decisions where manuals differ or are silent (see also the parser and engine):

* Cover open: offline (DLE EOT 1 bit 3), DLE EOT 2 bit 2, ASB byte 1 bit 5. "Error
  occurred" (DLE EOT 2 bit 6) and the auto-recoverable error (DLE EOT 3 bit 6) are set
  only if the cover opens *during printing*, which here means while the receive buffer
  holds unprinted data or a command is half received; closing the cover clears them.
* The ``offline`` fault sets "waiting for online recovery" (DLE EOT 1 bit 5, ASB byte 2
  bit 0) besides offline.
* ``ESC @`` does not touch ASB (Epson keeps the ``GS a`` setting; some clones clear it);
  a power cycle disables it.
* ``DLE ENQ 1/2`` and ``DLE DC4 8`` recover a recoverable (autocutter, mechanical)
  error only once its cause is gone; ``DLE ENQ`` does nothing when there is no such
  error (so ``DLE ENQ 2`` then clears nothing), as the manual says.
* A roll that runs out by printing raises the ``paper_out`` fault itself, so clearing
  ``paper_out`` is always "a new roll was loaded".
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ..device import WIRE_FAULTS, EmulatedDevice
from .charset import DEFAULT_CODE_PAGES
from .engine import PrintEngine
from .paper import PaperRoll, units_to_mm
from .parser import EscPosParser
from .realtime import RealTime, RealTimeScanner
from .receipt import Line, Receipt
from .status import Condition, asb_block, asb_watched, realtime_status, transmit_status

PRINTER_FAULTS = (
    *WIRE_FAULTS,
    "paper_near_end",
    "paper_out",
    "cover_open",
    "offline",
    "cutter_error",
    "unrecoverable_error",
)

POWER_OFF_NOTICE = b"\x3b\x30\x00"
CLEAR_RESPONSE = b"\x37\x25\x00"
_RECOVERABLE = frozenset({"autocutter_error", "mechanical_error"})


@dataclass
class PrinterConfig:
    """The printer being emulated; the defaults are an 80 mm TM-T88V, Chinese market."""

    model: str = "TM-T88V"
    columns_font_a: int = 42  # 80 mm paper, 512 dots, Font A 12 dots wide
    dots: int = 512
    dpi: int = 180
    roll_mm: float = 50_000.0
    near_end_mm: float = 2_000.0  # paper left when the near-end sensor trips
    receive_buffer: int = 4096
    line_spacing_default: int = 30  # motion units: 30/180 inch = 1/6 inch
    motion_unit: int = 180  # default motion unit, 1/180 inch (ESC 3, ESC J, ESC $...)
    cutter_feed_mm: float = 14.0  # head to cutter: fed by GS V 65/66 n before cutting
    model_id: int = 0x20
    type_id: int = 0x03  # bit 0 multi-byte characters, bit 1 autocutter fitted
    rom_id: int = 0x41
    firmware: str = "30.10 ESC/POS"
    maker: str = "EPSON"
    serial_number: str = "X5MF012345"
    font_language: str = "CHINA GB18030"
    drawer_pin_high: bool = False
    double_byte_encoding: str = "gb18030"
    kanji_mode_default: bool = False  # double-byte mode at power-on / ESC @
    has_near_end_sensor: bool = True
    asb_supported: bool = True
    asb_default: int = 0  # GS a mask at power-on
    recover_needs_enq: bool = False  # True: clearing cutter_error leaves the error latched
    code_pages: dict[int, str] = field(default_factory=lambda: dict(DEFAULT_CODE_PAGES))
    # cut receipts kept (newest first to stay) for ``receipts``, /receipts and previews:
    # each holds every printed glyph, tens of kB, and a printer serving a daemon for a
    # day cuts thousands; older ones are let go, their numbers still count
    receipts_kept: int = 100

    def __post_init__(self) -> None:
        if self.receipts_kept < 1:
            raise ValueError(f"receipts_kept must be at least 1, got {self.receipts_kept!r}")


class _Sink:
    """What the parser drives; kept off the device's public surface."""

    def __init__(self, printer: PrinterEmulator) -> None:
        self._p = printer

    def accepting(self) -> bool:
        return self._p._printing()

    def text(self, data: bytes) -> int:
        return self._p.engine.text(data)

    def command(self, name: str, *args: object) -> None:
        self._p._command(name, args)

    def unknown(self, prefix: bytes) -> None:
        self._p.unknown_commands += 1


class PrinterEmulator(EmulatedDevice):
    """An Epson TM-class ESC/POS printer; see the module docstring."""

    kind = "printer"
    faults_supported = PRINTER_FAULTS

    def __init__(self, config: PrinterConfig | None = None, *, seed: int | None = None) -> None:
        super().__init__(seed=seed)
        self.config = config or PrinterConfig()
        self.paper = PaperRoll(self.config.roll_mm, self.config.near_end_mm)
        self._rx = bytearray()
        self._scanner = RealTimeScanner()
        self._receipts: deque[Receipt] = deque(maxlen=self.config.receipts_kept)
        self.receipts_cut = 0  # every receipt cut since start, kept or let go
        self._errors: set[str] = set()
        self._shutdown = False  # after DLE DC4 2 until the power is cycled
        self._drawer_pin = self.config.drawer_pin_high
        self._asb_mask = 0
        self._asb_last: bytes | None = None
        self.overflow_bytes = 0
        self.drawer_kicks = 0
        self.unknown_commands = 0
        self.engine = PrintEngine(
            self.config,
            feed=self._feed_paper,
            accepting=self._printing,
            on_cut=self._cut,
            counters=self.counters,
        )
        self._parser = EscPosParser(_Sink(self))
        self._model_commands: dict[str, Callable[..., None]] = {
            "printer_id": self._printer_id,
            "transmit_status": self._transmit_status,
            "asb": self._set_asb,
            "kick": self._kick,
        }
        self._asb_start()

    # -- public surface ---------------------------------------------------------------
    @property
    def receipts(self) -> list[Receipt]:
        """The cut receipts still kept (the newest ``config.receipts_kept``), in order
        (a copy); each one's ``index`` counts every receipt cut since start."""
        with self.lock:
            return list(self._receipts)

    def wait_for_receipts(self, count: int, timeout: float) -> bool:
        """Wait until at least ``count`` receipts are cut; False at the deadline."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.receipts_cut < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def wait_idle(self, timeout: float) -> bool:
        """Wait until the receive buffer is fully processed; False at the deadline."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._rx:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def current_text(self) -> str:
        """What is printed since the last cut (not cut yet)."""
        with self.lock:
            return self.engine.current_text()

    def set_drawer_pin(self, high: bool) -> None:
        """The drawer's open/closed switch (pin 3) changes: DLE EOT 1, GS r 2, ASB follow."""
        with self._changed:
            self._drawer_pin = high
            self._asb_check()
            self._changed.notify_all()

    def status_byte(self, n: int) -> int | None:
        """What DLE EOT ``n`` would answer now (for tests and the control API)."""
        with self.lock:
            return realtime_status(self._condition(), n)

    def state(self) -> dict[str, object]:
        with self.lock:
            state = super().state()
            c = self._condition()
            near = self.paper.near_end or "paper_near_end" in self.active_faults
            state.update(
                model=self.config.model,
                online=self.powered and not c.offline,
                cover_open=c.cover_open,
                paper={
                    "state": "out" if c.paper_out else "near_end" if near else "ok",
                    "remaining_mm": round(self.paper.remaining_mm, 3),
                    "roll_mm": self.paper.roll_mm,
                },
                errors=sorted(self._errors),
                asb_mask=self._asb_mask,
                buffer_used=len(self._rx),
                buffer_size=self.config.receive_buffer,
                overflow_bytes=self.overflow_bytes,
                receipts=self.receipts_cut,
                receipts_kept=len(self._receipts),
                drawer_kicks=self.drawer_kicks,
                unknown_commands=self.unknown_commands,
                printing_receipt=self.engine.in_progress,
            )
            return state

    # -- condition --------------------------------------------------------------------
    def _condition(self) -> Condition:
        faults = self.active_faults
        out = self.paper.out or "paper_out" in faults
        near = self.config.has_near_end_sensor and (
            out or self.paper.near_end or "paper_near_end" in faults
        )
        near_stop = near and self.engine.m.stop_on_near_end
        cover = "cover_open" in faults
        offline = (
            cover or out or near_stop or bool(self._errors) or "offline" in faults or self._shutdown
        )
        return Condition(
            drawer_pin_high=self._drawer_pin,
            offline=offline,
            waiting_for_recovery="offline" in faults,
            cover_open=cover,
            paper_end_stop=out or near_stop,
            mechanical_error="mechanical_error" in self._errors,
            autocutter_error="autocutter_error" in self._errors,
            unrecoverable_error="unrecoverable_error" in self._errors,
            auto_recoverable_error="auto_recoverable_error" in self._errors,
            near_end=near,
            paper_out=out,
        )

    def _printing(self) -> bool:
        """Online: the same test as ``_condition().offline``, cheap enough for every byte."""
        faults = self.active_faults
        if (
            self._errors
            or self._shutdown
            or self.paper.out
            or "power_off" in faults
            or "cover_open" in faults
            or "paper_out" in faults
            or "offline" in faults
        ):
            return False
        if self.engine.m.stop_on_near_end and self.config.has_near_end_sensor:
            return not (self.paper.near_end or "paper_near_end" in faults)
        return True

    # -- host -> printer ----------------------------------------------------------------
    def _receive(self, data: bytes, overflow: bool) -> int:
        if self._shutdown:  # BUSY until power-off: nothing is processed any more
            if overflow:
                self.overflow_bytes += len(data)
                return len(data)
            return 0
        if not overflow:
            data = data[: max(0, self.config.receive_buffer - len(self._rx))]
        if not data:
            return 0
        pos = 0
        for command in self._scanner.scan(data):
            self._store(data[pos : command.end])
            pos = command.end
            self._process()
            self._realtime(command)
        self._store(data[pos:])
        self._process()
        self._changed.notify_all()
        return len(data)

    def _store(self, data: bytes) -> None:
        room = max(0, self.config.receive_buffer - len(self._rx))
        self._rx += data[:room]
        if len(data) > room:
            self.overflow_bytes += len(data) - room

    def _process(self) -> None:
        """Parse and print buffered bytes for as long as the printer is online."""
        while self._printing():
            took = self._parser.feed(self._rx)
            if took == 0:
                break
            del self._rx[:took]
        self._asb_check()

    def _realtime(self, command: RealTime) -> None:
        if command.kind == "status":
            byte = realtime_status(self._condition(), command.n)
            if byte is not None:
                self.send(bytes([byte]))
        elif command.kind == "recover":
            if self._errors & _RECOVERABLE:
                if command.n == 2:
                    self._clear_buffers()
                self._recover()
        elif command.kind == "pulse":
            self.drawer_kicks += 1
        elif command.kind == "power_off":
            self.send(POWER_OFF_NOTICE)
            self._shutdown = True
        elif command.kind == "clear":
            self._clear_buffers()
            self._recover()
            self.send(CLEAR_RESPONSE)
        self._process()

    def _clear_buffers(self) -> None:
        self._rx.clear()
        self._parser.reset()
        self.engine.clear_print_buffer()

    def _recover(self) -> None:
        """Recoverable errors whose cause is gone are cleared."""
        if "cutter_error" not in self.active_faults:
            self._errors.discard("autocutter_error")
        self._errors.discard("mechanical_error")

    # -- parsed commands the model answers itself -----------------------------------------
    def _command(self, name: str, args: tuple[object, ...]) -> None:
        handler = self._model_commands.get(name)
        if handler is not None:
            handler(*args)
        elif not self.engine.handle(name, args):
            self.counters["unhandled_" + name] += 1

    def _printer_id(self, n: int) -> None:
        ids = {1: self.config.model_id, 2: self.config.type_id, 3: self.config.rom_id}
        if n in ids or n - 48 in ids:
            self.send(bytes([ids[n if n in ids else n - 48] & 0x6F]))
            return
        texts = {
            65: self.config.firmware,
            66: self.config.maker,
            67: self.config.model,
            68: self.config.serial_number,
            69: self.config.font_language,
        }
        if n in texts:
            self.send(b"\x5f" + texts[n].encode("ascii", "replace") + b"\x00")

    def _transmit_status(self, n: int) -> None:
        byte = transmit_status(self._condition(), n)
        if byte is not None:
            self.send(bytes([byte]))

    def _set_asb(self, n: int) -> None:
        if not self.config.asb_supported:
            return
        self._asb_mask = n
        self._asb_last = None
        if n:
            self._asb_check()

    def _kick(self, m: int, t1: int | None, t2: int | None) -> None:
        if m in (0, 1, 48, 49):
            self.drawer_kicks += 1

    # -- paper, receipts, ASB ---------------------------------------------------------------
    def _feed_paper(self, dots: int) -> None:
        if dots <= 0:
            return
        was_out = self.paper.out
        self.paper.feed(units_to_mm(dots, self.config.dpi))
        if self.paper.out and not was_out:
            # the roll ran out under the head: this receipt is cut short
            self.engine.interrupted = True
            self.active_faults.add("paper_out")
            self.counters["paper_runouts"] += 1
        self._asb_check()

    def _cut(self, lines: list[Line]) -> None:
        receipt = Receipt.from_lines(
            self.receipts_cut, lines, self.engine.interrupted, self.config.dots
        )
        self.engine.interrupted = False
        self._receipts.append(receipt)  # the oldest kept one goes when it is full
        self.receipts_cut += 1
        self._changed.notify_all()

    def _asb_start(self) -> None:
        self._asb_mask = self.config.asb_default if self.config.asb_supported else 0
        self._asb_last = None
        self._asb_check()

    def _asb_check(self) -> None:
        """Push an ASB block if an item the host enabled has changed."""
        if not self._asb_mask or not self.powered:
            return
        block = asb_block(self._condition())
        last = self._asb_last
        if last is None or asb_watched(block, self._asb_mask) != asb_watched(last, self._asb_mask):
            self._asb_last = block
            self.send(block)

    # -- faults and power -----------------------------------------------------------------
    def _fault_changed(self, name: str, active: bool) -> None:
        if name in ("power_off", "paper_out") and active and self.engine.in_progress:
            self.engine.interrupted = True
        if name == "paper_out" and not active:
            self.paper.load()
        elif name == "cover_open":
            if active and (self._rx or self._parser.mid_command):
                self._errors.add("auto_recoverable_error")
            elif not active:
                self._errors.discard("auto_recoverable_error")
                self._recover()  # opening and closing the cover also recovers
        elif name == "cutter_error":
            if active:
                self._errors.add("autocutter_error")
            elif not self.config.recover_needs_enq:
                self._errors.discard("autocutter_error")
        elif name == "unrecoverable_error":
            if active:
                self._errors.add("unrecoverable_error")
            else:
                self.power_cycle()
        self._process()
        self._changed.notify_all()

    def power_cycle(self) -> None:
        """Power-on state: buffers, modes, errors and ASB reset; paper and receipts stay."""
        self._rx.clear()
        self._scanner.reset()
        self._parser.reset()
        self.engine.power_on()
        self._errors.clear()
        self._shutdown = False
        # a power cycle is what clears an unrecoverable error; a jammed cutter stays jammed
        self.active_faults.discard("unrecoverable_error")
        if "cutter_error" in self.active_faults:
            self._errors.add("autocutter_error")
        self._asb_start()
        self._changed.notify_all()
