"""The payment-terminal interface the rest of posdriver uses, whatever the protocol.

A terminal is driven through :class:`PaymentTerminal`; ZVT is one implementation
(:class:`posdriver.terminal.zvt.ZvtTerminal`), and another protocol adds another. Nothing
here names a protocol's bytes or fields: amounts are :class:`~posdriver.money.Money`,
answers are the values of :mod:`.outcomes`, receipt numbers are plain integers.

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
from typing import Self

from ..money import Money
from .outcomes import (
    Connectivity,
    DayTotals,
    LastTransaction,
    Outcome,
    Registered,
    TerminalState,
)

Progress = Callable[[str], None]
# Called once, from the operation's thread, the moment the terminal accepts a money
# command: from then on a lost answer means the card may have been charged. The journal
# records SENT here. If it raises, the terminal is asked to abort the operation.
Accepted = Callable[[], None]


class PaymentTerminal(abc.ABC):
    """One payment terminal on one link."""

    protocol: str = ""

    # -- lifecycle ---------------------------------------------------------------------
    @abc.abstractmethod
    def open(self) -> Self:
        """Open the link; raises :class:`~.outcomes.TerminalNotReached` when it cannot."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the link. Safe to call twice."""

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- session -----------------------------------------------------------------------
    @abc.abstractmethod
    def register(self) -> Registered:
        """Introduce the till to the terminal (what it may send, how receipts come)."""

    @abc.abstractmethod
    def log_off(self) -> None:
        """End the till's session with the terminal."""

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
        receipt_no: int,
        *,
        progress: Progress | None = None,
        on_accepted: Accepted | None = None,
    ) -> Outcome:
        """Cancel the earlier payment with terminal receipt number ``receipt_no``."""

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
        receipt_no: int,
        amount: Money,
        *,
        progress: Progress | None = None,
        on_accepted: Accepted | None = None,
    ) -> Outcome:
        """Book part of reservation ``receipt_no`` and release the rest."""
        raise NotImplementedError(f"{self.protocol} terminals have no pre-authorisation")

    def book_total(
        self,
        receipt_no: int,
        amount: Money,
        *,
        progress: Progress | None = None,
        on_accepted: Accepted | None = None,
    ) -> Outcome:
        """Book reservation ``receipt_no`` with its final ``amount``."""
        raise NotImplementedError(f"{self.protocol} terminals have no pre-authorisation")

    def reverse_pre_auth(
        self,
        receipt_no: int,
        amount: Money | None = None,
        *,
        progress: Progress | None = None,
        on_accepted: Accepted | None = None,
    ) -> Outcome:
        """Release reservation ``receipt_no`` (all of it, or ``amount``)."""
        raise NotImplementedError(f"{self.protocol} terminals have no pre-authorisation")

    def open_pre_auths(self) -> tuple[int, ...]:
        """Receipt numbers of reservations the terminal still holds open."""
        raise NotImplementedError(f"{self.protocol} terminals have no pre-authorisation")

    @abc.abstractmethod
    def abort(self) -> bool:
        """Ask the terminal to cancel the running operation (from any thread).

        True when an abort request went to a running operation or the terminal accepted
        it; the running operation's own outcome says whether it was cancelled in time.
        """

    # -- administration ----------------------------------------------------------------
    @abc.abstractmethod
    def end_of_day(self, *, progress: Progress | None = None) -> DayTotals:
        """Close the batch and return the day's totals."""

    @abc.abstractmethod
    def last_transaction(self) -> LastTransaction | None:
        """The terminal's record of its last financial transaction, or None."""

    @abc.abstractmethod
    def status(self) -> TerminalState:
        """The terminal's state, read from the terminal itself."""

    @abc.abstractmethod
    def diagnosis(self) -> Connectivity:
        """Ask the terminal to contact its acquirer and say whether that worked."""

    def initialise(self) -> None:
        """Have the terminal fetch its configuration from the acquirer."""
        raise NotImplementedError(f"{self.protocol} terminals have no initialisation")
