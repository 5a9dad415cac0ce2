"""The journal commands as a desk runs them against a daemon: through its API, or reading
its journal directly, each ``python -m posdriver`` a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Cli:
    """``python -m posdriver ...`` as the desk runs it: through the daemon (``via``), or
    reading the daemon's journal directly (``direct``: no daemon at 127.0.0.1:9)."""

    api: str
    state: Path
    tmp: Path

    def __post_init__(self) -> None:
        self.nowhere = self.tmp / "no-journal-here"  # the daemon path must not create it
        # through the daemon, the desk's config is found (POSDRIVER_CONFIG), not named:
        # a --config or --state-dir would name a journal, and this one is not the daemon's
        self.via_config = self.tmp / "via.toml"
        self.via_config.write_text(
            f'state_dir = "{self.nowhere}"\n'
            f'[service]\napi = "{self.api.removeprefix("http://")}"\n'
            "[print]\nready_timeout = 15.0\n"
        )
        self.direct_config = self.tmp / "direct.toml"
        self.direct_config.write_text('[service]\napi = "127.0.0.1:9"\n')
        self.env = {k: v for k, v in os.environ.items() if k != "SUDO_USER"}
        self.env |= {"PYTHONPATH": os.getcwd(), "USER": "desk-anna"}

    def run(self, *args: str, direct: bool = False) -> subprocess.CompletedProcess[str]:
        return self.start(*args, direct=direct).wait_done()

    def start(self, *args: str, direct: bool = False) -> _Running:
        where = ["--config", str(self.direct_config), "--state-dir", str(self.state)]
        process = subprocess.Popen(
            [sys.executable, "-m", "posdriver", *args, *(where if direct else [])],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env if direct else self.env | {"POSDRIVER_CONFIG": str(self.via_config)},
        )
        return _Running(process, args, self.nowhere)

    def same_both_ways(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run through the daemon and directly (at the same time); they must say the
        same and exit alike. The daemon may write to the journal meanwhile (a health
        check's incident): when the two differ, both are asked again."""
        for _ in range(3):
            via, direct = self.start(*args), self.start(*args, direct=True)
            seen_via = _seen(via.wait_done(), self.through)
            seen_direct = _seen(direct.wait_done())
            if seen_via == seen_direct:
                return via.done
        raise AssertionError(f"{args}: through the daemon {seen_via}, directly {seen_direct}")

    @property
    def through(self) -> str:
        """The line every command answered through the daemon starts its stderr with."""
        return f"through the daemon at {self.api} (journal in {os.path.realpath(self.state)})\n"


@dataclass
class _Running:
    process: subprocess.Popen[str]
    args: tuple[str, ...]
    nowhere: Path
    done: subprocess.CompletedProcess[str] = field(init=False)

    def wait_done(self) -> subprocess.CompletedProcess[str]:
        out, err = self.process.communicate(timeout=60)
        self.done = subprocess.CompletedProcess(self.args, self.process.returncode, out, err)
        assert not self.nowhere.exists(), f"{self.args}: the CLI opened a journal beside the daemon"
        return self.done


def _seen(done: subprocess.CompletedProcess[str], through: str = "") -> tuple[int, str, str]:
    """What a run said; ``through``: the line its stderr starts with when it was answered
    through the daemon (not for input refused before asking), left out of what is
    compared."""
    return done.returncode, done.stdout, done.stderr.removeprefix(through)
