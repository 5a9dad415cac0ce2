"""CRC-16/KERMIT, the checksum of ZVT's serial frames.

The specification calls it "CRC-XModem with polynomial x16+x15+x10+x3", which is the
bit-reversed notation of 0x1021; what terminals compute is the reflected form
(poly 0x8408, init 0, no final XOR), known as CRC-16/KERMIT. Its check value over
``b"123456789"`` is 0x2189. It covers the unstuffed APDU plus the ETX byte and is sent
low byte first.
"""

from __future__ import annotations

from crc import Calculator, Crc16

_KERMIT = Calculator(Crc16.KERMIT.value, optimized=True)


def crc16_kermit(data: bytes) -> int:
    """CRC-16/KERMIT of ``data``."""
    return int(_KERMIT.checksum(data))


def crc_bytes(data: bytes) -> bytes:
    """The two CRC bytes as they go on the wire: low byte first."""
    return crc16_kermit(data).to_bytes(2, "little")
