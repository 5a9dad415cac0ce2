"""The daemon's two listeners (the API and /metrics) against clients that misbehave, on
a real ``posdriver serve --emulate`` over real sockets: where each may listen, and what
it says about it at start."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import pytest

from tests.conftest import wait_until
from tests.service.test_daemon import serve


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
