"""The ZVT channels against a scripted terminal on a real pty and a real TCP socket."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest

from posdriver.links import LinkIOError, open_link
from posdriver.terminal.zvt.apdu import Apdu
from posdriver.terminal.zvt.bmp import encode_bmps
from posdriver.terminal.zvt.channel import (
    SerialChannel,
    TcpChannel,
    TransmissionError,
    channel_for,
)
from posdriver.terminal.zvt.crc import crc_bytes
from posdriver.terminal.zvt.frame import ACK_BYTE, NAK_BYTE, encode_frame
from tests.support.timing import wait_until
from tests.support.zvt_peer import VISA_FULL, SerialPeer, TcpPeer, scripted
from tests.support.zvt_vectors import CRC_DLE_FRAME

T1, T2 = 0.1, 0.15


@pytest.fixture
def serial_peer() -> Iterator[SerialPeer]:
    peer = SerialPeer()
    yield peer
    peer.close()


@pytest.fixture
def tcp_peer() -> Iterator[TcpPeer]:
    peer = TcpPeer()
    yield peer
    peer.close()


@pytest.fixture
def serial(serial_peer: SerialPeer) -> Iterator[SerialChannel]:
    with open_link(serial_peer.url) as link:
        yield SerialChannel(link, t1=T1, t2=T2)


@pytest.fixture
def tcp(tcp_peer: TcpPeer) -> Iterator[TcpChannel]:
    with open_link(tcp_peer.url) as link:
        yield TcpChannel(link)


# -- serial: framing ---------------------------------------------------------------------
def test_dle_inside_the_apdu_is_stuffed_and_acked(
    serial: SerialChannel, serial_peer: SerialPeer
) -> None:
    apdu = Apdu(0x06, 0x01, bytes.fromhex("04 000000001000 49 0978"))  # 10.00 EUR: a 0x10 byte
    with scripted(serial_peer, lambda p: p.frame()):
        serial.send(apdu)
    wire = bytes(serial_peer.raw_in)
    assert wire == encode_frame(apdu)
    assert b"\x10\x10\x00" in wire  # the amount's 0x10 went out doubled
    assert serial.stats.apdus_sent == 1 and serial.stats.repeats == 0


def test_dle_inside_the_crc_is_sent_raw_and_read(
    serial: SerialChannel, serial_peer: SerialPeer
) -> None:
    apdu = Apdu(CRC_DLE_FRAME.cls, CRC_DLE_FRAME.instr, CRC_DLE_FRAME.data)
    assert crc_bytes(apdu.encode() + b"\x03") == b"\x18\x10"  # a DLE inside the CRC
    wire = encode_frame(apdu)
    assert wire == CRC_DLE_FRAME.wire
    assert wire.endswith(b"\x10\x03\x18\x10")
    serial_peer.write(wire)
    assert serial.receive(1.0) == apdu
    assert serial_peer.control() == ACK_BYTE
    assert serial.stats.bad_frames == 0 and serial.stats.naks_sent == 0


def test_nak_then_repeat(serial: SerialChannel, serial_peer: SerialPeer) -> None:
    apdu = Apdu(0x06, 0x70)

    def terminal(p: SerialPeer) -> None:
        p.frame(answer=NAK_BYTE)
        p.frame(answer=ACK_BYTE)

    with scripted(serial_peer, terminal):
        serial.send(apdu)
    assert serial.stats.naks_received == 1
    assert serial.stats.repeats == 1
    assert bytes(serial_peer.raw_in) == encode_frame(apdu) * 2


def test_bad_crc_is_naked_and_the_repeat_taken(
    serial: SerialChannel, serial_peer: SerialPeer
) -> None:
    apdu = Apdu(0x04, 0xFF, b"\x0a")

    def terminal(p: SerialPeer) -> None:
        assert p.send_corrupt(apdu) == NAK_BYTE
        p.send(apdu)

    with scripted(serial_peer, terminal):
        assert serial.receive(2.0) == apdu
    assert serial.stats.naks_sent == 1
    assert serial.stats.bad_frames == 1
    assert serial.stats.apdus_received == 1


def test_t1_gap_inside_a_frame_is_naked(serial: SerialChannel, serial_peer: SerialPeer) -> None:
    apdu = Apdu(0x04, 0xFF, b"\x0e")
    wire = encode_frame(apdu)

    def terminal(p: SerialPeer) -> None:
        p.write(wire[:4])
        assert p.control(timeout=1.0) == NAK_BYTE  # T1 expired: the half frame is refused
        p.send(apdu)

    with scripted(serial_peer, terminal):
        assert serial.receive(2.0) == apdu
    assert serial.stats.t1_expiries == 1
    assert serial.stats.naks_sent == 1


def test_bytes_slower_than_t1_never_pass_for_a_frame(
    serial: SerialChannel, serial_peer: SerialPeer
) -> None:
    wire = encode_frame(Apdu(0x04, 0xFF, b"\x0e"))[:4]

    def terminal(p: SerialPeer) -> None:
        for byte in wire:
            p.write(bytes([byte]))
            time.sleep(T1 * 1.5)

    with scripted(serial_peer, terminal):
        assert serial.receive(len(wire) * T1 * 1.5) is None
    assert serial.stats.t1_expiries == 1 and serial.stats.naks_sent == 1
    assert serial.stats.noise_bytes == 3  # DLE timed out alone; STX 04 FF are no frame
    assert serial.stats.apdus_received == 0


def test_repeats_exhausted_on_silence(serial: SerialChannel, serial_peer: SerialPeer) -> None:
    apdu = Apdu(0x06, 0x70)

    def terminal(p: SerialPeer) -> None:
        for _ in range(3):
            p.frame(answer=None)

    started = time.monotonic()
    with scripted(serial_peer, terminal), pytest.raises(TransmissionError, match="3 trans"):
        serial.send(apdu)
    assert time.monotonic() - started >= 3 * T2
    assert serial.stats.t2_expiries == 3
    assert serial.stats.repeats == 2
    assert serial.stats.transmission_failures == 1
    assert bytes(serial_peer.raw_in) == encode_frame(apdu) * 3


def test_nak_storm_fails_fast(serial: SerialChannel, serial_peer: SerialPeer) -> None:
    def terminal(p: SerialPeer) -> None:
        for _ in range(3):
            p.frame(answer=NAK_BYTE)

    started = time.monotonic()
    with scripted(serial_peer, terminal), pytest.raises(TransmissionError, match="NAK"):
        serial.send(Apdu(0x06, 0x70))
    assert time.monotonic() - started < T2
    assert serial.stats.naks_received == 3


def test_transmission_error_is_a_link_error(serial: SerialChannel) -> None:
    assert issubclass(TransmissionError, LinkIOError)


def test_noise_between_frames_is_counted(serial: SerialChannel, serial_peer: SerialPeer) -> None:
    apdu = Apdu(0x04, 0xFF, b"\x0a")
    serial_peer.write(b"\x00\x7e\xff" + encode_frame(apdu) + b"\x41")
    assert serial.receive(1.0) == apdu
    assert serial_peer.control() == ACK_BYTE
    wait_until(lambda: serial.receive(0.01) is None and serial.stats.noise_bytes == 4)


def test_frame_with_a_wrong_apdu_length_is_naked(
    serial: SerialChannel, serial_peer: SerialPeer
) -> None:
    apdu = Apdu(0x04, 0xFF, b"\x0a")

    def terminal(p: SerialPeer) -> None:
        p.write(encode_frame(b"\x04\xff\x05\x0a"))  # says 5 data bytes, carries 1
        assert p.control() == NAK_BYTE
        p.send(apdu)

    with scripted(serial_peer, terminal):
        assert serial.receive(2.0) == apdu
    assert serial.stats.bad_apdus == 1 and serial.stats.naks_sent == 1


def test_stray_ack_is_ignored(serial: SerialChannel, serial_peer: SerialPeer) -> None:
    serial_peer.write(b"\x06")
    assert serial.receive(0.1) is None
    assert serial.stats.stray_acks == 1


def test_frame_behind_the_ack_is_kept(serial: SerialChannel, serial_peer: SerialPeer) -> None:
    """ACK and the terminal's answer arrive in one read: the answer is not lost."""
    answer = Apdu(0x80, 0x00)

    def terminal(p: SerialPeer) -> None:
        p.frame(answer=None)
        p.write(b"\x06" + encode_frame(answer))
        assert p.control() == ACK_BYTE

    with scripted(serial_peer, terminal):
        serial.send(Apdu(0x06, 0x70))
        assert serial.receive(1.0) == answer


def test_silence_is_none_by_the_deadline(serial: SerialChannel) -> None:
    started = time.monotonic()
    assert serial.receive(0.1) is None
    assert 0.09 <= time.monotonic() - started < 0.5


def test_flush_drops_stale_frames(serial: SerialChannel, serial_peer: SerialPeer) -> None:
    serial_peer.write(encode_frame(Apdu(0x06, 0x0F)))
    wait_until(lambda: serial.link._port.in_waiting > 0)  # type: ignore[attr-defined]
    assert serial.flush_input() > 0
    assert serial.receive(0.05) is None
    assert serial.stats.stale_bytes > 0


# -- TCP ---------------------------------------------------------------------------------
def test_tcp_sends_raw_apdus(tcp: TcpChannel, tcp_peer: TcpPeer) -> None:
    apdu = Apdu(0x06, 0x01, bytes.fromhex("04 000000001000 49 0978"))
    tcp.send(apdu)
    assert tcp_peer.recv() == apdu
    assert bytes(tcp_peer.raw_in) == apdu.encode()  # no framing, no DLE stuffing


def test_tcp_reassembles_split_segments(tcp: TcpChannel, tcp_peer: TcpPeer) -> None:
    first = Apdu(0x04, 0xFF, b"\x0a")
    big = Apdu(0x06, 0xD3, bytes(range(256)) * 2)  # extended length: FF lo hi
    last = Apdu(0x06, 0x0F)
    stream = first.encode() + big.encode() + last.encode()

    def terminal(p: TcpPeer) -> None:
        p.accept()
        pieces = [stream[:1], stream[1:2], stream[2:3], stream[3:6], stream[6:300], stream[300:]]
        for piece in pieces:
            p.write(piece)
            time.sleep(0.01)

    with scripted(tcp_peer, terminal):
        got = [tcp.receive(2.0) for _ in range(3)]
    assert got == [first, big, last]
    assert tcp.stats.apdus_received == 3


def test_tcp_two_apdus_in_one_segment(tcp: TcpChannel, tcp_peer: TcpPeer) -> None:
    a, b = Apdu(0x80, 0x00), Apdu(0x04, 0xFF, b"\x0e")
    tcp_peer.write(a.encode() + b.encode())
    assert tcp.receive(1.0) == a
    assert tcp.receive(0.0) == b


def test_tcp_peer_closed(tcp: TcpChannel, tcp_peer: TcpPeer) -> None:
    tcp_peer.accept()
    assert not tcp.peer_closed()
    tcp_peer.drop()
    wait_until(tcp.peer_closed, what="the closed connection to show")
    with pytest.raises(LinkIOError):
        tcp.receive(0.5)


def test_channel_for_picks_by_scheme(serial_peer: SerialPeer, tcp_peer: TcpPeer) -> None:
    from posdriver.links import link_for_url

    assert isinstance(channel_for(link_for_url(serial_peer.url)), SerialChannel)
    assert isinstance(channel_for(link_for_url(tcp_peer.url)), TcpChannel)
    with pytest.raises(ValueError, match="serial:// or tcp://"):
        channel_for(link_for_url("usb://04b8:0e15"))


# -- the wire trace ----------------------------------------------------------------------
def test_wire_trace_names_apdus_and_never_their_data(
    serial: SerialChannel, serial_peer: SerialPeer, caplog: pytest.LogCaptureFixture
) -> None:
    secret = Apdu(0x04, 0x0F, encode_bmps({0x22: VISA_FULL, 0x04: 1250}))
    caplog.set_level(logging.DEBUG, logger="posdriver")

    def terminal(p: SerialPeer) -> None:
        assert p.send_corrupt(secret) == NAK_BYTE
        p.send(secret)

    with scripted(serial_peer, terminal):
        assert serial.receive(2.0) == secret
    text = caplog.text
    assert "04 0F len=" in text and "NAK" in text
    for fragment in (VISA_FULL, "4761730000000119", "47 61 73", "476173", secret.data.hex()):
        assert fragment not in text
