"""What a command loads before it does anything: parsing a command line must stay cheap.

``posdriver --version`` and ``--help`` build every command's parser, so whatever a
parser module imports at its top is paid by every command. The heavy parts (pydantic and
the configuration's validation, the HTTP client, a protocol's options, the desk's
implementations, the cashier) are imported where they are used.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOT_AT_START = (
    "pydantic",
    "urllib.request",
    "posdriver.config.loading",
    "posdriver.terminal.options",
    "posdriver.terminal.zvt.options",
    "posdriver.desk.local",
    "posdriver.desk.remote",
    "posdriver.cashier.cashier",
    "escpos",
    "usb",
)

PROBE = """
import contextlib, io, json, sys
from posdriver.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    main(sys.argv[1:])
print(json.dumps(sorted(sys.modules)))
"""


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["txn", "--help"]])
def test_parsing_a_command_line_loads_nothing_heavy(args: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=True,
    )
    loaded = set(json.loads(done.stdout.splitlines()[-1]))
    assert sorted(m for m in NOT_AT_START if m in loaded) == []
