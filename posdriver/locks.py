"""Locks in the state directory: one owner per device, one runner per money operation.

"One owner per device" holds across processes, not only inside one: a CLI command and
the daemon must never both talk on one terminal's (or printer's) wire, and recovery must
never take over a payment another process is still running. Both are kept with an
exclusive ``flock`` on a file under ``<state_dir>/locks/``:

* ``<name>.lock`` for a device (:func:`device_lock`), held for as long as it is used;
* ``op-<id>.lock`` for a money operation (:class:`OperationClaim`), held from the
  transaction that creates the operation until its outcome is journaled;
  :func:`operation_is_live` asks whether someone still holds one.

The kernel drops a ``flock`` when its process dies, so a crash never leaves a device
locked and a lock that can be taken belongs to a run that is gone. These locks belong to
no single layer (the cashier, the spooler, the daemon and recovery all take or read
them), so they live here rather than beside any one of them.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from .journal.errors import JournalError, JournalFull, JournalReadOnly
from .terminal.outcomes import TerminalBusy


class DeviceInUse(TerminalBusy):
    """Another posdriver process holds the device (a terminal or a printer). Nothing was
    sent to it. For a terminal it is "not reached", so a standby may take the payment."""


@contextlib.contextmanager
def device_lock(state_dir: Path, name: str, *, wait: float = 5.0) -> Iterator[None]:
    """Hold ``name`` exclusively for this process; wait up to ``wait`` seconds for another
    holder to finish, then raise :class:`DeviceInUse`."""
    directory = Path(state_dir) / "locks"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / f"{name}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    holder = _holder(fd)
                    raise DeviceInUse(
                        f"{name} is in use by another posdriver process{holder}; "
                        "nothing was sent to it"
                    ) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        os.close(fd)  # releases the lock


def _holder(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        pid = int(os.pread(fd, 32, 0).decode().strip() or "0")
        if pid:
            return f" (pid {pid})"
    return ""


class OperationClaim:
    """This process's claim on the money operation it is running.

    A crash leaves operations PENDING or SENT; so does a payment still running in another
    process (a second CLI command, the daemon). Recovery must tell them apart, or it
    would take over a live payment. The owner holds ``flock`` on
    ``<state_dir>/locks/op-<id>.lock`` from inside the transaction that creates the
    operation until it has journaled the outcome; the kernel drops the lock when the
    process dies, so a lock that can be taken belongs to a crashed run.
    """

    def __init__(self, state_dir: Path) -> None:
        self.directory = Path(state_dir) / "locks"
        self._held: dict[int, int] = {}

    def _path(self, op_id: int) -> Path:
        return self.directory / f"op-{op_id}.lock"

    def take(self, op_id: int) -> None:
        """Claim ``op_id``, or raise a :class:`~posdriver.journal.JournalError` naming the
        lock file. A claim that fails half-way holds nothing: a descriptor left open would
        keep the lock in this process, and since the failed transaction gives its id to
        the next operation, that one (and every one after it) would find its id locked."""
        path = self._path(op_id)
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise claim_failed(path, op_id, exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        except OSError as exc:
            os.close(fd)
            raise claim_failed(path, op_id, exc) from exc
        self._held[op_id] = fd

    def release(self, op_id: int) -> None:
        fd = self._held.pop(op_id, None)
        if fd is not None:
            with contextlib.suppress(OSError):
                self._path(op_id).unlink()
            os.close(fd)

    def release_all(self) -> None:
        """Let go of every claim: the transaction that took them did not commit, so the
        operations they were for do not exist."""
        for op_id in list(self._held):
            self.release(op_id)


def claim_failed(path: Path, op_id: int, exc: OSError) -> JournalError:
    """The journal error for a claim that could not be taken: the lock file lives in the
    state directory beside the journal, so a full or read-only disk stops both."""
    why = exc.strerror or str(exc)
    text = f"{path}: cannot claim operation {op_id} ({why}); the operation was not recorded"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return JournalFull(f"{text}: free disk space before going on")
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return JournalReadOnly(f"{text}: the state directory cannot be written")
    return JournalError(text)


def operation_is_live(state_dir: Path, op_id: int) -> int | None:
    """The pid of the process still running operation ``op_id``, or None when no process
    holds it (it finished, or its process died)."""
    path = Path(state_dir) / "locks" / f"op-{op_id}.lock"
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            with contextlib.suppress(OSError, ValueError):
                return int(os.pread(fd, 32, 0).decode().strip() or "0") or -1
            return -1
        with contextlib.suppress(OSError):
            path.unlink()  # a dead owner's leftover
        return None
    finally:
        os.close(fd)
