"""What the rest of posdriver sees of its configuration: plain frozen dataclasses, checked
when the file was loaded (:mod:`.loading`), so no user of them validates anything again.
The file's own format is :mod:`.schema`; the two can change apart."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import PosdriverError
from ..money import Money
from ..terminal import registry

if TYPE_CHECKING:  # a protocol's options model is pydantic, loaded with a protocol
    from ..terminal.options import TerminalOptions

DEFAULT_CONFIG_PATH = Path("/etc/posdriver/posdriver.toml")
CONFIG_ENV = "POSDRIVER_CONFIG"
STATE_DIR_ENV = "POSDRIVER_STATE_DIR"
API_ENV = "POSDRIVER_API"  # the running daemon's address (HOST:PORT), as --api gives it
DEFAULT_CURRENCY = "EUR"
DEVICE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


def default_state_dir() -> Path:
    """Where the journal and print queue live when neither the file nor a flag says.

    ``POSDRIVER_STATE_DIR`` first; root (the daemon, a packaged install) uses the system
    location; a person trying posdriver as themselves gets a directory they can write.
    """
    env = os.environ.get(STATE_DIR_ENV)
    if env:
        return Path(env).expanduser()
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/lib/posdriver")
    xdg = os.environ.get("XDG_STATE_HOME")
    if xdg and Path(xdg).is_absolute():  # the XDG spec says to ignore relative values
        return Path(xdg) / "posdriver"
    return Path.home() / ".local" / "state" / "posdriver"


def state_dir_fault(value: str) -> str | None:
    """What is wrong with ``state_dir`` as the file writes it (None: nothing)."""
    if not value.strip():
        return "is empty; write an absolute directory path"
    if not Path(value).expanduser().is_absolute():
        return f"{value!r} is relative; write an absolute directory path"
    return None


def currency_code(text: str) -> str:
    """An ISO 4217 code as a file may write it (any case, spaces around), checked;
    :class:`~posdriver.money.AmountError` says what is wrong. The default needs no
    look-up in the ISO table (its import is a command's start-up)."""
    code = text.strip().upper()
    if code != DEFAULT_CURRENCY:
        Money(0, code).numeric_code  # noqa: B018 -- looked up only to check the code
    return code


class ConfigError(PosdriverError):
    """The configuration cannot be used; each line names the file, the key and the fault.

    ``problems`` holds the same lines one by one, for callers that list them (``--json``).
    """

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[str, ...] = tuple(problems) or (message,)


@dataclass(frozen=True)
class TerminalConfig:
    """A payment terminal. ``options`` are its protocol's own settings (the protocol's
    options model, as the file gave them); left out, the protocol's defaults."""

    name: str
    url: str
    protocol: str = registry.DEFAULT
    options: TerminalOptions | None = None
    currency: str = DEFAULT_CURRENCY
    refund_limit: Money | None = None
    standby: str | None = None
    printer: str | None = None
    # the daemon's schedule for this terminal; None: the [service] default
    poll_interval: float | None = None
    connectivity_interval: float | None = None
    connectivity_retry_interval: float | None = None
    check_attempts: int | None = None

    def __post_init__(self) -> None:
        if self.options is None:  # the protocol's defaults, so equal configs compare equal
            object.__setattr__(self, "options", registry.get(self.protocol).options_model())

    @property
    def settings(self) -> TerminalOptions:
        """The protocol's options (never None once made)."""
        assert self.options is not None
        return self.options


@dataclass(frozen=True)
class PrinterConfig:
    """An ESC/POS receipt printer; ``profile`` is the python-escpos capability profile."""

    name: str
    url: str
    profile: str = "TM-T88V"
    poll_interval: float | None = None  # the daemon's status poll; None: [service] default


@dataclass(frozen=True)
class ReceiptConfig:
    language: str = "en"
    header: tuple[str, ...] = ()
    footer: tuple[str, ...] = ()
    merchant_copy: bool = False
    columns: int = 42


@dataclass(frozen=True)
class RefundConfig:
    daily_cap: Money | None = None
    max_split_parts: int = 5


@dataclass(frozen=True)
class PrintPolicy:
    """Retry policy of the receipt spooler; all times in seconds."""

    attempts: int = 5
    wait_initial: float = 0.5
    wait_max: float = 10.0
    jitter: float = 0.5
    ready_timeout: float = 30.0


@dataclass(frozen=True)
class Address:
    """A ``HOST:PORT`` to listen on."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def loopback(self) -> bool:
        """Reachable from this machine only: an IPv4 address in 127.0.0.0/8, ``::1``, or
        the name ``localhost``. Any other name is whatever DNS makes of it, however it
        begins (``127.evil.example`` is a name, not an address)."""
        if self.host.lower() == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


@dataclass(frozen=True)
class ServiceConfig:
    """The daemon: where it listens and how often it looks at the devices (seconds)."""

    api: Address = Address("127.0.0.1", 8470)
    metrics: Address = Address("127.0.0.1", 8471)
    token: str | None = None
    poll_interval: float = 2.0  # printer status
    terminal_poll_interval: float = 30.0  # terminal status enquiry
    connectivity_interval: float = 300.0  # terminal diagnosis (it dials the acquirer)
    # after a failed diagnosis: sooner, so a recovered acquirer shows soon
    connectivity_retry_interval: float = 60.0
    freshness: float = 15.0  # a status older than this is unknown
    reconnect_max: float = 30.0  # the longest wait between reconnect attempts
    check_attempts: int = 2
    # free space under the state directory below which the journal check warns / fails
    free_space_warning_mib: int = 200
    free_space_critical_mib: int = 20
    # each listener (API, metrics): a request must arrive whole within connection_timeout
    # of the connection waiting for it; at most max_connections are served at once
    connection_timeout: float = 10.0
    max_connections: int = 64

    def printer_poll(self, printer: PrinterConfig) -> float:
        return printer.poll_interval or self.poll_interval

    def terminal_poll(self, terminal: TerminalConfig) -> float:
        return terminal.poll_interval or self.terminal_poll_interval

    def connectivity(self, terminal: TerminalConfig) -> tuple[float, float]:
        """(interval, interval after a failed check) of a terminal's diagnosis."""
        every = terminal.connectivity_interval or self.connectivity_interval
        retry = terminal.connectivity_retry_interval or self.connectivity_retry_interval
        return every, min(every, retry)

    def attempts(self, terminal: TerminalConfig) -> int:
        return terminal.check_attempts or self.check_attempts

    def freshness_of(self, poll: float) -> float:
        """How long a device polled every ``poll`` seconds keeps its status valid: two
        polls and some slack, and never less than ``freshness``."""
        return max(self.freshness, 2 * poll + 5)


_ADDRESS = re.compile(r"^(?:\[(?P<v6>[0-9a-fA-F:]+)\]|(?P<host>[A-Za-z0-9.-]+)):(?P<port>\d{1,5})$")


def parse_address(text: str) -> Address:
    """``HOST:PORT`` (``[::1]:8470`` for IPv6); port 0 means any free port."""
    match = _ADDRESS.match(text.strip())
    if not match or int(match.group("port")) > 65535:
        raise ValueError(f"{text!r} is not HOST:PORT, such as 127.0.0.1:8470")
    return Address(match.group("v6") or match.group("host"), int(match.group("port")))


@dataclass(frozen=True)
class Config:
    """A loaded, fully checked configuration; ``source`` is None when no file was read.

    ``complete`` is False for what :func:`~.loading.load_config` read with
    ``journal_only``: only ``state_dir``, ``currency`` and ``[service]`` api and token came
    from the file; every other field is its default and no device is listed."""

    source: Path | None
    state_dir: Path
    currency: str
    receipt: ReceiptConfig
    refund: RefundConfig
    print: PrintPolicy
    terminals: tuple[TerminalConfig, ...]
    printers: tuple[PrinterConfig, ...]
    service: ServiceConfig = ServiceConfig()
    # things that do not stop it loading but a person should fix (``serve`` logs them,
    # ``config check`` prints them): a token that others can read
    warnings: tuple[str, ...] = ()
    complete: bool = True

    def terminal(self, name: str) -> TerminalConfig:
        """The terminal called ``name``; a wrong name is a ConfigError listing the real ones."""
        for terminal in self.terminals:
            if terminal.name == name:
                return terminal
        raise self._unknown(name, "terminal", [t.name for t in self.terminals])

    def printer(self, name: str) -> PrinterConfig:
        """The printer called ``name``; a wrong name is a ConfigError listing the real ones."""
        for printer in self.printers:
            if printer.name == name:
                return printer
        raise self._unknown(name, "printer", [p.name for p in self.printers])

    def failover_order(self, preferred: str | None = None) -> list[TerminalConfig]:
        """Terminals in the order a payment tries them.

        ``preferred`` (the first terminal when None) comes first, then its standby, that
        one's standby and so on, then every other terminal in file order; none twice, so
        mutual standbys (desk1 <-> desk2) are fine.
        """
        if not self.terminals:
            if preferred is not None:
                raise self._unknown(preferred, "terminal", [])
            return []
        current: TerminalConfig | None = (
            self.terminals[0] if preferred is None else self.terminal(preferred)
        )
        order: list[TerminalConfig] = []
        seen: set[str] = set()
        while current is not None and current.name not in seen:
            order.append(current)
            seen.add(current.name)
            current = self.terminal(current.standby) if current.standby else None
        order.extend(t for t in self.terminals if t.name not in seen)
        return order

    def printer_for(self, terminal_name: str) -> PrinterConfig | None:
        """Where ``terminal_name``'s receipts go: its own printer, else the first one."""
        terminal = self.terminal(terminal_name)
        if terminal.printer is not None:
            return self.printer(terminal.printer)
        return self.printers[0] if self.printers else None

    def _unknown(self, name: str, kind: str, known: list[str]) -> ConfigError:
        where = f"{self.source}: " if self.source else ""
        other = "printer" if kind == "terminal" else "terminal"
        others = self.printers if kind == "terminal" else self.terminals
        if any(device.name == name for device in others):
            message = f"{where}{name!r} is a {other}, not a {kind}"
        elif known:
            message = f"{where}no {kind} named {name!r}; configured {kind}s: {', '.join(known)}"
        else:
            message = f"{where}no {kind} named {name!r}; no {kind}s are configured"
        return ConfigError(message)
