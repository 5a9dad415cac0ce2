"""``--api HOST:PORT`` and ``POSDRIVER_API`` on the desk commands: the daemon to ask,
whatever the config's ``[service] api`` says. Each command is a ``python -m posdriver``
process of its own against a real ``posdriver serve --emulate``; through the daemon it
prints what it prints over the journal, and never opens a journal itself. An address
given must answer: silence there is an error (exit 3), not a reason to open the journal."""

from __future__ import annotations

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
    config = tmp_path / "nowhere.toml"
    config.write_text(NOWHERE_CONFIG)
    where = state or tmp_path / "no-journal-here"
    command = [sys.executable, "-m", "posdriver", *args, "--config", str(config)]
    done = subprocess.run(
        [*command, "--state-dir", str(where)],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k not in ("POSDRIVER_API", "SUDO_USER")}
        | {"PYTHONPATH": os.getcwd(), "USER": "desk-anna"}
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
