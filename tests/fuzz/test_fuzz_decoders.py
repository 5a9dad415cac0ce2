"""A short, seeded run of every decoder fuzz target (the long run is
``python -m tests.fuzz.run``), the reproducers of faults found before, and the runner's
own promise: a crash and a hang are caught, counted and written down."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fuzz.run import fuzz, main, replay
from tests.fuzz.targets import Target, close, targets

SEED = 20261207
# inputs per target: a couple of seconds each on the 2-core development machine
COUNTS = {
    "zvt-serial": 12_000,
    "zvt-tcp": 30_000,
    "escpos-status": 10_000,
    "asb-stream": 10_000,
    "emu-printer": 4_000,
    "emu-ecr-serial": 10_000,
    "emu-ecr-tcp": 30_000,
    "config": 2_000,
}
REGRESSIONS = Path(__file__).parent / "regressions"


@pytest.fixture(scope="module")
def table() -> Iterator[dict[str, Target]]:
    made = targets()
    yield made
    close(made)


def test_every_target_has_a_count() -> None:
    assert set(COUNTS) == set(targets())


@pytest.mark.parametrize("name", list(COUNTS))
def test_a_short_run_finds_no_crash_and_no_hang(
    table: dict[str, Target], name: str, tmp_path: Path
) -> None:
    result = fuzz(table[name], COUNTS[name], SEED, out=tmp_path)
    assert (result.inputs, result.crashes, result.hangs) == (COUNTS[name], 0, 0), [
        p.with_suffix(".json").read_text() for p in result.reproducers
    ]


def _target_of(path: Path, names: list[str]) -> str:
    return max((n for n in names if path.name.startswith(n + "-")), key=len)


@pytest.mark.parametrize("path", sorted(REGRESSIONS.glob("*.bin")), ids=lambda p: p.stem)
def test_the_reproducers_of_fixed_faults_decode_cleanly(
    table: dict[str, Target], path: Path
) -> None:
    assert replay(table[_target_of(path, list(table))], path) == []


def _raises(data: bytes, rng: random.Random) -> None:
    if data[:1] == b"\x01":
        raise KeyError("boom")


def _loops(data: bytes, rng: random.Random) -> None:
    if data[:1] == b"\x02":
        while True:
            time.sleep(0.01)


def test_a_crash_is_counted_and_its_input_written(tmp_path: Path) -> None:
    target = Target("t", [b"\x01", b"\x00"], _raises, make=lambda rng, c: c[rng.randrange(2)])
    result = fuzz(target, 50, 1, out=tmp_path)
    assert result.inputs == 50 and 0 < result.crashes < 50
    assert len(result.reproducers) == 1  # one per distinct fault
    assert result.reproducers[0].read_bytes() == b"\x01"
    assert "KeyError" in result.reproducers[0].with_suffix(".json").read_text()
    assert replay(target, result.reproducers[0]) != []


def test_a_documented_error_is_no_crash(tmp_path: Path) -> None:
    target = Target("t", [b"\x01"], _raises, allowed=(KeyError,))
    assert fuzz(target, 20, 1, out=tmp_path).crashes == 0


def test_a_hang_is_cut_off_at_the_deadline(tmp_path: Path) -> None:
    target = Target("t", [b"\x02"], _loops, make=lambda rng, c: c[0])
    started = time.monotonic()
    result = fuzz(target, 2, 1, deadline=0.2, out=tmp_path)
    assert result.hangs == 2 and len(result.reproducers) == 2
    assert time.monotonic() - started < 3.0


def test_the_script_exits_non_zero_and_names_the_reproducer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import tests.fuzz.run as run

    target = Target("boom", [b"\x01"], _raises, make=lambda rng, c: c[0])
    monkeypatch.setattr(run, "targets", lambda: {"boom": target})
    assert main(["--target", "boom", "--count", "5", "--out", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "boom: 5 inputs, 5 crashes, 0 hangs" in out
    assert f"reproducer: {tmp_path}" in out
