"""Which configured terminals an operation goes to, and opening them one owner at a time.

A terminal is opened for one operation under its device lock (:mod:`posdriver.locks`),
so a CLI command and the daemon never both talk on one terminal's wire.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..locks import DeviceInUse, device_lock, operation_is_live
from ..terminal.base import PaymentTerminal
from ..terminal.protocol import Capability, CapabilityMissing

if TYPE_CHECKING:
    from ..config import Config, TerminalConfig

# Kept importable from here for one release: the spooler, the CLI and the daemon still
# import them from this module. New code imports them from posdriver.locks.
__all__ = [
    "DeviceInUse",
    "TerminalFactory",
    "able",
    "device_lock",
    "failover_targets",
    "make_terminal",
    "opened",
    "operation_is_live",
]

TerminalFactory = Callable[["TerminalConfig"], PaymentTerminal]


def make_terminal(cfg: TerminalConfig) -> PaymentTerminal:
    """A driver for a configured terminal (not yet opened), by its protocol."""
    from ..links import link_for_url
    from ..terminal import registry

    protocol = registry.get(cfg.protocol)
    return protocol.make(link_for_url(cfg.url), cfg.settings, currency=cfg.currency)


@contextlib.contextmanager
def opened(
    cfg: TerminalConfig,
    state_dir: Path,
    factory: TerminalFactory = make_terminal,
    *,
    on_start: Callable[[], None] | None = None,
) -> Iterator[PaymentTerminal]:
    """The configured terminal, locked and open, closed and released afterwards.
    ``on_start`` runs once the lock is held, before the link is opened."""
    with device_lock(state_dir, cfg.name):
        if on_start is not None:
            on_start()
        terminal = factory(cfg)
        try:
            terminal.open()
            yield terminal
        finally:
            terminal.close()


def failover_targets(config: Config, on: str | None, failover: bool) -> list[TerminalConfig]:
    """The terminals an operation tries, in order: ``on`` first (the preferred terminal
    when ``on`` is None, or names a terminal since removed from the config, as the
    terminal of an old sale may), then its standbys unless ``failover`` is off."""
    if on is not None and on not in {t.name for t in config.terminals}:
        # a sale made on a terminal since removed from the config: use the preferred one
        on = None
    order = config.failover_order(on)
    return order if failover else order[:1]


def able(targets: list[TerminalConfig], capability: Capability) -> list[TerminalConfig]:
    """The terminals of ``targets`` whose protocol can do ``capability`` (a standby
    that cannot is skipped); none: :class:`CapabilityMissing`, before anything is
    journaled."""
    from ..terminal import registry

    found = [t for t in targets if registry.get(t.protocol).has(capability)]
    if targets and not found:
        raise CapabilityMissing(targets[0].name, targets[0].protocol, capability)
    return found
