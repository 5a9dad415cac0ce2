"""ZVT byte vectors as plain data: the bytes, and what they mean, for both ZVT codecs.

posdriver's codec (``posdriver/terminal/zvt``, the ECR's end) and the emulated
terminal's (``posdriver_emulator/terminal/zvt``, the terminal's end) are separate implementations;
their tests read the same vectors from here, so a mistake in either shows up as a
disagreement instead of being shared by both ends of the wire.

Each vector says where it comes from: ``spec`` (an example in PA00P015 / PA00P016),
``capture`` (bytes seen from a real terminal or ECR, or a published peer test vector),
``reference`` (worked out in /work/shared/reference/zvt.md) or ``computed`` (made to
exercise a rule, such as a CRC whose low byte is 0x10). Hex is written as the
specification writes it, with spaces; :func:`hx` reads it.

The meaning is in neutral values that neither codec owns: ints, strings, bytes, and
:class:`T` for a TLV element. BMP 22 is given as its digits with ``E`` for each masked
one (posdriver decodes it to the last four only; the terminal keeps the digits).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def hx(text: str) -> bytes:
    return bytes.fromhex(text)


@dataclass(frozen=True)
class T:
    """A TLV element: a primitive one has ``value``, a constructed one ``children``."""

    tag: int
    value: bytes = b""
    children: tuple[T, ...] = ()


# -- CRC (PA00P016 §2.1: CRC-16/KERMIT over APDU + ETX, low byte first) --------------------
CRC_CHECK_INPUT = b"123456789"
CRC_CHECK_VALUE = 0x2189  # the catalogue check value of CRC-16/KERMIT
CRC_XMODEM_CHECK_VALUE = 0x31C3  # what true (unreflected) XMODEM would give instead


@dataclass(frozen=True)
class FrameVector:
    """A serial frame: its wire bytes, and the APDU inside (class, instruction, data)."""

    name: str
    source: str
    wire: bytes
    cls: int
    instr: int
    data: bytes
    crc: bytes  # the two bytes after DLE ETX, as sent

    @property
    def apdu(self) -> bytes:
        """The unstuffed APDU (header and data)."""
        return bytes([self.cls, self.instr, len(self.data)]) + self.data


# A payment of 10.00 EUR with an empty TLV container: the amount's 0x10 is doubled on the
# wire; the CRC covers the APDU once.
PAYMENT_FRAME = FrameVector(
    "payment 10.00 EUR",
    "reference",
    hx("10 02 06 01 0C 04 00 00 00 00 10 10 00 49 09 78 06 00 10 03 76 08"),
    0x06,
    0x01,
    hx("04 00 00 00 00 10 00 49 09 78 06 00"),
    hx("76 08"),
)
# A CRC whose low byte is 0x10: sent raw, not doubled (zvt.md §1.1).
CRC_DLE_FRAME = FrameVector(
    "CRC low byte 10",
    "reference",
    hx("10 02 06 01 07 04 00 00 00 00 00 59 10 03 18 10"),
    0x06,
    0x01,
    hx("04 00 00 00 00 00 59"),
    hx("18 10"),
)
FRAMES = (PAYMENT_FRAME, CRC_DLE_FRAME)
# APDUs whose two CRC bytes would read as DLE sequences if a reader undid doubling there.
CRC_LOOKALIKES: tuple[tuple[bytes, bytes], ...] = (
    (hx("06 01 07 04 00 00 00 04 46 83"), hx("10 10")),
    (hx("06 01 07 04 00 00 00 02 97 92"), hx("10 02")),
    (hx("06 01 07 04 00 00 00 09 27 39"), hx("10 03")),
    (hx("06 01 07 04 00 00 00 00 96 18"), hx("06 10")),
)
# A LEN byte of 0x10 is inside the APDU too, so it is doubled: 06 D1 with 16 data bytes.
STUFFED_LENGTH_PREFIX = hx("10 02 06 D1 10 10")

# -- APDUs (PA00P016 §5.2: LEN one byte, FF lo hi for the extended length) ----------------


@dataclass(frozen=True)
class ApduVector:
    name: str
    source: str
    wire: bytes
    cls: int
    instr: int
    data: bytes
    encoded: bool = True  # an encoder makes these bytes (False: only read, never made)


APDUS = (
    ApduVector(
        "payment 10.00 EUR, short length",
        "reference",
        hx("06 01 07 04 00 00 00 00 10 00"),
        0x06,
        0x01,
        hx("04 00 00 00 00 10 00"),
    ),
    ApduVector("abort", "spec", hx("06 B0 00"), 0x06, 0xB0, b""),
    # Portalum's published vectors: FF 01 00 is a length of 1, FF 00 01 one of 256
    # (an encoder writes a length of 1 in one byte: this form is read, never made)
    ApduVector(
        "extended length 1", "capture", hx("04 0F FF 01 00 6C"), 0x04, 0x0F, hx("6C"), False
    ),
    ApduVector(
        "extended length 256",
        "capture",
        hx("04 0F FF 00 01") + bytes(range(256)),
        0x04,
        0x0F,
        bytes(range(256)),
    ),
    ApduVector("positive answer", "spec", hx("80 00 00"), 0x80, 0x00, b""),
    ApduVector("unknown command refused", "spec", hx("84 83 00"), 0x84, 0x83, b""),
)
PAYMENT_APDU, ABORT_APDU, EXTENDED_1, EXTENDED_256, ACK_APDU, UNSUPPORTED_APDU = APDUS

# data size -> the LEN field
LENGTH_FIELDS: tuple[tuple[int, bytes], ...] = (
    (0, hx("00")),
    (1, hx("01")),
    (254, hx("FE")),  # the largest one-byte length
    (255, hx("FF FF 00")),  # FF itself announces the extended form
    (256, hx("FF 00 01")),
    (0x1234, hx("FF 34 12")),
    (0xFFFF, hx("FF FF FF")),
)
# too short to hold even the header
SHORT_HEADERS: tuple[bytes, ...] = (b"", hx("06"), hx("06 01"), hx("06 01 FF"), hx("06 01 FF 01"))
# (bytes, data bytes the LEN announces, data bytes present)
LENGTH_MISMATCHES: tuple[tuple[bytes, int, int], ...] = (
    (hx("06 01 02 04"), 2, 1),
    (hx("06 01 01 04 00"), 1, 2),
    (hx("06 01 00 00"), 0, 1),
    (hx("04 0F FF 02 00 6C"), 2, 1),
    (hx("04 0F FF 00 01 6C"), 256, 1),
)

# -- TLV (BMP 06, PA00P015 §9: BER tags, big-endian BER lengths) ---------------------------


@dataclass(frozen=True)
class TlvVector:
    name: str
    source: str
    wire: bytes
    items: tuple[T, ...]


TLVS = (
    TlvVector("one-byte tag", "computed", hx("12 01 28"), (T(0x12, hx("28")),)),
    TlvVector("MsgSeqId 1F73", "spec", hx("1F 73 03 00 00 01"), (T(0x1F73, hx("00 00 01")),)),
    TlvVector("long trace 1F2B", "spec", hx("1F 2B 03 00 00 01"), (T(0x1F2B, hx("00 00 01")),)),
    TlvVector("vendor error 1F16", "spec", hx("1F 16 03 00 00 01"), (T(0x1F16, hx("00 00 01")),)),
    TlvVector(
        "print texts 25",
        "spec",
        hx("25 0B 07 03 41 42 43 09 01 00 07 01 44"),
        (T(0x25, children=(T(0x07, b"ABC"), T(0x09, b"\x00"), T(0x07, b"D"))),),
    ),
    TlvVector(
        "permitted commands 26",
        "spec",
        hx("26 08 0A 02 06 D3 0A 02 06 D1"),
        (T(0x26, children=(T(0x0A, hx("06 D3")), T(0x0A, hx("06 D1")))),),
    ),
    TlvVector(
        "device info E4",
        "spec",
        hx("E4 0B 1F 40 03 45 43 52 1F 41 02 31 30"),
        (T(0xE4, children=(T(0x1F40, b"ECR"), T(0x1F41, b"10"))),),
    ),
    TlvVector(
        "nested, depth first",
        "computed",
        hx("1F 16 01 05 E4 07 25 05 07 03 61 62 63 07 01 7A"),
        (
            T(0x1F16, hx("05")),
            T(0xE4, children=(T(0x25, children=(T(0x07, b"abc"),)),)),
            T(0x07, b"z"),
        ),
    ),
    TlvVector("empty values", "computed", hx("1F 1F 00 25 00"), (T(0x1F1F), T(0x25))),
)
ONE_BYTE_TAG, MSG_SEQ_ID, LONG_TRACE, VENDOR_ERROR, PRINT_TEXTS, PERMITTED, DEVICE_INFO = TLVS[:7]
NESTED, EMPTY_VALUES = TLVS[7:]

# tags longer than two bytes continue while the high bit is set: (bytes, tag, size)
LONG_TAGS: tuple[tuple[bytes, int, int], ...] = (
    (hx("1F 81 01"), 0x1F8101, 3),
    (hx("5F 81 82 03"), 0x5F818203, 4),
)
TAG_TOO_LONG = hx("1F 81 82 83 04")  # a fifth byte: refused
# value size -> BER length
TLV_LENGTHS: tuple[tuple[int, bytes], ...] = (
    (0, hx("00")),
    (0x7F, hx("7F")),
    (0x80, hx("81 80")),
    (0xFF, hx("81 FF")),
    (0x100, hx("82 01 00")),
    (0x1234, hx("82 12 34")),  # big-endian, unlike the APDU's FF lo hi
    (0xFFFF, hx("82 FF FF")),
)
INDEFINITE_LENGTH = hx("80 00")  # BER's indefinite form: not used by ZVT, refused
THREE_BYTE_LENGTH = hx("83 00 00 01")  # refused
# TLV lists that stop short: (bytes, what is short)
TLV_CUT_SHORT: tuple[tuple[bytes, str], ...] = (
    (hx("1F 73 03 00 00"), "value: 3 announced, 2 there"),
    (hx("1F 73"), "length missing"),
    (hx("1F"), "tag cut short"),
    (hx("07 81"), "length cut short"),
    (hx("07 82 01"), "length cut short"),
    (hx("25 04 07 05 41 42"), "value inside a constructed tag: 5 announced, 2 there"),
)
# ten 40-byte text lines in 25: 25 is 420 bytes (82 01 A4), the container 424 (82 01 A8)
LONG_CONTAINER_START = hx("06 82 01 A8 25 82 01 A4")

# -- BMPs (PA00P015 §3.1.1) -----------------------------------------------------------------


@dataclass(frozen=True)
class FieldVector:
    """One BMP: its bytes and its value in neutral terms."""

    ident: int
    value: Any
    wire: bytes
    source: str = "spec"


FIELDS = (
    FieldVector(0x04, 1000, hx("04 00 00 00 00 10 00")),  # 10.00 in minor units
    FieldVector(0x49, 978, hx("49 09 78")),  # EUR
    FieldVector(0x0B, 42, hx("0B 00 00 42")),
    FieldVector(0x0C, "143005", hx("0C 14 30 05")),
    FieldVector(0x29, "52500038", hx("29 52 50 00 38")),
    FieldVector(0x2A, "VU1", hx("2A 56 55 31") + bytes(12)),  # 15 bytes, NUL padded
    FieldVector(0x3B, "12345678", b"\x3b12345678"),  # approval code, 8 ASCII
    FieldVector(0x8B, "Visa", hx("8B F0 F4 56 69 73 61")),  # LLVAR
    FieldVector(0x3C, "Hi", hx("3C F0 F0 F2 48 69")),  # LLLVAR
    FieldVector(0x22, "476173EEEEEE0119", hx("22 F0 F8 47 61 73 EE EE EE 01 19")),
    FieldVector(0x06, (), hx("06 00")),  # an empty container: "TLV allowed"
    FieldVector(0x87, None, hx("87 FF FF")),  # no receipt number
    FieldVector(0x87, 42, hx("87 00 42")),
)
# text fields: CP437, and a NUL ends the text
TEXT_FIELDS: tuple[tuple[bytes, int, str], ...] = (
    (hx("8B F0 F5 56 69 73 61 00"), 0x8B, "Visa"),
    (hx("8B F0 F2 81 E1"), 0x8B, "üß"),
    (b"\x3bAB\x00\x00\x00\x00\x00\x00", 0x3B, "AB"),
)
# LLVAR / LLLVAR: (bytes, id, value)
VAR_FIELDS: tuple[tuple[bytes, int, bytes], ...] = (
    (hx("A7 F0 F3 01 23 45"), 0xA7, hx("01 23 45")),
    (hx("AF F0 F0 F3 01 23 45"), 0xAF, hx("01 23 45")),
)
LLVAR_3 = hx("F0 F3")
LLLVAR_10 = hx("F0 F1 F0")  # a 10-byte text line (vendor memo)
LLLVAR_999 = hx("F9 F9 F9")
BAD_VAR_PREFIXES: tuple[bytes, ...] = (hx("E0 F3"), hx("F0 FA"), hx("F0 0F"), hx("FF F3"))
VAR_PREFIX_CUT_SHORT = hx("3C F0 F1")  # LLLVAR with two of its three length bytes
BAD_BCD_FIELDS: tuple[bytes, ...] = (
    hx("04 00 00 00 00 1A 00"),
    hx("0B 00 00 F1"),
    hx("0C 12 3D 00"),
    hx("49 09 7F"),
    hx("29 52 5E 00 38"),
)
UNKNOWN_BMP_BLOCK = hx("04 00 00 00 00 10 00 99 01")  # BMP 99 at offset 7
AMOUNT_CUT_SHORT = hx("04 00 10")  # BMP 04 needs 6 bytes, 2 are there
# card data fields: (bytes, id, size of the value)
CARD_DATA_FIELDS: tuple[tuple[bytes, int, int], ...] = (
    (hx("23 F0 F4 47 61 73 00"), 0x23, 4),  # track 2
    (hx("24 F0 F0 F3 01 02 03"), 0x24, 3),  # track 3
    (hx("2D F0 F2 42 34"), 0x2D, 2),  # track 1
    (hx("3A 01 23"), 0x3A, 2),  # card verification value
    (hx("0E 29 12"), 0x0E, 2),  # expiry date
)
PAN_WITH_JUNK_LEAD = (hx("22 F0 F5 AB CD 12 34 5F"), "2345")  # last four, leading bytes not BCD

# A 04 0F for an approved Visa payment, as a terminal sends it (masked PAN), in table order.
STATUS_INFORMATION_APPROVED: tuple[tuple[int, Any], ...] = (
    (0x27, 0x00),
    (0x04, 1000),
    (0x0B, 1),
    (0x0C, "143005"),
    (0x0D, "0615"),
    (0x0E, "2712"),
    (0x17, 1),
    (0x19, 0x60),
    (0x22, "476173EEEEEE0119"),
    (0x29, "52500038"),
    (0x2A, "VU123456789"),
    (0x3B, "12345678"),
    (0x49, 978),
    (0x87, 1),
    (0x88, 1),
    (0x8A, 10),
    (0x8B, "Visa"),
)
STATUS_INFORMATION_APPROVED_DATA = (
    hx("27 00 04 00 00 00 00 10 00 0B 00 00 01 0C 14 30 05 0D 06 15 0E 27 12 17 00 01")
    + hx("19 60 22 F0 F8 47 61 73 EE EE EE 01 19 29 52 50 00 38")
    + b"\x2aVU123456789\x00\x00\x00\x00"
    + b"\x3b12345678"
    + hx("49 09 78 87 00 01 88 00 00 01 8A 0A 8B F0 F4")
    + b"Visa"
)

# -- commands, ECR -> terminal (PA00P015 §2) -------------------------------------------------


@dataclass(frozen=True)
class CommandVector:
    """A command as sent, and what the terminal reads in it."""

    name: str
    source: str
    wire: bytes
    command: str
    password: str | None = None
    config: int | None = None
    currency: int | None = None
    fields: dict[int, Any] = field(default_factory=dict)


PERMIT_D3 = T(0x26, children=(T(0x0A, hx("06 D3")),))

COMMAND_VECTORS = (
    CommandVector("log-off", "spec", hx("06 02 00"), "log_off"),
    CommandVector("abort", "spec", hx("06 B0 00"), "abort"),
    CommandVector("diagnosis", "spec", hx("06 70 00"), "diagnosis"),
    CommandVector("end of day", "spec", hx("06 50 03 12 34 56"), "end_of_day", "123456"),
    CommandVector("initialisation", "spec", hx("06 93 03 12 34 56"), "initialisation", "123456"),
    CommandVector("status enquiry", "spec", hx("05 01 00"), "status_enquiry"),
    CommandVector(
        "status enquiry with password", "spec", hx("05 01 03 12 34 56"), "status_enquiry", "123456"
    ),
    CommandVector(
        "repeat receipt, send status information",
        "reference",
        hx("06 20 05 12 34 56 03 01"),
        "repeat_receipt",
        "123456",
        fields={0x03: 0x01},
    ),
    CommandVector(
        "open pre-authorisations enquiry",
        "spec",
        hx("06 23 03 87 FF FF"),
        "partial_reversal",
        fields={0x87: None},
    ),
    CommandVector(
        "reversal of receipt 42",
        "spec",
        hx("06 30 06 00 00 00 87 00 42"),
        "reversal",
        "000000",
        fields={0x87: 42},
    ),
    CommandVector(
        "payment 10.00 EUR, TLV allowed",
        "reference",
        hx("06 01 0C 04 00 00 00 00 10 00 49 09 78 06 00"),
        "authorisation",
        fields={0x04: 1000, 0x49: 978, 0x06: ()},
    ),
    CommandVector(
        "refund 25.00 EUR",
        "computed",
        hx("06 31 0D 12 34 56 04 00 00 00 00 25 00 49 09 78"),
        "refund",
        "123456",
        fields={0x04: 2500, 0x49: 978},
    ),
    CommandVector(
        "book total of reservation 7",
        "computed",
        hx("06 24 0A 87 00 07 04 00 00 00 00 50 00"),
        "book_total",
        fields={0x87: 7, 0x04: 5000},
    ),
    CommandVector(
        "status enquiry, password and service byte",
        "computed",
        hx("05 01 05 12 34 56 03 02"),
        "status_enquiry",
        "123456",
        fields={0x03: 0x02},
    ),
)
(
    LOG_OFF,
    ABORT_COMMAND,
    DIAGNOSIS,
    END_OF_DAY,
    INITIALISATION,
    STATUS_ENQUIRY,
    STATUS_ENQUIRY_PASSWORD,
    REPEAT_RECEIPT,
    OPEN_PRE_AUTHS,
    REVERSAL,
    PAYMENT_COMMAND,
    REFUND,
    BOOK_TOTAL,
    STATUS_ENQUIRY_SERVICE,
) = COMMAND_VECTORS
# the commands whose bytes posdriver's builder makes from the same meaning
BUILT_COMMANDS = COMMAND_VECTORS[:-1]

# Registrations. card complete's: config BE, EUR, service byte 01, permits 06 D3.
CARD_COMPLETE_REGISTRATION = CommandVector(
    "card complete registration",
    "capture",
    hx("06 00 10 12 34 56 BE 09 78 03 01 06 06 26 04 0A 02 06 D3"),
    "registration",
    "123456",
    0xBE,
    978,
    {0x03: 0x01, 0x06: (PERMIT_D3,)},
)
# The specification's MsgSeqId example (§5): 1F 73 is a sibling of 26 in BMP 06.
SPEC_MSG_SEQ_ID_REGISTRATION = CommandVector(
    "MsgSeqId registration",
    "spec",
    hx("06 00 14 00 00 00 9E 09 78 06 0C 26 04 0A 02 06 D3 1F 73 03 00 00 00"),
    "registration",
    "000000",
    0x9E,
    978,
    {0x06: (PERMIT_D3, T(0x1F73, hx("00 00 00")))},
)
REGISTRATION_NO_CURRENCY = CommandVector(
    "registration, config only",
    "computed",
    hx("06 00 04 12 34 56 BA"),
    "registration",
    "123456",
    0xBA,
)
# An ECR that leaves the currency out but sends a TLV container.
REGISTRATION_TLV_NO_CURRENCY = CommandVector(
    "registration, TLV without currency",
    "computed",
    hx("06 00 0C 12 34 56 BE 06 06 26 04 0A 02 06 D3"),
    "registration",
    "123456",
    0xBE,
    None,
    {0x06: (PERMIT_D3,)},
)
REGISTRATIONS = (
    CARD_COMPLETE_REGISTRATION,
    SPEC_MSG_SEQ_ID_REGISTRATION,
    REGISTRATION_NO_CURRENCY,
    REGISTRATION_TLV_NO_CURRENCY,
)
# currencies whose first BCD byte is 03 or 06, the ids of BMPs that may follow the
# Registration's currency (HUF, JPY, INR, RUB, PEN, PHP, PYG), with EUR, USD, CHF
REGISTRATION_CURRENCIES = (978, 840, 756, 348, 392, 356, 643, 604, 608, 600)

# commands that cannot be read: (bytes, what is wrong)
BAD_COMMANDS: tuple[tuple[bytes, str], ...] = (
    (hx("06 00 02 12 34"), "registration: password cut short"),
    (hx("06 00 03 12 34 56"), "registration: config byte missing"),
    (hx("06 31 02 12 34"), "refund: password cut short"),
    (hx("06 50 03 12 3A 56"), "password nibble not a digit"),
    (hx("06 01 02 99 00"), "unknown BMP 99"),
    (hx("06 00 07 12 34 56 BE 09 78 12"), "unknown BMP 09 (no currency reading decodes)"),
)
UNKNOWN_COMMAND = hx("06 99 01 01")  # 06 99 is no command

# -- messages, terminal -> ECR (PA00P015 §3) -------------------------------------------------
# intermediate status 04 FF: (data, status, T4 minutes or None)
INTERMEDIATES: tuple[tuple[bytes, int, int | None], ...] = (
    (hx("0A"), 0x0A, None),
    (hx("0A 05"), 0x0A, 5),
    (hx("04 06"), 0x04, 6),  # 6 minutes, not a TLV container
    (hx("04 15"), 0x04, 15),
    (hx("0A 06 00"), 0x0A, None),  # an empty TLV container, no timeout
    (hx("0A 06 03 1F 16 00"), 0x0A, None),
    (hx("0A 03 06 00"), 0x0A, 3),
    (hx("0A 06 06 00"), 0x0A, 6),  # 6 minutes, then an empty container
)
INTERMEDIATE_INSERT_CARD_3_MINUTES = hx("04 FF 02 0A 03")
INTERMEDIATE_BAD_MINUTES = hx("0A 1F")  # 1F is no BCD number of minutes

# Abort 06 1E: (wire, result, fields)
ABORTS: tuple[tuple[bytes, int, dict[int, Any]], ...] = (
    (hx("06 1E 01 6C"), 0x6C, {}),  # abort via timeout or abort key
    (hx("06 1E 04 B8 87 FF FF"), 0xB8, {0x87: None}),  # no open pre-authorisation
    (hx("06 1E 04 B8 87 00 17"), 0xB8, {0x87: 17}),  # open pre-authorisation 17
)
ABORT_CUT_SHORT_DATA = hx("6C 87 00")

# Completion of a Status Enquiry 06 0F: (wire, terminal status, software version)
STATUS_COMPLETIONS: tuple[tuple[bytes, int, str | None], ...] = (
    (hx("06 0F 0E F0 F1 F0") + b"GT800 v1.2" + hx("00"), 0x00, "GT800 v1.2"),
    (hx("06 0F 01 51"), 0x51, None),  # initialisation required
)
# received forms: (data, status, software, TLV)
STATUS_COMPLETION_DATA: tuple[tuple[bytes, int, str | None, tuple[T, ...]], ...] = (
    (hx("F0 F0 F4 76 31 00 00 DC"), 0xDC, "v1", ()),  # NUL-terminated version
    (hx("00 06 05 1F 16 02 00 01"), 0x00, None, (T(0x1F16, hx("00 01")),)),
)
STATUS_COMPLETION_BAD: tuple[tuple[bytes, str], ...] = (
    (hx("F0 F0 F5 41"), "software version runs past the end"),
    (hx("F0 F0 F1 41"), "no terminal status byte"),
    (b"", "no terminal status byte"),
)

# Print Line 06 D1: (wire, attribute, text)
PRINT_LINES: tuple[tuple[bytes, int, str], ...] = (
    (b"\x06\xd1\x11\x00Betrag EUR 10,00", 0x00, "Betrag EUR 10,00"),
    (b"\x06\xd1\x07\x40Gr\x81n\x00\x00", 0x40, "Grün"),  # CP437, NUL-terminated, centred
    (b"\x06\xd1\x01\x80", 0x80, ""),  # the last line, empty
)

# Print Text-Block 06 D3: a customer receipt (1F07 = 02) with three lines in 25
TEXT_BLOCK_LINES = ("KUNDENBELEG", "Visa", "Betrag EUR 10,00")
TEXT_BLOCK_RECEIPT_TYPE = 2
TEXT_BLOCK_START = hx("06 2B 1F 07 01 02 25 25 07 0B") + b"KUNDENBELEG"
# a received block with a 09 attribute between the lines, and NUL-terminated lines
TEXT_BLOCK_WITH_ATTRIBUTE = (hx("06 0F 25 0D 07 03 41 00 00 09 01 40 07 03 42 43 00"), ("A", "BC"))

# TLV 26 in a Registration: the commands the terminal may send
PERMITTED_D3 = ([(0x06, 0xD3)], hx("26 04 0A 02 06 D3"))
PERMITTED_THREE = (
    [(0x06, 0xD3), (0x06, 0xD1), (0x04, 0xFF)],
    hx("26 0C 0A 02 06 D3 0A 02 06 D1 0A 02 04 FF"),
)

# -- result codes in words (PA00P015 §10) ----------------------------------------------------
RESULT_TEXTS: tuple[tuple[int, str], ...] = (
    (0x00, "no error"),
    (0x6C, "abort via timeout or abort key"),
    (0x6F, "wrong currency"),
    (0xA3, "no connection"),
    (0xB4, "already reversed"),
    (0xC3, "maximum amount exceeded"),
    (0x9C, "please wait"),
    (0xFF, "system error (see vendor error in TLV 1F16/1F17)"),
)
UNKNOWN_RESULT_CODES = (0x69, 0x80, 0x8F, 0xAE, 0xF9)
