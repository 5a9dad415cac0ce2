"""The kill switch, and the moments it counts, installed in a forked child only.

The moments that matter are counted by wrapping classes, never by changing product code:
every journal COMMIT (before and after it), every link write (before and after) and every
link read that returned bytes, and the printer's job sending. At the K-th of them the
child tells the parent which moment it was and SIGKILLs itself. Each moment is named for
what it carries (``commit-before(to-sent)``, ``terminal-send(authorisation)``,
``printer-recv(status-query)``...), so a point reads as the instant it is. A kill
that falls on a write may let part of it out first (``terminal-cut(authorisation)``:
a frame cut off in the middle); the daemon harness (tests/crash_daemon) uses that.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from typing import Any

from posdriver.journal import Journal
from posdriver.links import Link
from posdriver.printer.driver import Printer
from tests.support.emulators import Devices

# names for the first APDU of a terminal write or read (ZVT over TCP has no framing)
_APDU_NAMES = {
    "0600": "registration",
    "0601": "authorisation",
    "0631": "refund",
    "0620": "repeat-receipt",
    "8000": "ack",
    "84": "nack",
    "040f": "status-info",
    "04ff": "intermediate",
    "06d1": "print-line",
    "06d3": "text-block",
    "060f": "completion",
    "061e": "abort",
}


def send(fd: int, message: dict[str, Any]) -> None:
    """One message to the parent: a JSON line on the child's report pipe."""
    data = (json.dumps(message) + "\n").encode()
    while data:
        data = data[os.write(fd, data) :]


Cut = Callable[[float], str]  # writes that share of a frame, names the moment


class KillSwitch:
    """Counts events; at the ``kill_at``-th one, tells the parent which it was and dies.

    ``split``: when the kill falls on a link write, that share of its bytes goes out
    first (a frame cut off in the middle, a receipt torn mid-line); None kills before
    the write, as the CLI harness always does."""

    def __init__(self, kill_at: int | None, report_fd: int, split: float | None = None) -> None:
        self.kill_at = kill_at
        self.fd = report_fd
        self.split = split
        self.count = 0
        self.trace: list[str] = []

    def hit(self, event: str, cut: Cut | None = None) -> None:
        self.count += 1
        self.trace.append(event)
        if self.count == self.kill_at:
            self.die(event, cut)

    def die(self, event: str, cut: Cut | None = None) -> None:
        if cut is not None and self.split is not None:
            event = cut(self.split)
        send(self.fd, {"killed": {"event": event, "k": self.count}})
        os.kill(os.getpid(), signal.SIGKILL)


def _statement_label(sql: str, params: Any) -> str | None:
    """What a write transaction is about, from its first write statement."""
    s = " ".join(sql.split())
    if s.startswith("SELECT"):
        return None
    table_verbs = (
        ("INSERT INTO operations", "begin"),
        ("UPDATE operations SET terminal", "attempt"),
        ("INSERT INTO receipts", "receipt"),
        ("INSERT INTO print_jobs", "job-queued"),
        ("UPDATE print_jobs SET continuation", "job-started"),
        ("UPDATE print_jobs SET state = 'done'", "job-done"),
        ("INSERT INTO incidents", "incident"),
        ("INSERT INTO events", "event"),
    )
    for prefix, label in table_verbs:
        if s.startswith(prefix):
            return label
    if s.startswith("UPDATE operations SET state"):
        return f"to-{params[0]}"
    if s.startswith("UPDATE print_jobs SET state = ?"):
        return f"job-{params[0]}"
    return s.split(" ", 1)[0].lower()


class _WatchedConnection:
    """The journal's sqlite3 connection, with a kill point before and after each COMMIT."""

    def __init__(self, conn: Any, switch: KillSwitch) -> None:
        self._conn = conn
        self._switch = switch
        self._label: str | None = None

    def execute(self, sql: str, params: Any = ()) -> Any:
        text = sql.strip()
        if text.startswith("BEGIN"):
            self._label = None
        elif text == "COMMIT":
            label = self._label or "empty"
            self._switch.hit(f"commit-before({label})")
            cursor = self._conn.execute(sql)
            self._switch.hit(f"commit-after({label})")
            return cursor
        elif self._label is None:
            self._label = _statement_label(text, params)
        return self._conn.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def _apdu_name(data: bytes, framed: bool) -> str:
    raw = bytes(data)
    if framed:  # ZVT's serial framing: a lone ACK/NAK byte, or DLE STX before the APDU
        if raw[:1] in (b"\x06", b"\x15"):
            return "transport-ack" if raw[:1] == b"\x06" else "transport-nak"
        if raw[:2] == b"\x10\x02":
            raw = raw[2:]
    head = raw[:2].hex()
    return _APDU_NAMES.get(head) or _APDU_NAMES.get(head[:2]) or head or "frame-part"


def _printer_bytes(data: bytes) -> str:
    head = bytes(data[:2])
    if head == b"\x10\x04":
        return "status-query"
    if head == b"\x10\x14":
        return "clear-buffers"
    if head == b"\x1d\x72":
        return "checkpoint"
    return "receipt-data"


def install_hooks(switch: KillSwitch, devices: Devices) -> None:
    """Count the moments that matter in this (child) process. Patches classes, so only
    ever call it after fork."""

    def device(link: Link) -> str:
        if link.url == devices.terminal:
            return "terminal"
        return "printer" if link.url == devices.printer else "link"

    def describe(link: Link, name: str, data: bytes) -> str:
        if name == "terminal":
            return _apdu_name(data, framed=link.scheme != "tcp")
        return _printer_bytes(data)

    original_connect = Journal._connect
    original_write = Link.write
    original_read = Link.read
    original_read_exactly = Link.read_exactly
    original_print_job = Printer.print_job

    def connect(self: Journal) -> Any:
        return _WatchedConnection(original_connect(self), switch)

    def write(self: Link, data: bytes, timeout: float | None = None) -> None:
        name = device(self)
        what = describe(self, name, data)

        def cut(share: float) -> str:
            part = min(len(data) - 1, max(1, int(len(data) * share)))
            if part < 1:  # a lone byte (a transport ACK) cannot be cut: killed before it
                return f"{name}-send({what})"
            original_write(self, data[:part], timeout)
            return f"{name}-cut({what})"

        switch.hit(f"{name}-send({what})", cut)
        original_write(self, data, timeout)
        switch.hit(f"{name}-sent({what})")

    def read(self: Link, size: int, timeout: float | None = None) -> bytes:
        data = original_read(self, size, timeout)
        if data:
            name = device(self)
            switch.hit(f"{name}-recv({describe(self, name, data)})")
        return data

    def read_exactly(self: Link, size: int, timeout: float | None = None) -> bytes:
        data = original_read_exactly(self, size, timeout)
        name = device(self)
        switch.hit(f"{name}-recv({describe(self, name, data)})")
        return data

    def print_job(self: Printer, job: Any, *, confirm: bool = True) -> Any:
        switch.hit("print-job")
        return original_print_job(self, job, confirm=confirm)

    Journal._connect = connect  # type: ignore[method-assign]
    Link.write = write  # type: ignore[method-assign]
    Link.read = read  # type: ignore[method-assign]
    Link.read_exactly = read_exactly  # type: ignore[method-assign]
    Printer.print_job = print_job  # type: ignore[method-assign]
