"""The commands that only read (or note in) the journal read only what finds it in the
configuration: ``state_dir``, ``currency`` and ``[service]`` api and token.

A mistake in a device's table must not keep the front desk from a guest's payment (the
money commands still refuse the file, naming the mistake); a mistake in the keys these
commands do use is reported exactly as the whole file's check reports it; and such a
command does not import pydantic, most of a command's start-up.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from posdriver.cashier.cli import JOURNAL_ONLY
from posdriver.cashier.cli_common import Context
from posdriver.cli import main
from posdriver.config import ConfigError, load_config
from posdriver.journal import Kind, State, open_journal
from posdriver.money import Money

ROOT = Path(__file__).resolve().parents[2]
BROKEN_DEVICE = '[devices.desk1]\nkind = "terminal"\nurl = "ftp://nowhere"\n'
NO_DAEMON = '[service]\napi = "127.0.0.1:9"\n'  # nothing answers there: read the journal

# one command line for each entry of JOURNAL_ONLY (a new entry without one fails below)
COMMAND_LINES = {
    ("txn", "list"): ["txn", "list"],
    ("txn", "show"): ["txn", "show", "last"],
    ("pending", None): ["pending"],
    ("incidents", None): ["incidents"],
    ("incidents", "add"): ["incidents", "add", "--fault", "f", "--action", "a", "--result", "r"],
    ("jobs", None): ["jobs"],
    ("jobs", "list"): ["jobs", "list"],
    ("journal", "export"): ["journal", "export", "--csv"],
    ("journal", "backup"): ["journal", "backup", "{tmp}/backup.sqlite3"],
    ("journal", "check"): ["journal", "check"],
}


@pytest.fixture
def state(tmp_path: Path) -> Path:
    journal = open_journal(tmp_path / "state")
    try:
        op = journal.begin(Kind.SALE, Money(1250, "CHF"), terminal="desk1")
        journal.transition(op.id, State.SENT)
        journal.transition(op.id, State.APPROVED, receipt_no=7, trace=7)
    finally:
        journal.close()
    return tmp_path / "state"


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "posdriver.toml"
    path.write_text(text)
    return path


def test_every_journal_only_command_has_a_command_line_here() -> None:
    assert set(COMMAND_LINES) == set(JOURNAL_ONLY)


@pytest.mark.parametrize("command", sorted(COMMAND_LINES, key=str))
def test_a_broken_device_table_does_not_keep_staff_from_the_journal(
    command: tuple[str, str | None],
    state: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = f'state_dir = "{state}"\ncurrency = "CHF"\n{NO_DAEMON}{BROKEN_DEVICE}'
    config = config_file(tmp_path, text)
    argv = [part.format(tmp=tmp_path) for part in COMMAND_LINES[command]]
    code = main([*argv, "--config", str(config)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "ftp" not in err
    if command == ("txn", "show"):
        assert "APPROVED  sale  12.50 CHF  receipt 7" in out


def test_the_money_commands_still_refuse_the_file_naming_the_mistake(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_file(tmp_path, f'state_dir = "{state}"\n{NO_DAEMON}{BROKEN_DEVICE}')
    for argv in (["sale", "1.00"], ["reprint", "last"], ["jobs", "run"], ["recover"]):
        code = main([*argv, "--config", str(config)])
        _, err = capsys.readouterr()
        assert code == 3, argv
        assert "devices.desk1.url" in err and "ftp" in err, (argv, err)


@pytest.mark.parametrize(
    "text",
    [
        'state_dir = "relative/state"\n',
        'currency = "XYZ"\n',
        "currency = 978\n",
        "[service]\napi = 8470\n",
        '[service]\napi = "nowhere"\n',
        '[service]\napi = "0.0.0.0:8470"\n',  # beyond this machine: needs a token
        '[service]\ntoken = "short"\n',
        'service = "127.0.0.1:8470"\n',
    ],
)
def test_a_mistake_in_the_keys_read_is_reported_as_the_whole_check_reports_it(
    text: str, tmp_path: Path
) -> None:
    path = config_file(tmp_path, text)
    with pytest.raises(ConfigError) as whole:
        load_config(path)
    with pytest.raises(ConfigError) as journal_only:
        load_config(path, journal_only=True)
    assert journal_only.value.problems == whole.value.problems


def test_journal_only_reads_the_keys_as_the_whole_check_does(tmp_path: Path) -> None:
    path = config_file(
        tmp_path,
        f'state_dir = "{tmp_path}/s"\ncurrency = " chf "\n'
        '[service]\napi = "127.0.0.1:9000"\ntoken = "0123456789abcdef"\npoll_interval = 5.0\n'
        f"{BROKEN_DEVICE.replace('ftp://nowhere', 'tcp://127.0.0.1:20007')}",
    )
    whole, part = load_config(path), load_config(path, journal_only=True)
    assert (whole.complete, part.complete) == (True, False)
    assert part.state_dir == whole.state_dir
    assert part.currency == whole.currency == "CHF"
    assert (part.service.api, part.service.token) == (whole.service.api, whole.service.token)
    assert part.source == whole.source
    assert part.terminals == () and whole.terminals != ()


def test_a_journal_only_config_never_reaches_for_the_devices(tmp_path: Path) -> None:
    """A command wrongly listed as journal-only would otherwise say "no terminal is
    configured" of a file that configures one."""
    config = load_config(config_file(tmp_path, BROKEN_DEVICE), journal_only=True)
    args = argparse.Namespace(command="txn", json=False)
    with pytest.raises(RuntimeError, match="read only the journal's settings"):
        Context(args, config).cashier()


def test_txn_list_amount_means_the_configured_currency(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_file(tmp_path, f'state_dir = "{state}"\ncurrency = "CHF"\n{NO_DAEMON}')
    assert main(["txn", "list", "--amount", "12.50", "--json", "--config", str(config)]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [op["amount"] for op in found] == ["12.50"]


PROBE = """
import contextlib, io, json, sys
from posdriver.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(sys.argv[1:])
print(json.dumps([code, "pydantic" in sys.modules]))
"""


def test_txn_show_does_not_import_pydantic(state: Path, tmp_path: Path) -> None:
    config = config_file(tmp_path, f'state_dir = "{state}"\n{NO_DAEMON}')
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "txn", "show", "last", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=True,
    )
    assert json.loads(done.stdout.splitlines()[-1]) == [0, False]
