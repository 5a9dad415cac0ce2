"""The configuration file's format: pydantic models of its tables (pass one of the
check: types, ranges, required and unknown keys). A terminal protocol's own keys are
its options model (:mod:`posdriver.terminal.protocol`), checked beside these.

Strict: TOML already has types, so "42" for a number or 1 for a boolean is a mistake to
report, not a value to coerce. Floats still accept integers (`wait_max = 10`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..terminal import registry
from .model import DEFAULT_CURRENCY

STRICT = ConfigDict(strict=True, extra="forbid")


class ReceiptModel(BaseModel):
    model_config = STRICT
    language: Literal["en", "zh", "en+zh"] = "en"
    header: list[str] = []
    footer: list[str] = []
    merchant_copy: bool = False
    columns: int = Field(default=42, ge=1, le=80)


class RefundModel(BaseModel):
    model_config = STRICT
    daily_cap: Any = None  # an amount: checked in pass two, in the top-level currency
    max_split_parts: int = Field(default=5, ge=1, le=20)


class PrintModel(BaseModel):
    model_config = STRICT
    attempts: int = Field(default=5, ge=1, le=100)
    # Every time and count has an upper bound too: an unbounded one (1e12) passed the
    # check and then overflowed the first sleep or socket timeout that used it.
    wait_initial: float = Field(default=0.5, gt=0, le=60, allow_inf_nan=False)
    wait_max: float = Field(default=10.0, gt=0, le=600, allow_inf_nan=False)
    jitter: float = Field(default=0.5, ge=0, le=60, allow_inf_nan=False)
    ready_timeout: float = Field(default=30.0, ge=0, le=600, allow_inf_nan=False)


class ServiceModel(BaseModel):
    model_config = STRICT
    api: str = "127.0.0.1:8470"
    metrics: str = "127.0.0.1:8471"
    token: str | None = Field(default=None, min_length=16)
    poll_interval: float = Field(default=2.0, ge=0.1, le=3600, allow_inf_nan=False)
    terminal_poll_interval: float = Field(default=30.0, ge=1, le=3600, allow_inf_nan=False)
    connectivity_interval: float = Field(default=300.0, ge=10, le=86400, allow_inf_nan=False)
    connectivity_retry_interval: float = Field(default=60.0, ge=10, le=86400, allow_inf_nan=False)
    freshness: float | None = Field(default=None, gt=0, le=86400, allow_inf_nan=False)
    reconnect_max: float = Field(default=30.0, ge=0.1, le=3600, allow_inf_nan=False)
    check_attempts: int = Field(default=2, ge=1, le=10)
    free_space_warning_mib: int = Field(default=200, ge=0, le=100_000)
    free_space_critical_mib: int = Field(default=20, ge=0, le=100_000)
    connection_timeout: float = Field(default=10.0, ge=1, le=3600, allow_inf_nan=False)
    max_connections: int = Field(default=64, ge=1, le=1000)


class DeviceModel(BaseModel):
    """Both kinds in one model, so a key of the other kind is reported as such."""

    model_config = STRICT
    kind: Literal["terminal", "printer"]
    url: str
    # terminals (their protocol's own keys are its options model: see protocol_keys)
    protocol: str | None = None  # checked in pass two against the registry
    currency: str | None = None
    refund_limit: Any = None  # an amount: checked in pass two, in the device's currency
    standby: str | None = None
    printer: str | None = None
    connectivity_interval: float | None = Field(default=None, ge=10, le=86400, allow_inf_nan=False)
    connectivity_retry_interval: float | None = Field(
        default=None, ge=10, le=86400, allow_inf_nan=False
    )
    check_attempts: int | None = Field(default=None, ge=1, le=10)
    # printers
    profile: str = "TM-T88V"
    # both: the status poll (printers: ge 0.1 as [service] poll_interval; terminals: ge 1,
    # checked in pass two)
    poll_interval: float | None = Field(default=None, ge=0.1, le=3600, allow_inf_nan=False)


TERMINAL_KEYS = (
    "protocol",
    "currency",
    "refund_limit",
    "standby",
    "printer",
    "connectivity_interval",
    "connectivity_retry_interval",
    "check_attempts",
)
PRINTER_KEYS = ("profile",)


class FileModel(BaseModel):
    model_config = STRICT
    state_dir: str | None = None
    currency: str = DEFAULT_CURRENCY
    receipt: ReceiptModel = ReceiptModel()
    refund: RefundModel = RefundModel()
    print: PrintModel = PrintModel()
    service: ServiceModel = ServiceModel()
    devices: dict[str, DeviceModel] = {}


SECTIONS: dict[str, type[BaseModel]] = {
    "service": ServiceModel,
    "receipt": ReceiptModel,
    "refund": RefundModel,
    "print": PrintModel,
}


def protocol_keys() -> dict[str, type[BaseModel]]:
    """Every key some terminal protocol owns, with the options model that owns it (for a
    key on a printer, or an unknown key's hint); a protocol's own check is its model."""
    keys: dict[str, type[BaseModel]] = {}
    for name in registry.names():
        model = registry.get(name).options_model
        for key in model.model_fields:
            keys.setdefault(key, model)
    return keys


def table_model(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model of the table that the key at ``loc`` sits in (devices: the common one)."""
    parent = loc[:-1]
    if not parent:
        return FileModel
    if len(parent) == 1 and isinstance(parent[0], str):
        return SECTIONS.get(parent[0])
    if len(parent) == 2 and parent[0] == "devices":
        return DeviceModel
    return None
