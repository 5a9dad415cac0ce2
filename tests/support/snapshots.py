"""Hand-built service snapshots with every kind of device (a printer near paper end, a
stale one, a terminal cut off from its acquirer, one never reached), at a fixed clock
:data:`NOW`: what the /metrics tests expose and a real Prometheus scrapes."""

from __future__ import annotations

from posdriver.journal.watch import JournalCheck
from posdriver.service.snapshot import (
    PRINTER_ERRORS,
    CheckResult,
    DeviceSnapshot,
    ServiceSnapshot,
)

# Round numbers: their float text is short, so no digit run in the exposition can look
# like a card number by accident.
NOW = 1_800_000_000.0
VISA = "4111111111111111"
TXN = "id:7731"


def check(device: str, name: str, status: str, duration: float = 0.25) -> CheckResult:
    return CheckResult(device, name, status, f"{name} is {status} ({TXN})", duration, NOW - 1)


def printer_near_end() -> DeviceSnapshot:
    return DeviceSnapshot(
        name="receipt",
        kind="printer",
        url="serial:///dev/ttyUSB0?baudrate=38400",
        lifecycle="ready",
        last_contact=NOW - 1.5,
        status_at=NOW - 2.0,
        paper="near_end",
        cover="closed",
        errors={name: False for name in PRINTER_ERRORS},
        info={"model": "TM-T20III", "firmware": "1.02", "serial": "X8QF"},
        checks={
            "link": check("receipt", "link", "ok", 0.5),
            "paper": check("receipt", "paper", "warning", 0.125),
            "cover": check("receipt", "cover", "critical"),
            "errors": check("receipt", "errors", "unknown"),
        },
        link_errors=3,
        reconnects=1,
        retries={"print": 4, "status": 2},
        detail=f"printing {TXN}",
    )


def printer_stale() -> DeviceSnapshot:
    """Read as all fine a minute ago, quiet since: nothing of that may be served as ok."""
    return DeviceSnapshot(
        name="bar",
        kind="printer",
        url="tcp://192.0.2.10:9100",
        lifecycle="ready",
        last_contact=NOW - 60,
        status_at=NOW - 60,
        freshness=15,
        paper="ok",
        cover="closed",
        errors={"offline": True, "mechanical": False},
    )


def terminal_cut_off() -> DeviceSnapshot:
    return DeviceSnapshot(
        name="desk1",
        kind="terminal",
        url="tcp://192.0.2.50:20007",
        lifecycle="degraded",
        last_contact=NOW - 0.5,
        status_at=NOW - 0.5,
        acquirer="unreachable",
        circuit="open",
        terminal_state=f"last {TXN} card {VISA}",
        info={"model": "ZVT-emu", "firmware": "2.0", "serial": VISA},  # a confused device
        checks={"connectivity": check("desk1", "connectivity", "critical")},
        retries={"sale": 1, f"sale_{VISA}": 9, "refund 7731": 9},
    )


def terminal_never_seen() -> DeviceSnapshot:
    return DeviceSnapshot(name="desk2", kind="terminal", url="tcp://192.0.2.51:20007")


def service() -> ServiceSnapshot:
    return ServiceSnapshot(
        devices=[printer_near_end(), printer_stale(), terminal_cut_off(), terminal_never_seen()],
        operations={
            ("sale", "approved"): 12,
            ("refund", "declined"): 2,
            ("sale", "in_doubt"): 1,
            ("sale", TXN): 5,  # not a label value: dropped
        },
        in_doubt=1,
        needs_review=2,
        print_jobs={"queued": 3, "printing": 1, "failed": 0, "done": 40},
        journal_size_bytes=65536,
        journal_last_commit=NOW - 30,
        journal=JournalCheck(
            "warning", "150 MiB free; free disk space soon", True, 150 << 20, 2, NOW, NOW - 600
        ),
        started_at=NOW - 3600,
        version="0.1.0",
    )
