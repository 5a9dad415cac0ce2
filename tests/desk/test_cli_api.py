"""``--api HOST:PORT`` and ``POSDRIVER_API`` on the desk commands: the daemon to ask,
whatever the config's ``[service] api`` says. Each command is a ``python -m posdriver``
process of its own against a real ``posdriver serve --emulate``; through the daemon it
prints what it prints over the journal, and never opens a journal itself. An address
given must answer: silence there is an error (exit 3), not a reason to open the journal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.served import Served
from tests.support.timing import wait_until

NOWHERE_CONFIG = '[service]\napi = "127.0.0.1:9"\n'  # no daemon where the config says


def posdriver(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, state: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``posdriver ARGS``: with ``state``, given ``--config`` and ``--state-dir`` (that
    journal, read directly); without, its config found through POSDRIVER_CONFIG, naming
    a journal that must stay uncreated (options would name it, and pin the command to it)."""
    config = tmp_path / "nowhere.toml"
    where = state or tmp_path / "no-journal-here"
    config.write_text(f'state_dir = "{where}"\n' + NOWHERE_CONFIG)
    named = ["--config", str(config), "--state-dir", str(where)] if state else []
    done = subprocess.run(
        [sys.executable, "-m", "posdriver", *args, *named],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k not in ("POSDRIVER_API", "SUDO_USER")}
        | {"PYTHONPATH": os.getcwd(), "USER": "desk-anna", "POSDRIVER_CONFIG": str(config)}
        | (env or {}),
    )
    if state is None:
        assert not where.exists(), f"{args}: the CLI opened a journal beside the daemon"
    return done


@pytest.fixture
def address(served: Served) -> str:
    return served.api.removeprefix("http://")


@pytest.mark.parametrize(
    "args",
    [
        ("txn", "list", "--json"),
        ("txn", "show", "last"),
        ("pending", "--json"),
        ("incidents", "--csv"),
        ("jobs",),
    ],
)
def test_api_and_its_variable_ask_the_daemon_and_say_what_the_journal_says(
    served: Served, address: str, tmp_path: Path, args: tuple[str, ...]
) -> None:
    sale = served.sale("4.20")
    wait_until(
        lambda: all(
            j["state"] == "done"
            for j in served.get(f"/v1/operations/{sale}?wait=20")[1]["print_jobs"]
        ),
        30,
        "the sale approved and its receipts printed",
    )
    direct = posdriver(tmp_path, *args, state=served.state)
    by_option = posdriver(tmp_path, *args, "--api", address)
    by_variable = posdriver(tmp_path, *args, env={"POSDRIVER_API": address})
    seen = {(d.returncode, d.stdout) for d in (direct, by_option, by_variable)}
    assert len(seen) == 1, (direct, by_option, by_variable)
    assert direct.returncode in (0, 1), direct.stderr


def test_an_api_that_does_not_answer_is_an_error_not_the_journal(tmp_path: Path) -> None:
    given: list[tuple[tuple[str, ...], dict[str, str]]] = [
        (("--api", "127.0.0.1:9"), {}),
        ((), {"POSDRIVER_API": "127.0.0.1:9"}),
    ]
    for extra, env in given:
        done = posdriver(tmp_path, "txn", "list", *extra, env=env)
        assert done.returncode == 3, done
        assert "posdriver txn: the daemon at http://127.0.0.1:9 did not answer" in done.stderr


def test_api_is_checked_and_is_not_given_with_devices(tmp_path: Path, address: str) -> None:
    done = posdriver(tmp_path, "pending", "--api", "localhost")
    assert done.returncode == 3
    assert "'localhost' is not HOST:PORT, such as 127.0.0.1:8470" in done.stderr
    done = posdriver(tmp_path, "pending", "--api", address, "--terminal", "tcp://127.0.0.1:9")
    assert done.returncode == 3
    assert "give one or the other" in done.stderr


def test_devices_named_go_direct_whatever_the_variable_says(tmp_path: Path) -> None:
    state = tmp_path / "state"
    done = posdriver(
        tmp_path,
        "txn",
        "list",
        "--printer",
        "tcp://127.0.0.1:9",
        env={"POSDRIVER_API": "127.0.0.1:9"},
        state=state,
    )
    assert (done.returncode, done.stdout) == (0, "no transactions match\n"), done.stderr


def test_the_journal_commands_read_the_file_and_take_no_api(tmp_path: Path) -> None:
    done = posdriver(tmp_path, "journal", "check", "--api", "127.0.0.1:9", state=tmp_path / "s")
    assert done.returncode == 3 and "unrecognized arguments: --api" in done.stderr


def test_a_journal_named_is_the_one_read_and_a_daemon_says_which_it_serves(
    served: Served, address: str, tmp_path: Path
) -> None:
    """Two journals: the daemon's and another. ``--state-dir`` (or ``--config``) names the
    one read: the daemon's only when it serves that one, else the file itself; with
    ``--api`` naming a daemon of another journal it is an error, never the daemon's
    transactions listed as if they were the other journal's."""
    from posdriver.journal import Kind, open_journal
    from posdriver.money import Money

    daemons = served.get(f"/v1/operations/{served.sale('4.20')}?wait=20")[1]["operation"]["id"]
    other = tmp_path / "other-state"
    with open_journal(other) as journal:
        mine = journal.begin(Kind.SALE, Money.parse("9.99", "EUR"), actor="test").id
    config = tmp_path / "desk.toml"
    config.write_text(f'[service]\napi = "{address}"\n')
    base = [sys.executable, "-m", "posdriver", "txn", "list", "--json"]
    env = {k: v for k, v in os.environ.items() if k not in ("POSDRIVER_API", "POSDRIVER_CONFIG")}
    env["PYTHONPATH"] = os.getcwd()

    def txn_list(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*base, *args], capture_output=True, text=True, timeout=60, env=env | extra
        )

    served_dir = os.path.realpath(served.state)
    assert served.get("/v1/health")[1]["state_dir"] == served_dir
    through = f"through the daemon at {served.api} (journal in {served_dir})\n"

    done = txn_list("--config", str(config), "--state-dir", str(other))
    assert done.returncode == 0, done.stderr
    assert [r["id"] for r in json.loads(done.stdout)] == [mine]
    assert f"serves the journal in {served_dir}; reading the journal in" in done.stderr
    assert f"{os.path.realpath(other)} (--state-dir) directly" in done.stderr

    done = txn_list("--config", str(config), "--state-dir", str(served.state))
    assert done.returncode == 0 and done.stderr.startswith(through), done.stderr
    assert [r["id"] for r in json.loads(done.stdout)] == [daemons]

    for named in ((), ("--config", str(config))):  # a desk's config names no journal
        done = txn_list(*named, POSDRIVER_CONFIG=str(config))
        assert done.returncode == 0 and done.stderr.startswith(through), done.stderr
        assert [r["id"] for r in json.loads(done.stdout)] == [daemons]

    done = txn_list("--state-dir", str(other), "--api", address)
    assert done.returncode == 3 and done.stdout.startswith("{"), done
    assert (
        f"--state-dir names the journal in {os.path.realpath(other)}, but the daemon at "
        f"{served.api} serves the one in {served_dir}: give --state-dir or "
        "--api/POSDRIVER_API, not both" in done.stderr
    )
    elsewhere = tmp_path / "elsewhere.toml"  # a config naming the other journal
    elsewhere.write_text(f'state_dir = "{other}"\n[service]\napi = "{address}"\n')
    done = txn_list("--config", str(elsewhere))
    assert done.returncode == 0 and [r["id"] for r in json.loads(done.stdout)] == [mine]


def test_a_sale_through_the_daemon_shows_what_the_terminal_says(
    served: Served, address: str, tmp_path: Path
) -> None:
    """As when it runs the sale itself, ``posdriver sale`` shows the terminal's texts
    while the daemon runs it (``GET /v1/operations/{id}?progress=N``); ``--json`` keeps
    stderr for errors."""
    done = posdriver(tmp_path, "sale", "6.10", "--api", address)
    assert done.returncode == 0 and "through the daemon" in done.stdout, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0].startswith(f"through the daemon at {served.api} (journal in ")
    assert "  terminal: insert card" in lines[1:], done.stderr
    op_id = int(done.stdout.split("(id:")[1].split(",")[0])
    status, body = served.get(f"/v1/operations/{op_id}?wait=5&progress=0")
    assert status == 200 and body["progress"] == ["insert card"], body
    quiet = posdriver(tmp_path, "sale", "6.20", "--api", address, "--json")
    assert quiet.returncode == 0 and "terminal:" not in quiet.stderr, quiet.stderr
    status, body = served.get(f"/v1/operations/{op_id}?progress=101")
    assert status == 400 and "progress" in body["error"], body
