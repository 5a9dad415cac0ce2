"""The posdriver configuration file: which devices stand at the desk and how to use them.

One small TOML file (``/etc/posdriver/posdriver.toml`` unless ``POSDRIVER_CONFIG`` or
``--config`` names another) describes the terminals and printers, receipt texts, refund
caps and the print retry policy. The CLI reads it on every command and the daemon at
start, so every mistake in it is found when it is loaded, before any device is touched,
and reported as one :class:`ConfigError` whose lines each name the file, the key and what
is wrong::

    /etc/posdriver/posdriver.toml: devices.desk1.url: ftp://x: unknown scheme 'ftp'; ...

Checking happens in two passes. pydantic checks the shape: types, ranges, required keys
and unknown keys (a misspelt key must not silently fall back to a default). Then the
checks that need the whole file run: link URLs (through :func:`posdriver.links.link_for_url`,
the same parser that opens them), amounts in the right currency, and device references.

What the rest of the code sees is plain frozen dataclasses (:class:`Config` and friends),
not the pydantic models, so the file format can change without touching its users.

The package by job: :mod:`.model` (what the rest sees), :mod:`.schema` (the file's
format), :mod:`.checks` (pass two), :mod:`.sentences` (errors in words), :mod:`.loading`
(finding and reading the file), :mod:`.overrides` (command-line overrides). A terminal
protocol's own keys are its options model, in its package under posdriver/terminal/.
"""

from .loading import load_config
from .model import (
    API_ENV,
    CONFIG_ENV,
    DEFAULT_CONFIG_PATH,
    DEFAULT_CURRENCY,
    STATE_DIR_ENV,
    Address,
    Config,
    ConfigError,
    PrinterConfig,
    PrintPolicy,
    ReceiptConfig,
    RefundConfig,
    ServiceConfig,
    TerminalConfig,
    default_state_dir,
    parse_address,
)
from .overrides import with_overrides

__all__ = [
    "API_ENV",
    "CONFIG_ENV",
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_CURRENCY",
    "STATE_DIR_ENV",
    "Address",
    "Config",
    "ConfigError",
    "PrintPolicy",
    "PrinterConfig",
    "ReceiptConfig",
    "RefundConfig",
    "ServiceConfig",
    "TerminalConfig",
    "default_state_dir",
    "load_config",
    "parse_address",
    "with_overrides",
]
