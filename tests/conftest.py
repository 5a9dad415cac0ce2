"""Shared fixtures: emulated devices on real OS interfaces, cleaned up after each test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


# Tests that assert an exact printer state allow this much beyond a reply's wire time:
# the product's 0.05 s default is for a quiet machine, and a CI runner under load can
# delay the in-process emulator's answer by more. A late answer makes a field unknown
# (never wrong), which is tested separately with no tolerance at all.
REPLY_TOLERANCE = 0.25


def wait_until(predicate: Callable[[], object], timeout: float = 5.0, what: str = "") -> None:
    """Wait for a condition with a deadline; fail the test naming what never happened."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(0.005)


def run_emulator(*args: str) -> subprocess.Popen[str]:
    """``posdriver-emulator ARGS`` from this checkout, as a child whose output a test reads."""
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    return subprocess.Popen(
        [sys.executable, "-m", "emulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.fixture
def tmp_link_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield str(tmp_path_factory.mktemp("links"))


# -- small file systems of their own (root only) -------------------------------------------


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """``tmpfs(size, options="")`` mounts a fresh tmpfs of that size (``options`` such as
    ``nr_inodes=40`` added) and returns its directory; every mount is undone after the
    test, whatever happened. A full or read-only file system is then a real one."""
    mounted: list[Path] = []

    def mount(size: str, options: str = "") -> Path:
        if os.geteuid() != 0:
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
