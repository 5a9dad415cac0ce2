"""The posdriver configuration file: which devices stand at the desk and how to use them.

One small TOML file (``/etc/posdriver/posdriver.toml`` unless ``POSDRIVER_CONFIG`` or
``--config`` names another) describes the terminals and printers, receipt texts, refund
caps and the print retry policy. The CLI reads it on every command and the daemon at
start, so every mistake in it is found when it is loaded, before any device is touched,
and reported as one :class:`ConfigError` whose lines each name the file, the key and what
is wrong::

    /etc/posdriver/posdriver.toml: devices.desk1.url: ftp://x: unknown scheme 'ftp'; ...

Checking happens in two passes. pydantic checks the shape: types, ranges, required keys
and unknown keys (a misspelt key must not silently fall back to a default). Then the
checks that need the whole file run: link URLs (through :func:`posdriver.links.link_for_url`,
the same parser that opens them), amounts in the right currency, and device references.

What the rest of the code sees is plain frozen dataclasses (:class:`Config` and friends),
not the pydantic models, so the file format can change without touching its users.
"""

from __future__ import annotations

import difflib
import grp
import ipaddress
import os
import re
import stat
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .links import LinkURLError, link_for_url
from .money import AmountError, Money

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "Config",
    "ConfigError",
    "PrintPolicy",
    "PrinterConfig",
    "ReceiptConfig",
    "RefundConfig",
    "TerminalConfig",
    "default_state_dir",
    "load_config",
    "with_overrides",
]

DEFAULT_CONFIG_PATH = Path("/etc/posdriver/posdriver.toml")
CONFIG_ENV = "POSDRIVER_CONFIG"
STATE_DIR_ENV = "POSDRIVER_STATE_DIR"
DEFAULT_CURRENCY = "EUR"
DEFAULT_PASSWORD = "123456"  # the ZVT factory default, as `posdriver terminal` assumes
DEVICE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_PASSWORD = re.compile(r"[0-9]{6}")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class ConfigError(Exception):
    """The configuration cannot be used; each line names the file, the key and the fault.

    ``problems`` holds the same lines one by one, for callers that list them (``--json``).
    """

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[str, ...] = tuple(problems) or (message,)


# -- what the rest of posdriver sees ----------------------------------------------------


@dataclass(frozen=True)
class TerminalConfig:
    """A payment terminal; ``None`` timeouts mean the protocol's defaults."""

    name: str
    url: str
    protocol: str = "zvt"
    password: str = DEFAULT_PASSWORD
    currency: str = DEFAULT_CURRENCY
    refund_limit: Money | None = None
    standby: str | None = None
    printer: str | None = None
    timeout_t3: float | None = None
    timeout_t4: float | None = None
    # the daemon's schedule for this terminal; None: the [service] default
    poll_interval: float | None = None
    connectivity_interval: float | None = None
    connectivity_retry_interval: float | None = None
    check_attempts: int | None = None


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
    """A loaded, fully checked configuration; ``source`` is None when no file was read."""

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


# -- the file format (pydantic) ---------------------------------------------------------
#
# Strict: TOML already has types, so "42" for a number or 1 for a boolean is a mistake to
# report, not a value to coerce. Floats still accept integers (`wait_max = 10`).

_STRICT = ConfigDict(strict=True, extra="forbid")


class _ReceiptModel(BaseModel):
    model_config = _STRICT
    language: Literal["en", "zh", "en+zh"] = "en"
    header: list[str] = []
    footer: list[str] = []
    merchant_copy: bool = False
    columns: int = Field(default=42, ge=1, le=80)


class _RefundModel(BaseModel):
    model_config = _STRICT
    daily_cap: Any = None  # an amount: checked in pass two, in the top-level currency
    max_split_parts: int = Field(default=5, ge=1, le=20)


class _PrintModel(BaseModel):
    model_config = _STRICT
    attempts: int = Field(default=5, ge=1, le=100)
    # Every time and count has an upper bound too: an unbounded one (1e12) passed the
    # check and then overflowed the first sleep or socket timeout that used it.
    wait_initial: float = Field(default=0.5, gt=0, le=60, allow_inf_nan=False)
    wait_max: float = Field(default=10.0, gt=0, le=600, allow_inf_nan=False)
    jitter: float = Field(default=0.5, ge=0, le=60, allow_inf_nan=False)
    ready_timeout: float = Field(default=30.0, ge=0, le=600, allow_inf_nan=False)


class _ServiceModel(BaseModel):
    model_config = _STRICT
    api: str = "127.0.0.1:8470"
    metrics: str = "127.0.0.1:8471"
    token: str | None = Field(default=None, min_length=16)
    poll_interval: float = Field(default=2.0, ge=0.1, le=3600, allow_inf_nan=False)
    terminal_poll_interval: float = Field(default=30.0, ge=1, le=3600, allow_inf_nan=False)
    connectivity_interval: float = Field(default=300.0, ge=10, le=86400, allow_inf_nan=False)
    connectivity_retry_interval: float = Field(default=60.0, ge=10, le=86400, allow_inf_nan=False)
    freshness: float | None = Field(default=None, gt=0, le=86400, allow_inf_nan=False)
    reconnect_max: float = Field(default=30.0, ge=0.1, le=3600, allow_inf_nan=False)
    check_attempts: int = Field(default=2, ge=1, le=10)
    free_space_warning_mib: int = Field(default=200, ge=0, le=100_000)
    free_space_critical_mib: int = Field(default=20, ge=0, le=100_000)
    connection_timeout: float = Field(default=10.0, ge=1, le=3600, allow_inf_nan=False)
    max_connections: int = Field(default=64, ge=1, le=1000)


class _DeviceModel(BaseModel):
    """Both kinds in one model, so a key of the other kind is reported as such."""

    model_config = _STRICT
    kind: Literal["terminal", "printer"]
    url: str
    # terminals
    protocol: Literal["zvt"] = "zvt"
    password: Any = DEFAULT_PASSWORD  # checked in pass two, with a hint for bare numbers
    currency: str | None = None
    refund_limit: Any = None  # an amount: checked in pass two, in the device's currency
    standby: str | None = None
    printer: str | None = None
    # T3 (the terminal accepts a command) is seconds in ZVT (5 s); T4 (its silence while
    # it works) is minutes at most (180 s): longer only hides a dead terminal from a guest
    timeout_t3: float | None = Field(default=None, gt=0, le=60, allow_inf_nan=False)
    timeout_t4: float | None = Field(default=None, gt=0, le=1800, allow_inf_nan=False)
    connectivity_interval: float | None = Field(default=None, ge=10, le=86400, allow_inf_nan=False)
    connectivity_retry_interval: float | None = Field(
        default=None, ge=10, le=86400, allow_inf_nan=False
    )
    check_attempts: int | None = Field(default=None, ge=1, le=10)
    # printers
    profile: str = "TM-T88V"
    # both: the status poll (printers: ge 0.1 as [service] poll_interval; terminals: ge 1,
    # checked in pass two)
    poll_interval: float | None = Field(default=None, ge=0.1, le=3600, allow_inf_nan=False)


_TERMINAL_KEYS = (
    "protocol",
    "password",
    "currency",
    "refund_limit",
    "standby",
    "printer",
    "timeout_t3",
    "timeout_t4",
    "connectivity_interval",
    "connectivity_retry_interval",
    "check_attempts",
)
_PRINTER_KEYS = ("profile",)


class _FileModel(BaseModel):
    model_config = _STRICT
    state_dir: str | None = None
    currency: str = DEFAULT_CURRENCY
    receipt: _ReceiptModel = _ReceiptModel()
    refund: _RefundModel = _RefundModel()
    print: _PrintModel = _PrintModel()
    service: _ServiceModel = _ServiceModel()
    devices: dict[str, _DeviceModel] = {}


_SECTIONS: dict[str, type[BaseModel]] = {
    "service": _ServiceModel,
    "receipt": _ReceiptModel,
    "refund": _RefundModel,
    "print": _PrintModel,
}


# -- loading ----------------------------------------------------------------------------


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


def load_config(path: str | Path | None = None) -> Config:
    """Read and check the configuration.

    ``path`` (``--config``) must exist. Without it, ``POSDRIVER_CONFIG`` names the file
    and must exist too (a typo there must not silently drop the configuration); without
    that, ``/etc/posdriver/posdriver.toml`` is read if present, else defaults apply.
    """
    if path is not None and str(path) != "":
        return _load_file(Path(path))
    env = os.environ.get(CONFIG_ENV)
    if env:
        return _load_file(Path(env), named_by=CONFIG_ENV)
    if DEFAULT_CONFIG_PATH.exists():
        return _load_file(DEFAULT_CONFIG_PATH)
    return _build({}, None)


def _load_file(path: Path, named_by: str | None = None) -> Config:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        by = f" (named by {named_by})" if named_by else ""
        raise ConfigError(f"{path}: config file not found{by}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")  # a BOM from a Windows editor is harmless
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}: line {line}: not UTF-8 text (byte {exc.start}); save the file as UTF-8"
        ) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_syntax_error(path, text, exc)) from None
    config = _build(raw, path)
    if config.service.token is not None:
        warning = _token_readable(path)
        if warning is not None:
            config = replace(config, warnings=(*config.warnings, warning))
    return config


# The group docs/install.md gives the file, so that the service (a dynamic user in it) and
# the staff who run commands can read it: a token readable by it is as intended.
SERVICE_GROUP = "posdriver"


def _token_readable(path: Path) -> str | None:
    """Whether others than the file's owner (and the service's group) can read the API
    token in it: with the token anyone can take payments through the API."""
    try:
        info = path.stat()
    except OSError:
        return None
    mode = stat.S_IMODE(info.st_mode)
    fix = f"chmod 600 {path}"
    if mode & 0o004:
        return (
            f"{path}: mode {mode:04o} lets every user of this machine read service.token; "
            f"{fix} (or 640 with group {SERVICE_GROUP}, as docs/install.md sets it up for "
            "the service)"
        )
    if mode & 0o040:
        group = _group_name(info.st_gid)
        if group != SERVICE_GROUP:
            return (
                f"{path}: mode {mode:04o} lets group {group} read service.token; {fix}, or "
                f"give the file group {SERVICE_GROUP} (docs/install.md)"
            )
    return None


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _syntax_error(path: Path, text: str, exc: tomllib.TOMLDecodeError) -> str:
    """``FILE: line L, column C: invalid TOML: WHAT``; Python 3.11 only has it in the text."""
    message = str(exc)
    line, column = getattr(exc, "lineno", None), getattr(exc, "colno", None)
    match = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if match:
        line, column = int(match.group(1)), int(match.group(2))
    elif message.endswith("(at end of document)"):
        lines = text.split("\n")
        line, column = len(lines), len(lines[-1]) + 1
    what = re.sub(r"\s*\(at [^)]*\)$", "", getattr(exc, "msg", message))
    return f"{path}: line {line}, column {column}: invalid TOML: {what}"


def _build(raw: dict[str, Any], source: Path | None) -> Config:
    """Both passes over parsed TOML; raises one ConfigError with every problem found."""
    where = str(source) if source is not None else "configuration"
    try:
        model = _FileModel.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{where}: {_key(err['loc'])}: {_explain(err)}" for err in exc.errors()]
        raise ConfigError("\n".join(problems), problems) from None
    checker = _Checker(where)
    config = checker.build(model, source)
    if checker.problems:
        raise ConfigError("\n".join(checker.problems), checker.problems)
    assert config is not None
    return config


class _Checker:
    """Pass two: everything that needs more than one key, collecting every problem."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.problems: list[str] = []

    def fail(self, key: Sequence[str | int], message: str) -> None:
        self.problems.append(f"{self.where}: {_key(key)}: {message}")

    def build(self, model: _FileModel, source: Path | None) -> Config | None:
        currency = self.currency(model.currency, ("currency",)) or DEFAULT_CURRENCY
        state_dir = self.state_dir(model.state_dir)
        receipt = model.receipt
        refund = RefundConfig(
            daily_cap=self.amount(model.refund.daily_cap, currency, ("refund", "daily_cap")),
            max_split_parts=model.refund.max_split_parts,
        )
        policy = model.print
        if policy.wait_max < policy.wait_initial:
            self.fail(
                ("print", "wait_max"),
                f"{policy.wait_max:g} is less than print.wait_initial ({policy.wait_initial:g})",
            )
        terminals, printers = self.devices(model.devices, currency)
        service = self.service(model.service)
        if self.problems or service is None:
            return None
        return Config(
            source=source,
            state_dir=state_dir,
            currency=currency,
            receipt=ReceiptConfig(
                language=receipt.language,
                header=tuple(receipt.header),
                footer=tuple(receipt.footer),
                merchant_copy=receipt.merchant_copy,
                columns=receipt.columns,
            ),
            refund=refund,
            print=PrintPolicy(
                attempts=policy.attempts,
                wait_initial=policy.wait_initial,
                wait_max=policy.wait_max,
                jitter=policy.jitter,
                ready_timeout=policy.ready_timeout,
            ),
            terminals=tuple(terminals),
            printers=tuple(printers),
            service=service,
        )

    def service(self, model: _ServiceModel) -> ServiceConfig | None:
        addresses: dict[str, Address] = {}
        for key in ("api", "metrics"):
            try:
                addresses[key] = parse_address(getattr(model, key))
            except ValueError as exc:
                self.fail(("service", key), str(exc))
        if len(addresses) < 2:
            return None
        if not addresses["api"].loopback and model.token is None:
            self.fail(
                ("service", "token"),
                f"the API listens on {addresses['api']}, beyond this machine: set a token "
                "(at least 16 characters) that callers send as 'Authorization: Bearer ...'",
            )
        freshness = model.freshness
        if freshness is None:
            freshness = max(15.0, 3 * model.poll_interval + 5)
        elif freshness <= model.poll_interval:
            self.fail(
                ("service", "freshness"),
                f"{freshness:g} s is not longer than service.poll_interval "
                f"({model.poll_interval:g} s): every status would be stale",
            )
        if model.free_space_critical_mib > model.free_space_warning_mib:
            self.fail(
                ("service", "free_space_critical_mib"),
                f"{model.free_space_critical_mib} MiB is more than "
                f"service.free_space_warning_mib ({model.free_space_warning_mib} MiB): the "
                "warning would never come first",
            )
        return ServiceConfig(
            api=addresses["api"],
            metrics=addresses["metrics"],
            token=model.token,
            poll_interval=model.poll_interval,
            terminal_poll_interval=model.terminal_poll_interval,
            connectivity_interval=model.connectivity_interval,
            connectivity_retry_interval=model.connectivity_retry_interval,
            freshness=freshness,
            reconnect_max=model.reconnect_max,
            check_attempts=model.check_attempts,
            free_space_warning_mib=model.free_space_warning_mib,
            free_space_critical_mib=model.free_space_critical_mib,
            connection_timeout=model.connection_timeout,
            max_connections=model.max_connections,
        )

    def state_dir(self, value: str | None) -> Path:
        if value is None:
            return default_state_dir()
        path = Path(value).expanduser()
        if not value.strip():
            self.fail(("state_dir",), "is empty; write an absolute directory path")
        elif not path.is_absolute():
            self.fail(("state_dir",), f"{value!r} is relative; write an absolute directory path")
        return path

    def currency(self, value: str, key: Sequence[str]) -> str | None:
        code = value.strip().upper()
        try:
            Money(0, code).numeric_code  # noqa: B018 -- looked up only to check the code
        except AmountError as exc:
            self.fail(key, str(exc))
            return None
        return code

    def amount(self, value: Any, currency: str, key: Sequence[str]) -> Money | None:
        """An amount written as a string ("200.00") or a whole number (200).

        A TOML float is refused: 0.1 + 0.2 style binary rounding has no place in a cap on
        money, and the quotes cost nothing.
        """
        if value is None:
            return None
        if isinstance(value, float):
            self.fail(key, f'write amounts in quotes, such as "{value:.2f}", so no cent is lost')
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            self.fail(
                key, f'expected an amount in quotes, such as "200.00", got {_toml_type(value)}'
            )
            return None
        try:
            return Money.parse(str(value), currency)
        except AmountError as exc:
            self.fail(key, str(exc))
            return None

    def url(self, value: str, key: Sequence[str]) -> None:
        try:
            link_for_url(value)
        except LinkURLError as exc:
            self.fail(key, str(exc))

    def devices(
        self, devices: dict[str, _DeviceModel], currency: str
    ) -> tuple[list[TerminalConfig], list[PrinterConfig]]:
        kinds: dict[str, str] = {name: device.kind for name, device in devices.items()}
        terminals: list[TerminalConfig] = []
        printers: list[PrinterConfig] = []
        for name, device in devices.items():
            at = ("devices", name)
            if not DEVICE_NAME.fullmatch(name):
                self.fail(
                    at,
                    f"device name {name!r} is not allowed: use 1 to 32 lower-case letters, "
                    "digits, '_' or '-', starting with a letter or digit "
                    "(device names become Prometheus metric labels)",
                )
            self.url(device.url, (*at, "url"))
            given = device.model_fields_set
            other_kind, foreign = (
                ("printers", _PRINTER_KEYS)
                if device.kind == "terminal"
                else ("terminals", _TERMINAL_KEYS)
            )
            for key in foreign:
                if key in given:
                    self.fail(
                        (*at, key),
                        f"only {other_kind} have {key!r}; this device is a {device.kind}",
                    )
            if device.kind == "printer":
                printers.append(
                    PrinterConfig(
                        name=name,
                        url=device.url,
                        profile=device.profile,
                        poll_interval=device.poll_interval,
                    )
                )
                continue
            terminals.append(self.terminal(name, device, currency, kinds))
        return terminals, printers

    def terminal(
        self, name: str, device: _DeviceModel, currency: str, kinds: dict[str, str]
    ) -> TerminalConfig:
        at = ("devices", name)
        if device.currency is not None:
            currency = self.currency(device.currency, (*at, "currency")) or currency
        password = device.password
        if isinstance(password, int) and not isinstance(password, bool) and 0 <= password < 10**6:
            self.fail(
                (*at, "password"),
                f'write the password in quotes, such as password = "{password:06d}", '
                "so leading zeros are kept",
            )
        elif not isinstance(password, str) or not _PASSWORD.fullmatch(password):
            self.fail((*at, "password"), "the terminal password is six digits, such as 123456")
        for key, want in (("standby", "terminal"), ("printer", "printer")):
            ref = getattr(device, key)
            if ref is None:
                continue
            if ref == name and key == "standby":
                self.fail((*at, key), "a terminal cannot be its own standby")
            elif ref not in kinds:
                named = [n for n, k in kinds.items() if k == want]
                self.fail((*at, key), _no_such(ref, want, named))
            elif kinds[ref] != want:
                self.fail((*at, key), f"{ref!r} is a {kinds[ref]}, not a {want}")
        if device.poll_interval is not None and device.poll_interval < 1:
            self.fail(
                (*at, "poll_interval"),
                f"{device.poll_interval:g} s is too often for a terminal (at least 1 s: "
                "every status enquiry can show on its display)",
            )
        return TerminalConfig(
            name=name,
            url=device.url,
            protocol=device.protocol,
            password=str(password),
            currency=currency,
            refund_limit=self.amount(device.refund_limit, currency, (*at, "refund_limit")),
            standby=device.standby,
            printer=device.printer,
            timeout_t3=device.timeout_t3,
            timeout_t4=device.timeout_t4,
            poll_interval=device.poll_interval,
            connectivity_interval=device.connectivity_interval,
            connectivity_retry_interval=device.connectivity_retry_interval,
            check_attempts=device.check_attempts,
        )


def _no_such(name: str, kind: str, known: list[str]) -> str:
    if not known:
        return f"no {kind} named {name!r}; no {kind}s are configured"
    hint = difflib.get_close_matches(name, known, n=1)
    mean = f"did you mean {hint[0]!r}? " if hint else ""
    return f"no {kind} named {name!r}; {mean}configured {kind}s: {', '.join(known)}"


# -- turning pydantic's errors into sentences about the file ----------------------------

_EXPECTED = {
    "string_type": "a string in quotes",
    "int_type": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": 'an array of strings, such as ["Hotel Example", "Front desk"]',
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
}


def _toml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return "a date or time"


def _key(loc: Iterable[str | int]) -> str:
    """``devices.desk1.url`` / ``receipt.header[1]``, quoting keys TOML would quote."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        text = part if _BARE_KEY.fullmatch(part) else '"' + part.replace('"', '\\"') + '"'
        out += f".{text}" if out else text
    return out or "(top level)"


def _table_model(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model of the table that the key at ``loc`` sits in."""
    parent = loc[:-1]
    if not parent:
        return _FileModel
    if len(parent) == 1 and isinstance(parent[0], str):
        return _SECTIONS.get(parent[0])
    if len(parent) == 2 and parent[0] == "devices":
        return _DeviceModel
    return None


def _known_keys(loc: tuple[str | int, ...]) -> list[str] | None:
    """The keys allowed in the table that ``loc`` (an unknown key) sits in."""
    model = _table_model(loc)
    return list(model.model_fields) if model is not None else None


def _allowed(loc: tuple[str | int, ...]) -> str | None:
    """The whole range allowed for the key at ``loc`` (pydantic names only the bound that
    was crossed), such as ``more than 0, at most 60``; None for a key without bounds (our
    models use ``gt``, ``ge`` and ``le`` only)."""
    model = _table_model(loc)
    field = model.model_fields.get(str(loc[-1])) if model is not None else None
    if field is None:
        return None
    bounds: dict[str, float] = {}
    for rule in field.metadata:
        for name in ("gt", "ge", "le"):
            value = getattr(rule, name, None)
            if isinstance(value, int | float):
                bounds[name] = value
    ge, gt, le = bounds.get("ge"), bounds.get("gt"), bounds.get("le")
    if ge is not None:
        return f"{ge:g} to {le:g}" if le is not None else f"at least {ge:g}"
    if gt is not None:
        return f"more than {gt:g}, at most {le:g}" if le is not None else f"more than {gt:g}"
    return f"at most {le:g}" if le is not None else None


def _explain(err: Any) -> str:
    kind, value, loc = err["type"], err.get("input"), tuple(err["loc"])
    if loc in _SECRET_KEYS:
        return _explain_secret(err)
    if kind == "extra_forbidden":
        known = _known_keys(loc) or []
        name = str(loc[-1])
        hint = difflib.get_close_matches(name, known, n=1)
        if hint:
            return f"unknown key {name!r}; did you mean {hint[0]!r}?"
        return f"unknown key {name!r}; expected one of: {', '.join(known)}"
    if kind == "missing":
        if loc[-1] == "kind":
            return 'required key is missing; expected "terminal" or "printer"'
        return "required key is missing"
    if kind == "literal_error":
        return f"expected {err['ctx']['expected']}, got {value!r}"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {_toml_type(value)} ({value!r})"
    if kind == "value_error":
        return str(err["ctx"]["error"])
    message = str(err["msg"]).replace("Input should be", "must be")
    allowed = _allowed(loc) if kind in _RANGE_ERRORS else None
    return f"{message}, got {value!r}" + (f" (allowed: {allowed})" if allowed else "")


_RANGE_ERRORS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal"})


# Keys whose value is a secret: an error says what is wrong with it, never what it is
# (a message is read on a screen, in the system log, in a ticket).
_SECRET_KEYS = {("service", "token")}


def _explain_secret(err: Any) -> str:
    kind, value = err["type"], err.get("input")
    if kind == "string_too_short":
        return (
            f"is {len(value)} characters long; a token must be at least "
            f"{err['ctx']['min_length']} characters (its value is not shown)"
        )
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {_toml_type(value)} (its value is not shown)"
    return f"{err['msg']} (its value is not shown)"


# -- command-line overrides -------------------------------------------------------------


def with_overrides(
    config: Config,
    *,
    state_dir: str | Path | None = None,
    terminals: Sequence[str] = (),
    printers: Sequence[str] = (),
) -> Config:
    """Apply ``--state-dir``, ``--terminal URL`` (repeatable) and ``--printer URL``.

    Given URLs replace the configured devices of that kind rather than adding to them: a
    person naming a device on the command line means that device. ``--terminal`` URLs
    become ``terminal1``, ``terminal2``, ... each failing over to the next, in the
    top-level currency with the factory password; their receipts go to the first printer.
    ``--printer`` URLs become ``printer1``, ...; configured terminals then print there too.
    """
    problems: list[str] = []
    for flag, urls in (("--terminal", terminals), ("--printer", printers)):
        for url in urls:
            try:
                link_for_url(url)
            except LinkURLError as exc:
                problems.append(f"{flag}: {exc}")
    if problems:
        raise ConfigError("\n".join(problems), problems)

    new_printers = config.printers
    new_terminals = config.terminals
    if printers:
        new_printers = tuple(
            PrinterConfig(name=f"printer{i}", url=url) for i, url in enumerate(printers, 1)
        )
        new_terminals = tuple(replace(t, printer=None) for t in new_terminals)
    if terminals:
        first_printer = new_printers[0].name if new_printers else None
        count = len(terminals)
        new_terminals = tuple(
            TerminalConfig(
                name=f"terminal{i}",
                url=url,
                currency=config.currency,
                password=DEFAULT_PASSWORD,
                standby=f"terminal{i + 1}" if i < count else None,
                printer=first_printer,
            )
            for i, url in enumerate(terminals, 1)
        )
    return replace(
        config,
        state_dir=Path(state_dir).expanduser().absolute()
        if state_dir is not None
        else config.state_dir,
        terminals=new_terminals,
        printers=new_printers,
    )
