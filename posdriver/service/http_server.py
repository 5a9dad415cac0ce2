"""What both of the daemon's HTTP listeners (the API and ``/metrics``) stand on: a bounded
number of connections, a deadline on every request, and a client that goes away told
apart from a fault.

The standard library's ``ThreadingHTTPServer`` gives every connection a thread of its
own and waits for its requests for ever. On a desk PC that is a fault of its own: idle
connections that a front-desk program never closed held file descriptors until a
payment could not open what it needed; requests sent halfway held their threads; each
client that hung up before its answer printed a traceback on stderr. So here:

* **Every request has a deadline.** From the moment a connection waits for its next
  request, the whole of it (request line, headers and body) must arrive within the
  connection timeout, or the connection is closed (one debug line). Bytes dripped one
  at a time do not extend it. Answering has no deadline of its own: a long wait
  (``GET /v1/operations/{id}?wait=``) runs as long as it was asked to, and only the
  sending of the answer is bounded again (a client that stops reading).
* **At most ``limit`` connections at once**, each served by its thread. One more first
  makes room by closing the connection that has waited longest without sending a byte
  of a request (an idle keep-alive connection: closing it is allowed at any time, and
  its client opens another); when every connection is in a request, the newcomer gets
  a short ``503`` JSON answer and is closed, and a warning says so, at most once a
  minute with the count. So a program that opens connections and forgets them cannot
  stop a payment.
* **Through ``logging``, never stderr.** A client that disconnects early is one debug
  line; anything else that goes wrong in a connection is an error with its traceback
  in the log.
"""

from __future__ import annotations

import errno
import io
import json
import logging
import select
import socket
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ..errors import PosdriverError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0  # seconds for a whole request to arrive (``[service] connection_timeout``)
DEFAULT_LIMIT = 64  # connections served at once, per listener (``[service] max_connections``)
MAKE_ROOM_WAIT = 1.0  # how long a newcomer waits for the idle connection closed for it
WARN_EVERY = 60.0  # seconds between two warnings about refused connections
ACCEPT_PAUSE = 0.1  # after accept() failed for want of file descriptors: no busy loop


class ClientGone(PosdriverError, ConnectionError):
    """The client closed the connection before its request was all there."""


class _DeadlineReader(io.RawIOBase):
    """A connection's reading side. While a request is awaited, each receive waits only
    for what is left of the request's deadline (so a request dripped byte by byte is cut
    off too), and the first bytes of a request tell the server the connection is no
    longer idle."""

    def __init__(self, sock: socket.socket, first_bytes: Any) -> None:
        super().__init__()
        self._sock = sock
        self._first_bytes = first_bytes
        self.deadline: float | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the request did not arrive in time")
            self._sock.settimeout(left)
        count = self._sock.recv_into(buffer)
        if count:
            self._first_bytes()
        return count


def _readable(sock: socket.socket) -> bool:
    """Whether bytes (or the client's close) wait on ``sock`` now, without waiting."""
    poll = select.poll()  # not select(): a descriptor may be above 1023
    try:
        poll.register(sock, select.POLLIN)
        return bool(poll.poll(0))
    except (OSError, ValueError):  # closed meanwhile
        return True


class BoundedHandler(BaseHTTPRequestHandler):
    """A request handler for :class:`BoundedHTTPServer`. A subclass calls
    :meth:`request_read` once it has the whole request (line, headers and body), before
    it acts on it: from then on the deadline no longer runs, and the connection is not
    one that may be closed to make room."""

    server: BoundedHTTPServer
    idle = False  # awaiting a request with nothing of it received (under the server's lock)
    closed_for_room = False

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.connection_timeout)  # while answering
        self.rfile.close()
        self._reader = _DeadlineReader(self.connection, self._first_bytes)
        self.rfile = io.BufferedReader(self._reader)

    def handle_one_request(self) -> None:
        self._reader.deadline = time.monotonic() + self.server.connection_timeout
        if not _readable(self.connection):  # a request already sent is not idle
            self.server.idle(self)
        try:
            super().handle_one_request()
        finally:
            self.server.forget(self)

    def request_read(self) -> None:
        """The request is all there: answering it is not bound by the deadline. Raises
        :class:`ClientGone` when the connection was closed to make room meanwhile (a
        request sent together with the one before it), so that it is not acted on."""
        self.server.busy(self)
        self.end_deadline()

    def end_deadline(self) -> None:
        """From here on the connection sends: each send may take the connection timeout
        (a client that stops reading), however little of the deadline was left."""
        self._reader.deadline = None
        self.connection.settimeout(self.server.connection_timeout)

    def _first_bytes(self) -> None:
        if self.idle:
            self.server.busy(self)

    def close_for_room(self) -> None:
        """The server's, under its lock, on an idle connection: its thread's receive
        returns at once, and it ends."""
        self.closed_for_room = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def log_error(self, format: str, *args: Any) -> None:
        log.debug("%s: %s: " + format, self.server.name, self.address_string(), *args)

    allowed_methods: tuple[str, ...] = ("GET",)  # what a 405 for an unserved method offers

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's own refusals (a request line it cannot read, a method
        no ``do_`` handler serves, too many or too long headers), as JSON and as a 4xx:
        a method it does not know is the client's mistake (405, with the methods that
        are served), and so is an HTTP version past 1.1 (400), not the server's fault;
        the connection is closed, since what follows the request cannot be trusted."""
        headers: dict[str, str] = {}
        if code == HTTPStatus.NOT_IMPLEMENTED:
            code = HTTPStatus.METHOD_NOT_ALLOWED
            served = " or ".join(self.allowed_methods)
            message = f"{self.command} is not served here; use {served}"
            headers["Allow"] = ", ".join(self.allowed_methods)
        elif code == HTTPStatus.HTTP_VERSION_NOT_SUPPORTED:
            code = HTTPStatus.BAD_REQUEST
            message = f"{message or 'unsupported HTTP version'}; use HTTP/1.1"
        if message is None:
            message = self.responses.get(code, ("bad request",))[0]
        self.log_error("code %d, message %s", code, message)
        body = json.dumps({"error": message}).encode()
        self.close_connection = True
        self.send_response(code)
        self.send_header("Connection", "close")
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class BoundedHTTPServer(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` with the bounds in the module docstring. ``name`` (api,
    metrics) starts every line it logs."""

    daemon_threads = True
    block_on_close = False
    # socketserver's 5 makes a burst of clients wait a second each for a SYN retry;
    # connections waiting here cost no descriptor of ours until they are accepted
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BoundedHandler],
        *,
        name: str,
        connection_timeout: float = DEFAULT_TIMEOUT,
        limit: int = DEFAULT_LIMIT,
    ) -> None:
        self.name = name
        self.connection_timeout = connection_timeout
        self.limit = limit
        self._lock = threading.Condition()
        self._serving = 0  # connections with a thread
        self._idle: dict[BoundedHandler, None] = {}  # oldest first
        self._refused = 0  # since the last warning
        self._warned = -WARN_EVERY
        self._accept_warned = -WARN_EVERY
        super().__init__(address, handler)

    # -- the connection count ------------------------------------------------------------
    def idle(self, handler: BoundedHandler) -> None:
        with self._lock:
            handler.idle = True
            self._idle[handler] = None

    def busy(self, handler: BoundedHandler) -> None:
        with self._lock:
            if handler.closed_for_room:
                raise ClientGone("the connection was closed to make room for another")
            handler.idle = False
            self._idle.pop(handler, None)

    def forget(self, handler: BoundedHandler) -> None:
        with self._lock:
            handler.idle = False
            self._idle.pop(handler, None)

    def _admit(self) -> bool:
        """Take a place for a new connection, closing the longest idle one if that is
        what it takes; False when every place is in a request."""
        with self._lock:
            if self._serving < self.limit:
                self._serving += 1
                return True
            oldest = self._longest_idle()
            if oldest is None:
                return False
            oldest.close_for_room()
            if self._lock.wait_for(lambda: self._serving < self.limit, MAKE_ROOM_WAIT):
                self._serving += 1
                return True
            return False

    def _longest_idle(self) -> BoundedHandler | None:
        """The connection idle longest with nothing from its client waiting to be read
        (bytes that came just now make it busy, not a candidate); under the lock."""
        while self._idle:
            oldest = next(iter(self._idle))
            del self._idle[oldest]
            if not _readable(oldest.connection):
                return oldest
            oldest.idle = False
        return None

    def _leave(self) -> None:
        with self._lock:
            self._serving -= 1
            self._lock.notify_all()

    # -- socketserver's hooks ------------------------------------------------------------
    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._admit():
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:  # no thread could be started: the place is free again
            self._leave()
            self.shutdown_request(request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._leave()

    def get_request(self) -> tuple[Any, Any]:
        try:
            return super().get_request()
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                now = time.monotonic()
                if now - self._accept_warned >= WARN_EVERY:
                    self._accept_warned = now
                    log.warning(
                        "%s: cannot take a connection: %s (the open-file limit, "
                        "LimitNOFILE in the systemd unit, is too low for "
                        "service.max_connections)",
                        self.name,
                        exc.strerror,
                    )
                time.sleep(ACCEPT_PAUSE)  # the listener stays readable: do not spin
            raise

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        where = client_address[0] if isinstance(client_address, tuple) else client_address
        if isinstance(exc, ConnectionError | TimeoutError):
            log.debug("%s: %s went away: %s", self.name, where, exc)
        else:
            log.error("%s: a connection from %s failed", self.name, where, exc_info=True)

    # -- a full house --------------------------------------------------------------------
    def _refuse(self, request: socket.socket) -> None:
        """A short 503 on a connection there is no place for, from the accepting thread
        (so without waiting on the client), and a warning now and then."""
        body = json.dumps(
            {
                "error": f"the {self.name} is serving {self.limit} connections, its limit "
                "(service.max_connections); try again in a moment"
            }
        ).encode()
        head = (
            "HTTP/1.1 503 Service Unavailable\r\n"
            "Content-Type: application/json; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
        ).encode()
        try:
            request.setblocking(False)
            request.send(head + body)
            while request.recv(65536):  # what the client sent already: read, so the
                pass  # close is an orderly end, not a reset that could hide the 503
        except OSError:
            pass
        self.shutdown_request(request)
        self._refused += 1
        now = time.monotonic()
        if now - self._warned >= WARN_EVERY:
            log.warning(
                "%s: all %d connections are busy with requests; %d refused with 503 since "
                "the last warning (service.max_connections; warned at most once a minute)",
                self.name,
                self.limit,
                self._refused,
            )
            self._warned, self._refused = now, 0
