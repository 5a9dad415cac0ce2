"""An incremental ESC/POS command parser: bytes in, printer events out.

Bytes arrive in any chunking (one at a time from a 1200 baud line, 64 KB from a socket)
and a command may span many chunks: a 60 KB raster image has to stream through a 4 KB
receive buffer, so a data-bearing command takes its data as it comes instead of
waiting for all of it. The parser is a generator that asks for "up to *n* more bytes"
and keeps its place between calls; :meth:`EscPosParser.feed` hands it what the receive
buffer holds and stops as soon as the printer stops accepting (paper ran out in the
middle of the job), leaving the rest in the buffer.

What the parser decides and what it leaves to the printer:

* It knows every command's length (Epson's tables) and skips what it does not act on,
  so a command it does not implement never turns its parameters into printed text.
  An unknown ``ESC``/``GS``/``FS`` + byte is skipped as two bytes and reported.
* Real-time commands (DLE EOT / ENQ / DC4) were executed on receipt; here they are
  only skipped.
* ``ESC p m t1 t2`` also comes as a bare ``ESC p m`` from some generators. Rule: if the
  byte after ``m`` is LF, CR, DLE, ESC, FS or GS, the command ended at ``m`` (default
  pulse) and that byte starts the next command. Any other byte is ``t1``. A real
  timing byte in that set would mean a pulse of 20-58 ms, shorter than any drawer
  solenoid needs, so no working configuration is misread.
* ``GS k`` form 1 (NUL-terminated): a byte that is not printable ASCII ends the
  barcode as invalid and is processed as normal data, as is data past 255 bytes.
* ``ESC =`` deselects the printer: everything but ``ESC =`` itself is ignored.
* Macros (``GS :`` ... ``GS :``) are recorded without being executed and replayed by
  ``GS ^``; a ``GS ^`` inside a macro is ignored so a macro cannot call itself.

The parser never raises on input: every byte sequence is some command, data or text.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import Protocol

from .commands import ESC_NONE, ESC_ONE, GS_ONE, GS_TWO

TOP = 0  # "at a command boundary": the feed loop may hand over a run of text
MAX_COLLECT = 4_000_000  # image/symbol data kept per command; more is consumed unseen
MAX_MACRO = 2048

ESC, FS, GS, DLE = 0x1B, 0x1C, 0x1D, 0x10
_TEXT_RUN = re.compile(rb"[\x20-\xff]+")
_KICK_ENDS = frozenset((0x0A, 0x0D, DLE, ESC, FS, GS))
_CUT_WITH_FEED = frozenset((65, 66, 97, 98, 103, 104))


class ParserSink(Protocol):
    """What the parser drives: the printer model."""

    def accepting(self) -> bool:
        """False once the printer stopped (offline): the parser stops feeding."""

    def text(self, data: bytes) -> int:
        """Print a run of character bytes; returns how many were taken."""

    def command(self, name: str, *args: object) -> None:
        """A parsed command."""

    def unknown(self, prefix: bytes) -> None:
        """A command introducer + byte that no table knows (skipped as two bytes)."""


Steps = Generator[int, bytes, None]


class EscPosParser:
    """Feeds bytes through the command generator; see the module docstring."""

    def __init__(self, sink: ParserSink) -> None:
        self._sink = sink
        self.reset()

    def reset(self) -> None:
        """Back to a command boundary with nothing pending (power on, buffer clear)."""
        self._pending = bytearray()
        self._from_pending = False
        self.selected = True
        self._recording: bytearray | None = None
        self._macro = b""
        self._gen = self._main()
        self._want = next(self._gen)

    @property
    def mid_command(self) -> bool:
        """True while a command has started and not finished (or bytes wait inside)."""
        return self._want != TOP or bool(self._pending)

    def feed(self, data: bytes | bytearray) -> int:
        """Process from ``data`` while the sink accepts; returns the bytes consumed."""
        pos = 0
        size = len(data)
        while self._sink.accepting():
            if self._pending:
                self._from_pending = True
                try:
                    took = self._step(self._pending, 0, from_pending=True)
                finally:
                    self._from_pending = False
                if took == 0:
                    break
                continue
            if pos >= size:
                break
            took = self._step(data, pos, from_pending=False)
            if took == 0:
                break
            pos += took
        return pos

    def _step(self, source: bytes | bytearray, pos: int, *, from_pending: bool) -> int:
        want = self._want
        if want == TOP and self.selected and self._recording is None:
            first = source[pos]
            if first >= 0x20:
                match = _TEXT_RUN.match(source, pos)
                assert match is not None
                took = self._sink.text(bytes(match.group()))
                if from_pending:
                    del self._pending[:took]
                return took
            if first in (ESC, GS) and pos + 2 < len(source):
                # fast path for the many 3-byte mode settings; same events as the generator
                table = ESC_ONE if first == ESC else GS_ONE
                code = source[pos + 1]
                if code in table:
                    argument = source[pos + 2]  # read before the pending bytes move up
                    if from_pending:
                        del self._pending[:3]
                    self._emit(table[code], argument)
                    return 3
        count = 1 if want == TOP else want
        chunk = bytes(source[pos : pos + count])
        if from_pending:
            del self._pending[: len(chunk)]
        self._want = self._gen.send(chunk)
        return len(chunk)

    def _push_back(self, data: bytes) -> None:
        """Bytes to process next, before anything not yet consumed."""
        self._pending[0:0] = data

    # -- generator helpers ---------------------------------------------------------------
    def _byte(self) -> Generator[int, bytes, int]:
        data = yield 1
        return data[0]

    def _take(self, n: int) -> Generator[int, bytes, bytes]:
        out = bytearray()
        while len(out) < n:
            out += yield n - len(out)
        return bytes(out)

    def _skip(self, n: int) -> Steps:
        while n > 0:
            chunk = yield n
            n -= len(chunk)

    def _collect(self, n: int) -> Generator[int, bytes, bytes]:
        """``n`` bytes of command data, keeping at most :data:`MAX_COLLECT` of them."""
        out = bytearray()
        while n > 0:
            chunk = yield n
            n -= len(chunk)
            if len(out) < MAX_COLLECT:
                out += chunk[: MAX_COLLECT - len(out)]
        return bytes(out)

    def _u16(self) -> Generator[int, bytes, int]:
        raw = yield from self._take(2)
        return raw[0] | raw[1] << 8

    def _emit(self, name: str | None, *args: object) -> None:
        if name is not None:
            self._sink.command(name, *args)

    # -- the command tree ----------------------------------------------------------------
    def _main(self) -> Steps:
        while True:
            b = (yield TOP)[0]
            if self._recording is not None:
                yield from self._record(b)
            elif not self.selected:
                if b == ESC:
                    c = yield from self._byte()
                    if c == 0x3D:
                        yield from self._select()
                    else:
                        self._push_back(bytes([c]))
            elif b == 0x0A:
                self._emit("lf")
            elif b == ESC:
                yield from self._esc()
            elif b == GS:
                yield from self._gs()
            elif b == FS:
                yield from self._fs()
            elif b == DLE:
                yield from self._dle()
            elif b == 0x09:
                self._emit("ht")
            elif b == 0x0D:
                self._emit("cr")
            elif b == 0x0C:
                self._emit("ff")
            elif b == 0x18:
                self._emit("can")
            # other control bytes (NUL, BEL, XON/XOFF...) print nothing

    def _select(self) -> Steps:
        n = yield from self._byte()
        self.selected = bool(n & 0x01)

    def _record(self, b: int) -> Steps:
        assert self._recording is not None
        if b == GS:
            c = yield from self._byte()
            if c == 0x3A:
                self._macro = bytes(self._recording)
                self._recording = None
                return
            self._push_back(bytes([c]))
        if len(self._recording) < MAX_MACRO:
            self._recording.append(b)
        else:  # overflow ends the definition, as a full macro buffer does
            self._macro = bytes(self._recording)
            self._recording = None

    def _esc(self) -> Steps:
        c = yield from self._byte()
        if c in ESC_ONE:
            n = yield from self._byte()
            self._emit(ESC_ONE[c], n)
        elif c in ESC_NONE:
            self._emit(ESC_NONE[c])
        elif c == 0x24:  # $ absolute position
            self._emit("abs_pos", (yield from self._u16()))
        elif c == 0x5C:  # \ relative position (signed)
            n = yield from self._u16()
            self._emit("rel_pos", n - 0x10000 if n & 0x8000 else n)
        elif c == 0x2A:  # * column bit image
            yield from self._esc_star()
        elif c == 0x3D:  # = select peripheral
            yield from self._select()
        elif c == 0x44:  # D tab stops
            yield from self._tabs()
        elif c == 0x26:  # & define user characters
            yield from self._user_chars()
        elif c == 0x28:  # ( x pL pH ...
            yield from self._byte()
            yield from self._skip((yield from self._u16()))
        elif c == 0x57:  # W page-mode area
            yield from self._skip(8)
        elif c == 0x63:  # c x n
            sub = yield from self._byte()
            n = yield from self._byte()
            self._emit({0x33: "paper_end_sensors", 0x34: "stop_sensors"}.get(sub), n)
        elif c == 0x70:  # p drawer kick
            yield from self._kick()
        elif c in (0x42, 0x66):  # B n t buzzer, f t n
            yield from self._skip(2)
        else:
            self._sink.unknown(bytes((ESC, c)))

    def _esc_star(self) -> Steps:
        m = yield from self._byte()
        n = yield from self._u16()
        per_column = 3 if m & 0x20 else 1
        data = yield from self._collect(n * per_column)
        self._emit("column_image", m, n, data)

    def _tabs(self) -> Steps:
        stops: list[int] = []
        while True:
            n = yield from self._byte()
            if n == 0:
                break
            if len(stops) >= 32 or (stops and n <= stops[-1]):
                self._push_back(bytes([n]))
                break
            stops.append(n)
        self._emit("tabs", tuple(stops))

    def _user_chars(self) -> Steps:
        y = yield from self._byte()
        c1 = yield from self._byte()
        c2 = yield from self._byte()
        for _ in range(max(0, c2 - c1 + 1)):
            x = yield from self._byte()
            yield from self._skip(y * x)

    def _kick(self) -> Steps:
        m = yield from self._byte()
        t1 = yield from self._byte()
        if t1 in _KICK_ENDS:
            self._emit("kick", m, None, None)
            self._push_back(bytes([t1]))
            return
        t2 = yield from self._byte()
        self._emit("kick", m, t1, t2)

    def _gs(self) -> Steps:
        c = yield from self._byte()
        if c in GS_ONE:
            n = yield from self._byte()
            self._emit(GS_ONE[c], n)
        elif c in GS_TWO:
            self._emit(GS_TWO[c], (yield from self._u16()))
        elif c == 0x50:  # P motion units
            x = yield from self._byte()
            y = yield from self._byte()
            self._emit("motion_units", x, y)
        elif c == 0x56:  # V cut
            m = yield from self._byte()
            if m in (0, 1, 48, 49):
                self._emit("cut", m in (1, 49), None)
            elif m in _CUT_WITH_FEED:
                n = yield from self._byte()
                self._emit("cut", m in (66, 98, 104), n)
        elif c == 0x6B:  # k barcode
            yield from self._barcode()
        elif c == 0x76:  # v 0 raster image
            yield from self._raster()
        elif c == 0x28:  # ( x pL pH ...
            fn_class = yield from self._byte()
            size = yield from self._u16()
            yield from self._gs_paren(fn_class, size)
        elif c == 0x38:  # 8 x p1 p2 p3 p4 ...
            fn_class = yield from self._byte()
            raw = yield from self._take(4)
            size = int.from_bytes(raw, "little")
            if fn_class == 0x4C:
                yield from self._graphics(size)
            else:
                yield from self._skip(size)
        elif c == 0x2A:  # * define downloaded bit image
            x = yield from self._byte()
            y = yield from self._byte()
            data = yield from self._collect(x * y * 8)
            self._emit("define_downloaded_image", x, y, data)
        elif c == 0x51:  # Q 0 variable-size bit image
            yield from self._byte()
            yield from self._byte()
            x = yield from self._u16()
            y = yield from self._u16()
            yield from self._skip(x * y)
        elif c == 0x3A:  # : start a macro definition
            self._recording = bytearray()
        elif c == 0x5E:  # ^ r t m execute macro
            r = yield from self._byte()
            yield from self._take(2)
            if not self._from_pending and self._macro:
                self._push_back(self._macro * r)
        elif c == 0x67:  # g 0|2 m nL nH maintenance counters
            yield from self._byte()
            yield from self._skip(3)
        elif c == 0x7A:  # z 0 t1 t2
            yield from self._skip(3)
        elif c == 0x43:  # C counters (impact models)
            yield from self._gs_counter()
        elif c == 0x63:  # c print counter
            pass
        else:
            self._sink.unknown(bytes((GS, c)))

    def _gs_counter(self) -> Steps:
        sub = yield from self._byte()
        if sub == 0x3B:  # ; five ';'-terminated numbers
            fields = taken = 0
            while fields < 5 and taken < 64:
                if (yield from self._byte()) == 0x3B:
                    fields += 1
                taken += 1
        else:
            yield from self._skip({0x30: 2, 0x31: 6, 0x32: 2}.get(sub, 0))

    def _barcode(self) -> Steps:
        m = yield from self._byte()
        if m <= 6:
            data = bytearray()
            while True:
                b = yield from self._byte()
                if b == 0:
                    self._emit("barcode", m, bytes(data))
                    return
                if not 0x20 <= b <= 0x7E or len(data) >= 255:
                    self._push_back(bytes([b]))  # invalid: the rest is normal data
                    return
                data.append(b)
        elif 65 <= m <= 79:
            n = yield from self._byte()
            self._emit("barcode", m, (yield from self._take(n)))

    def _raster(self) -> Steps:
        sub = yield from self._byte()
        if sub != 0x30:
            self._sink.unknown(bytes((GS, 0x76)))
            self._push_back(bytes([sub]))
            return
        m = yield from self._byte()
        x = yield from self._u16()
        y = yield from self._u16()
        data = yield from self._collect(x * y)
        self._emit("raster_image", m, x, y, data)

    def _gs_paren(self, fn_class: int, size: int) -> Steps:
        if fn_class == 0x6B and size >= 2:  # k: 2D symbols
            cn = yield from self._byte()
            fn = yield from self._byte()
            payload = yield from self._collect(size - 2)
            self._emit("symbol", cn, fn, payload)
        elif fn_class == 0x4C:  # L: graphics
            yield from self._graphics(size)
        else:  # A, C, D, E, H, K, M, N, P, Q, z...: settings and queries, skipped
            yield from self._skip(size)

    def _graphics(self, size: int) -> Steps:
        """GS ( L / GS 8 L: ``size`` bytes from m on."""
        if size < 2:
            yield from self._skip(size)
            return
        yield from self._byte()  # m
        fn = yield from self._byte()
        left = size - 2
        if fn in (112, 113) and left >= 8:
            head = yield from self._take(8)
            data = yield from self._collect(left - 8)
            width = head[4] | head[5] << 8
            height = head[6] | head[7] << 8
            self._emit("graphics_store", fn, head[0], head[1], head[2], width, height, data)
        elif fn in (2, 50):
            yield from self._skip(left)
            self._emit("graphics_print")
        elif fn in (69, 85) and left >= 2:
            key = yield from self._take(2)
            yield from self._skip(left - 2)
            self._emit("stored_graphics_print", fn, key.decode("latin-1"))
        else:
            yield from self._skip(left)

    def _fs(self) -> Steps:
        c = yield from self._byte()
        if c == 0x26:  # &
            self._emit("kanji_on")
        elif c == 0x2E:  # .
            self._emit("kanji_off")
        elif c in (0x21, 0x2D, 0x43, 0x57):  # ! - C W
            n = yield from self._byte()
            self._emit(
                {0x21: "kanji_mode", 0x2D: "kanji_underline", 0x43: None, 0x57: "kanji_quad"}[c],
                n,
            )
        elif c == 0x53:  # S left/right spacing
            left = yield from self._byte()
            right = yield from self._byte()
            self._emit("kanji_spacing", left, right)
        elif c == 0x3F:  # ? cancel user-defined Kanji
            yield from self._skip(2)
        elif c == 0x32:  # 2 define user-defined Kanji: code + 24x24 dots
            yield from self._skip(2 + 72)
        elif c == 0x70:  # p n m print NV bit image
            n = yield from self._byte()
            m = yield from self._byte()
            self._emit("nv_image_print", n, m)
        elif c == 0x71:  # q n [xL xH yL yH d...]... define NV bit images
            count = yield from self._byte()
            for _ in range(count):
                x = yield from self._u16()
                y = yield from self._u16()
                yield from self._skip(x * y * 8)
        elif c == 0x28:  # ( x pL pH ...
            yield from self._byte()
            yield from self._skip((yield from self._u16()))
        elif c == 0x67:  # g 1|2 NV user memory
            sub = yield from self._byte()
            head = yield from self._take(7)
            if sub == 0x31:
                yield from self._skip(head[5] | head[6] << 8)
        else:
            self._sink.unknown(bytes((FS, c)))

    def _dle(self) -> Steps:
        """Real-time commands: already executed on receipt, skipped here."""
        c = yield from self._byte()
        if c in (0x04, 0x05):
            yield from self._byte()
        elif c == 0x14:
            fn = yield from self._byte()
            yield from self._skip({1: 2, 2: 2, 7: 1, 8: 7}.get(fn, 0))
        else:
            self._push_back(bytes([c]))  # a lone DLE prints nothing
