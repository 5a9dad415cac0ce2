"""A device on a TCP port, like a network printer's raw port 9100.

One host connection at a time, as print servers do: a second client waits in the
listen backlog until the first closes. A full device stops taking bytes, so TCP's
window closes and the host's sends stall, exactly as with a real printer whose buffer
is full. ``disconnect`` closes the connection and the listening port and reopens the
same port when the fault clears. A hang-up the device asks for
(:meth:`~posdriver_emulator.device.EmulatedDevice.hang_up`) closes only the client connection, after
the output queued before it has been sent; the port keeps listening.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from collections.abc import Callable

from ..device import EmulatedDevice
from .base import POLL, Transport

RECEIVE_WINDOW = 8192
# A hanging-up device takes this long to let go of the connection. A host that answers the
# device's last message meanwhile (as an ECR acknowledges status information at once) has
# its answer left unread, so the hang-up is a reset, every time; without the pause the
# close raced the answer and the host saw a reset or an orderly close by chance.
HANGUP_GRACE = 0.2


class TcpTransport(Transport):
    def __init__(
        self,
        device: EmulatedDevice,
        host: str = "127.0.0.1",
        port: int = 0,
        baudrate: int | None = None,
    ) -> None:
        super().__init__(device, baudrate)
        self.host = host
        self.port = port
        self._listener: socket.socket | None = None
        self._client: socket.socket | None = None
        self._lock = threading.Lock()
        self._generation = -1

    @property
    def url(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    def _setup(self) -> None:
        self._listen(self.device.attachment()[1])

    def _listen(self, generation: int) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # A printer's network interface has a window of a few KB, not loopback's
        # megabytes: without this a host "sends" a whole job into kernel buffers.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_WINDOW)
        sock.bind((self.host, self.port))
        sock.listen(4)
        self.port = sock.getsockname()[1]
        with self._lock:
            self._listener = sock
            self._generation = generation

    def _close_all(self) -> None:
        with self._lock:
            listener, client = self._listener, self._client
            self._listener = self._client = None
        # The listener first: once the host sees its connection drop it may reconnect at
        # once, and must find the port closed, not a backlog about to be reset.
        for sock in (listener, client):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()
        if client is not None:
            self.device.discard_output()

    def _teardown(self) -> None:
        self._close_all()

    def _loops(self) -> list[tuple[str, Callable[[], None]]]:
        return [("tcp-rx", self._rx_loop), ("tcp-tx", self._tx_loop)]

    def _rx_loop(self) -> None:
        pending = b""
        while not self._stop.is_set():
            device = self.device
            attached, generation = device.attachment()
            if not attached:
                self._close_all()
                pending = b""
                device.wait_for_wire_change(POLL)
                continue
            with self._lock:
                listener, client = self._listener, self._client
            if listener is None or self._generation != generation:
                self._close_all()
                self._listen(generation)
                continue
            if client is None:
                ready, _, _ = select.select([listener], [], [], POLL)
                if ready:
                    with contextlib.suppress(OSError):
                        conn, _ = listener.accept()
                        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                        with self._lock:
                            self._client = conn
                continue
            if pending:
                pending = pending[device.accept(pending) :]
                if pending:
                    device.wait_for_wire_change(0.005)
                continue
            if not device.reading:
                device.wait_for_wire_change(POLL)
                continue
            if device.hangup_wanted():
                # The device is about to hang up: what the host sends now was never read,
                # and the hang-up resets the connection so the host can tell.
                device.wait_for_wire_change(0.005)
                continue
            try:
                queued = bool(select.select([client], [], [], 0)[0])  # a backlog?
                if not queued and not select.select([client], [], [], POLL)[0]:
                    continue
                if device.hangup_wanted():  # asked for while this loop waited: leave it
                    continue
                data = client.recv(self.rx_pacer.chunk_size())
            except OSError:
                data = b""
            if not data:
                self._drop_client(client)
                continue
            self.rx_pacer.transmit(len(data), queued=queued)
            pending = data[device.accept(data) :]

    def _drop_client(self, client: socket.socket) -> None:
        with self._lock:
            if self._client is client:
                self._client = None
        with contextlib.suppress(OSError):
            client.close()
        self.device.discard_output()

    def _maybe_hang_up(self) -> None:
        """Carry out a hang-up the device asked for, once its earlier output is sent."""
        if not self.device.hangup_wanted():
            return
        with self._lock:
            client = self._client
        if client is not None and self.device.pending_output():
            return
        if client is None:
            self.device.discard_output()  # no host was there: the device still starts afresh
        elif self._unread(client, HANGUP_GRACE):
            # The host's last message was never read (an acknowledgement that came too
            # late): close with a reset, as a kernel does for unread data, so the host
            # learns its bytes did not arrive instead of seeing an orderly close.
            with contextlib.suppress(OSError):
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self._drop_client(client)
        else:
            # shutdown, not close: the FIN follows the data already sent, and the rx loop
            # sees EOF and drops the client (which also discards the device's output).
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
        self.device.hung_up()

    @staticmethod
    def _unread(client: socket.socket, grace: float) -> bool:
        """Whether the host sent something the device has not read, waiting up to
        ``grace`` seconds for it to arrive."""
        try:
            return bool(select.select([client], [], [], grace)[0])
        except (OSError, ValueError):
            return False

    def _tx_loop(self) -> None:
        while not self._stop.is_set():
            self._maybe_hang_up()
            data = self._paced_output(lambda: self._client is not None)
            if not data:
                continue
            with self._lock:
                client = self._client
            if client is None:
                continue  # nobody to hear it: lost, as on a real network
            with contextlib.suppress(OSError):
                client.sendall(data)
