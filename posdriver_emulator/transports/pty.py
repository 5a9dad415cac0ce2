"""A device on a pseudo-terminal: a real ``/dev/pts/N`` that pyserial opens.

The host opens the slave side through a stable symlink (as udev's
``/dev/serial/by-id`` links do for real adapters), because a pty that goes away and
comes back (the ``disconnect`` fault, like unplugging a USB-serial adapter) gets a new
number. The emulator keeps its own slave descriptor open so the master never sees a
hang-up when the host closes; it sets raw mode so the line discipline passes every byte.

A serial line without flow control cannot refuse bytes: the device is offered every
byte (``overflow=True``) and drops what its buffer cannot hold, as real printers do.
Only ``busy`` stops the reading, which makes the host's writes stall.

When the device hangs up (:meth:`~posdriver_emulator.device.EmulatedDevice.hang_up`), the pty is
torn down once the host has read what was sent before, and a new one comes up behind
the symlink after the requested pause: the host's open port fails with EIO.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import struct
import tempfile
import termios
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path

from ..device import EmulatedDevice
from .base import POLL, Transport

HANGUP_READ_WAIT = 1.0  # how long a hang-up waits for the host to read what was sent
# Bytes written to the master reach the slave's input queue a moment later (the kernel
# moves them asynchronously), so an empty queue right after a write proves nothing.
LINE_SETTLE = 0.05


class PtyTransport(Transport):
    def __init__(
        self,
        device: EmulatedDevice,
        baudrate: int | None = None,
        link_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(device, baudrate)
        self._own_dir = link_dir is None
        self.link_dir = Path(link_dir or tempfile.mkdtemp(prefix="posdriver-emu-"))
        self.link_path = self.link_dir / f"tty{device.kind.upper()}"
        self._master: int | None = None
        self._slave: int | None = None
        self._fd_lock = threading.Lock()
        # held by the receive loop while it waits on and reads the master, and by whoever
        # closes the master: the process reuses a closed descriptor's number at once (in
        # ``posdriver serve --emulate`` for the API's next socket), so a read of a master
        # closed under the loop would take someone else's bytes
        self._rx_lock = threading.RLock()
        # wakes the receive loop out of its wait, so that a close need not wait it out
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._generation = -1
        self.pty_name = ""
        self._down_until = 0.0
        self._hangup_since: float | None = None
        self._last_write = 0.0

    @property
    def url(self) -> str:
        rate = f"?baudrate={self.baudrate}" if self.baudrate else ""
        return f"serial://{self.link_path}{rate}"

    # -- endpoint --------------------------------------------------------------------
    def _setup(self) -> None:
        self._attach(self.device.attachment()[1])

    def _attach(self, generation: int) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        name = os.ttyname(slave)
        tmp = self.link_path.with_suffix(".new")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(name)
        tmp.replace(self.link_path)
        with self._fd_lock:
            self._master, self._slave = master, slave
            self._generation = generation
            self.pty_name = name

    def _detach(self) -> None:
        with self._fd_lock:
            master, slave = self._master, self._slave
            self._master = self._slave = None
        with contextlib.suppress(FileNotFoundError):
            self.link_path.unlink()
        with contextlib.suppress(OSError):  # full: the loop is being woken already
            os.write(self._wake_w, b"!")
        with self._rx_lock:  # not while the receive loop is inside a select or read
            for fd in (master, slave):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
        if master is not None:
            self.device.discard_output()

    def _teardown(self) -> None:
        self._detach()
        if not self._stuck:  # a loop still running may still wait on the wake pipe
            for fd in (self._wake_r, self._wake_w):
                with contextlib.suppress(OSError):
                    os.close(fd)
        if self._own_dir:
            with contextlib.suppress(OSError):
                self.link_dir.rmdir()

    # -- loops -------------------------------------------------------------------------
    def _loops(self) -> list[tuple[str, Callable[[], None]]]:
        return [("pty-rx", self._rx_loop), ("pty-tx", self._tx_loop)]

    def _keep_attachment(self) -> int | None:
        """Follow the device's ``disconnect`` fault; returns the master fd or None."""
        attached, generation = self.device.attachment()
        with self._fd_lock:
            master = self._master
        if not attached or time.monotonic() < self._down_until:
            if master is not None:
                self._detach()
            return None
        if master is None or self._generation != generation:
            if master is not None:
                self._detach()
            self._attach(generation)
            with self._fd_lock:
                master = self._master
        return master

    def _rx_loop(self) -> None:
        pending = b""
        while not self._stop.is_set():
            master = self._keep_attachment()
            if master is None:
                pending = b""
                self.device.wait_for_wire_change(POLL)
                continue
            if pending:
                taken = self.device.accept(pending, overflow=True)
                pending = pending[taken:]
                if pending:
                    self.device.wait_for_wire_change(POLL)
                continue
            if not self.device.reading:
                self.device.wait_for_wire_change(POLL)
                continue
            try:
                with self._rx_lock:
                    with self._fd_lock:
                        if self._master != master:
                            continue  # detached since: that number may be another's now
                    queued = bool(select.select([master], [], [], 0)[0])  # a backlog?
                    if not queued:
                        ready = select.select([master, self._wake_r], [], [], POLL)[0]
                        if self._wake_r in ready:
                            with contextlib.suppress(OSError):
                                os.read(self._wake_r, 4096)
                            continue  # a close waits: let it have the master
                        if not ready:
                            continue
                    data = os.read(master, self.rx_pacer.chunk_size())
            except OSError:
                # EIO: nobody has the slave open right now.
                self._stop.wait(0.005)
                continue
            self.rx_pacer.transmit(len(data), queued=queued)
            taken = self.device.accept(data, overflow=True)
            pending = data[taken:]

    def _unread_by_host(self) -> int:
        with self._fd_lock:
            slave = self._slave
            if slave is None:
                return 0
            try:
                raw = fcntl.ioctl(slave, termios.FIONREAD, b"\0\0\0\0")
            except OSError:
                return 0
        return int(struct.unpack("i", raw)[0])

    def _maybe_hang_up(self) -> None:
        """Carry out a hang-up the device asked for, after its earlier output is read."""
        if not self.device.hangup_wanted():
            self._hangup_since = None
            return
        with self._fd_lock:
            attached = self._master is not None
        now = time.monotonic()
        if attached and (self.device.pending_output() or now - self._last_write < LINE_SETTLE):
            return
        if self._hangup_since is None:
            self._hangup_since = now
        if self._unread_by_host() and now - self._hangup_since < HANGUP_READ_WAIT:
            return
        self._hangup_since = None
        self._down_until = now + self.device.hangup_down_for
        self._detach()
        if not attached:
            self.device.discard_output()  # no host was there: the device still starts afresh
        self.device.hung_up()

    def _tx_loop(self) -> None:
        while not self._stop.is_set():
            self._maybe_hang_up()
            view = memoryview(self._paced_output(lambda: self._master is not None))
            while view and not self._stop.is_set():
                with self._fd_lock:
                    master = self._master
                    if master is None:
                        break  # detached: lost, as on a pulled cable
                    try:
                        _, ready, _ = select.select([], [master], [], 0)
                        if ready:
                            view = view[os.write(master, view) :]
                            self._last_write = time.monotonic()
                    except OSError:
                        break
                if view:
                    self._stop.wait(0.001)
