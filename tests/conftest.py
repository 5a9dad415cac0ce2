"""Shared fixtures: emulated devices on real OS interfaces, cleaned up after each test."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, settings

# fixtures more than one test package uses: a tmpfs, a running `posdriver serve --emulate`
pytest_plugins = ["tests.support.mounts", "tests.support.served"]

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
