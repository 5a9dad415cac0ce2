"""``posdriver terminal ...``: input checking, outputs and exit codes."""

from __future__ import annotations

import json
import select
import subprocess
import sys
from collections.abc import Iterator

import pytest

from posdriver.cli import main
from posdriver.terminal.zvt.apdu import Apdu
from posdriver.terminal.zvt.messages import build_status_completion, parse_command
from tests.support.zvt_peer import (
    VISA_FULL,
    Peer,
    SerialPeer,
    TcpPeer,
    abort_msg,
    accept,
    answered,
    completion,
    receipt_block,
    scripted,
    status_info,
)

FAST = ["--t2", "0.15", "--t3", "0.4", "--t4", "1"]


@pytest.fixture
def peer() -> Iterator[TcpPeer]:
    p = TcpPeer()
    yield p
    p.close()


def run(*argv: str) -> int:
    return main(["terminal", *argv, *FAST])


def no_connection_attempted(peer: TcpPeer) -> bool:
    return not select.select([peer.listener], [], [], 0.05)[0]


# -- bad input: a precise error, exit 3, and nothing sent --------------------------------
BAD_INPUT = [
    (["sale", "{url}", "-5"], "is negative"),
    (["sale", "{url}", "0"], "is zero"),
    (["sale", "{url}", "0.00"], "is zero"),
    (["sale", "{url}", "12.505"], "has 3 decimal places; EUR has 2"),
    (["sale", "{url}", "abc"], "is not a decimal number"),
    (["sale", "{url}", "12,50"], "use a dot for decimals"),
    (["sale", "{url}", "1e3"], "is not a decimal number"),
    (["refund", "{url}", "-0.01"], "is negative"),
    (["sale", "{url}", "5", "--currency", "XYZ"], "unknown currency 'XYZ'"),
    (["sale", "{url}", "5", "--currency", "JPY", "--password", "123456"], None),
    (["sale", "ftp://127.0.0.1:1", "5"], "unknown scheme 'ftp'"),
    (["sale", "usb://04b8:0e15", "5"], "serial:// or tcp://"),
    (["status", "tcp://127.0.0.1", "--password", "12345"], "missing HOST:PORT"),
    (["status", "{url}", "--password", "12345"], "six digits"),
    (["sale", "{url}", "5", "--partial", "5.01"], "--partial 5.01 EUR is more than"),
    (["sale", "{url}", "5", "--partial", "0"], "is zero"),
    (["reverse", "{url}", "abc"], "not a whole number"),
    (["reverse", "{url}", "0"], "out of range 1..9999"),
    (["reverse", "{url}", "10000"], "out of range 1..9999"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_INPUT)
def test_bad_input_is_refused_before_anything_is_sent(
    peer: TcpPeer, argv: list[str], message: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    if message is None:  # JPY has no minor unit: "5" is fine, "5.5" is not
        argv = [a.replace("5", "5.5") if a == "5" else a for a in argv]
        message = "JPY has no decimal places"
    code = run(*[a.format(url=peer.url) for a in argv])
    captured = capsys.readouterr()
    assert code == 3
    assert message in captured.err and "error:" in captured.err
    assert captured.out == ""
    assert no_connection_attempted(peer)


def test_bad_input_as_json_also_says_so_on_stdout(
    peer: TcpPeer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("sale", peer.url, "12.505", "--json") == 3
    captured = capsys.readouterr()
    assert json.loads(captured.out)["outcome"] == "bad_input"
    assert "decimal places" in captured.err
    assert no_connection_attempted(peer)


def test_bad_timeout_is_a_usage_error(peer: TcpPeer, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["terminal", "status", peer.url, "--t3", "-1"])
    assert exited.value.code == 3
    assert "positive number of seconds" in capsys.readouterr().err
    assert no_connection_attempted(peer)


def test_installed_command_refuses_bad_input() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "posdriver", "terminal", "sale", "tcp://127.0.0.1:9", "-5"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 3
    assert "amount '-5' is negative" in out.stderr


# -- money commands ----------------------------------------------------------------------
def test_sale_approved_shows_only_the_last_four(
    peer: TcpPeer, capsys: pytest.CaptureFixture[str]
) -> None:
    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, status_info(pan=VISA_FULL, trace=3, receipt_no=4))
        answered(p, receipt_block(["GUEST COPY", f"PAN {VISA_FULL}"], 2))
        answered(p, completion())

    with scripted(peer, terminal):
        assert run("sale", peer.url, "12.50") == 0
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert out.startswith("APPROVED 12.50 EUR - Visa **** 0119, trace 3, receipt 4")
    assert "GUEST COPY" in out
    assert VISA_FULL not in out and "476173" not in out


def test_sale_json(peer: TcpPeer, capsys: pytest.CaptureFixture[str]) -> None:
    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, status_info(pan=VISA_FULL))
        answered(p, completion())

    with scripted(peer, terminal):
        assert run("sale", peer.url, "12.50", "--json") == 0
    raw = capsys.readouterr().out
    body = json.loads(raw)
    assert body["outcome"] == "approved" and body["ok"] is True
    assert body["amount"] == {"amount": "12.50", "currency": "EUR"}
    assert body["card"] == {"brand": "Visa", "last4": "0119"}
    assert VISA_FULL not in raw and "476173" not in raw


def test_sale_in_doubt_says_do_not_repeat(
    peer: TcpPeer, capsys: pytest.CaptureFixture[str]
) -> None:
    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, status_info(trace=11, receipt_no=12))
        p.drop()

    with scripted(peer, terminal):
        assert run("sale", peer.url, "12.50") == 2
    out = capsys.readouterr().out
    assert out.startswith("IN DOUBT 12.50 EUR")
    assert "Do not repeat" in out and f"posdriver terminal last {peer.url}" in out
    assert "trace 11, receipt 12" in out


def test_sale_declined(peer: TcpPeer, capsys: pytest.CaptureFixture[str]) -> None:
    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, status_info(result=0x78))
        answered(p, abort_msg(0x78))

    with scripted(peer, terminal):
        assert run("sale", peer.url, "12.50") == 1
    assert capsys.readouterr().out.startswith("DECLINED 12.50 EUR - card expired (78)")


def test_refund_aborted_over_limit(peer: TcpPeer, capsys: pytest.CaptureFixture[str]) -> None:
    def terminal(p: Peer) -> None:
        assert parse_command(accept(p)).fields[0x04] == 60000
        answered(p, abort_msg(0xC3))

    with scripted(peer, terminal):
        assert run("refund", peer.url, "600") == 1
    assert "maximum amount exceeded (C3)" in capsys.readouterr().out


def test_reverse(peer: TcpPeer, capsys: pytest.CaptureFixture[str]) -> None:
    def terminal(p: Peer) -> None:
        command = parse_command(accept(p))
        assert command.name == "reversal" and command.fields == {0x87: 7}
        answered(p, status_info(amount=500))
        answered(p, completion())

    with scripted(peer, terminal):
        assert run("reverse", peer.url, "7") == 0
    assert capsys.readouterr().out.startswith("APPROVED 5.00 EUR")


def test_terminal_not_reached(capsys: pytest.CaptureFixture[str]) -> None:
    closed = TcpPeer()
    closed.close()
    assert run("sale", closed.url, "1.00") == 3
    out = capsys.readouterr().out
    assert out.startswith("NOT SENT - cannot open") and "nothing was charged" in out


def test_busy_terminal(peer: TcpPeer, capsys: pytest.CaptureFixture[str]) -> None:
    def terminal(p: Peer) -> None:
        p.recv()
        p.send(Apdu(0x84, 0xA0))

    with scripted(peer, terminal):
        assert run("sale", peer.url, "1.00", "--json") == 3
    assert json.loads(capsys.readouterr().out)["outcome"] == "busy"


# -- status and diagnosis: Nagios ----------------------------------------------------------
@pytest.mark.parametrize(("status", "exit_code"), [(0x00, 0), (0xF0, 1), (0xDC, 1), (0x51, 2)])
def test_status_exit_codes(
    peer: TcpPeer, status: int, exit_code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, build_status_completion(status, "EMU 1.0"))

    with scripted(peer, terminal):
        assert run("status", peer.url, "--json") == exit_code
    body = json.loads(capsys.readouterr().out)
    assert body["severity"] == ["ok", "warning", "critical"][exit_code]
    assert body["code"] == status and body["software"] == "EMU 1.0"


def test_status_over_a_pty(capsys: pytest.CaptureFixture[str]) -> None:
    peer = SerialPeer()

    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, build_status_completion(0x51, None))

    try:
        with scripted(peer, terminal):
            assert run("status", peer.url) == 2
    finally:
        peer.close()
    out = capsys.readouterr().out
    assert out.startswith("TERMINAL CRITICAL - initialisation required; remedy:")


def test_status_of_a_silent_terminal_is_unknown(
    peer: TcpPeer, capsys: pytest.CaptureFixture[str]
) -> None:
    with scripted(peer, lambda p: p.recv()):
        assert run("status", peer.url) == 3
    assert capsys.readouterr().out.startswith("TERMINAL UNKNOWN - ")


@pytest.mark.parametrize(("ending", "exit_code"), [(completion(), 0), (abort_msg(0xA3), 2)])
def test_diagnosis_exit_codes(
    peer: TcpPeer, ending: Apdu, exit_code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, ending)

    with scripted(peer, terminal):
        assert run("diagnosis", peer.url) == exit_code
    out = capsys.readouterr().out
    expected = "acquirer reachable" if exit_code == 0 else "unreachable: no connection (A3)"
    assert expected in out


# -- end of day and last -----------------------------------------------------------------
def test_end_of_day(peer: TcpPeer, capsys: pytest.CaptureFixture[str]) -> None:
    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, Apdu(0x04, 0x0F, bytes.fromhex("2700 04000000002750")))
        answered(p, completion())

    with scripted(peer, terminal):
        assert run("end-of-day", peer.url) == 0
    assert capsys.readouterr().out.startswith("END OF DAY OK - total 27.50 EUR")


def test_last_transaction(peer: TcpPeer, capsys: pytest.CaptureFixture[str]) -> None:
    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, status_info(result=0xB4, pan=VISA_FULL, trace=9))
        answered(p, completion())

    with scripted(peer, terminal):
        assert run("last", peer.url, "--json") == 0
    raw = capsys.readouterr().out
    body = json.loads(raw)
    assert body["stands"] is False and body["meaning"] == "already reversed"
    assert body["trace"] == 9 and VISA_FULL not in raw


def test_last_transaction_none(peer: TcpPeer, capsys: pytest.CaptureFixture[str]) -> None:
    def terminal(p: Peer) -> None:
        accept(p)
        answered(p, abort_msg(0x83))

    with scripted(peer, terminal):
        assert run("last", peer.url) == 1
    assert capsys.readouterr().out.startswith("NO TRANSACTION")


@pytest.mark.parametrize("value", ["0x86", "/etc/posdriver/posdriver.toml"])
def test_config_is_refused_naming_config_byte(
    peer: TcpPeer, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--config`` is a TOML file in every other command; here the registration byte is
    ``--config-byte``, and the old spelling is refused whatever it is given."""
    with pytest.raises(SystemExit) as exited:
        run("status", peer.url, "--config", value)
    assert exited.value.code == 3
    err = capsys.readouterr().err
    assert "the registration config byte is --config-byte BYTE" in err and repr(value) in err
    assert no_connection_attempted(peer)
    with pytest.raises(SystemExit) as exited:
        run("status", peer.url, "--config-byte", "0x100")
    assert exited.value.code == 3
    assert "the config byte is 0..255 (0x00..0xFF), got '0x100'" in capsys.readouterr().err
    assert no_connection_attempted(peer)
