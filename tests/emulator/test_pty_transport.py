"""The pty transport shares its process with whatever runs the emulator (``posdriver serve
--emulate`` runs it inside the daemon), so a descriptor it closes may at once be reused by
the process for something else: a socket the API just accepted, a pipe. Its threads must
never read or write a descriptor after it was closed, or they would take bytes that were
someone else's (a request vanishing from the API, a connection that times out)."""

from __future__ import annotations

import os
import threading
import time

from posdriver_emulator.device import EchoDevice
from posdriver_emulator.transports.pty import PtyTransport


def test_a_closed_master_is_never_read_once_its_number_is_reused(tmp_path: object) -> None:
    transport = PtyTransport(EchoDevice(), link_dir=str(tmp_path)).start()
    host = os.open(transport.link_path, os.O_RDWR | os.O_NOCTTY)
    stolen: list[bytes] = []
    try:
        deadline = time.monotonic() + 3.0
        rounds = 0
        while time.monotonic() < deadline:
            transport._detach()  # a hang-up, as the transmit thread does it
            read_end, write_end = os.pipe()  # the lowest free numbers: the master's, likely
            try:
                marker = b"not the terminal's %d" % rounds
                os.write(write_end, marker)
                time.sleep(0.02)  # the receive loop turns meanwhile
                os.set_blocking(read_end, False)
                try:
                    got = os.read(read_end, 100)
                except BlockingIOError:
                    got = b""
                if got != marker:
                    stolen.append(marker)
            finally:
                os.close(read_end)
                os.close(write_end)
            rounds += 1
    finally:
        os.close(host)
        transport.stop()
    assert rounds > 50
    assert stolen == [], f"{len(stolen)} of {rounds} writes were read by the transport"


def test_the_transport_still_carries_bytes_across_detaches(tmp_path: object) -> None:
    transport = PtyTransport(EchoDevice(), link_dir=str(tmp_path)).start()
    try:
        for _ in range(5):
            transport._detach()
            done = threading.Event()
            while not done.is_set():  # the receive loop attaches again on its next turn
                if transport.link_path.exists():
                    done.set()
                else:
                    time.sleep(0.005)
            host = os.open(transport.link_path, os.O_RDWR | os.O_NOCTTY)
            try:
                os.write(host, b"ping")
                echoed = b""
                until = time.monotonic() + 5
                while echoed != b"ping" and time.monotonic() < until:
                    os.set_blocking(host, False)
                    try:
                        echoed += os.read(host, 10)
                    except BlockingIOError:
                        time.sleep(0.005)
                assert echoed == b"ping"
            finally:
                os.close(host)
    finally:
        transport.stop()
