"""What each fault the emulators can inject looks like from outside the daemon: in
/metrics while it is on, and whether ``posdriver check`` must call the device not ok.

Every fault of docs/emulator.md is here, the printer's and the terminal's, so that the
matrix crosses all of them; :func:`missing` says which the emulators name that this
table does not (the test fails on one, so a new fault cannot go untried).

Three kinds of sign:

* a check and its gauges (paper out: the ``paper`` check critical and
  ``posdriver_printer_paper_state{state="out"}`` 1): ``posdriver check`` fails too;
* a device that went silent or away: ``posdriver_device_up`` 0 (its status turns
  unknown once stale, or its ``link`` check fails first);
* a fault the protocol absorbs or that only strikes a money command (a bad CRC is
  repeated, a slow acquirer still answers, a terminal hanging up mid-payment): nothing
  to alarm on, so the sign is a counter (``posdriver_reconnects_total`` after a hang-up)
  or nothing at all, and the daemon's checks of that device must stay ok meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

PRINTER = "receipt"
TERMINAL = "desk"


@dataclass
class Look:
    """One scrape of /metrics: each sample line's value by its name and labels, and the
    scrape taken when the pair of faults went on (for counters)."""

    samples: dict[str, float]
    base: dict[str, float]

    def check(self, device: str, check: str) -> str | None:
        head = f'posdriver_check_status{{device="{device}",check="{check}",status="'
        for key, value in self.samples.items():
            if key.startswith(head) and value == 1.0:
                return key[len(head) :].split('"', 1)[0]
        return None

    def value(self, key: str) -> float | None:
        return self.samples.get(key)

    def grew(self, key: str) -> bool:
        return (self.samples.get(key) or 0.0) > (self.base.get(key) or 0.0)

    def up(self, device: str, kind: str) -> bool:
        return self.samples.get(f'posdriver_device_up{{device="{device}",kind="{kind}"}}') == 1.0


Sign = Callable[[Look], bool]


@dataclass(frozen=True)
class Fault:
    """A fault of one device: how it shows (``sign``, within ``within`` seconds of being
    switched on), and whether the device's checks fail while it is on (``alarm``: then
    ``posdriver check`` must say so) or stay ok (the fault is absorbed)."""

    device: str
    name: str
    shows: str  # the sign in words, for the report and docs
    sign: Sign
    alarm: bool
    within: float  # 0: nothing shows, and the device's checks must stay ok meanwhile

    @property
    def absorbed(self) -> bool:
        return self.within == 0


def _check(device: str, check: str, *statuses: str) -> Sign:
    return lambda look: look.check(device, check) in statuses


def _gauge(key: str) -> Sign:
    return lambda look: look.value(key) == 1.0


def _both(*signs: Sign) -> Sign:
    return lambda look: all(sign(look) for sign in signs)


def _either(*signs: Sign) -> Sign:
    return lambda look: any(sign(look) for sign in signs)


def _down(device: str, kind: str) -> Sign:
    return lambda look: not look.up(device, kind)


def _grew(key: str) -> Sign:
    return lambda look: look.grew(key)


def _nothing(_look: Look) -> bool:
    return True


def _printer_state(family: str, state: str) -> str:
    return f'posdriver_printer_{family}_state{{device="{PRINTER}",state="{state}"}}'


def _printer_error(error: str) -> str:
    return f'posdriver_printer_error{{device="{PRINTER}",error="{error}"}}'


PRINTER_DOWN = _both(_check(PRINTER, "link", "critical", "unknown"), _down(PRINTER, "printer"))
TERMINAL_DOWN = _both(_check(TERMINAL, "link", "critical", "unknown"), _down(TERMINAL, "terminal"))
TERMINAL_RECONNECTED = _grew(f'posdriver_reconnects_total{{device="{TERMINAL}"}}')

PRINTER_FAULTS = [
    Fault(
        PRINTER,
        "paper_near_end",
        "paper check warning, paper_state near_end",
        _both(_check(PRINTER, "paper", "warning"), _gauge(_printer_state("paper", "near_end"))),
        True,
        5,
    ),
    Fault(
        PRINTER,
        "paper_out",
        "paper check critical, paper_state out",
        _both(_check(PRINTER, "paper", "critical"), _gauge(_printer_state("paper", "out"))),
        True,
        5,
    ),
    Fault(
        PRINTER,
        "cover_open",
        "cover check critical, cover_state open",
        _both(_check(PRINTER, "cover", "critical"), _gauge(_printer_state("cover", "open"))),
        True,
        5,
    ),
    Fault(
        PRINTER,
        "offline",
        "errors check critical, printer_error offline",
        _both(_check(PRINTER, "errors", "critical"), _gauge(_printer_error("offline"))),
        True,
        5,
    ),
    Fault(
        PRINTER,
        "cutter_error",
        "errors check critical, printer_error autocutter",
        _both(_check(PRINTER, "errors", "critical"), _gauge(_printer_error("autocutter"))),
        True,
        5,
    ),
    Fault(
        PRINTER,
        "unrecoverable_error",
        "errors check critical, printer_error unrecoverable",
        _both(_check(PRINTER, "errors", "critical"), _gauge(_printer_error("unrecoverable"))),
        True,
        5,
    ),
    Fault(PRINTER, "power_off", "link check failing, device_up 0", PRINTER_DOWN, True, 10),
    Fault(PRINTER, "busy", "link check failing, device_up 0", PRINTER_DOWN, True, 10),
    Fault(PRINTER, "disconnect", "link check failing, device_up 0", PRINTER_DOWN, True, 10),
    Fault(
        PRINTER,
        "garbage",
        "link check failing or link_errors_total up (the noise is random)",
        _either(
            _check(PRINTER, "link", "critical", "unknown"),
            _grew(f'posdriver_link_errors_total{{device="{PRINTER}"}}'),
        ),
        False,
        10,
    ),
]

# A terminal that goes silent shows once its status is stale (two polls plus 5 s) or its
# status enquiry has failed (three transmissions 5 s apart, behind a payment's own).
TERMINAL_FAULTS = [
    Fault(TERMINAL, "power_off", "link check failing, device_up 0", TERMINAL_DOWN, True, 20),
    Fault(TERMINAL, "withhold_ack", "link check failing, device_up 0", TERMINAL_DOWN, True, 20),
    Fault(TERMINAL, "nak_storm", "link check failing, device_up 0", TERMINAL_DOWN, True, 20),
    Fault(TERMINAL, "disconnect", "link check failing, device_up 0", TERMINAL_DOWN, True, 20),
    Fault(
        TERMINAL,
        "busy",
        "terminal_state check warning",
        _check(TERMINAL, "terminal_state", "warning"),
        True,
        5,
    ),
    Fault(
        TERMINAL,
        "card_left",
        "terminal_state check warning",
        _check(TERMINAL, "terminal_state", "warning"),
        True,
        5,
    ),
    Fault(
        TERMINAL,
        "init_required",
        "terminal_state check critical",
        _check(TERMINAL, "terminal_state", "critical"),
        True,
        5,
    ),
    Fault(
        TERMINAL,
        "host_unreachable",
        "connectivity check critical, acquirer_state unreachable",
        _both(
            _check(TERMINAL, "connectivity", "critical"),
            _gauge(f'posdriver_terminal_acquirer_state{{device="{TERMINAL}",state="unreachable"}}'),
        ),
        True,
        15,
    ),
    Fault(
        TERMINAL,
        "drop_before_accept",
        "reconnects_total up (the sale is not reached)",
        TERMINAL_RECONNECTED,
        False,
        15,
    ),
    Fault(
        TERMINAL,
        "drop_after_status",
        "reconnects_total up (the sale in doubt, then resolved)",
        TERMINAL_RECONNECTED,
        False,
        15,
    ),
    Fault(
        TERMINAL,
        "drop_before_completion",
        "reconnects_total up (the sale in doubt, then resolved)",
        TERMINAL_RECONNECTED,
        False,
        15,
    ),
    Fault(TERMINAL, "bad_crc", "nothing: each frame is repeated", _nothing, False, 0),
    Fault(TERMINAL, "slow_host", "nothing: the acquirer answers late", _nothing, False, 0),
    Fault(TERMINAL, "garbage", "nothing: the noise is NAKed", _nothing, False, 0),
]


def missing(supported: dict[str, list[str]]) -> list[str]:
    """Faults the emulators support (``device -> names``, from ``GET /faults``) that
    this table does not cover."""
    known = {
        PRINTER: {f.name for f in PRINTER_FAULTS},
        TERMINAL: {f.name for f in TERMINAL_FAULTS},
    }
    return [
        f"{device} {name}"
        for device, names in supported.items()
        for name in names
        if name not in known[device]
    ]
