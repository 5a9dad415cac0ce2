"""Every exception class posdriver defines is a PosdriverError, or says why not.

A caller that must never let a posdriver fault escape (the API, a CLI command) catches
``PosdriverError`` and tells it from a bug; a tree that forgot its root would slip through
as a bug. So every module of the package is imported and every exception class defined in
it is checked, and the classes that are not PosdriverErrors are exactly the listed ones.
"""

from __future__ import annotations

import importlib
import pkgutil

import posdriver
from posdriver.errors import PosdriverError

# qualified name -> why it is not (yet) a PosdriverError
NOT_POSDRIVER_ERRORS = {}


def exception_classes() -> dict[str, type[BaseException]]:
    """Every exception class defined in a posdriver module, by qualified name."""
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(posdriver.__path__, "posdriver."):
        if info.name.endswith(".__main__"):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__ == info.name
            ):
                found[f"{info.name}.{value.__qualname__}"] = value
    return found


def test_every_posdriver_exception_is_a_posdriver_error_or_says_why_not() -> None:
    classes = exception_classes()
    outside = {name for name, cls in classes.items() if not issubclass(cls, PosdriverError)}
    assert outside == set(NOT_POSDRIVER_ERRORS)
    assert len(classes) > 30  # the walk found the package's trees, not an empty list


def test_the_trees_keep_the_standard_types_their_callers_catch() -> None:
    from posdriver.cashier.cashier import NotResolvable
    from posdriver.links.errors import LinkTimeout, LinkURLError
    from posdriver.money import AmountError
    from posdriver.plugins import PluginMissing
    from posdriver.terminal.protocol import CapabilityMissing
    from posdriver.terminal.zvt.errors import ZvtCodecError

    for cls in (NotResolvable, LinkURLError, AmountError, CapabilityMissing, ZvtCodecError):
        assert issubclass(cls, ValueError) and issubclass(cls, PosdriverError)
    assert issubclass(LinkTimeout, TimeoutError)
    assert issubclass(PluginMissing, LookupError)


def test_the_roots_are_posdriver_errors() -> None:
    from posdriver.cashier.cashier import OutcomeNotRecorded, RefundRefused
    from posdriver.cashier.cli_common import CommandError
    from posdriver.config import ConfigError
    from posdriver.desk.client import DaemonError, DaemonUnreachable
    from posdriver.desk.errors import DeskError
    from posdriver.journal.errors import JournalError, JournalFull
    from posdriver.links.errors import LinkError
    from posdriver.locks import DeviceInUse
    from posdriver.printer.errors import PrinterError
    from posdriver.terminal.outcomes import TerminalError

    roots = (ConfigError, LinkError, PrinterError, TerminalError, JournalError, DeskError)
    cashier = (RefundRefused, OutcomeNotRecorded, CommandError, DaemonError)
    for cls in (*roots, *cashier, JournalFull, DaemonUnreachable, DeviceInUse):
        assert issubclass(cls, PosdriverError), cls
