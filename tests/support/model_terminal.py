"""A second terminal protocol, in-process, built for the contract suite: the smallest
honest implementation of :class:`~posdriver.terminal.base.PaymentTerminal`.

It exists so that posdriver's protocol neutrality is tested rather than claimed: the
cashier, recovery and the daemon run on it through the registry exactly as on ZVT, and
the contract tests hold both to one set of behaviours. It shares nothing with ZVT: no
bytes, no receipt-number range, fewer capabilities (no deposits, registration, end of
day or diagnosis; a "minimal" variant cannot even repeat its last transaction).

A :class:`ModelDevice` is the terminal itself (its ledger outlives a driver, as a real
terminal outlives a crashed till); the test scripts what it does next with
:meth:`ModelDevice.next`. Devices are found by their link URL, which is never opened.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from posdriver.links import Link
from posdriver.money import Money
from posdriver.terminal import registry
from posdriver.terminal.base import Accepted, PaymentTerminal, Progress
from posdriver.terminal.options import TerminalOptions
from posdriver.terminal.outcomes import (
    Aborted,
    Approved,
    CardInfo,
    Declined,
    DoubtStage,
    InDoubt,
    LastTransaction,
    Outcome,
    TerminalNotReached,
    TerminalState,
)
from posdriver.terminal.protocol import Capability, Protocol

# what the device does with the next money command
APPROVE = "approve"
DECLINE = "decline"
HOST_DOWN = "host_down"  # it cannot reach its acquirer: aborted, nothing charged
SWITCHED_OFF = "switched_off"  # never reached
# the answer is lost at a stage; whether money moved is the device's own business
LOSE_AFTER_ACCEPT = "lose_after_accept"  # accepted, then nothing: not charged
LOSE_AFTER_STATUS = "lose_after_status"  # charged, unacknowledged, so reversed
LOSE_BEFORE_COMPLETION = "lose_before_completion"  # charged, and it stands

_ports = itertools.count(30000)


@dataclass
class Entry:
    """One transaction on the device's own record."""

    kind: str
    amount: Money | None
    reference: str
    # charged | refunded (stand), reversal (a reversal that went through), reversed (a
    # payment undone by one), auto_reversed (unacknowledged), declined
    state: str
    at: datetime
    target: str | None = None  # the reference a reversal undid


@dataclass
class ModelDevice:
    """The terminal: its ledger, its counters and what it will do next."""

    url: str
    repeat_receipt: bool = True
    ledger: list[Entry] = field(default_factory=list)
    script: list[str] = field(default_factory=list)
    _numbers: Any = field(default_factory=lambda: itertools.count(1))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next(self, *behaviours: str) -> None:
        """What the next money commands do, in order (then: approve)."""
        self.script.extend(behaviours)

    def take(self) -> str:
        return self.script.pop(0) if self.script else APPROVE

    def charged(self) -> list[Entry]:
        return [e for e in self.ledger if e.state == "charged"]

    def book(self, kind: str, amount: Money | None, state: str, target: str | None = None) -> Entry:
        entry = Entry(kind, amount, f"M{next(self._numbers):05d}", state, datetime.now(), target)
        self.ledger.append(entry)
        return entry


_devices: dict[str, ModelDevice] = {}


def new_device(*, repeat_receipt: bool = True) -> ModelDevice:
    """A fresh device and the URL a config names it by."""
    url = f"tcp://127.0.0.1:{next(_ports)}"
    device = ModelDevice(url, repeat_receipt=repeat_receipt)
    _devices[url] = device
    return device


class ModelOptions(TerminalOptions):
    """The model protocol's keys in a terminal's table: none."""


class ModelTerminal(PaymentTerminal):
    """A driver for one :class:`ModelDevice`."""

    protocol = "model"

    def __init__(self, device: ModelDevice, currency: str) -> None:
        self.device = device
        self.currency = currency
        self.is_open = False
        self.capabilities = frozenset(  # type: ignore[misc]
            {Capability.REPEAT_RECEIPT} if device.repeat_receipt else set()
        )

    def open(self) -> ModelTerminal:
        if self.device.script[:1] == [SWITCHED_OFF]:
            self.device.script.pop(0)
            raise TerminalNotReached(f"{self.device.url}: no answer (switched off)")
        self.is_open = True
        return self

    def close(self) -> None:
        self.is_open = False

    # -- money -------------------------------------------------------------------------
    def sale(
        self,
        amount: Money,
        *,
        progress: Progress | None = None,
        on_accepted: Accepted | None = None,
    ) -> Outcome:
        return self._money("sale", amount, None, progress, on_accepted)

    def refund(
        self,
        amount: Money,
        *,
        progress: Progress | None = None,
        on_accepted: Accepted | None = None,
    ) -> Outcome:
        return self._money("refund", amount, None, progress, on_accepted)

    def reverse(
        self,
        reference: str,
        *,
        progress: Progress | None = None,
        on_accepted: Accepted | None = None,
    ) -> Outcome:
        return self._money("reversal", None, reference, progress, on_accepted)

    def _money(
        self,
        kind: str,
        amount: Money | None,
        target: str | None,
        progress: Progress | None,
        on_accepted: Accepted | None,
    ) -> Outcome:
        device = self.device
        with device.lock:
            what = device.take()
            if what == SWITCHED_OFF:
                raise TerminalNotReached(f"{device.url}: no answer (switched off)")
            if on_accepted is not None:
                on_accepted()
            if progress is not None:
                progress("present card")
            if what == HOST_DOWN:
                return Aborted("no connection to the card host", 0x01, host_unreachable=True)
            if what == LOSE_AFTER_ACCEPT:
                return InDoubt(amount, "the model lost its answer", DoubtStage.AFTER_ACCEPT)
            if what == DECLINE:
                entry = device.book(kind, amount, "declined", target)
                return Declined(
                    amount, 0x05, "declined", receipt_no=_number(entry), reference=entry.reference
                )
            if kind == "reversal":
                return self._reversal(target)
            state = {"sale": "charged", "refund": "refunded"}[kind]
            entry = device.book(kind, amount, state)
            if what == LOSE_AFTER_STATUS:
                entry.state = "auto_reversed"
                return InDoubt(
                    amount,
                    "unacknowledged",
                    DoubtStage.AFTER_STATUS,
                    receipt_no=_number(entry),
                    reference=entry.reference,
                )
            if what == LOSE_BEFORE_COMPLETION:
                return InDoubt(
                    amount,
                    "no completion",
                    DoubtStage.BEFORE_COMPLETION,
                    receipt_no=_number(entry),
                    reference=entry.reference,
                )
            return self._approved(entry)

    def _reversal(self, target: str | None) -> Outcome:
        device = self.device
        found = [e for e in device.ledger if e.reference == target and e.state == "charged"]
        if not found:
            return Declined(None, 0x64, "no such transaction", detail=f"reference {target}")
        found[0].state = "reversed"
        entry = device.book("reversal", found[0].amount, "reversal", target)
        return self._approved(entry)

    def _approved(self, entry: Entry) -> Approved:
        return Approved(
            amount=entry.amount,
            trace=_number(entry),
            receipt_no=_number(entry),
            approval_code=f"A{_number(entry):05d}",
            card=CardInfo("Model", "4242"),
            terminal_id="MODEL001",
            at=entry.at,
            receipt=(f"MODEL {entry.kind}", f"{entry.amount or ''}", f"ref {entry.reference}"),
            reference=entry.reference,
        )

    def abort(self) -> bool:
        return False

    # -- administration ----------------------------------------------------------------
    def status(self) -> TerminalState:
        return TerminalState(ready=True, code=0, text="ready", severity="ok")

    def last_transaction(self) -> LastTransaction | None:
        if not self.device.repeat_receipt:
            return super().last_transaction()
        if not self.device.ledger:
            return None
        entry = self.device.ledger[-1]
        stands = entry.state in ("charged", "refunded", "reversal")
        return LastTransaction(
            stands=stands,
            result_code=0 if stands else 0x05,
            meaning="stands" if stands else entry.state,
            amount=entry.amount,
            trace=_number(entry),
            receipt_no=_number(entry),
            approval_code=f"A{_number(entry):05d}" if stands else None,
            card=CardInfo("Model", "4242"),
            terminal_id="MODEL001",
            at=entry.at,
            receipt=(f"MODEL {entry.kind} (repeat)", f"{entry.amount or ''}"),
            reference=entry.reference,
        )


def _number(entry: Entry) -> int:
    return int(entry.reference[1:])


class ModelProtocol(Protocol):
    name = "model"
    description = "the contract suite's in-process terminal"
    options_model = ModelOptions
    capabilities = frozenset({Capability.REPEAT_RECEIPT})

    def make(
        self,
        link: Link,
        options: TerminalOptions,
        *,
        currency: str,
        progress: Progress | None = None,
    ) -> PaymentTerminal:
        return ModelTerminal(_devices[link.url], currency)


class MinimalProtocol(ModelProtocol):
    """The model without Repeat Receipt: recovery cannot ask it anything."""

    name = "model-minimal"
    capabilities = frozenset()


def install() -> None:
    """Make both model protocols known to the registry (tests undo it)."""
    registry.register(ModelProtocol())
    registry.register(MinimalProtocol())


def uninstall() -> None:
    registry.unregister("model")
    registry.unregister("model-minimal")
