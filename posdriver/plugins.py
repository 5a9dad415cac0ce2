"""What posdriver finds by entry point instead of importing by name.

posdriver never imports the emulator: the emulator is a peer that plugs in through two
entry point groups (declared in its ``pyproject.toml``, read with
:mod:`importlib.metadata`), so the product runs, and its tests prove it runs, with no
emulator installed at all.

``posdriver.usb_backends``
    A pyusb backend factory, called with the ``(host, port)`` of a ``usb://`` URL's
    ``emulator=HOST:PORT`` option; :mod:`posdriver.links.usb` asks for the one named
    :data:`EMULATED`.
``posdriver.emulators``
    An object that starts emulated devices (:class:`Emulators`), which
    ``posdriver serve --emulate`` and ``posdriver demo`` use; the one named
    :data:`EMULATED` is asked for.

docs/emulator.md ("How posdriver finds the emulator") describes both for other plug-ins.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from .errors import PosdriverError

USB_BACKENDS = "posdriver.usb_backends"
EMULATORS = "posdriver.emulators"
EMULATED = "emulated"  # the name the emulator registers itself under in both groups


class PluginMissing(PosdriverError, LookupError):
    """No plug-in of that group and name is installed, or it cannot be imported."""


def load(
    group: str,
    name: str,
    *,
    entry_points: Callable[..., Iterable[Any]] = importlib.metadata.entry_points,
) -> Any:
    """The object entry point ``name`` of ``group`` names; :class:`PluginMissing` when
    there is none or its module does not import (a package removed, half installed)."""
    found = [ep for ep in entry_points(group=group) if ep.name == name]
    if not found:
        raise PluginMissing(f"no {group!r} entry point named {name!r} is installed")
    try:
        return found[0].load()
    except ImportError as exc:
        raise PluginMissing(
            f"the {group!r} entry point {name!r} ({found[0].value}) cannot be imported: {exc}"
        ) from exc


# -- what an emulators plug-in gives -------------------------------------------------------
class Receipt(Protocol):
    """A receipt the emulated printer cut: its text and a picture of it."""

    @property
    def text(self) -> str: ...

    def png(self) -> bytes: ...


class EmulatedDevice(Protocol):
    """A started emulated device; ``url`` is what :func:`posdriver.links.open_link` takes."""

    @property
    def url(self) -> str: ...

    @property
    def control_url(self) -> str | None: ...

    def describe(self) -> dict[str, Any]:
        """The JSON line to print for it (``device``, ``url``, ``control``)."""
        ...

    def stop(self) -> None: ...


class EmulatedPrinter(EmulatedDevice, Protocol):
    def last_receipt(self, timeout: float) -> Receipt:
        """The newest receipt cut, waiting up to ``timeout`` s for one; TimeoutError."""
        ...


class Emulators(Protocol):
    """Starts emulated devices; each returns only once its link can be opened."""

    def printer(
        self, *, link: str = "pty", link_dir: str | None = None, baudrate: int | None = None
    ) -> EmulatedPrinter: ...

    def terminal(self, *, link: str = "pty", link_dir: str | None = None) -> EmulatedDevice: ...


def emulators() -> Emulators:
    """The installed emulator; :class:`PluginMissing` with what to do when there is none."""
    try:
        found: Emulators = load(EMULATORS, EMULATED)
    except PluginMissing as exc:
        raise PluginMissing(
            f"no emulator is installed ({exc}); install posdriver together with its "
            "emulator, or configure real devices"
        ) from exc
    return found
