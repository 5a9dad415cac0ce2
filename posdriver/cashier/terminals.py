"""Opening configured terminals, one owner at a time.

"One owner per device" holds across processes too: a CLI command and (later) the daemon
must never both talk on one terminal's wire. Each terminal is taken with an exclusive
``flock`` on ``<state_dir>/locks/<name>.lock`` for as long as it is used; the lock dies
with the process, so a crash never leaves a device locked.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..terminal.base import PaymentTerminal
from ..terminal.outcomes import TerminalBusy

if TYPE_CHECKING:
    from ..config import TerminalConfig

TerminalFactory = Callable[["TerminalConfig"], PaymentTerminal]


class DeviceInUse(TerminalBusy):
    """Another posdriver process holds the device (a terminal or a printer). Nothing was
    sent to it. For a terminal it is "not reached", so a standby may take the payment."""


def make_terminal(cfg: TerminalConfig) -> PaymentTerminal:
    """A driver for a configured terminal (not yet opened)."""
    from ..links import link_for_url
    from ..terminal.zvt.terminal import ZvtTerminal, ZvtTimeouts

    if cfg.protocol != "zvt":
        raise ValueError(f"terminal {cfg.name}: unknown protocol {cfg.protocol!r}")
    defaults = ZvtTimeouts()
    timeouts = ZvtTimeouts(
        t3=cfg.timeout_t3 or defaults.t3,
        t4=cfg.timeout_t4 or defaults.t4,
    )
    return ZvtTerminal(
        link_for_url(cfg.url), password=cfg.password, currency=cfg.currency, timeouts=timeouts
    )


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


@contextlib.contextmanager
def opened(
    cfg: TerminalConfig, state_dir: Path, factory: TerminalFactory = make_terminal
) -> Iterator[PaymentTerminal]:
    """The configured terminal, locked and open, closed and released afterwards."""
    with device_lock(state_dir, cfg.name):
        terminal = factory(cfg)
        try:
            terminal.open()
            yield terminal
        finally:
            terminal.close()
