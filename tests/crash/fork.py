"""One forked child per driver run, and what the parent learns of it.

The harness process stays single-threaded and ``os.fork()``s one child per driver run:
children are cheap (nothing is imported again) and each one is a real process with its
own SQLite connection, its own sockets and its own ``flock`` on the terminal, all of which
the kernel tears down when it is killed. The child installs the kill switch, does its
work and reports on a pipe (killed at which event, or done with what); its output goes
to the run's ``children.log``. A child that outlives its deadline is hung: killed, and a
failure rather than a kill.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from tests.crash.hooks import KillSwitch, install_hooks, send
from tests.support.emulators import Devices

LOG_ENV = "POSDRIVER_CRASH_LOG"  # "debug": the children log at DEBUG (children.log)
CHILD_DEADLINE = 90.0  # a driver run that takes longer is hung: a failure, not a kill


@dataclass
class ChildResult:
    killed: dict[str, Any] | None = None  # {"event", "k"}
    done: dict[str, Any] | None = None
    error: str | None = None
    status: int = 0
    seconds: float = 0.0

    def failure(self) -> str | None:
        if self.error:
            return self.error
        if self.killed is None and self.done is None:
            code = os.waitstatus_to_exitcode(self.status)
            return f"the child ended without a report (exit {code})"
        if self.killed is not None and not (
            os.WIFSIGNALED(self.status) and os.WTERMSIG(self.status) == signal.SIGKILL
        ):
            return "the child reported its kill but was not killed"
        return None


def fork_child(
    work: Callable[[], dict[str, Any]],
    kill_at: int | None,
    devices: Devices,
    log_path: Path,
    deadline: float = CHILD_DEADLINE,
) -> ChildResult:
    """Run ``work`` in a forked child with the kill switch set to ``kill_at``."""
    sys.stdout.flush()
    sys.stderr.flush()
    read_fd, write_fd = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child: never returns, never runs the parent's cleanup
        os.close(read_fd)
        _child_main(work, kill_at, devices, log_path, write_fd)
    os.close(write_fd)
    chunks: list[bytes] = []
    hung = False
    end = started + deadline
    try:
        while True:
            left = end - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                hung = True
                break
            if select.select([read_fd], [], [], left)[0]:
                chunk = os.read(read_fd, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    result = ChildResult(status=status, seconds=time.monotonic() - started)
    for line in b"".join(chunks).splitlines():
        message = json.loads(line)
        result.killed = message.get("killed", result.killed)
        result.done = message.get("done", result.done)
        result.error = message.get("error", result.error)
    if hung:
        result.error = f"the child hung for {deadline:g} s (killed); see {log_path}"
    return result


def _child_main(
    work: Callable[[], dict[str, Any]],
    kill_at: int | None,
    devices: Devices,
    log_path: Path,
    report_fd: int,
) -> NoReturn:
    code = 0
    try:
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)
        _child_logging(kill_at)
        switch = KillSwitch(kill_at, report_fd)
        install_hooks(switch, devices)
        body = work()
        body["events"] = switch.count
        body["trace"] = switch.trace
        send(report_fd, {"done": body})
    except BaseException:
        code = 3
        try:
            send(report_fd, {"error": traceback.format_exc()})
        except BaseException:
            pass
    finally:
        os._exit(code)


def _child_logging(kill_at: int | None) -> None:
    import logging

    root = logging.getLogger()
    for handler in list(root.handlers):  # pytest's capture handlers live in the parent
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s [{os.getpid()} kill@{kill_at}] %(name)s: %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if os.environ.get(LOG_ENV) == "debug" else logging.INFO)
