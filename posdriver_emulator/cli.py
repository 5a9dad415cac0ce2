"""``posdriver-emulator``: run emulated devices until SIGINT or SIGTERM.

Prints one JSON line per device on stdout, e.g.
``{"device": "printer", "url": "serial:///tmp/posdriver-emu-x/ttyPRINTER", "control":
"http://127.0.0.1:40123"}``, so scripts and tests can read where to connect.

``posdriver-emulator printer ...`` runs a receipt printer, ``terminal ...`` a ZVT payment
terminal, ``all ...`` one of each (two JSON lines, printer first).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .controller import LINK_GRAMMAR, Controller, LinkSpecError
from .scenario import ScenarioError

if TYPE_CHECKING:
    from .printer import PrinterConfig


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host or "127.0.0.1", int(port)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="posdriver-emulator",
        description="Run emulated posdriver devices on real OS interfaces.",
    )
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="DEVICE")
    printer = kinds.add_parser("printer", help="an Epson TM-class ESC/POS receipt printer")
    printer.add_argument("--link", default="pty", help=f"where to expose it: {LINK_GRAMMAR}")
    printer.add_argument("--scenario", help="a fault scenario file (see docs/emulator.md)")
    printer.add_argument(
        "--baudrate", type=int, help="pace the line at this rate (8N1), as a real port would"
    )
    printer.add_argument(
        "--control",
        type=_host_port,
        default=("127.0.0.1", 0),
        metavar="HOST:PORT",
        help="control API address (default 127.0.0.1, any free port)",
    )
    printer.add_argument("--roll-mm", type=_positive, help="paper roll length in mm")
    printer.add_argument(
        "--near-end-mm", type=_positive, help="paper left when the near-end sensor fires"
    )
    _keep_receipts_option(printer)
    printer.add_argument("--seed", type=int, help="seed for the garbage fault's noise")

    terminal = kinds.add_parser("terminal", help="a ZVT payment terminal (ECR interface)")
    terminal.add_argument(
        "--link", default="pty", help="where to expose it: pty (serial framing) or tcp[:HOST:PORT]"
    )
    terminal.add_argument("--scenario", help="a fault scenario file (see docs/emulator.md)")
    _control_option(terminal)
    _terminal_options(terminal)

    both = kinds.add_parser("all", help="a printer and a terminal together")
    both.add_argument("--printer-link", default="pty", help=f"the printer's link: {LINK_GRAMMAR}")
    both.add_argument("--terminal-link", default="pty", help="the terminal's link: pty or tcp")
    both.add_argument("--printer-scenario", help="a fault scenario file for the printer")
    both.add_argument("--terminal-scenario", help="a fault scenario file for the terminal")
    _keep_receipts_option(both)
    _terminal_options(both)
    return parser


def _keep_receipts_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keep-receipts",
        type=_count,
        metavar="N",
        help="the printer's cut receipts kept for /receipts and previews, the newest (default 100)",
    )


def _control_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--control",
        type=_host_port,
        default=("127.0.0.1", 0),
        metavar="HOST:PORT",
        help="control API address (default 127.0.0.1, any free port)",
    )


def _password(text: str) -> str:
    if len(text) != 6 or not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected six digits, got {text!r}")
    return text


def _terminal_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password", type=_password, default="123456", help="the ZVT password (default 123456)"
    )
    parser.add_argument("--currency", default="EUR", help="the currency it takes (default EUR)")
    parser.add_argument("--card", default="visa", help="the card it reads first (default visa)")
    parser.add_argument(
        "--full-pan", action="store_true", help="send whole card numbers in BMP 22, not masked"
    )
    parser.add_argument(
        "--slow-host-seconds",
        type=_positive,
        default=3.0,
        help="how long the host takes under the slow_host fault (default 3)",
    )
    parser.add_argument(
        "--status-ack-timeout",
        type=_positive,
        default=30.0,
        help="commit rule: seconds to wait for the ECR to acknowledge a payment (default 30)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    controllers: list[Controller] = []
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        try:
            for make in _controllers(args):
                controllers.append(make().start())  # a failed start leaves nothing to stop
        except (LinkSpecError, ScenarioError, OSError, ValueError) as exc:
            print(f"posdriver-emulator: {exc}", file=sys.stderr)
            return 2
        for controller in controllers:
            print(json.dumps(controller.describe()), flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        for controller in reversed(controllers):
            controller.stop()
    return 0


def _controllers(args: argparse.Namespace) -> list[Callable[[], Controller]]:
    if args.kind == "printer":
        return [lambda: _printer(args)]
    if args.kind == "terminal":
        return [lambda: _terminal(args, args.link, args.scenario, args.control)]
    return [
        lambda: Controller.printer(
            link=args.printer_link, config=_printer_config(args), scenario=args.printer_scenario
        ),
        lambda: _terminal(args, args.terminal_link, args.terminal_scenario, ("127.0.0.1", 0)),
    ]


def _terminal(
    args: argparse.Namespace, link: str, scenario: str | None, control: tuple[str, int]
) -> Controller:
    return Controller.terminal(
        link=link,
        scenario=scenario,
        control_host=control[0],
        control_port=control[1],
        password=args.password,
        currency=args.currency,
        card=args.card,
        full_pan=args.full_pan,
        slow_host_delay=args.slow_host_seconds,
        status_ack_timeout=args.status_ack_timeout,
    )


def _printer(args: argparse.Namespace) -> Controller:
    config = _printer_config(args)
    if args.roll_mm:
        config.roll_mm = args.roll_mm
    if args.near_end_mm:
        config.near_end_mm = args.near_end_mm
    return Controller.printer(
        link=args.link,
        config=config,
        seed=args.seed,
        baudrate=args.baudrate,
        scenario=args.scenario,
        control_host=args.control[0],
        control_port=args.control[1],
    )


def _printer_config(args: argparse.Namespace) -> PrinterConfig:
    from .printer import PrinterConfig

    config = PrinterConfig()
    if args.keep_receipts:
        config.receipts_kept = args.keep_receipts
    return config


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
