"""The state directory's locks, where they live and where they are still found.

They moved from posdriver.cashier.terminals to posdriver.locks; the old module keeps the
names for one release, and they must be the very same objects: the spooler catches
``DeviceInUse`` by its old name while ``device_lock`` raises the new one's.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import posdriver.cashier.terminals as old
from posdriver import locks
from posdriver.terminal.outcomes import TerminalNotReached

HOLD = """
import sys
from posdriver.locks import device_lock
with device_lock(sys.argv[1], sys.argv[2], wait=0):
    print("held", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the device lock of ``printer-1`` until its stdin closes."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path), "printer-1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    yield proc
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=10)


def test_the_old_module_hands_out_the_same_lock_objects() -> None:
    assert old.device_lock is locks.device_lock
    assert old.DeviceInUse is locks.DeviceInUse
    assert old.operation_is_live is locks.operation_is_live


def test_a_device_held_by_another_process_is_in_use_by_its_old_name_too(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    with pytest.raises(old.DeviceInUse) as caught, locks.device_lock(tmp_path, "printer-1", wait=0):
        pass
    assert str(caught.value) == (
        f"printer-1 is in use by another posdriver process (pid {holder.pid}); "
        "nothing was sent to it"
    )
    assert isinstance(caught.value, TerminalNotReached)  # a standby may take the payment


def test_a_device_lock_is_free_again_once_its_holder_lets_go(tmp_path: Path) -> None:
    with locks.device_lock(tmp_path, "terminal-1", wait=0):
        pass
    with locks.device_lock(tmp_path, "terminal-1", wait=0):
        assert (tmp_path / "locks" / "terminal-1.lock").exists()
