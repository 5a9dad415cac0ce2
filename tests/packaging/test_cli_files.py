"""The man page and bash completion generated from the command line's parser
(packaging/cli_files.py): every command and subcommand is in both, the completion is run
by a real bash, and the page renders without a groff warning.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from posdriver.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "packaging" / "cli_files.py"


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> dict:
    """Every command path (("config", "check"), ...) -> its parser."""
    found: dict[tuple[str, ...], argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[(*path, name)] = sub
                found.update(_commands(sub, (*path, name)))
    return found


COMMANDS = _commands(build_parser())


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli-files")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={"SOURCE_DATE_EPOCH": "1767225600", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return out


def test_the_parser_has_nested_commands() -> None:
    assert ("serve",) in COMMANDS and ("config", "check") in COMMANDS
    assert len(COMMANDS) > 20


def test_every_command_is_in_the_man_page(generated: Path) -> None:
    page = (generated / "posdriver.1").read_text().replace("\\-", "-")  # roff's minus
    # dated by SOURCE_DATE_EPOCH: the same source makes the same page
    assert page.startswith('.TH POSDRIVER "1" "2026-01-01" "posdriver 0.1.0"'), page[:80]
    for path in COMMANDS:
        assert "posdriver " + " ".join(path) in page, path
    for option in ("--config", "--state-dir", "--log-level", "--emulate"):
        assert option in page


def test_the_man_page_renders_cleanly(generated: Path) -> None:
    groff = shutil.which("groff")
    if groff is None:
        pytest.skip("groff is not installed")
    done = subprocess.run(
        [groff, "-man", "-ww", "-z", str(generated / "posdriver.1")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and not done.stderr, done.stderr


def _complete(script: Path, words: list[str]) -> list[str]:
    """What bash offers after ``words`` (the last one being typed), by running the
    completion function exactly as bash's programmable completion would."""
    line = " ".join(words)
    program = (
        f"source {shlex.quote(str(script))}\n"
        f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)})\n"
        f"COMP_CWORD={len(words) - 1}\n"
        f"COMP_LINE={shlex.quote(line)}; COMP_POINT=${{#COMP_LINE}}\n"
        "_shtab_posdriver\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", program],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [word for word in done.stdout.splitlines() if word]


def test_bash_completes_every_command(generated: Path) -> None:
    script = generated / "posdriver.bash"
    for path in COMMANDS:
        offered = _complete(script, ["posdriver", *path[:-1], ""])
        assert path[-1] in offered, (path, offered)
    serve_options = _complete(script, ["posdriver", "serve", "--"])
    for action in COMMANDS[("serve",)]._actions:
        for option in action.option_strings:
            if option.startswith("--"):
                assert option in serve_options


def test_bash_completion_registers_itself(generated: Path) -> None:
    done = subprocess.run(
        ["bash", "--norc", "-c", f"source {generated / 'posdriver.bash'}; complete -p posdriver"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "_shtab_posdriver posdriver" in done.stdout


def test_zsh_completion_is_written(generated: Path) -> None:
    text = (generated / "_posdriver").read_text()
    assert text.startswith("#compdef posdriver")
    for path in COMMANDS:
        assert path[-1] in text
