"""A terminal protocol's own keys in a configuration file, as a pydantic model.

Apart from :mod:`.protocol` so that what only builds command lines and help texts (the
registry, ``posdriver terminal``'s parser) does not import pydantic: a protocol's options
model is loaded when a configuration is read or a terminal is made.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class TerminalOptions(BaseModel):
    """A protocol's own keys in a terminal's ``[devices.NAME]`` table, as its options
    model declares them (pydantic: types, ranges, the messages of its validators). The
    config loader validates them with the table's other keys and reports a fault in
    them as ``FILE: devices.NAME.KEY: what is wrong``. Frozen, so a loaded configuration
    compares by value (a reload tells a changed link from an unchanged one)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    def link_settings(self) -> tuple[Any, ...]:
        """What the driver is opened with: a change of any of these needs a restart of
        the daemon, which holds the link open. Every option, unless a protocol says."""
        return tuple(sorted(self.model_dump().items()))
