"""The emulated terminal's own ZVT codec (PA00P015 application layer, PA00P016 transport).

It is written for the terminal's end of the line: it parses the commands an ECR sends
and builds the answers a terminal gives, where posdriver's codec does the reverse. The
two are separate implementations on purpose: the tests decode and encode the same
captured byte vectors with both (``tests/support/zvt_vectors.py``), so a mistake in
either one shows up as a disagreement instead of being shared by both ends of the wire.

Modules, one layer each: :mod:`.apdu` (``CLASS INSTR LEN data``, TCP reassembly),
:mod:`.serial` (``DLE STX ... DLE ETX CRC`` frames, ACK/NAK), :mod:`.tlv` (BMP 06),
:mod:`.fields` (the BMP table and BCD), :mod:`.messages` (commands in, answers out) and
:mod:`.codes` (result codes in words). Every malformed input raises :class:`CodecError`.
"""

from .apdu import ACK, Apdu, ApduAssembler, CodecError, nack

__all__ = ["ACK", "Apdu", "ApduAssembler", "CodecError", "nack"]
