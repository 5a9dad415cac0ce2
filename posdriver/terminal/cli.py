"""``posdriver terminal ...``: talk to a payment terminal directly, for diagnosis.

::

    posdriver terminal status URL          terminal state        (Nagios exit codes)
    posdriver terminal diagnosis URL       can it reach its acquirer (Nagios exit codes)
    posdriver terminal sale URL AMOUNT     charge a card
    posdriver terminal refund URL AMOUNT   pay money back to a card
    posdriver terminal reverse URL RECEIPT_NO
    posdriver terminal end-of-day URL      close the batch, show the totals
    posdriver terminal last URL            the terminal's last transaction

Every input (URL, amount, currency, receipt number, password, timeouts) is checked
before the link is opened, so a typo sends nothing to the terminal; it is reported on
stderr with exit code 3. Exit codes: status and diagnosis follow the Nagios plugin
convention (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN). Money commands exit 0 approved,
1 declined or aborted (nothing charged), 2 IN DOUBT (the card may have been charged: do
not repeat, check with ``last``), 3 not sent (terminal not reached, busy, bad input).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from ..errors import PosdriverError

if TYPE_CHECKING:
    from ..money import Money
    from .base import PaymentTerminal

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
APPROVED, NOT_CHARGED, IN_DOUBT, NOT_SENT = 0, 1, 2, 3
ACTIONS = {
    "status": "read the terminal's state (Nagios exit codes)",
    "diagnosis": "have the terminal contact its acquirer (Nagios exit codes)",
    "sale": "charge AMOUNT to a card",
    "refund": "pay AMOUNT back to a card",
    "reverse": "cancel the payment with terminal receipt number RECEIPT_NO",
    "end-of-day": "close the terminal's batch and show the day's totals",
    "last": "show the terminal's last transaction (repeat receipt)",
}


class InputError(PosdriverError, ValueError):
    """A command-line value that cannot be used; nothing was sent."""


def add_parser(commands: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Register ``terminal`` and its actions on the top-level subparsers. Each action
    takes ``--protocol`` and, for the default protocol, that protocol's own options
    (``posdriver terminal`` talks to one terminal without a config file)."""
    from . import registry

    protocol = registry.get(registry.DEFAULT)
    terminal = commands.add_parser(
        "terminal", help=f"talk to a payment terminal ({protocol.description})"
    )
    actions = terminal.add_subparsers(
        dest="action", required=True, metavar="ACTION", parser_class=parser_class
    )
    for name, text in ACTIONS.items():
        sub = actions.add_parser(name, help=text, description=text)
        sub.add_argument(
            "url", metavar="URL", help="link URL: serial:///dev/ttyUSB0 or tcp://HOST:20007"
        )
        if name in ("sale", "refund"):
            sub.add_argument("amount", metavar="AMOUNT", help="decimal amount such as 12.50")
        if name == "sale":
            sub.add_argument(
                "--partial",
                metavar="PART",
                help="take only PART of the approved AMOUNT (partial issue of goods, on a "
                "protocol that has it): the terminal books PART",
            )
        if name == "reverse":
            sub.add_argument("receipt_no", metavar="RECEIPT_NO", help="terminal receipt number")
        sub.add_argument("--json", action="store_true", help="print JSON instead of text")
        sub.add_argument("--currency", default="EUR", help="ISO 4217 currency (default EUR)")
        sub.add_argument(
            "--protocol",
            default=registry.DEFAULT,
            choices=registry.names(),
            help=f"the terminal's protocol (default {registry.DEFAULT})",
        )
        protocol.add_arguments(sub)


def run(args: argparse.Namespace) -> int:
    """Carry out ``posdriver terminal <action>``; returns the exit code."""
    try:
        terminal, request = _prepare(args)
    except InputError as exc:
        return _input_error(args, str(exc))
    from .outcomes import TerminalError

    try:
        with terminal:
            return _ACTIONS[args.action](args, terminal, request)
    except TerminalError as exc:
        return _not_done(args, exc)


def _prepare(args: argparse.Namespace) -> tuple[PaymentTerminal, Any]:
    """Check every input and build the (unopened) terminal; nothing touches the link."""
    from ..links import LinkURLError, link_for_url
    from ..money import AmountError, Money
    from . import registry

    protocol = registry.get(args.protocol)
    currency = args.currency.strip().upper()
    request: Any = None
    try:
        Money(0, currency).numeric_code  # noqa: B018 - validates the currency
        if args.action in ("sale", "refund"):
            request = Money.parse(args.amount, currency)
        if getattr(args, "partial", None) is not None:
            request = (request, _partial(args.partial, request, args.protocol))
    except AmountError as exc:
        raise InputError(str(exc)) from None
    try:
        if args.action == "reverse":
            request = protocol.parse_reference(args.receipt_no)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    try:
        link = link_for_url(args.url)
    except LinkURLError as exc:
        raise InputError(f"bad URL: {exc}") from None
    try:
        options = protocol.options_from_arguments(args)
        terminal = protocol.make(
            link, options, currency=currency, progress=None if args.json else _show_progress
        )
    except ValueError as exc:
        raise InputError(str(exc)) from None
    return terminal, request


def _partial(text: str, amount: Money, protocol: str) -> Money:
    """``--partial``: a part of the amount, for a protocol with partial issue of goods."""
    from ..money import AmountError, Money
    from . import registry
    from .protocol import Capability

    if not registry.get(protocol).has(Capability.PARTIAL_ISSUE):
        raise InputError(f"--partial: protocol {protocol!r} has no partial issue of goods")
    part = Money.parse(text, amount.currency)
    if part.minor > amount.minor:
        raise AmountError(f"--partial {part} is more than the sale's {amount}")
    return part


def _show_progress(text: str) -> None:
    print(f"terminal: {text}", file=sys.stderr, flush=True)


# -- actions -----------------------------------------------------------------------------
def _status(args: argparse.Namespace, terminal: PaymentTerminal, _: Any) -> int:
    state = terminal.status()
    code = {"ok": OK, "warning": WARNING}.get(state.severity, CRITICAL)
    headline = state.text + (f"; remedy: {state.remedy}" if state.remedy else "")
    lines = [
        f"TERMINAL {_LEVEL[code]} - {headline}",
        f"  status      {state.code:02X} ({state.text})",
        f"  software    {state.software or 'not reported'}",
    ]
    return _emit(args, code, _body(args, state, _LEVEL[code]), lines)


def _diagnosis(args: argparse.Namespace, terminal: PaymentTerminal, _: Any) -> int:
    result = terminal.diagnosis()
    code = OK if result.host_reachable else CRITICAL
    if result.host_reachable:
        headline = "acquirer reachable"
    else:
        code_text = f" ({result.result_code:02X})" if result.result_code is not None else ""
        headline = f"acquirer unreachable: {result.meaning}{code_text}"
        headline += f" - {result.detail}" if result.detail else ""
    return _emit(
        args, code, _body(args, result, _LEVEL[code]), [f"TERMINAL {_LEVEL[code]} - {headline}"]
    )


def _money(args: argparse.Namespace, terminal: PaymentTerminal, request: Any) -> int:
    from .outcomes import Aborted, Approved, Declined

    if args.action == "sale" and isinstance(request, tuple):
        from .protocol import TakesPart

        # _partial allowed --partial for a protocol with partial issue only
        assert isinstance(terminal, TakesPart)
        outcome = terminal.sale(request[0], partial=request[1])
    elif args.action == "sale":
        outcome = terminal.sale(request)
    elif args.action == "refund":
        outcome = terminal.refund(request)
    else:
        outcome = terminal.reverse(request)
    money = getattr(outcome, "amount", None)
    amount = f" {money}" if money else ""
    lines: list[str]
    if isinstance(outcome, Approved):
        code = APPROVED
        facts = [str(outcome.card)] if outcome.card.brand or outcome.card.last4 else []
        facts += [f"{k} {v}" for k, v in _facts(outcome).items() if v is not None]
        lines = [f"APPROVED{amount} - {', '.join(facts)}", *_indent(outcome.receipt)]
    elif isinstance(outcome, Declined):
        code = NOT_CHARGED
        detail = f" - {outcome.detail}" if outcome.detail else ""
        lines = [f"DECLINED{amount} - {outcome.meaning} ({outcome.result_code:02X}){detail}"]
    elif isinstance(outcome, Aborted):
        code = NOT_CHARGED
        result = f" ({outcome.result_code:02X})" if outcome.result_code is not None else ""
        detail = f" - {outcome.detail}" if outcome.detail else ""
        lines = [f"ABORTED - {outcome.reason}{result}{detail}; nothing was charged"]
    else:
        code = IN_DOUBT
        known = ", ".join(
            f"{k} {v}"
            for k, v in (("trace", outcome.trace), ("receipt", outcome.receipt_no))
            if v is not None
        )
        lines = [
            f"IN DOUBT{amount} - {outcome.reason} (stage {outcome.stage})",
            "  The card may have been charged. Do not repeat the operation; ask the "
            f"terminal with: posdriver terminal last {args.url}",
        ]
        if known:
            lines.append(f"  the terminal had reported: {known}")
    return _emit(args, code, _body(args, outcome), lines)


def _facts(outcome: Any) -> dict[str, Any]:
    return {
        "trace": outcome.trace,
        "receipt": outcome.receipt_no,
        "approval": outcome.approval_code,
        "terminal": outcome.terminal_id,
        "at": f"{outcome.at:%Y-%m-%d %H:%M:%S}" if outcome.at else None,
    }


def _end_of_day(args: argparse.Namespace, terminal: PaymentTerminal, _: Any) -> int:
    day = terminal.end_of_day()
    if not day.ok:
        code_text = f" ({day.result_code:02X})" if day.result_code is not None else ""
        return _emit(
            args, CRITICAL, _body(args, day), [f"END OF DAY FAILED - {day.meaning}{code_text}"]
        )
    lines = [f"END OF DAY OK - total {day.total}"]
    if day.receipt_range:
        lines.append(f"  receipts    {day.receipt_range[0]}..{day.receipt_range[1]}")
    lines += [f"  {b.brand:<18}{b.count:>4}  {b.amount}" for b in day.by_brand]
    lines += _indent(day.receipt)
    return _emit(args, OK, _body(args, day), lines)


def _last(args: argparse.Namespace, terminal: PaymentTerminal, _: Any) -> int:
    last = terminal.last_transaction()
    if last is None:
        return _emit(
            args, NOT_CHARGED, {"url": args.url, "last": None}, ["NO TRANSACTION - none stored"]
        )
    state = "STANDS" if last.stands else f"DOES NOT STAND ({last.meaning})"
    amount = f" {last.amount}" if last.amount else ""
    facts = [str(last.card)] if last.card.brand or last.card.last4 else []
    facts += [f"{k} {v}" for k, v in _facts(last).items() if v is not None]
    lines = [f"LAST TRANSACTION{amount} {state} - {', '.join(facts)}", *_indent(last.receipt)]
    return _emit(args, OK, _body(args, last), lines)


_ACTIONS = {
    "status": _status,
    "diagnosis": _diagnosis,
    "sale": _money,
    "refund": _money,
    "reverse": _money,
    "end-of-day": _end_of_day,
    "last": _last,
}
_LEVEL = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}


# -- output ------------------------------------------------------------------------------
def _indent(lines: tuple[str, ...]) -> list[str]:
    return [f"  | {line}" for line in lines]


def _body(args: argparse.Namespace, value: Any, severity: str | None = None) -> dict[str, Any]:
    from .outcomes import to_dict

    body: dict[str, Any] = {"url": args.url, "action": args.action}
    if severity:
        body["severity"] = severity.lower()
    body.update(to_dict(value))
    return body


def _emit(args: argparse.Namespace, code: int, body: dict[str, Any], lines: list[str]) -> int:
    if args.json:
        print(json.dumps(body, ensure_ascii=False, indent=2))
    else:
        print("\n".join(lines))
    return code


def _not_done(args: argparse.Namespace, exc: Exception) -> int:
    """The terminal was not reached, refused, or lost the answer of a query."""
    from .outcomes import TerminalBusy, TerminalLost, TerminalNotReached, TerminalRefused

    kind = {
        TerminalBusy: "busy",
        TerminalNotReached: "not_reached",
        TerminalRefused: "refused",
        TerminalLost: "lost",
    }.get(type(exc), "error")
    money = args.action in ("sale", "refund", "reverse")
    headline = f"NOT SENT - {exc}; nothing was charged" if money else f"TERMINAL UNKNOWN - {exc}"
    body = {"url": args.url, "action": args.action, "error": str(exc), "outcome": kind}
    if not money:
        body["severity"] = "unknown"
    return _emit(args, UNKNOWN, body, [headline])


def _input_error(args: argparse.Namespace, message: str) -> int:
    print(f"posdriver terminal {args.action}: error: {message}", file=sys.stderr)
    if args.json:
        print(json.dumps({"action": args.action, "error": message, "outcome": "bad_input"}))
    return UNKNOWN
