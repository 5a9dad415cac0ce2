"""The container recipe (packaging/container/Containerfile), read the way a builder reads
it: no container engine runs here, so its structure is checked instead, and its command
line is parsed by posdriver's own parser.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from posdriver.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "packaging" / "container" / "Containerfile"
KNOWN = {
    "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
    "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
}  # fmt: skip
EXEC_FORM = {"CMD", "ENTRYPOINT", "VOLUME", "SHELL"}


@dataclass
class Instruction:
    line: int
    keyword: str
    args: str


def _instructions(text: str) -> list[Instruction]:
    """Logical lines: comments dropped, backslash continuations joined, keyword checked."""
    found = []
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):  # a comment inside a continuation
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        whole = pending + stripped
        pending = ""
        keyword, _, args = whole.partition(" ")
        assert keyword in KNOWN, f"line {start}: unknown instruction {keyword!r}"
        assert keyword == keyword.upper(), f"line {start}: {keyword}"
        found.append(Instruction(start, keyword, args.strip()))
    assert not pending, "the file ends inside a continued line"
    return found


INSTRUCTIONS = _instructions(RECIPE.read_text())


def _stages() -> list[list[Instruction]]:
    stages: list[list[Instruction]] = []
    for ins in INSTRUCTIONS:
        if ins.keyword == "FROM":
            stages.append([])
        else:
            assert stages or ins.keyword == "ARG", f"line {ins.line}: {ins.keyword} before FROM"
        if stages:
            stages[-1].append(ins)
    return stages


def _exec_form(ins: Instruction) -> list[str]:
    value = json.loads(ins.args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), ins
    return value


@pytest.mark.parametrize(
    "bad",
    [
        "RUN echo \\\n",  # ends inside a continuation
        "COPPY . .\n",  # misspelt
        "run echo\n",  # lower case
    ],
)
def test_the_reader_rejects_what_a_builder_rejects(bad: str) -> None:
    with pytest.raises(AssertionError):
        _instructions("FROM scratch\n" + bad)


def test_stages_and_their_bases() -> None:
    stages = _stages()
    assert len(stages) == 2, "a build stage and a run stage"
    names = []
    for stage in stages:
        base = stage[0].args.split()
        assert re.fullmatch(r"[\w.-]+/[\w./-]+:[\w.-]+", base[0]), f"pin a tag: {base[0]}"
        if len(base) == 3:
            assert base[1].upper() == "AS"
            names.append(base[2])
    for ins in INSTRUCTIONS:
        for source in re.findall(r"--from=(\S+)", ins.args):
            assert source in names, f"line {ins.line}: no stage {source}"


def test_the_run_stage_installs_offline_and_drops_root() -> None:
    run = _stages()[-1]
    installs = [i.args for i in run if i.keyword == "RUN" and "pip install" in i.args]
    assert installs and all("--no-index" in a for a in installs), installs
    users = [i.args for i in run if i.keyword == "USER"]
    assert users and users[-1] not in {"root", "0"}
    entry = [i for i in run if i.keyword in EXEC_FORM]
    for ins in entry:
        _exec_form(ins)  # exec form: signals reach posdriver, not a shell


def test_the_command_line_is_one_posdriver_serve_takes() -> None:
    run = _stages()[-1]
    (entrypoint,) = [_exec_form(i) for i in run if i.keyword == "ENTRYPOINT"]
    (cmd,) = [_exec_form(i) for i in run if i.keyword == "CMD"]
    argv = entrypoint + cmd
    assert argv[:2] == ["posdriver", "serve"]
    args = build_parser().parse_args(argv[1:])  # exits (SystemExit) on an unknown option
    assert args.command == "serve"
    assert args.state_dir in {v for i in run if i.keyword == "VOLUME" for v in _exec_form(i)}, (
        "the journal must live in a volume"
    )
    exposed = {int(p) for i in run if i.keyword == "EXPOSE" for p in i.args.split()}
    ports = {int(address.rsplit(":", 1)[1]) for address in (args.api, args.metrics)}
    assert ports == exposed
    stop = [i.args for i in run if i.keyword == "STOPSIGNAL"]
    assert stop == ["SIGTERM"], "SIGTERM drains a payment in flight"


def test_only_what_the_wheel_needs_is_copied() -> None:
    """No `COPY . .`: that would send the checkout's .venv and state into the image."""
    build = _stages()[0]
    for ins in build:
        if ins.keyword == "COPY":
            *sources, _target = ins.args.split()
            assert "." not in sources, f"line {ins.line}: {ins.args}"
            for source in sources:
                assert (ROOT / source).exists(), f"line {ins.line}: no {source} in the checkout"
