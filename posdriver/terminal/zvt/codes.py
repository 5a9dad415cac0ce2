"""ZVT's code tables in words (PA00P015 §10, §11, intermediate status texts).

Result codes arrive in BMP 27, in ``06 1E`` (Abort) and as the xx of a negative answer
``84 xx``. Codes 01..63 come from the card issuer's authorisation system.
"""

from __future__ import annotations

# fmt: off
RESULT_CODES: dict[int, str] = {
    0x00: "no error",
    0x64: "card not readable",
    0x65: "card data not present",
    0x66: "processing error",
    0x67: "function not permitted for ec and Maestro cards",
    0x68: "function not permitted for credit and tank cards",
    0x6A: "turnover file full",
    0x6B: "function deactivated (terminal not registered)",
    0x6C: "abort via timeout or abort key",
    0x6E: "card in blocked list",
    0x6F: "wrong currency",
    0x71: "credit not sufficient",
    0x72: "chip error",
    0x73: "card data incorrect",
    0x74: "DUKPT engine exhausted",
    0x75: "text not authentic",
    0x76: "PAN not in white list",
    0x77: "end-of-day batch not possible",
    0x78: "card expired",
    0x79: "card not yet valid",
    0x7A: "card unknown",
    0x7B: "fallback to magnetic stripe not possible",
    0x7C: "fallback to magnetic stripe not possible",
    0x7D: "communication error (host or network)",
    0x7E: "fallback not possible, debit advice possible",
    0x83: "function not possible",
    0x85: "key missing",
    0x89: "PIN pad defective",
    0x9A: "ZVT protocol error",
    0x9B: "error from dial-up or communication fault",
    0x9C: "please wait",
    0xA0: "receiver not ready",
    0xA1: "remote station does not respond",
    0xA3: "no connection",
    0xA4: "submission of Geldkarte not possible",
    0xA5: "function not allowed due to PCI-DSS/P2PE rules",
    0xB1: "memory full",
    0xB2: "merchant journal full",
    0xB4: "already reversed",
    0xB5: "reversal not possible",
    0xB7: "pre-authorisation incorrect (amount too high) or amount wrong",
    0xB8: "error pre-authorisation",
    0xBF: "voltage supply too low",
    0xC0: "card locking mechanism defective",
    0xC1: "merchant card locked",
    0xC2: "diagnosis required",
    0xC3: "maximum amount exceeded",
    0xC4: "card profile invalid",
    0xC5: "payment method not supported",
    0xC6: "currency not applicable",
    0xC8: "amount too small",
    0xC9: "maximum transaction amount too small",
    0xCB: "function only allowed in EURO",
    0xCC: "printer not ready",
    0xCD: "cashback not possible",
    0xD2: "function not permitted for service cards",
    0xDC: "card inserted",
    0xDD: "error during card eject",
    0xDE: "error during card insertion",
    0xE0: "remote maintenance activated",
    0xE2: "card reader does not answer or is defective",
    0xE3: "shutter closed",
    0xE4: "terminal activation required",
    0xE7: "min. one goods group not found",
    0xE8: "no goods-group table loaded",
    0xE9: "restriction code not permitted",
    0xEA: "card code not permitted",
    0xEB: "function not executable (PIN algorithm unknown)",
    0xEC: "PIN processing not possible",
    0xED: "PIN pad defective",
    0xF0: "open end-of-day batch present",
    0xF1: "ec-cash/Maestro offline error",
    0xF5: "OPT error",
    0xF6: "OPT data not available",
    0xFA: "error transmitting offline transactions (clearing error)",
    0xFB: "turnover data set defective",
    0xFC: "necessary device not present",
    0xFD: "baud rate not supported",
    0xFE: "register unknown",
    0xFF: "system error (see vendor error in TLV 1F16/1F17)",
}

TERMINAL_STATUS: dict[int, str] = {
    0x00: "ready",
    0x51: "initialisation required",
    0x62: "date/time incorrect",
    0x9C: "please wait",
    0x9D: "partial issue of goods",
    0xB1: "memory full",
    0xB2: "merchant journal full",
    0xBF: "voltage supply too low",
    0xC0: "card locking mechanism defective",
    0xC1: "merchant card locked",
    0xC2: "diagnosis required",
    0xC4: "card profile invalid",
    0xCC: "printer not ready",
    0xDC: "card inserted",
    0xDF: "out of order",
    0xE0: "remote maintenance activated",
    0xE1: "card not completely removed",
    0xE2: "card reader does not answer or is defective",
    0xE3: "shutter closed",
    0xE4: "terminal activation required",
    0xF0: "reconciliation required",
    0xF6: "OPT data not available",
}

# What the ECR does about a terminal status (§11.1); a health check shows it to people.
TERMINAL_STATUS_REMEDY: dict[int, str] = {
    0x51: "run initialisation (06 93)",
    0x62: "set date and time (06 91) or run diagnosis (06 70)",
    0xC2: "run diagnosis (06 70)",
    0xB1: "run end-of-day (06 50)",
    0xB2: "run end-of-day (06 50)",
    0xF0: "run end-of-day (06 50)",
    0xDC: "ask the guest to remove the card",
    0xE1: "ask the guest to remove the card",
    0xCC: "check the terminal's printer",
}

INTERMEDIATE_STATUS: dict[int, str] = {
    0x00: "waiting for amount confirmation",
    0x01: "please watch PIN pad",
    0x02: "please watch PIN pad",
    0x03: "not accepted",
    0x04: "waiting for response from FEP",
    0x05: "sending auto-reversal",
    0x06: "sending post-bookings",
    0x07: "card not admitted",
    0x08: "card unknown / undefined",
    0x09: "expired card",
    0x0A: "insert card",
    0x0B: "please remove card",
    0x0C: "card not readable",
    0x0D: "processing error",
    0x0E: "please wait",
    0x0F: "terminal running automatic end-of-day",
    0x10: "invalid card",
    0x11: "balance display",
    0x12: "system malfunction",
    0x13: "payment not possible",
    0x14: "credit not sufficient",
    0x15: "incorrect PIN",
    0x16: "limit not sufficient",
    0x17: "please wait",
    0x18: "PIN try limit exceeded",
    0x19: "card data incorrect",
    0x1A: "service mode",
    0x1B: "approved, please fill up",
    0x1C: "approved, please take goods",
    0x1D: "declined",
    0xF1: "offline",
    0xF2: "online",
    0xF3: "offline transaction",
}
# fmt: on


def result_text(code: int) -> str:
    """A result code in words; 01..63 are the authorisation system's own."""
    if code in RESULT_CODES:
        return RESULT_CODES[code]
    if 0x01 <= code <= 0x63:
        return f"declined by the card issuer (authorisation code {code:02X})"
    return f"result code {code:02X}"


def terminal_status_text(code: int) -> str:
    return TERMINAL_STATUS.get(code, f"terminal status {code:02X}")


def intermediate_text(code: int) -> str:
    if code in INTERMEDIATE_STATUS:
        return INTERMEDIATE_STATUS[code]
    if 0x41 <= code <= 0x5D and code - 0x40 in INTERMEDIATE_STATUS:
        return INTERMEDIATE_STATUS[code - 0x40] + ", remove card"
    return f"intermediate status {code:02X}"
