"""The emulator as posdriver finds it: through entry points, never by import.

posdriver does not import this package. ``pyproject.toml`` registers two entry points,
which is the only place that names this package's modules for posdriver:

* ``posdriver.usb_backends`` / ``emulated``:
  :class:`~posdriver_emulator.usb.backend.EmulatorBackend`, the pyusb backend a
  ``usb://...?emulator=HOST:PORT`` link is opened through;
* ``posdriver.emulators`` / ``emulated``: :data:`EMULATORS` below, which ``posdriver serve
  --emulate`` and ``posdriver demo`` start their emulated printer and terminal with.

Each device starts on a real OS interface and is returned once it can be opened, as
:class:`~posdriver_emulator.controller.Controller` does; ``describe()`` is the JSON line
``posdriver-emulator`` prints for it. The shapes posdriver relies on are written down on
its side, in ``posdriver.plugins``, and in docs/emulator.md.
"""

from __future__ import annotations

from typing import Any

from .controller import Controller


class EmulatedPrinter:
    """A started emulated printer, and the receipts it cut."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller

    @property
    def url(self) -> str:
        return self.controller.url

    @property
    def control_url(self) -> str | None:
        return self.controller.control_url

    def describe(self) -> dict[str, Any]:
        return self.controller.describe()

    def last_receipt(self, timeout: float) -> Any:
        """The newest receipt cut, once at least one was (``text``, ``png()``)."""
        device: Any = self.controller.device
        device.wait_for_receipts(1, timeout=timeout)
        if not device.receipts:
            raise TimeoutError(f"the emulated printer cut no receipt within {timeout:g} s")
        return device.receipts[-1]

    def stop(self) -> None:
        self.controller.stop()


class Emulators:
    """Starts the emulated devices posdriver asks for."""

    def printer(
        self, *, link: str = "pty", link_dir: str | None = None, baudrate: int | None = None
    ) -> EmulatedPrinter:
        """A TM-class receipt printer; ``baudrate`` paces its pty (none: unpaced)."""
        controller = Controller.printer(link=link, link_dir=link_dir, baudrate=baudrate)
        return EmulatedPrinter(controller.start())

    def terminal(self, *, link: str = "pty", link_dir: str | None = None) -> Controller:
        """A ZVT payment terminal with the specification's timers."""
        return Controller.terminal(link=link, link_dir=link_dir).start()


EMULATORS = Emulators()
