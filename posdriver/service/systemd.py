"""Talking to systemd without a dependency: readiness, status text and the watchdog.

The whole protocol is one datagram of ``KEY=value`` lines sent to the AF_UNIX socket named
in ``$NOTIFY_SOCKET`` (a leading ``@`` names a socket in the abstract namespace). Outside
systemd the variable is unset and every call here is a cheap no-op, so the daemon calls the
same code in a terminal, in tests and under the unit file.

Nothing here may take the daemon down: a payment in flight matters more than telling
systemd about it, so a failed send is logged once (until a send works again) and reported
as ``False``, never raised.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

__all__ = ["Notifier", "Watchdog"]


def _socket_address(raw: str) -> str | None:
    """The address to ``sendto``: a filesystem path as it is, ``@name`` as abstract."""
    if raw.startswith("@") and len(raw) > 1:
        return "\0" + raw[1:]
    if raw.startswith("/"):
        return raw
    return None


def _single_line(value: str) -> str:
    """A value on one line: a newline inside STATUS= would start a new assignment, so a
    device's error text could otherwise send systemd a READY=1 or a MAINPID= of its own."""
    return " ".join(value.splitlines()) if ("\n" in value or "\r" in value) else value


def _positive_int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        value = int(text.strip())
    except ValueError:
        return None
    return value if value > 0 else None


class Notifier:
    """sd_notify for one process.

    Every method returns True when the datagram was handed to the socket and False when
    there is no socket (not under systemd, ``Type=`` is not ``notify``) or sending failed.
    """

    def __init__(
        self,
        socket_path: str | None,
        *,
        watchdog_usec: int | None = None,
        watchdog_pid: int | None = None,
    ) -> None:
        self._raw = socket_path or None
        self._address = _socket_address(socket_path) if socket_path else None
        if socket_path and self._address is None:
            log.warning(
                "NOTIFY_SOCKET=%r is neither an absolute path nor @abstract; not notifying systemd",
                socket_path,
            )
        self._watchdog_usec = watchdog_usec
        self._watchdog_pid = watchdog_pid
        self._lock = threading.Lock()
        self._failing = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Notifier:
        """Read ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and ``WATCHDOG_PID`` from ``env``.

        Malformed watchdog values disable the watchdog rather than fail the start: a
        daemon that will not start because of a ping interval helps nobody at the desk.
        """
        return cls(
            env.get("NOTIFY_SOCKET"),
            watchdog_usec=_positive_int(env.get("WATCHDOG_USEC")),
            watchdog_pid=_positive_int(env.get("WATCHDOG_PID")),
        )

    @property
    def enabled(self) -> bool:
        """True when there is a socket to notify (we run under systemd with Type=notify)."""
        return self._address is not None

    def watchdog_interval(self) -> float | None:
        """Seconds between keep-alive pings: half of ``WATCHDOG_USEC``, the margin systemd's
        own documentation asks for. None when systemd expects no pings from this process
        (no socket, no watchdog, or ``WATCHDOG_PID`` names another process, e.g. after a
        fork: only the main process may ping, as ``NotifyAccess=main`` enforces)."""
        if not self.enabled or self._watchdog_usec is None:
            return None
        if self._watchdog_pid is not None and self._watchdog_pid != os.getpid():
            return None
        return self._watchdog_usec / 2_000_000

    def ready(self, status: str | None = None) -> bool:
        """Start-up is complete (devices opened, API listening): systemd now reports the
        unit active, and ``systemctl start`` returns. Also sent after a reload."""
        if status is None:
            return self.notify("READY=1")
        return self.notify("READY=1", f"STATUS={status}")

    def stopping(self) -> bool:
        """Shutdown has begun (draining a payment may take a while: say so)."""
        return self.notify("STOPPING=1")

    def reloading(self) -> bool:
        """A configuration reload has begun; send ``ready()`` when it is done.

        ``MONOTONIC_USEC`` is what newer systemd (253+, ``Type=notify-reload``) wants with
        ``RELOADING=1``; systemd 252 ignores the extra field, so one message serves both.
        """
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def status(self, text: str) -> bool:
        """Free text shown by ``systemctl status`` (one line; newlines become spaces)."""
        return self.notify(f"STATUS={text}")

    def watchdog(self) -> bool:
        """One keep-alive ping. Prefer :class:`Watchdog`, which pings only when the workers
        are alive."""
        return self.notify("WATCHDOG=1")

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for ``seconds`` more before systemd gives up on a start or stop in progress
        (e.g. a terminal announced a longer T4 while a payment drains)."""
        return self.notify(f"EXTEND_TIMEOUT_USEC={max(0, round(seconds * 1_000_000))}")

    def notify(self, *assignments: str) -> bool:
        """Send ``KEY=value`` assignments as one datagram (one state change, atomically)."""
        if self._address is None:
            return False
        payload = "\n".join(_single_line(a) for a in assignments).encode("utf-8", "replace")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(payload, self._address)
        except OSError as exc:
            with self._lock:
                first = not self._failing
                self._failing = True
            if first:
                log.warning(
                    "cannot notify systemd at %s (%s); further failures are not logged "
                    "until a notification gets through",
                    self._raw,
                    exc,
                )
            return False
        with self._lock:
            recovered = self._failing
            self._failing = False
        if recovered:
            log.info("notifying systemd at %s works again", self._raw)
        return True


class Watchdog:
    """Keep-alive pings that prove the workers are alive, not merely that a timer fires.

    The daemon's main loop calls :meth:`tick` often (say every second). A ping goes out
    only when the interval has passed *and* ``alive()`` says every worker made progress.
    A hung worker (a serial read without a deadline, a deadlock) therefore stops the pings,
    systemd's ``WatchdogSec=`` expires, and ``Restart=always`` brings up a fresh process:
    better than a daemon that looks up while no receipt prints. ``alive`` must be cheap
    and must not touch hardware; an exception from it counts as "not alive".

    Keep calling :meth:`tick` while draining on shutdown is harmless: systemd stops
    watching once the unit leaves the running state, and ``TimeoutStopSec=`` takes over.
    """

    def __init__(
        self,
        notifier: Notifier,
        alive: Callable[[], bool],
        *,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._notifier = notifier
        self._alive = alive
        self._interval = interval if interval is not None else notifier.watchdog_interval()
        self._clock = clock
        self._last: float | None = None
        self._withholding = False

    @property
    def enabled(self) -> bool:
        """True when systemd expects pings from us."""
        return self._interval is not None

    @property
    def interval(self) -> float | None:
        """Seconds between pings, None when disabled."""
        return self._interval

    def seconds_until_due(self) -> float | None:
        """How long the main loop may sleep before the next :meth:`tick` matters (None:
        never). While the workers are not alive a ping is due at every tick, so recovery
        resumes the pings as soon as it happens."""
        if self._interval is None:
            return None
        if self._last is None or self._withholding:
            return 0.0
        return max(0.0, self._last + self._interval - self._clock())

    def tick(self) -> bool:
        """Ping if due and alive; True when a ping was sent."""
        if self._interval is None:
            return False
        now = self._clock()
        if self._last is not None and not self._withholding and now - self._last < self._interval:
            return False
        try:
            ok = bool(self._alive())
        except Exception:
            log.exception("the watchdog's liveness check failed; treating the workers as hung")
            ok = False
        if not ok:
            if not self._withholding:
                log.error(
                    "workers are not alive: withholding watchdog pings; systemd restarts "
                    "the service if this lasts"
                )
            self._withholding = True
            return False
        if self._withholding:
            log.warning("workers are alive again: watchdog pings resumed")
            self._withholding = False
        self._last = now
        return self._notifier.watchdog()
