"""ZVT as posdriver's registry sees it: its keys in a terminal's table, its capabilities,
its driver, its ``posdriver terminal`` options and its transaction references.

Kept light: the driver (and with it the codec) is imported when a terminal is made, not
when a config file is checked.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ..protocol import Capability, Protocol

if TYPE_CHECKING:
    from ...links import Link
    from ..base import PaymentTerminal, Progress
    from ..options import TerminalOptions

DEFAULT_PASSWORD = "123456"  # the factory default
RECEIPT_NUMBERS = range(1, 10_000)  # the terminal numbers its receipts 1..9999, then wraps


class ZvtProtocol(Protocol):
    name = "zvt"
    description = "ZVT over serial or TCP"

    @property
    def options_model(self) -> type[TerminalOptions]:
        from .options import ZvtOptions

        return ZvtOptions

    capabilities = frozenset(
        {
            Capability.PRE_AUTHORISATION,
            Capability.REGISTRATION,
            Capability.REPEAT_RECEIPT,
            Capability.END_OF_DAY,
            Capability.DIAGNOSIS,
            Capability.INITIALISATION,
            Capability.PARTIAL_ISSUE,
        }
    )

    def make(
        self,
        link: Link,
        options: TerminalOptions,
        *,
        currency: str,
        progress: Progress | None = None,
    ) -> PaymentTerminal:
        from .options import ZvtOptions
        from .terminal import ZvtTerminal, ZvtTimeouts

        assert isinstance(options, ZvtOptions)
        defaults = ZvtTimeouts()
        timeouts = ZvtTimeouts(
            t2=getattr(options, "timeout_t2", None) or defaults.t2,
            t3=options.timeout_t3 or defaults.t3,
            t4=options.timeout_t4 or defaults.t4,
        )
        extra: dict[str, Any] = {}
        config_byte = getattr(options, "config_byte", None)
        if config_byte is not None:
            extra["config"] = config_byte
        return ZvtTerminal(
            link,
            password=options.password,
            currency=currency,
            timeouts=timeouts,
            progress=progress,
            **extra,
        )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--password", default=DEFAULT_PASSWORD, help="terminal password (6 digits)"
        )
        parser.add_argument(
            "--config-byte",
            dest="config_byte",
            type=_config_byte,
            default=None,
            metavar="BYTE",
            help="registration config byte (default 0xBE)",
        )
        # the old spelling: --config is a TOML file everywhere else, so whatever it is
        # given is refused, never read as a byte (nor a byte as a file)
        parser.add_argument(
            "--config", dest="old_config", type=_renamed, default=None, help=argparse.SUPPRESS
        )
        for timer, default, what in (
            ("t2", 5.0, "wait for the terminal's ACK of a serial frame"),
            ("t3", 5.0, "wait for the terminal to accept a command"),
            ("t4", 180.0, "terminal silence allowed while it runs a command"),
        ):
            parser.add_argument(
                f"--{timer}",
                type=_seconds,
                default=default,
                metavar="S",
                help=f"{timer.upper()}: {what} (default {default:g} s)",
            )

    def options_from_arguments(self, args: argparse.Namespace) -> TerminalOptions:
        from pydantic import ValidationError

        from .options import ZvtLineOptions

        try:
            return ZvtLineOptions(
                password=args.password,
                timeout_t2=args.t2,
                timeout_t3=args.t3,
                timeout_t4=args.t4,
                config_byte=args.config_byte,
            )
        except ValidationError as exc:
            error = exc.errors()[0]
            raise ValueError(str(error.get("ctx", {}).get("error") or error["msg"])) from None

    def parse_reference(self, text: str) -> str:
        if not text.isdigit() or not text.isascii():
            raise ValueError(f"receipt number {text!r} is not a whole number such as 42")
        value = int(text)
        if value not in RECEIPT_NUMBERS:
            raise ValueError(f"receipt number {value} is out of range 1..9999")
        return str(value)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 < value < 86400:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _config_byte(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a byte such as 0xBE, got {text!r}") from None
    if not 0 <= value <= 0xFF:
        raise argparse.ArgumentTypeError(f"the config byte is 0..255 (0x00..0xFF), got {text!r}")
    return value


def _renamed(text: str) -> None:
    raise argparse.ArgumentTypeError(
        f"posdriver terminal reads no config file; the registration config byte is "
        f"--config-byte BYTE (such as --config-byte 0xBE), got --config {text!r}"
    )


PROTOCOL = ZvtProtocol()
