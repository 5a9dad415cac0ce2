"""What is fuzzed: each target makes an input from its corpus and feeds it to one
decoder the way the product (or the emulator) feeds it from the wire or the disk.

A target names the exceptions its decoder documents (``allowed``): any other exception
is a crash. Inputs are fed in-process, straight into the decoders, because the long run
wants millions of them; the daemon's own wiring of the same decoders is covered by the
API fuzzing (:mod:`tests.fuzz.api`) and the rest of the suite.

The corpora start from the captured and specified vectors (:mod:`tests.support.zvt_vectors`),
what the product's and the emulator's encoders make, and the example configuration in
docs/configuration.md.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from posdriver.config import ConfigError, load_config
from posdriver.links.base import Link
from posdriver.printer.driver import Printer
from posdriver.printer.receipt import encode, sample_receipt
from posdriver.printer.status import PrinterStatus, decode_asb, decode_realtime
from posdriver.printer.status import decode_transmit_paper as decode_paper
from posdriver.terminal.zvt.apdu import Apdu, ApduStream, decode_apdu
from posdriver.terminal.zvt.bmp import encode_bmps
from posdriver.terminal.zvt.errors import ZvtCodecError
from posdriver.terminal.zvt.frame import Frame, FrameReader, encode_frame
from posdriver.terminal.zvt.messages import (
    ABORT,
    COMPLETION,
    INTERMEDIATE_STATUS,
    PRINT_LINE,
    PRINT_TEXT_BLOCK,
    STATUS_INFORMATION,
    build_abort,
    build_intermediate,
    build_print_line,
    build_status_completion,
    build_text_block,
    parse_abort,
    parse_command,
    parse_intermediate,
    parse_print_line,
    parse_status_completion,
    parse_text_block,
)
from posdriver.terminal.zvt.results import completion_fields
from posdriver.terminal.zvt.status_info import (
    ReceiptCollector,
    decode_status_info,
    receipt_from_status,
    status_from_fields,
)
from posdriver_emulator.printer import PrinterEmulator
from posdriver_emulator.terminal.wire import SerialWire, TcpWire, WireTimers
from posdriver_emulator.terminal.zvt import apdu as emu_apdu
from posdriver_emulator.terminal.zvt import messages as emu_messages
from tests.fuzz.mutate import mutate, splits
from tests.support import zvt_vectors as v

REPO = Path(__file__).resolve().parents[2]
TODAY = dt.date(2026, 6, 15)


@dataclass
class Target:
    """One decoder under fuzz: ``make`` draws an input, ``feed`` decodes it (``rng``
    only decides how a stream is split), ``allowed`` are its documented errors."""

    name: str
    corpus: list[bytes]
    feed: Callable[[bytes, random.Random], None]
    allowed: tuple[type[BaseException], ...] = ()
    make: Callable[[random.Random, list[bytes]], bytes] | None = None
    frames: bool = True  # counts towards the decoders' frame total

    def draw(self, rng: random.Random) -> bytes:
        if self.make is not None:
            return self.make(rng, self.corpus)
        return mutate(rng, self.corpus[rng.randrange(len(self.corpus))], self.corpus)


# -- ZVT, the ECR's end (posdriver/terminal/zvt) -----------------------------------------
def terminal_messages() -> list[bytes]:
    """APDUs a terminal sends to the ECR, from the vectors and posdriver's builders."""
    totals = bytes.fromhex("0001 0042") + b"".join(
        bytes([n]) + bytes.fromhex(f"0000000{n}0000") for n in range(7)
    )
    end_of_day = encode_bmps(
        {0x27: 0, 0x04: 123456, 0x0C: "143005", 0x0D: "0615", 0xAA: "260615", 0x60: totals}
    )
    messages = [
        Apdu(0x04, 0x0F, v.STATUS_INFORMATION_APPROVED_DATA).encode(),
        Apdu(0x04, 0x0F, end_of_day).encode(),
        *(Apdu(0x04, 0xFF, data).encode() for data, _, _ in v.INTERMEDIATES),
        *(wire for wire, _, _ in v.ABORTS),
        *(wire for wire, _, _ in v.STATUS_COMPLETIONS),
        *(Apdu(0x06, 0x0F, data).encode() for data, *_ in v.STATUS_COMPLETION_DATA),
        *(wire for wire, _, _ in v.PRINT_LINES),
        Apdu(0x06, 0xD3, v.TEXT_BLOCK_WITH_ATTRIBUTE[0]).encode(),
        build_text_block(list(v.TEXT_BLOCK_LINES), v.TEXT_BLOCK_RECEIPT_TYPE).encode(),
        build_intermediate(0x0A, 5).encode(),
        build_status_completion(0, "GT800 v1.2").encode(),
        build_print_line("Betrag EUR 10,00", 0x40).encode(),
        build_abort(0xFF, {0x06: ()}).encode(),
        *(a.wire for a in v.APDUS),
    ]
    return messages


def ecr_commands() -> list[bytes]:
    """APDUs the ECR sends to a terminal, from the vectors."""
    return [
        *(c.wire for c in v.COMMAND_VECTORS),
        *(c.wire for c in v.REGISTRATIONS),
        *(wire for wire, _ in v.BAD_COMMANDS),
        v.UNKNOWN_COMMAND,
    ]


def take_apdu(apdu: Apdu) -> None:
    """What posdriver does with an APDU from a terminal (the exchange's reading of each
    message, and the results' reading of what it kept)."""
    code, data = apdu.code, apdu.data
    if code == INTERMEDIATE_STATUS:
        parse_intermediate(data)
    elif code == STATUS_INFORMATION:
        info = decode_status_info(data)
        info.summary()
        info.at(TODAY)
        info.brand_totals("EUR")
        info.receipt_range()
        info.money("EUR")
        receipt_from_status(info, "sale", info.money("EUR"), None)
    elif code in (PRINT_LINE, PRINT_TEXT_BLOCK):
        collector = ReceiptCollector()
        if code == PRINT_LINE:
            collector.add_line(parse_print_line(data))
        else:
            collector.add_block(parse_text_block(data))
        collector.guest_copy()
        collector.merchant_copy()
    elif code == COMPLETION:
        status_from_fields(completion_fields(data)).summary()
        parse_status_completion(data)
    elif code == ABORT:
        aborted = parse_abort(data)
        status_from_fields(aborted.fields, aborted.result_code).summary()
    else:
        parse_command(apdu)


def _guarded(apdu: Apdu) -> None:
    try:
        take_apdu(apdu)
    except ZvtCodecError:
        pass


def make_wire(rng: random.Random, corpus: list[bytes]) -> bytes:
    """A serial input: half the time a mutated APDU in a good frame (so that its CRC
    checks and the message decoders behind the framing see it), else a mutated frame;
    now and then with acknowledgements and noise around it."""
    apdu = corpus[rng.randrange(len(corpus))]
    if rng.random() < 0.5:
        wire = encode_frame(mutate(rng, apdu, corpus))
    else:
        wire = mutate(rng, encode_frame(apdu), corpus)
    if rng.random() < 0.2:
        wire = rng.choice((b"\x06", b"\x15", b"\x10", rng.randbytes(3))) + wire
    if rng.random() < 0.1:
        wire += encode_frame(corpus[rng.randrange(len(corpus))])
    return wire


def make_stream(rng: random.Random, corpus: list[bytes]) -> bytes:
    """A TCP input: one to three mutated APDUs back to back."""
    return b"".join(
        mutate(rng, corpus[rng.randrange(len(corpus))], corpus)
        for _ in range(rng.choice((1, 1, 2, 3)))
    )


def feed_serial(data: bytes, rng: random.Random) -> None:
    reader = FrameReader()
    for chunk in splits(rng, data):
        for event in reader.feed(chunk):
            if isinstance(event, Frame):
                try:
                    apdu = event.apdu()
                except ZvtCodecError:
                    continue
                _guarded(apdu)


def feed_tcp(data: bytes, rng: random.Random) -> None:
    stream = ApduStream()
    for chunk in splits(rng, data):
        for apdu in stream.feed(chunk):
            _guarded(apdu)
    try:
        decode_apdu(data)
    except ZvtCodecError:
        pass


# -- ESC/POS status (posdriver/printer) -------------------------------------------------
STATUS_CORPUS = [
    bytes.fromhex("16 12 12 12"),  # DLE EOT 1-4 of a ready printer (drawer pin high)
    bytes.fromhex("1e 16 72 7e"),  # offline, cover open, errors, paper out
    bytes.fromhex("12 32 52 1e"),
    bytes.fromhex("10 00 00 00"),  # an ASB block: all well
    bytes.fromhex("38 40 0f 00"),  # ASB: offline, cover open, auto-recoverable, paper out
    bytes.fromhex("14 01 03 00 0c"),
]


def _use(status: PrinterStatus) -> None:
    status.severity  # noqa: B018 -- each reading of a status is part of the decoder's promise
    status.summary()
    status.as_dict()
    status.drawer_open()
    PrinterStatus().merged(status).summary()


def feed_status(data: bytes, rng: random.Random) -> None:
    replies = {n: (data[n - 1] if n <= len(data) else None) for n in (1, 2, 3, 4)}
    if len(data) > 4 and data[4] & 1:
        replies[data[4] % 4 + 1] = None
    _use(decode_realtime(replies))
    _use(decode_asb(data[:4]))
    _use(decode_asb(data))
    for byte in data[:8]:
        decode_paper(byte)


class ReplayLink(Link):
    """A link that hands the driver the given chunks, then silence; writes vanish.
    In-process, so that the ASB stream parser sees a million inputs, not a thousand."""

    scheme = "replay"

    def __init__(self, chunks: Sequence[bytes]) -> None:
        super().__init__("replay://", {})
        self._chunks = list(chunks)

    @classmethod
    def from_url(cls, url: str, scheme: str, netloc: str, path: str, query: str) -> Link:
        return cls([])

    def _open(self) -> None:
        pass

    def _close(self) -> None:
        pass

    def _write_some(self, data: memoryview, timeout: float) -> int:
        return len(data)

    def _read_some(self, size: int, timeout: float) -> bytes:
        if not self._chunks:
            return b""
        chunk = self._chunks.pop(0)
        if len(chunk) > size:
            self._chunks.insert(0, chunk[size:])
        return chunk[:size]

    def _discard_input(self) -> int:
        dropped = sum(len(c) for c in self._chunks)
        self._chunks.clear()
        return dropped


ASB_CORPUS = [
    bytes.fromhex("10 00 00 00"),
    bytes.fromhex("10 00 00 00 18 00 0c 00"),  # then offline, paper out
    bytes.fromhex("30 00 00 00 10 00 03 00 10 00 00 00"),
    bytes.fromhex("ff 10 00 00 00 12 10 40"),  # noise, a block, a stray DLE EOT reply
    bytes.fromhex("10 41 00 00 10 00"),  # a block, then half of one
    b"_TM-T88V\x00\x10\x00\x00\x00",  # a GS I text answer, then a block
]


def feed_asb(data: bytes, rng: random.Random) -> None:
    printer = Printer(ReplayLink(splits(rng, data)).open(), reply_tolerance=0.0)
    printer.asb_enabled = True
    for status in printer.poll(0.0):
        _use(status)
    _use(printer.last_status)
    printer.identify()


# -- the emulators' parsers (posdriver_emulator) ----------------------------------------
def escpos_corpus() -> list[bytes]:
    return [
        encode(sample_receipt()),
        b"\x1b@Hello\n\x1bE\x01Bold\x1bE\x00\n\x1d!\x11Big\n\x1dV\x00",
        b"\x1bp\x00\x19\xfaAB\n\x1dV\x41\x03",
        b"\x1dk\x02400638133393\x00\x1dk\x43\x0d4006381333931\n",
        b"\x1d(k\x04\x001A2\x00\x1d(k\x03\x001C\x05\x1d(k\x08\x001P0abcde\x1d(k\x03\x001Q0",
        b"\x1dv0\x00\x02\x00\x04\x00\xff\x00\xff\x00\xff\x00\xff\x00\n",
        b"\x1b*\x21\x04\x00" + bytes(12) + b"\n",
        b"\x1d:\x1b@macro\n\x1d:\x1d^\x02\x00\x00",
        b"\x10\x04\x01\x10\x04\x04\x1dr\x01\x1da\x0f\x1dI\x01\x1dI\x43",
        b"\x1cp\x01\x00\x1b=\x01\x1b=\x00\x1b$\x10\x00x\x1bD\x04\x08\x00\tA\tB\n",
        b"\x1b&\x03\x41\x41\x0c" + bytes(36) + b"\x1b%\x01A\n",
        b"\x10\x14\x08\x01\x03\x14\x01\x06\x02\x08\x10\x14\x01\x00\x01",
    ]


def feed_printer(data: bytes, rng: random.Random) -> None:
    printer = PrinterEmulator(seed=0)
    for chunk in splits(rng, data):
        printer.accept(chunk)
    printer.current_text()
    for receipt in printer.receipts:
        receipt.text  # noqa: B018 -- rendering the cut receipt is part of the parse
    printer.state()
    printer.discard_output()


@dataclass
class _WireHost:
    """What the terminal's wire needs from its model, for a wire on its own: delivered
    APDUs are read as the model reads them (the emulator's parse_command)."""

    counters: Counter[str] = field(default_factory=Counter)
    active_faults: set[str] = field(default_factory=set)
    sent: int = 0

    @property
    def muted(self) -> bool:
        return False

    def mute(self) -> None:
        pass

    def send(self, data: bytes) -> None:
        self.sent += len(data)

    def deliver(self, apdu: emu_apdu.Apdu) -> None:
        try:
            command = emu_messages.parse_command(apdu)
        except emu_apdu.CodecError:
            return
        command.tlv  # noqa: B018 -- the model reads the TLV container of every command

    def wait_until(self, predicate: Callable[[], bool], deadline: float) -> bool:
        return predicate()


def feed_ecr_serial(data: bytes, rng: random.Random) -> None:
    wire = SerialWire(_WireHost(), WireTimers())
    for chunk in splits(rng, data):
        wire.receive(chunk)


def feed_ecr_tcp(data: bytes, rng: random.Random) -> None:
    wire = TcpWire(_WireHost(), WireTimers())
    for chunk in splits(rng, data):
        wire.receive(chunk)


# -- the configuration file (posdriver.config) ------------------------------------------
MINIMAL_CONFIG = (
    b'currency = "EUR"\n[service]\napi = "127.0.0.1:8470"\npoll_interval = 0.2\n'
    b'[devices.t]\nkind = "terminal"\nurl = "tcp://127.0.0.1:20007"\n'
    b'[devices.p]\nkind = "printer"\nurl = "loop://?baudrate=9600"\n'
)
JOURNAL_CONFIG = b'state_dir = "/var/lib/posdriver"\n[service]\ntoken = "0123456789abcdef0123"\n'
HOSTILE_VALUES = (
    b"1" + b"0" * 400,
    b"-9223372036854775809",
    b"9223372036854775808",
    b"1e400",
    b"-0.0",
    b"nan",
    b"-inf",
    b"0x7fffffffffffffff",
    b"1979-05-27T07:32:00Z",
    b"true",
    b"[]",
    b'[[1], ["a"]]',
    b"{}",
    b'{ kind = "printer" }',
    b'""',
    b'"\\u0000"',
    b'"\\ud7ff\\ue000\\U0010ffff"',
    b'"' + b"x" * 5000 + b'"',
    b'"../../../../etc/passwd"',
    b'"tcp://[::1]:99999"',
    b'"serial:///dev/null?baudrate=-1"',
    b'"usb://ffff:ffff?interface=999"',
    b"'''\nmulti\nline'''",
    '"大酒店 \u202e"'.encode(),
)


def config_corpus() -> list[bytes]:
    docs = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", docs, flags=re.S)
    return [MINIMAL_CONFIG, JOURNAL_CONFIG, *(b.encode() for b in blocks)]


def make_config(rng: random.Random, corpus: list[bytes]) -> bytes:
    """A mutated configuration file: mostly line-wise (a value swapped for a hostile
    one, a line dropped, doubled or moved, a key misspelt), so that most files still
    parse as TOML and reach the checks; sometimes byte-wise, for the TOML parser."""
    text = corpus[rng.randrange(len(corpus))]
    if rng.random() < 0.25:
        return mutate(rng, text, corpus)
    lines = text.split(b"\n")
    for _ in range(rng.randrange(1, 4)):
        at = rng.randrange(len(lines))
        line = lines[at]
        choice = rng.randrange(6)
        if choice <= 1 and b"=" in line:
            key = line.split(b"=", 1)[0]
            lines[at] = key + b"= " + HOSTILE_VALUES[rng.randrange(len(HOSTILE_VALUES))]
        elif choice == 2:
            del lines[at]
        elif choice == 3:
            lines.insert(rng.randrange(len(lines) + 1), line)
        elif choice == 4 and line:
            cut = rng.randrange(len(line))
            lines[at] = line[:cut] + line[cut + 1 :]
        else:
            other = corpus[rng.randrange(len(corpus))].split(b"\n")
            lines.insert(at, other[rng.randrange(len(other))])
        if not lines:
            lines = [b""]
    return b"\n".join(lines)


class ConfigFeeder:
    """Writes each input to one file in a directory of its own and loads it twice: as
    the daemon does, and as a command that only reads the journal does."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="posdriver-fuzz-config-")
        self.path = Path(self._dir.name) / "posdriver.toml"

    def __call__(self, data: bytes, rng: random.Random) -> None:
        self.path.write_bytes(data)
        self.path.chmod(0o600)
        for journal_only in (False, True):
            try:
                load_config(self.path, journal_only=journal_only)
            except ConfigError:
                pass

    def close(self) -> None:
        self._dir.cleanup()


# -- the table ---------------------------------------------------------------------------
def targets() -> dict[str, Target]:
    """Every target by name (built on demand: the corpora read files and encoders)."""
    to_ecr, to_terminal = terminal_messages(), ecr_commands()
    return {
        "zvt-serial": Target("zvt-serial", to_ecr + to_terminal, feed_serial, make=make_wire),
        "zvt-tcp": Target("zvt-tcp", to_ecr + to_terminal, feed_tcp, make=make_stream),
        "escpos-status": Target("escpos-status", STATUS_CORPUS, feed_status),
        "asb-stream": Target("asb-stream", ASB_CORPUS, feed_asb),
        "emu-printer": Target("emu-printer", escpos_corpus(), feed_printer),
        "emu-ecr-serial": Target("emu-ecr-serial", to_terminal, feed_ecr_serial, make=make_wire),
        "emu-ecr-tcp": Target("emu-ecr-tcp", to_terminal, feed_ecr_tcp, make=make_stream),
        "config": Target(
            "config",
            config_corpus(),
            ConfigFeeder(),
            allowed=(ConfigError,),
            make=make_config,
            frames=False,
        ),
    }


def close(table: dict[str, Target]) -> None:
    for target in table.values():
        closer: Any = getattr(target.feed, "close", None)
        if closer is not None:
            closer()
