"""Terminals to run the contract suite on, each behind the same small interface: a
configured terminal the cashier reaches through the registry, what the terminal does
next (approve, decline, lose its answer at a stage...), and its own record of the money.

* ``zvt-pty`` / ``zvt-tcp``: the ZVT emulator on a pseudo-terminal / a TCP socket, its
  faults and cards set through its controller;
* ``model``: the in-process model terminal (:mod:`tests.support.model_terminal`), with
  fewer capabilities; ``model-minimal``: the same without Repeat Receipt.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from posdriver.config import TerminalConfig
from posdriver.terminal import registry
from posdriver.terminal.protocol import Capability
from posdriver.terminal.zvt.options import ZvtLineOptions
from posdriver_emulator.controller import Controller
from tests.support import model_terminal as model
from tests.support.model_terminal import (
    APPROVE,
    DECLINE,
    HOST_DOWN,
    LOSE_AFTER_STATUS,
    LOSE_BEFORE_COMPLETION,
    SWITCHED_OFF,
)

RIGS = ("zvt-pty", "zvt-tcp", "model", "model-minimal")
# fast timers: nothing here waits for the specification's 5 s or 180 s
ZVT_OPTIONS = ZvtLineOptions(timeout_t2=0.3, timeout_t3=0.5, timeout_t4=0.6)
ZVT_EMULATOR: dict[str, Any] = {"relink_delay": 0.1, "status_ack_timeout": 0.5}
_ZVT_FAULTS = {
    HOST_DOWN: "host_unreachable",
    SWITCHED_OFF: "power_off",
    LOSE_AFTER_STATUS: "drop_after_status",
    LOSE_BEFORE_COMPLETION: "drop_before_completion",
}


class Rig:
    """One terminal for the suite (see the module docstring)."""

    name: str
    protocol: str

    def terminal(self) -> TerminalConfig:
        raise NotImplementedError

    def next(self, behaviour: str) -> None:
        """What the next money command does."""
        raise NotImplementedError

    def settle(self) -> None:
        """Back to normal: faults off, the approving card."""
        raise NotImplementedError

    def standing_charges(self) -> int:
        """Payments the terminal's own record says stand."""
        raise NotImplementedError

    def has(self, capability: Capability) -> bool:
        return registry.get(self.protocol).has(capability)


class ZvtRig(Rig):
    protocol = "zvt"

    def __init__(self, link: str, tmp_path: Path) -> None:
        self.name = f"zvt-{link}"
        self.controller = Controller.terminal(
            link=link, link_dir=str(tmp_path), seed=7, **ZVT_EMULATOR
        ).start()

    def terminal(self) -> TerminalConfig:
        return TerminalConfig(
            name="desk", url=self.controller.url, protocol="zvt", options=ZVT_OPTIONS
        )

    def next(self, behaviour: str) -> None:
        if behaviour == APPROVE:
            return
        if behaviour == DECLINE:
            self.controller.device.select_card("declined")  # type: ignore[attr-defined]
            return
        self.controller.set_fault(_ZVT_FAULTS[behaviour])

    def settle(self) -> None:
        for fault in _ZVT_FAULTS.values():
            self.controller.set_fault(fault, False)
        self.controller.device.select_card("visa")  # type: ignore[attr-defined]

    def standing_charges(self) -> int:
        ledger = self.controller.device.ledger()  # type: ignore[attr-defined]
        return sum(1 for e in ledger if e["state"] == "charged")

    def close(self) -> None:
        self.controller.stop()


class ModelRig(Rig):
    def __init__(self, minimal: bool) -> None:
        self.protocol = self.name = "model-minimal" if minimal else "model"
        self.device = model.new_device(repeat_receipt=not minimal)

    def terminal(self) -> TerminalConfig:
        return TerminalConfig(name="desk", url=self.device.url, protocol=self.protocol)

    def next(self, behaviour: str) -> None:
        self.device.next(behaviour)

    def settle(self) -> None:
        self.device.script.clear()

    def standing_charges(self) -> int:
        return len(self.device.charged())

    def close(self) -> None:
        return None


@contextlib.contextmanager
def rig(name: str, tmp_path: Path) -> Iterator[Rig]:
    """The rig called ``name``, cleaned up afterwards."""
    made: ZvtRig | ModelRig
    if name.startswith("zvt-"):
        made = ZvtRig(name.removeprefix("zvt-"), tmp_path)
    else:
        model.install()
        made = ModelRig(minimal=name == "model-minimal")
    try:
        yield made
    finally:
        made.close()
        if not name.startswith("zvt-"):
            model.uninstall()
