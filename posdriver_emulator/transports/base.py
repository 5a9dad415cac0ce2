"""Thread lifecycle shared by the transports."""

from __future__ import annotations

import abc
import logging
import threading
from collections.abc import Callable
from typing import Self

from ..device import EmulatedDevice
from ..pacing import Pacer

log = logging.getLogger(__name__)

POLL = 0.05  # how often idle loops look at the stop flag and the wire state


class Transport(abc.ABC):
    """Moves bytes between the host side of an OS interface and a device model."""

    def __init__(self, device: EmulatedDevice, baudrate: int | None = None) -> None:
        self.device = device
        self.baudrate = baudrate
        self.rx_pacer = Pacer(baudrate)
        self.tx_pacer = Pacer(baudrate)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._stuck: list[threading.Thread] = []  # loops that did not end when stopped
        self._ready = threading.Event()

    @property
    @abc.abstractmethod
    def url(self) -> str:
        """The link URL a driver opens to reach the device."""

    def start(self) -> Self:
        """Create the endpoint and return once a host can open it."""
        self._setup()
        for name, target in self._loops():
            thread = threading.Thread(
                target=self._guard(target), name=f"{self.device.kind}-{name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        self._ready.set()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._stuck = [thread for thread in self._threads if thread.is_alive()]
        self._threads.clear()
        self._teardown()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _paced_output(self, connected: Callable[[], bool]) -> bytes:
        """The device's next bytes for the host, after their wire time; ``b""`` if none.

        The caller re-reads its endpoint afterwards: the host may have gone while we
        waited, and bytes for a departed host are dropped, never sent to the next one.
        """
        if not connected():
            self.device.wait_for_wire_change(POLL)
            return b""
        queued = self.device.pending_output() > 0
        data = self.device.take_output(self.tx_pacer.chunk_size(), POLL)
        if data:
            self.tx_pacer.transmit(len(data), queued=queued)
        return data

    def _guard(self, loop: Callable[[], None]) -> Callable[[], None]:
        """Keep a loop alive through unexpected errors: an emulator must not die quietly."""

        def run() -> None:
            while not self._stop.is_set():
                try:
                    loop()
                    return
                except Exception:  # pragma: no cover - logged and restarted
                    log.exception("%s transport loop failed; restarting", self.device.kind)
                    self._stop.wait(POLL)

        return run

    @abc.abstractmethod
    def _setup(self) -> None: ...

    @abc.abstractmethod
    def _teardown(self) -> None: ...

    @abc.abstractmethod
    def _loops(self) -> list[tuple[str, Callable[[], None]]]: ...
