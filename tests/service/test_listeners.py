"""The daemon's two listeners (the API and /metrics) on a real ``posdriver serve
--emulate`` over real sockets: where each may listen and what it says about it at start,
and clients that misbehave (idle connections, requests sent halfway, clients hanging up
early, more connections than the daemon serves at once)."""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import struct
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.served import SERVED_CONFIG, serve
from tests.support.timing import wait_until


def _a_name_for_loopback() -> str:
    """A name of this machine (not ``localhost``) that resolves to loopback only, so a
    test can give the daemon an address that is not a loopback literal and still
    listen on nothing but loopback."""
    name = socket.gethostname()
    try:
        found = {info[4][0] for info in socket.getaddrinfo(name, 0, socket.AF_INET)}
    except OSError:
        found = set()
    if name.lower() == "localhost" or not found:
        pytest.skip(f"this machine's name {name!r} does not resolve to an IPv4 address")
    if not all(ipaddress.ip_address(a).is_loopback for a in found):
        pytest.skip(f"this machine's name {name!r} resolves beyond loopback: {sorted(found)}")
    return name


def test_metrics_beyond_loopback_are_warned_of_at_start(tmp_path: Path) -> None:
    name = _a_name_for_loopback()
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log, serve(tmp_path, log=log, metrics=f"{name}:0") as served:
        port = served.metrics.rsplit(":", 1)[1].split("/")[0]
        wait_until(lambda: "metrics are served on" in log_path.read_text(), 10, "the warning")
        [line] = [x for x in log_path.read_text().splitlines() if "metrics are served on" in x]
        assert line.startswith("WARNING ") and f"on {name}:{port}, beyond this machine" in line
        assert "no card data" in line
        assert "posdriver_" in served.scrape()


def test_loopback_metrics_draw_no_warning(tmp_path: Path) -> None:
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log, serve(tmp_path, log=log) as served:
        assert "posdriver_" in served.scrape()
    assert "metrics are served on" not in log_path.read_text()


# -- connections that misbehave ----------------------------------------------------------

BOUNDED = SERVED_CONFIG.replace(
    "[service]\n", "[service]\nconnection_timeout = 1.0\nmax_connections = 8\n"
)
HALF_SENT = b'POST /v1/operations HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"kind"'


def _port(url: str) -> int:
    return int(url.removeprefix("http://").split("/")[0].rsplit(":", 1)[1])


def _open(port: int, send: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    if send:
        sock.sendall(send)
    return sock


def _closed(sock: socket.socket) -> bool:
    """Whether the daemon closed ``sock`` (whatever it sent before)."""
    sock.setblocking(False)
    try:
        while data := sock.recv(65536):
            del data
        return True  # b"": the orderly end
    except BlockingIOError:
        return False
    except OSError:  # reset
        return True


def _answer(sock: socket.socket) -> tuple[int, dict[str, str], Any]:
    """The one HTTP answer on ``sock``, read to the daemon's close."""
    sock.settimeout(10)
    raw = b""
    while chunk := sock.recv(65536):
        raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, json.loads(body)


def _threads_and_files(pid: int) -> tuple[int, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    threads = next(int(x.split()[1]) for x in status.splitlines() if x.startswith("Threads:"))
    return threads, len(os.listdir(f"/proc/{pid}/fd"))


def test_idle_connections_do_not_stop_a_sale_and_are_closed_after_the_timeout(
    tmp_path: Path,
) -> None:
    """Five times as many idle connections as the daemon serves at once (a front-desk
    program that opens connections and forgets them): each newcomer takes the place of
    the connection idle longest, so a sale goes through meanwhile; and every idle
    connection is closed once the timeout has passed."""
    with serve(tmp_path, BOUNDED) as served:
        port = _port(served.api)
        idle = [_open(port) for _ in range(40)]
        op_id = served.sale("12.50")
        assert served.get(f"/v1/operations/{op_id}?wait=20")[1]["operation"]["state"] == (
            "approved"
        )
        wait_until(lambda: all(_closed(s) for s in idle), 5, "the idle connections to close")
        for sock in idle:
            sock.close()
        assert served.get("/v1/pending")[0] == 200


def test_a_full_house_is_told_503_and_capacity_comes_back(tmp_path: Path) -> None:
    """Every place taken by a request sent halfway (not idle: it may not be closed to
    make room): a newcomer gets a short 503 at once and a warning is logged; the
    half-sent requests get a 408 when their time is up, and the places are free again.
    The daemon's threads and open files stay within the limit all the while."""
    log_path = tmp_path / "serve.log"
    config = BOUNDED.replace("connection_timeout = 1.0", "connection_timeout = 3.0")
    with log_path.open("w") as log, serve(tmp_path, config, log) as served:
        port = _port(served.api)
        assert served.get("/v1/pending")[0] == 200
        threads, files = _threads_and_files(served.process.pid)
        half = [_open(port, HALF_SENT) for _ in range(40)]
        try:
            refused = _open(port, b"GET /v1/pending HTTP/1.1\r\nHost: x\r\n\r\n")
            status, headers, body = _answer(refused)
            refused.close()
            assert (status, headers["Connection"], headers["Retry-After"]) == (503, "close", "1")
            assert body == {
                "error": "the api is serving 8 connections, its limit "
                "(service.max_connections); try again in a moment"
            }
            now = _threads_and_files(served.process.pid)
            # a thread and a socket per place; a few files come and go meanwhile (the
            # journal's connection of a thread, a device lock, the emulators' links)
            assert now[0] <= threads + 8 and now[1] <= files + 8 + 4, (threads, files, now)
            wait_until(lambda: "all 8 connections are busy" in log_path.read_text(), 5, "warning")
            answers = [_answer(s) for s in half[:8]]  # the ones served: 408 after 3 s
            assert {a[0] for a in answers} == {408}
            assert answers[0][2]["error"] == (
                "the request did not arrive within 3 s (service.connection_timeout)"
            )
            assert all(_closed(s) for s in half)  # the rest were told 503 at once
            assert served.get("/v1/pending")[0] == 200
        finally:
            for sock in half:
                sock.close()
        text = log_path.read_text()
        assert text.count("connections are busy with requests") == 1  # once a minute
        assert "Traceback" not in text


def test_clients_that_hang_up_early_leave_no_traceback(tmp_path: Path) -> None:
    """Clients that reset the connection before, during or after their request: each
    is one debug line at most, nothing on stderr, and the daemon goes on serving."""
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log, serve(tmp_path, BOUNDED, log) as served:
        port = _port(served.api)
        requests = [
            b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n",  # a long answer, unread
            HALF_SENT,
            b"GET /v1/pend",
            b"",
        ]
        for n in range(60):
            sock = _open(port, requests[n % len(requests)])
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()  # with a reset
        assert served.get("/v1/pending")[0] == 200
        assert served.sale("1.00")
    text = log_path.read_text()
    assert "Traceback" not in text and "Exception occurred" not in text, text[-3000:]


def test_a_long_wait_outlives_the_connection_timeout(tmp_path: Path) -> None:
    """The timeout is for a request to arrive, not for its answer: waiting for a sale
    that takes the acquirer seconds works with a 1 s connection timeout."""
    with serve(tmp_path, BOUNDED) as served:
        served.fault("terminal", "slow_host")
        op_id = served.sale("30.00")
        started = time.monotonic()
        status, answer = served.get(f"/v1/operations/{op_id}?wait=30", timeout=40)
        assert (status, answer["operation"]["state"]) == (200, "approved")
        assert time.monotonic() - started > 1.5


def test_the_metrics_listener_is_bounded_too(tmp_path: Path) -> None:
    with serve(tmp_path, BOUNDED) as served:
        port = _port(served.metrics)
        half = [_open(port, b"GET /metrics HTTP/1.1\r\nHost:") for _ in range(8)]
        refused = _open(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body = _answer(refused)
        refused.close()
        assert status == 503 and "the metrics is serving 8 connections" in body["error"]
        wait_until(lambda: all(_closed(s) for s in half), 5, "the half-sent scrapes to close")
        for sock in half:
            sock.close()
        assert "posdriver_" in served.scrape()


def test_the_metrics_listener_refuses_a_method_it_does_not_serve_with_405(
    tmp_path: Path,
) -> None:
    with serve(tmp_path) as served:
        sock = _open(_port(served.metrics), b"POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, body = _answer(sock)
        sock.close()
        assert (status, headers["Allow"]) == (405, "GET, HEAD")
        assert body == {"error": "POST is not served here; use GET or HEAD"}
