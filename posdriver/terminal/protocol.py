"""What a terminal protocol brings to posdriver, besides its driver.

Everything above :mod:`posdriver.terminal` (the config loader, the cashier, recovery,
the daemon, the API, ``posdriver terminal``) reaches a protocol only through a
:class:`Protocol` from the :mod:`.registry`: how to build a driver for a configured
terminal, which keys of a ``[devices.NAME]`` table are the protocol's own (its options
model), what it can do (:class:`Capability`), and how a person writes one of its
transaction references. None of them names a protocol, so a second protocol is a new
package under ``posdriver/terminal/`` and one line in the registry.
"""

from __future__ import annotations

import abc
import argparse
import typing
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import PosdriverError

if TYPE_CHECKING:
    from ..links import Link
    from ..money import Money
    from .base import PaymentTerminal, Progress
    from .options import TerminalOptions
    from .outcomes import Outcome


class Capability(StrEnum):
    """What a terminal may or may not be able to do. The money operations every terminal
    has (sale, refund, reversal, status) are not listed; these are asked for, never
    assumed: the cashier refuses an operation its terminal lacks before anything is
    journaled, and recovery, the daemon and the API ask before they rely on one."""

    PRE_AUTHORISATION = "pre_authorisation"  # deposits: reserve, book, release
    REGISTRATION = "registration"  # the till introduces itself to the terminal
    REPEAT_RECEIPT = "repeat_receipt"  # the terminal tells its last transaction
    END_OF_DAY = "end_of_day"  # the terminal closes its batch and gives the totals
    DIAGNOSIS = "diagnosis"  # the terminal dials its acquirer on request
    INITIALISATION = "initialisation"  # the terminal fetches its set-up from the acquirer
    PARTIAL_ISSUE = "partial_issue"  # the till takes part of an approved amount, booked so


class Protocol(abc.ABC):
    """One terminal protocol (see the module docstring)."""

    name: ClassVar[str]
    description: ClassVar[str]  # for help texts: what kind of terminal speaks it
    capabilities: ClassVar[frozenset[Capability]]

    @property
    @abc.abstractmethod
    def options_model(self) -> type[TerminalOptions]:
        """The model of the protocol's keys in a terminal's table (a
        :class:`~.options.TerminalOptions`), imported when first asked for."""

    @abc.abstractmethod
    def make(
        self,
        link: Link,
        options: TerminalOptions,
        *,
        currency: str,
        progress: Progress | None = None,
    ) -> PaymentTerminal:
        """A driver for one terminal on ``link`` (not yet opened)."""

    def has(self, capability: Capability) -> bool:
        return capability in self.capabilities

    # -- ``posdriver terminal``, which talks to a terminal without a config file -------
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """The protocol's own options of ``posdriver terminal ACTION`` (none by default)."""
        return None

    def options_from_arguments(self, args: argparse.Namespace) -> TerminalOptions:
        """The options ``posdriver terminal`` was given; a ValueError names a bad one."""
        return self.options_model()

    def parse_reference(self, text: str) -> str:
        """A transaction reference as a person types it (``posdriver terminal reverse URL
        REF``), checked and in the form the driver takes; a ValueError says what is
        wrong. References are opaque to everything above the protocol."""
        if not text.strip():
            raise ValueError("a transaction reference must not be empty")
        return text.strip()


class CapabilityMissing(PosdriverError, ValueError):
    """A terminal was asked for something its protocol cannot do; nothing was sent. A
    ValueError, so the CLI and the API refuse it as they refuse any request they cannot
    carry out."""

    def __init__(self, terminal: str, protocol: str, capability: Capability) -> None:
        what = capability.value.replace("_", " ")
        super().__init__(f"terminal {terminal} ({protocol}) has no {what}; nothing was sent")
        self.capability = capability


@typing.runtime_checkable
class TakesPart(typing.Protocol):
    """A terminal whose sale can book part of the approved amount (the till could hand
    over only part of the goods): its protocol has :attr:`Capability.PARTIAL_ISSUE`."""

    def sale(self, amount: Money, *, partial: Money | None = None, **kwargs: Any) -> Outcome:
        """Charge ``amount``; with ``partial``, book only that much of it."""
