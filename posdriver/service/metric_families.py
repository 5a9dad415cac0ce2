"""The metric families ``/metrics`` exports, declared once (name, type, help, labels, in
the order they are written), and the Prometheus text format they are written in: label
escaping, sample values, and a state set's lines rendered once per possible state.

The page that fills them from a snapshot is :mod:`.metrics`; docs/ops.md lists them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


# -- the text format ------------------------------------------------------------------------
def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{key}="{_label_value(value)}"' for key, value in pairs)
    return f"{{{inner}}}" if inner else ""


def number(value: float) -> str:
    """A sample value as the text format spells it (Go's ParseFloat reads Python's repr
    of a finite float; the three specials have names of their own)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


@dataclass(frozen=True, eq=False)  # hashed by identity: a scrape looks families up often
class Family:
    """One metric family: its exposed name (a counter's ends in ``_total``, as the text
    format wants it), type, help and label names in order."""

    name: str
    type: str  # gauge | counter
    help: str
    labels: tuple[str, ...] = ()

    @property
    def header(self) -> str:
        text = self.help.replace("\\", "\\\\").replace("\n", "\\n")
        return f"# HELP {self.name} {text}\n# TYPE {self.name} {self.type}\n"

    def line(self, values: Sequence[str], value: float) -> str:
        """One series: label values in the order of :attr:`labels`."""
        return f"{self.prefix(values)}{number(value)}\n"

    def prefix(self, values: Sequence[str]) -> str:
        """A series up to its value (for lines whose value changes every scrape)."""
        return f"{self.name}{_labels(zip(self.labels, values, strict=True))} "

    def state_chunks(self, values: Sequence[str], states: Sequence[str]) -> _StateChunks:
        """A state set's lines for every possible current state, rendered once."""
        prefixes = [self.prefix([*values, state]) for state in states]
        chunks = {
            current: "".join(
                f"{p}{'1.0' if state == current else '0.0'}\n"
                for p, state in zip(prefixes, states, strict=True)
            )
            for current in states
        }
        # A value outside the set marks ``unknown`` if the set has one (so a surprise
        # never reads as a healthy state); otherwise every series is 0.
        fallback = chunks.get("unknown") or "".join(f"{p}0.0\n" for p in prefixes)
        return _StateChunks(chunks, fallback)


class _StateChunks(dict[str, str]):
    """State -> its chunk; any other value gives the fallback chunk."""

    def __init__(self, chunks: dict[str, str], fallback: str) -> None:
        super().__init__(chunks)
        self.fallback = fallback

    def __missing__(self, state: str) -> str:
        return self.fallback


G, C = "gauge", "counter"
BUILD_INFO = Family("posdriver_build_info", G, "posdriver version running; value 1.", ("version",))
START_TIME = Family("posdriver_start_time_seconds", G, "Unix time the daemon started.")
DEVICE_INFO = Family(
    "posdriver_device_info",
    G,
    "Configured device and what it reported about itself; value 1.",
    ("device", "kind", "model", "firmware", "serial"),
)
DEVICE_UP = Family(
    "posdriver_device_up",
    G,
    "1 when the device is connected (ready, busy or degraded), its status is fresh and "
    "its link check has not just failed.",
    ("device", "kind"),
)
DEVICE_STATE = Family(
    "posdriver_device_state",
    G,
    "Device worker lifecycle: 1 for the current state, 0 for the others.",
    ("device", "state"),
)
LAST_CONTACT = Family(
    "posdriver_device_last_contact_timestamp_seconds",
    G,
    "Unix time of the last successful exchange with the device.",
    ("device",),
)
STATUS_AGE = Family(
    "posdriver_device_status_age_seconds",
    G,
    "Seconds since the device's status values were read.",
    ("device",),
)
PAPER = Family(
    "posdriver_printer_paper_state",
    G,
    "Receipt paper: 1 for the current state; unknown when stale or unread.",
    ("device", "state"),
)
COVER = Family(
    "posdriver_printer_cover_state",
    G,
    "Printer cover: 1 for the current state; unknown when stale or unread.",
    ("device", "state"),
)
PRINTER_ERROR = Family(
    "posdriver_printer_error",
    G,
    "1 while the printer reports this error; 0 when clear or unknown.",
    ("device", "error"),
)
ACQUIRER = Family(
    "posdriver_terminal_acquirer_state",
    G,
    "Terminal's connection to its acquirer (card host): 1 for the current state.",
    ("device", "state"),
)
CIRCUIT = Family(
    "posdriver_terminal_circuit_state",
    G,
    "Circuit breaker on the acquirer connectivity check: 1 for the current state.",
    ("device", "state"),
)
CHECK_SUCCESS = Family(
    "posdriver_check_success",
    G,
    "1 when the health check's latest status is ok, else 0 (never run counts as 0).",
    ("device", "check"),
)
CHECK_STATUS = Family(
    "posdriver_check_status",
    G,
    "Health check's latest status: 1 for the current one (unknown until it runs).",
    ("device", "check", "status"),
)
CHECK_DURATION = Family(
    "posdriver_check_duration_seconds",
    G,
    "How long the health check's latest run took.",
    ("device", "check"),
)
LINK_ERRORS = Family(
    "posdriver_link_errors_total", C, "Errors on the device's link (serial, USB, TCP).", ("device",)
)
RECONNECTS = Family(
    "posdriver_reconnects_total",
    C,
    "Times the device's link was opened again after a loss.",
    ("device",),
)
RETRIES = Family(
    "posdriver_retries_total", C, "Retries of an operation on the device.", ("device", "operation")
)
OPERATIONS = Family(
    "posdriver_operations_total",
    C,
    "Money operations finished, by kind and outcome (from the journal).",
    ("kind", "outcome"),
)
IN_DOUBT = Family(
    "posdriver_operations_in_doubt",
    G,
    "Money operations whose result is not known: the card may have been charged.",
)
NEEDS_REVIEW = Family(
    "posdriver_operations_needs_review",
    G,
    "Money operations the daemon could not resolve; a person must check them.",
)
PRINT_JOBS = Family(
    "posdriver_print_jobs", G, "Receipt print jobs by state (queued, printing, failed).", ("state",)
)
JOURNAL_SIZE = Family("posdriver_journal_size_bytes", G, "Size of the journal database.")
JOURNAL_LAST_COMMIT = Family(
    "posdriver_journal_last_commit_timestamp_seconds", G, "Unix time of the journal's last commit."
)
JOURNAL_WRITABLE = Family(
    "posdriver_journal_writable",
    G,
    "1 when the journal takes writes (its last write or probe committed, its file system "
    "is read-write, its file is in place); 0 stops every payment before it is sent.",
)
JOURNAL_WRITE_ERRORS = Family(
    "posdriver_journal_write_errors_total",
    C,
    "Journal writes that failed (disk full, read-only, damaged).",
)
STATE_DIR_FREE = Family(
    "posdriver_state_dir_free_bytes", G, "Free space on the file system of the state directory."
)
# In the order they are written.
FAMILIES = (
    BUILD_INFO,
    START_TIME,
    DEVICE_INFO,
    DEVICE_UP,
    DEVICE_STATE,
    LAST_CONTACT,
    STATUS_AGE,
    PAPER,
    COVER,
    PRINTER_ERROR,
    ACQUIRER,
    CIRCUIT,
    CHECK_SUCCESS,
    CHECK_STATUS,
    CHECK_DURATION,
    LINK_ERRORS,
    RECONNECTS,
    RETRIES,
    OPERATIONS,
    IN_DOUBT,
    NEEDS_REVIEW,
    PRINT_JOBS,
    JOURNAL_SIZE,
    JOURNAL_LAST_COMMIT,
    JOURNAL_WRITABLE,
    JOURNAL_WRITE_ERRORS,
    STATE_DIR_FREE,
)
