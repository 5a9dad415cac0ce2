"""The contract every link scheme keeps.

A link is configured from its URL without touching the device, then opened. After
that, every read and write takes a deadline: a write either puts all its bytes on the
wire or raises :class:`LinkTimeout` saying how many it did; a read returns what arrived
by its deadline (possibly nothing: silence is a fact the caller decides about, not an
error). A device that goes away raises :class:`LinkIOError`; nothing blocks forever.

Schemes implement five small primitives (``_open``, ``_close``, ``_write_some``,
``_read_some``, ``_discard_input``); the deadline loops live here once.
"""

from __future__ import annotations

import abc
import time
from types import TracebackType
from typing import Any, Self

from .errors import LinkIOError, LinkTimeout

DEFAULT_WRITE_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 1.0


class Link(abc.ABC):
    """A byte pipe to one device, named by a URL."""

    scheme: str = ""

    def __init__(self, url: str, options: dict[str, Any]) -> None:
        self.url = url
        self.options = options
        self._is_open = False

    @classmethod
    @abc.abstractmethod
    def from_url(cls, url: str, scheme: str, netloc: str, path: str, query: str) -> Link:
        """The link a URL of this scheme names, its options parsed from ``query`` against
        the scheme's option table; :class:`LinkURLError` says what is wrong, before any
        device is touched."""

    # -- lifecycle -----------------------------------------------------------------
    def open(self) -> Self:
        """Open the device; raises :class:`LinkOpenError` when it cannot."""
        if not self._is_open:
            self._open()
            self._is_open = True
        return self

    def close(self) -> None:
        """Release the device. Safe to call twice and after a failure."""
        if self._is_open:
            self._is_open = False
            self._close()

    @property
    def is_open(self) -> bool:
        return self._is_open

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "open" if self._is_open else "closed"
        return f"<{type(self).__name__} {self.url} {state}>"

    # -- properties drivers use to size their deadlines ------------------------------
    @property
    def char_time(self) -> float:
        """Seconds one character takes on the wire; 0 where the link has no line rate."""
        return 0.0

    @property
    def default_timeout(self) -> float:
        return float(self.options.get("timeout", DEFAULT_READ_TIMEOUT))

    @property
    def default_write_timeout(self) -> float:
        return float(self.options.get("write_timeout", DEFAULT_WRITE_TIMEOUT))

    # -- I/O -------------------------------------------------------------------------
    def write(self, data: bytes, timeout: float | None = None) -> None:
        """Send every byte of ``data`` by the deadline, or raise ``LinkTimeout``."""
        self._require_open()
        if timeout is None:
            timeout = self.default_write_timeout
        deadline = time.monotonic() + timeout
        view = memoryview(bytes(data))
        done = 0
        while done < len(view):
            left = deadline - time.monotonic()
            if left <= 0:
                raise LinkTimeout(
                    f"write timed out after {timeout:g} s with {done} of {len(view)} bytes sent",
                    self.url,
                    done=done,
                )
            done += self._write_some(view[done:], left)

    def read(self, size: int, timeout: float | None = None) -> bytes:
        """Up to ``size`` bytes; returns as soon as any arrived, ``b""`` on silence."""
        self._require_open()
        if timeout is None:
            timeout = self.default_timeout
        return self._read_some(size, max(0.0, timeout))

    def read_exactly(self, size: int, timeout: float | None = None) -> bytes:
        """Exactly ``size`` bytes by the deadline, or ``LinkTimeout`` (``done`` = got)."""
        self._require_open()
        if timeout is None:
            timeout = self.default_timeout
        deadline = time.monotonic() + timeout
        got = bytearray()
        while len(got) < size:
            left = deadline - time.monotonic()
            if left <= 0:
                raise LinkTimeout(
                    f"read timed out after {timeout:g} s with {len(got)} of {size} bytes",
                    self.url,
                    done=len(got),
                )
            got += self._read_some(size - len(got), left)
        return bytes(got)

    def flush_input(self) -> int:
        """Discard whatever the device sent that nobody read yet; returns the count."""
        self._require_open()
        return self._discard_input()

    def _require_open(self) -> None:
        if not self._is_open:
            raise LinkIOError("link is not open", self.url)

    # -- scheme primitives -------------------------------------------------------------
    @abc.abstractmethod
    def _open(self) -> None: ...

    @abc.abstractmethod
    def _close(self) -> None: ...

    @abc.abstractmethod
    def _write_some(self, data: memoryview, timeout: float) -> int:
        """Write at least one byte within ``timeout`` and return the count, or 0."""

    @abc.abstractmethod
    def _read_some(self, size: int, timeout: float) -> bytes:
        """Wait up to ``timeout`` for input; return 1..size bytes, or ``b""``."""

    @abc.abstractmethod
    def _discard_input(self) -> int: ...
