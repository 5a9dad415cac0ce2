"""Real file systems that fail on purpose: a small tmpfs to fill, remounted read-only.

Root only: root ignores file permissions, so only a full or read-only mount stops it
writing. The ``tmpfs`` fixture is registered in the root conftest for every test package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

IS_ROOT = os.geteuid() == 0


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """``tmpfs(size, options="")`` mounts a fresh tmpfs of that size (``options`` such as
    ``nr_inodes=40`` added) and returns its directory; every mount is undone after the
    test, whatever happened. A full or read-only file system is then a real one."""
    mounted: list[Path] = []

    def mount(size: str, options: str = "") -> Path:
        if not IS_ROOT:
            pytest.skip("mounting a tmpfs needs root")
        if shutil.which("mount") is None:
            pytest.skip("no mount command on this machine")
        where = tmp_path / f"tmpfs{len(mounted)}"
        where.mkdir()
        extra = f",{options}" if options else ""
        done = _mount("-t", "tmpfs", "-o", f"size={size},mode=0700{extra}", "tmpfs", str(where))
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs at {where}: {done.stderr.strip()}")
        mounted.append(where)
        return where

    yield mount
    for where in reversed(mounted):
        if subprocess.run(["umount", str(where)], check=False).returncode:
            subprocess.run(["umount", "-l", str(where)], check=False)


def remount(where: Path, mode: str) -> None:
    done = _mount("-o", f"remount,{mode}", str(where))
    if done.returncode:
        pytest.skip(f"cannot remount {where} {mode}: {done.stderr.strip()}")


def fill_up(where: Path) -> Path:
    """Write a file in ``where`` until its file system has no room left; returns it (unlink
    it to give the room back)."""
    filler = where / "filler"
    with open(filler, "wb", buffering=0) as out:
        for size in (1 << 16, 1 << 12, 1):
            try:
                while out.write(b"\0" * size):
                    pass
            except OSError:
                continue
    return filler
