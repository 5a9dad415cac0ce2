"""One exception tree for every link scheme, ordered by the link's lifecycle.

::

    LinkError                         base: carries the link URL
     +-- LinkURLError (ValueError)    the URL itself is wrong: nothing was touched
     +-- LinkOpenError                could not open: absent, busy, no permission
     +-- LinkIOError                  failed while open: unplugged, reset, peer closed
          +-- LinkTimeout (TimeoutError)   a read or write missed its deadline

Callers that only care whether the device is reachable catch ``LinkError``; the
subclasses say at which step it broke, because the step decides what happened to the
data (nothing was sent before ``LinkOpenError``; ``LinkTimeout.done`` bytes were).
The underlying pyserial / socket / pyusb error is chained with ``from``.
"""

from __future__ import annotations

from ..errors import PosdriverError


class LinkError(PosdriverError):
    """Base of every link failure."""

    def __init__(self, message: str, url: str | None = None) -> None:
        self.url = url
        super().__init__(f"{url}: {message}" if url else message)


class LinkURLError(LinkError, ValueError):
    """The URL does not follow its scheme's grammar; the message repeats the grammar."""


class LinkOpenError(LinkError):
    """The device could not be opened: nothing was sent."""


class LinkIOError(LinkError):
    """The link failed while open (device gone, peer closed, I/O error)."""


class LinkTimeout(LinkIOError, TimeoutError):
    """A read or write did not complete by its deadline.

    ``done`` is how many bytes of the operation completed before the deadline, so a
    printer driver can tell the user how far a job got.
    """

    def __init__(self, message: str, url: str | None = None, done: int = 0) -> None:
        self.done = done
        super().__init__(message, url)
