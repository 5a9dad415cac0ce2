"""How an emulated device is reached: a pseudo-terminal, a TCP port, or USB.

Each transport runs two threads (host -> device, device -> host), honours the device's
wire state (busy: stop reading; disconnect: tear the endpoint down and bring it back),
and paces both directions at a line rate when one is configured.
"""

from .base import Transport
from .pty import PtyTransport
from .tcp import TcpTransport

__all__ = ["PtyTransport", "TcpTransport", "Transport"]
