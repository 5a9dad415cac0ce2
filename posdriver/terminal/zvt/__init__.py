"""ZVT (PA00P015 / PA00P016), the ECR protocol of German and Austrian card terminals.

The codec is shared by the driver (ECR side) and the emulator (terminal side):

* :mod:`.crc`       CRC-16/KERMIT (what the spec calls "CRC-XModem")
* :mod:`.frame`     serial framing: DLE STX ... DLE ETX CRC, DLE stuffing, ACK/NAK
* :mod:`.apdu`      CLASS INSTR LEN data, the FF lo hi extended length, TCP reassembly
* :mod:`.bcd`       packed BCD and LLVAR / LLLVAR length prefixes
* :mod:`.bmp`       the BMP table (id -> name, layout); PAN masking, track data redaction
* :mod:`.tlv`       BMP 06, the BER TLV container
* :mod:`.messages`  commands and terminal messages as data
* :mod:`.codes`     result codes, terminal status, intermediate status in words

Every decoding failure is a :class:`~.errors.ZvtCodecError`.
"""

from .apdu import Apdu, ApduStream
from .errors import ZvtCodecError

__all__ = ["Apdu", "ApduStream", "ZvtCodecError"]
