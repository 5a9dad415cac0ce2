"""The BMP table: every field round-trips, and card data never leaves the decoder whole."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest

from posdriver.terminal.zvt.bcd import (
    decode_bcd,
    decode_bcd_digits,
    decode_var_length,
    encode_bcd,
    encode_var_length,
)
from posdriver.terminal.zvt.bmp import (
    BY_NAME,
    TABLE,
    Bmp,
    MaskedPan,
    Redacted,
    decode_bmps,
    encode_bmp,
    encode_bmps,
    encode_pan,
    mask_pan,
)
from posdriver.terminal.zvt.errors import ZvtCodecError
from posdriver.terminal.zvt.tlv import Tlv
from tests.support.zvt_vectors import (
    AMOUNT_CUT_SHORT,
    BAD_BCD_FIELDS,
    BAD_VAR_PREFIXES,
    CARD_DATA_FIELDS,
    FIELDS,
    LLLVAR_10,
    LLLVAR_999,
    LLVAR_3,
    PAN_WITH_JUNK_LEAD,
    TEXT_FIELDS,
    UNKNOWN_BMP_BLOCK,
    VAR_FIELDS,
    VAR_PREFIX_CUT_SHORT,
    FieldVector,
)


def hx(text: str) -> bytes:
    return bytes.fromhex(text)


def sample(bmp: Bmp) -> tuple[Any, Any]:
    """A valid value for ``bmp`` by its layout, and what decoding it must give back."""
    if bmp.layout == "tlv":
        items = (Tlv(0x1F73, hx("00 00 01")), Tlv(0x26, children=(Tlv(0x0A, hx("06 D3")),)))
        return items, items
    if bmp.layout in ("llvar", "lllvar"):
        if bmp.content == "pan":
            return "476173EEEEEE0119", MaskedPan("0119")
        if bmp.content == "secret":
            return hx("3B 47 61 73 00 10 FF"), Redacted(7)
        if bmp.content == "ascii":
            return "Visa Ü 10%", "Visa Ü 10%"
        assert bmp.content == "bin", bmp
        return hx("00 10 02 03 FF"), hx("00 10 02 03 FF")
    if bmp.layout == "bin":
        value: Any = 0xA5 if bmp.size == 1 else bytes(range(0x10, 0x10 + bmp.size))
    elif bmp.layout == "bcd":
        value = int("9876543210"[: bmp.size * 2 - 1] or "0")
    elif bmp.layout == "digits":
        value = "1231590102"[: bmp.size * 2]
    else:
        assert bmp.layout == "ascii", bmp
        value = "ABC123"[: bmp.size]
    return value, Redacted(bmp.size) if bmp.secret else value


@pytest.mark.parametrize("bmp", list(TABLE.values()), ids=lambda b: f"{b.id:02X}-{b.name}")
def test_every_bmp_round_trips(bmp: Bmp) -> None:
    value, expected = sample(bmp)
    raw = encode_bmp(bmp.id, value)
    assert raw[0] == bmp.id
    if bmp.layout in ("bin", "bcd", "digits", "ascii"):
        assert len(raw) == 1 + bmp.size
    assert decode_bmps(raw) == {bmp.id: expected}
    assert BY_NAME[bmp.name] is bmp


def test_the_whole_table_in_one_block() -> None:
    pairs = [(b.id, sample(b)[0]) for b in TABLE.values()]
    block = encode_bmps(pairs)
    decoded = decode_bmps(block)
    assert list(decoded) == [b.id for b in TABLE.values()]  # wire order kept
    assert decoded == {b.id: sample(b)[1] for b in TABLE.values()}
    assert encode_bmps(dict(pairs)) == block


@pytest.mark.parametrize("bmp", list(TABLE.values()), ids=lambda b: f"{b.id:02X}-{b.name}")
def test_every_bmp_cut_short_is_refused(bmp: Bmp) -> None:
    raw = encode_bmp(bmp.id, sample(bmp)[0])
    for end in range(1, len(raw)):
        with pytest.raises(ZvtCodecError):
            decode_bmps(raw[:end])


def test_cut_short_message_names_the_field() -> None:
    with pytest.raises(ZvtCodecError, match=r"BMP 04 \(amount\) needs 6 bytes, only 2 remain"):
        decode_bmps(AMOUNT_CUT_SHORT)


@pytest.mark.parametrize("vector", FIELDS, ids=lambda v: v.wire.hex(" "))
def test_byte_exact_fields(vector: FieldVector) -> None:
    assert encode_bmp(vector.ident, vector.value) == vector.wire


def test_text_is_cp437_and_stops_at_nul() -> None:
    for raw, ident, text in TEXT_FIELDS:
        assert decode_bmps(raw) == {ident: text}


def test_unknown_bmp_is_refused_with_its_id() -> None:
    with pytest.raises(ZvtCodecError, match="unknown BMP 99 at offset 7"):
        decode_bmps(UNKNOWN_BMP_BLOCK)
    with pytest.raises(ZvtCodecError, match="unknown BMP 99"):
        encode_bmp(0x99, 1)


def test_fixed_size_mismatch_on_encode() -> None:
    with pytest.raises(ZvtCodecError, match=r"BMP BA \(aid_parameter\) takes 5 bytes, got 1"):
        encode_bmp(0xBA, b"\x01")
    with pytest.raises(ZvtCodecError, match="does not fit"):
        encode_bmp(0x04, 10**12)


# -- LLVAR / LLLVAR ---------------------------------------------------------------------
def test_var_length_prefixes() -> None:
    assert encode_var_length(3, 2) == LLVAR_3
    assert decode_var_length(LLVAR_3 + hx("01 23 45"), 0, 2) == 3
    assert encode_var_length(10, 3) == LLLVAR_10
    assert decode_var_length(LLLVAR_999, 0, 3) == 999
    for raw, ident, value in VAR_FIELDS:
        assert decode_bmps(raw) == {ident: value}


def test_var_length_limits() -> None:
    assert len(encode_bmp(0xA7, bytes(99))) == 1 + 2 + 99
    with pytest.raises(ZvtCodecError, match="does not fit a LLVAR prefix"):
        encode_bmp(0xA7, bytes(100))
    assert len(encode_bmp(0xAF, bytes(999))) == 1 + 3 + 999
    with pytest.raises(ZvtCodecError, match="does not fit a LLLVAR prefix"):
        encode_bmp(0xAF, bytes(1000))


@pytest.mark.parametrize("prefix", BAD_VAR_PREFIXES, ids=lambda p: p.hex(" "))
def test_var_length_prefix_must_be_fx_digits(prefix: bytes) -> None:
    with pytest.raises(ZvtCodecError, match="is not Fx"):
        decode_bmps(hx("A7") + prefix + hx("01 02 03"))


def test_var_length_prefix_cut_short() -> None:
    with pytest.raises(ZvtCodecError, match="LLLVAR length at offset 1 is cut short"):
        decode_bmps(VAR_PREFIX_CUT_SHORT)


# -- BCD --------------------------------------------------------------------------------
@pytest.mark.parametrize("field", BAD_BCD_FIELDS, ids=lambda f: f.hex(" "))
def test_bcd_with_a_non_digit_nibble_is_refused(field: bytes) -> None:
    with pytest.raises(ZvtCodecError, match="nibble that is not a digit"):
        decode_bmps(field)


def test_bcd_helpers() -> None:
    assert encode_bcd(1000, 6) == hx("00 00 00 00 10 00")
    assert encode_bcd("123456", 3) == hx("12 34 56")
    assert decode_bcd(hx("00 00 00 00 10 00")) == 1000
    assert decode_bcd_digits(hx("01 23")) == "0123"
    for bad in (-1, "12a", "", "١٢"):  # negative, non-digit, empty, non-ASCII digits
        with pytest.raises(ZvtCodecError):
            encode_bcd(bad, 2)
    with pytest.raises(ZvtCodecError, match="does not fit in 1 BCD bytes"):
        encode_bcd(100, 1)


def test_receipt_number_ff_ff_means_none() -> None:
    assert decode_bmps(hx("87 FF FF")) == {0x87: None}
    assert encode_bmp(0x87, None) == hx("87 FF FF")
    assert decode_bmps(hx("87 00 42")) == {0x87: 42}
    with pytest.raises(ZvtCodecError):  # only the receipt number has that meaning
        decode_bmps(hx("49 FF FF"))


# -- card data --------------------------------------------------------------------------
def no_digit_run_of_five(text: str) -> bool:
    return re.search(r"\d{5,}", text) is None


@pytest.mark.parametrize(
    ("pan", "last4"),
    [
        ("4761730000000119", "0119"),  # full 16-digit PAN
        ("476173EEEEEE0119", "0119"),  # masked with E, as terminals usually send
        ("5413330089099130", "9130"),
        ("374245455400126", "0126"),  # 15 digits: padded with F
        ("6799998900000060018", "0018"),  # 19 digits (girocard / Maestro)
        ("EEEEEEEEEEEE1234", "1234"),
        ("4761EEEEEEEEEEEE", None),  # last four masked: nothing to keep
        ("123", None),  # too short to have a last four
        ("", None),
    ],
)
def test_pan_decodes_to_last_four_only(pan: str, last4: str | None) -> None:
    raw = encode_bmp(0x22, pan)
    if len(pan) % 2:
        assert raw[-1] & 0x0F == 0x0F  # odd length: F padding in the last nibble
    decoded = decode_bmps(raw)
    assert decoded == {0x22: MaskedPan(last4)}
    for text in (repr(decoded), str(decoded), str(decoded[0x22])):
        assert no_digit_run_of_five(text), text
    assert str(decoded[0x22]) == (f"****{last4}" if last4 else "****")


def test_full_pans_never_come_out_whole() -> None:
    rng = random.Random(22)
    for _ in range(300):
        pan = "".join(rng.choice("0123456789") for _ in range(rng.randint(12, 19)))
        decoded = decode_bmps(encode_bmp(0x22, pan) + encode_bmp(0x8B, "Visa"))
        assert decoded[0x22] == MaskedPan(pan[-4:])
        text = repr(decoded) + str(decoded)
        assert no_digit_run_of_five(text), text
        assert pan[:6] not in text


def test_pan_leading_bytes_are_never_read_as_digits() -> None:
    # The decoder looks only at the end of the field: non-BCD leading bytes do not matter.
    raw, last4 = PAN_WITH_JUNK_LEAD
    assert decode_bmps(raw) == {0x22: MaskedPan(last4)}


def test_mask_pan_helper() -> None:
    assert mask_pan("476173eeeeee0119") == MaskedPan("0119")
    assert mask_pan("12345F") == MaskedPan("2345")
    assert mask_pan("12EE") == MaskedPan(None)


def test_encode_pan_refuses_anything_but_digits_and_e() -> None:
    assert encode_pan("123") == hx("12 3F")
    with pytest.raises(ZvtCodecError, match="only digits and E"):
        encode_pan("4761-7300")


@pytest.mark.parametrize(("raw", "size"), [(raw, size) for raw, _, size in CARD_DATA_FIELDS])
def test_track_data_cvv_and_expiry_are_redacted(raw: bytes, size: int) -> None:
    decoded = decode_bmps(raw)
    assert decoded == {raw[0]: Redacted(size)}
    assert str(decoded[raw[0]]) == f"<redacted {size} bytes>"
    secret = raw[-size:]
    for text in (repr(decoded), str(decoded)):
        assert secret.hex() not in text.lower()
