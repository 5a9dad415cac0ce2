"""``posdriver serve`` with the crash harness's kill switch installed: run as
``python -m tests.crash_daemon.wrapper serve ARGS...``.

The switch and the moments it counts are the CLI harness's (tests/crash/hooks.py: every
journal COMMIT before and after, every link write before and after, every link read
that returned bytes, the printer's job sending), installed by wrapping classes in this
process before the daemon starts; product code is not changed. The daemon has threads,
so the count is kept under a lock.

What to count, and where to die, comes from two places:

* ``POSDRIVER_DCRASH_START`` (JSON ``{"kill_at": K, "split": S}``): armed from the
  process's start, for a restart that is to be killed in its recovery or printing.
* the plan file ``POSDRIVER_DCRASH_PLAN`` (JSON ``{"point": N, "kill_at": K, "split":
  S}``), read when a money request or a reprint reaches the desk: a point number this
  process has not armed for yet restarts the count there. A daemon that runs past its
  point (no kill) is used for the next one without a restart.

Every counted moment is appended to ``POSDRIVER_DCRASH_EVENTS`` as a JSON line (the
harness measures a run's length from them), and the kill itself is the last line.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

from tests.crash.hooks import Cut, KillSwitch, install_hooks
from tests.support.emulators import Devices

START_ENV = "POSDRIVER_DCRASH_START"
PLAN_ENV = "POSDRIVER_DCRASH_PLAN"
EVENTS_ENV = "POSDRIVER_DCRASH_EVENTS"
DEVICES_ENV = "POSDRIVER_DCRASH_DEVICES"  # JSON: the Devices, to name each link's writes


class ArmedSwitch(KillSwitch):
    """The kill switch for a threaded process: counts only once armed, under a lock,
    and writes each moment down as it passes."""

    def __init__(self, events_fd: int) -> None:
        super().__init__(None, events_fd)
        self.lock = threading.Lock()
        self.armed_for: Any = None  # "start", a point number, or None (not counting)
        self.seen: set[Any] = set()

    def arm(self, tag: Any, kill_at: int | None, split: float | None) -> None:
        with self.lock:
            self.armed_for, self.kill_at, self.split = tag, kill_at, split
            self.count = 0
            self.seen.add(tag)

    plan_path: Path | None = None
    plan_seen: int = 0  # the plan file's mtime when last read

    def over(self) -> bool:
        """The harness marked the armed point done: its moments stop counting (a poll
        between points must not reach a K the point's run did not)."""
        if self.plan_path is None or self.armed_for == "start":
            return False
        try:
            mtime = self.plan_path.stat().st_mtime_ns
        except OSError:
            return False
        if mtime == self.plan_seen:
            return False
        self.plan_seen = mtime
        plan = _read_plan(self.plan_path)
        return bool(plan.get("done")) and plan.get("point") == self.armed_for

    def hit(self, event: str, cut: Cut | None = None) -> None:
        with self.lock:  # held through the kill: no other thread's moment slips past it
            if self.armed_for is None:
                return
            if self.over():
                self.armed_for = None
                return
            self.count += 1
            line = {"at": self.armed_for, "n": self.count, "event": event}
            os.write(self.fd, (json.dumps(line) + "\n").encode())
            if self.count == self.kill_at:
                self.die(event, cut)


def _read_plan(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def _arm_on_requests(switch: ArmedSwitch, plan_path: Path) -> None:
    """Arm the switch when a point's request reaches the desk (a new point only)."""
    from posdriver.desk.local import LocalDesk

    original_start = LocalDesk.start
    original_reprint = LocalDesk.reprint

    def arm() -> None:
        plan = _read_plan(plan_path)
        point = plan.get("point")
        if point is not None and point not in switch.seen:
            switch.arm(point, plan.get("kill_at"), plan.get("split"))

    def start(self: LocalDesk, *args: Any, **kwargs: Any) -> Any:
        arm()
        return original_start(self, *args, **kwargs)

    def reprint(self: LocalDesk, *args: Any, **kwargs: Any) -> Any:
        arm()
        return original_reprint(self, *args, **kwargs)

    LocalDesk.start = start  # type: ignore[method-assign]
    LocalDesk.reprint = reprint  # type: ignore[method-assign]


def install() -> None:
    """The switch, from this process's environment (nothing without one)."""
    events = os.environ.get(EVENTS_ENV)
    if not events:
        return
    fd = os.open(events, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    switch = ArmedSwitch(fd)
    install_hooks(switch, Devices(**json.loads(os.environ[DEVICES_ENV])))
    plan_path = Path(os.environ[PLAN_ENV])
    # the point whose request is being retried is not armed for again by this process
    current = _read_plan(plan_path).get("point")
    if current is not None:
        switch.seen.add(current)
    start = os.environ.get(START_ENV)
    if start:
        wanted = json.loads(start)
        switch.arm("start", wanted.get("kill_at"), wanted.get("split"))
    switch.plan_path = plan_path
    _arm_on_requests(switch, plan_path)


def main() -> int:
    install()
    from posdriver.cli import main as posdriver_main

    return posdriver_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
