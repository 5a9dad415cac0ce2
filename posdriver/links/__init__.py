"""Device links: a device is a URL.

``open_link(url)`` parses the URL, validates every option, and opens the device;
``link_for_url(url)`` does the first two only (configure, then open). Schemes::

    serial:///dev/ttyUSB0?baudrate=9600&bytesize=8&parity=N&stopbits=1&rtscts=0
    loop://?baudrate=9600                       pyserial's software loopback
    tcp://HOST:PORT?timeout=1
    usb://VID:PID?interface=0&out=0x01&in=0x82

Errors are one tree (see :mod:`posdriver.links.errors`).
"""

from __future__ import annotations

import importlib

from .base import Link
from .errors import LinkError, LinkIOError, LinkOpenError, LinkTimeout, LinkURLError
from .url import split

# scheme -> "module:class" of its Link; a scheme's module is imported only when a URL of
# that scheme is configured (no pyusb for a serial printer). A new scheme is a module with
# a Link subclass (its ``from_url`` and five primitives) and one line here.
_SCHEME_CLASSES: dict[str, str] = {
    "serial": "posdriver.links.serialport:SerialLink",
    "loop": "posdriver.links.serialport:SerialLink",
    "tcp": "posdriver.links.tcp:TcpLink",
    "usb": "posdriver.links.usb:UsbLink",
}
SCHEMES = tuple(_SCHEME_CLASSES)
GRAMMAR = (
    "expected a link URL: serial:///dev/DEVICE?baudrate=..., tcp://HOST:PORT?timeout=..., "
    "usb://VID:PID?interface=0&out=0x01&in=0x82 or loop://"
)

__all__ = [
    "GRAMMAR",
    "SCHEMES",
    "Link",
    "LinkError",
    "LinkIOError",
    "LinkOpenError",
    "LinkTimeout",
    "LinkURLError",
    "link_for_url",
    "open_link",
]


def link_for_url(url: str) -> Link:
    """A configured, unopened link for ``url``; raises ``LinkURLError`` on a bad URL."""
    try:
        scheme, netloc, path, query = split(url)
    except LinkURLError as exc:
        raise LinkURLError(f"{exc}; {GRAMMAR}") from None
    where = _SCHEME_CLASSES.get(scheme)
    if where is None:
        raise LinkURLError(f"unknown scheme {scheme!r}; {GRAMMAR}", url)
    module, _, name = where.partition(":")
    link_class: type[Link] = getattr(importlib.import_module(module), name)
    return link_class.from_url(url, scheme, netloc, path, query)


def open_link(url: str) -> Link:
    """Configure and open the link that ``url`` names."""
    return link_for_url(url).open()
