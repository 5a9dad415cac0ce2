"""Property tests: whatever an ECR sends, the terminal never crashes and keeps answering.

Random bytes and random valid-but-odd APDUs (known commands with strange fields, unknown
codes, wrong lengths) go straight into the device (no OS interface, for speed); afterwards
a Status Enquiry must still get its 80 00 and its completion, and no internal error may
have been logged.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from posdriver.terminal.zvt.apdu import Apdu
from posdriver.terminal.zvt.bmp import encode_bmp
from posdriver.terminal.zvt.frame import encode_frame
from posdriver.terminal.zvt.messages import BY_CODE, COMMANDS, build, parse_status_completion
from posdriver_emulator.terminal import TerminalConfig, TerminalEmulator
from tests.support.raw_ecr import FAST, PASSWORD, DevicePort, RawEcr

SOFTWARE = "posdriver-emulator ZVT 1.0"
EXAMPLES = 60

_bmp_values = {
    0x01: st.integers(0, 255),
    0x02: st.integers(0, 255),
    0x03: st.integers(0, 255),
    0x04: st.one_of(st.integers(0, 10**12 - 1), st.integers(1, 100_000)),
    0x19: st.integers(0, 255),
    0x49: st.one_of(st.just(978), st.integers(0, 9999)),
    0x87: st.one_of(st.none(), st.integers(0, 9999)),
    0x3C: st.text(max_size=20).map(lambda t: t.encode("cp437", "replace").decode("cp437")),
}
bmp_block = st.lists(
    st.sampled_from(sorted(_bmp_values)).flatmap(
        lambda ident: _bmp_values[ident].map(lambda value: encode_bmp(ident, value))
    ),
    max_size=5,
).map(b"".join)
known_code = st.sampled_from(sorted(BY_CODE))
MONEY = ("authorisation", "pre_authorisation", "refund", "reversal", "book_total")


def _money(name: str, amount: int) -> Apdu:
    password = PASSWORD if "password" in COMMANDS[name].prefix else None
    return build(name, password=password, bmps={0x87: amount % 5, 0x04: amount})


any_code = st.tuples(st.integers(0, 255), st.integers(0, 255))
# Always tried, whatever the draw: a registration that passes and a command no terminal
# has, so the deep states checked at the end are reached on every run, not by chance
# (60 random draws can miss every registration: a full run under load once did).
SURE_TO_REACH = [
    build("registration", password=PASSWORD, config=0x86, currency=978),
    Apdu(0xEE, 0xEE, b"\x01"),
]
odd_apdus = st.one_of(
    # known commands, password first where they take one, then odd fields
    st.tuples(known_code, bmp_block).map(lambda c: Apdu(*c[0], bytes.fromhex(PASSWORD) + c[1])),
    st.tuples(known_code, bmp_block).map(lambda c: Apdu(*c[0], c[1])),
    st.tuples(any_code, st.binary(max_size=40)).map(lambda c: Apdu(*c[0], c[1])),
    # registrations that pass the password check, with any config byte and currency
    st.tuples(st.integers(0, 255), st.sampled_from([978, 978, 840, 0, 9999])).map(
        lambda c: build("registration", password=PASSWORD, config=c[0], currency=c[1])
    ),
    # well-formed money commands with an amount, then odd extra fields
    st.tuples(st.sampled_from(MONEY), st.integers(1, 700_000), bmp_block).map(
        lambda c: Apdu(*_money(c[0], c[1]).code, _money(c[0], c[1]).data + c[2])
    ),
)


def make(framing: str) -> Iterator[TerminalEmulator]:
    settings_: dict[str, Any] = {
        **FAST,
        "answer_timeout": 0.1,
        "status_ack_timeout": 0.1,
        "t1": 0.02,
        "t2": 0.1,
    }
    device = TerminalEmulator(TerminalConfig(**settings_), framing=framing)
    device.start()
    try:
        yield device
    finally:
        device.stop()


@pytest.fixture(scope="module")
def serial_device() -> Iterator[TerminalEmulator]:
    yield from make("serial")


@pytest.fixture(scope="module")
def tcp_device() -> Iterator[TerminalEmulator]:
    yield from make("tcp")


def idle(device: TerminalEmulator) -> bool:
    quiet_line = device.framing == "tcp" or not device.wire.in_frame
    return device.phase == "idle" and not device.inbox and quiet_line


def still_answers(device: TerminalEmulator) -> None:
    """Settle as an ECR would, then a Status Enquiry must get 80 00 and its completion."""
    ecr = RawEcr(DevicePort(device), device.framing, t2=0.3)
    deadline = time.monotonic() + 10
    # whatever the odd input started runs out (every message answered 80 00 00, as an
    # ECR does); a serial ECR also waits out T1 so a half-received frame is dropped
    while not (device.wait_for(idle, 0.01) and device.pending_output() == 0):
        ecr.pump(0.01)
        while ecr.apdus:
            if ecr.apdus.popleft().cls in (0x04, 0x06):
                ecr.write_apdu(Apdu(0x80, 0x00))
        assert time.monotonic() < deadline, f"terminal never settled: {device.phase}"
    ecr.apdus.clear()
    if device.framing == "tcp":
        device.discard_output()  # a TCP ECR reconnects: a half-sent APDU is forgotten
    messages = ecr.run(build("status_enquiry", password=PASSWORD))
    assert [m.code for m in messages] == [(0x80, 0x00), (0x06, 0x0F)]
    assert parse_status_completion(messages[1].data).software == SOFTWARE
    assert device.counters["internal_errors"] == 0


@settings(max_examples=EXAMPLES)
@given(garbage=st.binary(max_size=200))
def test_random_bytes_serial(serial_device: TerminalEmulator, garbage: bytes) -> None:
    serial_device.accept(garbage, overflow=True)
    still_answers(serial_device)


@settings(max_examples=EXAMPLES)
@given(garbage=st.binary(max_size=200))
def test_random_bytes_tcp(tcp_device: TerminalEmulator, garbage: bytes) -> None:
    tcp_device.accept(garbage)
    still_answers(tcp_device)


@settings(max_examples=EXAMPLES)
@given(apdus=st.lists(odd_apdus, min_size=1, max_size=4))
@example(apdus=SURE_TO_REACH)
def test_odd_apdus_serial(serial_device: TerminalEmulator, apdus: list[Apdu]) -> None:
    for apdu in apdus:
        serial_device.accept(encode_frame(apdu.encode()), overflow=True)
    still_answers(serial_device)


@settings(max_examples=EXAMPLES)
@given(apdus=st.lists(odd_apdus, min_size=1, max_size=4))
@example(apdus=SURE_TO_REACH)
def test_odd_apdus_tcp(tcp_device: TerminalEmulator, apdus: list[Apdu]) -> None:
    for apdu in apdus:
        tcp_device.accept(apdu.encode())
    still_answers(tcp_device)


def test_the_fuzz_reached_deep_states(serial_device: Any, tcp_device: Any) -> None:
    """The odd input got past the first checks: registrations and payments ran, unknown
    and malformed commands were refused, garbage was NAKed, nothing failed inside."""
    serial, tcp = serial_device.counters, tcp_device.counters
    assert serial["naks_sent"] > 0 and serial["bad_frames"] + serial["noise_bytes"] > 0
    for counters in (serial, tcp):
        assert counters["registrations"] > 0 and counters["unknown_commands"] > 0
        assert counters["malformed_commands"] > 0 and counters["internal_errors"] == 0
    assert serial["commits"] + tcp["commits"] > 0  # payments ran to their status information
