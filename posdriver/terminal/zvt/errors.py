"""The ZVT codec's one error type.

Every malformed byte sequence (a frame, an APDU, a BMP list, a TLV container) raises
:class:`ZvtCodecError` and nothing else, so a caller that reads a wire can treat garbage
as a counted fault with a single ``except`` and never crash on it.
"""

from __future__ import annotations

from ...errors import PosdriverError


class ZvtCodecError(PosdriverError, ValueError):
    """Bytes that do not decode as ZVT; the message says what and where."""
