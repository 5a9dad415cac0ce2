"""Command-line overrides of a loaded configuration (``--state-dir``, ``--terminal URL``,
``--printer URL``), checked as the file is."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from ..links import LinkURLError, link_for_url
from .model import Config, ConfigError, PrinterConfig, TerminalConfig


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
    top-level currency with their protocol's default settings; their receipts go to the
    first printer.
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
