"""Pass two of loading the configuration: everything that needs more than one key, or
more than a model can say (link URLs through the parser that opens them, amounts in
the right currency, references between devices, cross-key rules), collecting every
problem before any is reported."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..links import LinkURLError, link_for_url
from ..money import AmountError, Money
from ..terminal import registry
from ..terminal.options import TerminalOptions
from .model import (
    DEFAULT_CURRENCY,
    DEVICE_NAME,
    Address,
    Config,
    PrinterConfig,
    PrintPolicy,
    ReceiptConfig,
    RefundConfig,
    ServiceConfig,
    TerminalConfig,
    currency_code,
    default_state_dir,
    parse_address,
    state_dir_fault,
)
from .schema import PRINTER_KEYS, TERMINAL_KEYS, DeviceModel, FileModel, ServiceModel
from .sentences import key_text, toml_type


class Checker:
    """Pass two: everything that needs more than one key, collecting every problem.
    ``owned`` are the protocol keys taken out of each device's table, ``options`` the
    terminals' protocol options already checked from them."""

    def __init__(
        self,
        where: str,
        owned: dict[str, dict[str, Any]] | None = None,
        options: dict[str, TerminalOptions] | None = None,
    ) -> None:
        self.where = where
        self.problems: list[str] = []
        self.owned = owned or {}
        self.options = options or {}

    def fail(self, key: Sequence[str | int], message: str) -> None:
        self.problems.append(f"{self.where}: {key_text(key)}: {message}")

    def build(self, model: FileModel, source: Path | None) -> Config | None:
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

    def service(self, model: ServiceModel) -> ServiceConfig | None:
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
        fault = state_dir_fault(value)
        if fault is not None:
            self.fail(("state_dir",), fault)
        return Path(value).expanduser()

    def currency(self, value: str, key: Sequence[str]) -> str | None:
        try:
            return currency_code(value)
        except AmountError as exc:
            self.fail(key, str(exc))
            return None

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
                key, f'expected an amount in quotes, such as "200.00", got {toml_type(value)}'
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
        self, devices: dict[str, DeviceModel], currency: str
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
            given = device.model_fields_set | set(self.owned.get(name, ()))
            other_kind, foreign = (
                ("printers", PRINTER_KEYS)
                if device.kind == "terminal"
                else ("terminals", (*TERMINAL_KEYS, *self.owned.get(name, ())))
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
        self, name: str, device: DeviceModel, currency: str, kinds: dict[str, str]
    ) -> TerminalConfig:
        at = ("devices", name)
        if device.currency is not None:
            currency = self.currency(device.currency, (*at, "currency")) or currency
        protocol = device.protocol or registry.DEFAULT
        try:
            options = self.options.get(name) or registry.get(protocol).options_model()
        except registry.UnknownProtocol:
            known = ", ".join(repr(n) for n in registry.names())
            self.fail((*at, "protocol"), f"expected one of {known}, got {protocol!r}")
            options = None
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
            protocol=protocol if options is not None else registry.DEFAULT,
            options=options,
            currency=currency,
            refund_limit=self.amount(device.refund_limit, currency, (*at, "refund_limit")),
            standby=device.standby,
            printer=device.printer,
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
