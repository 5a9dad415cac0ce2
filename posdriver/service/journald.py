"""Log lines that the systemd journal files at their real priority.

Under systemd, stderr is a stream socket into journald, and every line read from it is
filed at the unit's default priority (info) unless the line starts with an sd-daemon(3)
prefix: ``<3>`` error, ``<4>`` warning, ``<6>`` info, ``<7>`` debug. Without the prefixes
``journalctl -p warning`` shows nothing, however loudly the daemon complains.

systemd names the stream it connected in ``$JOURNAL_STREAM`` (``device:inode`` of that
socket). The prefixes are written only when stderr is that very stream: a terminal, a
pipe or a file (``posdriver serve 2>log``, a child of a unit that redirected stderr)
reads plain lines, exactly as before.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import TextIO

__all__ = ["ERR", "configure_logging", "priority_prefix", "stderr_is_journal", "to_stderr"]

# syslog(3) priorities, as sd-daemon(3) spells them
CRIT, ERR, WARNING, INFO, DEBUG = 2, 3, 4, 6, 7

FORMAT = "%(levelname)s %(name)s: %(message)s"


def stderr_is_journal(stream: TextIO | None = None, env: Mapping[str, str] | None = None) -> bool:
    """True when ``stream`` (stderr) is the journal stream systemd named in the environment.
    Compared by device and inode, because the variable is inherited: a child whose stderr
    was redirected still sees it, and must not prefix lines that no journal reads."""
    raw = (os.environ if env is None else env).get("JOURNAL_STREAM", "")
    device, _, inode = raw.partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        st = os.fstat((sys.stderr if stream is None else stream).fileno())
    except (OSError, ValueError, AttributeError):  # closed, or not a real file
        return False
    return (st.st_dev, st.st_ino) == (int(device), int(inode))


def priority_for(levelno: int) -> int:
    """The syslog priority of a logging level; levels between the named ones round down
    to the more severe side, so a custom level never reads as less urgent than it is."""
    if levelno >= logging.CRITICAL:
        return CRIT
    if levelno >= logging.ERROR:
        return ERR
    if levelno >= logging.WARNING:
        return WARNING
    if levelno >= logging.INFO:
        return INFO
    return DEBUG


def priority_prefix(text: str, priority: int) -> str:
    """``text`` with ``<priority>`` on every line: journald reads each line as its own
    entry, so a traceback's second line would otherwise be filed as info."""
    return "\n".join(f"<{priority}>{line}" for line in text.split("\n"))


class JournalFormatter(logging.Formatter):
    """The usual line, prefixed with its priority on each line it takes."""

    def format(self, record: logging.LogRecord) -> str:
        return priority_prefix(super().format(record), priority_for(record.levelno))


def configure_logging(
    level: int, stream: TextIO | None = None, env: Mapping[str, str] | None = None
) -> None:
    """The root logger's one stderr handler, with priority prefixes when stderr is the
    journal. Like logging.basicConfig, it leaves a root logger that has handlers alone."""
    stream = sys.stderr if stream is None else stream
    journal = stderr_is_journal(stream, env)
    formatter = JournalFormatter(FORMAT) if journal else logging.Formatter(FORMAT)
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(level)


def to_stderr(message: str, priority: int = ERR) -> None:
    """Print a message that is not a log record (why the daemon did not start) to stderr,
    filed at ``priority`` when stderr is the journal: `journalctl -p err` must show it."""
    if stderr_is_journal():
        message = priority_prefix(message, priority)
    print(message, file=sys.stderr)
