"""``posdriver printer status|test|identify URL``: one ESC/POS printer, talked to directly.

The answers and exit codes are a monitoring plugin's (0 OK, 1 WARNING, 2 CRITICAL, 3
UNKNOWN), so the command can run under Nagios/Icinga as it is. Apart from
:mod:`posdriver.cli` so that the other commands' start-up does not import the printer's
status model.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .status import PrinterStatus, Severity


def add_parser(commands: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    printer = commands.add_parser("printer", help="talk to an ESC/POS receipt printer")
    actions = printer.add_subparsers(
        dest="action", required=True, metavar="ACTION", parser_class=parser_class
    )
    for name, text in (
        ("status", "read and explain the printer's real-time status"),
        ("test", "print a test receipt and report the status after it"),
        ("identify", "read model, firmware and serial number (GS I)"),
    ):
        sub = actions.add_parser(name, help=text, description=text)
        sub.add_argument("url", metavar="URL", help="link URL, e.g. serial:///dev/ttyUSB0")
        sub.add_argument("--json", action="store_true", help="print JSON instead of text")
        sub.add_argument(
            "--tolerance",
            type=float,
            default=0.05,
            metavar="S",
            help="seconds to allow beyond the wire time for each reply (default 0.05)",
        )


def run(args: argparse.Namespace) -> int:
    from ..links import LinkError, LinkURLError, link_for_url
    from .driver import Printer
    from .errors import PrinterError, PrinterNotResponding
    from .status import PrinterStatus, Severity

    label = "PRINTER"
    try:
        link = link_for_url(args.url)
    except LinkURLError as exc:
        return _fail(args, Severity.UNKNOWN, f"{label} UNKNOWN - bad URL: {exc}")
    try:
        link.open()
    except LinkError as exc:
        return _fail(args, Severity.UNKNOWN, f"{label} UNKNOWN - {exc}")
    try:
        printer = Printer(link, reply_tolerance=args.tolerance)
        if args.action == "status":
            status = printer.query_status()
            return _report_status(args, status, {"url": args.url})
        if args.action == "identify":
            identity = printer.identify()
            return _emit(
                args,
                Severity.OK,
                identity.as_dict() | {"url": args.url},
                _format_identity(identity.as_dict()),
            )
        from .receipt import encode_segments, sample_receipt

        segments = encode_segments(sample_receipt())
        try:
            result = printer.print_job(segments)
        except PrinterError as exc:
            severity = (
                Severity.UNKNOWN if isinstance(exc, PrinterNotResponding) else Severity.CRITICAL
            )
            extra = {"url": args.url, "printed": False, "error": str(exc)}
            extra |= {
                "sent": getattr(exc, "sent", 0),
                "printed_bytes": getattr(exc, "printed", 0),
                "total": getattr(exc, "total", sum(map(len, segments))),
            }
            return _report_status(
                args, exc.status or PrinterStatus(), extra, severity=severity, headline=str(exc)
            )
        after = printer.query_status()
        extra = {
            "url": args.url,
            "printed": True,
            "sent": result.sent,
            "printed_bytes": result.printed,
            "total": result.total,
            "confirmed": result.confirmed,
            "seconds": round(result.seconds, 3),
        }
        headline = (
            f"printed {result.sent} bytes in {result.seconds:.2f} s, confirmed by the "
            f"printer; status after: {after.summary()}"
        )
        return _report_status(args, after, extra, headline=headline)
    except LinkError as exc:
        return _fail(args, Severity.UNKNOWN, f"{label} UNKNOWN - link failed: {exc}")
    finally:
        link.close()


def _report_status(
    args: argparse.Namespace,
    status: PrinterStatus,
    extra: dict[str, Any],
    *,
    severity: Severity | None = None,
    headline: str | None = None,
) -> int:
    severity = status.severity if severity is None else severity
    body = status.as_dict() | extra
    body["severity"] = severity.name.lower()
    lines = [f"PRINTER {severity.name} - {headline or status.summary()}"]
    lines += _format_status(status)
    return _emit(args, severity, body, "\n".join(lines))


def _yes_no(value: bool | None, yes: str = "yes", no: str = "no") -> str:
    return "unknown" if value is None else (yes if value else no)


def _format_status(status: PrinterStatus) -> list[str]:
    rows = [
        ("online", _yes_no(status.online)),
        ("cover", _yes_no(status.cover_open, "open", "closed")),
        ("paper", status.paper.value.replace("_", " ")),
        (
            "errors",
            ", ".join(status.errors) or ("unknown" if status.mechanical_error is None else "none"),
        ),
        ("drawer pin", _yes_no(status.drawer_pin_high, "high", "low")),
    ]
    raw = " ".join(f"{k}={'--' if v is None else f'{v:02x}'}" for k, v in status.raw.items())
    rows.append(("raw", raw or "-"))
    return [f"  {k:<11}{v}" for k, v in rows]


def _format_identity(identity: dict[str, Any]) -> str:
    lines = ["PRINTER OK - identified"]
    for key, value in identity.items():
        shown = (
            "no answer"
            if value is None
            else (
                f"0x{value:02x}"
                if isinstance(value, int) and not isinstance(value, bool)
                else value
            )
        )
        lines.append(f"  {key:<15}{shown}")
    return "\n".join(lines)


def _emit(args: argparse.Namespace, severity: Severity, body: dict[str, Any], text: str) -> int:
    if getattr(args, "json", False):
        print(json.dumps(body, ensure_ascii=False, indent=2))
    else:
        print(text)
    return int(severity)


def _fail(args: argparse.Namespace, severity: Severity, message: str) -> int:
    if getattr(args, "json", False):
        print(json.dumps({"severity": severity.name.lower(), "error": message}))
    else:
        print(message)
    return int(severity)
