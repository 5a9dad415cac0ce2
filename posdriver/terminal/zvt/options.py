"""ZVT's keys in a terminal's table (and the few more ``posdriver terminal`` may set), as
pydantic models; loaded when a configuration is read or a terminal is made, not when a
command line is parsed.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator

from ..options import TerminalOptions
from .protocol import DEFAULT_PASSWORD

_PASSWORD = re.compile(r"[0-9]{6}")


class ZvtOptions(TerminalOptions):
    """The ZVT keys of a terminal's table. ``None`` timeouts are the protocol's."""

    password: Any = DEFAULT_PASSWORD  # six digits; a bare number gets a hint (below)
    # T3 (the terminal accepts a command) is seconds in ZVT (5 s); T4 (its silence while
    # it works) is minutes at most (180 s): longer only hides a dead terminal from a guest
    timeout_t3: float | None = Field(default=None, gt=0, le=60, allow_inf_nan=False)
    timeout_t4: float | None = Field(default=None, gt=0, le=1800, allow_inf_nan=False)

    @field_validator("password")
    @classmethod
    def _six_digits(cls, password: Any) -> str:
        if isinstance(password, int) and not isinstance(password, bool) and 0 <= password < 10**6:
            raise ValueError(
                f'write the password in quotes, such as password = "{password:06d}", '
                "so leading zeros are kept"
            )
        if not isinstance(password, str) or not _PASSWORD.fullmatch(password):
            raise ValueError("the terminal password is six digits, such as 123456")
        return password


class ZvtLineOptions(ZvtOptions):
    """What ``posdriver terminal`` may set besides: the serial ACK wait and the
    registration config byte (diagnosis settings, not a desk's configuration)."""

    timeout_t2: float | None = Field(default=None, gt=0, lt=86400, allow_inf_nan=False)
    config_byte: int | None = Field(default=None, ge=0, le=0xFF)
