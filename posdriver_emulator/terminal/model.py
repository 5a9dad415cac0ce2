"""The emulated ZVT payment terminal: state, its own worker thread, faults and timers.

Bytes from the transport reach :meth:`TerminalEmulator._receive` (under the device
lock) and go to the wire (:mod:`.wire`), which acknowledges frames at once and puts each
APDU into the inbox. One worker thread takes commands from the inbox and runs them
(:mod:`.commands`) as a :class:`~.session.Session`; every wait in a session releases the
lock, runs the wire's T1 timer and notices a lost link. A link is lost when the
transport drops the host (TCP client closed, pty torn down: ``discard_output``), when
power goes off, or when the terminal hangs up itself (``drop_*`` faults); each bumps the
link epoch and ends the running session, which reverses a payment whose status
information was not acknowledged.

Decisions where the specification leaves room (see also docs/emulator.md):

* The terminal starts unregistered; a power cycle (``power_off`` cleared) loses the
  registration, the config byte and the TLV permission.
* ``busy`` is the terminal's "receiver not ready" (84 A0 00 to every command), not the
  base device's "stops reading": a terminal's UART keeps reading.
* A new command arriving where the terminal waits for an answer means the ECR took master
  rights back: the running command ends (a pending payment is reversed) and the new
  command runs.
* Answers (80 xx / 84 xx) that arrive while the terminal is idle are counted and ignored.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ..device import WIRE_FAULTS, EmulatedDevice
from .cards import DEFAULT_CARDS, Card, Limits, numeric_currency
from .ledger import BATCH_CAPACITY, HISTORY, Entry, Ledger
from .session import LinkLost, SessionEnded
from .wire import WireTimers, make_wire
from .zvt.apdu import Apdu

log = logging.getLogger(__name__)

TERMINAL_FAULTS = (
    "power_off",
    "drop_before_accept",
    "drop_after_status",
    "drop_before_completion",
    "withhold_ack",
    "nak_storm",
    "bad_crc",
    "slow_host",
    "host_unreachable",
    "busy",
    "card_left",
    "init_required",
    *(f for f in WIRE_FAULTS if f not in ("power_off", "busy")),  # disconnect, garbage
)
LOG_OFF_CONFIG = 0x86  # the config byte after Log-Off (PA00P015 §2.3)


@dataclass
class TerminalConfig:
    """The terminal being emulated and its timers (seconds); defaults follow the spec."""

    password: str = "123456"
    currency: str = "EUR"
    terminal_id: str = "52500038"
    vu_number: str = "470067012345678"  # 15 characters (BMP 2A)
    software: str = "posdriver-emulator ZVT 1.0"
    merchant: str = "POSDRIVER TEST MERCHANT"
    t1: float = 0.2  # inter-byte gap within a frame before NAK
    t2: float = 5.0  # wait for ACK/NAK to a frame the terminal sent
    repeats: int = 2  # repeats of an unacknowledged frame
    answer_timeout: float = 5.0  # wait for the ECR's 80 00 00 to 04 FF, 06 D3, 06 0F...
    status_ack_timeout: float = 30.0  # commit rule, when the command has no BMP 01
    resend_delay: float = 2.0  # after "not yet" (84 9C)
    max_status_resends: int = 3  # when the command has no BMP 02
    host_delay: float = 0.0  # how long the acquirer normally takes
    slow_host_delay: float = 3.0  # how long it takes under the slow_host fault
    slow_host_interval: float = 0.5  # 04 FF cadence while waiting for the host
    relink_delay: float = 0.5  # a pty dropped by a drop_* fault comes back after this
    full_pan: bool = False  # send the whole PAN in BMP 22, as some terminals do
    card: str = "visa"
    cards: dict[str, Card] = field(default_factory=lambda: dict(DEFAULT_CARDS))
    limits: Limits = field(default_factory=Limits)
    batch_capacity: int = BATCH_CAPACITY  # transactions a batch holds before End-of-Day
    ledger_history: int = HISTORY  # ledger entries of closed batches kept

    def __post_init__(self) -> None:
        if len(self.password) != 6 or not self.password.isdigit():
            raise ValueError("the terminal password is six digits, such as 123456")
        if len(self.terminal_id) != 8 or not self.terminal_id.isdigit():
            raise ValueError("the terminal id (BMP 29) is eight digits")
        if self.card not in self.cards:
            raise ValueError(f"unknown card {self.card!r}; known: {', '.join(self.cards)}")
        numeric_currency(self.currency)  # refuses an unknown currency


class TerminalEmulator(EmulatedDevice):
    """A ZVT payment terminal; ``framing`` is ``"serial"`` (pty) or ``"tcp"``."""

    kind = "terminal"
    faults_supported = TERMINAL_FAULTS
    option_faults = ("slow_host",)  # faults that take a number of seconds

    def __init__(
        self,
        config: TerminalConfig | None = None,
        *,
        framing: str = "serial",
        seed: int | None = None,
    ) -> None:
        super().__init__(seed=seed)
        self.config = config or TerminalConfig()
        self.currency_code = numeric_currency(self.config.currency)
        self.framing = framing
        self.wire = make_wire(
            framing,
            self,
            WireTimers(self.config.t1, self.config.t2, self.config.repeats),
        )
        self.inbox: deque[tuple[int, Apdu]] = deque()  # (link epoch, APDU) from the ECR
        self.ledger_book = Ledger(self.config.batch_capacity, self.config.ledger_history)
        self.cards: dict[str, Card] = dict(self.config.cards)
        self.card_name = self.config.card
        self.slow_host_delay = self.config.slow_host_delay
        self.epoch = 0  # bumped whenever the link to the ECR is lost
        self._session_epoch = 0
        self._muted = False  # after a hang-up request, until the old link is gone
        self.trace = 0
        self.receipt_no = 0
        self.turnover = 0
        self.refund_day = date.today().isoformat()
        self.phase = "idle"
        self._reset_registration()
        self._stopping = False
        self._worker: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        with self.lock:
            if self._worker is not None:
                return
            self._stopping = False
            self._worker = threading.Thread(target=self._run, name="terminal-worker", daemon=True)
            self._worker.start()

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.join(timeout=5)

    # -- public surface ----------------------------------------------------------------------
    def ledger(self) -> list[dict[str, Any]]:
        """The transactions the terminal keeps (the open batch whole, the newest of closed
        ones), oldest first (see :mod:`.ledger`)."""
        with self.lock:
            return self.ledger_book.public()

    def select_card(self, name: str, **definition: Any) -> Card:
        """Choose the card the next transactions use (sticky); with ``definition``
        (pan, brand, card_type, expiry, result...) define or change it first."""
        types = {"pan": str, "brand": str, "expiry": str, "card_type": int, "result": int}
        for key, value in definition.items():
            wanted = types.get(key)
            if wanted is None:
                raise ValueError(f"unknown card field {key!r}; allowed: {', '.join(types)}")
            if not isinstance(value, wanted) or isinstance(value, bool):
                raise ValueError(f"card field {key!r} must be {wanted.__name__}, got {value!r}")
        with self._changed:
            if definition:
                base = self.cards.get(name) or DEFAULT_CARDS["visa"].with_changes(name=name)
                self.cards[name] = base.with_changes(**definition)
            if name not in self.cards:
                raise KeyError(f"unknown card {name!r}; known: {', '.join(sorted(self.cards))}")
            self.card_name = name
            self._changed.notify_all()
            return self.cards[name]

    @property
    def card(self) -> Card:
        return self.cards[self.card_name]

    def set_fault_option(self, name: str, seconds: float) -> None:
        """The number a fault takes: ``slow_host`` -> how long the host takes."""
        if name not in self.option_faults:
            raise ValueError(f"fault {name!r} takes no value; only {', '.join(self.option_faults)}")
        if not 0 <= seconds <= 3600:
            raise ValueError(f"{name} seconds must be between 0 and 3600, got {seconds}")
        with self.lock:
            self.slow_host_delay = float(seconds)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no command runs and none is queued; False at the deadline."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.phase != "idle" or self.inbox:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def wait_for(self, predicate: Callable[[TerminalEmulator], bool], timeout: float) -> bool:
        """Wait until ``predicate(self)`` holds (evaluated under the lock)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    @property
    def reading(self) -> bool:
        return True  # busy is 84 A0 00 here; the UART never stops reading

    def state(self) -> dict[str, object]:
        with self.lock:
            state = super().state()
            state.update(
                framing=self.framing,
                registered=self.registered,
                config_byte=self.ecr_config,
                tlv_allowed=self.tlv_allowed,
                currency=self.config.currency,
                terminal_id=self.config.terminal_id,
                phase=self.phase,
                card=self.card.describe(),
                cards=sorted(self.cards),
                trace=self.trace,
                receipt_no=self.receipt_no,
                batch=self.ledger_book.batch,
                ledger_entries=len(self.ledger_book),
                batch_entries=self.ledger_book.open_entries,
                batch_capacity=self.ledger_book.capacity,
                open_pre_auths=[e.receipt_no for e in self.ledger_book.open_pre_auths()],
                slow_host_seconds=self.slow_host_delay,
                limits={
                    "max_transaction": self.config.limits.max_transaction,
                    "max_refund": self.config.limits.max_refund,
                    "daily_refund_cap": self.config.limits.daily_refund_cap,
                    "refunded_today": self.ledger_book.refunded_today(date.today().isoformat()),
                },
            )
            return state

    # -- the wire's host ----------------------------------------------------------------------
    def _receive(self, data: bytes, overflow: bool) -> int:
        self.wire.receive(data)
        self._changed.notify_all()
        return len(data)

    def deliver(self, apdu: Apdu) -> None:
        """A whole APDU from the ECR (called by the wire under the lock)."""
        if self._muted:
            self.counters["apdus_after_hangup"] += 1
            return
        self.inbox.append((self.epoch, apdu))
        self._changed.notify_all()

    def wait_until(self, predicate: Callable[[], bool], deadline: float) -> bool:
        """Wait (lock released) for ``predicate``; False at ``deadline``.

        Raises :class:`LinkLost` when the session's link went away meanwhile, unless the
        predicate already holds (an answer that arrived before the ECR hung up still
        counts). The wire's T1 timer runs while waiting.
        """
        while True:
            if predicate():
                return True
            if not self.link_alive():
                raise LinkLost("the link to the ECR went away")
            now = time.monotonic()
            if now >= deadline:
                return False
            wake = self.wire.service()
            until = deadline if wake is None else min(deadline, wake)
            self._changed.wait(max(0.0, until - now))

    def link_alive(self) -> bool:
        """The running session's link is still there (and the terminal still on)."""
        return not self._stopping and self.epoch == self._session_epoch and self.powered

    def session_answers(self) -> bool:
        """An answer or command from the running session's link is waiting."""
        return any(epoch == self._session_epoch for epoch, _ in self.inbox)

    def discard_output(self) -> int:
        """The host went away (socket closed, pty torn down): a new link epoch."""
        with self._changed:
            dropped = super().discard_output()
            self._link_lost()
            return dropped

    def _link_lost(self) -> None:
        # What the old link already delivered stays for the session that waits for it;
        # the worker drops it once that session is over.
        self.epoch += 1
        self._muted = False
        self.wire.reset()
        self.counters["links_lost"] += 1
        self._changed.notify_all()

    @property
    def muted(self) -> bool:
        return self._muted

    def mute(self) -> None:
        """Stop listening to this link (the terminal is hanging up)."""
        self._muted = True

    def drop_link(self) -> None:
        """Hang up on the ECR: stop listening to this link, and have the transport end it."""
        self._muted = True
        self.inbox.clear()
        self.counters["hangups"] += 1
        self.hang_up(self.config.relink_delay if self.framing == "serial" else 0.0)

    # -- faults and power ---------------------------------------------------------------------
    def _fault_changed(self, name: str, active: bool) -> None:
        if name == "power_off" and active:
            self._link_lost()

    def power_cycle(self) -> None:
        """Power back on: unregistered, default config, nothing half-received."""
        self._reset_registration()
        self._link_lost()

    def _reset_registration(self) -> None:
        self.registered = False
        self.ecr_config = LOG_OFF_CONFIG
        self.tlv_allowed = False
        self.permitted: set[tuple[int, int]] | None = None

    # -- numbering ------------------------------------------------------------------------------
    def next_numbers(self, receipt: bool = True) -> tuple[int, int]:
        """(trace, receipt number) for a new transaction; receipt 0 when it has none."""
        self.trace = self.trace % 999_999 + 1
        if not receipt:
            return self.trace, 0
        self.receipt_no = self.receipt_no % 9999 + 1
        return self.trace, self.receipt_no

    def next_turnover(self) -> int:
        self.turnover = self.turnover % 999_999 + 1
        return self.turnover

    def auto_reverse(self, entry: Entry, why: str) -> None:
        """The commit rule: undo ``entry`` (called under the lock)."""
        if entry.state == "auto_reversed" or entry.result_code != 0:
            return
        self.ledger_book.auto_reverse(entry)
        self.counters["auto_reversals"] += 1
        log.info("terminal auto-reversed trace %s: %s", entry.trace, why)
        self._changed.notify_all()

    def refunded_today(self) -> int:
        today = date.today().isoformat()
        return self.ledger_book.refunded_today(today)

    # -- the worker -----------------------------------------------------------------------------
    def _run(self) -> None:
        from .commands import run_command

        with self._changed:
            while not self._stopping:
                if not self.inbox:
                    wake = self.wire.service()
                    self._changed.wait(0.5 if wake is None else max(0.0, wake - time.monotonic()))
                    continue
                epoch, apdu = self.inbox.popleft()
                if epoch != self.epoch:
                    self.counters["stale_apdus_dropped"] += 1
                    continue
                self._session_epoch = self.epoch
                try:
                    run_command(self, apdu)
                except SessionEnded as exc:
                    self.counters["sessions_ended_early"] += 1
                    log.debug("terminal session ended early: %r", exc)
                except Exception:
                    self.counters["internal_errors"] += 1
                    log.exception("terminal failed on %s", apdu)
                finally:
                    self.phase = "idle"
                    self._changed.notify_all()
