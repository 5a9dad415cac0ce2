"""How long tests wait: for a condition, with a deadline (never a sleep and a hope), and
for a device's reply beyond its wire time."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

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
