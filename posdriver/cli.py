"""The ``posdriver`` command line.

Printer commands follow the Nagios plugin convention, so they drop straight into
existing monitoring: exit 0 OK, 1 WARNING (paper near end), 2 CRITICAL (paper out,
offline, cover open, an error, a print that failed), 3 UNKNOWN (no answer, bad input).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from . import __version__


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """Usage errors exit 3 (UNKNOWN), as monitoring plugins must."""
        from .printer.status import Severity

        self.print_usage(sys.stderr)
        self.exit(Severity.UNKNOWN, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from .cashier.cli import exit_epilog

    parser = _Parser(
        prog="posdriver",
        description="Front-desk payment and receipt devices.",
        epilog=exit_epilog()
        + "\n\nprinter, terminal and check follow the Nagios plugin convention\n"
        "(0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN); see docs/cli.md",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"posdriver {__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )

    from .printer.cli import add_parser as add_printer_parser

    add_printer_parser(commands, _Parser)

    from .terminal.cli import add_parser as add_terminal_parser

    add_terminal_parser(commands, _Parser)

    from .cashier.cli import add_parsers as add_desk_parsers

    add_desk_parsers(commands, _Parser)

    from .service.cli import add_parsers as add_service_parsers

    add_service_parsers(commands, _Parser)

    demo = commands.add_parser(
        "demo", help="start an emulated printer, print a sample receipt, show its status"
    )
    demo.add_argument("--json", action="store_true", help="print JSON instead of text")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # the reader went away (``posdriver txn list | head``): not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from .demo import run_demo

        return run_demo(as_json=args.json)
    if args.command == "terminal":
        from .terminal.cli import run

        return run(args)
    from .service.cli import COMMANDS as SERVICE_COMMANDS

    if args.command in SERVICE_COMMANDS:
        from .service.cli import run as run_service_command

        return run_service_command(args)
    from .cashier.cli import COMMANDS

    if args.command in COMMANDS:
        from .cashier.cli import run as run_desk_command

        return run_desk_command(args)
    from .printer.cli import run as run_printer_command

    return run_printer_command(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
