"""TCP links: network printers (port 9100) and terminals on the LAN.

URL format::

    tcp://HOST:PORT?timeout=1&write_timeout=5&connect_timeout=3

``TCP_NODELAY`` is set because status queries are three bytes long and must not wait
for Nagle's algorithm; keepalive is on so a printer that lost power is noticed even
when nothing is being sent.
"""

from __future__ import annotations

import select
import socket
from typing import Any

from .base import DEFAULT_READ_TIMEOUT, DEFAULT_WRITE_TIMEOUT, Link
from .errors import LinkIOError, LinkOpenError, LinkURLError
from .url import Option, grammar_of, parse_query, parse_seconds

OPTIONS = (
    Option("timeout", parse_seconds, DEFAULT_READ_TIMEOUT, "default read deadline, s"),
    Option("write_timeout", parse_seconds, DEFAULT_WRITE_TIMEOUT, "default write deadline, s"),
    Option("connect_timeout", parse_seconds, 3.0, "deadline for the TCP connect, s"),
)
GRAMMAR = grammar_of("tcp://HOST:PORT", OPTIONS)


class TcpLink(Link):
    scheme = "tcp"

    def __init__(self, url: str, host: str, port: int, options: dict[str, Any]) -> None:
        super().__init__(url, options)
        self.host = host
        self.port = port
        self._sock: socket.socket | None = None

    @classmethod
    def from_url(cls, url: str, scheme: str, netloc: str, path: str, query: str) -> TcpLink:
        options = parse_query(url, query, OPTIONS, GRAMMAR)
        if path not in ("", "/"):
            raise LinkURLError(f"a tcp URL has no path (got {path!r}); {GRAMMAR}", url)
        host, sep, port_text = netloc.rpartition(":")
        if not sep or not host:
            raise LinkURLError(f"missing HOST:PORT; {GRAMMAR}", url)
        host = host.strip("[]")
        try:
            port = int(port_text)
        except ValueError:
            raise LinkURLError(f"port {port_text!r} is not a number; {GRAMMAR}", url) from None
        if not 0 < port < 65536:
            raise LinkURLError(f"port {port} is out of range 1..65535; {GRAMMAR}", url)
        return cls(url, host, port, options)

    def _open(self) -> None:
        try:
            sock = socket.create_connection(
                (self.host, self.port), timeout=self.options["connect_timeout"]
            )
        except TimeoutError as exc:
            raise LinkOpenError(
                f"cannot connect to {self.host}:{self.port}: no answer within "
                f"{self.options['connect_timeout']:g} s (device off or unreachable)",
                self.url,
            ) from exc
        except OSError as exc:
            raise LinkOpenError(
                f"cannot connect to {self.host}:{self.port}: {exc.strerror or exc}", self.url
            ) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setblocking(False)
        self._sock = sock

    def _close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def _write_some(self, data: memoryview, timeout: float) -> int:
        assert self._sock is not None
        try:
            _, ready, _ = select.select([], [self._sock], [], timeout)
            if not ready:
                return 0
            return self._sock.send(data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            raise LinkIOError(f"send failed: {exc.strerror or exc}", self.url) from exc

    def _read_some(self, size: int, timeout: float) -> bytes:
        assert self._sock is not None
        try:
            ready, _, _ = select.select([self._sock], [], [], timeout)
            if not ready:
                return b""
            data = self._sock.recv(size)
        except BlockingIOError:
            return b""
        except OSError as exc:
            raise LinkIOError(f"receive failed: {exc.strerror or exc}", self.url) from exc
        if not data:
            raise LinkIOError("the device closed the connection", self.url)
        return data

    def _discard_input(self) -> int:
        assert self._sock is not None
        dropped = 0
        while True:
            try:
                chunk = self._sock.recv(4096)
            except BlockingIOError:
                return dropped
            except OSError as exc:
                raise LinkIOError(f"receive failed: {exc.strerror or exc}", self.url) from exc
            if not chunk:
                raise LinkIOError("the device closed the connection", self.url)
            dropped += len(chunk)
