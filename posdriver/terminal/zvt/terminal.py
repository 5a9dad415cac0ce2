"""A ZVT payment terminal behind the protocol-neutral :class:`PaymentTerminal` interface.

``ZvtTerminal(link)`` builds each command (:mod:`.messages`), runs it through one
:class:`~.exchange.Exchange` over the link's channel (framed serial or raw TCP), and
turns what the exchange saw into outcome values (:mod:`.results`):

=================================  ====================================================
the exchange saw                   the outcome
=================================  ====================================================
84 A0 / 84 9C before acceptance    :class:`TerminalBusy` (raised; nothing charged)
84 6B before acceptance            register once, then send the command once more
other 84 xx before acceptance      ``Aborted`` ("refused"), nothing charged
04 0F approved, 06 0F              ``Approved``
04 0F with a non-zero result       ``Declined`` (whatever followed)
04 0F acknowledged, then a 04 0F   ``InDoubt`` (``before_completion``): the results
with the other verdict             conflict; neither is believed
06 0F with no result or numbers    ``InDoubt`` (``completed_without_result``)
06 1E without a 04 0F              ``Aborted`` with the terminal's result code
link failure / silence after 80 00 ``InDoubt`` with the stage reached
=================================  ====================================================

The terminal owns its link: it opens it on first use and, after a link failure, closes
it so that the next operation opens it afresh (a new TCP connection, a reopened serial
port). One lock serialises the operations, so two threads never interleave on one link;
only :meth:`ZvtTerminal.abort` reaches into a running operation.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Self

from ...links import Link, LinkError
from ...money import Money
from ..base import Accepted, PaymentTerminal, Progress
from ..outcomes import (
    Aborted,
    Connectivity,
    DayTotals,
    LastTransaction,
    Outcome,
    Registered,
    TerminalLost,
    TerminalNotReached,
    TerminalRefused,
    TerminalState,
)
from . import results
from .apdu import Apdu
from .channel import (
    REPEATS_DEFAULT,
    T1_DEFAULT,
    T2_DEFAULT,
    Channel,
    ChannelStats,
    channel_for,
)
from .exchange import T3_DEFAULT, T4_DEFAULT, Exchange, ExchangeResult
from .messages import (
    DEFAULT_CONFIG,
    PRINT_LINE,
    PRINT_TEXT_BLOCK,
    REPEAT_SEND_STATUS,
    build,
    encode_password,
    permitted_commands,
)
from .protocol import PROTOCOL
from .status_info import currency_alpha, status_from_fields

log = logging.getLogger(__name__)

NOT_REGISTERED = 0x6B
# Registration completion status byte (19): what the terminal asks the till to do.
REGISTRATION_NEEDS = {
    0x01: "initialisation",
    0x02: "diagnosis",
    0x04: "OPT action",
}


@dataclass(frozen=True)
class ZvtTimeouts:
    """Transport (T1, T2, repeats) and application (T3, T4) timeouts, in seconds."""

    t1: float = T1_DEFAULT
    t2: float = T2_DEFAULT
    t3: float = T3_DEFAULT
    t4: float = T4_DEFAULT
    repeats: int = REPEATS_DEFAULT

    def __post_init__(self) -> None:
        for name in ("t1", "t2", "t3", "t4"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"timeout {name.upper()} must be positive, got {value!r}")
        if self.repeats < 0:
            raise ValueError(f"repeats must not be negative, got {self.repeats!r}")


class ZvtTerminal(PaymentTerminal):
    """A ZVT (PA00P015/PA00P016) terminal on a serial or TCP link."""

    protocol = "zvt"
    capabilities = PROTOCOL.capabilities

    def __init__(
        self,
        link: Link,
        *,
        password: str = "123456",
        config: int = DEFAULT_CONFIG,
        currency: str = "EUR",
        timeouts: ZvtTimeouts | None = None,
        text_blocks: bool = True,
        progress: Progress | None = None,
        transport: str | None = None,
        today: Callable[[], date] = date.today,
    ) -> None:
        encode_password(password)  # refuses a malformed password before anything is sent
        if not 0 <= config <= 0xFF:
            raise ValueError(f"the config byte is 0..255, got {config!r}")
        self.link = link
        self.password = password
        self.config = config
        self.currency = currency.strip().upper()
        self._currency_code = Money(0, self.currency).numeric_code
        self.timeouts = timeouts or ZvtTimeouts()
        self.text_blocks = text_blocks
        self.progress = progress
        self.transport = transport
        self.today = today
        self.stats = ChannelStats()
        self._channel: Channel | None = None
        self._lost = False  # the link failed and has not been opened again since
        self._lock = threading.RLock()
        self._state = threading.Lock()
        self._current: Exchange | None = None
        # Fail now, not at the first sale, on a link ZVT cannot run over.
        channel_for(link, transport=transport)

    def __repr__(self) -> str:
        return f"<ZvtTerminal {self.link.url}>"

    # -- lifecycle ---------------------------------------------------------------------
    def open(self) -> Self:
        with self._lock:
            self._ready()
        return self

    def close(self) -> None:
        with self._lock:
            self._drop_link()

    def link_counts(self) -> tuple[int, int]:
        return self.stats.link_failures, self.stats.reopens

    def _ready(self) -> Channel:
        """The channel, opening the link (again) if needed. A connection the terminal
        closed since the last command is reopened once: nothing has been sent on it."""
        for attempt in (1, 2):
            if self._channel is None or not self.link.is_open:
                try:
                    self.link.open()
                except LinkError as exc:
                    if self._lost:  # each failed try to reopen it counts, as a worker's does
                        self.stats.link_failures += 1
                    raise TerminalNotReached(f"cannot open {self.link.url}: {exc}") from exc
                if self._lost:
                    self._lost = False
                    self.stats.reopens += 1
                t = self.timeouts
                self._channel = channel_for(
                    self.link,
                    t1=t.t1,
                    t2=t.t2,
                    repeats=t.repeats,
                    transport=self.transport,
                    stats=self.stats,
                )
            try:
                self._channel.flush_input()
                return self._channel
            except LinkError as exc:
                self._link_failed()
                if attempt == 2:
                    raise TerminalNotReached(f"{self.link.url}: {exc}") from exc
                log.info("link to the terminal was lost since the last command; reopening")
        raise AssertionError("unreachable")

    def _drop_link(self) -> None:
        self._channel = None
        self.link.close()

    def _link_failed(self) -> None:
        """The link failed under a command (or between two): closed, and counted once,
        however many commands then find it gone."""
        if not self._lost:
            self._lost = True
            self.stats.link_failures += 1
        self._drop_link()

    # -- running commands --------------------------------------------------------------
    def _run(
        self,
        apdu: Apdu,
        name: str,
        *,
        requires_completion: bool = True,
        progress: Progress | None = None,
        may_register: bool = True,
        on_accepted: Accepted | None = None,
        partial: int | None = None,
    ) -> ExchangeResult:
        channel = self._ready()
        t = self.timeouts
        exchange = Exchange(
            channel,
            t3=t.t3,
            t4=t.t4,
            progress=progress or self.progress,
            on_accepted=on_accepted,
            partial=partial,
        )
        with self._state:
            self._current = exchange
        try:
            result = exchange.run(apdu, name=name, requires_completion=requires_completion)
        except TerminalNotReached:
            self._link_failed()
            raise
        finally:
            with self._state:
                self._current = None
        if result.link_failed:
            self._link_failed()
        if result.refused == NOT_REGISTERED and may_register:
            log.info("%s: the terminal does not know this till; registering again", name)
            self._register()
            return self._run(
                apdu,
                name,
                requires_completion=requires_completion,
                progress=progress,
                may_register=False,
                on_accepted=on_accepted,
                partial=partial,
            )
        return result

    # -- session -----------------------------------------------------------------------
    def register(self) -> Registered:
        with self._lock:
            return self._register()

    def _register(self) -> Registered:
        allowed = [PRINT_LINE, PRINT_TEXT_BLOCK] if self.text_blocks else [PRINT_LINE]
        apdu = build(
            "registration",
            password=self.password,
            config=self.config,
            currency=self._currency_code,
            bmps={0x06: [permitted_commands(allowed)]},
        )
        result = self._run(apdu, "registration", may_register=False)
        results.require_completion(result, "registration")
        fields = results.completion_fields(result.completion)
        status = fields.get(0x19)
        needs = tuple(
            text
            for bit, text in REGISTRATION_NEEDS.items()
            if isinstance(status, int) and status & bit
        )
        info = status_from_fields(fields)
        registered = Registered(
            terminal_id=info.terminal_id,
            currency=currency_alpha(info.currency_code, self.currency)
            if info.currency_code
            else None,
            needs=needs,
        )
        log.info("registered with terminal %s", registered.terminal_id or "(id not given)")
        return registered

    def log_off(self) -> None:
        with self._lock:
            result = self._run(build("log_off"), "log-off", requires_completion=False)
            results.require_answer(result, "log-off")

    # -- money -------------------------------------------------------------------------
    def sale(
        self,
        amount: Money,
        *,
        progress: Progress | None = None,
        on_accepted: Accepted | None = None,
        partial: Money | None = None,
    ) -> Outcome:
        """``partial``: the till takes only this much of an approved ``amount`` (a vending
        point that could issue part of the goods); the terminal is told so in its answer
        to the result (84 9D) and books that, which is the approved amount returned."""
        apdu = build("authorisation", bmps=self._amount_fields(amount))
        part = None if partial is None else _partial_minor(amount, partial)
        return self._money("sale", apdu, amount, progress, on_accepted, partial=part)

    def refund(
        self,
        amount: Money,
        *,
        progress: Progress | None = None,
        on_accepted: Accepted | None = None,
    ) -> Outcome:
        apdu = build("refund", password=self.password, bmps=self._amount_fields(amount))
        return self._money("refund", apdu, amount, progress, on_accepted)

    def reverse(
        self,
        reference: str | int,
        *,
        progress: Progress | None = None,
        on_accepted: Accepted | None = None,
    ) -> Outcome:
        apdu = build("reversal", password=self.password, bmps={0x87: _receipt_no(reference)})
        return self._money("reversal", apdu, None, progress, on_accepted)

    def pre_authorise(
        self,
        amount: Money,
        *,
        progress: Progress | None = None,
        on_accepted: Accepted | None = None,
    ) -> Outcome:
        apdu = build("pre_authorisation", bmps=self._amount_fields(amount))
        return self._money("pre-authorisation", apdu, amount, progress, on_accepted)

    def book(
        self,
        reference: str | int,
        amount: Money,
        *,
        progress: Progress | None = None,
        on_accepted: Accepted | None = None,
    ) -> Outcome:
        bmps = {0x87: _receipt_no(reference), **self._amount_fields(amount)}
        apdu = build("partial_reversal", bmps=bmps)
        return self._money("booking", apdu, amount, progress, on_accepted)

    def book_total(
        self,
        reference: str | int,
        amount: Money,
        *,
        progress: Progress | None = None,
        on_accepted: Accepted | None = None,
    ) -> Outcome:
        bmps = {0x87: _receipt_no(reference), **self._amount_fields(amount)}
        apdu = build("book_total", bmps=bmps)
        return self._money("book total", apdu, amount, progress, on_accepted)

    def reverse_pre_auth(
        self,
        reference: str | int,
        amount: Money | None = None,
        *,
        progress: Progress | None = None,
        on_accepted: Accepted | None = None,
    ) -> Outcome:
        bmps: dict[int, Any] = {0x87: _receipt_no(reference)}
        bmps |= self._amount_fields(amount) if amount is not None else {}
        apdu = build("pre_auth_reversal", bmps=bmps)
        return self._money("pre-authorisation reversal", apdu, amount, progress, on_accepted)

    def _amount_fields(self, amount: Money) -> dict[int, Any]:
        if not isinstance(amount, Money) or amount.minor <= 0:
            raise ValueError(f"an amount must be a positive Money, got {amount!r}")
        return {0x04: amount.minor, 0x49: amount.numeric_code}

    def _money(
        self,
        name: str,
        apdu: Apdu,
        requested: Money | None,
        progress: Progress | None,
        on_accepted: Accepted | None,
        *,
        partial: int | None = None,
    ) -> Outcome:
        with self._lock:
            try:
                result = self._run(
                    apdu, name, progress=progress, on_accepted=on_accepted, partial=partial
                )
            except TerminalRefused as exc:  # the registration it needed was refused
                return Aborted(f"{name} not sent: {exc}", exc.result_code)
            except TerminalLost as exc:
                raise TerminalNotReached(f"{name} not sent: {exc}") from exc
            outcome = results.money_outcome(result, requested, name, self.currency, self.today())
        log.info("%s: %s", name, results.describe(outcome))
        return outcome

    # -- abort -------------------------------------------------------------------------
    def abort(self) -> bool:
        with self._state:
            current = self._current
        if current is not None:
            current.request_abort()
            return True
        with self._lock:
            result = self._run(build("abort"), "abort", requires_completion=False)
            return result.accepted and result.refused is None

    # -- administration ----------------------------------------------------------------
    def end_of_day(self, *, progress: Progress | None = None) -> DayTotals:
        with self._lock:
            apdu = build("end_of_day", password=self.password)
            result = self._run(apdu, "end of day", progress=progress)
            return results.day_totals(result, self.currency, self.today())

    def last_transaction(self) -> LastTransaction | None:
        with self._lock:
            apdu = build("repeat_receipt", password=self.password, bmps={0x03: REPEAT_SEND_STATUS})
            result = self._run(apdu, "repeat receipt")
            return results.last_transaction(result, self.currency, self.today())

    def status(self) -> TerminalState:
        with self._lock:
            apdu = build("status_enquiry", password=self.password)
            return results.terminal_state(self._run(apdu, "status enquiry"))

    def diagnosis(self) -> Connectivity:
        with self._lock:
            return results.connectivity(self._run(build("diagnosis"), "diagnosis"))

    def initialise(self) -> None:
        with self._lock:
            result = self._run(build("initialisation", password=self.password), "initialisation")
            results.require_completion(result, "initialisation")

    def open_pre_auths(self) -> tuple[str, ...]:
        with self._lock:
            apdu = build("partial_reversal", bmps={0x87: None})
            return results.open_pre_auths(self._run(apdu, "open pre-authorisation enquiry"))


def _partial_minor(amount: Money, partial: Money) -> int:
    """The part of ``amount`` a till takes, checked before anything is sent."""
    if not isinstance(partial, Money) or partial.currency != amount.currency:
        raise ValueError(f"a partial amount must be Money in {amount.currency}, got {partial!r}")
    if not 0 < partial.minor <= amount.minor:
        raise ValueError(
            f"a partial amount must be more than 0 and at most {amount}, got {partial}"
        )
    return partial.minor


def _receipt_no(reference: str | int) -> int:
    """A transaction reference as ZVT addresses it: its receipt number, 1..9999."""
    value: object = reference
    if isinstance(reference, str) and reference.isascii() and reference.isdigit():
        value = int(reference)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 9999:
        raise ValueError(f"a receipt number is 1..9999, got {reference!r}")
    return value
