"""``posdriver serve``, ``posdriver check [DEVICE]`` and ``posdriver config check``.

``check`` asks the running daemon (its API, from ``--api`` or the config) and, when none
answers, opens the devices itself and runs the checks once. Exit codes follow the
Nagios plugin convention: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from .journald import configure_logging, to_stderr

COMMANDS = ("serve", "check", "config")


def add_parsers(commands: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve", help="run the daemon: device workers, health checks, API, metrics"
    )
    serve.add_argument("--config", metavar="FILE", help="TOML config")
    serve.add_argument(
        "--emulate",
        action="store_true",
        help="with no devices configured, start an emulated printer and terminal on "
        "pseudo-terminals and use them",
    )
    serve.add_argument("--api", metavar="HOST:PORT", help="API address (default 127.0.0.1:8470)")
    serve.add_argument(
        "--metrics", metavar="HOST:PORT", help="metrics address (default 127.0.0.1:8471)"
    )
    serve.add_argument("--state-dir", metavar="DIR", help="where the journal lives")
    serve.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))

    check = commands.add_parser(
        "check", help="run the health checks now (Nagios exit codes 0/1/2/3)"
    )
    check.add_argument("--device", metavar="NAME", help="only this device")
    # the old spelling, a positional DEVICE, still works (not shown)
    check.add_argument("device_given", nargs="?", metavar="DEVICE", help=argparse.SUPPRESS)
    check.add_argument("--config", metavar="FILE", help="TOML config")
    check.add_argument(
        "--api",
        metavar="HOST:PORT",
        help="the daemon's API address (default: $POSDRIVER_API, else [service] api)",
    )
    check.add_argument("--json", action="store_true", help="print JSON")
    check.add_argument(
        "--connectivity",
        action="store_true",
        help="also have each terminal dial its acquirer now (through the daemon; without "
        "it the daemon's last scheduled result is shown). Without a daemon it always does",
    )

    config = commands.add_parser("config", help="check the configuration file")
    actions = config.add_subparsers(
        dest="action", required=True, metavar="ACTION", parser_class=parser_class
    )
    check_cfg = actions.add_parser("check", help="validate the config without starting")
    check_cfg.add_argument("--config", metavar="FILE", help="TOML config")
    check_cfg.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    from ..config import ConfigError

    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "check":
            return _check(args)
        return _config_check(args)
    except ConfigError as exc:
        to_stderr(f"posdriver {args.command}: {exc}")
        return 3 if args.command != "serve" else 2


def _serve(args: argparse.Namespace) -> int:
    from ..config import load_config, with_overrides
    from .daemon import Daemon

    configure_logging(getattr(logging, args.log_level.upper()))
    config = with_overrides(load_config(args.config), state_dir=args.state_dir)
    for warning in config.warnings:
        logging.getLogger("posdriver.config").warning("%s", warning)
    if not args.emulate and not (config.terminals or config.printers):
        to_stderr(
            "posdriver serve: no devices are configured; add [devices.NAME] sections to the "
            "config, or use --emulate to run with emulated devices"
        )
        return 2

    def out(line: str) -> None:
        print(line, flush=True)

    from ..journal import JournalError
    from ..plugins import PluginMissing
    from ..terminal.outcomes import TerminalBusy

    try:
        daemon = Daemon(
            config,
            emulate=args.emulate,
            api=args.api,
            metrics=args.metrics,
            out=out,
            config_path=args.config,
        )
    except ValueError as exc:
        to_stderr(f"posdriver serve: {exc}")
        return 2
    daemon.take_signals()
    try:
        daemon.start()
    except (JournalError, OSError, ValueError, TerminalBusy, PluginMissing) as exc:
        # a journal it cannot use (read-only, damaged, foreign, newer, empty), a state
        # directory it cannot write, or --emulate with no emulator installed: one
        # paragraph and exit 2, which the systemd unit does not restart on
        # (RestartPreventExitStatus=2): a restart would only fail again
        daemon.stop()
        to_stderr(f"posdriver serve: {_start_failure(exc)}")
        return 2
    daemon.serve_forever()
    return 0


def _start_failure(exc: Exception) -> str:
    """Why the daemon did not start, as the message to print: an OSError names its file
    (a state directory that cannot be written), else its own words."""
    if not isinstance(exc, OSError) or not exc.strerror:
        return str(exc)
    if exc.filename is None:
        return exc.strerror
    return f"{exc.filename}: {exc.strerror}"


def _api_url(args: argparse.Namespace) -> str:
    from ..config import API_ENV, load_config, parse_address

    # the same address the desk commands ask: --api, else POSDRIVER_API, else the config's
    given = args.api or os.environ.get(API_ENV)
    if given:
        return f"http://{parse_address(given)}"
    return f"http://{load_config(args.config).service.api}"


def _check(args: argparse.Namespace) -> int:
    from .snapshot import NAGIOS

    if args.device_given is not None:
        if args.device not in (None, args.device_given):
            print(
                f"posdriver check: --device {args.device} and DEVICE {args.device_given} "
                "name two devices; give one (--device NAME)",
                file=sys.stderr,
            )
            return 3
        args.device = args.device_given
    body = _from_daemon(args)
    source = "daemon"
    if body is not None and "error" in body:
        print(f"posdriver check: {body['error']}", file=sys.stderr)
        return 3
    if body is None:
        body = _run_checks_here(args)
        source = "direct"
    devices = [d for d in body["devices"] if args.device in (None, d["name"])]
    if args.device is not None and not devices:
        names = ", ".join(d["name"] for d in body["devices"]) or "none"
        print(
            f"posdriver check: no device named {args.device!r}; devices: {names}", file=sys.stderr
        )
        return 3
    worst = "ok"
    lines = []
    for device in devices:
        checks = device.get("checks", {})
        statuses = [c["status"] for c in checks.values()] or ["unknown"]
        if device.get("stale"):
            statuses.append("unknown")
        for status in statuses:
            if NAGIOS[status] > NAGIOS[worst]:
                worst = status
        lines.append(f"  {device['name']} ({device['kind']}): {device['lifecycle']}")
        for name, c in checks.items():
            lines.append(f"    {name:<15}{c['status'].upper():<9}{c['text']}")
    if not devices:
        worst = "unknown"
    # the journal is checked with every device (no payment goes out unless it takes it
    # first); a check of one named device leaves it out
    journal = body.get("journal") if args.device is None else None
    if journal is not None:
        if NAGIOS[journal["status"]] > NAGIOS[worst]:
            worst = journal["status"]
        lines.append(f"  journal: {journal['status'].upper():<9}{journal['text']}")
    headline = f"POSDRIVER {worst.upper()} - {len(devices)} device(s) checked ({source})"
    if args.json:
        answer = {"status": worst, "source": source, "devices": devices}
        if journal is not None:
            answer["journal"] = journal
        print(json.dumps(answer, ensure_ascii=False, indent=2))
    else:
        print("\n".join([headline, *lines]))
    return NAGIOS[worst]


def _from_daemon(args: argparse.Namespace) -> dict[str, Any] | None:
    import urllib.error
    import urllib.request

    from ..config import load_config
    from .api import REFRESH_ALL_WAIT, REFRESH_WAIT

    refresh = "all" if args.connectivity else "status"
    try:
        url = _api_url(args) + f"/v1/health?refresh={refresh}"
        token = load_config(args.config).service.token
    except Exception:
        return None
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    # the daemon runs the checks now and answers within its own wait, whatever they find
    wait = (REFRESH_ALL_WAIT if args.connectivity else REFRESH_WAIT) + 5
    try:
        with urllib.request.urlopen(request, timeout=wait) as answer:
            return dict(json.loads(answer.read()))
    except urllib.error.HTTPError as exc:  # 503 carries the body too
        if exc.code == 401:
            return {"error": "the daemon refused the request: missing or wrong token"}
        try:
            return dict(json.loads(exc.read()))
        except ValueError:
            return None
    except (OSError, ValueError):
        return None


def _run_checks_here(args: argparse.Namespace) -> dict[str, Any]:
    """No daemon: open each device once (locked, as the daemon would) and run every
    check registered for its kind that it supports, as its worker would."""
    from ..cashier.terminals import make_terminal
    from ..config import PrinterConfig, TerminalConfig, load_config
    from ..health.check import Probe, unknown_result
    from ..health.registry import checks_for, run_once
    from ..links import link_for_url
    from ..locks import device_lock
    from ..printer.driver import Printer
    from ..terminal import registry
    from .snapshot import DeviceSnapshot

    config = load_config(args.config)

    def look(name: str, kind: str, url: str, run: Callable[[], list[Any]]) -> dict[str, Any]:
        """One device, locked as the daemon would lock it, checked by ``run``."""
        snap = DeviceSnapshot(name, kind, url, lifecycle="ready")
        try:
            with device_lock(config.state_dir, name, wait=5.0):
                results = run()
            snap.status_at = time.time()
        except Exception as exc:
            results = [unknown_result(name, "link", f"cannot open: {exc}")]
            snap.lifecycle = "error"
        snap.checks = {r.check: r for r in results}
        return snap.as_dict()

    def printer(cfg: PrinterConfig) -> Callable[[], list[Any]]:
        def run() -> list[Any]:
            link = link_for_url(cfg.url).open()
            try:
                return run_once(checks_for("printer"), Printer(link), Probe(cfg.name))
            finally:
                link.close()

        return run

    def terminal(cfg: TerminalConfig) -> Callable[[], list[Any]]:
        def run() -> list[Any]:
            driver = make_terminal(cfg)
            try:
                checks = checks_for("terminal", registry.get(cfg.protocol).capabilities)
                return run_once(checks, driver, Probe(cfg.name, attempts=1))
            finally:
                driver.close()

        return run

    devices = [
        look(p.name, "printer", p.url, printer(p))
        for p in config.printers
        if args.device in (None, p.name)
    ]
    devices += [
        look(t.name, "terminal", t.url, terminal(t))
        for t in config.terminals
        if args.device in (None, t.name)
    ]
    return {"devices": devices, "journal": _journal_here(config)}


def _journal_here(config: Any) -> dict[str, Any]:
    """The journal check without a daemon: the journal opened and probed with one write.
    A journal not made yet is fine where one can be made (the first payment makes it)."""
    from pathlib import Path

    from ..journal import JournalError, open_journal
    from ..journal.journal import JOURNAL_FILE
    from ..journal.watch import MIB, JournalCheck, JournalWatch

    state_dir = config.state_dir

    def result(status: str, text: str, writable: bool) -> dict[str, Any]:
        now = time.time()
        return JournalCheck(status, text, writable, None, 0, now, now).as_dict()

    path = Path(state_dir) / JOURNAL_FILE
    if not path.exists():
        where = path.parent
        while not where.exists():
            where = where.parent
        if os.access(where, os.W_OK) and not os.statvfs(where).f_flag & os.ST_RDONLY:
            return result("ok", f"no journal yet at {path}; the first payment creates it", True)
        return result("critical", f"no journal at {path}, and {where} cannot be written", False)
    try:
        journal = open_journal(state_dir)
    except JournalError as exc:
        return result("critical", str(exc), False)
    try:
        service = config.service
        watch = JournalWatch(
            journal,
            free_warning=service.free_space_warning_mib * MIB,
            free_critical=service.free_space_critical_mib * MIB,
        )
        return watch.look(probe=True).as_dict()
    finally:
        journal.close()


def _config_check(args: argparse.Namespace) -> int:
    from ..config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        if args.json:
            print(json.dumps({"ok": False, "problems": list(exc.problems)}, ensure_ascii=False))
        else:
            print(str(exc), file=sys.stderr)
        return 2
    summary: dict[str, Any] = {
        "ok": True,
        "source": None if config.source is None else str(config.source),
        "state_dir": str(config.state_dir),
        "terminals": [t.name for t in config.terminals],
        "printers": [p.name for p in config.printers],
        "api": str(config.service.api),
        "metrics": str(config.service.metrics),
        "warnings": list(config.warnings),
    }
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        where = summary["source"] or "no config file (defaults)"
        print(f"configuration OK: {where}")
        print(f"  terminals: {', '.join(summary['terminals']) or 'none'}")
        print(f"  printers:  {', '.join(summary['printers']) or 'none'}")
        print(
            f"  state dir: {summary['state_dir']}; API {summary['api']}; "
            f"metrics {summary['metrics']}"
        )
    return 0
