"""``posdriver-emulator``: run emulated devices until SIGINT or SIGTERM.

Prints one JSON line per device on stdout, e.g.
``{"device": "printer", "url": "serial:///tmp/posdriver-emu-x/ttyPRINTER", "control":
"http://127.0.0.1:40123"}``, so scripts and tests can read where to connect.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence

from .controller import LINK_GRAMMAR, Controller, LinkSpecError
from .scenario import ScenarioError


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
    printer.add_argument("--seed", type=int, help="seed for the garbage fault's noise")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        controller = _printer(args)
        controller.start()
    except (LinkSpecError, ScenarioError, OSError) as exc:
        print(f"posdriver-emulator: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        print(json.dumps(controller.describe()), flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        controller.stop()
    return 0


def _printer(args: argparse.Namespace) -> Controller:
    from .printer import PrinterConfig

    config = PrinterConfig()
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
