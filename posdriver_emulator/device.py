"""The part of an emulated device that transports see.

A transport (pty, TCP, USB) moves bytes between the host and an
:class:`EmulatedDevice`; the device decides what it does with them. Wire-level faults
live here because every device kind has them:

* ``power_off``: the device takes bytes and answers nothing (a pty or USB-serial port
  stays, a network printer's socket stays connected, a USB device leaves the bus).
  Switching power back on is a power cycle: the model starts from its reset state.
* ``busy``: the device stops reading, so the host's writes stall once the OS buffers
  are full.
* ``disconnect``: the pty, socket or USB device goes away, and comes back when the
  fault is cleared (a new pty number behind the same stable symlink; a new USB address).
* ``garbage``: noise on the line: bytes no command produced, before replies and as
  bursts.

A device can also end the current connection itself (:meth:`EmulatedDevice.hang_up`), as
a payment terminal that drops the line mid-transaction does; the endpoint stays.

Everything is guarded by one lock; transports block on :meth:`take_output` and
:meth:`wait_for_wire_change` with deadlines, never forever.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable

WIRE_FAULTS = ("power_off", "busy", "disconnect", "garbage")


class UnknownFault(ValueError):
    """A fault name that this device does not have."""


class EmulatedDevice:
    """Base class: output queue, wire state and wire faults."""

    kind = "device"
    faults_supported: tuple[str, ...] = WIRE_FAULTS

    def __init__(self, *, seed: int | None = None) -> None:
        self.lock = threading.RLock()
        self._changed = threading.Condition(self.lock)
        self._out = bytearray()
        self.active_faults: set[str] = set()
        self.attach_generation = 0
        self.counters: Counter[str] = Counter()
        self.rng = random.Random(seed)
        self._fault_listeners: list[Callable[[str, bool], None]] = []
        self.hangups_requested = 0
        self.hangups_done = 0
        self.hangup_down_for = 0.0

    # -- wire state transports read -----------------------------------------------------
    @property
    def powered(self) -> bool:
        return "power_off" not in self.active_faults

    @property
    def reading(self) -> bool:
        """False while busy: the transport must stop taking bytes from the host."""
        return "busy" not in self.active_faults

    @property
    def attached(self) -> bool:
        """False while disconnected: the transport tears its endpoint down."""
        return "disconnect" not in self.active_faults

    def attachment(self) -> tuple[bool, int]:
        """(attached, generation), read together: a fault change updates both at once."""
        with self.lock:
            return self.attached, self.attach_generation

    def wait_for_wire_change(self, timeout: float) -> None:
        with self._changed:
            self._changed.wait(timeout)

    # -- host -> device ---------------------------------------------------------------
    def accept(self, data: bytes, *, overflow: bool = False) -> int:
        """Offer bytes from the host; returns how many the device took.

        ``overflow=True`` is a serial line without flow control: the device must take
        every byte (what does not fit in its buffer is lost). Otherwise a full device
        takes fewer, and the transport holds the rest (TCP window, USB NAK).
        """
        with self.lock:
            if not data:
                return 0
            if not self.powered:
                self.counters["bytes_from_host"] += len(data)
                self.counters["bytes_lost_power_off"] += len(data)
                return len(data)
            if not self.reading:
                return 0
            taken = self._receive(data, overflow)
            # counted as taken: bytes a full device leaves with the transport (a TCP
            # window, a USB NAK) are offered again, and are not a second sending
            self.counters["bytes_from_host"] += taken
            return taken

    def _receive(self, data: bytes, overflow: bool) -> int:
        """Device-specific handling of host bytes; subclasses override."""
        raise NotImplementedError

    # -- device -> host -----------------------------------------------------------------
    def send(self, data: bytes) -> None:
        """Queue bytes for the host (a reply, a pushed status)."""
        with self._changed:
            if not self.powered or not data:
                return
            if "garbage" in self.active_faults:
                data = self.noise(self.rng.randint(1, 3)) + data
            self._out += data
            self._changed.notify_all()

    def noise(self, count: int) -> bytes:
        """Random bytes, including ones that look like valid replies (0x12, 0x10...)."""
        pool = (0x12, 0x10, 0x16, 0x1E, 0x00, 0x7E, 0x5F, 0xFF)
        return bytes(
            self.rng.choice(pool) if self.rng.random() < 0.5 else self.rng.randrange(256)
            for _ in range(count)
        )

    def take_output(self, max_bytes: int, timeout: float) -> bytes:
        """Up to ``max_bytes`` queued for the host, waiting up to ``timeout`` for some."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not self._out:
                left = deadline - time.monotonic()
                if left <= 0:
                    return b""
                self._changed.wait(left)
            chunk = bytes(self._out[:max_bytes])
            del self._out[:max_bytes]
            self.counters["bytes_to_host"] += len(chunk)
            return chunk

    def discard_output(self) -> int:
        """Drop what was queued for a host that has gone (closed socket, pulled cable).

        Without this, a reply meant for the old connection would reach the next one.
        """
        with self._changed:
            dropped = len(self._out)
            self._out.clear()
            self.counters["bytes_lost_disconnect"] += dropped
            return dropped

    def pending_output(self) -> int:
        with self.lock:
            return len(self._out)

    # -- device-requested hang-up -------------------------------------------------------
    def hang_up(self, down_for: float = 0.0) -> None:
        """End the current host connection from the device's side.

        Transports act on it once the output queued before it has gone out (and, on a pty,
        once the host has read it): TCP closes the client socket and keeps listening; a pty
        goes away and comes back after ``down_for`` seconds (a new pty behind the same
        symlink). Either way the host's link fails (EOF or EIO) instead of going silent.
        """
        with self._changed:
            self.hangups_requested += 1
            self.hangup_down_for = down_for
            self._changed.notify_all()

    def hangup_wanted(self) -> bool:
        with self.lock:
            return self.hangups_done != self.hangups_requested

    def hung_up(self) -> None:
        """Transports call this once a requested hang-up is done."""
        with self._changed:
            self.hangups_done = self.hangups_requested
            self._changed.notify_all()

    # -- lifecycle of a device's own threads ----------------------------------------------
    def start(self) -> None:
        """Start threads the model runs itself (timers); the controller calls it first."""

    def stop(self) -> None:
        """Stop and join those threads; the controller calls it after the transport stops."""

    # -- faults -----------------------------------------------------------------------
    def set_fault(self, name: str, active: bool) -> None:
        """Switch a fault on or off; raises :class:`UnknownFault` for a bad name."""
        if name not in self.faults_supported:
            raise UnknownFault(
                f"unknown fault {name!r}; this {self.kind} has: " + ", ".join(self.faults_supported)
            )
        with self._changed:
            was = name in self.active_faults
            if active == was:
                return
            if active:
                self.active_faults.add(name)
            else:
                self.active_faults.discard(name)
            if name == "power_off":
                self._out.clear()
                if not active:
                    self.power_cycle()
            elif name == "disconnect" and not active:
                self.attach_generation += 1
            elif name == "garbage" and active:
                self._out += self.noise(self.rng.randint(4, 16))
            self._fault_changed(name, active)
            self._changed.notify_all()
        for listener in list(self._fault_listeners):
            listener(name, active)

    def on_fault_change(self, listener: Callable[[str, bool], None]) -> None:
        self._fault_listeners.append(listener)

    def _fault_changed(self, name: str, active: bool) -> None:
        """Hook for device faults and for reacting to wire faults; called under lock."""

    def power_cycle(self) -> None:
        """Return to the power-on state; called under lock when power comes back."""

    def state(self) -> dict[str, object]:
        """What ``GET /state`` shows; subclasses extend it."""
        with self.lock:
            return {
                "device": self.kind,
                "faults": sorted(self.active_faults),
                "powered": self.powered,
                "attached": self.attached,
                "reading": self.reading,
                "counters": dict(self.counters),
            }


class EchoDevice(EmulatedDevice):
    """Sends back what it receives; the peer for the link contract tests."""

    kind = "echo"

    def __init__(self, *, buffer_size: int = 1 << 20, seed: int | None = None) -> None:
        super().__init__(seed=seed)
        self.buffer_size = buffer_size

    def _receive(self, data: bytes, overflow: bool) -> int:
        room = self.buffer_size - self.pending_output()
        take = len(data) if overflow else max(0, min(len(data), room))
        self.send(data[:take])
        return take
