"""The staff status page (docs/status-page.md), served by the API's listener.

``GET /`` is the page and ``GET /ui/{file}`` its script, styles and icon: files shipped
in the package (``posdriver/service/page_files/``), no build step, nothing fetched from
the internet. They hold no data, so they are served without the token, as a login page
is; everything the page shows comes from the API with the token, under the API's rules,
and from two endpoints of the page's own, also behind the token:

* ``GET /ui/events``: the change feed, as server-sent events. An ``change`` event names
  what changed (``journal``, ``devices``, ``daemon``) as the daemon learns of it (a
  journal commit, a health check that changed status, a device's lifecycle, the daemon
  draining), so the page fetches again within moments; a ``tick`` every 2 s says the
  daemon is there (the page shows its data as stale when ticks stop) and lets the page
  see a status go stale with time. A stream lasts at most 5 minutes (the page opens the
  next one), and at most :data:`MAX_STREAMS` are open at once, so that browser tabs left
  open cannot take the connections a payment needs.
* ``GET /ui/preview/{txn}?copy=customer|merchant&reprint=1``: a stored receipt as the
  printer prints it (:func:`posdriver.printer.preview.receipt_html`), as the original or
  as the copy a reprint would print now.

``GET /ui/runbooks/{file}`` is the front desk's runbook for a fault the page shows, as
plain text, from the source's docs/runbooks (or where a package installed them).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from .api_fields import ApiError, bad_request

if TYPE_CHECKING:
    from .api import Api
    from .daemon import Daemon

FILES = {  # what /ui/{file} serves, and as what
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "icon.svg": "image/svg+xml",
}
INDEX = "index.html"
MAX_STREAMS = 8
TICK = 2.0  # seconds between two ticks of the change feed
STREAM_LIFETIME = 300.0  # seconds one stream stays open
SECURITY_HEADERS = {
    # the page runs only its own script, loads only its own files, talks only to its origin
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True)
class Content:
    """A whole answer that is not JSON."""

    content_type: str
    data: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Stream:
    """An answer sent piece by piece until it ends (the change feed); ``ended`` runs
    once it has, however it did (the reader went away, the daemon stopped)."""

    pieces: Iterator[bytes]
    ended: Callable[[], None]
    headers: dict[str, str] = field(default_factory=dict)


PageAnswer = Content | Stream


def is_page(path: str) -> bool:
    return path == "/" or path.startswith("/ui/")


def needs_token(path: str) -> bool:
    """The page's files and the runbooks carry no data; its feed and previews do."""
    name = path.removeprefix("/ui/")
    return not (path == "/" or name in FILES or name.startswith("runbooks/"))


RUNBOOK_NAME = re.compile(r"[0-9]{2}-[a-z0-9-]+\.(en|zh)\.md")
# where the runbooks are: beside the package in a checkout (and an editable install),
# where docs/install.md has a packaged install put them
RUNBOOK_DIRS = (
    Path(__file__).resolve().parents[2] / "docs" / "runbooks",
    Path("/usr/share/doc/posdriver/runbooks"),
)


def runbook(name: str) -> bytes | None:
    """A runbook's text (Markdown reads as plain text), or None when there is none."""
    if not RUNBOOK_NAME.fullmatch(name):
        return None
    for folder in RUNBOOK_DIRS:
        candidate = folder / name
        if candidate.is_file():
            return candidate.read_bytes()
    return None


def _file(name: str) -> bytes:
    return resources.files(__package__).joinpath("page_files", name).read_bytes()


class Page:
    """The page's routes beside the API's (its journal, its way of naming operations)."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.daemon: Daemon = api.daemon
        self._streams = threading.BoundedSemaphore(MAX_STREAMS)

    def answer(self, method: str, path: str, query: dict[str, list[str]]) -> PageAnswer:
        if method != "GET":
            raise ApiError(
                HTTPStatus.METHOD_NOT_ALLOWED,
                f"{method} is not served on {path}; use GET",
                headers={"Allow": "GET"},
            )
        name = path.removeprefix("/ui/")
        if path == "/":
            return Content("text/html; charset=utf-8", _file(INDEX), dict(SECURITY_HEADERS))
        if name in FILES:
            return Content(FILES[name], _file(name), {"Cache-Control": "no-cache"})
        if name.startswith("runbooks/"):
            text = runbook(name.removeprefix("runbooks/"))
            if text is None:
                raise ApiError(
                    HTTPStatus.NOT_FOUND,
                    f"no runbook {name.removeprefix('runbooks/')!r} here; the runbooks are in "
                    "docs/runbooks of posdriver's source",
                )
            return Content("text/plain; charset=utf-8", text, {"Cache-Control": "no-cache"})
        if name == "events":
            _only(query, set())
            return self._events()
        if name.startswith("preview/") and name.count("/") == 1:
            _only(query, {"copy", "reprint"})
            return self._preview(name.removeprefix("preview/"), query)
        raise ApiError(HTTPStatus.NOT_FOUND, f"no such page: {path}")

    # -- the change feed ---------------------------------------------------------------
    def _events(self) -> Stream:
        if not self._streams.acquire(blocking=False):
            raise ApiError(
                HTTPStatus.TOO_MANY_REQUESTS,
                f"{MAX_STREAMS} status pages are open already; close one",
                headers={"Retry-After": "10"},
            )
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return Stream(self._feed(), self._streams.release, headers)

    def _feed(self) -> Iterator[bytes]:
        changes = self.daemon.changes
        seen = changes.seq
        yield _event("hello", {"seq": seen, **self._state()})
        ends = time.monotonic() + STREAM_LIFETIME
        while time.monotonic() < ends:
            change = changes.wait(seen, TICK)
            if change.seq != seen:
                seen = change.seq
                yield _event(
                    "change", {"seq": seen, "topics": list(change.topics), **self._state()}
                )
            else:
                yield _event("tick", {"seq": seen, **self._state()})
            if self.daemon.stopping:
                yield _event("change", {"seq": changes.seq, "topics": ["daemon"], **self._state()})
                return

    def _state(self) -> dict[str, object]:
        return {"at": time.time(), "stopping": self.daemon.stopping}

    # -- receipt previews --------------------------------------------------------------
    def _preview(self, txn: str, query: dict[str, list[str]]) -> Content:
        from ..cashier.receipts import as_printed
        from ..printer.preview import receipt_html

        copy = (query.get("copy") or ["customer"])[-1]
        if copy not in ("customer", "merchant"):
            raise bad_request(f"copy must be customer or merchant, got {copy!r}")
        reprint = (query.get("reprint") or ["0"])[-1]
        if reprint not in ("0", "1"):
            raise bad_request(f"reprint must be 0 or 1, got {reprint!r}")
        op = self.api._op(txn)  # named as in every API path: a bare number is an id
        stored = self.api.journal.receipt(op.id, copy)
        if stored is None:
            raise ApiError(HTTPStatus.NOT_FOUND, f"id:{op.id} has no stored {copy} receipt")
        rc = self.daemon.config.receipt
        printed = as_printed(
            stored.lines,
            at=datetime.now().astimezone(),
            language=rc.language,
            columns=rc.columns,
            reprint_no=stored.reprints + 1 if reprint == "1" else None,
        )
        return Content(
            "text/html; charset=utf-8",
            receipt_html(printed).encode(),
            {"Cache-Control": "no-store"},
        )


def _only(query: dict[str, list[str]], known: set[str]) -> None:
    unknown = sorted(set(query) - known)
    if unknown:
        raise bad_request(f"unknown query parameter {', '.join(repr(u) for u in unknown)}")


def _event(name: str, data: dict[str, object]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
