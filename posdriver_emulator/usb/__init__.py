"""An emulated USB bus: a device server plus the pyusb backend that reaches it.

``UsbDeviceServer(device).start()`` puts an emulated device on a bus listening on
127.0.0.1; its ``url`` (``usb://04b8:0202?emulator=127.0.0.1:PORT``) is what
``posdriver.links.open_link`` takes, and ``EmulatorBackend(host, port)`` is what any
pyusb code can pass to ``usb.core.find(backend=...)``.
"""

from .backend import EmulatorBackend
from .server import UsbDeviceServer

__all__ = ["EmulatorBackend", "UsbDeviceServer"]
