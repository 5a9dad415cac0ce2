"""Run the decoder fuzzers: ``python -m tests.fuzz.run --target all --count N --seed S``.

Per target it prints the inputs tried, the crashes (an exception other than the
decoder's documented errors), the hangs (an input still running after ``--deadline``
seconds) and the throughput, and exits 1 if there was any crash or hang. Each distinct
crash (exception type and the line that raised it) and each hang is written to a
reproducer file whose path is printed; ``--replay FILE`` feeds one again, whole, byte
by byte and as the run split it.

A seed names the same inputs on every run: the target's draws come from one generator
seeded by ``S`` and the target's name, and how an input is split into chunks from one
seeded by its index.

Hangs are caught without a timer call per input: an interval timer ticks every
``--deadline`` seconds, and an input that is still the current one at two ticks running
is interrupted (:class:`Hang`), so it ran at least the deadline.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from tests.fuzz.targets import Target, close, targets

DEFAULT_DEADLINE = 1.0
DEFAULT_OUT = Path(tempfile.gettempdir()) / "posdriver-fuzz"


class Hang(BaseException):
    """Raised into an input that ran past the deadline (a BaseException, so that no
    ``except Exception`` in a decoder can swallow it)."""


@dataclass
class Result:
    target: str
    inputs: int = 0
    crashes: int = 0
    hangs: int = 0
    seconds: float = 0.0
    slowest: float = 0.0
    reproducers: list[Path] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.inputs / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        return (
            f"{self.target}: {self.inputs} inputs, {self.crashes} crashes, {self.hangs} hangs, "
            f"{self.rate:,.0f} inputs/s, slowest {self.slowest * 1000:.1f} ms, "
            f"{self.seconds:.1f} s"
        )


class Watchdog:
    """The interval timer of the module docstring."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.current = -1
        self._seen = -2

    def _tick(self, signum: int, frame: FrameType | None) -> None:
        if self.current >= 0 and self.current == self._seen:
            self._seen = -2
            raise Hang(f"still running after {self.deadline:g} s")
        self._seen = self.current

    @contextmanager
    def running(self) -> Iterator[None]:
        """The timer for the run; a timer that was set before (pytest-timeout's) is put
        back afterwards with what was left of it."""
        previous = signal.signal(signal.SIGALRM, self._tick)
        left, interval = signal.setitimer(signal.ITIMER_REAL, self.deadline, self.deadline)
        started = time.monotonic()
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            if left:
                remaining = max(0.001, left - (time.monotonic() - started))
                signal.setitimer(signal.ITIMER_REAL, remaining, interval)


def signature(exc: BaseException) -> str:
    """Type and innermost frame: one reproducer per distinct fault, not per input."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
    return f"{type(exc).__name__} at {where}"


def write_reproducer(
    out: Path, target: str, data: bytes, split_seed: int, exc: BaseException
) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(data).hexdigest()[:12]
    path = out / f"{target}-{digest}.bin"
    path.write_bytes(data)
    detail = "".join(traceback.format_exception(exc)).strip()
    note = {"target": target, "split_seed": split_seed, "error": signature(exc), "detail": detail}
    path.with_suffix(".json").write_text(json.dumps(note, indent=1) + "\n")
    return path


def fuzz(
    target: Target,
    count: int,
    seed: int,
    *,
    deadline: float = DEFAULT_DEADLINE,
    out: Path = DEFAULT_OUT,
    progress: float = 0.0,
) -> Result:
    """``count`` inputs of ``target`` drawn from ``seed``."""
    result = Result(target.name)
    rng = random.Random(f"{seed}:{target.name}")
    seen: set[str] = set()
    watchdog = Watchdog(deadline)
    started = last_report = time.perf_counter()
    clock = time.perf_counter
    with watchdog.running():
        for index in range(count):
            data = target.draw(rng)
            split_seed = seed * 1_000_003 + index
            watchdog.current = index
            began = clock()
            interrupted = False
            try:
                target.feed(data, random.Random(split_seed))
            except target.allowed:
                pass
            except Hang as exc:
                interrupted = True
                result.hangs += 1
                result.reproducers.append(write_reproducer(out, target.name, data, split_seed, exc))
            except Exception as exc:
                result.crashes += 1
                key = signature(exc)
                if key not in seen:
                    seen.add(key)
                    path = write_reproducer(out, target.name, data, split_seed, exc)
                    result.reproducers.append(path)
            took = clock() - began
            if took > result.slowest:
                result.slowest = took
            if took > deadline and not interrupted:  # it finished, but too slowly
                result.hangs += 1
                result.reproducers.append(
                    write_reproducer(out, target.name, data, split_seed, Hang(f"took {took:.2f} s"))
                )
            result.inputs += 1
            if progress and clock() - last_report >= progress:
                last_report = clock()
                result.seconds = last_report - started
                print(result.line(), file=sys.stderr, flush=True)
        watchdog.current = -1
    result.seconds = clock() - started
    return result


def replay(target: Target, path: Path) -> list[str]:
    """Feed a reproducer whole, byte by byte and split as its run split it; the
    failures (empty: it no longer fails)."""
    data = path.read_bytes()
    note_path = path.with_suffix(".json")
    split_seed = json.loads(note_path.read_text())["split_seed"] if note_path.exists() else 0
    failures = []
    feeds = [
        ("whole", lambda: target.feed(data, random.Random(0))),
        ("split as in its run", lambda: target.feed(data, random.Random(split_seed))),
    ]
    for how, feed in feeds:
        try:
            feed()
        except target.allowed:
            pass
        except Exception as exc:
            failures.append(f"{how}: {signature(exc)}: {exc}")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz.run", description=__doc__)
    parser.add_argument("--target", default="all", help="target names (a,b), or all")
    parser.add_argument("--count", type=int, default=10_000, help="inputs per target")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--deadline", type=float, default=DEFAULT_DEADLINE, help="seconds")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="reproducers go here")
    parser.add_argument("--progress", type=float, default=0.0, help="report every N s")
    parser.add_argument("--replay", type=Path, help="feed one reproducer file again")
    args = parser.parse_args(argv)
    table = targets()
    try:
        names = list(table) if args.target == "all" else args.target.split(",")
        unknown = [n for n in names if n not in table]
        if unknown:
            parser.error(f"no target {unknown[0]!r}; targets: {', '.join(table)}, all")
        if args.replay is not None:
            failures = [f for n in names for f in replay(table[n], args.replay)]
            print("\n".join(failures) or f"{args.replay}: no failure")
            return 1 if failures else 0
        results = [
            fuzz(
                table[n],
                args.count,
                args.seed,
                deadline=args.deadline,
                out=args.out,
                progress=args.progress,
            )
            for n in names
        ]
    finally:
        close(table)
    for result in results:
        print(result.line())
        for path in result.reproducers:
            print(f"  reproducer: {path}")
    frames = sum(r.inputs for r in results if table[r.target].frames)
    seconds = sum(r.seconds for r in results)
    failed = sum(r.crashes + r.hangs for r in results)
    print(
        f"total: {sum(r.inputs for r in results)} inputs ({frames} to the wire decoders), "
        f"{sum(r.crashes for r in results)} crashes, {sum(r.hangs for r in results)} hangs, "
        f"{seconds:.1f} s, seed {args.seed}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
