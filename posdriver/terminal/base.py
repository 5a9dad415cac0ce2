"""The payment-terminal interface the rest of posdriver uses, whatever the protocol.

A terminal is driven through :class:`PaymentTerminal`; each protocol in the
:mod:`.registry` brings one implementation, and another protocol adds another. Nothing
here names a protocol's bytes or fields: amounts are :class:`~posdriver.money.Money`,
answers are the values of :mod:`.outcomes`, and a transaction is addressed by its
``reference``, a string only its protocol reads.

Rules every implementation keeps:

* **Money operations** (sale, refund, reverse and the deposit flow) return an
  :data:`~.outcomes.Outcome`. They raise only :class:`~.outcomes.TerminalNotReached`
  (or its :class:`~.outcomes.TerminalBusy`), and only when the terminal never accepted
  the command. Once it accepted, a failure is ``InDoubt``, never an exception, and the
  operation is never re-sent automatically.
* **Administrative operations** return their value; a command the terminal refused is
  :class:`~.outcomes.TerminalRefused`, one whose answer was lost is
  :class:`~.outcomes.TerminalLost`.
* One operation at a time per terminal: calls from several threads are serialised,
  except :meth:`PaymentTerminal.abort`, which reaches a running operation.
* ``progress`` callbacks receive the terminal's display texts ("insert card", "please
  wait") while an operation runs; an exception in a callback is logged, not raised.
* ``on_accepted`` (money operations) is called once when the terminal accepts the
  command, before any card is read; if it raises, the terminal is asked to abort.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from types import TracebackType
from typing import ClassVar, Self

from ..money import Money
from .outcomes import (
    Connectivity,
    DayTotals,
    LastTransaction,
    Outcome,
    Registered,
    TerminalState,
)
from .protocol import Capability

Progress = Callable[[str], None]
# Called once, from the operation's thread, the moment the terminal accepts a money
# command: from then on a lost answer means the card may have been charged. The journal
# records SENT here. If it raises, the terminal is asked to abort the operation.
Accepted = Callable[[], None]


class PaymentTerminal(abc.ABC):
    """One payment terminal on one link. ``capabilities`` say which of the operations
    that not every protocol has this one has (:class:`~.protocol.Capability`); the
    others raise :class:`NotImplementedError` and are never called by posdriver, which
    asks first."""

    protocol: str = ""
    capabilities: ClassVar[frozenset[Capability]] = frozenset()

    # -- lifecycle ---------------------------------------------------------------------
    @abc.abstractmethod
    def open(self) -> Self:
        """Open the link; raises :class:`~.outcomes.TerminalNotReached` when it cannot."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the link. Safe to call twice."""

    def link_counts(self) -> tuple[int, int]:
        """(link failures, reopenings of the link after one) since the terminal was
        made. A terminal that reopens its own link tells its owner so here: the daemon's
        worker never sees those losses, and ops count them (``posdriver_link_errors_total``,
        ``posdriver_reconnects_total``)."""
        return (0, 0)

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- session (Capability.REGISTRATION) ------------------------------------------------
    def register(self) -> Registered:
        """Introduce the till to the terminal (what it may send, how receipts come)."""
        raise NotImplementedError(f"{self.protocol} terminals have no registration")

    def log_off(self) -> None:
        """End the till's session with the terminal."""
        raise NotImplementedError(f"{self.protocol} terminals have no registration")

    # -- money -------------------------------------------------------------------------
    @abc.abstractmethod
    def sale(
        self,
        amount: Money,
        *,
        progress: Progress | None = None,
        on_accepted: Accepted | None = None,
    ) -> Outcome:
        """Charge ``amount`` to the card the guest presents."""

    @abc.abstractmethod
    def refund(
        self,
        amount: Money,
        *,
        progress: Progress | None = None,
        on_accepted: Accepted | None = None,
    ) -> Outcome:
        """Pay ``amount`` back to the card the guest presents."""

    @abc.abstractmethod
    def reverse(
        self,
        reference: str,
        *,
        progress: Progress | None = None,
        on_accepted: Accepted | None = None,
    ) -> Outcome:
        """Cancel the earlier payment the terminal knows as ``reference`` (an outcome's
        ``reference``: opaque above the protocol)."""

    def pre_authorise(
        self,
        amount: Money,
        *,
        progress: Progress | None = None,
        on_accepted: Accepted | None = None,
    ) -> Outcome:
        """Reserve ``amount`` on the card (a hotel deposit)."""
        raise NotImplementedError(f"{self.protocol} terminals have no pre-authorisation")

    def book(
        self,
        reference: str,
        amount: Money,
        *,
        progress: Progress | None = None,
        on_accepted: Accepted | None = None,
    ) -> Outcome:
        """Book part of reservation ``reference`` and release the rest."""
        raise NotImplementedError(f"{self.protocol} terminals have no pre-authorisation")

    def book_total(
        self,
        reference: str,
        amount: Money,
        *,
        progress: Progress | None = None,
        on_accepted: Accepted | None = None,
    ) -> Outcome:
        """Book reservation ``reference`` with its final ``amount``."""
        raise NotImplementedError(f"{self.protocol} terminals have no pre-authorisation")

    def reverse_pre_auth(
        self,
        reference: str,
        amount: Money | None = None,
        *,
        progress: Progress | None = None,
        on_accepted: Accepted | None = None,
    ) -> Outcome:
        """Release reservation ``reference`` (all of it, or ``amount``)."""
        raise NotImplementedError(f"{self.protocol} terminals have no pre-authorisation")

    def open_pre_auths(self) -> tuple[str, ...]:
        """References of the reservations the terminal still holds open."""
        raise NotImplementedError(f"{self.protocol} terminals have no pre-authorisation")

    @abc.abstractmethod
    def abort(self) -> bool:
        """Ask the terminal to cancel the running operation (from any thread).

        True when an abort request went to a running operation or the terminal accepted
        it; the running operation's own outcome says whether it was cancelled in time.
        """

    # -- administration ----------------------------------------------------------------
    def end_of_day(self, *, progress: Progress | None = None) -> DayTotals:
        """Close the batch and return the day's totals (Capability.END_OF_DAY)."""
        raise NotImplementedError(f"{self.protocol} terminals have no end-of-day")

    def last_transaction(self) -> LastTransaction | None:
        """The terminal's record of its last financial transaction, or None
        (Capability.REPEAT_RECEIPT)."""
        raise NotImplementedError(f"{self.protocol} terminals cannot repeat a receipt")

    @abc.abstractmethod
    def status(self) -> TerminalState:
        """The terminal's state, read from the terminal itself."""

    def diagnosis(self) -> Connectivity:
        """Ask the terminal to contact its acquirer and say whether that worked
        (Capability.DIAGNOSIS)."""
        raise NotImplementedError(f"{self.protocol} terminals have no diagnosis")

    def initialise(self) -> None:
        """Have the terminal fetch its configuration from the acquirer."""
        raise NotImplementedError(f"{self.protocol} terminals have no initialisation")
