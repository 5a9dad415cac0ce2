"""Finding, reading and checking the configuration file, into a :class:`~.model.Config`.

One small TOML file (``/etc/posdriver/posdriver.toml`` unless ``POSDRIVER_CONFIG`` or
``--config`` names another). Checking happens in two passes: the file's models
(:mod:`.schema`, and each terminal protocol's options model) check the shape; then the
checks that need the whole file run (:mod:`.checks`). Every problem found is one line
of one :class:`~.model.ConfigError`.

A command that only reads the journal (``txn show``, ``txn list``, ...) asks for
``journal_only``: the keys that find the journal (``state_dir``, ``[service]`` api and
token) and the top-level currency are read and nothing else is checked,
so that a mistake in a device's table does not keep staff from a guest's payment, and
the command does not pay for importing the models (pydantic is most of a command's
start-up). When those keys are themselves wrong the whole file is checked as usual, so
there is one set of error messages.
"""

from __future__ import annotations

import grp
import os
import re
import stat
import tomllib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .model import (
    CONFIG_ENV,
    DEFAULT_CONFIG_PATH,
    DEFAULT_CURRENCY,
    Config,
    ConfigError,
    PrintPolicy,
    ReceiptConfig,
    RefundConfig,
    ServiceConfig,
    currency_code,
    default_state_dir,
    parse_address,
    state_dir_fault,
)

if TYPE_CHECKING:
    from ..terminal.options import TerminalOptions


def load_config(path: str | Path | None = None, *, journal_only: bool = False) -> Config:
    """Read and check the configuration.

    ``path`` (``--config``) must exist. Without it, ``POSDRIVER_CONFIG`` names the file
    and must exist too (a typo there must not silently drop the configuration); without
    that, ``/etc/posdriver/posdriver.toml`` is read if present, else defaults apply.

    ``journal_only``: read only what finds the journal (``state_dir``, ``[service]`` api
    and token) and ``currency``, into a :class:`Config` that is not ``complete`` (see
    the module's text).
    """
    build = _journal_settings if journal_only else _build
    if path is not None and str(path) != "":
        return _load_file(Path(path), build)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return _load_file(Path(env), build, named_by=CONFIG_ENV)
    if DEFAULT_CONFIG_PATH.exists():
        return _load_file(DEFAULT_CONFIG_PATH, build)
    return build({}, None)


def _load_file(
    path: Path, build: Callable[[dict[str, Any], Path | None], Config], named_by: str | None = None
) -> Config:
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
    config = build(raw, path)
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


def _journal_settings(raw: dict[str, Any], source: Path | None) -> Config:
    """The keys that find the journal, and the currency, when each is plainly right (the
    same rules as :class:`.checks.Checker`); else the whole file's check, which names
    what is wrong."""
    state_dir, currency = raw.get("state_dir"), _currency(raw.get("currency", DEFAULT_CURRENCY))
    service = raw.get("service", {})
    if not isinstance(service, dict):
        return _build(raw, source)
    api, token = service.get("api", str(ServiceConfig.api)), service.get("token")
    plain = (
        (state_dir is None or (isinstance(state_dir, str) and state_dir_fault(state_dir) is None))
        and currency is not None
        and isinstance(api, str)
        and (token is None or (isinstance(token, str) and len(token) >= 16))
    )
    try:
        address = parse_address(api) if plain else None
    except ValueError:
        address = None
    if address is None or currency is None or (token is None and not address.loopback):
        return _build(raw, source)
    return Config(
        source=source,
        state_dir=Path(state_dir).expanduser() if state_dir is not None else default_state_dir(),
        currency=currency,
        receipt=ReceiptConfig(),
        refund=RefundConfig(),
        print=PrintPolicy(),
        terminals=(),
        printers=(),
        service=ServiceConfig(api=address, token=token),
        complete=False,
    )


def _currency(value: Any) -> str | None:
    """The top-level currency (``txn list --amount`` means it), if it is one."""
    if not isinstance(value, str):
        return None
    from ..money import AmountError

    try:
        return currency_code(value)
    except AmountError:
        return None


def _build(raw: dict[str, Any], source: Path | None) -> Config:
    """Both passes over parsed TOML; raises one ConfigError with every problem found.

    A terminal's protocol owns some keys of its table: they are taken out before the
    file's model sees the table, and checked by the protocol's own options model, in the
    same pass, with the same sentences."""
    from pydantic import ValidationError

    from .checks import Checker
    from .schema import FileModel
    from .sentences import explain, key_text

    where = str(source) if source is not None else "configuration"
    raw, owned = _take_protocol_keys(raw)
    problems: list[str] = []
    try:
        model = FileModel.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{where}: {key_text(err['loc'])}: {explain(err)}" for err in exc.errors()]
    options, wrong = _protocol_options(raw, owned, where)
    problems += wrong
    if problems:
        raise ConfigError("\n".join(problems), problems)
    checker = Checker(where, owned, options)
    config = checker.build(model, source)
    if checker.problems:
        raise ConfigError("\n".join(checker.problems), checker.problems)
    assert config is not None
    return config


def _take_protocol_keys(raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """``raw`` without the keys terminal protocols own, and those keys by device."""
    from .schema import protocol_keys

    devices = raw.get("devices")
    if not isinstance(devices, dict):
        return raw, {}
    owned_keys = protocol_keys()
    owned: dict[str, dict[str, Any]] = {}
    tables: dict[str, Any] = {}
    for name, table in devices.items():
        if isinstance(table, dict):
            mine = {k: v for k, v in table.items() if k in owned_keys}
            if mine:
                owned[name] = mine
            table = {k: v for k, v in table.items() if k not in owned_keys}
        tables[name] = table
    return {**raw, "devices": tables}, owned


def _protocol_options(
    raw: dict[str, Any], owned: dict[str, dict[str, Any]], where: str
) -> tuple[dict[str, TerminalOptions], list[str]]:
    """Each terminal's protocol options, checked by its protocol's model; the sentences
    for what is wrong. A table whose kind or protocol is itself wrong is left to the
    other checks (they say so)."""
    from pydantic import ValidationError

    from ..terminal import registry
    from .sentences import explain, key_text

    options: dict[str, TerminalOptions] = {}
    problems: list[str] = []
    devices = raw.get("devices")
    for name, table in (devices if isinstance(devices, dict) else {}).items():
        if not isinstance(table, dict) or table.get("kind") != "terminal":
            continue
        try:
            protocol = registry.get(table.get("protocol") or registry.DEFAULT)
        except (registry.UnknownProtocol, TypeError):
            continue
        at = ("devices", name)
        given = owned.get(name, {})
        foreign = sorted(set(given) - set(protocol.options_model.model_fields))
        for key in foreign:
            problems.append(
                f"{where}: {key_text((*at, key))}: protocol {protocol.name!r} has no key "
                f"{key!r}; its keys: {', '.join(protocol.options_model.model_fields)}"
            )
        try:
            options[name] = protocol.options_model.model_validate(
                {k: v for k, v in given.items() if k not in foreign}
            )
        except ValidationError as exc:
            model = protocol.options_model
            problems += [
                f"{where}: {key_text((*at, *err['loc']))}: {explain(err, model, at)}"
                for err in exc.errors()
            ]
    return options, problems
