"""Scenario files: a timed sequence of faults, in the spirit of NUT's dummy-ups ``.seq``.

Format, one statement per line; ``#`` starts a comment::

    # the roll runs low, then out in the middle of the evening rush, then is replaced
    TIMER 2          # wait 2 seconds
    paper_near_end on
    TIMER 3
    paper_out on
    TIMER 10
    paper_out off    # a new roll: clears near end too if the model says so
    paper_near_end off
    LOOP             # optional, last line: start again from the top

A fault line is ``NAME on|off`` (also ``NAME: on`` / ``NAME = 1``). A fault that takes a
number (a terminal's ``slow_host``: how many seconds the host takes) may have it after
``on``: ``slow_host on 8``. Devices with cards (the payment terminal) also take
``card NAME``: the card the next transactions use. Errors name the file, the line and
what is wrong; fault and card names are checked against the device before the scenario
starts, so a typo fails at start-up, not ten minutes in.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from .device import EmulatedDevice

_FAULT = re.compile(
    r"^([a-z_]+)\s*[:=]?\s*(on|off|true|false|1|0|yes|no)(?:\s+(\S+))?$", re.IGNORECASE
)
_TIMER = re.compile(r"^TIMER\s+(\S+)$", re.IGNORECASE)
_CARD = re.compile(r"^card\s+(\S+)$", re.IGNORECASE)
_ON = {"on", "true", "1", "yes"}


class ScenarioError(ValueError):
    """A scenario file that cannot be run; the message names file and line."""


@dataclass(frozen=True)
class Step:
    line: int
    wait: float = 0.0
    fault: str | None = None
    active: bool = False
    value: float | None = None  # the number a fault takes (slow_host seconds)
    card: str | None = None


@dataclass(frozen=True)
class Scenario:
    source: str
    steps: tuple[Step, ...]
    loop: bool = False

    @classmethod
    def load(
        cls,
        path: str | Path,
        faults: Iterable[str],
        *,
        cards: Collection[str] | None = None,
        option_faults: Iterable[str] = (),
    ) -> Scenario:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ScenarioError(f"{path}: cannot read scenario: {exc.strerror or exc}") from exc
        return cls.parse(text, faults, source=str(path), cards=cards, option_faults=option_faults)

    @classmethod
    def parse(
        cls,
        text: str,
        faults: Iterable[str],
        source: str = "<scenario>",
        *,
        cards: Collection[str] | None = None,
        option_faults: Iterable[str] = (),
    ) -> Scenario:
        known = set(faults)
        takes_value = set(option_faults)
        steps: list[Step] = []
        loop = False
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            where = f"{source}:{number}"
            if loop:
                raise ScenarioError(f"{where}: nothing may follow LOOP")
            if line.upper() == "LOOP":
                loop = True
                continue
            timer = _TIMER.match(line)
            if timer:
                try:
                    seconds = float(timer.group(1))
                except ValueError:
                    seconds = -1.0
                if not 0 <= seconds < 86400:
                    raise ScenarioError(
                        f"{where}: TIMER needs seconds between 0 and 86400, got {timer.group(1)!r}"
                    )
                steps.append(Step(number, wait=seconds))
                continue
            card = _CARD.match(line)
            if card:
                if cards is None:
                    raise ScenarioError(f"{where}: this device has no cards")
                if card.group(1) not in cards:
                    raise ScenarioError(
                        f"{where}: unknown card {card.group(1)!r}; known cards: "
                        + ", ".join(sorted(cards))
                    )
                steps.append(Step(number, card=card.group(1)))
                continue
            fault = _FAULT.match(line)
            if not fault:
                raise ScenarioError(
                    f"{where}: cannot read {raw.strip()!r}; expected 'TIMER SECONDS', "
                    "'FAULT on|off'" + (", 'card NAME'" if cards is not None else "") + " or 'LOOP'"
                )
            name = fault.group(1).lower()
            if name not in known:
                raise ScenarioError(
                    f"{where}: unknown fault {name!r}; known faults: {', '.join(sorted(known))}"
                )
            active = fault.group(2).lower() in _ON
            value = _fault_value(where, name, active, fault.group(3), takes_value)
            steps.append(Step(number, fault=name, active=active, value=value))
        if loop and not any(step.wait > 0 for step in steps):
            raise ScenarioError(f"{source}: a LOOP scenario needs at least one TIMER > 0")
        return cls(source, tuple(steps), loop)


def _fault_value(
    where: str, name: str, active: bool, text: str | None, takes_value: set[str]
) -> float | None:
    if text is None:
        return None
    if name not in takes_value or not active:
        raise ScenarioError(
            f"{where}: {name} {'off ' if not active else ''}takes no value"
            + (
                f"; faults that do (after 'on'): {', '.join(sorted(takes_value))}"
                if takes_value
                else ""
            )
        )
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 3600:
        raise ScenarioError(f"{where}: {name} needs seconds between 0 and 3600, got {text!r}")
    return value


class ScenarioRunner:
    """Plays a scenario against a device on its own thread; ``stop()`` interrupts it."""

    def __init__(self, scenario: Scenario, device: EmulatedDevice) -> None:
        self.scenario = scenario
        self.device = device
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scenario", daemon=True)
        self.done = threading.Event()

    def start(self) -> ScenarioRunner:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                for step in self.scenario.steps:
                    if step.wait and self._stop.wait(step.wait):
                        return
                    if step.card:
                        self.device.select_card(step.card)  # type: ignore[attr-defined]
                    if step.fault:
                        if step.value is not None:
                            self.device.set_fault_option(step.fault, step.value)  # type: ignore[attr-defined]
                        self.device.set_fault(step.fault, step.active)
                if not self.scenario.loop:
                    return
        finally:
            self.done.set()
